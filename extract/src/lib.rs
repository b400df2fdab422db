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
//! worker process under memory, CPU and time limits (`domain::knowledge::sandbox`). The
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

mod docx;
mod html;
mod markdown;
mod pdf;
mod sniff;
#[cfg(test)]
mod tests;
mod text;

pub use html::html_to_blocks;
pub use markdown::markdown_to_blocks;
use {docx::*, pdf::*, sniff::*, text::*};
