//! The job kinds Blueprint registers at start-up, and the schedules it always runs.
//! Capabilities add theirs here.

use crate::server::jobs::{CronSchedule, JobContext, JobError, JobRegistry, KindConfig};
use crate::server::store::DynStore;
use std::time::Duration;

/// Kind of the demo job: counts to `steps`, one step per `step_ms`, reporting progress and
/// stopping when cancelled. It exercises the whole pipeline (queue, progress, live events).
pub const DEMO_COUNT: &str = "demo.count";

/// Kind of the retention job: deletes succeeded and cancelled jobs that finished more than
/// `older_than_days` ago (payload). Dead letters stay until an admin acts on them.
pub const PURGE_JOBS: &str = "jobs.purge";

/// Every built-in kind.
pub fn builtin(store: DynStore) -> JobRegistry {
    let mut registry = JobRegistry::new();
    registry.register(
        PURGE_JOBS,
        KindConfig { concurrency: 1, max_attempts: 3, ..KindConfig::default() },
        move |_ctx, payload| purge_jobs(store.clone(), payload),
    );
    registry.register(
        DEMO_COUNT,
        KindConfig {
            concurrency: 4,
            max_attempts: 3,
            timeout: Duration::from_secs(600),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        },
        demo_count,
    );
    registry
}

/// The schedules every deployment runs: the hourly retention purge when `retention_days` is
/// not 0.
pub fn builtin_schedules(retention_days: u64) -> anyhow::Result<Vec<CronSchedule>> {
    let mut schedules = Vec::new();
    if retention_days > 0 {
        schedules.push(CronSchedule::parse(
            "jobs.purge",
            "17 * * * *",
            PURGE_JOBS,
            serde_json::json!({ "older_than_days": retention_days }),
        )?);
    }
    Ok(schedules)
}

async fn purge_jobs(
    store: DynStore,
    payload: serde_json::Value,
) -> Result<serde_json::Value, JobError> {
    let days = payload["older_than_days"]
        .as_i64()
        .filter(|d| *d > 0)
        .ok_or_else(|| JobError::permanent("older_than_days must be a positive number"))?;
    let before = chrono::Utc::now() - chrono::Duration::days(days);
    let deleted = store.purge_finished_jobs(before).await.map_err(JobError::msg)?;
    if deleted > 0 {
        tracing::info!(deleted, days, "purged finished jobs");
    }
    Ok(serde_json::json!({ "deleted": deleted }))
}

async fn demo_count(
    ctx: JobContext,
    payload: serde_json::Value,
) -> Result<serde_json::Value, JobError> {
    let steps = payload["steps"].as_i64().unwrap_or(10).clamp(1, 10_000);
    let step = Duration::from_millis(payload["step_ms"].as_u64().unwrap_or(200).clamp(1, 60_000));
    for done in 1..=steps {
        tokio::select! {
            () = ctx.cancelled() => return Err(JobError::permanent("cancelled")),
            () = tokio::time::sleep(step) => {}
        }
        ctx.progress(done, steps, format!("step {done} of {steps}"));
    }
    Ok(serde_json::json!({ "counted": steps }))
}
