//! Search over the team's knowledge: hybrid retrieval (BM25 over chunks and exact vector search,
//! fused by weighted reciprocal rank per document, with an optional recency boost), filters with
//! counts, highlighted snippets, more-like-this, "did you mean" for empty results, per-user
//! history, click tracking and the admins' analytics. A user only ever sees documents of sources
//! visible to them: the allowed source ids go into every index query and into every cache key.

use crate::auth::Principal;
use crate::cache::CacheKey;
use crate::errors::internal;
use crate::knowledge::Knowledge;
use crate::knowledge::index::ChunkHit;
use crate::knowledge::index_types::DocMeta;
use crate::state::AppState;
use crate::store::NewSearchQuery;
use chrono::{Duration as ChronoDuration, Utc};
use model::error::AppError;
use model::{
    FacetValue, Facets, SearchAnalytics, SearchFilters, SearchHistoryEntry, SearchHit, SearchMode,
    SearchRequest, SearchResponse, SnippetPart, SourceFreshness, SourceKind,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

mod analytics;
pub mod fusion;
mod suggest;

pub use analytics::analytics;
use suggest::suggestions;

/// Longest query accepted, in characters: a pasted error message or stack trace fits.
pub const MAX_QUERY_CHARS: usize = 10_000;
/// Results a query can page through.
pub const MAX_RESULTS: i64 = 200;
const SNIPPET_CHARS: usize = 240;

/// Runs a search for `user`.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn search(
    state: &AppState,
    user: &Principal,
    req: SearchRequest,
) -> Result<SearchResponse, AppError> {
    let started = Instant::now();
    let req = normalise(req)?;
    let allowed = allowed_sources(state, user, &req.filters.sources).await?;
    let k = &state.knowledge;
    let model = k.embedder().map(|e| e.model_id().to_string());
    let key = cache_key(&allowed, &req, k.applied_seq(), model.as_deref())?;
    let ttl = k.settings().cache_ttl;
    let (mut resp, cached) = match state.cache.get::<SearchResponse>(&key, ttl).await {
        Some(hit) => (hit, true),
        None => {
            let resp = run(state, &allowed, &req).await?;
            state.cache.put(&key, resp.clone(), ttl).await;
            (resp, false)
        }
    };
    resp.cached = cached;
    resp.took_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !req.q.trim().is_empty() {
        let id = state
            .store
            .insert_search_query(&NewSearchQuery {
                user_id: user.user_id,
                query: req.q.trim().to_string(),
                filters: serde_json::to_string(&req.filters).unwrap_or_default(),
                results: resp.total,
                latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
                cached,
                at: Utc::now(),
            })
            .await?;
        resp.query_id = Some(id);
    }
    metrics::histogram!("search_latency_seconds", "cached" => if cached { "true" } else { "false" })
        .record(started.elapsed().as_secs_f64());
    Ok(resp)
}

/// Hybrid retrieval for text grounded on the team's knowledge (the RFC studio): the user's
/// visibility narrowed to `wanted` (empty: every source they may see), nothing recorded in their
/// search history, not cached (the caller keeps what it found).
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn retrieve(
    state: &AppState,
    user: &Principal,
    q: &str,
    wanted: &[i64],
    limit: i64,
) -> Result<Vec<SearchHit>, AppError> {
    let allowed = allowed_sources(state, user, wanted).await?;
    if allowed.is_empty() {
        return Ok(Vec::new());
    }
    let q: String = q.chars().take(MAX_QUERY_CHARS).collect();
    let req = normalise(SearchRequest { q, limit: Some(limit), ..SearchRequest::default() })?;
    Ok(run(state, &allowed, &req).await?.hits)
}

/// Documents like one the user can see: its meaning (mean of its chunk vectors) and its title's
/// words, fused; the document itself is left out.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, document.id = document_id))]
pub async fn more_like_this(
    state: &AppState,
    user: &Principal,
    document_id: i64,
    limit: i64,
) -> Result<SearchResponse, AppError> {
    let started = Instant::now();
    let limit = limit.clamp(1, 50);
    let allowed = allowed_sources(state, user, &[]).await?;
    let k = &state.knowledge;
    let index = k.index();
    let Some(meta) = index.doc(document_id).filter(|m| allowed.contains(&m.source_id)) else {
        return Err(AppError::not_found("document"));
    };
    let keep = |d: i64| d != document_id;
    let cand = k.settings().candidates;
    let vectors: Vec<Vec<f32>> =
        index.chunks_of(document_id).iter().filter_map(|c| index.vector_of(*c)).collect();
    let vector_hits = if vectors.is_empty() {
        Vec::new()
    } else {
        let dim = vectors[0].len();
        let mut mean = vec![0.0_f32; dim];
        for v in &vectors {
            mean.iter_mut().zip(v).for_each(|(m, x)| *m += x);
        }
        let mean = crate::knowledge::embedder::normalise(mean);
        index.vector(&mean, cand, k.settings().min_similarity, &allowed, &keep)
    };
    let query = index.parse(&meta.title);
    let keyword_hits = match &query {
        Some(q) => index.keyword(&**q, cand, &allowed, &keep).map_err(internal)?,
        None => Vec::new(),
    };
    let req = SearchRequest {
        q: format!("like: {}", meta.title),
        limit: Some(limit),
        offset: Some(0),
        ..SearchRequest::default()
    };
    let mut resp = assemble(
        state,
        &req,
        SearchMode::Hybrid,
        None,
        query.as_deref(),
        keyword_hits,
        vector_hits,
    )
    .await?;
    resp.took_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(resp)
}

/// Records that the user opened result `position` (1-based) of search `query_id`.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, query.id = query_id, document.id = document_id))]
pub async fn record_click(
    state: &AppState,
    user: &Principal,
    query_id: i64,
    position: i64,
    document_id: i64,
) -> Result<(), AppError> {
    if !(1..=MAX_RESULTS).contains(&position) {
        return Err(AppError::invalid(
            "position",
            "range",
            crate::tr!("position must be between 1 and 200"),
        ));
    }
    state
        .store
        .insert_search_click(query_id, user.user_id, position, document_id, Utc::now())
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => AppError::not_found("search"),
            e => e.into(),
        })
}

/// The user's recent distinct searches.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn history(
    state: &AppState,
    user: &Principal,
    limit: i64,
) -> Result<Vec<SearchHistoryEntry>, AppError> {
    Ok(state.store.recent_searches(user.user_id, limit.clamp(1, 100)).await?)
}

/// Rebuilds this instance's index from the database (admins); returns documents indexed.
#[tracing::instrument(skip_all)]
pub async fn rebuild_index(state: &AppState) -> Result<i64, AppError> {
    let n = state.knowledge.rebuild(&state.store).await.map_err(internal)?;
    Ok(n as i64)
}

fn normalise(mut req: SearchRequest) -> Result<SearchRequest, AppError> {
    req.q = req.q.trim().to_string();
    if req.q.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::invalid(
            "q",
            "max_length",
            crate::tr!(
                "the query must be at most %{MAX_QUERY_CHARS} characters",
                MAX_QUERY_CHARS = MAX_QUERY_CHARS
            ),
        ));
    }
    let limit = req.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(AppError::invalid(
            "limit",
            "range",
            crate::tr!("limit must be between 1 and 50"),
        ));
    }
    let offset = req.offset.unwrap_or(0);
    if !(0..MAX_RESULTS).contains(&offset) {
        return Err(AppError::invalid(
            "offset",
            "range",
            crate::tr!("offset must be between 0 and 199"),
        ));
    }
    if let (Some(a), Some(b)) = (req.filters.updated_after, req.filters.updated_before)
        && a >= b
    {
        return Err(AppError::invalid(
            "filters.updated_before",
            "after_start",
            crate::tr!("updated_before must be later than updated_after"),
        ));
    }
    for (field, list) in [
        ("filters.types", &req.filters.types),
        ("filters.authors", &req.filters.authors),
        ("filters.languages", &req.filters.languages),
        ("filters.labels", &req.filters.labels),
    ] {
        if list.len() > 50 {
            return Err(AppError::invalid(field, "max_items", crate::tr!("at most 50 values")));
        }
    }
    req.limit = Some(limit);
    req.offset = Some(offset);
    Ok(req)
}

/// Sources the user may see, narrowed to `wanted` when given.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn allowed_sources(
    state: &AppState,
    user: &Principal,
    wanted: &[i64],
) -> Result<HashSet<i64>, AppError> {
    let visible = state.store.visible_source_ids(user.user_id).await?;
    Ok(visible.into_iter().filter(|s| wanted.is_empty() || wanted.contains(s)).collect())
}

fn cache_key(
    allowed: &HashSet<i64>,
    req: &SearchRequest,
    seq: i64,
    model: Option<&str>,
) -> Result<CacheKey, AppError> {
    use sha2::Digest;
    let mut scope: Vec<i64> = allowed.iter().copied().collect();
    scope.sort_unstable();
    // The response holds a sentence (the notice), so the language is part of the key.
    let lang = crate::i18n::lang().as_str();
    // A switch of the embedding model changes the ranking without a new log position.
    let text = serde_json::to_string(&(scope, req, seq, lang, model)).map_err(internal)?;
    Ok(CacheKey::global("search", hex::encode(sha2::Sha256::digest(text.as_bytes()))))
}

fn passes(meta: &DocMeta, f: &SearchFilters) -> bool {
    (f.types.is_empty() || f.types.contains(&meta.doc_type))
        && (f.authors.is_empty() || meta.author.as_ref().is_some_and(|a| f.authors.contains(a)))
        && (f.languages.is_empty()
            || meta.language.as_ref().is_some_and(|l| f.languages.contains(l)))
        && f.labels.iter().all(|l| meta.labels.contains(l))
        && f.updated_after.is_none_or(|t| meta.updated_at >= t)
        && f.updated_before.is_none_or(|t| meta.updated_at < t)
}

async fn run(
    state: &AppState,
    allowed: &HashSet<i64>,
    req: &SearchRequest,
) -> Result<SearchResponse, AppError> {
    let k: &Knowledge = &state.knowledge;
    let index = k.index();
    let cand = k.settings().candidates;
    let filters = req.filters.clone();
    let keep = |d: i64| index.doc(d).is_some_and(|m| passes(&m, &filters));
    let mut mode = req.mode;
    let mut notice = None;
    let query = index.parse(&req.q);
    let keyword_hits = match (&query, mode) {
        (Some(q), SearchMode::Hybrid | SearchMode::Keyword) => {
            index.keyword(&**q, cand, allowed, &keep).map_err(internal)?
        }
        _ => Vec::new(),
    };
    let mut vector_hits = Vec::new();
    if mode != SearchMode::Keyword && !req.q.is_empty() {
        match k.embedder() {
            None => {
                notice = Some(crate::tr!(
                    "Vector search is off (no embedder configured); results are by keywords."
                ));
                mode = SearchMode::Keyword;
            }
            Some(embedder) => match embedder.embed_query(&req.q).await {
                Ok(qv) => {
                    vector_hits =
                        index.vector(&qv, cand, k.settings().min_similarity, allowed, &keep);
                }
                Err(e) => {
                    let problem = format!("{e:#}");
                    tracing::warn!(error = %problem, "query embedding failed; keyword results only");
                    k.set_embedder_problem(Some(problem));
                    notice = Some(crate::tr!(
                        "Vector search is unavailable right now; results are by keywords."
                    ));
                    mode = SearchMode::Keyword;
                }
            },
        }
    }
    if req.q.is_empty() {
        // No words: nothing to rank. The page shows history and filters instead.
        return assemble(state, req, mode, notice, None, Vec::new(), Vec::new()).await;
    }
    let mut resp =
        assemble(state, req, mode, notice, query.as_deref(), keyword_hits, vector_hits).await?;
    if resp.total == 0 {
        resp.suggestions = suggestions(state, allowed, req).await?;
    }
    Ok(resp)
}

#[allow(clippy::too_many_arguments)]
async fn assemble(
    state: &AppState,
    req: &SearchRequest,
    mode: SearchMode,
    notice: Option<String>,
    query: Option<&dyn tantivy::query::Query>,
    keyword_hits: Vec<ChunkHit>,
    vector_hits: Vec<ChunkHit>,
) -> Result<SearchResponse, AppError> {
    let k = &state.knowledge;
    let s = k.settings();
    let index = k.index();
    struct Fused {
        score: f64,
        chunk: i64,
        kr: Option<i64>,
        vr: Option<i64>,
        meta: Arc<DocMeta>,
    }
    let now = Utc::now();
    let coverage = query.map_or(0.0, |_| index.coverage(&req.q));
    let mut fused: Vec<Fused> =
        fusion::fuse(&keyword_hits, &vector_hits, coverage, s.keyword_weight, k.vector_weight())
            .into_iter()
            .filter_map(|f| {
                Some(Fused {
                    score: f.score,
                    chunk: f.chunk,
                    kr: f.keyword_rank,
                    vr: f.vector_rank,
                    meta: index.doc(f.doc)?,
                })
            })
            .collect();
    if s.recency_half_life_days > 0.0 && s.recency_weight > 0.0 {
        for f in &mut fused {
            let age = (now - f.meta.updated_at).num_seconds().max(0) as f64 / 86_400.0;
            let decay = 0.5_f64.powf(age / s.recency_half_life_days);
            f.score *= 1.0 - s.recency_weight + s.recency_weight * decay;
        }
    }
    let mut ranked = fused;
    if s.recency_half_life_days > 0.0 && s.recency_weight > 0.0 {
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    }
    ranked.truncate(MAX_RESULTS as usize);
    let sources: HashMap<i64, (String, SourceKind)> = state
        .store
        .list_source_names()
        .await?
        .into_iter()
        .map(|(id, name, kind)| (id, (name, SourceKind::parse(&kind).unwrap_or(SourceKind::Files))))
        .collect();
    let facets = facets(&ranked.iter().map(|f| f.meta.clone()).collect::<Vec<_>>(), &sources, now);
    let total = ranked.len() as i64;
    let offset = req.offset.unwrap_or(0);
    let limit = req.limit.unwrap_or(10);
    let page: Vec<Fused> = ranked.into_iter().skip(offset as usize).take(limit as usize).collect();
    let texts: HashMap<i64, (String, String)> = state
        .store
        .chunk_texts(&page.iter().map(|f| f.chunk).collect::<Vec<_>>())
        .await?
        .into_iter()
        .map(|(id, h, t)| (id, (h, t)))
        .collect();
    let hits = page
        .into_iter()
        .map(|f| {
            let (heading, text) = texts.get(&f.chunk).cloned().unwrap_or_default();
            let snippet = snippet(k, query, &text);
            let (source_name, source_kind) =
                sources.get(&f.meta.source_id).cloned().unwrap_or(("?".into(), SourceKind::Files));
            SearchHit {
                document_id: f.meta.id,
                chunk_id: f.chunk,
                title: f.meta.title.clone(),
                url: f.meta.url.clone(),
                source_id: f.meta.source_id,
                source_name,
                source_kind,
                doc_type: f.meta.doc_type.clone(),
                author: f.meta.author.clone(),
                language: f.meta.language.clone(),
                labels: f.meta.labels.clone(),
                updated_at: f.meta.updated_at,
                heading,
                snippet,
                score: f.score,
                keyword_rank: f.kr,
                vector_rank: f.vr,
            }
        })
        .collect();
    Ok(SearchResponse {
        q: req.q.clone(),
        hits,
        total,
        offset,
        limit,
        facets,
        mode,
        notice,
        suggestions: Vec::new(),
        took_ms: 0.0,
        cached: false,
        query_id: None,
    })
}

fn snippet(
    k: &Knowledge,
    query: Option<&dyn tantivy::query::Query>,
    text: &str,
) -> Vec<SnippetPart> {
    if let Some((fragment, ranges)) = query.and_then(|q| k.index().snippet(q, text, SNIPPET_CHARS))
    {
        let mut parts = Vec::new();
        let mut at = 0;
        for r in ranges {
            if r.start < at || r.end > fragment.len() {
                continue;
            }
            if r.start > at {
                parts.push(SnippetPart { text: fragment[at..r.start].to_string(), hit: false });
            }
            parts.push(SnippetPart { text: fragment[r.clone()].to_string(), hit: true });
            at = r.end;
        }
        if at < fragment.len() {
            parts.push(SnippetPart { text: fragment[at..].to_string(), hit: false });
        }
        return parts;
    }
    let mut end = text.len().min(SNIPPET_CHARS);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut t = text[..end].to_string();
    if end < text.len() {
        t.push('…');
    }
    vec![SnippetPart { text: t, hit: false }]
}

fn facets(
    docs: &[Arc<DocMeta>],
    sources: &HashMap<i64, (String, SourceKind)>,
    now: chrono::DateTime<Utc>,
) -> Facets {
    fn top(counts: HashMap<String, (String, i64)>, n: usize) -> Vec<FacetValue> {
        let mut v: Vec<FacetValue> = counts
            .into_iter()
            .map(|(value, (label, count))| FacetValue { value, label, count })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
        v.truncate(n);
        v
    }
    let mut src = HashMap::new();
    let mut types = HashMap::new();
    let mut authors = HashMap::new();
    let mut langs = HashMap::new();
    let mut labels = HashMap::new();
    let mut updated: HashMap<String, (String, i64)> = HashMap::new();
    for d in docs {
        let name = sources.get(&d.source_id).map(|s| s.0.clone()).unwrap_or_default();
        src.entry(d.source_id.to_string()).or_insert((name, 0)).1 += 1;
        types.entry(d.doc_type.clone()).or_insert((d.doc_type.clone(), 0)).1 += 1;
        if let Some(a) = &d.author {
            authors.entry(a.clone()).or_insert((a.clone(), 0)).1 += 1;
        }
        if let Some(l) = &d.language {
            langs.entry(l.clone()).or_insert((l.clone(), 0)).1 += 1;
        }
        for l in &d.labels {
            labels.entry(l.clone()).or_insert((l.clone(), 0)).1 += 1;
        }
        let age = (now - d.updated_at).num_days();
        let (key, label) = match age {
            ..=7 => ("7d", "Past week"),
            8..=30 => ("30d", "Past month"),
            31..=365 => ("365d", "Past year"),
            _ => ("older", "Older"),
        };
        updated.entry(key.into()).or_insert((label.into(), 0)).1 += 1;
    }
    Facets {
        sources: top(src, 50),
        types: top(types, 20),
        authors: top(authors, 20),
        languages: top(langs, 10),
        labels: top(labels, 30),
        updated: top(updated, 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_long_queries_and_bad_pages_naming_the_field() {
        let long = SearchRequest { q: "x".repeat(MAX_QUERY_CHARS + 1), ..SearchRequest::default() };
        assert!(
            matches!(normalise(long), Err(AppError::Validation { errors }) if errors[0].field == "q")
        );
        let bad = SearchRequest { q: "a".into(), limit: Some(0), ..SearchRequest::default() };
        assert!(
            matches!(normalise(bad), Err(AppError::Validation { errors }) if errors[0].field == "limit")
        );
    }
}
