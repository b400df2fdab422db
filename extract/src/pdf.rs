//! PDF: text per page through `pdf-extract` (under `catch_unwind`: it panics on damaged files).

use crate::*;

/// PDF text per page, split into paragraphs on blank lines. No headings: PDF has no structure
/// pdf-extract can see.
pub(crate) fn pdf_to_blocks(bytes: &[u8]) -> Result<Extracted, ExtractError> {
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
    let title = pdf_title(bytes).or_else(|| pages.first().and_then(|p| crate::text::text_title(p)));
    Ok(Extracted { title, blocks })
}

/// The document information dictionary's `/Title`, when it names something (not an
/// application's placeholder such as "Untitled" or "Microsoft Word - x.doc").
fn pdf_title(bytes: &[u8]) -> Option<String> {
    let doc = std::panic::catch_unwind(|| lopdf::Document::load_mem(bytes)).ok()?.ok()?;
    let info = doc.trailer.get(b"Info").ok()?;
    let info = match info {
        lopdf::Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let raw = match title {
        lopdf::Object::String(bytes, _) => bytes.clone(),
        _ => return None,
    };
    let text = decode_pdf_string(&raw);
    let text = collapse_ws(&text);
    let lower = text.to_lowercase();
    let placeholder = lower.is_empty()
        || lower == "untitled"
        || lower.starts_with("microsoft word -")
        || lower.ends_with(".doc")
        || lower.ends_with(".docx")
        || lower.ends_with(".pdf");
    (!placeholder && text.chars().count() <= 200).then_some(text)
}

/// A PDF text string: UTF-16BE with a byte-order mark, else PDFDocEncoding (Latin-1 for the
/// printable range).
fn decode_pdf_string(raw: &[u8]) -> String {
    if let Some(rest) = raw.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> =
            rest.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = raw.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    raw.iter().map(|&b| char::from(b)).collect()
}

/// pdf-extract separates every printed line by a blank line; a line that does not end a sentence
/// followed by one starting in lower case is the same paragraph wrapped.
pub(crate) fn join_wrapped_lines(lines: Vec<String>) -> Vec<String> {
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
pub(crate) fn short_reason(context: &str, detail: &str) -> String {
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
