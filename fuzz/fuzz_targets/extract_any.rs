//! Any upload: sniffing by content, then whichever extractor the bytes call for.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = extract::extract(data, "upload.bin", 1024 * 1024);
    let _ = extract::extract(data, "notes.md", 1024 * 1024);
});
