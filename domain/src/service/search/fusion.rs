//! Hybrid ranking: the keyword and the vector lists fused by their scores, each weighted by how
//! much it can be trusted for this query.
//!
//! Reciprocal rank fusion with equal weights let a document that was middling in both lists beat
//! the keyword list's clear first whenever the vector list was weak (on real Russian pages, hybrid
//! lost the keyword list's first place on 328 queries and gained it on 16). Here:
//! - each list is cut to documents (a document's best chunk), over a deep pool;
//! - keyword scores become shares of the best BM25 score, so a clear first stays clear;
//! - vector scores become how far a document stands above the crowd: the cosine at
//!   [`VECTOR_BASE_RANK`] is zero and the best is one, which also takes the edge off hub pages
//!   that are near every query;
//! - the keyword list counts as much as the query's words are known to the collection
//!   (`coverage`: English words over Russian pages are mostly unknown, so there the vector list
//!   decides), and the vector list as much as its best stands out ([`VECTOR_FULL_GAP`]).

use crate::knowledge::index::ChunkHit;
use std::collections::HashMap;

/// The vector list's rank whose cosine counts as "the crowd".
pub const VECTOR_BASE_RANK: usize = 30;
/// A best cosine this far above the crowd's gives the vector list its full weight.
pub const VECTOR_FULL_GAP: f64 = 0.12;

/// One document after fusion.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    /// Document id.
    pub doc: i64,
    /// The chunk shown: the keyword list's best where it has one (its words are highlighted).
    pub chunk: i64,
    /// The fused score.
    pub score: f64,
    /// 1-based rank in the keyword list's documents.
    pub keyword_rank: Option<i64>,
    /// 1-based rank in the vector list's documents.
    pub vector_rank: Option<i64>,
}

/// Each document once, at its best chunk: (document, chunk, score), best first. The lists come
/// best first, so a document's first chunk is its best.
fn documents(hits: &[ChunkHit]) -> Vec<(i64, i64, f64)> {
    let mut seen = std::collections::HashSet::new();
    hits.iter()
        .filter(|h| seen.insert(h.doc_id))
        .map(|h| (h.doc_id, h.chunk_id, f64::from(h.score)))
        .collect()
}

/// Fuses the two lists. `coverage` is the share of the query's words the collection knows
/// (0–1); the weights are the settings' `keyword_weight` and `vector_weight`.
pub fn fuse(
    keyword: &[ChunkHit],
    vector: &[ChunkHit],
    coverage: f64,
    keyword_weight: f64,
    vector_weight: f64,
) -> Vec<Fused> {
    let kw = documents(keyword);
    let vec = documents(vector);
    let mut out: HashMap<i64, Fused> = HashMap::new();
    if let Some(&(_, _, top)) = kw.first()
        && top > 0.0
    {
        let weight = keyword_weight * coverage.clamp(0.0, 1.0);
        for (i, &(doc, chunk, score)) in kw.iter().enumerate() {
            out.insert(
                doc,
                Fused {
                    doc,
                    chunk,
                    score: weight * score / top,
                    keyword_rank: Some(i as i64 + 1),
                    vector_rank: None,
                },
            );
        }
    }
    if let Some(&(_, _, top)) = vec.first() {
        let base = vec.get(VECTOR_BASE_RANK.min(vec.len().saturating_sub(1))).map_or(top, |v| v.2);
        let gap = top - base;
        let confidence = if vec.len() == 1 { 1.0 } else { (gap / VECTOR_FULL_GAP).min(1.0) };
        let weight = vector_weight * confidence;
        for (i, &(doc, chunk, score)) in vec.iter().enumerate() {
            let share =
                if gap > f64::EPSILON { ((score - base) / gap).clamp(0.0, 1.0) } else { 1.0 };
            let e = out.entry(doc).or_insert(Fused {
                doc,
                chunk,
                score: 0.0,
                keyword_rank: None,
                vector_rank: None,
            });
            e.score += weight * share;
            e.vector_rank = Some(i as i64 + 1);
        }
    }
    let mut ranked: Vec<Fused> = out.into_values().collect();
    // Ties (a document only deep in both lists scores 0) keep the lists' order: keyword rank,
    // then vector rank, then id.
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(rank_key(a.keyword_rank).cmp(&rank_key(b.keyword_rank)))
            .then(rank_key(a.vector_rank).cmp(&rank_key(b.vector_rank)))
            .then(a.doc.cmp(&b.doc))
    });
    ranked
}

fn rank_key(rank: Option<i64>) -> i64 {
    rank.unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(list: &[(i64, f32)]) -> Vec<ChunkHit> {
        list.iter()
            .map(|&(doc, score)| ChunkHit { chunk_id: doc * 10, doc_id: doc, score })
            .collect()
    }

    fn order(f: &[Fused]) -> Vec<i64> {
        f.iter().map(|x| x.doc).collect()
    }

    #[test]
    fn a_clear_keyword_first_survives_a_weak_vector_list() {
        // Keyword: 1 far ahead. Vector: flat, 2 and 3 barely above the crowd.
        let kw = hits(&[(1, 20.0), (2, 6.0), (3, 5.5)]);
        let mut v: Vec<(i64, f32)> = vec![(2, 0.52), (3, 0.515)];
        v.extend((10..50).map(|d| (d, 0.51)));
        let fused = fuse(&kw, &hits(&v), 1.0, 1.0, 1.0);
        assert_eq!(fused[0].doc, 1);
    }

    #[test]
    fn unknown_words_hand_the_ranking_to_the_vector_list() {
        // An English query over Russian pages: the keyword list matched a stray word.
        let kw = hits(&[(7, 3.0)]);
        let mut v: Vec<(i64, f32)> = vec![(5, 0.80), (6, 0.70)];
        v.extend((10..50).map(|d| (d, 0.50)));
        let fused = fuse(&kw, &hits(&v), 0.1, 1.0, 1.0);
        assert_eq!(order(&fused)[..2], [5, 6]);
        assert_eq!(fused[0].vector_rank, Some(1));
    }

    #[test]
    fn agreement_wins_and_the_keyword_chunk_is_shown() {
        let kw = hits(&[(1, 10.0), (2, 9.5)]);
        let mut v: Vec<(i64, f32)> = vec![(2, 0.9), (1, 0.6)];
        v.extend((10..50).map(|d| (d, 0.5)));
        let fused = fuse(&kw, &hits(&v), 1.0, 1.0, 1.0);
        assert_eq!(order(&fused)[..2], [2, 1]);
        assert_eq!(fused[0].chunk, 20);
        assert_eq!((fused[0].keyword_rank, fused[0].vector_rank), (Some(2), Some(1)));
    }

    #[test]
    fn one_list_alone_keeps_its_order() {
        let kw = hits(&[(3, 4.0), (1, 3.0), (2, 3.0)]);
        assert_eq!(order(&fuse(&kw, &[], 1.0, 1.0, 1.0)), [3, 1, 2]);
        let v = hits(&[(3, 0.9), (1, 0.8), (2, 0.7)]);
        assert_eq!(order(&fuse(&[], &v, 0.0, 1.0, 1.0)), [3, 1, 2]);
        assert!(fuse(&[], &[], 1.0, 1.0, 1.0).is_empty());
        // No known word: the keyword list only orders the tail.
        assert_eq!(order(&fuse(&kw, &[], 0.0, 1.0, 1.0)), [3, 1, 2]);
    }
}
