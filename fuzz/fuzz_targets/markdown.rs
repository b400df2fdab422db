//! Markdown (pulldown-cmark): GitLab files, wikis, issue descriptions, uploads.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(md) = std::str::from_utf8(data) {
        let _ = extract::markdown_to_blocks(md);
        let _ = extract::body_to_blocks(&extract::DocBody::Markdown(md.to_string()));
    }
});
