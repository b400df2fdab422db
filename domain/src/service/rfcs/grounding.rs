//! Grounding: the searches an RFC's title, description and answers give, run through the
//! hybrid search with its owner's visibility (narrowed to the sources the RFC names). The chunks
//! found, deduplicated, become the RFC's sources `S1…`: a snapshot of each (title, link, text),
//! so a citation keeps resolving after the original is re-synced. The owner can take one out,
//! search for more and add them.

use super::{not_found, writable};
use crate::auth::Principal;
use crate::rfc::text::clip;
use crate::service::search;
use crate::state::AppState;
use crate::store::{NewRfcSource, RfcPatch, RfcRecord, StoreError};
use chrono::Utc;
use model::error::AppError;
use model::{Answer, Rfc, RfcQuestion, RfcSource, RfcStatus, Scope, SearchHit};
use std::collections::HashSet;

/// Searches run for one grounding.
pub const MAX_QUERIES: usize = 6;
/// Results taken from each search.
pub const HITS_PER_QUERY: i64 = 5;
/// Sources one grounding adds at most.
pub const MAX_SOURCES: usize = 12;
/// Longest excerpt kept (and shown to the model), in characters.
pub const EXCERPT_CHARS: usize = 1_500;
/// Longest query built from free text, in characters.
const QUERY_CHARS: usize = 300;
/// Hits the first round of questions sees.
const PEEK_HITS: i64 = 5;
/// How long the first round waits for that search.
const PEEK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// The searches for an RFC: its title, its description, and the title with each answer that
/// says something (text of three words or more, or the chosen options).
pub fn queries(title: &str, description: &str, questions: &[RfcQuestion]) -> Vec<String> {
    let mut out: Vec<String> = vec![clip(title, QUERY_CHARS), clip(description, QUERY_CHARS)];
    for q in questions {
        let said = match &q.answer {
            Some(Answer::Text(t)) if t.split_whitespace().count() >= 3 => Some(t.clone()),
            Some(Answer::SingleChoice(c)) => Some(c.clone()),
            Some(Answer::MultipleChoice(cs)) => Some(cs.join(", ")),
            _ => None,
        };
        if let Some(said) = said {
            out.push(clip(&format!("{title} {said}"), QUERY_CHARS));
        }
    }
    let mut seen = HashSet::new();
    out.retain(|q| !q.trim().is_empty() && seen.insert(q.to_lowercase()));
    out.truncate(MAX_QUERIES);
    out
}

/// A chunk a search found, as a source to keep: its excerpt is the search's snippet until the
/// snapshot reads the chunk's text.
fn from_hit(query: &str, h: SearchHit) -> NewRfcSource {
    NewRfcSource {
        excerpt: h.snippet.iter().map(|p| p.text.as_str()).collect(),
        query: Some(query.to_string()),
        chunk_id: h.chunk_id,
        document_id: h.document_id,
        source_id: h.source_id,
        title: h.title,
        url: h.url,
        heading: h.heading,
    }
}

/// Takes results from each list in turn (first of each, then second of each …), so every
/// search contributes, skipping chunks already taken.
pub fn interleave(lists: Vec<Vec<NewRfcSource>>, max: usize) -> Vec<NewRfcSource> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let depth = lists.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..depth {
        for list in &lists {
            if let Some(hit) = list.get(i)
                && out.len() < max
                && seen.insert(hit.chunk_id)
            {
                out.push(hit.clone());
            }
        }
    }
    out
}

/// The sources as kept: each with its chunk's text as it is now.
async fn snapshot(
    state: &AppState,
    found: Vec<NewRfcSource>,
) -> Result<Vec<NewRfcSource>, AppError> {
    let ids: Vec<i64> = found.iter().map(|h| h.chunk_id).collect();
    let texts: std::collections::HashMap<i64, String> =
        state.store.chunk_texts(&ids).await?.into_iter().map(|(id, _, t)| (id, t)).collect();
    Ok(found
        .into_iter()
        // A chunk re-synced away since the search has no text to show: not a source.
        .filter_map(|h| {
            let excerpt = clip(texts.get(&h.chunk_id)?, EXCERPT_CHARS);
            Some(NewRfcSource { excerpt, ..h })
        })
        .collect())
}

fn wanted(r: &RfcRecord) -> Vec<i64> {
    r.source_ids.clone().unwrap_or_default()
}

/// Runs the RFC's searches and adds what they find to its sources (chunks it holds stay as
/// they are, removed ones too); moves it on to choosing sources.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id))]
pub async fn ground_rfc(state: &AppState, user: &Principal, id: i64) -> Result<Rfc, AppError> {
    // What the knowledge holds is read with `search`, as everywhere (checked first, like a
    // route's scope).
    user.require(Scope::Search)?;
    let r = writable(state, user, id).await?;
    let questions = state.store.list_questions(id).await?;
    let mut lists = Vec::new();
    for q in queries(&r.summary.title, &r.description, &questions) {
        let hits = search::retrieve(state, user, &q, &wanted(&r), HITS_PER_QUERY).await?;
        lists.push(hits.into_iter().map(|h| from_hit(&q, h)).collect());
    }
    let sources = snapshot(state, interleave(lists, MAX_SOURCES)).await?;
    state.store.add_rfc_sources(id, &sources, Utc::now()).await.map_err(not_found)?;
    if r.summary.status == RfcStatus::Clarifying {
        let patch = RfcPatch { status: Some(RfcStatus::Grounding), ..RfcPatch::default() };
        state.store.update_rfc(id, &patch, Utc::now()).await.map_err(not_found)?;
    }
    super::load(state, id).await
}

/// What the knowledge holds on the RFC's title and description, for the first round of
/// questions to build on (shown to the model, not kept as sources): none when the owner may
/// not search or the search fails (the questions are asked all the same).
pub(super) async fn peek(state: &AppState, user: &Principal, r: &RfcRecord) -> Vec<RfcSource> {
    if user.require(Scope::Search).is_err() {
        return Vec::new();
    }
    let q = clip(&format!("{} {}", r.summary.title, r.description), QUERY_CHARS);
    let sources = wanted(r);
    let search = search::retrieve(state, user, &q, &sources, PEEK_HITS);
    // The first round runs inside the request: a slow search gives no hits, not a timeout.
    match tokio::time::timeout(PEEK_DEADLINE, search).await.unwrap_or_else(|_| {
        Err(AppError::Unavailable { message: crate::tr!("the search took too long") })
    }) {
        Ok(hits) => hits.into_iter().map(|h| from_hit(&q, h).unsaved()).collect(),
        Err(e) => {
            tracing::warn!(rfc.id = r.summary.id, error = %e, "no knowledge for the first questions");
            Vec::new()
        }
    }
}

/// Searches the RFC's knowledge for more sources to add by hand.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id))]
pub async fn search_more(
    state: &AppState,
    user: &Principal,
    id: i64,
    q: &str,
) -> Result<Vec<SearchHit>, AppError> {
    // What the knowledge holds is read with `search`, as everywhere (checked first, like a
    // route's scope).
    user.require(Scope::Search)?;
    let r = writable(state, user, id).await?;
    if q.trim().is_empty() {
        return Err(AppError::invalid("q", "required", crate::tr!("type something to search for")));
    }
    search::retrieve(state, user, q, &wanted(&r), 10).await
}

/// Adds one chunk found by `search_more` as a source; it must be one the owner can see (and
/// from the RFC's sources, when it names them).
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id, chunk.id = chunk_id))]
pub async fn add_source(
    state: &AppState,
    user: &Principal,
    id: i64,
    document_id: i64,
    chunk_id: i64,
) -> Result<Vec<RfcSource>, AppError> {
    // What the knowledge holds is read with `search`, as everywhere (checked first, like a
    // route's scope).
    user.require(Scope::Search)?;
    let r = writable(state, user, id).await?;
    let allowed = search::allowed_sources(state, user, &wanted(&r)).await?;
    let index = state.knowledge.index();
    let unknown = || AppError::not_found("chunk");
    let meta =
        index.doc(document_id).filter(|m| allowed.contains(&m.source_id)).ok_or_else(unknown)?;
    if !index.chunks_of(document_id).contains(&chunk_id) {
        return Err(unknown());
    }
    let heading = state
        .store
        .chunk_texts(&[chunk_id])
        .await?
        .into_iter()
        .next()
        .map(|(_, h, _)| h)
        .ok_or_else(unknown)?;
    let found = NewRfcSource {
        query: None,
        chunk_id,
        document_id,
        source_id: meta.source_id,
        title: meta.title.clone(),
        url: meta.url.clone(),
        heading,
        excerpt: String::new(),
    };
    let sources = snapshot(state, vec![found]).await?;
    state.store.add_rfc_sources(id, &sources, Utc::now()).await.map_err(not_found)?;
    Ok(state.store.list_rfc_sources(id).await?)
}

/// Takes a source out of what the model may cite (or puts it back).
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id, source.id = source_id))]
pub async fn set_source_removed(
    state: &AppState,
    user: &Principal,
    id: i64,
    source_id: i64,
    removed: bool,
) -> Result<RfcSource, AppError> {
    writable(state, user, id).await?;
    state.store.set_rfc_source_removed(id, source_id, removed, Utc::now()).await.map_err(
        |e| match e {
            StoreError::NotFound => AppError::not_found("source"),
            e => e.into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::QuestionOrigin;

    fn answered(answer: Answer) -> RfcQuestion {
        RfcQuestion {
            id: 1,
            round: 1,
            kind: answer.kind(),
            text: "?".into(),
            why: String::new(),
            placeholder: String::new(),
            options: vec![],
            origin: QuestionOrigin::Template,
            section: None,
            answer: Some(answer),
            skipped: false,
        }
    }

    #[test]
    fn queries_come_from_the_title_description_and_answers_that_say_something() {
        let qs = [
            answered(Answer::Text("the support engineers on call".into())),
            answered(Answer::Text("yes".into())),
            answered(Answer::MultipleChoice(vec!["Web".into(), "Partners".into()])),
            answered(Answer::YesNo(true)),
            answered(Answer::Number(3.0)),
        ];
        let got = queries("Upload retries", "  Retry   failed uploads\nwith backoff. ", &qs);
        assert_eq!(
            got,
            [
                "Upload retries",
                "Retry failed uploads with backoff.",
                "Upload retries the support engineers on call",
                "Upload retries Web, Partners",
            ]
        );
    }

    #[test]
    fn queries_are_bounded_in_number_and_length() {
        let long = "слово ".repeat(500);
        let qs: Vec<RfcQuestion> =
            (0..10).map(|i| answered(Answer::Text(format!("answer number {i} here")))).collect();
        let got = queries("T", &long, &qs);
        assert_eq!(got.len(), MAX_QUERIES);
        assert!(got.iter().all(|q| q.chars().count() <= QUERY_CHARS));
    }

    fn hit(query: &str, chunk: i64) -> NewRfcSource {
        NewRfcSource {
            excerpt: String::new(),
            query: Some(query.into()),
            chunk_id: chunk,
            document_id: chunk,
            source_id: 1,
            title: String::new(),
            url: String::new(),
            heading: String::new(),
        }
    }

    #[test]
    fn interleaving_takes_from_every_search_and_skips_repeats() {
        let lists = vec![
            vec![hit("a", 1), hit("a", 2), hit("a", 3)],
            vec![hit("b", 1), hit("b", 4)],
            vec![hit("c", 5)],
        ];
        let got: Vec<(String, i64)> = interleave(lists, 4)
            .into_iter()
            .map(|h| (h.query.unwrap_or_default(), h.chunk_id))
            .collect();
        assert_eq!(got, [("a".into(), 1), ("c".into(), 5), ("a".into(), 2), ("b".into(), 4)]);
    }
}
