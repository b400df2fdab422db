//! Every job kind the application runs and every schedule it always keeps, registered in this
//! one place. A capability that adds a kind adds it here (its handler lives with its service).

use crate::jobs::kinds::{builtin, builtin_schedules, register_email};
use crate::jobs::{CronSchedule, JobRegistry, KindConfig};
use crate::mail::Mailer;
use crate::service::{embedding, rfcs, sources, sync};
use crate::state::AppState;

/// The registry: the built-in kinds (retention purges, the demo), the knowledge sync and its
/// schedule tick, and `email.send` when a mailer is configured.
pub fn registry(state: &AppState, mailer: Option<Mailer>) -> JobRegistry {
    let mut registry = builtin(state.store.clone());
    sync::register(&mut registry, state.clone());
    embedding::register(&mut registry, state.clone());
    rfcs::register(&mut registry, state.clone());
    let tick_state = state.clone();
    registry.register(
        sources::SCHEDULE_TICK,
        KindConfig { concurrency: 1, max_attempts: 1, ..Default::default() },
        move |_ctx, _payload| {
            let state = tick_state.clone();
            async move {
                let n = sources::enqueue_scheduled(&state).await?;
                Ok(serde_json::json!({ "enqueued": n }))
            }
        },
    );
    if let Some(mailer) = mailer {
        register_email(&mut registry, mailer);
    }
    registry
}

/// The schedules every deployment runs: the retention purges (each unless its retention is 0)
/// and the minutely tick that starts due source syncs.
pub fn schedules(
    job_retention_days: u64,
    notification_retention_days: u64,
) -> anyhow::Result<Vec<CronSchedule>> {
    let mut schedules = builtin_schedules(job_retention_days, notification_retention_days)?;
    schedules.push(CronSchedule::parse(
        "knowledge.schedule",
        "0 * * * * *",
        sources::SCHEDULE_TICK,
        serde_json::json!({}),
    )?);
    Ok(schedules)
}
