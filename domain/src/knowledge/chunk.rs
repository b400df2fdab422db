//! Chunking: a document's blocks → chunks that follow its structure (a heading starts a chunk,
//! code stays whole where it fits, each comment stands alone), sized in characters, never bytes,
//! so multi-byte text (Russian, CJK) is never cut inside a character. Also owns the content hash
//! used to skip re-indexing unchanged documents and chunks. Deterministic; knows nothing of
//! embeddings or the store.

use super::{Block, Extracted};
use sha2::{Digest, Sha256};

/// Separates the levels of a heading path ("Setup › Database").
const HEADING_SEPARATOR: &str = " › ";

/// Separates paragraphs inside one prose chunk.
const PARAGRAPH_SEPARATOR: &str = "\n\n";

/// Sizes for [`chunk`], in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Prose accumulates up to about this size before a new chunk starts.
    pub target_chars: usize,
    /// No chunk is longer than this; longer paragraphs and code are split.
    pub max_chars: usize,
    /// How much of a prose chunk's end the next prose chunk under the same heading repeats.
    pub overlap_chars: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self { target_chars: 1200, max_chars: 2000, overlap_chars: 200 }
    }
}

/// What a chunk holds; search ranks and renders them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkKind {
    /// Paragraphs, list items, table rows.
    Prose,
    /// Preformatted code, split only at line breaks.
    Code,
    /// One issue or merge request comment, prefixed with its author.
    Comment,
}

impl ChunkKind {
    /// The stored name: `prose`, `code` or `comment`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Prose => "prose",
            ChunkKind::Code => "code",
            ChunkKind::Comment => "comment",
        }
    }
}

/// One searchable piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the document, from 0.
    pub ord: i32,
    /// The heading path above the chunk ("Setup › Database"); empty before the first heading.
    pub heading: String,
    /// The chunk's text (prose paragraphs separated by blank lines).
    pub text: String,
    /// What the text is.
    pub kind: ChunkKind,
}

/// SHA-256 of `text`, lowercase hex; identifies unchanged documents and chunks.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Splits a document's blocks into chunks that follow its headings, sized by `opts`.
pub fn chunk(ex: &Extracted, opts: &ChunkOptions) -> Vec<Chunk> {
    let mut chunker = Chunker::new(opts);
    for block in &ex.blocks {
        match block {
            Block::Heading { level, text } => chunker.heading(*level, text),
            Block::Paragraph { text } => chunker.paragraph(text),
            Block::Code { text, .. } => chunker.code(text),
            Block::Comment { author, text, .. } => chunker.comment(author.as_deref(), text),
        }
    }
    chunker.finish()
}

/// Sizes made consistent: `overlap < target <= max`, all at least one character.
#[derive(Debug, Clone, Copy)]
struct Limits {
    target: usize,
    max: usize,
    overlap: usize,
}

impl Limits {
    fn from(opts: &ChunkOptions) -> Self {
        let max = opts.max_chars.max(1);
        let target = opts.target_chars.clamp(1, max);
        let overlap = opts.overlap_chars.min(target / 2);
        Self { target, max, overlap }
    }
}

struct Chunker {
    limits: Limits,
    out: Vec<Chunk>,
    /// (level, text) of the headings above the current position.
    path: Vec<(u8, String)>,
    /// Prose being accumulated.
    prose: String,
    prose_chars: usize,
    /// How many leading characters of `prose` were carried over from the previous chunk.
    carried_chars: usize,
}

impl Chunker {
    fn new(opts: &ChunkOptions) -> Self {
        Self {
            limits: Limits::from(opts),
            out: Vec::new(),
            path: Vec::new(),
            prose: String::new(),
            prose_chars: 0,
            carried_chars: 0,
        }
    }

    fn heading(&mut self, level: u8, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.end_prose();
        while self.path.last().is_some_and(|(l, _)| *l >= level) {
            self.path.pop();
        }
        self.path.push((level, text.to_owned()));
    }

    fn paragraph(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let pieces = if char_len(text) > self.limits.max {
            split_text(text, self.limits.target)
        } else {
            vec![text.to_owned()]
        };
        for piece in pieces {
            self.push_prose(&piece);
        }
    }

    fn push_prose(&mut self, piece: &str) {
        let piece_chars = char_len(piece);
        let sep = PARAGRAPH_SEPARATOR.len();
        let fresh = self.prose_chars > self.carried_chars;
        if fresh && self.prose_chars + sep + piece_chars > self.limits.target {
            self.flush_prose(true);
        }
        // Overlap is a courtesy: dropped when it would push the chunk over the hard limit.
        if !self.prose.is_empty() && self.prose_chars + sep + piece_chars > self.limits.max {
            self.clear_prose();
        }
        if !self.prose.is_empty() {
            self.prose.push_str(PARAGRAPH_SEPARATOR);
            self.prose_chars += sep;
        }
        self.prose.push_str(piece);
        self.prose_chars += piece_chars;
    }

    fn code(&mut self, text: &str) {
        self.end_prose();
        for part in split_lines(text, self.limits.max) {
            self.emit(part, ChunkKind::Code);
        }
    }

    fn comment(&mut self, author: Option<&str>, text: &str) {
        self.end_prose();
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let prefix = match author.map(str::trim).filter(|a| !a.is_empty()) {
            Some(author) => format!("{author}: "),
            None => String::new(),
        };
        let room = self.limits.max.saturating_sub(char_len(&prefix)).max(1);
        for part in split_text(text, room) {
            self.emit(format!("{prefix}{part}"), ChunkKind::Comment);
        }
    }

    fn finish(mut self) -> Vec<Chunk> {
        self.end_prose();
        self.out
    }

    /// Ends the current prose chunk without carrying overlap (structure changes here).
    fn end_prose(&mut self) {
        self.flush_prose(false);
    }

    fn flush_prose(&mut self, carry_overlap: bool) {
        let fresh = self.prose_chars > self.carried_chars;
        let text = std::mem::take(&mut self.prose);
        self.clear_prose();
        if !fresh {
            return;
        }
        if carry_overlap {
            self.prose = overlap_tail(&text, self.limits.overlap).to_owned();
            self.prose_chars = char_len(&self.prose);
            self.carried_chars = self.prose_chars;
        }
        self.emit(text, ChunkKind::Prose);
    }

    fn clear_prose(&mut self) {
        self.prose.clear();
        self.prose_chars = 0;
        self.carried_chars = 0;
    }

    fn emit(&mut self, text: String, kind: ChunkKind) {
        if text.trim().is_empty() {
            return;
        }
        let heading =
            self.path.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(HEADING_SEPARATOR);
        let ord = i32::try_from(self.out.len()).unwrap_or(i32::MAX);
        self.out.push(Chunk { ord, heading, text, kind });
    }
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Byte offset of the `n`-th character (or the end), always a char boundary.
fn byte_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Whether `c` ends a sentence when whitespace follows it.
fn ends_sentence(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？')
}

/// Splits prose into pieces of at most `limit` characters: at sentence ends where possible, then
/// at whitespace, and only as a last resort between two characters of one long word.
fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let mut out = Vec::new();
    let mut rest = text.trim();
    while char_len(rest) > limit {
        let cut = best_cut(rest, limit);
        let (head, tail) = rest.split_at(cut);
        let head = head.trim_end();
        if !head.is_empty() {
            out.push(head.to_owned());
        }
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// Where to cut `s` (longer than `limit` chars) so the head holds at most `limit` chars; > 0.
fn best_cut(s: &str, limit: usize) -> usize {
    let window = &s[..byte_offset(s, limit)];
    // A cut in the first half would leave tiny pieces; prefer the latest boundary.
    let min = byte_offset(window, limit / 2);
    let mut sentence_end = None;
    let mut space = None;
    let mut prev: Option<char> = None;
    for (i, c) in window.char_indices() {
        if c.is_whitespace() {
            if i > 0 {
                space = Some(i);
            }
            if c == '\n' || prev.is_some_and(ends_sentence) {
                sentence_end = Some(i);
            }
        }
        prev = Some(c);
    }
    // The character right after the window may be the whitespace that ends a sentence.
    if s[window.len()..].starts_with(char::is_whitespace) {
        space = Some(window.len());
        if prev.is_some_and(ends_sentence) {
            sentence_end = Some(window.len());
        }
    }
    match (sentence_end, space) {
        (Some(i), _) if i > 0 && i >= min => i,
        (_, Some(i)) if i > 0 => i,
        _ => window.len().max(s.chars().next().map_or(s.len(), char::len_utf8)),
    }
}

/// The end of `text` to repeat at the start of the next chunk: at most `overlap` chars, starting
/// at a sentence start if one is in reach, else at a word start; empty if no boundary fits.
fn overlap_tail(text: &str, overlap: usize) -> &str {
    if overlap == 0 {
        return "";
    }
    let total = char_len(text);
    if total <= overlap {
        return text.trim();
    }
    let start = byte_offset(text, total - overlap);
    let mut word_start = None;
    let mut after_space = false;
    let mut after_newline = false;
    let mut last_visible: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            after_space = true;
            after_newline |= c == '\n';
            continue;
        }
        if i >= start && after_space {
            if after_newline || last_visible.is_some_and(ends_sentence) {
                return text[i..].trim_end();
            }
            word_start.get_or_insert(i);
        }
        after_space = false;
        after_newline = false;
        last_visible = Some(c);
    }
    word_start.map_or("", |i| text[i..].trim_end())
}

/// Splits code at line breaks into parts of at most `max` chars; one over-long line is cut
/// at whitespace (or between characters). Line breaks and indentation are kept.
fn split_lines(text: &str, max: usize) -> Vec<String> {
    let text = text.trim_matches('\n').trim_end();
    if text.trim().is_empty() {
        return Vec::new();
    }
    if char_len(text) <= max {
        return vec![text.to_owned()];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_chars = 0;
    for line in text.lines() {
        let line_chars = char_len(line);
        let extra = if cur.is_empty() { line_chars } else { line_chars + 1 };
        if cur_chars + extra > max && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            cur_chars = 0;
        }
        if line_chars > max {
            out.extend(split_text(line, max));
            continue;
        }
        if !cur.is_empty() {
            cur.push('\n');
            cur_chars += 1;
        }
        cur.push_str(line);
        cur_chars += line_chars;
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.retain(|part| !part.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heading(level: u8, text: &str) -> Block {
        Block::Heading { level, text: text.to_owned() }
    }

    fn para(text: &str) -> Block {
        Block::Paragraph { text: text.to_owned() }
    }

    fn doc(blocks: Vec<Block>) -> Extracted {
        Extracted { title: None, blocks }
    }

    fn small() -> ChunkOptions {
        ChunkOptions { target_chars: 120, max_chars: 200, overlap_chars: 40 }
    }

    /// Numbered English sentences, ~45 chars each.
    fn sentences(n: usize) -> String {
        (0..n)
            .map(|i| format!("Sentence number {i} talks about the database."))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn content_hash_is_sha256_hex() {
        assert_eq!(
            content_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn chunk_kind_names_are_stable() {
        assert_eq!(ChunkKind::Prose.as_str(), "prose");
        assert_eq!(ChunkKind::Code.as_str(), "code");
        assert_eq!(ChunkKind::Comment.as_str(), "comment");
    }

    #[test]
    fn tracks_heading_path_by_level() {
        let ex = doc(vec![
            para("Intro before any heading."),
            heading(1, "Setup"),
            para("Install things."),
            heading(2, "Database"),
            para("Create the database."),
            heading(3, "Backups"),
            para("Nightly."),
            heading(2, "Cache"),
            para("Redis."),
            heading(1, "Usage"),
            para("Run it."),
        ]);
        let chunks = chunk(&ex, &ChunkOptions::default());
        let headings: Vec<_> = chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(
            headings,
            [
                "",
                "Setup",
                "Setup › Database",
                "Setup › Database › Backups",
                "Setup › Cache",
                "Usage"
            ]
        );
        let ords: Vec<_> = chunks.iter().map(|c| c.ord).collect();
        assert_eq!(ords, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn accumulates_short_paragraphs_into_one_chunk() {
        let ex = doc(vec![para("One."), para("Two."), para("Three.")]);
        let chunks = chunk(&ex, &ChunkOptions::default());
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "One.\n\nTwo.\n\nThree.");
        assert_eq!(chunks[0].kind, ChunkKind::Prose);
    }

    #[test]
    fn consecutive_prose_chunks_overlap_at_a_boundary() {
        let blocks =
            (0..6).map(|i| para(&format!("Paragraph {i} opens here. It has two short sentences.")));
        let blocks = blocks.collect();
        let chunks = chunk(&doc(blocks), &small());
        assert!(chunks.len() >= 3, "{chunks:#?}");
        for pair in chunks.windows(2) {
            let (prev, next) = (&pair[0], &pair[1]);
            let tail: String = {
                let n = next.text.split("\n\n").next().unwrap_or_default();
                n.to_owned()
            };
            assert!(prev.text.ends_with(&tail), "{prev:?} / {next:?}");
            assert!(char_len(&tail) <= 40, "{tail:?}");
            assert!(!tail.is_empty());
            assert!(tail.starts_with(char::is_uppercase), "starts at a sentence: {tail:?}");
        }
    }

    #[test]
    fn no_overlap_across_headings() {
        let ex =
            doc(vec![heading(1, "A"), para(&sentences(2)), heading(1, "B"), para("Fresh start.")]);
        let chunks = chunk(&ex, &small());
        assert_eq!(chunks.last().map(|c| c.text.as_str()), Some("Fresh start."));
    }

    #[test]
    fn splits_long_paragraph_at_sentence_ends() {
        let text = sentences(12);
        let chunks = chunk(&doc(vec![para(&text)]), &small());
        assert!(chunks.len() > 2);
        for c in &chunks {
            assert!(char_len(&c.text) <= 200, "{}", c.text);
            assert!(c.text.ends_with('.'), "cut mid-sentence: {:?}", c.text);
        }
    }

    #[test]
    fn russian_chunking_never_splits_a_character() {
        let sentence = "Резервные копии базы данных создаются каждую ночь и хранятся тридцать дней";
        let text = format!("{sentence}. ").repeat(40) + &"ж".repeat(500);
        let ex = doc(vec![heading(1, "Резервное копирование"), para(&text)]);
        let chunks = chunk(&ex, &small());
        assert!(chunks.len() > 5);
        let mut rebuilt = String::new();
        for c in &chunks {
            // Slicing by bytes would have panicked; check sizes are in characters.
            assert!(char_len(&c.text) <= 200, "{} chars", char_len(&c.text));
            assert_eq!(c.heading, "Резервное копирование");
            rebuilt.push_str(&c.text);
        }
        assert!(rebuilt.contains("тридцать дней."));
        assert!(rebuilt.matches('ж').count() >= 500);
    }

    #[test]
    fn code_is_kept_whole_when_it_fits() {
        let code = "fn main() {\n    println!(\"hi\");\n}\n";
        let ex = doc(vec![
            para("Before."),
            Block::Code { lang: Some("rust".into()), text: code.into() },
            para("After."),
        ]);
        let chunks = chunk(&ex, &ChunkOptions::default());
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].kind, ChunkKind::Code);
        assert_eq!(chunks[1].text, code.trim_end());
        assert_eq!(chunks[2].text, "After.", "no overlap carried across code");
    }

    #[test]
    fn long_code_splits_only_at_line_breaks() {
        let lines: Vec<String> =
            (0..30).map(|i| format!("let value_{i} = compute({i});")).collect();
        let code = lines.join("\n");
        let chunks = chunk(&doc(vec![Block::Code { lang: None, text: code }]), &small());
        assert!(chunks.len() > 1);
        let mut seen = Vec::new();
        for c in &chunks {
            assert_eq!(c.kind, ChunkKind::Code);
            assert!(char_len(&c.text) <= 200);
            seen.extend(c.text.lines().map(str::to_owned));
        }
        assert_eq!(seen, lines, "every line whole, in order");
    }

    #[test]
    fn each_comment_is_its_own_chunk_with_author() {
        let ex = doc(vec![
            para("The issue description."),
            Block::Comment { author: Some("Anna".into()), at: None, text: "Reproduced.".into() },
            Block::Comment { author: None, at: None, text: "Fixed in 4.2.".into() },
        ]);
        let chunks = chunk(&ex, &ChunkOptions::default());
        let got: Vec<_> = chunks.iter().map(|c| (c.kind, c.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (ChunkKind::Prose, "The issue description."),
                (ChunkKind::Comment, "Anna: Reproduced."),
                (ChunkKind::Comment, "Fixed in 4.2."),
            ]
        );
    }

    #[test]
    fn never_emits_empty_chunks() {
        let ex = doc(vec![
            heading(1, "Only headings"),
            para("   "),
            Block::Code { lang: None, text: "\n\n".into() },
            Block::Comment { author: Some("x".into()), at: None, text: " ".into() },
            heading(2, "Still nothing"),
        ]);
        assert!(chunk(&ex, &ChunkOptions::default()).is_empty());
    }

    #[test]
    fn chunking_is_deterministic() {
        let ex = doc(vec![heading(1, "A"), para(&sentences(30)), para(&sentences(5))]);
        assert_eq!(chunk(&ex, &small()), chunk(&ex, &small()));
    }

    #[test]
    fn survives_degenerate_options() {
        let opts = ChunkOptions { target_chars: 0, max_chars: 0, overlap_chars: 50 };
        let chunks = chunk(&doc(vec![para("ab cd")]), &opts);
        let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(text, "abcd");
    }

    #[test]
    fn overlap_tail_starts_at_a_word() {
        assert_eq!(overlap_tail("alpha beta gamma", 8), "gamma");
        assert_eq!(overlap_tail("One two. Three four", 14), "Three four");
        assert_eq!(overlap_tail("short", 10), "short");
        assert_eq!(overlap_tail("x".repeat(30).as_str(), 10), "");
    }
}
