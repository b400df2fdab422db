//! The runner: one claim loop per registered kind, each running at most `concurrency` jobs,
//! a supervisor per running job (heartbeat, progress, cancellation, timeout, outcome), and a
//! reaper that requeues jobs whose worker died and refreshes the queue gauges.
//!
//! Delivery is at least once: a job whose worker dies, or whose outcome cannot be written,
//! runs again after its lease expires. The lease fences writes, so a stale worker never
//! records an outcome over a newer attempt's.

use super::handler::{JobContext, JobError, JobRegistry, RegisteredKind};
use crate::store::{ClaimedJob, DynStore, JobLease};
use chrono::Utc;
use model::{Job, JobEvent, JobEventKind, JobProgress, JobState};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

/// Progress is written and published at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// How a runner claims and holds jobs.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Names this process in leases; must be unique among running instances.
    pub worker_id: String,
    /// How often an idle kind looks for due jobs when nothing wakes it.
    pub poll_interval: Duration,
    /// How long a claim or heartbeat holds a job. A worker silent for longer loses it.
    pub lease: Duration,
    /// How often a running job's lease is extended (kept below half the lease).
    pub heartbeat_every: Duration,
    /// How often expired leases are requeued and the queue gauges refreshed.
    pub reap_every: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            worker_id: Self::unique_worker_id(),
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            heartbeat_every: Duration::from_secs(10),
            reap_every: Duration::from_secs(5),
        }
    }
}

impl RunnerConfig {
    /// `<host>-<pid>-<random>`: readable in the jobs table, unique across restarts.
    pub fn unique_worker_id() -> String {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "blueprint".into());
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}-{}-{}", std::process::id(), &nonce[..8])
    }
}

/// Starts runners.
pub struct JobRunner;

impl JobRunner {
    /// Starts claiming jobs of every kind in `registry` and publishing their events to
    /// `events`. Must be called inside a Tokio runtime. Stop it with `RunnerHandle::shutdown`.
    pub fn start(
        store: DynStore,
        registry: JobRegistry,
        config: RunnerConfig,
        events: broadcast::Sender<JobEvent>,
    ) -> RunnerHandle {
        // Zero intervals would spin (or panic, for `interval`); keep a floor.
        let floor = Duration::from_millis(10);
        let mut config = config;
        config.heartbeat_every = config.heartbeat_every.min(config.lease / 2).max(floor);
        config.poll_interval = config.poll_interval.max(floor);
        config.reap_every = config.reap_every.max(floor);
        let shared = Arc::new(Shared { store, config, events });
        let (stop, stopping) = watch::channel(None);
        let mut wakers = Vec::new();
        let mut loops = Vec::new();
        for (kind, registered) in registry.into_kinds() {
            let wake = Arc::new(Notify::new());
            wakers.push(wake.clone());
            loops.push(tokio::spawn(kind_loop(
                shared.clone(),
                kind,
                registered,
                wake,
                stopping.clone(),
            )));
        }
        let notifier = JobNotifier { wakers: wakers.into() };
        let reaper = tokio::spawn(reap_loop(shared.clone(), notifier.clone(), stopping));
        tracing::info!(
            worker.id = %shared.config.worker_id,
            kinds = loops.len(),
            "job runner started"
        );
        RunnerHandle { shared, stop, loops, reaper: Some(reaper), notifier }
    }
}

/// Wakes a runner's idle claim loops after a job was enqueued in this process, so it starts
/// without waiting for the next poll. Cheap to clone.
#[derive(Clone)]
pub struct JobNotifier {
    wakers: Arc<[Arc<Notify>]>,
}

impl JobNotifier {
    /// Wakes every kind's loop (a loop that is busy looks again as soon as it is free).
    pub fn notify_enqueued(&self) {
        for wake in self.wakers.iter() {
            // notify_one stores a permit when nobody waits, so a wake-up is never lost.
            wake.notify_one();
        }
    }
}

/// A running runner. Dropping it stops everything at once without releasing jobs (like a
/// crash: their leases expire and another runner picks them up); prefer `shutdown`.
pub struct RunnerHandle {
    shared: Arc<Shared>,
    stop: watch::Sender<Option<Instant>>,
    loops: Vec<JoinHandle<()>>,
    reaper: Option<JoinHandle<()>>,
    notifier: JobNotifier,
}

impl RunnerHandle {
    /// The worker id in this runner's leases.
    pub fn worker_id(&self) -> &str {
        &self.shared.config.worker_id
    }

    /// A handle that wakes this runner after an enqueue.
    pub fn notifier(&self) -> JobNotifier {
        self.notifier.clone()
    }

    /// Wakes the claim loops: call after enqueuing a job in this process.
    pub fn notify_enqueued(&self) {
        self.notifier.notify_enqueued();
    }

    /// Stops claiming, lets running handlers finish until `deadline` has passed, stops the
    /// rest, and releases their jobs to the queue (their attempt not counted) so another
    /// instance runs them. Returns how many jobs were released.
    pub async fn shutdown(mut self, deadline: Duration) -> u64 {
        self.stop.send_replace(Some(Instant::now() + deadline));
        for kind_loop in std::mem::take(&mut self.loops) {
            let _ = kind_loop.await;
        }
        if let Some(reaper) = self.reaper.take() {
            let _ = reaper.await;
        }
        let worker = &self.shared.config.worker_id;
        match self.shared.store.release_jobs(worker, Utc::now()).await {
            Ok(released) => {
                tracing::info!(worker.id = %worker, released, "job runner stopped");
                released
            }
            Err(e) => {
                // Their leases expire and the reaper of another instance requeues them.
                tracing::warn!(worker.id = %worker, error = %e, "could not release running jobs");
                0
            }
        }
    }

    /// Stops at once, like a killed process: no further heartbeats, outcomes or releases.
    pub fn abort(self) {
        drop(self);
    }
}

impl Drop for RunnerHandle {
    fn drop(&mut self) {
        // Dropping a loop's task drops its JoinSet, which aborts the job supervisors, which
        // abort their handlers.
        for kind_loop in &self.loops {
            kind_loop.abort();
        }
        if let Some(reaper) = &self.reaper {
            reaper.abort();
        }
    }
}

struct Shared {
    store: DynStore,
    config: RunnerConfig,
    events: broadcast::Sender<JobEvent>,
}

impl Shared {
    fn publish(&self, job: &Job, event: JobEventKind, state: JobState, detail: EventDetail) {
        // Nobody listening is fine.
        let _ = self.events.send(JobEvent {
            job_id: job.id,
            owner_id: job.owner_id,
            kind: job.kind.clone(),
            event,
            state,
            progress: detail.progress,
            error: detail.error,
            retry_at: detail.retry_at,
            at: Utc::now(),
        });
    }
}

#[derive(Default)]
struct EventDetail {
    progress: Option<JobProgress>,
    error: Option<String>,
    retry_at: Option<chrono::DateTime<Utc>>,
}

/// Resolves once shutdown has begun.
async fn stopping(stop: &mut watch::Receiver<Option<Instant>>) {
    if stop.wait_for(Option::is_some).await.is_err() {
        // The handle is gone without a shutdown: the task is being aborted anyway.
        std::future::pending::<()>().await;
    }
}

/// Resolves when shutdown's deadline has passed.
async fn shutdown_deadline(stop: &mut watch::Receiver<Option<Instant>>) {
    let deadline = match stop.wait_for(Option::is_some).await {
        Ok(deadline) => *deadline,
        Err(_) => None,
    };
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending::<()>().await,
    }
}

async fn kind_loop(
    shared: Arc<Shared>,
    kind: String,
    registered: RegisteredKind,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<Option<Instant>>,
) {
    let slots = Arc::new(Semaphore::new(registered.config.concurrency.max(1)));
    let mut running = JoinSet::new();
    let config = &shared.config;
    loop {
        while running.try_join_next().is_some() {}
        let permit = tokio::select! {
            biased;
            () = stopping(&mut stop) => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        match shared.store.claim_job(&kind, &config.worker_id, Utc::now(), config.lease).await {
            Ok(Some(claimed)) => {
                running.spawn(supervise(
                    shared.clone(),
                    registered.clone(),
                    claimed,
                    permit,
                    stop.clone(),
                ));
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(job.kind = %kind, error = %e, "could not claim a job"),
        }
        drop(permit);
        tokio::select! {
            biased;
            () = stopping(&mut stop) => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(config.poll_interval) => {}
        }
    }
    // Supervisors finish their handlers, or stop them at the shutdown deadline.
    while running.join_next().await.is_some() {}
}

/// How an attempt ended, as far as the supervisor is concerned.
enum Outcome {
    /// The result, and progress reported after the last heartbeat.
    Succeeded(serde_json::Value, Option<JobProgress>),
    Failed(JobError),
    /// Another worker may own the job now: record nothing.
    LeaseLost,
    /// Shutdown's deadline passed: record nothing; the job is released.
    Abandoned,
}

/// Aborts the handler task if the supervisor is dropped (runner aborted).
struct AbortOnDrop(JoinHandle<super::handler::HandlerResult>);

impl AbortOnDrop {
    async fn abort_and_wait(&mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(e: JoinError) -> String {
    if !e.is_panic() {
        return "the handler task was cancelled".into();
    }
    let payload = e.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    format!("handler panicked: {text}")
}

async fn supervise(
    shared: Arc<Shared>,
    registered: RegisteredKind,
    claimed: ClaimedJob,
    _slot: OwnedSemaphorePermit,
    mut stop: watch::Receiver<Option<Instant>>,
) {
    let ClaimedJob { job, payload, lease } = claimed;
    let kind = job.kind.clone();
    let config = &shared.config;
    metrics::counter!("jobs_claimed_total", "kind" => kind.clone()).increment(1);
    let waited = (Utc::now() - job.run_after).to_std().unwrap_or_default();
    metrics::histogram!("job_claim_latency_seconds", "kind" => kind.clone())
        .record(waited.as_secs_f64());
    tracing::debug!(job.id = job.id, job.kind = %kind, attempt = lease.attempt, "job started");
    shared.publish(&job, JobEventKind::Started, JobState::Running, EventDetail::default());

    let (cancel, cancelled) = watch::channel(job.cancel_requested);
    let ctx = JobContext::new(&job, cancelled);
    let started = Instant::now();
    // What the handler writes (progress lines, a sync's log) is in its owner's language.
    let lang = match job.owner_id {
        Some(owner) => shared.store.get_user(owner).await.ok().and_then(|u| u.user.locale),
        None => None,
    };
    let run = (registered.handler)(ctx.clone(), payload);
    let mut handler =
        AbortOnDrop(tokio::spawn(crate::i18n::scope(lang.unwrap_or(model::Lang::En), run)));
    let timeout = tokio::time::sleep(registered.config.timeout);
    tokio::pin!(timeout);
    let tick_every = PROGRESS_EVERY.min(config.heartbeat_every);
    let mut tick = tokio::time::interval_at(started + tick_every, tick_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_beat = started;

    let outcome = loop {
        tokio::select! {
            joined = &mut handler.0 => break match joined {
                Ok(Ok(value)) => Outcome::Succeeded(value, ctx.take_progress()),
                Ok(Err(e)) => Outcome::Failed(e),
                Err(e) => Outcome::Failed(JobError::msg(panic_message(e))),
            },
            () = &mut timeout => {
                handler.abort_and_wait().await;
                let limit = registered.config.timeout;
                break Outcome::Failed(JobError::msg(format!("timed out after {limit:?}")));
            }
            () = shutdown_deadline(&mut stop) => {
                handler.abort_and_wait().await;
                break Outcome::Abandoned;
            }
            _ = tick.tick() => {
                let progress = ctx.take_progress();
                if progress.is_none() && last_beat.elapsed() < config.heartbeat_every {
                    continue;
                }
                let beat = shared
                    .store
                    .heartbeat_job(&lease, Utc::now(), config.lease, progress.as_ref())
                    .await;
                match beat {
                    Ok(Some(answer)) => {
                        last_beat = Instant::now();
                        if let Some(progress) = progress {
                            let detail =
                                EventDetail { progress: Some(progress), ..EventDetail::default() };
                            shared.publish(&job, JobEventKind::Progress, JobState::Running, detail);
                        }
                        if answer.cancel_requested && !*cancel.borrow() {
                            tracing::info!(job.id = job.id, "job cancellation requested");
                            cancel.send_replace(true);
                        }
                    }
                    Ok(None) => {
                        handler.abort_and_wait().await;
                        break Outcome::LeaseLost;
                    }
                    Err(e) => {
                        tracing::warn!(job.id = job.id, error = %e, "job heartbeat failed");
                        if let Some(progress) = progress {
                            ctx.restore_progress(progress);
                        }
                        // Past the lease, another instance may have requeued and claimed it.
                        if last_beat.elapsed() >= config.lease {
                            handler.abort_and_wait().await;
                            break Outcome::LeaseLost;
                        }
                    }
                }
            }
        }
    };
    metrics::histogram!("job_run_seconds", "kind" => kind.clone())
        .record(started.elapsed().as_secs_f64());
    let outcome_label = record(&shared, &registered, &job, &lease, outcome).await;
    metrics::counter!("jobs_completed_total", "kind" => kind, "outcome" => outcome_label)
        .increment(1);
}

/// Writes an attempt's outcome and publishes it; returns the metric's outcome label.
async fn record(
    shared: &Shared,
    registered: &RegisteredKind,
    job: &Job,
    lease: &JobLease,
    outcome: Outcome,
) -> &'static str {
    let store = &shared.store;
    let now = Utc::now();
    match outcome {
        Outcome::Succeeded(value, progress) => {
            match store.complete_job(lease, now, &value, progress.as_ref()).await {
                Ok(true) => {
                    // What the row now says: all done, 100 %, the handler's last message.
                    let progress = progress.map(JobProgress::finished);
                    let detail = EventDetail { progress, ..EventDetail::default() };
                    shared.publish(job, JobEventKind::Completed, JobState::Succeeded, detail);
                    "succeeded"
                }
                Ok(false) => {
                    tracing::warn!(
                        job.id = job.id,
                        "job finished after its lease was lost; result dropped"
                    );
                    "lease_lost"
                }
                Err(e) => {
                    tracing::warn!(
                        job.id = job.id,
                        error = %e,
                        "could not record job success; it will run again"
                    );
                    "unrecorded"
                }
            }
        }
        Outcome::Failed(error) => {
            let message = error.message();
            let allowed = job.max_attempts.min(registered.config.max_attempts);
            // No retry_at means dead: a permanent error, or no attempts left.
            let retry_at = (!error.is_permanent() && lease.attempt < allowed)
                .then(|| registered.config.backoff(lease.attempt))
                .and_then(|delay| chrono::Duration::from_std(delay).ok())
                .and_then(|delay| now.checked_add_signed(delay));
            match store.fail_job(lease, now, &message, retry_at).await {
                Ok(Some(state)) => {
                    let (event, label) = match state {
                        JobState::Queued => (JobEventKind::Retrying, "retrying"),
                        JobState::Cancelled => (JobEventKind::Cancelled, "cancelled"),
                        _ => (JobEventKind::Dead, "dead"),
                    };
                    tracing::info!(
                        job.id = job.id,
                        job.kind = %job.kind,
                        attempt = lease.attempt,
                        state = %state,
                        error = %message,
                        "job attempt failed"
                    );
                    let retry_at = retry_at.filter(|_| state == JobState::Queued);
                    shared.publish(
                        job,
                        event,
                        state,
                        EventDetail { error: Some(message), retry_at, ..EventDetail::default() },
                    );
                    label
                }
                Ok(None) => {
                    tracing::warn!(
                        job.id = job.id,
                        "job failed after its lease was lost; error dropped"
                    );
                    "lease_lost"
                }
                Err(e) => {
                    tracing::warn!(
                        job.id = job.id,
                        error = %e,
                        "could not record job failure; it will run again"
                    );
                    "unrecorded"
                }
            }
        }
        Outcome::LeaseLost => {
            tracing::warn!(job.id = job.id, "job lease lost; handler stopped");
            "lease_lost"
        }
        Outcome::Abandoned => "released",
    }
}

async fn reap_loop(
    shared: Arc<Shared>,
    notifier: JobNotifier,
    mut stop: watch::Receiver<Option<Instant>>,
) {
    let mut gauges: HashSet<(String, JobState)> = HashSet::new();
    loop {
        let now = Utc::now();
        match shared.store.requeue_expired_jobs(now).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(jobs = n, "requeued jobs whose lease expired");
                notifier.notify_enqueued();
            }
            Err(e) => tracing::warn!(error = %e, "could not requeue expired jobs"),
        }
        match shared.store.queue_stats(now).await {
            Ok(stats) => {
                let mut seen = HashSet::new();
                for s in stats {
                    let state = s.state.as_str();
                    metrics::gauge!("jobs_queue_depth", "kind" => s.kind.clone(), "state" => state)
                        .set(s.count as f64);
                    seen.insert((s.kind, s.state));
                }
                // A (kind, state) that emptied must read 0, not its last count.
                for (kind, state) in gauges.difference(&seen) {
                    let state = state.as_str();
                    metrics::gauge!("jobs_queue_depth", "kind" => kind.clone(), "state" => state)
                        .set(0.0);
                }
                gauges.extend(seen);
            }
            Err(e) => tracing::warn!(error = %e, "could not read queue stats"),
        }
        tokio::select! {
            () = stopping(&mut stop) => break,
            () = tokio::time::sleep(shared.config.reap_every) => {}
        }
    }
}
