//! Small text rules the RFC studio shares: flattening and cutting text for prompts, and taking
//! control characters out of what a model wrote.

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
