//! Words of engineering text. Identifiers are indexed whole and in parts: `unknown_variable`
//! gives `unknown_variable`, `unknown` and `variable`; `HttpServerError` gives the whole word
//! and `Http`, `Server`, `Error`; `std::fs::read_to_string`, `path/to/file.tar.gz`,
//! `X-RateLimit-Remaining`, `v1.2.3` and `E0425` likewise. The whole word sits at its first
//! part's position, so phrases over the parts still match, and a query naming the identifier
//! finds the rare whole word before pages that merely use its common parts.
//!
//! Everything else is split as tantivy's simple tokenizer splits (on anything not a letter or a
//! digit), so prose in any script is unchanged.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Characters that join the parts of one identifier when they sit between letters or digits.
fn is_joiner(c: char) -> bool {
    matches!(c, '_' | '.' | '-' | '/' | ':' | '\\' | '#' | '@')
}

/// The tokenizer: identifiers whole and in parts.
#[derive(Clone, Default)]
pub struct CodeTokenizer {
    tokens: Vec<Token>,
}

/// The tokens of one text, computed up front.
pub struct CodeTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.tokens.clear();
        split(text, &mut self.tokens);
        CodeTokenStream { tokens: &mut self.tokens, next: 0 }
    }
}

/// Byte ranges of the runs of `text`: letters and digits, with joiners kept only between them.
fn runs(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    // End of the run so far (after its last letter or digit).
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
            end = i + c.len_utf8();
        } else if is_joiner(c) && start.is_some() {
            // Kept only if a letter or digit follows; `end` stays before it until then.
        } else if let Some(s) = start.take() {
            out.push((s, end));
        }
    }
    if let Some(s) = start {
        out.push((s, end));
    }
    out
}

/// Byte ranges of the parts of one run: split at joiners and where case changes inside a word
/// (`httpServer` → `http` `Server`; `HTTPServer` → `HTTP` `Server`). Digits stay with their
/// letters (`utf8`, `sha256`, `E0425`).
fn parts(run: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = run.char_indices().collect();
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (k, &(i, c)) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if let Some(s) = start.take() {
                out.push((s, i));
            }
            continue;
        }
        let Some(s) = start else {
            start = Some(i);
            continue;
        };
        let prev = chars[k - 1].1;
        let next = chars.get(k + 1).map(|p| p.1);
        let lower_to_upper = prev.is_lowercase() && c.is_uppercase();
        let acronym_end =
            prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
        if lower_to_upper || acronym_end {
            out.push((s, i));
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, run.len()));
    }
    out
}

fn split(text: &str, tokens: &mut Vec<Token>) {
    let mut position = 0;
    for (from, to) in runs(text) {
        let run = &text[from..to];
        let pieces = parts(run);
        if pieces.len() > 1 {
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: run.to_string(),
                position_length: pieces.len(),
            });
        }
        for (a, b) in pieces {
            tokens.push(Token {
                offset_from: from + a,
                offset_to: from + b,
                position,
                text: run[a..b].to_string(),
                position_length: 1,
            });
            position += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, usize)> {
        let mut t = CodeTokenizer::default();
        let mut s = t.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            out.push((s.token().text.clone(), s.token().position));
        }
        out
    }

    fn texts(text: &str) -> Vec<String> {
        words(text).into_iter().map(|w| w.0).collect()
    }

    #[test]
    fn identifiers_are_whole_and_in_parts() {
        assert_eq!(texts("unknown_variable"), ["unknown_variable", "unknown", "variable"]);
        assert_eq!(texts("HTTPServerError"), ["HTTPServerError", "HTTP", "Server", "Error"]);
        assert_eq!(
            texts("std::fs::read_to_string()"),
            ["std::fs::read_to_string", "std", "fs", "read", "to", "string"]
        );
        assert_eq!(texts("v1.2.3"), ["v1.2.3", "v1", "2", "3"]);
        assert_eq!(texts("E0425 utf8 sha256"), ["E0425", "utf8", "sha256"]);
        assert_eq!(
            texts("X-RateLimit-Remaining: 0"),
            ["X-RateLimit-Remaining", "X", "Rate", "Limit", "Remaining", "0"]
        );
    }

    #[test]
    fn prose_and_punctuation_split_as_before() {
        assert_eq!(texts("The end. Next -1, [-x, x]"), ["The", "end", "Next", "1", "x", "x"]);
        assert_eq!(texts("--wildcards \"*.html\""), ["wildcards", "html"]);
        assert_eq!(texts("Извлечь файлы из архива"), ["Извлечь", "файлы", "из", "архива"]);
        assert_eq!(texts(""), Vec::<String>::new());
        assert_eq!(texts("___ ... //"), Vec::<String>::new());
    }

    #[test]
    fn the_whole_word_sits_at_its_first_parts_position() {
        assert_eq!(
            words("call foo_bar now"),
            [
                ("call".to_string(), 0),
                ("foo_bar".to_string(), 1),
                ("foo".to_string(), 1),
                ("bar".to_string(), 2),
                ("now".to_string(), 3)
            ]
        );
    }

    #[test]
    fn odd_text_never_panics() {
        for text in
            ["a\u{301}_b", "ß_ǅ_ǈ", "日本語_テキスト", "a_\u{0}_b", "🙂_🙂", "İstanbul_IŞIK"]
        {
            let _ = words(text);
        }
    }
}
