//! `[S#]` citations: a model cites the sources it was given by their labels, and the server keeps
//! a citation only if its label is one of them. What the text cites is read here, never trusted.

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;

/// A `[S#]` marker in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// Byte range of the whole marker, brackets included.
    pub range: Range<usize>,
    /// The label it names.
    pub label: i32,
}

/// Every `[S#]` marker in `text`, in order. `[S 3]`, `[s3]` and `[S03]` are markers too (models
/// write them); `[Section]` and `[S]` are not.
pub fn markers(text: &str) -> Vec<Marker> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'[' && i + 1 < bytes.len() && (bytes[i + 1] | 0x20) == b's' {
            let mut j = i + 2;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            let digits = j;
            while j < bytes.len() && bytes[j].is_ascii_digit() && j - digits < 6 {
                j += 1;
            }
            if j > digits
                && j < bytes.len()
                && bytes[j] == b']'
                && let Ok(label) = text[digits..j].parse::<i32>()
            {
                out.push(Marker { range: i..j + 1, label });
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// A text with its citations checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The text with every marker that did not resolve removed, the rest written `[S#]`.
    pub text: String,
    /// Labels it cites that resolve, ascending.
    pub cited: Vec<i32>,
    /// Citations removed: labels that are not a known source, and spans that look like a
    /// citation but cannot be read (`[S1.5]`, `[S2 and S9]`).
    pub dropped: i32,
}

/// Most labels one bracket may cite (`[S1-S40]` is not read as forty citations).
const MAX_GROUP: usize = 20;
/// Longest bracket read as a citation group, in bytes.
const MAX_GROUP_BYTES: usize = 80;

/// Byte ranges of code (inline spans and blocks), where brackets are code, not citations.
fn code_ranges(text: &str) -> Vec<Range<usize>> {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let mut out = Vec::new();
    for (event, range) in Parser::new_ext(text, Options::ENABLE_TABLES).into_offset_iter() {
        match event {
            Event::Code(_) | Event::Start(Tag::CodeBlock(_)) | Event::Html(_) => out.push(range),
            _ => {}
        }
    }
    out
}

/// The labels of a citation group's inside (`S1`, `S1, S3`, `S2-S4`, `s 5; S6`), or None if
/// it is not one.
fn group_labels(inner: &str) -> Option<Vec<i32>> {
    let label = |t: &str| -> Option<i32> {
        let t = t.trim();
        let digits = t.strip_prefix(['S', 's']).unwrap_or(t).trim_start();
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let mut out = Vec::new();
    for item in inner.split([',', ';']) {
        let item = item.trim();
        let parts: Vec<&str> = item.split(['-', '–', '—']).collect();
        match parts.as_slice() {
            [one] => {
                // `S1 S2`: several labels separated by spaces.
                let words: Vec<&str> = one.split_whitespace().collect();
                if words.len() == 2 && words[0].eq_ignore_ascii_case("s") {
                    out.push(label(one)?);
                } else {
                    for w in words {
                        out.push(label(w)?);
                    }
                }
            }
            [a, b] => {
                let (a, b) = (label(a)?, label(b)?);
                if b < a || usize::try_from(b - a).ok()? >= MAX_GROUP {
                    return None;
                }
                out.extend(a..=b);
            }
            _ => return None,
        }
        if out.len() > MAX_GROUP {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Keeps the citations whose label is in `known`, written canonically (`[S1, S3]` becomes
/// `[S1][S3]`), and removes the rest with the space before them, so no gap is left. It fails
/// closed: anything that starts like a citation (`[S` and a digit) but cannot be read is
/// removed and counted. Code (inline and blocks) is left as it is.
pub fn check(text: &str, known: &HashSet<i32>) -> Checked {
    let code = code_ranges(text);
    let in_code = |at: usize| code.iter().any(|r| r.contains(&at));
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut cited = BTreeSet::new();
    let mut dropped = 0;
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'[' || in_code(i) {
            i += 1;
            continue;
        }
        // `[S` then optional spaces and a digit: a citation, or something to drop.
        let rest = &text[i + 1..];
        let looks = rest.strip_prefix(['S', 's']).is_some_and(|r| {
            r.trim_start_matches(' ').bytes().next().is_some_and(|b| b.is_ascii_digit())
        });
        if !looks {
            i += 1;
            continue;
        }
        let close = rest
            .char_indices()
            .take_while(|(at, c)| *at <= MAX_GROUP_BYTES && *c != '\n' && *c != '[')
            .find(|(_, c)| *c == ']')
            .map(|(at, _)| i + 1 + at);
        let end = close.map_or_else(
            // No closing bracket: the `[S` and its digits go.
            || {
                let digits = rest[1..].trim_start_matches(' ');
                let n = digits.bytes().take_while(u8::is_ascii_digit).count();
                i + 1 + 1 + (rest.len() - 1 - digits.len()) + n
            },
            |c| c + 1,
        );
        let labels = close.and_then(|c| group_labels(&text[i + 1..c]));
        let before = &text[last..i];
        let mut kept = String::new();
        match labels {
            Some(labels) => {
                for label in labels {
                    if known.contains(&label) {
                        if cited.insert(label) || !kept.contains(&format!("[S{label}]")) {
                            kept.push_str(&format!("[S{label}]"));
                        }
                    } else {
                        dropped += 1;
                    }
                }
            }
            None => dropped += 1,
        }
        if kept.is_empty() {
            out.push_str(before.strip_suffix(' ').unwrap_or(before));
        } else {
            out.push_str(before);
            out.push_str(&kept);
        }
        last = end;
        i = end;
    }
    out.push_str(&text[last..]);
    Checked { text: out, cited: cited.into_iter().collect(), dropped }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(labels: &[i32]) -> HashSet<i32> {
        labels.iter().copied().collect()
    }

    #[test]
    fn finds_markers_in_the_spellings_models_write() {
        let labels: Vec<i32> =
            markers("a [S1], b [s2][S 3] and [S004].").iter().map(|m| m.label).collect();
        assert_eq!(labels, vec![1, 2, 3, 4]);
    }

    #[test]
    fn ignores_brackets_that_are_not_markers() {
        for text in
            ["[Section 2]", "[S]", "[S-1]", "[S1", "S1]", "[x1]", "[S12345678]", "[Ş1]", "[S1.5]"]
        {
            assert!(markers(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn keeps_known_labels_and_drops_the_rest_counting_them() {
        let c =
            check("Uses Redis [S1] and Kafka [S9]. Rolls out weekly [s2][S1].", &known(&[1, 2]));
        assert_eq!(c.text, "Uses Redis [S1] and Kafka. Rolls out weekly [S2][S1].");
        assert_eq!(c.cited, vec![1, 2]);
        assert_eq!(c.dropped, 1);
    }

    #[test]
    fn an_empty_source_set_drops_every_marker() {
        let c = check("Всё работает [S1], как описано [S2].", &known(&[]));
        assert_eq!(c.text, "Всё работает, как описано.");
        assert!(c.cited.is_empty());
        assert_eq!(c.dropped, 2);
    }

    #[test]
    fn lists_and_ranges_are_read_and_what_cannot_be_read_is_dropped() {
        let c = check(
            "A [S1, S3]. B [S2-S4]. C [S1.5]. D [S9 and S1]. E [S1-S99]. F [s 2; S7]. G [S3",
            &known(&[1, 2, 3]),
        );
        assert_eq!(c.text, "A [S1][S3]. B [S2][S3]. C. D. E. F [S2]. G");
        assert_eq!(c.cited, vec![1, 2, 3]);
        assert_eq!(
            c.dropped,
            1 + 1 + 1 + 1 + 1 + 1,
            "S4, S1.5, 'and', the range, S7, the open one"
        );
    }

    #[test]
    fn code_is_left_alone_and_section_links_are_not_citations() {
        let text = "Use `m[s1]` here [S1].\n\n```rust\nlet x = v[S2];\n```\n\nSee [Section 2].";
        let c = check(text, &known(&[1]));
        assert_eq!(c.text, text);
        assert_eq!((c.cited.clone(), c.dropped), (vec![1], 0));
    }

    #[test]
    fn multibyte_text_around_markers_survives() {
        let c = check("Журнал 📒[S3]— готово", &known(&[3]));
        assert_eq!(c.text, "Журнал 📒[S3]— готово");
    }
}
