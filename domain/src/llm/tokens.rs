//! Token counts for money: the real tokenizer of the model families whose encodings are public
//! (OpenAI's `o200k_base` and `cl100k_base`, via tiktoken-rs, ranks compiled in), and for every
//! other model a bound that cannot be exceeded — one token per byte, which holds for byte-level
//! BPE and SentencePiece with byte fallback alike (Llama, Qwen, Mistral, Claude …).
//!
//! Reservations use [`prompt_bound`] (never below what the provider will count), billing uses
//! the provider's usage and falls back to [`estimate`] only when the provider reported none.
//!
//! Hostile text cannot make counting slow or panic: text is counted in pieces of at most
//! [`PIECE`] bytes (cut before whitespace where possible), so the tokenizer's quadratic merge
//! and its regex backtracking only ever see short pieces, and a panic inside it falls back to
//! the byte bound.

use super::types::Message;
use tiktoken_rs::CoreBPE;

/// Tokens a chat template adds per message (role, separators) — OpenAI documents 3–4.
const PER_MESSAGE: u64 = 4;
/// Tokens that prime the reply.
const PER_REPLY: u64 = 3;
/// The longest piece handed to the tokenizer at once.
const PIECE: usize = 256;

/// How a model's tokens are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// OpenAI's `o200k_base` (GPT-4o, GPT-4.1, GPT-5, o-series).
    O200k,
    /// OpenAI's `cl100k_base` (GPT-4, GPT-3.5, text-embedding-3).
    Cl100k,
    /// No public tokenizer: one token per byte at most.
    Bytes,
}

impl Counter {
    /// The counter for `model` (a provider's model name, any case).
    pub fn for_model(model: &str) -> Self {
        let m = model.trim().to_ascii_lowercase();
        let m = m.rsplit('/').next().unwrap_or(&m);
        const O200K: [&str; 9] =
            ["gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "gpt-oss", "o1", "o3", "o4"];
        const CL100K: [&str; 4] = ["gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada"];
        if O200K.iter().any(|p| m.starts_with(p)) {
            Counter::O200k
        } else if CL100K.iter().any(|p| m.starts_with(p)) {
            Counter::Cl100k
        } else {
            Counter::Bytes
        }
    }

    /// Whether this is the model's real tokenizer (not a bound).
    pub fn is_exact(self) -> bool {
        self != Counter::Bytes
    }

    fn bpe(self) -> Option<&'static CoreBPE> {
        match self {
            Counter::O200k => Some(tiktoken_rs::o200k_base_singleton()),
            Counter::Cl100k => Some(tiktoken_rs::cl100k_base_singleton()),
            Counter::Bytes => None,
        }
    }

    /// Tokens in `text`: exact for a real tokenizer, the byte bound otherwise.
    pub fn count(self, text: &str) -> u64 {
        match self.bpe() {
            Some(bpe) => count_with(bpe, text),
            None => text.len() as u64,
        }
    }
}

/// Loads the tables of the tokenizers `models` use (a few hundred milliseconds and tens of
/// megabytes each), so their first call does not wait; the others load on first use.
pub fn warm_up(models: &[String]) {
    for model in models {
        let _ = Counter::for_model(model).count("warm");
    }
}

fn count_with(bpe: &CoreBPE, text: &str) -> u64 {
    pieces(text)
        .map(|piece| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                bpe.encode_ordinary(piece).len() as u64
            }))
            .unwrap_or(piece.len() as u64)
        })
        .sum()
}

/// `text` cut into pieces of at most [`PIECE`] bytes, each cut made before a whitespace
/// character when there is one in the second half of the piece, else at a character boundary.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() <= PIECE {
            return Some(std::mem::take(&mut rest));
        }
        let mut end = PIECE;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let mut half = PIECE / 2;
        while !rest.is_char_boundary(half) {
            half += 1;
        }
        let cut = rest[half..end]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(end, |(i, _)| half + i);
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}

/// The most prompt tokens the provider can count for `messages` to `model`: the real count plus
/// the chat template's overhead, or the byte bound when the tokenizer is not public.
pub fn prompt_bound(model: &str, messages: &[Message]) -> u64 {
    let counter = Counter::for_model(model);
    messages.iter().map(|m| counter.count(&m.content) + PER_MESSAGE).sum::<u64>() + PER_REPLY
}

/// Our best estimate of the tokens in `text` for `model`, for billing when the provider reported
/// none: the real tokenizer when public, else `cl100k_base` (an estimate, flagged as such in
/// the ledger).
pub fn estimate(model: &str, text: &str) -> u64 {
    match Counter::for_model(model) {
        Counter::Bytes => Counter::Cl100k.count(text),
        exact => exact.count(text),
    }
}

/// Our estimate of the prompt tokens of `messages` to `model`, for billing when the provider
/// reported none.
pub fn prompt_estimate(model: &str, messages: &[Message]) -> u64 {
    messages.iter().map(|m| estimate(model, &m.content) + PER_MESSAGE).sum::<u64>() + PER_REPLY
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Role;

    #[test]
    fn families_pick_their_encoding() {
        assert_eq!(Counter::for_model("gpt-4o-mini-2024-07-18"), Counter::O200k);
        assert_eq!(Counter::for_model("o3-mini"), Counter::O200k);
        assert_eq!(Counter::for_model("openai/gpt-4.1"), Counter::O200k);
        assert_eq!(Counter::for_model("gpt-4-turbo"), Counter::Cl100k);
        assert_eq!(Counter::for_model("claude-sonnet-4-5"), Counter::Bytes);
        assert_eq!(Counter::for_model("llama3.1:8b"), Counter::Bytes);
    }

    #[test]
    fn digits_and_punctuation_count_far_above_four_characters_per_token() {
        // The prompt that reserved 205 tokens under chars/4 and was billed 804.
        let digits: String = (0..200).map(|i| format!("{},", i % 10)).collect::<String>();
        let n = Counter::O200k.count(&digits);
        assert!(n >= 300, "{n} tokens for 400 characters of digits and commas");
        assert!(n > (digits.chars().count() as u64).div_ceil(4) * 2);
        // Known values from tiktoken.
        assert_eq!(Counter::Cl100k.count("hello world"), 2);
        assert_eq!(Counter::O200k.count("hello world"), 2);
    }

    #[test]
    fn the_byte_bound_covers_russian_and_code() {
        let ru = "Привет, как дела? Это проверка токенизатора на русском тексте.";
        let exact = Counter::O200k.count(ru).max(Counter::Cl100k.count(ru));
        assert!(Counter::Bytes.count(ru) >= exact, "bytes bound every BPE count");
        assert_eq!(Counter::Bytes.count(ru), ru.len() as u64);
    }

    #[test]
    fn pieces_cover_the_text_exactly_and_stay_short() {
        let texts = [
            "a".repeat(10_000),
            " ".repeat(3000),
            "слово ".repeat(500),
            "x".repeat(300) + "ё" + &"!".repeat(700),
            "ж".repeat(1000),
            "a".repeat(127) + &"ж".repeat(300),
            String::new(),
        ];
        for t in &texts {
            let parts: Vec<&str> = pieces(t).collect();
            assert_eq!(parts.concat(), *t);
            assert!(parts.iter().all(|p| !p.is_empty() && p.len() <= PIECE));
        }
    }

    #[test]
    fn hostile_runs_count_quickly_and_close_to_the_whole() {
        // One long run is a single regex piece for tiktoken: quadratic if handed over whole.
        let run = "z".repeat(200_000);
        let n = Counter::O200k.count(&run);
        assert!(n > 0 && n <= run.len() as u64);
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(50);
        let whole = tiktoken_rs::o200k_base_singleton().encode_ordinary(&text).len() as u64;
        let ours = Counter::O200k.count(&text);
        assert!(ours >= whole && ours <= whole + whole / 20, "{ours} vs {whole}");
    }

    #[test]
    fn prompt_bounds_add_the_template() {
        let m = [Message::new(Role::System, "Be brief."), Message::new(Role::User, "Hi")];
        let n = prompt_bound("gpt-4o", &m);
        assert_eq!(n, Counter::O200k.count("Be brief.") + 1 + 2 * PER_MESSAGE + PER_REPLY);
        assert_eq!(prompt_bound("claude-3-5-haiku", &m), 9 + 2 + 2 * PER_MESSAGE + PER_REPLY);
    }
}
