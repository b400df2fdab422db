//! The job kinds Blueprint registers at start-up. Capabilities add theirs here.

use crate::server::jobs::{JobContext, JobError, JobRegistry, KindConfig};
use std::time::Duration;

/// Kind of the demo job: counts to `steps`, one step per `step_ms`, reporting progress and
/// stopping when cancelled. It exercises the whole pipeline (queue, progress, live events).
pub const DEMO_COUNT: &str = "demo.count";

/// Every built-in kind.
pub fn builtin() -> JobRegistry {
    let mut registry = JobRegistry::new();
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
