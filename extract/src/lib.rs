//! Extraction: uploaded bytes or a connector's markup → [`Extracted`] (title + blocks in reading
//! order). Owns format sniffing (by content, never by the file name alone) and one extractor per
//! format: PDF (`pdf-extract`), DOCX (`zip` + `quick-xml`), HTML and Confluence storage format
//! (`scraper`), Markdown (`pulldown-cmark`) and plain text.
//!
//! Everything here is pure and synchronous. Hostile input must never panic or balloon where this
//! crate can prevent it: sizes are checked before parsing, ZIP entries are read with a cap, HTML
//! nesting is bounded, and the PDF parser (which can panic on damaged files) runs under
//! `catch_unwind`. What a parser could still do — recurse until the stack overflows, allocate
//! gigabytes, spin — is contained by the server, which runs `extract` for uploaded files in a
//! worker process under memory, CPU and time limits (`app::server::knowledge::sandbox`). The
//! fuzz targets in `fuzz/` exercise every entry point. It does not chunk, detect languages or
//! store anything.

use chrono::{DateTime, Utc};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use quick_xml::events::{BytesStart, Event as XmlEvent};
use scraper::{ElementRef, Html, Node};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{Cursor, Read};

/// One structural piece of a document, in reading order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    /// A heading; `level` 1 is the top.
    Heading {
        /// 1–6.
        level: u8,
        /// The heading's text.
        text: String,
    },
    /// A paragraph (or a list item, a table row, a quote: prose).
    Paragraph {
        /// Plain text, whitespace collapsed.
        text: String,
    },
    /// Preformatted code; kept whole where it fits a chunk.
    Code {
        /// The fence's or macro's language, if named.
        lang: Option<String>,
        /// The code, line breaks kept.
        text: String,
    },
    /// A comment on an issue or a page (Jira comments, merge request notes).
    Comment {
        /// Who wrote it.
        author: Option<String>,
        /// When.
        at: Option<DateTime<Utc>>,
        /// Plain text.
        text: String,
    },
}

impl Block {
    /// The block's text.
    pub fn text(&self) -> &str {
        match self {
            Block::Heading { text, .. }
            | Block::Paragraph { text }
            | Block::Code { text, .. }
            | Block::Comment { text, .. } => text,
        }
    }
}

/// A document's text, as blocks, with the title the content itself gives (if any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// A title found in the content (`<title>`, the first `#` heading, DOCX core title …).
    pub title: Option<String>,
    /// The content in reading order.
    pub blocks: Vec<Block>,
}

impl Extracted {
    /// All text, blocks separated by blank lines (for hashing and language detection).
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(b.text());
        }
        out
    }
}

/// How a connector hands over a document's body; `extract::body_to_blocks` turns each into blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", content = "content", rename_all = "snake_case")]
pub enum DocBody {
    /// HTML or Confluence storage format (XHTML with `ac:` / `ri:` elements).
    Html(String),
    /// Markdown (GitLab files and wikis, issue descriptions).
    Markdown(String),
    /// Plain text or source code (`lang` names the language for source files).
    Text {
        /// The text.
        text: String,
        /// Programming language for code files, so the whole file is chunked as code.
        lang: Option<String>,
    },
    /// Already structured (Jira issues: description, then comments).
    Blocks(Vec<Block>),
}

/// The most a single DOCX entry may expand to; larger means a zip bomb or not a document.
const MAX_ZIP_ENTRY_BYTES: u64 = 50 * 1024 * 1024;

/// How far into a file the `%PDF-` marker may sit (readers tolerate leading junk).
const PDF_MAGIC_WINDOW: usize = 1024;

/// A document format we can extract text from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocFormat {
    /// Portable Document Format.
    Pdf,
    /// Office Open XML word-processing document.
    Docx,
    /// HTML, XHTML or Confluence storage format.
    Html,
    /// CommonMark / GitHub-flavoured Markdown.
    Markdown,
    /// Plain UTF-8 text.
    Text,
}

impl DocFormat {
    /// The stored name: `pdf`, `docx`, `html`, `markdown` or `text`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocFormat::Pdf => "pdf",
            DocFormat::Docx => "docx",
            DocFormat::Html => "html",
            DocFormat::Markdown => "markdown",
            DocFormat::Text => "text",
        }
    }
}

/// Why a file could not be turned into text; the messages are meant for the uploader.
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ExtractError {
    /// The file is over the configured upload limit.
    #[error("the file is too large (the limit is {})", human_size(*.limit))]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Not a format we read; the payload names what the content looks like.
    #[error("the file is not PDF, DOCX, HTML, Markdown or text (looks like {0})")]
    Unsupported(String),
    /// The format was recognised but it holds no text.
    #[error("the file contains no text (a scanned PDF needs text recognition first)")]
    Empty,
    /// The format was recognised but the file is damaged; the payload is a short reason.
    #[error("the file could not be read: {0}")]
    Malformed(String),
    /// Reading the file needed more memory than a reader may take.
    #[error("reading the file needed more than the {mib} MiB a reader may use")]
    MemoryLimit {
        /// The limit in MiB.
        mib: u64,
    },
    /// Reading the file took longer than a reader may take.
    #[error("reading the file took longer than the {secs} s a reader may take")]
    TimeLimit {
        /// The limit in seconds.
        secs: u64,
    },
    /// The reader could not be started; not the file's fault.
    #[error("the file reader is unavailable: {0}")]
    Unavailable(String),
}

impl ExtractError {
    /// The rule a refused file broke, as validation errors name it.
    pub fn rule(&self) -> &'static str {
        match self {
            ExtractError::TooLarge { .. } => "max_size",
            ExtractError::Unsupported(_) => "type",
            ExtractError::Empty => "empty",
            ExtractError::Malformed(_) => "malformed",
            ExtractError::MemoryLimit { .. } => "memory_limit",
            ExtractError::TimeLimit { .. } => "time_limit",
            ExtractError::Unavailable(_) => "unavailable",
        }
    }
}

/// Recognises the format from the content; `file_name` only decides Markdown versus text.
pub fn sniff(bytes: &[u8], file_name: &str) -> Result<DocFormat, ExtractError> {
    // Readers accept junk before the marker; a text file that merely mentions it stays text.
    let head = &bytes[..bytes.len().min(PDF_MAGIC_WINDOW)];
    if bytes.starts_with(b"%PDF-")
        || (find(head, b"%PDF-").is_some() && decode_text(bytes).is_err())
    {
        return Ok(DocFormat::Pdf);
    }
    if is_zip(bytes) {
        return if find(bytes, b"word/document.xml").is_some() {
            Ok(DocFormat::Docx)
        } else {
            Err(ExtractError::Unsupported(zip_kind(bytes).to_owned()))
        };
    }
    if let Some(kind) = binary_kind(bytes) {
        return Err(ExtractError::Unsupported(kind.to_owned()));
    }
    let text = decode_text(bytes)?;
    Ok(sniff_text(text, file_name))
}

/// Checks the size, sniffs the format and extracts; a file without text is [`ExtractError::Empty`].
pub fn extract(
    bytes: &[u8],
    file_name: &str,
    max_bytes: usize,
) -> Result<(DocFormat, Extracted), ExtractError> {
    if bytes.len() > max_bytes {
        return Err(ExtractError::TooLarge { limit: max_bytes });
    }
    let format = sniff(bytes, file_name)?;
    let extracted = match format {
        DocFormat::Pdf => pdf_to_blocks(bytes)?,
        DocFormat::Docx => docx_to_blocks(bytes, MAX_ZIP_ENTRY_BYTES)?,
        DocFormat::Html => html_to_blocks(decode_text(bytes)?),
        DocFormat::Markdown => markdown_to_blocks(decode_text(bytes)?),
        DocFormat::Text => text_to_blocks(decode_text(bytes)?),
    };
    if extracted.blocks.iter().all(|b| b.text().trim().is_empty()) {
        return Err(ExtractError::Empty);
    }
    Ok((format, extracted))
}

/// Turns a connector's body into blocks; source files (`lang` set) become one code block.
pub fn body_to_blocks(body: &DocBody) -> Extracted {
    match body {
        DocBody::Html(html) => html_to_blocks(html),
        DocBody::Markdown(md) => markdown_to_blocks(md),
        DocBody::Text { text, lang: Some(lang) } => {
            let code = text.trim_matches('\n').trim_end();
            let blocks = if code.trim().is_empty() {
                Vec::new()
            } else {
                vec![Block::Code { lang: Some(lang.clone()), text: code.to_owned() }]
            };
            Extracted { title: None, blocks }
        }
        DocBody::Text { text, lang: None } => text_to_blocks(text),
        DocBody::Blocks(blocks) => Extracted { title: None, blocks: blocks.clone() },
    }
}

// ---------------------------------------------------------------------------------------------
// Sniffing helpers
// ---------------------------------------------------------------------------------------------

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_zip(bytes: &[u8]) -> bool {
    [b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"].iter().any(|m| bytes.starts_with(*m))
}

/// Names a ZIP that is not a DOCX (entry names sit uncompressed in the local headers).
fn zip_kind(bytes: &[u8]) -> &'static str {
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
fn binary_kind(bytes: &[u8]) -> Option<&'static str> {
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
fn decode_text(bytes: &[u8]) -> Result<&str, ExtractError> {
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
fn sniff_text(text: &str, file_name: &str) -> DocFormat {
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
const HTML_START_TAGS: &str = "\
    h1 h2 h3 h4 h5 h6 p div table ul ol title meta article section main header nav pre \
    blockquote span a style script link br hr img form dl figure picture";

/// Whether `name` is one of the space-separated names in `list`.
fn listed(list: &str, name: &str) -> bool {
    list.split_ascii_whitespace().any(|item| item == name)
}

/// Skips whitespace, `<?xml …?>` and `<!-- … -->` at the start.
fn skip_markup_prolog(text: &str) -> &str {
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
fn leading_tag(text: &str) -> Option<String> {
    let rest = text.strip_prefix('<')?;
    let name: String =
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-')).collect();
    let first = name.chars().next()?;
    first.is_ascii_alphabetic().then(|| name.to_ascii_lowercase())
}

/// ATX headings, code fences, lists, links: enough of them to call the text Markdown.
fn markdown_structure(text: &str) -> bool {
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
fn mostly_not_markup(text: &str) -> bool {
    let (mut lines, mut tagged) = (0usize, 0usize);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        lines += 1;
        if line.starts_with('<') {
            tagged += 1;
        }
    }
    tagged * 2 < lines
}

fn human_size(bytes: usize) -> String {
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

// ---------------------------------------------------------------------------------------------
// Shared text helpers
// ---------------------------------------------------------------------------------------------

/// Collapses every run of whitespace (including non-breaking spaces) to one space; trims.
fn collapse_ws(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Paragraphs separated by blank lines, whitespace collapsed.
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            push_collapsed(&mut out, &current);
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    push_collapsed(&mut out, &current);
    out
}

fn push_collapsed(out: &mut Vec<String>, text: &str) {
    let text = collapse_ws(text);
    if !text.is_empty() {
        out.push(text);
    }
}

/// Plain text: one paragraph per blank-line-separated run of lines.
fn text_to_blocks(text: &str) -> Extracted {
    let text = text.trim_start_matches('\u{FEFF}');
    let blocks = paragraphs(text).into_iter().map(|text| Block::Paragraph { text }).collect();
    Extracted { title: None, blocks }
}

// ---------------------------------------------------------------------------------------------
// PDF
// ---------------------------------------------------------------------------------------------

/// PDF text per page, split into paragraphs on blank lines. No headings: PDF has no structure
/// pdf-extract can see.
fn pdf_to_blocks(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| {
            ExtractError::Malformed("the PDF is damaged or uses unsupported features".into())
        })?
        .map_err(|e| ExtractError::Malformed(short_reason("the PDF is damaged", &e.to_string())))?;
    let blocks = pages
        .iter()
        .flat_map(|page| join_wrapped_lines(paragraphs(page)))
        .map(|text| Block::Paragraph { text })
        .collect();
    Ok(Extracted { title: None, blocks })
}

/// pdf-extract separates every printed line by a blank line; a line that does not end a sentence
/// followed by one starting in lower case is the same paragraph wrapped.
fn join_wrapped_lines(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for line in lines {
        let continues = line.chars().next().is_some_and(char::is_lowercase);
        match out.last_mut() {
            Some(prev) if continues && !prev.ends_with(['.', '!', '?', ':', ';', '…']) => {
                prev.push(' ');
                prev.push_str(&line);
            }
            _ => out.push(line),
        }
    }
    out
}

/// `context (detail)`, the detail cut to a readable length.
fn short_reason(context: &str, detail: &str) -> String {
    let detail = collapse_ws(detail);
    if detail.is_empty() {
        return context.to_owned();
    }
    let mut cut: String = detail.chars().take(120).collect();
    if cut.len() < detail.len() {
        cut.push('…');
    }
    format!("{context} ({cut})")
}

// ---------------------------------------------------------------------------------------------
// DOCX
// ---------------------------------------------------------------------------------------------

/// DOCX body paragraphs and tables; heading styles become headings; `dc:title` is the title.
fn docx_to_blocks(bytes: &[u8], entry_cap: u64) -> Result<Extracted, ExtractError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        ExtractError::Malformed(short_reason("the DOCX archive is damaged", &e.to_string()))
    })?;
    let document = read_zip_text(&mut zip, "word/document.xml", entry_cap)?
        .ok_or_else(|| ExtractError::Malformed("the DOCX has no word/document.xml".to_owned()))?;
    // Styles and properties are optional; a damaged one costs headings or the title, not the text.
    let styles = read_zip_text(&mut zip, "word/styles.xml", entry_cap)
        .ok()
        .flatten()
        .map(|xml| heading_styles(&xml))
        .unwrap_or_default();
    let core_title = read_zip_text(&mut zip, "docProps/core.xml", entry_cap)
        .ok()
        .flatten()
        .and_then(|xml| core_title(&xml));
    let mut extracted = DocxBody::parse(&document, &styles)?;
    if core_title.is_some() {
        extracted.title = core_title;
    }
    Ok(extracted)
}

/// One ZIP entry as UTF-8, read with a cap so a zip bomb stops early; `None` if absent.
fn read_zip_text(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    cap: u64,
) -> Result<Option<String>, ExtractError> {
    let entry = match zip.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(ExtractError::Malformed(short_reason(
                &format!("the DOCX entry {name} cannot be read"),
                &e.to_string(),
            )));
        }
    };
    let too_big = || {
        ExtractError::Malformed(format!(
            "the DOCX entry {name} expands to more than {}",
            human_size(usize::try_from(cap).unwrap_or(usize::MAX))
        ))
    };
    if entry.size() > cap {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    entry.take(cap + 1).read_to_end(&mut buf).map_err(|e| {
        ExtractError::Malformed(short_reason(
            &format!("the DOCX entry {name} is damaged"),
            &e.to_string(),
        ))
    })?;
    if buf.len() as u64 > cap {
        return Err(too_big());
    }
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").map(<[u8]>::to_vec).unwrap_or(buf);
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| ExtractError::Malformed(format!("the DOCX entry {name} is not UTF-8")))
}

/// The local name of an element (`w:p` → `p`).
fn local_name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

/// An attribute's value by local name (`w:val` → `val`).
fn attr_value(e: &BytesStart<'_>, local: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref().rsplit(':').next() == Some(local))
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.into_owned())
}

/// Text of an entity reference (`amp`, `#x41`), if it resolves.
fn resolve_entity(r: &quick_xml::events::BytesRef<'_>) -> Option<String> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten().map(String::from);
    }
    let name = r.xml10_content();
    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
}

/// What a paragraph style means for us: a heading level (the Title style counts as level 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StyleRole {
    Title,
    Heading(u8),
}

/// Style id → role, from `word/styles.xml` (built-in style names are English in every locale).
fn heading_styles(xml: &str) -> HashMap<String, StyleRole> {
    let mut map = HashMap::new();
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(XmlEvent::Start(e)) | Ok(XmlEvent::Empty(e)) => match local_name(&e).as_str() {
                "style" => current = attr_value(&e, "styleId"),
                "name" => {
                    if let (Some(id), Some(name)) = (&current, attr_value(&e, "val"))
                        && let Some(role) = role_from_name(&name)
                    {
                        map.insert(id.clone(), role);
                    }
                }
                "outlineLvl" => {
                    let level = attr_value(&e, "val").and_then(|v| v.parse::<u8>().ok());
                    if let (Some(id), Some(level @ 0..=5)) = (&current, level) {
                        map.entry(id.clone()).or_insert(StyleRole::Heading(level + 1));
                    }
                }
                _ => {}
            },
            Ok(XmlEvent::End(e)) if e.local_name().as_ref() == "style" => current = None,
            Ok(XmlEvent::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    map
}

/// `Title`, `heading 2`, `Heading2` → role.
fn role_from_name(name: &str) -> Option<StyleRole> {
    let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = compact.to_ascii_lowercase();
    if compact == "title" {
        return Some(StyleRole::Title);
    }
    let level = compact.strip_prefix("heading")?.parse::<u8>().ok()?;
    (1..=6).contains(&level).then_some(StyleRole::Heading(level))
}

/// `dc:title` from `docProps/core.xml`.
fn core_title(xml: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    let mut title = String::new();
    loop {
        match reader.read_event() {
            Ok(XmlEvent::Start(e)) if e.local_name().as_ref() == "title" => inside = true,
            Ok(XmlEvent::End(e)) if e.local_name().as_ref() == "title" => break,
            Ok(XmlEvent::Text(t)) if inside => title.push_str(&t.xml10_content()),
            Ok(XmlEvent::GeneralRef(r)) if inside => {
                title.push_str(&resolve_entity(&r).unwrap_or_default());
            }
            Ok(XmlEvent::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Some(collapse_ws(&title)).filter(|t| !t.is_empty())
}

/// A paragraph being read from `word/document.xml`.
#[derive(Debug, Default)]
struct DocxParagraph {
    text: String,
    style: Option<String>,
    outline: Option<u8>,
}

/// A table being read: the current row's cells and the cell being filled.
#[derive(Debug, Default)]
struct DocxTable {
    row: Vec<String>,
    cell: Option<String>,
}

/// Walks `word/document.xml` events into blocks.
struct DocxBody<'s> {
    styles: &'s HashMap<String, StyleRole>,
    out: Extracted,
    paragraphs: Vec<DocxParagraph>,
    tables: Vec<DocxTable>,
    runs: usize,
    in_text: bool,
}

impl<'s> DocxBody<'s> {
    fn parse(xml: &str, styles: &'s HashMap<String, StyleRole>) -> Result<Extracted, ExtractError> {
        let mut body = DocxBody {
            styles,
            out: Extracted::default(),
            paragraphs: Vec::new(),
            tables: Vec::new(),
            runs: 0,
            in_text: false,
        };
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut fallback_depth = 0usize;
        loop {
            let event = reader.read_event().map_err(|e| {
                ExtractError::Malformed(short_reason(
                    "the DOCX body is not valid XML",
                    &e.to_string(),
                ))
            })?;
            // Word stores text boxes twice (a DrawingML choice and a VML fallback); read one.
            match &event {
                XmlEvent::Start(e) if e.local_name().as_ref() == "Fallback" => fallback_depth += 1,
                XmlEvent::End(e) if e.local_name().as_ref() == "Fallback" => {
                    fallback_depth = fallback_depth.saturating_sub(1);
                    continue;
                }
                _ => {}
            }
            if fallback_depth > 0 {
                continue;
            }
            match event {
                XmlEvent::Start(e) => body.start(&e, false),
                XmlEvent::Empty(e) => body.start(&e, true),
                XmlEvent::End(e) => body.end(e.local_name().as_ref()),
                XmlEvent::Text(t) if body.in_text => body.push_text(&t.xml10_content()),
                XmlEvent::CData(t) if body.in_text => body.push_text(&t.xml10_content()),
                XmlEvent::GeneralRef(r) if body.in_text => {
                    body.push_text(&resolve_entity(&r).unwrap_or_default());
                }
                XmlEvent::Eof => break,
                _ => {}
            }
        }
        Ok(body.out)
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) {
        match local_name(e).as_str() {
            "p" if !empty => self.paragraphs.push(DocxParagraph::default()),
            "pStyle" => {
                if let Some(p) = self.paragraphs.last_mut() {
                    p.style = attr_value(e, "val");
                }
            }
            "outlineLvl" => {
                if let Some(p) = self.paragraphs.last_mut() {
                    p.outline = attr_value(e, "val").and_then(|v| v.parse().ok());
                }
            }
            "r" if !empty => self.runs += 1,
            "t" if !empty => self.in_text = true,
            // Tab stops are also declared in paragraph properties; only a run's tab is text.
            "tab" | "br" | "cr" if self.runs > 0 => self.push_text(" "),
            "tbl" if !empty => self.tables.push(DocxTable::default()),
            "tr" if !empty => {
                if let Some(t) = self.tables.last_mut() {
                    t.row.clear();
                }
            }
            "tc" if !empty => {
                if let Some(t) = self.tables.last_mut() {
                    t.cell = Some(String::new());
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, local_name: &str) {
        match local_name {
            "t" => self.in_text = false,
            "r" => self.runs = self.runs.saturating_sub(1),
            "p" => self.end_paragraph(),
            "tc" => {
                if let Some(t) = self.tables.last_mut()
                    && let Some(cell) = t.cell.take()
                {
                    t.row.push(collapse_ws(&cell));
                }
            }
            "tr" => self.end_row(),
            "tbl" => {
                self.tables.pop();
            }
            _ => {}
        }
    }

    fn push_text(&mut self, text: &str) {
        if let Some(p) = self.paragraphs.last_mut() {
            p.text.push_str(text);
        }
    }

    fn end_paragraph(&mut self) {
        let Some(p) = self.paragraphs.pop() else { return };
        let text = collapse_ws(&p.text);
        if text.is_empty() {
            return;
        }
        if let Some(cell) = self.tables.last_mut().and_then(|t| t.cell.as_mut()) {
            if !cell.is_empty() {
                cell.push(' ');
            }
            cell.push_str(&text);
            return;
        }
        let role = p
            .style
            .as_deref()
            .and_then(|id| self.styles.get(id).copied().or_else(|| role_from_name(id)))
            .or_else(|| p.outline.filter(|l| *l <= 5).map(|l| StyleRole::Heading(l + 1)));
        let block = match role {
            Some(StyleRole::Title) => {
                self.out.title.get_or_insert_with(|| text.clone());
                Block::Heading { level: 1, text }
            }
            Some(StyleRole::Heading(level)) => Block::Heading { level, text },
            None => Block::Paragraph { text },
        };
        self.out.blocks.push(block);
    }

    fn end_row(&mut self) {
        let Some(table) = self.tables.last_mut() else { return };
        let cells: Vec<String> = table.row.drain(..).filter(|c| !c.is_empty()).collect();
        if cells.is_empty() {
            return;
        }
        let row = cells.join(" | ");
        // A nested table's rows are part of the outer cell.
        let depth = self.tables.len();
        if depth > 1
            && let Some(cell) = self.tables.get_mut(depth - 2).and_then(|t| t.cell.as_mut())
        {
            if !cell.is_empty() {
                cell.push(' ');
            }
            cell.push_str(&row);
            return;
        }
        self.out.blocks.push(Block::Paragraph { text: row });
    }
}

// ---------------------------------------------------------------------------------------------
// HTML and Confluence storage format
// ---------------------------------------------------------------------------------------------

/// HTML or Confluence storage format → blocks: headings, code (`<pre>`, the code macro),
/// paragraphs (p, li, blockquote, table rows as `a | b`); script, style and nav dropped.
pub fn html_to_blocks(html: &str) -> Extracted {
    let prepared;
    let html = if is_storage_format(html) {
        prepared = prepare_storage_format(html);
        prepared.as_str()
    } else {
        html
    };
    if nesting_exceeds(html, MAX_PARSE_NESTING) {
        let blocks =
            paragraphs(&strip_tags(html)).into_iter().map(|text| Block::Paragraph { text });
        return Extracted { title: None, blocks: blocks.collect() };
    }
    let document = Html::parse_document(html);
    let root = document.root_element();
    let has_main = root
        .descendants()
        .any(|n| matches!(n.value(), Node::Element(e) if matches!(e.name(), "main" | "article")));
    let mut walker = HtmlWalker { drop_chrome: has_main, ..HtmlWalker::default() };
    walker.children(root);
    walker.flush();
    let title = walker.title.take().or_else(|| {
        walker.blocks.iter().find_map(|b| match b {
            Block::Heading { level: 1, text } => Some(text.clone()),
            _ => None,
        })
    });
    Extracted { title, blocks: walker.blocks }
}

/// Nesting beyond which html5ever's tree building (quadratic in depth: 20 000 nested elements take
/// half a second, 100 000 a quarter of a minute) is not worth it; such pages are read as text.
const MAX_PARSE_NESTING: usize = 4096;

/// Elements whose end tag HTML lets authors omit; they do not count towards nesting.
const OPTIONAL_END_TAGS: &str = "\
    p li dt dd tr td th thead tbody tfoot colgroup caption option optgroup rb rt rp html head \
    body";

/// Whether open elements ever nest deeper than `limit`; a cheap scan, no parse. An end tag closes
/// the innermost open element of its name and everything inside it, as an HTML parser does; an
/// end tag that matches nothing open closes nothing (`<div></b>` repeated nests as deep as
/// `<div>` repeated).
fn nesting_exceeds(html: &str, limit: usize) -> bool {
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("</") {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-'))
                .collect::<String>()
                .to_ascii_lowercase();
            if let Some(at) = open.iter().rposition(|o| *o == name) {
                open.truncate(at);
            }
        } else if let Some(name) = leading_tag(rest)
            && !listed(VOID_ELEMENTS, &name)
            && !listed(OPTIONAL_END_TAGS, &name)
        {
            open.push(name);
            if open.len() > limit {
                return true;
            }
        }
        rest = &rest[1..];
    }
    false
}

/// The text between tags, each tag replaced by a space (entities are left as written).
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => in_tag = true,
            (true, '>') => {
                in_tag = false;
                out.push(' ');
            }
            (false, c) => out.push(c),
            (true, _) => {}
        }
    }
    out
}

fn is_storage_format(html: &str) -> bool {
    html.contains("<ac:") || html.contains("<ri:") || html.contains("<![CDATA[")
}

/// Elements HTML defines as void (`<br>`); any other `<x/>` in XHTML is an empty element.
const VOID_ELEMENTS: &str = "area base br col embed hr img input link meta source track wbr";

/// Makes storage-format XHTML safe for an HTML parser: CDATA sections become escaped text (HTML
/// parsers turn them into comments and lose the code) and `<ri:page …/>` becomes
/// `<ri:page …></ri:page>` (HTML parsers treat `/>` as an open tag that swallows what follows).
fn prepare_storage_format(xhtml: &str) -> String {
    let mut out = String::with_capacity(xhtml.len() + xhtml.len() / 8);
    let mut rest = xhtml;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let (content, tail) = match after.find("]]>") {
                Some(end) => (&after[..end], &after[end + 3..]),
                None => (after, ""),
            };
            push_escaped(&mut out, content);
            rest = tail;
            continue;
        }
        let Some(end) = tag_end(rest) else {
            out.push_str(rest);
            return out;
        };
        let tag = &rest[..=end];
        match tag.strip_suffix("/>").and_then(|t| leading_tag(t).map(|name| (t, name))) {
            Some((open, name)) if !listed(VOID_ELEMENTS, &name) => {
                out.push_str(open.trim_end());
                out.push_str("></");
                out.push_str(&name);
                out.push('>');
            }
            _ => out.push_str(tag),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Byte index of the `>` closing the tag that `s` starts with, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// How deep the HTML walker recurses before flattening the rest of a subtree to text.
const MAX_HTML_DEPTH: usize = 256;

/// Elements whose content is never document text.
const SKIPPED_ELEMENTS: &str = "\
    script style nav noscript template svg iframe object canvas button select meta link \
    ac:parameter ac:image ac:emoticon ac:placeholder ac:adf-attribute ac:task-id \
    ac:task-status";

/// Elements that end the running paragraph before and after themselves.
const BLOCK_ELEMENTS: &str = "\
    html body p div section article main aside header footer blockquote ul ol li dl dt dd \
    figure figcaption hr address details summary form fieldset caption center \
    ac:rich-text-body ac:layout ac:layout-section ac:layout-cell ac:task-list \
    ac:structured-macro ac:adf-extension ac:adf-content";

/// Walks the parsed tree, collecting inline text into paragraphs between block boundaries.
#[derive(Default)]
struct HtmlWalker {
    blocks: Vec<Block>,
    title: Option<String>,
    inline: String,
    /// Whether the page has `<main>`/`<article>`: then headers and footers outside are chrome.
    drop_chrome: bool,
    /// Depth inside `<main>`/`<article>`.
    content_depth: usize,
    /// Element nesting, bounded so a hostile page cannot overflow the stack.
    depth: usize,
}

impl HtmlWalker {
    fn children(&mut self, el: ElementRef<'_>) {
        for child in el.children() {
            match child.value() {
                Node::Text(t) => self.inline.push_str(t),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        self.element(child);
                    }
                }
                _ => {}
            }
        }
    }

    fn flush(&mut self) {
        let text = collapse_ws(&self.inline);
        self.inline.clear();
        if !text.is_empty() {
            self.blocks.push(Block::Paragraph { text });
        }
    }

    /// The blocks `el`'s content makes on its own, as one line of text.
    fn text_of(&self, el: ElementRef<'_>) -> String {
        let mut sub = HtmlWalker {
            drop_chrome: self.drop_chrome,
            content_depth: self.content_depth,
            depth: self.depth,
            ..HtmlWalker::default()
        };
        sub.children(el);
        sub.flush();
        let texts: Vec<&str> = sub.blocks.iter().map(Block::text).collect();
        collapse_ws(&texts.join(" "))
    }

    fn element(&mut self, el: ElementRef<'_>) {
        if self.depth >= MAX_HTML_DEPTH {
            // Too deep to walk recursively: keep the words, lose the structure.
            self.inline.push(' ');
            self.inline.extend(el.text());
            return;
        }
        self.depth += 1;
        self.element_inner(el);
        self.depth -= 1;
    }

    fn element_inner(&mut self, el: ElementRef<'_>) {
        let v = el.value();
        let name = v.name();
        if listed(SKIPPED_ELEMENTS, name)
            || v.attr("hidden").is_some()
            || v.attr("aria-hidden") == Some("true")
        {
            return;
        }
        match name {
            "head" => self.children(el),
            "title" => {
                if self.title.is_none() {
                    let title = collapse_ws(&el.text().collect::<String>());
                    self.title = Some(title).filter(|t| !t.is_empty());
                }
            }
            "header" | "footer" if self.drop_chrome && self.content_depth == 0 => {}
            "main" | "article" => {
                self.flush();
                self.content_depth += 1;
                self.children(el);
                self.content_depth -= 1;
                self.flush();
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.flush();
                let level = name[1..].parse().unwrap_or(1);
                let text = self.text_of(el);
                if !text.is_empty() {
                    self.blocks.push(Block::Heading { level, text });
                }
            }
            "pre" => {
                self.flush();
                let lang = code_lang(el).or_else(|| {
                    el.children().filter_map(ElementRef::wrap).find_map(|c| code_lang(c))
                });
                self.push_code(lang, &el.text().collect::<String>());
            }
            "code" if self.inline.trim().is_empty() && el.text().any(|t| t.contains('\n')) => {
                self.flush();
                self.push_code(code_lang(el), &el.text().collect::<String>());
            }
            "br" => self.inline.push('\n'),
            "table" => {
                self.flush();
                self.table(el);
            }
            "ac:structured-macro" => self.confluence_macro(el),
            "ac:link" => self.confluence_link(el),
            "ac:task" => {
                self.flush();
                let done = el
                    .children()
                    .filter_map(ElementRef::wrap)
                    .find(|c| c.value().name() == "ac:task-status")
                    .is_some_and(|s| s.text().collect::<String>().trim() == "complete");
                self.inline.push_str(if done { "[x] " } else { "[ ] " });
                self.children(el);
                self.flush();
            }
            "ac:adf-extension" => {
                // The fallback repeats the node's content as HTML; read only one of them.
                self.flush();
                let fallback = el
                    .children()
                    .filter_map(ElementRef::wrap)
                    .find(|c| c.value().name() == "ac:adf-fallback");
                match fallback {
                    Some(f) => self.children(f),
                    None => self.children(el),
                }
                self.flush();
            }
            "time" => {
                let shown = el.text().collect::<String>();
                match v.attr("datetime") {
                    Some(dt) if shown.trim().is_empty() => {
                        self.inline.push(' ');
                        self.inline.push_str(dt);
                        self.inline.push(' ');
                    }
                    _ => self.children(el),
                }
            }
            _ if listed(BLOCK_ELEMENTS, name) => {
                self.flush();
                self.children(el);
                self.flush();
            }
            _ => self.children(el),
        }
    }

    fn push_code(&mut self, lang: Option<String>, text: &str) {
        let text = text.trim_matches('\n').trim_end();
        if !text.trim().is_empty() {
            self.blocks.push(Block::Code { lang, text: text.to_owned() });
        }
    }

    /// Rows in order (not those of nested tables), cells joined with ` | `.
    fn table(&mut self, table: ElementRef<'_>) {
        for child in table.children().filter_map(ElementRef::wrap) {
            match child.value().name() {
                "thead" | "tbody" | "tfoot" => self.table(child),
                "tr" => {
                    let cells: Vec<String> = child
                        .children()
                        .filter_map(ElementRef::wrap)
                        .filter(|c| matches!(c.value().name(), "td" | "th"))
                        .map(|c| self.text_of(c))
                        .filter(|t| !t.is_empty())
                        .collect();
                    if !cells.is_empty() {
                        self.blocks.push(Block::Paragraph { text: cells.join(" | ") });
                    }
                }
                "caption" => {
                    let text = self.text_of(child);
                    if !text.is_empty() {
                        self.blocks.push(Block::Paragraph { text });
                    }
                }
                _ => {}
            }
        }
    }

    /// The code and noformat macros become code; other macros (info, panel, expand …) are read
    /// for their rich-text body; their parameters are never text.
    fn confluence_macro(&mut self, el: ElementRef<'_>) {
        self.flush();
        let macro_name = el.value().attr("ac:name").unwrap_or_default();
        if matches!(macro_name, "code" | "noformat") {
            let mut lang = None;
            let mut body = String::new();
            for child in el.children().filter_map(ElementRef::wrap) {
                match child.value().name() {
                    "ac:parameter" if child.value().attr("ac:name") == Some("language") => {
                        let l = child.text().collect::<String>().trim().to_owned();
                        lang = Some(l).filter(|l| !l.is_empty());
                    }
                    "ac:plain-text-body" => body.push_str(&child.text().collect::<String>()),
                    _ => {}
                }
            }
            self.push_code(lang, &body);
        } else {
            self.children(el);
        }
        self.flush();
    }

    /// A link's text, or the target's title when the link has no body of its own.
    fn confluence_link(&mut self, el: ElementRef<'_>) {
        let children: Vec<ElementRef<'_>> = el.children().filter_map(ElementRef::wrap).collect();
        let body = children
            .iter()
            .find(|c| matches!(c.value().name(), "ac:plain-text-link-body" | "ac:link-body"));
        if let Some(body) = body {
            self.children(*body);
            return;
        }
        let target = children.iter().find_map(|c| {
            let v = c.value();
            match v.name() {
                "ri:page" | "ri:blog-post" => v.attr("ri:content-title"),
                "ri:attachment" => v.attr("ri:filename"),
                "ri:space" => v.attr("ri:space-key"),
                "ri:url" => v.attr("ri:value"),
                _ => None,
            }
        });
        if let Some(target) = target {
            self.inline.push_str(target);
        }
    }
}

/// `language-rust`, `lang-rust`, `brush: rust;`, `data-lang="rust"` → `rust`.
fn code_lang(el: ElementRef<'_>) -> Option<String> {
    let v = el.value();
    if let Some(lang) = v.attr("data-lang").or_else(|| v.attr("data-language")) {
        return Some(lang.trim().to_owned()).filter(|l| !l.is_empty());
    }
    let class = v.attr("class")?;
    if let Some(brush) = class.split("brush:").nth(1) {
        let lang = brush.trim().split([';', ' ']).next().unwrap_or_default();
        return Some(lang.to_owned()).filter(|l| !l.is_empty());
    }
    class.split_whitespace().find_map(|c| {
        let lang = c.strip_prefix("language-").or_else(|| c.strip_prefix("lang-"))?;
        Some(lang.to_owned()).filter(|l| !l.is_empty())
    })
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

/// Markdown → blocks: headings, paragraphs, list items, code (fenced with its language, or
/// indented), table rows as `a | b`; inline markup flattened. The first `#` heading is the title.
pub fn markdown_to_blocks(md: &str) -> Extracted {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
    let mut md_out = MarkdownWalker::default();
    for event in Parser::new_ext(md.trim_start_matches('\u{FEFF}'), options) {
        md_out.event(event);
    }
    md_out.flush();
    md_out.out
}

#[derive(Default)]
struct MarkdownWalker {
    out: Extracted,
    inline: String,
    code: Option<(Option<String>, String)>,
    html: Option<String>,
    row: Option<Vec<String>>,
    cell: Option<String>,
    in_metadata: bool,
}

impl MarkdownWalker {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) | Event::Code(text) => self.text(&text),
            Event::Html(html) => self.html.get_or_insert_with(String::new).push_str(&html),
            Event::SoftBreak | Event::HardBreak => self.text(" "),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
            Event::Rule => self.flush(),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.in_metadata {
            return;
        }
        if let Some((_, code)) = &mut self.code {
            code.push_str(text);
        } else if let Some(cell) = &mut self.cell {
            cell.push_str(text);
        } else {
            self.inline.push_str(text);
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::CodeBlock(kind) => {
                self.flush();
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '{' | '}'))
                        .find(|s| !s.is_empty())
                        .map(|s| s.trim_start_matches('.').to_owned()),
                    CodeBlockKind::Indented => None,
                };
                self.code = Some((lang, String::new()));
            }
            Tag::TableHead | Tag::TableRow => self.row = Some(Vec::new()),
            Tag::TableCell => self.cell = Some(String::new()),
            Tag::MetadataBlock(_) => self.in_metadata = true,
            Tag::HtmlBlock => {
                self.flush();
                self.html = Some(String::new());
            }
            Tag::Heading { .. }
            | Tag::Paragraph
            | Tag::Item
            | Tag::List(_)
            | Tag::BlockQuote(_)
            | Tag::Table(_)
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition => self.flush(),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(level) => {
                let text = collapse_ws(&std::mem::take(&mut self.inline));
                if !text.is_empty() {
                    if level == HeadingLevel::H1 && self.out.title.is_none() {
                        self.out.title = Some(text.clone());
                    }
                    self.out.blocks.push(Block::Heading { level: heading_level(level), text });
                }
            }
            TagEnd::CodeBlock => {
                if let Some((lang, text)) = self.code.take() {
                    let text = text.trim_matches('\n').trim_end();
                    if !text.trim().is_empty() {
                        self.out.blocks.push(Block::Code { lang, text: text.to_owned() });
                    }
                }
            }
            TagEnd::TableCell => {
                if let (Some(row), Some(cell)) = (&mut self.row, self.cell.take()) {
                    row.push(collapse_ws(&cell));
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                let cells: Vec<String> = self
                    .row
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| !c.is_empty())
                    .collect();
                if !cells.is_empty() {
                    self.out.blocks.push(Block::Paragraph { text: cells.join(" | ") });
                }
            }
            TagEnd::MetadataBlock(_) => self.in_metadata = false,
            TagEnd::HtmlBlock => {
                if let Some(html) = self.html.take() {
                    self.out.blocks.extend(html_to_blocks(&html).blocks);
                }
            }
            TagEnd::Paragraph
            | TagEnd::Item
            | TagEnd::List(_)
            | TagEnd::BlockQuote(_)
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition => self.flush(),
            _ => {}
        }
    }

    fn flush(&mut self) {
        let text = collapse_ws(&std::mem::take(&mut self.inline));
        if !text.is_empty() {
            self.out.blocks.push(Block::Paragraph { text });
        }
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNBOOK_PDF: &[u8] = include_bytes!("../testdata/runbook.pdf");
    const DAMAGED_CMAP_PDF: &[u8] = include_bytes!("../testdata/damaged-cmap.pdf");
    const ONBOARDING_DOCX: &[u8] = include_bytes!("../testdata/onboarding.docx");
    const PHOTOS_ZIP: &[u8] = include_bytes!("../testdata/photos.zip");
    const PNG_NAMED_PDF: &[u8] = include_bytes!("../testdata/screenshot-renamed.pdf");
    const RELEASE_NOTES_HTML: &str = include_str!("../testdata/release-notes.html");
    const CONFLUENCE_STORAGE: &str = include_str!("../testdata/confluence-storage.xml");
    const README_MD: &str = include_str!("../testdata/README.md");

    const LIMIT: usize = 10 * 1024 * 1024;

    fn texts(ex: &Extracted) -> Vec<&str> {
        ex.blocks.iter().map(Block::text).collect()
    }

    fn headings(ex: &Extracted) -> Vec<(u8, &str)> {
        ex.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading { level, text } => Some((*level, text.as_str())),
                _ => None,
            })
            .collect()
    }

    fn codes(ex: &Extracted) -> Vec<(Option<&str>, &str)> {
        ex.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Code { lang, text } => Some((lang.as_deref(), text.as_str())),
                _ => None,
            })
            .collect()
    }

    fn paragraph(text: &str) -> Block {
        Block::Paragraph { text: text.to_owned() }
    }

    // --- sniffing -------------------------------------------------------------------------

    #[test]
    fn format_names_are_stable() {
        let names: Vec<_> = [
            DocFormat::Pdf,
            DocFormat::Docx,
            DocFormat::Html,
            DocFormat::Markdown,
            DocFormat::Text,
        ]
        .map(DocFormat::as_str)
        .to_vec();
        assert_eq!(names, ["pdf", "docx", "html", "markdown", "text"]);
    }

    #[test]
    fn sniffs_pdf_and_docx_by_content_not_name() {
        assert_eq!(sniff(RUNBOOK_PDF, "runbook.txt").ok(), Some(DocFormat::Pdf));
        assert_eq!(sniff(ONBOARDING_DOCX, "upload.bin").ok(), Some(DocFormat::Docx));
    }

    #[test]
    fn pdf_marker_after_junk_is_pdf_but_text_mentioning_it_is_text() {
        let mut junk_first = b"\x00\x01junk\n".to_vec();
        junk_first.extend_from_slice(RUNBOOK_PDF);
        assert_eq!(sniff(&junk_first, "a").ok(), Some(DocFormat::Pdf));
        let note = b"PDF files start with %PDF-1.7 and end with %%EOF.\n";
        assert_eq!(sniff(note, "note.txt").ok(), Some(DocFormat::Text));
    }

    #[test]
    fn png_renamed_to_pdf_is_unsupported_and_named() {
        let err = sniff(PNG_NAMED_PDF, "screenshot.pdf").err();
        assert!(
            matches!(&err, Some(ExtractError::Unsupported(k)) if k == "a PNG image"),
            "{err:?}"
        );
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            message,
            "the file is not PDF, DOCX, HTML, Markdown or text (looks like a PNG image)"
        );
    }

    #[test]
    fn zip_that_is_not_docx_is_unsupported() {
        let err = sniff(PHOTOS_ZIP, "report.docx").err();
        assert!(
            matches!(&err, Some(ExtractError::Unsupported(k)) if k == "a ZIP archive"),
            "{err:?}"
        );
    }

    #[test]
    fn names_common_binary_formats() {
        let cases: &[(&[u8], &str)] = &[
            (b"\xFF\xD8\xFF\xE0\x00\x10JFIF", "a JPEG image"),
            (b"GIF89a\x01\x00", "a GIF image"),
            (b"\x1F\x8B\x08\x00", "a gzip archive"),
            (b"\x7FELF\x02\x01\x01\x00", "an ELF executable"),
            (b"MZ\x90\x00\x03\x00\x00\x00", "a Windows executable"),
            (b"\x00\x01\x02binary", "binary data"),
        ];
        for (bytes, kind) in cases {
            let err = sniff(bytes, "notes.txt").err();
            assert!(matches!(&err, Some(ExtractError::Unsupported(k)) if k == kind), "{err:?}");
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_unsupported() {
        // "Привет" in Windows-1251.
        let err = sniff(b"\xCF\xF0\xE8\xE2\xE5\xF2", "notes.txt").err();
        assert!(matches!(err, Some(ExtractError::Unsupported(k)) if k.contains("UTF-8")));
    }

    #[test]
    fn txt_that_is_actually_html_is_html() {
        let html = b"\n  <!-- exported -->\n<!DOCTYPE html><html><body><p>Hi</p></body></html>";
        assert_eq!(sniff(html, "page.txt").ok(), Some(DocFormat::Html));
        assert_eq!(sniff(b"<h1>Release</h1><p>Notes</p>", "notes.txt").ok(), Some(DocFormat::Html));
    }

    #[test]
    fn confluence_storage_format_is_html() {
        let bytes = CONFLUENCE_STORAGE.as_bytes();
        assert_eq!(sniff(bytes, "page.md").ok(), Some(DocFormat::Html));
        let macro_first = b"<ac:structured-macro ac:name=\"toc\" /><p>x</p>";
        assert_eq!(sniff(macro_first, "page").ok(), Some(DocFormat::Html));
    }

    #[test]
    fn markdown_is_recognised_by_structure_or_by_name() {
        assert_eq!(sniff(README_MD.as_bytes(), "README.txt").ok(), Some(DocFormat::Markdown));
        assert_eq!(sniff(b"Just a note.\n", "note.md").ok(), Some(DocFormat::Markdown));
        assert_eq!(sniff(b"Just a note.\n", "note.txt").ok(), Some(DocFormat::Text));
        assert_eq!(sniff(b"# one heading only\nand prose\n", "x").ok(), Some(DocFormat::Text));
    }

    #[test]
    fn readme_opening_with_html_logo_is_markdown() {
        let md = "<p align=\"center\"><img src=\"logo.png\"></p>\n\n# Tool\n\nIntro.\n\n\
                  ## Install\n\n```sh\nmake\n```\n";
        assert_eq!(sniff(md.as_bytes(), "README").ok(), Some(DocFormat::Markdown));
    }

    #[test]
    fn utf8_bom_is_allowed() {
        let (format, ex) = extract(b"\xEF\xBB\xBFHello there.\n", "a.txt", LIMIT).unwrap();
        assert_eq!(format, DocFormat::Text);
        assert_eq!(ex.blocks, [paragraph("Hello there.")]);
    }

    // --- extract ----------------------------------------------------------------------------

    #[test]
    fn oversize_is_too_large_before_sniffing() {
        let err = extract(PNG_NAMED_PDF, "x.pdf", 16).err();
        assert!(matches!(err, Some(ExtractError::TooLarge { limit: 16 })));
        let message = ExtractError::TooLarge { limit: 50 * 1024 * 1024 }.to_string();
        assert_eq!(message, "the file is too large (the limit is 50 MB)");
    }

    #[test]
    fn file_without_text_is_empty() {
        for (bytes, name) in [
            (&b"  \n\n \t"[..], "blank.txt"),
            (b"<html><head><script>x()</script></head><body> </body></html>", "e.html"),
        ] {
            let err = extract(bytes, name, LIMIT).err();
            assert!(matches!(err, Some(ExtractError::Empty)), "{name}: {err:?}");
        }
    }

    #[test]
    fn pdf_text_comes_out_per_paragraph_in_both_languages() {
        let (format, ex) = extract(RUNBOOK_PDF, "runbook.pdf", LIMIT).unwrap();
        assert_eq!(format, DocFormat::Pdf);
        let texts = texts(&ex);
        assert_eq!(texts.first(), Some(&"Deployment runbook"));
        assert!(texts.contains(
            &"The billing service is deployed every Tuesday. Before a release, check that the \
              database migrations have been reviewed and that the staging smoke tests are green."
        ));
        assert!(texts.contains(&"Резервное копирование"));
        assert!(texts.iter().any(|t| t.starts_with("Резервные копии базы данных")));
    }

    #[test]
    fn truncated_pdf_is_malformed() {
        let truncated = &RUNBOOK_PDF[..RUNBOOK_PDF.len() / 2];
        let err = extract(truncated, "runbook.pdf", LIMIT).err();
        assert!(matches!(err, Some(ExtractError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn pdf_that_panics_the_parser_is_malformed() {
        let err = extract(DAMAGED_CMAP_PDF, "damaged.pdf", LIMIT).err();
        assert!(matches!(err, Some(ExtractError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn docx_keeps_title_headings_tables_and_russian() {
        let (format, ex) = extract(ONBOARDING_DOCX, "onboarding.docx", LIMIT).unwrap();
        assert_eq!(format, DocFormat::Docx);
        assert_eq!(ex.title.as_deref(), Some("Onboarding guide"));
        assert_eq!(
            headings(&ex),
            [(1, "Onboarding guide"), (1, "Accounts"), (2, "Laptop setup"), (1, "Доступы")]
        );
        let texts = texts(&ex);
        assert!(texts.contains(&"Install the toolchain with rustup, then clone the repository."));
        assert!(texts.contains(&"System | Owner"));
        assert!(texts.contains(&"GitLab | Platform team"));
        assert!(
            texts.contains(&"Доступ к production выдаётся только после прохождения инструктажа.")
        );
    }

    #[test]
    fn docx_entry_over_the_cap_is_malformed() {
        let err = docx_to_blocks(ONBOARDING_DOCX, 1024).err();
        assert!(
            matches!(&err, Some(ExtractError::Malformed(m)) if m.contains("expands to more than")),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_docx_is_malformed() {
        let truncated = &ONBOARDING_DOCX[..ONBOARDING_DOCX.len() - 200];
        let err = extract(truncated, "onboarding.docx", LIMIT).err();
        assert!(matches!(err, Some(ExtractError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn html_page_drops_navigation_scripts_and_chrome() {
        let (format, ex) = extract(RELEASE_NOTES_HTML.as_bytes(), "notes.txt", LIMIT).unwrap();
        assert_eq!(format, DocFormat::Html);
        assert_eq!(ex.title.as_deref(), Some("Release notes 4.2 — Blueprint"));
        assert_eq!(headings(&ex), [(1, "Release notes 4.2"), (2, "Upgrading"), (2, "Fixed")]);
        assert_eq!(
            codes(&ex),
            [(Some("bash"), "blueprint migrate --to 4.2\nsystemctl restart blueprint")]
        );
        let texts = texts(&ex);
        assert!(texts.contains(
            &"This release adds single sign-on and fixes the export bug & several small issues."
        ));
        assert!(texts.contains(&"Export of RFCs with <angle brackets> in the title."));
        assert!(texts.contains(&"Note: the old API tokens keep working until 5.0."));
        assert!(texts.contains(&"Component | Version"));
        assert!(texts.contains(&"frontend | 4.2.1"));
        let all = ex.plain_text();
        for noise in ["Home", "dataLayer", "font-family", "All rights reserved", "app.js"] {
            assert!(!all.contains(noise), "{noise} leaked into {all}");
        }
    }

    #[test]
    fn confluence_storage_page_keeps_code_macro_tables_and_tasks() {
        let ex = html_to_blocks(CONFLUENCE_STORAGE);
        assert_eq!(
            headings(&ex),
            [
                (1, "Payment gateway integration"),
                (2, "Configuration"),
                (2, "Error codes"),
                (3, "Checklist"),
                (2, "Интеграция с банком"),
            ]
        );
        assert_eq!(
            codes(&ex),
            [(
                Some("yaml"),
                "gateway:\n  url: https://sandbox.pay.example.com\n  timeout_ms: 3000\n  \
                 retries: 2 # <do not raise>"
            )]
        );
        let texts = texts(&ex);
        let expected = [
            "Owner: . See also the architecture page for context.",
            "The sandbox is reset every Monday at 06:00 UTC.",
            "Set the merchant key in the vault never in the repository.",
            "Code | Meaning",
            "E101 | Card declined by the issuer",
            "E205 | Timeout – retry with the same idempotency key",
            "[x] Rotate the sandbox key",
            "[ ] Enable 3-D Secure in production",
            "Запросы к банку подписываются ключом из хранилища секретов.",
        ];
        for e in expected {
            assert!(texts.contains(&e), "missing {e:?} in {texts:#?}");
        }
        let all = ex.plain_text();
        for noise in ["gateway.yaml", "557058", "flow.png", "incomplete", "warning"] {
            assert!(!all.contains(noise), "{noise} leaked into {all}");
        }
    }

    #[test]
    fn confluence_link_without_body_shows_the_page_title() {
        let ex = html_to_blocks(
            "<p>See <ac:link><ri:page ri:content-title=\"Runbook\" /></ac:link> first.</p>",
        );
        assert_eq!(ex.blocks, [paragraph("See Runbook first.")]);
    }

    #[test]
    fn storage_preparation_escapes_cdata_and_closes_empty_elements() {
        let prepared = prepare_storage_format(
            "<p>a<ac:emoticon ac:name=\"tick\" />b<br/>c</p><x><![CDATA[if a < b && c]]></x>",
        );
        assert_eq!(
            prepared,
            "<p>a<ac:emoticon ac:name=\"tick\"></ac:emoticon>b<br/>c</p>\
             <x>if a &lt; b &amp;&amp; c</x>"
        );
    }

    #[test]
    fn html_headings_keep_levels_and_collapse_whitespace() {
        let ex = html_to_blocks(
            "<h2>  Two\n words </h2><h6>Six</h6><p>a&nbsp;&amp;\n\n b</p>\
             <ul><li>one<ul><li>two</li></ul></li></ul>",
        );
        assert_eq!(
            ex.blocks,
            [
                Block::Heading { level: 2, text: "Two words".into() },
                Block::Heading { level: 6, text: "Six".into() },
                paragraph("a & b"),
                paragraph("one"),
                paragraph("two"),
            ]
        );
        assert_eq!(ex.title, None);
    }

    #[test]
    fn deeply_nested_html_keeps_its_text_without_overflowing() {
        // Deeper than the walker recurses, shallow enough to parse.
        let depth = 3000;
        let html = format!("{}deep <b>text</b>{}", "<div>".repeat(depth), "</div>".repeat(depth));
        assert_eq!(html_to_blocks(&html).blocks, [paragraph("deep text")]);
    }

    #[test]
    fn pathologically_nested_html_is_read_as_text_without_parsing() {
        let depth = 200_000;
        let html =
            format!("<p>Intro</p>{}deep text{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let started = std::time::Instant::now();
        let ex = html_to_blocks(&html);
        assert_eq!(ex.blocks, [paragraph("Intro deep text")]);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn stray_end_tags_do_not_hide_nesting() {
        // html5ever ignores `</b>` with no open `b`: this nests 10 000 divs deep.
        let html = "<div></b>".repeat(10_000);
        assert!(nesting_exceeds(&html, MAX_PARSE_NESTING));
        let started = std::time::Instant::now();
        let _ = html_to_blocks(&"<div></b>x".repeat(200_000));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        // Properly closed siblings stay shallow; an end tag closes what is open inside it.
        assert!(!nesting_exceeds(&"<div><b>x</b></div>".repeat(10_000), MAX_PARSE_NESTING));
        assert!(!nesting_exceeds(&"<div><span><i>x</div>".repeat(10_000), MAX_PARSE_NESTING));
    }

    #[test]
    fn many_unclosed_paragraphs_do_not_count_as_nesting() {
        let html = "<p>line".repeat(10_000);
        assert!(!nesting_exceeds(&html, MAX_PARSE_NESTING));
    }

    #[test]
    fn page_without_main_keeps_its_header() {
        let ex = html_to_blocks("<body><header><h1>Guide</h1></header><p>Text.</p></body>");
        assert_eq!(headings(&ex), [(1, "Guide")]);
    }

    #[test]
    fn markdown_readme_becomes_headings_code_lists_and_rows() {
        let (format, ex) = extract(README_MD.as_bytes(), "README.md", LIMIT).unwrap();
        assert_eq!(format, DocFormat::Markdown);
        assert_eq!(ex.title.as_deref(), Some("Blueprint CLI"));
        assert_eq!(
            headings(&ex),
            [(1, "Blueprint CLI"), (2, "Installation"), (2, "Usage"), (2, "Настройка")]
        );
        assert_eq!(
            codes(&ex),
            [
                (Some("bash"), "cargo install blueprint-cli --locked"),
                (None, "bp --version"),
                (Some("toml"), "[server]\nurl = \"https://blueprint.example.com\""),
            ]
        );
        let texts = texts(&ex);
        for e in [
            "A command line client for Blueprint: create RFCs, search the knowledge base and \
             follow reviews from your terminal.",
            "Or download a binary from the releases page.",
            "bp rfc new creates a draft;",
            "Command | Scope",
            "rfc | generate",
            "Токен доступа хранится в файле ~/.config/blueprint/token. Создайте его на странице \
             профиля и никому не передавайте.",
        ] {
            assert!(texts.contains(&e), "missing {e:?} in {texts:#?}");
        }
    }

    #[test]
    fn markdown_front_matter_and_raw_html_are_handled() {
        let md =
            "---\ntitle: hidden\n---\n\n<div>\n<p>From <b>HTML</b></p>\n</div>\n\n- [x] done\n";
        let ex = markdown_to_blocks(md);
        assert_eq!(ex.blocks, [paragraph("From HTML"), paragraph("[x] done")]);
    }

    #[test]
    fn plain_text_splits_on_blank_lines() {
        let (format, ex) =
            extract(b"First line\nwraps here.\n\n\nSecond.\n", "a.txt", LIMIT).unwrap();
        assert_eq!(format, DocFormat::Text);
        assert_eq!(ex.blocks, [paragraph("First line wraps here."), paragraph("Second.")]);
    }

    // --- connector bodies ---------------------------------------------------------------------

    #[test]
    fn source_file_body_is_one_code_block() {
        let body = DocBody::Text { text: "\nfn main() {}\n".into(), lang: Some("rust".into()) };
        let ex = body_to_blocks(&body);
        assert_eq!(
            ex.blocks,
            [Block::Code { lang: Some("rust".into()), text: "fn main() {}".into() }]
        );
    }

    #[test]
    fn text_body_without_lang_is_paragraphs() {
        let body = DocBody::Text { text: "One.\n\nTwo\nlines.".into(), lang: None };
        assert_eq!(body_to_blocks(&body).blocks, [paragraph("One."), paragraph("Two lines.")]);
    }

    #[test]
    fn html_markdown_and_block_bodies_dispatch() {
        let html = body_to_blocks(&DocBody::Html("<h1>T</h1><p>x</p>".into()));
        assert_eq!(html.title.as_deref(), Some("T"));
        let md = body_to_blocks(&DocBody::Markdown("# T\n\nx".into()));
        assert_eq!(md.blocks, html.blocks);
        let blocks = vec![Block::Comment { author: Some("A".into()), at: None, text: "c".into() }];
        assert_eq!(body_to_blocks(&DocBody::Blocks(blocks.clone())).blocks, blocks);
    }
}
