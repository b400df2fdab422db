//! DOCX: ZIP archives (zip) holding WordprocessingML (quick-xml).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = extract::extract(data, "upload.docx", 4 * 1024 * 1024);
});
