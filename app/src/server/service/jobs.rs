//! Jobs as users see them: start (the demo kind for now), list their own, cancel, retry.

use crate::error::AppError;
use crate::model::{Job, JobPriority, Page};
use crate::server::auth::Principal;
use crate::server::jobs::kinds::DEMO_COUNT;
use crate::server::state::AppState;
use crate::server::store::{JobFilter, NewJob, StoreError};
use chrono::Utc;

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found("job"),
        e => e.into(),
    }
}

/// Starts a demo job for the caller: `steps` steps of `step_ms` each.
pub async fn start_demo(
    state: &AppState,
    user: &Principal,
    steps: i64,
    step_ms: i64,
) -> Result<Job, AppError> {
    if !(1..=10_000).contains(&steps) {
        return Err(AppError::invalid("steps", "range", "steps must be between 1 and 10000"));
    }
    if !(1..=60_000).contains(&step_ms) {
        return Err(AppError::invalid("step_ms", "range", "step_ms must be between 1 and 60000"));
    }
    let job = NewJob::new(
        DEMO_COUNT,
        serde_json::json!({ "steps": steps, "step_ms": step_ms }),
        Utc::now(),
    )
    .owner(user.user_id)
    .priority(JobPriority::Normal);
    let job = state.store.enqueue_job(job).await?;
    state.jobs.notify_enqueued();
    Ok(job)
}

/// The caller's jobs, newest first.
pub async fn list_mine(
    state: &AppState,
    user: &Principal,
    limit: i64,
    offset: i64,
) -> Result<Page<Job>, AppError> {
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("limit", "range", "limit must be between 1 and 100"));
    }
    if offset < 0 {
        return Err(AppError::invalid("offset", "min", "offset must not be negative"));
    }
    let filter = JobFilter { owner_id: Some(user.user_id), ..JobFilter::default() };
    let (items, total) = state.store.list_jobs(&filter, limit, offset).await?;
    Ok(Page { items, total, offset, limit })
}

/// Cancels one of the caller's jobs (admins: any job).
pub async fn cancel(state: &AppState, user: &Principal, id: i64) -> Result<Job, AppError> {
    let requester = (!user.scopes.contains(crate::model::Scope::Admin)).then_some(user.user_id);
    state.store.cancel_job(id, requester, Utc::now()).await.map_err(not_found)
}

/// Runs a dead or cancelled job of the caller again (admins: any job).
pub async fn retry(state: &AppState, user: &Principal, id: i64) -> Result<Job, AppError> {
    let requester = (!user.scopes.contains(crate::model::Scope::Admin)).then_some(user.user_id);
    let job = state.store.retry_job(id, requester, Utc::now()).await.map_err(not_found)?;
    state.jobs.notify_enqueued();
    Ok(job)
}
