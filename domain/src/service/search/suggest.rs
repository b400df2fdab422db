//! "Did you mean" for searches that found nothing.

use super::*;

/// "Did you mean": each unknown word replaced by the closest word of a chunk holding a word
/// one or two edits away; and, with filters set, the same words without them.
pub(super) async fn suggestions(
    state: &AppState,
    allowed: &HashSet<i64>,
    req: &SearchRequest,
) -> Result<Vec<String>, AppError> {
    let index = state.knowledge.index();
    let words: Vec<&str> = req.q.split_whitespace().collect();
    let mut corrected = Vec::with_capacity(words.len());
    let mut changed = false;
    for w in &words {
        let lower = w.to_lowercase();
        if lower.chars().count() < 4 {
            corrected.push(lower);
            continue;
        }
        let chunks = index.fuzzy_chunks(&lower, allowed, 5);
        let texts = state.store.chunk_texts(&chunks).await?;
        let mut best: Option<(usize, String)> = None;
        for (_, heading, text) in &texts {
            for cand in heading
                .split(|c: char| !c.is_alphanumeric())
                .chain(text.split(|c: char| !c.is_alphanumeric()))
            {
                let cand = cand.to_lowercase();
                if cand.is_empty() || cand == lower {
                    continue;
                }
                let d = levenshtein(&lower, &cand);
                if d <= 2 && best.as_ref().is_none_or(|(bd, _)| d < *bd) {
                    best = Some((d, cand));
                }
            }
        }
        match best {
            Some((_, cand)) => {
                corrected.push(cand);
                changed = true;
            }
            None => corrected.push(lower),
        }
    }
    let mut out = Vec::new();
    if changed {
        out.push(corrected.join(" "));
    }
    if !req.filters.is_empty() {
        out.push(format!("{} (without filters)", req.q));
    }
    Ok(out)
}

/// Edit distance between two words (characters, not bytes).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_characters() {
        assert_eq!(levenshtein("kubernets", "kubernetes"), 1);
        assert_eq!(levenshtein("сервис", "сервиc"), 1);
        assert_eq!(levenshtein("", "abc"), 3);
    }
}
