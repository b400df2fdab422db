//! Recurring jobs. A `CronSchedule` names a cron expression (evaluated in UTC; five fields, or
//! six with seconds first) and the job to enqueue when it fires. Every instance runs the
//! scheduler; for each firing, `claim_cron_firing` lets exactly one of them enqueue the job
//! (idempotency key `cron:<name>:<fire_at ms>`), so a schedule fires once per period however
//! many instances run.
//!
//! On start the scheduler considers the most recent fire time, so a firing missed while no
//! instance ran happens once, late; older missed firings are skipped, not caught up.

use super::runner::JobNotifier;
use crate::store::{DynStore, NewJob};
use anyhow::Context;
use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use model::JobPriority;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A recurring job.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    name: String,
    expression: String,
    cron: Cron,
    kind: String,
    payload: serde_json::Value,
    priority: JobPriority,
}

impl CronSchedule {
    /// A schedule called `name` (unique across the deployment) that enqueues a `kind` job
    /// with `payload` whenever `expression` fires.
    pub fn parse(
        name: impl Into<String>,
        expression: &str,
        kind: impl Into<String>,
        payload: serde_json::Value,
    ) -> anyhow::Result<Self> {
        let name = name.into();
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .with_context(|| format!("schedule {name}: invalid cron expression {expression:?}"))?;
        Ok(Self {
            name,
            expression: expression.to_string(),
            cron,
            kind: kind.into(),
            payload,
            priority: JobPriority::Normal,
        })
    }

    /// Enqueue its jobs with this priority.
    pub fn priority(mut self, priority: JobPriority) -> Self {
        self.priority = priority;
        self
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cron expression as given.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The latest fire time at or before `now`.
    pub fn latest_fire_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now, true).ok()
    }

    /// The first fire time after `now`.
    pub fn next_fire_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }

    /// The idempotency key of the job for one firing.
    pub fn idempotency_key(&self, fire_at: DateTime<Utc>) -> String {
        format!("cron:{}:{}", self.name, fire_at.timestamp_millis())
    }
}

/// Starts schedulers.
pub struct CronScheduler;

impl CronScheduler {
    /// Starts firing `schedules`, checking at least every `tick` (one second is right for
    /// production) and waking `notifier`'s runner after each enqueue.
    pub fn start(
        store: DynStore,
        schedules: Vec<CronSchedule>,
        notifier: Option<JobNotifier>,
        tick: Duration,
    ) -> CronHandle {
        let fired = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let task =
            tokio::spawn(cron_loop(store, schedules, notifier, tick, fired.clone(), stopped));
        CronHandle { task, stop, fired }
    }
}

/// A running scheduler; dropping it stops it.
pub struct CronHandle {
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
    fired: Arc<AtomicU64>,
}

impl CronHandle {
    /// Firings this scheduler won and enqueued.
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }

    /// Stops after the current check; returns how many firings this scheduler won in all.
    pub async fn shutdown(mut self) -> u64 {
        self.stop.send_replace(true);
        let _ = (&mut self.task).await;
        self.fired()
    }
}

impl Drop for CronHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn cron_loop(
    store: DynStore,
    schedules: Vec<CronSchedule>,
    notifier: Option<JobNotifier>,
    tick: Duration,
    fired: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    // The latest fire time each schedule has settled here (won or lost), to skip the database
    // until the next one comes; and firings won whose enqueue failed, to retry.
    let mut settled: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut unenqueued: Vec<(&CronSchedule, DateTime<Utc>)> = Vec::new();
    loop {
        let now = Utc::now();
        for schedule in &schedules {
            let Some(fire_at) = schedule.latest_fire_at(now) else { continue };
            if settled.get(schedule.name()).is_some_and(|last| *last >= fire_at) {
                continue;
            }
            match store.claim_cron_firing(schedule.name(), fire_at).await {
                Ok(true) => unenqueued.push((schedule, fire_at)),
                Ok(false) => {}
                Err(e) => {
                    let name = schedule.name();
                    tracing::warn!(cron.name = %name, error = %e, "could not claim a cron firing");
                    continue;
                }
            }
            settled.insert(schedule.name(), fire_at);
        }
        let mut retry = Vec::new();
        for (schedule, fire_at) in unenqueued.drain(..) {
            let job = NewJob::new(schedule.kind.clone(), schedule.payload.clone(), now)
                .priority(schedule.priority)
                .run_after(fire_at)
                .idempotency_key(schedule.idempotency_key(fire_at));
            match store.enqueue_job(job).await {
                Ok(job) => {
                    fired.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("cron_fired_total", "name" => schedule.name.clone())
                        .increment(1);
                    let name = &schedule.name;
                    tracing::info!(cron.name = %name, job.id = job.id, %fire_at, "cron fired");
                    if let Some(notifier) = &notifier {
                        notifier.notify_enqueued();
                    }
                }
                Err(e) => {
                    // The firing is ours; keep trying (the key makes a retry enqueue it once).
                    let name = &schedule.name;
                    tracing::warn!(cron.name = %name, error = %e, "could not enqueue a cron job");
                    retry.push((schedule, fire_at));
                }
            }
        }
        unenqueued = retry;

        // Sleep until the next fire time (a little after, so it is then the latest), or `tick`.
        let now = Utc::now();
        let wait = schedules
            .iter()
            .filter_map(|s| s.next_fire_at(now))
            .min()
            .and_then(|next| (next - now).to_std().ok())
            .map_or(tick, |until| (until + Duration::from_millis(5)).min(tick));
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32, ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 4, h, m, s).single().unwrap_or_default()
            + chrono::Duration::milliseconds(ms)
    }

    #[test]
    fn latest_fire_is_the_period_start_at_or_before_now() {
        let hourly = CronSchedule::parse("hourly", "15 * * * *", "k", serde_json::json!({}));
        let hourly = hourly.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hourly.latest_fire_at(at(10, 20, 0, 0)), Some(at(10, 15, 0, 0)));
        assert_eq!(hourly.latest_fire_at(at(10, 15, 0, 0)), Some(at(10, 15, 0, 0)));
        assert_eq!(hourly.latest_fire_at(at(10, 14, 59, 999)), Some(at(9, 15, 0, 0)));
        assert_eq!(hourly.next_fire_at(at(10, 15, 0, 0)), Some(at(11, 15, 0, 0)));
    }

    #[test]
    fn six_fields_mean_seconds_and_fire_times_are_whole_seconds() {
        let every_second = CronSchedule::parse("tick", "* * * * * *", "k", serde_json::json!({}));
        let every_second = every_second.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(every_second.latest_fire_at(at(8, 0, 7, 430)), Some(at(8, 0, 7, 0)));
        assert_eq!(every_second.next_fire_at(at(8, 0, 7, 430)), Some(at(8, 0, 8, 0)));
        assert_eq!(every_second.idempotency_key(at(0, 0, 1, 0)), "cron:tick:1741046401000");
    }

    #[test]
    fn rejects_invalid_expressions_naming_the_schedule() {
        let err = CronSchedule::parse("nightly", "61 * * * *", "k", serde_json::json!({}));
        let err = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("nightly"), "{err}");
    }
}
