//! Job server fns: the caller's jobs, the demo job, cancel and retry (scope `basic`); the queue
//! overview, any job, admin retry and discard (scope `admin`).

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::jobs;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use model::{Job, Page, QueueOverview};
use server_fn::codec::Json;

/// The caller's jobs, newest first.
#[server(prefix = "/api", endpoint = "list_my_jobs", input = Json)]
pub async fn list_my_jobs(limit: i64, offset: i64) -> Result<Page<Job>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    jobs::list_mine(&state, &user, limit, offset).await
}

/// Starts a demo job that counts `steps` steps of `step_ms` each.
#[server(prefix = "/api", endpoint = "start_demo_job", input = Json)]
pub async fn start_demo_job(steps: i64, step_ms: i64) -> Result<Job, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    jobs::start_demo(&state, &user, steps, step_ms).await
}

/// Cancels one of the caller's jobs.
#[server(prefix = "/api", endpoint = "cancel_job", input = Json)]
pub async fn cancel_job(id: i64) -> Result<Job, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    jobs::cancel(&state, &user, id).await
}

/// Runs a dead or cancelled job again.
#[server(prefix = "/api", endpoint = "retry_job", input = Json)]
pub async fn retry_job(id: i64) -> Result<Job, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    jobs::retry(&state, &user, id).await
}

/// The queue per kind: depth, oldest waiting, throughput (scope `admin`).
#[server(prefix = "/api", endpoint = "queue_overview", input = Json)]
pub async fn get_queue_overview() -> Result<QueueOverview, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    jobs::overview(&state).await
}

/// Every user's jobs, optionally of one state and kind (scope `admin`).
#[server(prefix = "/api", endpoint = "admin_list_jobs", input = Json)]
pub async fn admin_list_jobs(
    state: Option<String>,
    kind: Option<String>,
    limit: i64,
    offset: i64,
) -> Result<Page<Job>, AppError> {
    let app = app_state()?;
    require_scope(Scope::Admin)?;
    jobs::list_all(&app, state.as_deref(), kind.as_deref(), limit, offset).await
}

/// Runs any user's dead or cancelled job again (scope `admin`; audited).
#[server(prefix = "/api", endpoint = "admin_retry_job", input = Json)]
pub async fn admin_retry_job(id: i64) -> Result<Job, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    jobs::admin_retry(&state, &admin, id).await
}

/// Deletes a dead job for good (scope `admin`; audited).
#[server(prefix = "/api", endpoint = "discard_job", input = Json)]
pub async fn discard_job(id: i64) -> Result<(), AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    jobs::discard(&state, &admin, id).await
}
