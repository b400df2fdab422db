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
    /// Markers removed because their label is not a known source.
    pub dropped: i32,
}

/// Keeps the markers whose label is in `known`, rewritten canonically, and removes the rest
/// (with the space before them, so no gap is left).
pub fn check(text: &str, known: &HashSet<i32>) -> Checked {
    let mut out = String::with_capacity(text.len());
    let mut cited = BTreeSet::new();
    let mut dropped = 0;
    let mut last = 0;
    for m in markers(text) {
        let before = &text[last..m.range.start];
        if known.contains(&m.label) {
            out.push_str(before);
            out.push_str(&format!("[S{}]", m.label));
            cited.insert(m.label);
        } else {
            out.push_str(before.strip_suffix(' ').unwrap_or(before));
            dropped += 1;
        }
        last = m.range.end;
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
    fn multibyte_text_around_markers_survives() {
        let c = check("Журнал 📒[S3]— готово", &known(&[3]));
        assert_eq!(c.text, "Журнал 📒[S3]— готово");
    }
}
