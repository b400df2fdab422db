//! The search index: derived state, rebuilt from the store at any time. Two halves:
//! - full text in tantivy (in memory), one tantivy document per chunk with the document's title
//!   and the chunk's heading path as boosted fields; words are lower-cased and stemmed by the
//!   English and then the Russian Snowball stemmer (each leaves the other's script alone), so
//!   "deployments" finds "deploy" and "развёртывания" finds "развёртывание";
//! - vectors in a flat int8-quantised table scanned exactly (a dot product per chunk), which at
//!   100 k chunks × 256 dimensions is 25 MB and a few milliseconds.
//!
//! Both are keyed by chunk id and carry the document's metadata for filtering. Visibility is
//! enforced here by source id on every query, so no caller can forget it. Updates are applied per
//! document (all of a document's chunks are replaced), which makes applying the store's index log
//! idempotent.

use super::index_types::{DocMeta, IndexedChunk};
use super::words::CodeTokenizer;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{Language, LowerCaser, RemoveLongFilter, Stemmer, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

const ANALYZER: &str = "bp_en_ru";
/// Words as written (lower-cased, not stemmed): an exact match outranks a stem match.
const EXACT: &str = "bp_exact";
/// Distinct words a query keeps: a pasted stack trace keeps its rarest words, not its first.
const MAX_QUERY_TERMS: usize = 48;
/// Field weights: the title and the heading path say what a chunk is about; the unstemmed
/// copy of the words adds to a match that is exact.
const TITLE_BOOST: f32 = 1.5;
const HEADING_BOOST: f32 = 1.2;
const EXACT_BOOST: f32 = 0.6;
const WHOLE_IDENTIFIER_BOOST: f32 = 2.0;
/// Memory the tantivy writer may buffer before it flushes a segment.
const WRITER_MEMORY: usize = 50_000_000;

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    doc_id: Field,
    source_id: Field,
    title: Field,
    heading: Field,
    body: Field,
    /// Title, heading path and text again, unstemmed.
    exact: Field,
}

/// One hit of one retriever: a chunk and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkHit {
    /// Chunk id.
    pub chunk_id: i64,
    /// Document id.
    pub doc_id: i64,
    /// BM25 score or cosine similarity.
    pub score: f32,
}

/// The flat vector table.
#[derive(Default)]
struct Vectors {
    dim: usize,
    /// `dim` int8 values per slot.
    data: Vec<i8>,
    /// Per slot: the scale that turns the int8 values back into the unit vector.
    scale: Vec<f32>,
    chunk: Vec<i64>,
    doc: Vec<i64>,
    source: Vec<i64>,
    slot_of: HashMap<i64, usize>,
}

impl Vectors {
    fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
        let max = v.iter().fold(0.0_f32, |m, x| m.max(x.abs()));
        if max <= 0.0 {
            return (vec![0; v.len()], 0.0);
        }
        let q = v.iter().map(|x| (x / max * 127.0).round().clamp(-127.0, 127.0) as i8).collect();
        (q, max / 127.0)
    }

    fn insert(&mut self, chunk: i64, doc: i64, source: i64, v: &[f32]) {
        if self.dim == 0 {
            self.dim = v.len();
        }
        if v.len() != self.dim || v.is_empty() {
            return;
        }
        self.remove(chunk);
        let (q, s) = Self::quantise(v);
        self.slot_of.insert(chunk, self.chunk.len());
        self.data.extend_from_slice(&q);
        self.scale.push(s);
        self.chunk.push(chunk);
        self.doc.push(doc);
        self.source.push(source);
    }

    fn remove(&mut self, chunk: i64) {
        let Some(slot) = self.slot_of.remove(&chunk) else { return };
        let last = self.chunk.len() - 1;
        if slot != last {
            let d = self.dim;
            let (head, tail) = self.data.split_at_mut(last * d);
            head[slot * d..slot * d + d].copy_from_slice(&tail[..d]);
            self.scale[slot] = self.scale[last];
            self.chunk[slot] = self.chunk[last];
            self.doc[slot] = self.doc[last];
            self.source[slot] = self.source[last];
            self.slot_of.insert(self.chunk[slot], slot);
        }
        self.data.truncate(last * self.dim);
        self.scale.truncate(last);
        self.chunk.truncate(last);
        self.doc.truncate(last);
        self.source.truncate(last);
    }

    /// The `k` most similar chunks among allowed sources whose document passes `keep`.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        min_similarity: f32,
        allowed: &HashSet<i64>,
        keep: &dyn Fn(i64) -> bool,
    ) -> Vec<ChunkHit> {
        if self.dim == 0 || query.len() != self.dim || k == 0 {
            return Vec::new();
        }
        let (q, qs) = Self::quantise(query);
        let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(OrdF32, usize)>> =
            std::collections::BinaryHeap::with_capacity(k + 1);
        for (slot, row) in self.data.chunks_exact(self.dim).enumerate() {
            if !allowed.contains(&self.source[slot]) {
                continue;
            }
            let dot: i32 = row.iter().zip(&q).map(|(a, b)| i32::from(*a) * i32::from(*b)).sum();
            let sim = dot as f32 * self.scale[slot] * qs;
            if sim < min_similarity {
                continue;
            }
            if heap.len() == k
                && heap.peek().is_some_and(|std::cmp::Reverse((OrdF32(worst), _))| sim <= *worst)
            {
                continue;
            }
            if !keep(self.doc[slot]) {
                continue;
            }
            heap.push(std::cmp::Reverse((OrdF32(sim), slot)));
            if heap.len() > k {
                heap.pop();
            }
        }
        let mut hits: Vec<ChunkHit> = heap
            .into_iter()
            .map(|std::cmp::Reverse((OrdF32(score), slot))| ChunkHit {
                chunk_id: self.chunk[slot],
                doc_id: self.doc[slot],
                score,
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.chunk_id.cmp(&b.chunk_id)));
        hits
    }

    /// The stored (dequantised) vector of a chunk.
    fn get(&self, chunk: i64) -> Option<Vec<f32>> {
        let slot = *self.slot_of.get(&chunk)?;
        let s = self.scale[slot];
        Some(
            self.data[slot * self.dim..(slot + 1) * self.dim]
                .iter()
                .map(|x| *x as f32 * s)
                .collect(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF32(f32);
impl Eq for OrdF32 {}
impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF32 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// What the index holds about documents.
#[derive(Default)]
struct Catalog {
    docs: HashMap<i64, Arc<DocMeta>>,
    chunks_of: HashMap<i64, Vec<i64>>,
}

/// The in-memory search index of this instance.
pub struct SearchIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    vectors: RwLock<Vectors>,
    catalog: RwLock<Catalog>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(CodeTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .filter(Stemmer::new(Language::Russian))
        .build()
}

fn exact_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(CodeTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .build()
}

/// The words of `text` through `analyzer`: (word, position, number of parts it spans).
fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize, usize)> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(t) = stream.next() {
        out.push((t.text.clone(), t.position, t.position_length));
    }
    out
}

impl SearchIndex {
    /// An empty index.
    pub fn new() -> anyhow::Result<Self> {
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let exact = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(EXACT)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            chunk_id: builder.add_i64_field("chunk_id", INDEXED | FAST | STORED),
            doc_id: builder.add_i64_field("doc_id", INDEXED | FAST),
            source_id: builder.add_i64_field("source_id", INDEXED | FAST),
            title: builder.add_text_field("title", text.clone()),
            heading: builder.add_text_field("heading", text.clone()),
            body: builder.add_text_field("body", text),
            exact: builder.add_text_field("exact", exact),
        };
        let index = Index::create_in_ram(builder.build());
        index.tokenizers().register(ANALYZER, analyzer());
        index.tokenizers().register(EXACT, exact_analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Self {
            reader,
            writer: Mutex::new(writer),
            fields,
            vectors: RwLock::new(Vectors::default()),
            catalog: RwLock::new(Catalog::default()),
        })
    }

    /// Replaces documents (all their chunks) and removes others, then commits once. Blocking:
    /// call from `spawn_blocking`.
    pub fn apply(
        &self,
        upserts: Vec<(DocMeta, Vec<IndexedChunk>)>,
        removals: &[i64],
    ) -> anyhow::Result<()> {
        let f = self.fields;
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut vectors = self.vectors.write().unwrap_or_else(PoisonError::into_inner);
        let mut catalog = self.catalog.write().unwrap_or_else(PoisonError::into_inner);
        let upsert_ids: Vec<i64> = upserts.iter().map(|(d, _)| d.id).collect();
        for id in removals.iter().chain(&upsert_ids) {
            writer.delete_term(Term::from_field_i64(f.doc_id, *id));
            if let Some(old) = catalog.chunks_of.remove(id) {
                for c in old {
                    vectors.remove(c);
                }
            }
            catalog.docs.remove(id);
        }
        for (meta, chunks) in upserts {
            let mut ids = Vec::with_capacity(chunks.len());
            for c in chunks {
                let mut doc = TantivyDocument::default();
                doc.add_i64(f.chunk_id, c.id);
                doc.add_i64(f.doc_id, meta.id);
                doc.add_i64(f.source_id, meta.source_id);
                doc.add_text(f.title, &meta.title);
                doc.add_text(f.heading, &c.heading);
                doc.add_text(f.body, &c.text);
                doc.add_text(f.exact, &meta.title);
                doc.add_text(f.exact, &c.heading);
                doc.add_text(f.exact, &c.text);
                writer.add_document(doc)?;
                if let Some(v) = &c.vector {
                    vectors.insert(c.id, meta.id, meta.source_id, v);
                }
                ids.push(c.id);
            }
            catalog.chunks_of.insert(meta.id, ids);
            catalog.docs.insert(meta.id, Arc::new(meta));
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// Empties the index.
    pub fn clear(&self) -> anyhow::Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.delete_all_documents()?;
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        *self.vectors.write().unwrap_or_else(PoisonError::into_inner) = Vectors::default();
        *self.catalog.write().unwrap_or_else(PoisonError::into_inner) = Catalog::default();
        Ok(())
    }

    /// A document's metadata.
    pub fn doc(&self, id: i64) -> Option<Arc<DocMeta>> {
        self.catalog.read().unwrap_or_else(PoisonError::into_inner).docs.get(&id).cloned()
    }

    /// Chunk ids of a document, in order.
    pub fn chunks_of(&self, id: i64) -> Vec<i64> {
        self.catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .chunks_of
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    /// The stored vector of a chunk.
    pub fn vector_of(&self, chunk: i64) -> Option<Vec<f32>> {
        self.vectors.read().unwrap_or_else(PoisonError::into_inner).get(chunk)
    }

    /// Counts: documents, chunks, vectors, dimensions, vector bytes, text index bytes.
    pub fn sizes(&self) -> (i64, i64, i64, i64, i64, i64) {
        let catalog = self.catalog.read().unwrap_or_else(PoisonError::into_inner);
        let vectors = self.vectors.read().unwrap_or_else(PoisonError::into_inner);
        let docs = catalog.docs.len() as i64;
        let chunks = catalog.chunks_of.values().map(Vec::len).sum::<usize>() as i64;
        let n = vectors.chunk.len() as i64;
        let vbytes =
            (vectors.data.len() + vectors.scale.len() * 4 + vectors.chunk.len() * 24) as i64;
        let text_bytes =
            self.reader.searcher().space_usage().map(|u| u.total().get_bytes() as i64).unwrap_or(0);
        (docs, chunks, n, vectors.dim as i64, vbytes, text_bytes)
    }

    /// The keyword query for `q`, or None when it has no searchable words. The text is text:
    /// nothing in it is an operator (`-1`, `[-x, x]`, `NOT FOUND` and `a:b` are words), except
    /// double quotes around a phrase. Every word counts in the title, the heading path, the
    /// stemmed text and the exact text; a long paste keeps its rarest words.
    pub fn parse(&self, q: &str) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let mut stemmed = analyzer();
        let mut exact = exact_analyzer();
        let searcher = self.reader.searcher();
        // Quoted stretches are phrases; the rest, and the phrases' words too, are loose words.
        let phrases: Vec<&str> =
            q.split('"').skip(1).step_by(2).filter(|p| !p.trim().is_empty()).collect();
        // (stem, word as written, whole identifier of several parts)
        let mut words: Vec<(String, String, bool)> = Vec::new();
        for (word, _, span) in analyze(&mut exact, q) {
            if !words.iter().any(|(_, w, _)| *w == word) {
                let stem = analyze(&mut stemmed, &word).into_iter().next().map(|t| t.0);
                words.push((stem.unwrap_or_else(|| word.clone()), word, span > 1));
            }
        }
        if words.is_empty() {
            return None;
        }
        if words.len() > MAX_QUERY_TERMS {
            // Rarest first by document frequency in the exact field; ties keep their order.
            let df = |w: &str| searcher.doc_freq(&Term::from_field_text(f.exact, w)).unwrap_or(0);
            let mut ranked: Vec<(u64, usize)> =
                words.iter().enumerate().map(|(i, (_, w, _))| (df(w), i)).collect();
            ranked.sort();
            let mut keep: Vec<usize> =
                ranked.into_iter().take(MAX_QUERY_TERMS).map(|(_, i)| i).collect();
            keep.sort_unstable();
            words = keep.into_iter().map(|i| words[i].clone()).collect();
        }
        let term = |field: Field, text: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            let q = TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::WithFreqsAndPositions,
            );
            let q: Box<dyn Query> = if (boost - 1.0).abs() < f32::EPSILON {
                Box::new(q)
            } else {
                Box::new(BoostQuery::new(Box::new(q), boost))
            };
            (Occur::Should, q)
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (stem, word, whole) in &words {
            // A whole identifier is as specific as a phrase of its parts: it counts double.
            let b = if *whole { WHOLE_IDENTIFIER_BOOST } else { 1.0 };
            clauses.push(term(f.title, stem, TITLE_BOOST * b));
            clauses.push(term(f.heading, stem, HEADING_BOOST * b));
            clauses.push(term(f.body, stem, b));
            clauses.push(term(f.exact, word, EXACT_BOOST * b));
        }
        for phrase in phrases {
            // The parts of each word, at their positions; whole identifiers sit on their parts.
            let terms: Vec<(usize, Term)> = analyze(&mut stemmed, phrase)
                .into_iter()
                .filter(|(_, _, span)| *span == 1)
                .map(|(w, pos, _)| (pos, Term::from_field_text(f.body, &w)))
                .collect();
            if terms.len() > 1 {
                let boosted = BoostQuery::new(Box::new(PhraseQuery::new_with_offset(terms)), 2.0);
                clauses.push((Occur::Should, Box::new(boosted)));
            }
        }
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// The share of the query's distinct words (0–1) that occur anywhere in the collection,
    /// as written. English words asked of Russian pages are mostly unknown: there, the keyword
    /// list is a handful of stray matches and hybrid ranking leans on the vectors.
    pub fn coverage(&self, q: &str) -> f64 {
        let searcher = self.reader.searcher();
        let mut exact = exact_analyzer();
        let mut seen = HashSet::new();
        let (mut known, mut all) = (0_u32, 0_u32);
        for (word, _, span) in analyze(&mut exact, q) {
            // Parts only: a whole identifier is often new where its parts are not.
            if span > 1 || !seen.insert(word.clone()) || seen.len() > 4 * MAX_QUERY_TERMS {
                continue;
            }
            all += 1;
            let term = Term::from_field_text(self.fields.exact, &word);
            if searcher.doc_freq(&term).unwrap_or(0) > 0 {
                known += 1;
            }
        }
        if all == 0 { 0.0 } else { f64::from(known) / f64::from(all) }
    }

    /// BM25 over chunks of allowed sources whose document passes `keep`, best first.
    pub fn keyword(
        &self,
        query: &dyn Query,
        k: usize,
        allowed: &HashSet<i64>,
        keep: &dyn Fn(i64) -> bool,
    ) -> anyhow::Result<Vec<ChunkHit>> {
        if allowed.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let terms = allowed.iter().map(|s| Term::from_field_i64(f.source_id, *s));
        let scoped = BooleanQuery::new(vec![
            (Occur::Must, query.box_clone()),
            (Occur::Must, Box::new(TermSetQuery::new(terms)) as Box<dyn Query>),
        ]);
        let searcher = self.reader.searcher();
        // Fetch extra so post-filtering by metadata still leaves k.
        let top = searcher.search(&scoped, &TopDocs::with_limit(k * 2))?;
        let mut hits = Vec::with_capacity(top.len());
        let mut columns = HashMap::new();
        for (score, addr) in top {
            let (chunk_col, doc_col) = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let fast = searcher.segment_reader(addr.segment_ord).fast_fields();
                    e.insert((fast.i64("chunk_id")?, fast.i64("doc_id")?))
                }
            };
            let chunk = chunk_col.first(addr.doc_id);
            let doc = doc_col.first(addr.doc_id);
            if let (Some(chunk_id), Some(doc_id)) = (chunk, doc)
                && keep(doc_id)
            {
                hits.push(ChunkHit { chunk_id, doc_id, score });
                if hits.len() == k {
                    break;
                }
            }
        }
        Ok(hits)
    }

    /// Exact vector search over allowed sources.
    pub fn vector(
        &self,
        query: &[f32],
        k: usize,
        min_similarity: f32,
        allowed: &HashSet<i64>,
        keep: &dyn Fn(i64) -> bool,
    ) -> Vec<ChunkHit> {
        self.vectors.read().unwrap_or_else(PoisonError::into_inner).search(
            query,
            k,
            min_similarity,
            allowed,
            keep,
        )
    }

    /// A snippet of `text` around the words of `query`: (fragment, highlighted byte ranges).
    pub fn snippet(
        &self,
        query: &dyn Query,
        text: &str,
        max_chars: usize,
    ) -> Option<(String, Vec<std::ops::Range<usize>>)> {
        let searcher = self.reader.searcher();
        let mut generator = SnippetGenerator::create(&searcher, query, self.fields.body).ok()?;
        generator.set_max_num_chars(max_chars);
        let snippet = generator.snippet(text);
        if snippet.fragment().is_empty() {
            return None;
        }
        Some((snippet.fragment().to_string(), snippet.highlighted().to_vec()))
    }

    /// Chunks of allowed sources holding a word within one or two edits of `word` (for "did you
    /// mean"): the caller looks for the closest word in their text.
    pub fn fuzzy_chunks(&self, word: &str, allowed: &HashSet<i64>, k: usize) -> Vec<i64> {
        let lower = word.to_lowercase();
        let distance = if lower.chars().count() >= 8 { 2 } else { 1 };
        let terms = allowed.iter().map(|s| Term::from_field_i64(self.fields.source_id, *s));
        let q = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(FuzzyTermQuery::new(
                    Term::from_field_text(self.fields.body, &lower),
                    distance,
                    true,
                )) as Box<dyn Query>,
            ),
            (Occur::Must, Box::new(TermSetQuery::new(terms))),
        ]);
        let searcher = self.reader.searcher();
        let Ok(top) = searcher.search(&q, &TopDocs::with_limit(k)) else { return Vec::new() };
        top.into_iter()
            .filter_map(|(_, addr)| {
                let seg = searcher.segment_reader(addr.segment_ord);
                seg.fast_fields().i64("chunk_id").ok()?.first(addr.doc_id)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn meta(id: i64, source: i64, title: &str) -> DocMeta {
        DocMeta {
            id,
            source_id: source,
            title: title.into(),
            url: format!("https://x/{id}"),
            author: None,
            doc_type: "page".into(),
            language: Some("en".into()),
            labels: vec![],
            updated_at: Utc::now(),
        }
    }

    fn chunk(id: i64, text: &str, v: Option<Vec<f32>>) -> IndexedChunk {
        IndexedChunk { id, heading: String::new(), text: text.into(), vector: v }
    }

    #[test]
    fn stems_english_and_russian_and_scopes_by_source() {
        let idx = SearchIndex::new().unwrap();
        idx.apply(
            vec![
                (
                    meta(1, 10, "Deploying services"),
                    vec![chunk(11, "We deploy with blue-green deployments.", None)],
                ),
                (
                    meta(2, 20, "Развёртывание"),
                    vec![chunk(21, "Развёртывание сервисов выполняется ночью.", None)],
                ),
            ],
            &[],
        )
        .unwrap();
        let all: HashSet<i64> = [10, 20].into();
        let q = idx.parse("deployment").unwrap();
        let hits = idx.keyword(&*q, 10, &all, &|_| true).unwrap();
        assert_eq!(hits.iter().map(|h| h.doc_id).collect::<Vec<_>>(), vec![1]);
        let q = idx.parse("сервис").unwrap();
        let hits = idx.keyword(&*q, 10, &all, &|_| true).unwrap();
        assert_eq!(hits.iter().map(|h| h.doc_id).collect::<Vec<_>>(), vec![2]);
        let only10: HashSet<i64> = [10].into();
        assert!(idx.keyword(&*q, 10, &only10, &|_| true).unwrap().is_empty());
        let (frag, hl) =
            idx.snippet(&*q, "Развёртывание сервисов выполняется ночью.", 100).unwrap();
        assert_eq!(&frag[hl[0].clone()], "сервисов");
    }

    fn ranked(idx: &SearchIndex, q: &str) -> Vec<i64> {
        let all: HashSet<i64> = [1].into();
        let q = idx.parse(q).unwrap();
        idx.keyword(&*q, 10, &all, &|_| true).unwrap().iter().map(|h| h.doc_id).collect()
    }

    #[test]
    fn pasted_text_is_text_not_query_syntax() {
        let idx = SearchIndex::new().unwrap();
        idx.apply(
            vec![
                (
                    meta(1, 1, "clamp"),
                    vec![chunk(1, "clamp(x) returns -1 for x in [-x, x] NOT FOUND", None)],
                ),
                (meta(2, 1, "other"), vec![chunk(2, "x values and found items", None)]),
            ],
            &[],
        )
        .unwrap();
        // `-1`, `[-x, x]`, `NOT` and `title:` are words here; none excludes the page.
        assert_eq!(ranked(&idx, "clamp -1 [-x, x]")[0], 1);
        assert_eq!(ranked(&idx, "NOT FOUND clamp")[0], 1);
        assert_eq!(ranked(&idx, "title:clamp AND (x OR y)")[0], 1);
        assert!(idx.parse("-- [] ()").is_none());
    }

    #[test]
    fn an_identifier_finds_itself_before_pages_using_its_parts() {
        let idx = SearchIndex::new().unwrap();
        idx.apply(
            vec![
                (meta(1, 1, "Variables"), vec![chunk(1, "An unknown variable is a common error; every variable is unknown at first.", None)]),
                (meta(2, 1, "Lints"), vec![chunk(2, "The lint unknown_variable fires on typos.", None)]),
                (meta(3, 1, "HTTP"), vec![chunk(3, "HttpServerError is returned when the server fails.", None)]),
                (meta(4, 1, "Scopes"), vec![chunk(4, "A variable declared in a block is unknown outside it.", None)]),
                (meta(5, 1, "Shadowing"), vec![chunk(5, "A variable may shadow another variable.", None)]),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(ranked(&idx, "unknown_variable")[0], 2);
        assert_eq!(ranked(&idx, "HttpServerError")[0], 3);
        // The parts still find the whole word.
        assert!(ranked(&idx, "server error").contains(&3));
        // A quoted phrase is a phrase.
        assert_eq!(ranked(&idx, "\"server fails\""), vec![3]);
    }

    #[test]
    fn a_long_paste_keeps_its_rarest_words() {
        let idx = SearchIndex::new().unwrap();
        let filler = (0..200).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
        idx.apply(
            vec![
                (meta(1, 1, "common"), vec![chunk(1, &filler, None)]),
                (
                    meta(2, 1, "panic"),
                    vec![chunk(
                        2,
                        &format!("{filler} thread main panicked at zorblax_overflow"),
                        None,
                    )],
                ),
            ],
            &[],
        )
        .unwrap();
        // Taken in order, the first 48 words are filler both pages share, and the first page
        // (shorter, so higher BM25) would win.
        let paste = format!("{filler} thread 'main' panicked at zorblax_overflow");
        assert_eq!(ranked(&idx, &paste)[0], 2);
    }

    #[test]
    fn replacing_a_document_replaces_its_chunks_and_vectors() {
        let idx = SearchIndex::new().unwrap();
        let v = |x: f32| Some(vec![x, 1.0 - x, 0.0]);
        idx.apply(
            vec![(meta(1, 1, "a"), vec![chunk(1, "alpha", v(1.0)), chunk(2, "beta", v(0.0))])],
            &[],
        )
        .unwrap();
        idx.apply(vec![(meta(2, 1, "b"), vec![chunk(3, "gamma", v(0.5))])], &[]).unwrap();
        idx.apply(vec![(meta(1, 1, "a"), vec![chunk(4, "delta", v(1.0))])], &[]).unwrap();
        let all: HashSet<i64> = [1].into();
        let hits = idx.vector(&[1.0, 0.0, 0.0], 10, -1.0, &all, &|_| true);
        assert_eq!(hits.iter().map(|h| h.chunk_id).collect::<Vec<_>>(), vec![4, 3]);
        assert!(idx.keyword(&*idx.parse("alpha").unwrap(), 5, &all, &|_| true).unwrap().is_empty());
        idx.apply(vec![], &[1]).unwrap();
        assert_eq!(idx.sizes().0, 1);
        let hits = idx.vector(&[1.0, 0.0, 0.0], 10, -1.0, &all, &|_| true);
        assert_eq!(hits.iter().map(|h| h.chunk_id).collect::<Vec<_>>(), vec![3]);
    }
}
