//! Jobs as users see them (start the demo kind, list their own, cancel, retry) and as admins
//! see the queue (depth, age and throughput per kind; any job by state and kind; dead letters
//! retried or discarded, audited).

use crate::auth::Principal;
use crate::jobs::kinds::DEMO_COUNT;
use crate::service::users::page_bounds;
use crate::state::AppState;
use crate::store::{JobFilter, NewAuditEntry, NewJob, StoreError};
use chrono::Utc;
use model::error::AppError;
use model::{Job, JobPriority, JobState, KindQueue, Page, QueueOverview, Scope};
use std::collections::BTreeMap;

/// The window the admin view's throughput covers.
pub const THROUGHPUT_WINDOW_SECS: i64 = 3600;

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found("job"),
        e => e.into(),
    }
}

fn retry_refused(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict { .. } => {
            AppError::Conflict { message: crate::tr!("only dead or cancelled jobs can be retried") }
        }
        e => not_found(e),
    }
}

/// Starts a demo job for the caller: `steps` steps of `step_ms` each.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn start_demo(
    state: &AppState,
    user: &Principal,
    steps: i64,
    step_ms: i64,
) -> Result<Job, AppError> {
    if !(1..=10_000).contains(&steps) {
        return Err(AppError::invalid(
            "steps",
            "range",
            crate::tr!("steps must be between 1 and 10000"),
        ));
    }
    if !(1..=60_000).contains(&step_ms) {
        return Err(AppError::invalid(
            "step_ms",
            "range",
            crate::tr!("step_ms must be between 1 and 60000"),
        ));
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
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn list_mine(
    state: &AppState,
    user: &Principal,
    limit: i64,
    offset: i64,
) -> Result<Page<Job>, AppError> {
    let (limit, offset) = page_bounds(limit, offset)?;
    let filter = JobFilter { owner_id: Some(user.user_id), ..JobFilter::default() };
    let (items, total) = state.store.list_jobs(&filter, limit, offset).await?;
    Ok(Page { items, total, offset, limit })
}

/// Cancels one of the caller's jobs (admins: any job).
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn cancel(state: &AppState, user: &Principal, id: i64) -> Result<Job, AppError> {
    let requester = (!user.scopes.contains(Scope::Admin)).then_some(user.user_id);
    state.store.cancel_job(id, requester, Utc::now()).await.map_err(not_found)
}

/// Runs a dead or cancelled job of the caller again (admins: any job).
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn retry(state: &AppState, user: &Principal, id: i64) -> Result<Job, AppError> {
    let requester = (!user.scopes.contains(Scope::Admin)).then_some(user.user_id);
    let job = state.store.retry_job(id, requester, Utc::now()).await.map_err(retry_refused)?;
    state.jobs.notify_enqueued();
    Ok(job)
}

/// The queue per kind: depth by state, the oldest waiting and longest running job, and what
/// finished in the last `THROUGHPUT_WINDOW_SECS` (admins).
#[tracing::instrument(skip_all)]
pub async fn overview(state: &AppState) -> Result<QueueOverview, AppError> {
    let now = Utc::now();
    let since = now - chrono::Duration::seconds(THROUGHPUT_WINDOW_SECS);
    let (depth, finished) =
        tokio::try_join!(state.store.queue_stats(now), state.store.finished_stats(since))?;
    let mut kinds: BTreeMap<String, KindQueue> = BTreeMap::new();
    for s in depth {
        let k = kinds
            .entry(s.kind.clone())
            .or_insert_with(|| KindQueue { kind: s.kind.clone(), ..KindQueue::default() });
        match s.state {
            JobState::Queued => {
                k.queued = s.count;
                k.oldest_waiting_ms = s.oldest_age_ms;
            }
            JobState::Running => {
                k.running = s.count;
                k.longest_running_ms = s.oldest_age_ms;
            }
            JobState::Dead => k.dead = s.count,
            JobState::Succeeded | JobState::Cancelled => {}
        }
    }
    for f in finished {
        let k = kinds
            .entry(f.kind.clone())
            .or_insert_with(|| KindQueue { kind: f.kind.clone(), ..KindQueue::default() });
        match f.state.as_str() {
            "succeeded" => {
                k.succeeded_recent = f.count;
                k.avg_run_ms = f.avg_run_ms;
            }
            "dead" => k.dead_recent = f.count,
            "cancelled" => k.cancelled_recent = f.count,
            _ => {}
        }
    }
    Ok(QueueOverview {
        kinds: kinds.into_values().collect(),
        window_secs: THROUGHPUT_WINDOW_SECS,
        at: now,
    })
}

/// Any user's jobs, optionally of one state (by name) and kind, newest first (admins).
#[tracing::instrument(skip_all)]
pub async fn list_all(
    state: &AppState,
    job_state: Option<&str>,
    kind: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Page<Job>, AppError> {
    let (limit, offset) = page_bounds(limit, offset)?;
    let job_state = match job_state.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(JobState::parse(name).ok_or_else(|| {
            AppError::invalid(
                "state",
                "one_of",
                crate::tr!("state must be one of queued, running, succeeded, dead, cancelled"),
            )
        })?),
    };
    let kind = kind.map(str::trim).filter(|k| !k.is_empty());
    if kind.is_some_and(|k| k.len() > 100) {
        return Err(AppError::invalid(
            "kind",
            "max_length",
            crate::tr!("kind must be at most 100 characters"),
        ));
    }
    let filter = JobFilter { owner_id: None, state: job_state, kind: kind.map(str::to_string) };
    let (items, total) = state.store.list_jobs(&filter, limit, offset).await?;
    Ok(Page { items, total, offset, limit })
}

fn audit(admin: &Principal, action: &str, job: &Job) -> NewAuditEntry {
    let detail = serde_json::json!({
        "kind": job.kind,
        "state": job.state.as_str(),
        "owner_id": job.owner_id,
        "last_error": job.last_error,
    });
    crate::service::audit_by(admin, action, format!("job:{}", job.id), detail)
}

/// Runs a dead letter (or a cancelled job) of any user again, audited (admins).
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn admin_retry(state: &AppState, admin: &Principal, id: i64) -> Result<Job, AppError> {
    let before = state.store.get_job(id).await.map_err(not_found)?;
    let job = state.store.retry_job(id, None, Utc::now()).await.map_err(retry_refused)?;
    state.jobs.notify_enqueued();
    if let Err(e) = state.store.insert_audit(audit(admin, "job.retry", &before)).await {
        tracing::warn!(job.id = id, error = %e, "could not write the audit entry of a retry");
    }
    Ok(job)
}

/// Deletes a dead letter for good, audited (admins).
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn discard(state: &AppState, admin: &Principal, id: i64) -> Result<(), AppError> {
    let before = state.store.get_job(id).await.map_err(not_found)?;
    state.store.discard_job(id).await.map_err(|e| match e {
        StoreError::Conflict { .. } => AppError::Conflict {
            message: crate::tr!(
                "job %{id} is %{state}; only dead jobs can be discarded (cancel it first)",
                id = id,
                state = before.state.as_str()
            ),
        },
        e => not_found(e),
    })?;
    if let Err(e) = state.store.insert_audit(audit(admin, "job.discard", &before)).await {
        tracing::warn!(job.id = id, error = %e, "could not write the audit entry of a discard");
    }
    Ok(())
}
