//! Text helpers every format shares: whitespace collapsing, paragraphs, plain text.

use crate::*;

/// Collapses every run of whitespace (including non-breaking spaces) to one space; trims.
pub(crate) fn collapse_ws(text: &str) -> String {
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
pub(crate) fn paragraphs(text: &str) -> Vec<String> {
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

pub(crate) fn push_collapsed(out: &mut Vec<String>, text: &str) {
    let text = collapse_ws(text);
    if !text.is_empty() {
        out.push(text);
    }
}

/// Plain text: one paragraph per blank-line-separated run of lines.
pub(crate) fn text_to_blocks(text: &str) -> Extracted {
    let text = text.trim_start_matches('\u{FEFF}');
    let blocks = paragraphs(text).into_iter().map(|text| Block::Paragraph { text }).collect();
    Extracted { title: None, blocks }
}
