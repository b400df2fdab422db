//! Format sniffing by content: magic numbers, ZIP entries, text that looks like markup or
//! Markdown. The file name only breaks ties.

use crate::*;

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn is_zip(bytes: &[u8]) -> bool {
    [b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"].iter().any(|m| bytes.starts_with(*m))
}

/// Names a ZIP that is not a DOCX (entry names sit uncompressed in the local headers).
pub(crate) fn zip_kind(bytes: &[u8]) -> &'static str {
    if find(bytes, b"xl/workbook.xml").is_some() {
        "an Excel workbook (XLSX)"
    } else if find(bytes, b"ppt/presentation.xml").is_some() {
        "a PowerPoint presentation (PPTX)"
    } else if find(bytes, b"application/vnd.oasis.opendocument").is_some() {
        "an OpenDocument file (ODT/ODS); save it as DOCX or PDF"
    } else if find(bytes, b"application/epub+zip").is_some() {
        "an EPUB book"
    } else {
        "a ZIP archive"
    }
}

/// Names common binary formats by their magic bytes.
pub(crate) fn binary_kind(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"\x7FELF", "an ELF executable"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
        (b"Rar!\x1A\x07", "a RAR archive"),
        (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "a legacy Office file (.doc/.xls); save it as DOCX"),
        (b"{\\rtf", "an RTF document; save it as DOCX or PDF"),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Some(kind);
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Some("a WebP image");
    }
    // "MZ" alone could begin a sentence; executables have NUL bytes in their header.
    if bytes.starts_with(b"MZ") && bytes[..bytes.len().min(64)].contains(&0) {
        return Some("a Windows executable");
    }
    None
}

/// The bytes as UTF-8 text without a BOM, or why they are not text we read.
pub(crate) fn decode_text(bytes: &[u8]) -> Result<&str, ExtractError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ExtractError::Unsupported("UTF-16 text; save it as UTF-8".to_owned()));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.contains(&0) {
        return Err(ExtractError::Unsupported("binary data".to_owned()));
    }
    std::str::from_utf8(bytes).map_err(|_| {
        ExtractError::Unsupported(
            "text in an encoding other than UTF-8 (such as Windows-1251); save it as UTF-8"
                .to_owned(),
        )
    })
}

/// HTML, Markdown or text, judged by the content; the name only breaks Markdown/text ties.
pub(crate) fn sniff_text(text: &str, file_name: &str) -> DocFormat {
    let body = skip_markup_prolog(text);
    let tag = leading_tag(body);
    if body.len() >= 14 && body.as_bytes()[..14].eq_ignore_ascii_case(b"<!doctype html") {
        return DocFormat::Html;
    }
    if let Some(tag) = &tag {
        let strong = matches!(tag.as_str(), "html" | "head" | "body")
            || tag.starts_with("ac:")
            || tag.starts_with("ri:");
        if strong {
            return DocFormat::Html;
        }
        if listed(HTML_START_TAGS, tag) {
            // GitHub READMEs often open with a centred logo; they are Markdown all the same.
            return if markdown_structure(text) && mostly_not_markup(text) {
                DocFormat::Markdown
            } else {
                DocFormat::Html
            };
        }
    }
    let lower = file_name.to_ascii_lowercase();
    let named_md = [".md", ".markdown", ".mdown", ".mkd"].iter().any(|ext| lower.ends_with(ext));
    if named_md || markdown_structure(text) { DocFormat::Markdown } else { DocFormat::Text }
}

/// Tags a bare HTML fragment (or a Confluence storage page) plausibly starts with.
pub(crate) const HTML_START_TAGS: &str = "\
    h1 h2 h3 h4 h5 h6 p div table ul ol title meta article section main header nav pre \
    blockquote span a style script link br hr img form dl figure picture";

/// Whether `name` is one of the space-separated names in `list`.
pub(crate) fn listed(list: &str, name: &str) -> bool {
    list.split_ascii_whitespace().any(|item| item == name)
}

/// Skips whitespace, `<?xml …?>` and `<!-- … -->` at the start.
pub(crate) fn skip_markup_prolog(text: &str) -> &str {
    let mut rest = text.trim_start_matches('\u{FEFF}');
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("<?") {
            rest = after.find("?>").map_or("", |i| &after[i + 2..]);
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
        } else {
            return rest;
        }
    }
}

/// The lowercase name of the tag `text` starts with, if it starts with one.
pub(crate) fn leading_tag(text: &str) -> Option<String> {
    let rest = text.strip_prefix('<')?;
    let name: String =
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-')).collect();
    let first = name.chars().next()?;
    first.is_ascii_alphabetic().then(|| name.to_ascii_lowercase())
}

/// ATX headings, code fences, lists, links: enough of them to call the text Markdown.
pub(crate) fn markdown_structure(text: &str) -> bool {
    let (mut headings, mut fences, mut extras) = (0, 0, 0);
    for line in text.lines().take(5000) {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 3 {
            continue;
        }
        let line = line.trim();
        let hashes = line.bytes().take_while(|b| *b == b'#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') && line.len() > hashes + 1 {
            headings += 1;
        } else if line.starts_with("```") || line.starts_with("~~~") {
            fences += 1;
        } else if line.starts_with("- ")
            || line.starts_with("* ")
            || line.starts_with("|---")
            || line.starts_with("| ---")
            || line.contains("](")
        {
            extras += 1;
        }
    }
    fences >= 2 || headings >= 2 || (headings == 1 && extras >= 1)
}

/// Whether fewer than half of the non-blank lines start with a tag.
pub(crate) fn mostly_not_markup(text: &str) -> bool {
    let (mut lines, mut tagged) = (0usize, 0usize);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        lines += 1;
        if line.starts_with('<') {
            tagged += 1;
        }
    }
    tagged * 2 < lines
}

pub(crate) fn human_size(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else if bytes >= MB {
        format!("{:.1} MB", bytes as f64 / MB as f64)
    } else if bytes >= 1024 {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}
