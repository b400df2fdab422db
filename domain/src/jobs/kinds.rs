//! The job kinds Blueprint registers at start-up, and the schedules it always runs.
//! Capabilities add theirs here.

use crate::jobs::{CronSchedule, HandlerResult, JobContext, JobError, JobRegistry, KindConfig};
use crate::mail::Mailer;
use crate::store::DynStore;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Kind of the demo job: counts to `steps`, one step per `step_ms`, reporting progress and
/// stopping when cancelled. It exercises the whole pipeline (queue, progress, live events).
pub const DEMO_COUNT: &str = "demo.count";

/// Kind of the retention job: deletes succeeded and cancelled jobs that finished more than
/// `older_than_days` ago (payload). Dead letters stay until an admin acts on them.
pub const PURGE_JOBS: &str = "jobs.purge";

/// Kind of the notification retention job: deletes notifications raised more than
/// `older_than_days` ago (payload), read or not.
pub const PURGE_NOTIFICATIONS: &str = "notifications.purge";

/// Kind of the e-mail job: sends one plain-text message (`EmailPayload`) through the `[smtp]`
/// server. Registered only when SMTP is configured. Connection failures, timeouts and 4xx
/// replies are retried with backoff; an invalid address or a 5xx reply makes the job dead at once.
pub const SEND_EMAIL: &str = "email.send";

/// Attempts an e-mail gets (up to about an hour of retries with the kind's backoff); enqueue with
/// this, since a job row's own limit also applies.
pub const EMAIL_ATTEMPTS: i32 = 8;

/// The payload of an `email.send` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPayload {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Every built-in kind.
pub fn builtin(store: DynStore) -> JobRegistry {
    let mut registry = JobRegistry::new();
    let purge_store = store.clone();
    registry.register(
        PURGE_JOBS,
        KindConfig { concurrency: 1, max_attempts: 3, ..KindConfig::default() },
        move |_ctx, payload| purge_jobs(purge_store.clone(), payload),
    );
    registry.register(
        PURGE_NOTIFICATIONS,
        KindConfig { concurrency: 1, max_attempts: 3, ..KindConfig::default() },
        move |_ctx, payload| purge_notifications(store.clone(), payload),
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

/// Registers `email.send`, delivering through `mailer`.
pub fn register_email(registry: &mut JobRegistry, mailer: Mailer) {
    registry.register(
        SEND_EMAIL,
        KindConfig {
            concurrency: 2,
            max_attempts: EMAIL_ATTEMPTS,
            timeout: Duration::from_secs(120),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(1800),
        },
        move |_ctx, payload| send_email(mailer.clone(), payload),
    );
}

/// The schedules every deployment runs: the hourly retention purges of finished jobs and of
/// notifications, each unless its retention is 0.
pub fn builtin_schedules(
    retention_days: u64,
    notification_retention_days: u64,
) -> anyhow::Result<Vec<CronSchedule>> {
    let mut schedules = Vec::new();
    if retention_days > 0 {
        schedules.push(CronSchedule::parse(
            "jobs.purge",
            "17 * * * *",
            PURGE_JOBS,
            serde_json::json!({ "older_than_days": retention_days }),
        )?);
    }
    if notification_retention_days > 0 {
        schedules.push(CronSchedule::parse(
            "notifications.purge",
            "23 * * * *",
            PURGE_NOTIFICATIONS,
            serde_json::json!({ "older_than_days": notification_retention_days }),
        )?);
    }
    Ok(schedules)
}

/// The `email.send` handler: one message, or why not (permanent when retrying cannot help).
pub async fn send_email(mailer: Mailer, payload: serde_json::Value) -> HandlerResult {
    let mail: EmailPayload = serde_json::from_value(payload)
        .map_err(|e| JobError::permanent(format!("not an e-mail payload: {e}")))?;
    match mailer.send(&mail.to, &mail.subject, &mail.body).await {
        Ok(()) => Ok(serde_json::json!({ "delivered": true })),
        Err(e) if e.is_permanent() => Err(JobError::permanent(e.to_string())),
        Err(e) => Err(JobError::msg(e.to_string())),
    }
}

/// A purge job's `older_than_days` and the moment it names: rows older than that go.
fn retention_cutoff(
    payload: &serde_json::Value,
) -> Result<(i64, chrono::DateTime<chrono::Utc>), JobError> {
    let days = payload["older_than_days"]
        .as_i64()
        .filter(|d| *d > 0)
        .ok_or_else(|| JobError::permanent("older_than_days must be a positive number"))?;
    Ok((days, chrono::Utc::now() - chrono::Duration::days(days)))
}

async fn purge_notifications(
    store: DynStore,
    payload: serde_json::Value,
) -> Result<serde_json::Value, JobError> {
    let (days, before) = retention_cutoff(&payload)?;
    let deleted = store.purge_notifications(before).await.map_err(JobError::msg)?;
    if deleted > 0 {
        tracing::info!(deleted, days, "purged old notifications");
    }
    Ok(serde_json::json!({ "deleted": deleted }))
}

async fn purge_jobs(
    store: DynStore,
    payload: serde_json::Value,
) -> Result<serde_json::Value, JobError> {
    let (days, before) = retention_cutoff(&payload)?;
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
        ctx.progress(
            done,
            steps,
            crate::tr!("step %{done} of %{steps}", done = done, steps = steps),
        );
    }
    Ok(serde_json::json!({ "counted": steps }))
}
