//! Small text rules the RFC studio shares: flattening and cutting text for prompts, taking
//! control characters out of what a model wrote, and finding the JSON in a model's reply.

use model::DocLanguage;
use serde_json::Value;

/// `text` on one line (whitespace runs become one space), cut to `max` characters.
pub fn clip(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text,
    }
}

/// `text` without control characters other than newline and tab (a model's output may hold
/// escape sequences or NULs; a terminal or a database should never see them).
pub fn strip_controls(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

/// Whether `text` holds a control character other than newline, carriage return and tab.
pub fn has_controls(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// The language's name as a prompt says it.
pub fn language_name(lang: DocLanguage) -> &'static str {
    match lang {
        DocLanguage::En => "English",
        DocLanguage::Ru => "Russian",
    }
}

/// The JSON in a reply: the whole text, or inside a code fence, or the outermost object or
/// array in surrounding prose.
pub fn find_json(text: &str) -> Option<Value> {
    let text = text.trim();
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        let body = after.split_once('\n').map_or(after, |(_, rest)| rest);
        if let Some(end) = body.find("```")
            && let Ok(v) = serde_json::from_str(body[..end].trim())
        {
            return Some(v);
        }
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(a), Some(b)) = (text.find(open), text.rfind(close))
            && a < b
            && let Ok(v) = serde_json::from_str(&text[a..=b])
        {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_flattens_and_cuts_by_characters() {
        assert_eq!(clip("## Заголовок\n\n  текст  ", 9), "## Заголо");
        assert_eq!(clip("a b", 10), "a b");
    }

    #[test]
    fn controls_are_found_and_stripped_but_lines_stay() {
        assert_eq!(strip_controls("a\u{1b}[31mb\u{0}\nc\td"), "a[31mb\nc\td");
        assert!(has_controls("x\u{7f}") && !has_controls("x\r\n\ty"));
    }
}
