//! PDF: whatever follows a `%PDF-` header (pdf-extract over lopdf).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend_from_slice(data.strip_prefix(b"%PDF-").unwrap_or(data));
    let _ = extract::extract(&bytes, "upload.pdf", 4 * 1024 * 1024);
});
