//! HTML pages (scraper / html5ever), as uploaded or from a connector.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(html) = std::str::from_utf8(data) {
        let _ = extract::html_to_blocks(html);
    }
});
