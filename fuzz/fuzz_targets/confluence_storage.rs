//! Confluence storage format (XHTML with `ac:`/`ri:` macros), as the Confluence connector hands it
//! over.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        let storage = format!("<ac:structured-macro ac:name=\"info\"></ac:structured-macro>{body}");
        let _ = extract::body_to_blocks(&extract::DocBody::Html(storage));
    }
});
