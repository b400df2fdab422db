//! The `knowledge.embed` job: makes the configured embedding model's vectors for every stored
//! chunk, with progress, while the compiled-in model keeps serving; once they are all made,
//! every instance rebuilds its index from them and the configured model serves.
//!
//! Changing `knowledge.embedder` (to `e5`, say) on a full index would otherwise leave vector
//! search half-blind for as long as the new vectors take (e5 makes about 20 chunks a second a
//! core). The job is enqueued at start, once per model and index state; it resumes where it
//! stopped (vectors are stored per batch), and can be cancelled from the jobs page.

use crate::jobs::{JobContext, JobError, JobRegistry, KindConfig};
use crate::state::AppState;
use crate::store::{JobFilter, NewJob};
use chrono::Utc;
use model::{Job, JobPriority, JobState};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The kind.
pub const EMBED_CHUNKS: &str = "knowledge.embed";

#[derive(Debug, Serialize, Deserialize)]
struct EmbedPayload {
    /// The model whose vectors to make (the job ends at once if it is no longer configured).
    model: String,
}

/// Registers the kind on instances that can run it: configured for a model other than the
/// compiled-in one (an instance of the old configuration in a rolling deploy never claims it).
pub fn register(registry: &mut JobRegistry, state: AppState) {
    if !state.knowledge.has_fallback() {
        return;
    }
    registry.register(
        EMBED_CHUNKS,
        KindConfig {
            concurrency: 1,
            max_attempts: 5,
            timeout: Duration::from_secs(24 * 3600),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
        },
        move |ctx, payload| run(state.clone(), ctx, payload),
    );
}

/// Enqueues the job when the configured model has chunks without vectors and the compiled-in
/// model can serve meanwhile. Every instance calls this at start: a job already queued or
/// running is left to finish; otherwise one job per model and index state (a dead or cancelled
/// one with the same key runs again).
pub async fn enqueue_if_needed(state: &AppState) -> anyhow::Result<Option<Job>> {
    let k = &state.knowledge;
    let Some(target) = k.configured_embedder().filter(|_| k.has_fallback()) else {
        return Ok(None);
    };
    let model = target.model_id().to_string();
    if state.store.count_chunks_missing_embeddings(&model).await? == 0 {
        return Ok(None);
    }
    for active in [JobState::Queued, JobState::Running] {
        let filter =
            JobFilter { owner_id: None, state: Some(active), kind: Some(EMBED_CHUNKS.into()) };
        if let Some(job) = state.store.list_jobs(&filter, 1, 0).await?.0.pop() {
            return Ok(Some(job));
        }
    }
    let seq = state.store.max_index_seq().await?;
    let job = NewJob::new(
        EMBED_CHUNKS,
        serde_json::to_value(EmbedPayload { model: model.clone() })?,
        Utc::now(),
    )
    .priority(JobPriority::Low)
    .idempotency_key(format!("embed:{model}:{seq}"));
    let mut job = state.store.enqueue_job(job).await?;
    if matches!(job.state, JobState::Dead | JobState::Cancelled) {
        job = state.store.retry_job(job.id, None, Utc::now()).await?;
    }
    state.jobs.notify_enqueued();
    Ok(Some(job))
}

async fn run(
    state: AppState,
    ctx: JobContext,
    payload: serde_json::Value,
) -> Result<serde_json::Value, JobError> {
    let p: EmbedPayload = serde_json::from_value(payload)
        .map_err(|e| JobError::permanent(format!("bad payload: {e}")))?;
    let k = &state.knowledge;
    // An instance configured for another model leaves the job to one that is not (retried
    // later; dead after the attempts, and enqueued again by the next start that needs it).
    let Some(target) = k.configured_embedder().filter(|e| e.model_id() == p.model) else {
        return Err(JobError::msg(format!("this instance is not configured for {}", p.model)));
    };
    let store = &state.store;
    let total = store.count_chunks_missing_embeddings(&p.model).await?;
    let batch = i64::try_from(k.settings().embed_batch.max(1) * 4).unwrap_or(256);
    let mut done = 0_i64;
    ctx.progress(
        0,
        total,
        crate::tr!("%{done} of %{total} chunks embedded", done = 0, total = total),
    );
    loop {
        if ctx.is_cancelled() {
            return Err(JobError::permanent("cancelled"));
        }
        let missing = store.chunks_missing_embeddings(&p.model, batch).await?;
        if missing.is_empty() {
            break;
        }
        let (hashes, texts): (Vec<String>, Vec<String>) = missing.into_iter().unzip();
        let vectors = target.embed(&texts).await?;
        let rows: Vec<(String, Vec<f32>)> = hashes.into_iter().zip(vectors).collect();
        store.put_embeddings(&rows, &p.model, Utc::now()).await?;
        done += i64::try_from(rows.len()).unwrap_or(0);
        // Chunks stored meanwhile raise the total.
        let total = total.max(done);
        ctx.progress(
            done,
            total,
            crate::tr!("%{done} of %{total} chunks embedded", done = done, total = total),
        );
    }
    // This instance switches now; the others on their next look at the index log.
    let switched = k.serve_configured_when_complete(store).await?;
    Ok(serde_json::json!({ "embedded": done, "model": p.model, "switched": switched }))
}
