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

/// Plain text: one paragraph per blank-line-separated run of lines; the title from the text
/// itself (see [`text_title`]).
pub(crate) fn text_to_blocks(text: &str) -> Extracted {
    let text = text.trim_start_matches('\u{FEFF}');
    let blocks = paragraphs(text).into_iter().map(|text| Block::Paragraph { text }).collect();
    Extracted { title: text_title(text), blocks }
}

/// Longest line taken for a title.
const MAX_TITLE_CHARS: usize = 120;

/// The title plain text gives itself, if any:
/// - a manual page's NAME line (`tar - an archiving utility`, `НАЗВАНИЕ` in Russian pages);
/// - a first line underlined with `===` or `---`;
/// - a short first line standing alone (a blank line after it) that does not end a sentence.
///
/// Otherwise None, and the caller falls back to the file name.
pub(crate) fn text_title(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().take(400).collect();
    let short = |l: &str| {
        let l = collapse_ws(l);
        (!l.is_empty() && l.chars().count() <= MAX_TITLE_CHARS).then_some(l)
    };
    // A manual page: "NAME" alone, then the indented "name - what it is".
    if let Some(i) = lines.iter().position(|l| matches!(l.trim(), "NAME" | "НАЗВАНИЕ" | "ИМЯ"))
    {
        return lines[i + 1..].iter().find(|l| !l.trim().is_empty()).and_then(|l| short(l));
    }
    let mut rest = lines.iter().skip_while(|l| l.trim().is_empty());
    let first = rest.next()?;
    let second = rest.next().map_or("", |l| l.trim());
    let underline =
        second.len() >= 3 && (second.chars().all(|c| c == '=') || second.chars().all(|c| c == '-'));
    let stands_alone = second.is_empty();
    let t = short(first)?;
    let sentence = t.ends_with(['.', ',', ';', '!', '?']) && !t.ends_with("...");
    let wordy = t.chars().any(char::is_alphabetic);
    ((underline || (stands_alone && !sentence)) && wordy).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::text_title;

    #[test]
    fn plain_text_names_itself_where_it_can() {
        let man = "TAR(1)                 User Commands                TAR(1)\n\nNAME\n       tar - an archiving utility\n\nSYNOPSIS\n       tar [OPTION...]\n";
        assert_eq!(text_title(man).as_deref(), Some("tar - an archiving utility"));
        assert_eq!(
            text_title("Release notes\n=============\n\nWe shipped.").as_deref(),
            Some("Release notes")
        );
        assert_eq!(
            text_title("\n\nDeploy checklist\n\n1. Drain the node.").as_deref(),
            Some("Deploy checklist")
        );
        assert_eq!(text_title("Список дел\n\nКупить молоко.").as_deref(), Some("Список дел"));
    }

    #[test]
    fn prose_and_noise_give_no_title() {
        // A sentence, a wrapped paragraph, a very long line, digits only: the file name is better.
        assert_eq!(text_title("We shipped the release today.\n\nMore below."), None);
        assert_eq!(text_title("first line of a paragraph\nthat wraps on"), None);
        assert_eq!(text_title(&"x".repeat(500)), None);
        assert_eq!(text_title("2024-01-01 12:00\n\nlog"), None);
        assert_eq!(text_title(""), None);
        assert_eq!(text_title("NAME\n"), None);
    }
}
