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
    Ok(Extracted { title: None, blocks })
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
