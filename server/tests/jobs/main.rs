//! The job runner and cron scheduler against real databases. Every test runs twice, on a fresh
//! SQLite file and on a fresh PostgreSQL database, as `sqlite::<name>` and `postgres::<name>`.
//! Tests that need two instances open two stores (two pools) on the same database.

// A test fails by panicking; clippy.toml's allow-*-in-tests only covers #[test] fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

use chrono::Utc;
use common::TestDb;
use domain::jobs::{
    CronSchedule, CronScheduler, JobError, JobRegistry, JobRunner, KindConfig, RunnerConfig,
};
use domain::store::{DynStore, JobFilter, NewJob, PoolOptions, connect};
use model::{Job, JobEvent, JobEventKind, JobPriority, JobState};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

on_both_backends!(crate: [
    runs_jobs_in_priority_order_with_concurrency_one,
    failing_handler_retries_with_backoff_then_dies_with_its_error,
    panicking_and_timed_out_handlers_count_as_failures,
    running_handler_reports_progress_and_observes_cancellation,
    idempotent_enqueue_runs_once,
    expired_lease_of_a_killed_runner_is_taken_over,
    two_runners_on_one_database_run_each_job_exactly_once,
    graceful_shutdown_releases_unfinished_job_to_another_runner,
    cron_fires_once_per_period_across_two_schedulers,
]);

/// A store (its own pool) on the test database.
async fn open(db: &TestDb) -> DynStore {
    connect(db.url(), &PoolOptions::default())
        .await
        .unwrap_or_else(|e| panic!("could not open the store at {}: {e:#}", db.url()))
}

/// Short intervals so the tests take seconds, not minutes.
fn config(worker: &str) -> RunnerConfig {
    RunnerConfig {
        worker_id: worker.to_string(),
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(2),
        heartbeat_every: Duration::from_millis(100),
        reap_every: Duration::from_millis(100),
    }
}

fn events() -> (broadcast::Sender<JobEvent>, broadcast::Receiver<JobEvent>) {
    broadcast::channel(4096)
}

fn drain(rx: &mut broadcast::Receiver<JobEvent>, job_id: i64) -> Vec<JobEvent> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if event.job_id == job_id {
            out.push(event);
        }
    }
    out
}

async fn enqueue(store: &DynStore, job: NewJob) -> i64 {
    store.enqueue_job(job).await.expect("enqueue").id
}

/// Waits until the job is in `state`, failing the test after `limit`.
async fn wait_for_state(store: &DynStore, id: i64, state: JobState, limit: Duration) -> Job {
    let start = Instant::now();
    loop {
        let job = store.get_job(id).await.expect("get job");
        if job.state == state {
            return job;
        }
        assert!(
            start.elapsed() < limit,
            "job {id} is {} after {limit:?}, expected {state}: {job:?}",
            job.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `n` jobs match `filter`.
async fn wait_for_count(store: &DynStore, filter: &JobFilter, n: i64, limit: Duration) {
    let start = Instant::now();
    loop {
        let (_, total) = store.list_jobs(filter, 1, 0).await.expect("list jobs");
        if total == n {
            return;
        }
        assert!(start.elapsed() < limit, "{total} jobs match {filter:?} after {limit:?}, not {n}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

const LIMIT: Duration = Duration::from_secs(10);

async fn runs_jobs_in_priority_order_with_concurrency_one(db: TestDb) {
    let store = open(&db).await;
    let at = Utc::now() - chrono::Duration::minutes(1);
    let mut expected = Vec::new();
    for priority in [
        JobPriority::Low,
        JobPriority::Urgent,
        JobPriority::Normal,
        JobPriority::High,
        JobPriority::Urgent,
        JobPriority::Low,
    ] {
        let job = NewJob::new("ordered", json!({}), at).priority(priority);
        expected.push((std::cmp::Reverse(priority), enqueue(&store, job).await));
    }
    expected.sort();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut registry = JobRegistry::new();
    let seen = ran.clone();
    registry.register("ordered", KindConfig::default(), move |ctx, _| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(ctx.job_id());
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(json!(null))
        }
    });
    let runner = JobRunner::start(store.clone(), registry, config("w1"), events().0);
    let succeeded = JobFilter { state: Some(JobState::Succeeded), ..JobFilter::default() };
    wait_for_count(&store, &succeeded, 6, LIMIT).await;
    runner.shutdown(Duration::from_secs(1)).await;
    let expected: Vec<i64> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        *ran.lock().unwrap(),
        expected,
        "urgent first, then high, normal, low; oldest first"
    );
}

async fn failing_handler_retries_with_backoff_then_dies_with_its_error(db: TestDb) {
    let store = open(&db).await;
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let mut registry = JobRegistry::new();
    let seen = attempts.clone();
    let kind = KindConfig {
        max_attempts: 3,
        backoff_base: Duration::from_millis(300),
        backoff_max: Duration::from_secs(10),
        ..KindConfig::default()
    };
    registry.register("flaky", kind, move |ctx, _| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(Instant::now());
            Err(JobError::msg(format!("boom {}", ctx.attempt())))
        }
    });
    let (tx, mut rx) = events();
    let runner = JobRunner::start(store.clone(), registry, config("w1"), tx);
    // The job row allows more; the kind's max_attempts caps it.
    let id = enqueue(&store, NewJob::new("flaky", json!({}), Utc::now()).max_attempts(10)).await;
    runner.notify_enqueued();
    let job = wait_for_state(&store, id, JobState::Dead, LIMIT).await;
    runner.shutdown(Duration::from_secs(1)).await;

    assert_eq!(job.attempts, 3);
    assert_eq!(job.last_error.as_deref(), Some("boom 3"));
    let times = attempts.lock().unwrap().clone();
    assert_eq!(times.len(), 3, "ran exactly max_attempts times");
    // Jitter keeps each delay between half and all of base * 2^(attempt-1).
    let gaps = [times[1] - times[0], times[2] - times[1]];
    assert!(gaps[0] >= Duration::from_millis(150), "first retry too early: {gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(300), "second retry did not back off: {gaps:?}");

    let events: Vec<_> = drain(&mut rx, id).iter().map(|e| (e.event, e.state)).collect();
    use JobEventKind::*;
    assert_eq!(
        events,
        [
            (Started, JobState::Running),
            (Retrying, JobState::Queued),
            (Started, JobState::Running),
            (Retrying, JobState::Queued),
            (Started, JobState::Running),
            (Dead, JobState::Dead),
        ]
    );
}

async fn panicking_and_timed_out_handlers_count_as_failures(db: TestDb) {
    let store = open(&db).await;
    let once = KindConfig { max_attempts: 1, ..KindConfig::default() };
    let mut registry = JobRegistry::new();
    registry.register("panics", once.clone(), |_, _| async move {
        if Utc::now().timestamp() > 0 {
            panic!("kaboom");
        }
        Ok(json!(null))
    });
    let short = KindConfig { timeout: Duration::from_millis(200), ..once };
    registry.register("hangs", short, |_, _| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(json!(null))
    });
    let runner = JobRunner::start(store.clone(), registry, config("w1"), events().0);
    let panics = enqueue(&store, NewJob::new("panics", json!({}), Utc::now())).await;
    let hangs = enqueue(&store, NewJob::new("hangs", json!({}), Utc::now())).await;
    runner.notify_enqueued();
    let panicked = wait_for_state(&store, panics, JobState::Dead, LIMIT).await;
    let timed_out = wait_for_state(&store, hangs, JobState::Dead, LIMIT).await;
    runner.shutdown(Duration::from_secs(1)).await;
    let error = panicked.last_error.unwrap_or_default();
    assert!(error.contains("panicked") && error.contains("kaboom"), "{error}");
    let error = timed_out.last_error.unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
    assert_eq!((panicked.attempts, timed_out.attempts), (1, 1));
}

async fn running_handler_reports_progress_and_observes_cancellation(db: TestDb) {
    let store = open(&db).await;
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let mut registry = JobRegistry::new();
    let flag = saw_cancel.clone();
    let kind = KindConfig { max_attempts: 5, ..KindConfig::default() };
    registry.register("long", kind, move |ctx, _| {
        let flag = flag.clone();
        async move {
            ctx.progress(1, 4, "step 1 of 4");
            ctx.cancelled().await;
            flag.store(ctx.is_cancelled(), Ordering::SeqCst);
            Err(JobError::msg("stopped on request"))
        }
    });
    let (tx, mut rx) = events();
    let runner = JobRunner::start(store.clone(), registry, config("w1"), tx);
    let id = enqueue(&store, NewJob::new("long", json!({}), Utc::now())).await;
    runner.notify_enqueued();
    wait_for_state(&store, id, JobState::Running, LIMIT).await;
    // Progress reaches the store through a heartbeat.
    let start = Instant::now();
    while store.get_job(id).await.expect("get").progress.percent != Some(25) {
        assert!(start.elapsed() < LIMIT, "progress never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requested = store.cancel_job(id, None, Utc::now()).await.expect("cancel");
    assert!(requested.cancel_requested);
    let job = wait_for_state(&store, id, JobState::Cancelled, LIMIT).await;
    runner.shutdown(Duration::from_secs(1)).await;

    assert!(saw_cancel.load(Ordering::SeqCst), "the handler's ctx.cancelled() resolved");
    assert_eq!(job.attempts, 1, "a cancelled job is not retried");
    assert_eq!(job.progress.message.as_deref(), Some("step 1 of 4"));
    let events = drain(&mut rx, id);
    let progress = events.iter().find(|e| e.event == JobEventKind::Progress).expect("progress");
    assert_eq!(progress.progress.as_ref().and_then(|p| p.percent), Some(25));
    let last = events.last().expect("events");
    assert_eq!((last.event, last.state), (JobEventKind::Cancelled, JobState::Cancelled));
}

async fn idempotent_enqueue_runs_once(db: TestDb) {
    let store = open(&db).await;
    let runs = Arc::new(AtomicU32::new(0));
    let mut registry = JobRegistry::new();
    let counter = runs.clone();
    registry.register("once", KindConfig::default(), move |_, payload| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(payload)
        }
    });
    let runner = JobRunner::start(store.clone(), registry, config("w1"), events().0);
    let mut ids = Vec::new();
    for n in 0..3 {
        let job = NewJob::new("once", json!({"n": n}), Utc::now()).idempotency_key("report:42");
        ids.push(enqueue(&store, job).await);
        runner.notify_enqueued();
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "one job for one key: {ids:?}");
    let job = wait_for_state(&store, ids[0], JobState::Succeeded, LIMIT).await;
    assert_eq!(job.result, Some(json!({"n": 0})), "the first enqueue's payload ran");
    let again = NewJob::new("once", json!({"n": 9}), Utc::now()).idempotency_key("report:42");
    assert_eq!(enqueue(&store, again).await, ids[0]);
    runner.notify_enqueued();
    tokio::time::sleep(Duration::from_millis(300)).await;
    runner.shutdown(Duration::from_secs(1)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn expired_lease_of_a_killed_runner_is_taken_over(db: TestDb) {
    let store_a = open(&db).await;
    let store_b = open(&db).await;
    let started_a = Arc::new(AtomicU32::new(0));
    let completed_b = Arc::new(AtomicU32::new(0));

    let mut stuck = JobRegistry::new();
    let started = started_a.clone();
    stuck.register("import", KindConfig::default(), move |_, _| {
        let started = started.clone();
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
            Ok(json!("never"))
        }
    });
    let short_lease = RunnerConfig {
        lease: Duration::from_millis(300),
        heartbeat_every: Duration::from_millis(100),
        ..config("runner-a")
    };
    let a = JobRunner::start(store_a.clone(), stuck, short_lease, events().0);
    let id = enqueue(&store_a, NewJob::new("import", json!({}), Utc::now())).await;
    a.notify_enqueued();
    wait_for_state(&store_a, id, JobState::Running, LIMIT).await;
    // Heartbeats keep it for several lease lengths while runner A lives.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let held = store_a.requeue_expired_jobs(Utc::now()).await.expect("reap");
    assert_eq!(held, 0, "a live runner's heartbeats keep its lease");
    assert_eq!(store_a.get_job(id).await.expect("get").state, JobState::Running);

    // kill -9: no release, no more heartbeats.
    a.abort();
    let mut finishing = JobRegistry::new();
    let completed = completed_b.clone();
    finishing.register("import", KindConfig::default(), move |_, _| {
        let completed = completed.clone();
        async move {
            completed.fetch_add(1, Ordering::SeqCst);
            Ok(json!("imported by b"))
        }
    });
    let b = JobRunner::start(store_b.clone(), finishing, config("runner-b"), events().0);
    let job = wait_for_state(&store_b, id, JobState::Succeeded, LIMIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.shutdown(Duration::from_secs(1)).await;

    assert_eq!(started_a.load(Ordering::SeqCst), 1);
    assert_eq!(completed_b.load(Ordering::SeqCst), 1, "exactly one completion");
    assert_eq!(job.attempts, 2, "the killed attempt counts");
    assert_eq!(job.result, Some(json!("imported by b")));
}

async fn two_runners_on_one_database_run_each_job_exactly_once(db: TestDb) {
    const JOBS: usize = 200;
    let store_a = open(&db).await;
    let store_b = open(&db).await;
    let runs: Arc<Mutex<HashMap<i64, u32>>> = Arc::default();
    let per_runner = [Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0))];
    let registry = |who: usize| {
        let runs = runs.clone();
        let mine = per_runner[who].clone();
        let mut registry = JobRegistry::new();
        let kind = KindConfig { concurrency: 4, ..KindConfig::default() };
        registry.register("batch", kind, move |ctx, _| {
            let (runs, mine) = (runs.clone(), mine.clone());
            async move {
                *runs.lock().unwrap().entry(ctx.job_id()).or_default() += 1;
                mine.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(json!(null))
            }
        });
        registry
    };
    let now = Utc::now();
    for i in 0..JOBS {
        enqueue(&store_a, NewJob::new("batch", json!({ "i": i }), now)).await;
    }
    let a = JobRunner::start(store_a.clone(), registry(0), config("runner-a"), events().0);
    let b = JobRunner::start(store_b.clone(), registry(1), config("runner-b"), events().0);
    let succeeded = JobFilter { state: Some(JobState::Succeeded), ..JobFilter::default() };
    wait_for_count(&store_a, &succeeded, i64::try_from(JOBS).unwrap(), Duration::from_secs(30))
        .await;
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;

    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), JOBS, "every job ran");
    let repeated: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "jobs that ran more than once: {repeated:?}");
    let (ran_a, ran_b) =
        (per_runner[0].load(Ordering::SeqCst), per_runner[1].load(Ordering::SeqCst));
    assert!(ran_a > 0 && ran_b > 0, "both runners took jobs: {ran_a} and {ran_b}");
}

async fn graceful_shutdown_releases_unfinished_job_to_another_runner(db: TestDb) {
    let store_a = open(&db).await;
    let store_b = open(&db).await;
    let mut slow = JobRegistry::new();
    let two = KindConfig { concurrency: 2, ..KindConfig::default() };
    slow.register("work", two.clone(), |_, payload| async move {
        let ms = payload["sleep_ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(json!("done by a"))
    });
    let a = JobRunner::start(store_a.clone(), slow, config("runner-a"), events().0);
    let quick = enqueue(&store_a, NewJob::new("work", json!({"sleep_ms": 300}), Utc::now())).await;
    let stuck =
        enqueue(&store_a, NewJob::new("work", json!({"sleep_ms": 3_600_000}), Utc::now())).await;
    a.notify_enqueued();
    wait_for_state(&store_a, quick, JobState::Running, LIMIT).await;
    wait_for_state(&store_a, stuck, JobState::Running, LIMIT).await;

    let released = a.shutdown(Duration::from_millis(800)).await;
    assert_eq!(released, 1, "only the unfinished job is released");
    let finished = store_a.get_job(quick).await.expect("get");
    assert_eq!(finished.state, JobState::Succeeded, "a handler inside the deadline finishes");
    let requeued = store_a.get_job(stuck).await.expect("get");
    assert_eq!((requeued.state, requeued.attempts), (JobState::Queued, 0), "released uncounted");

    let mut fast = JobRegistry::new();
    fast.register("work", two, |_, _| async move { Ok(json!("done by b")) });
    let b = JobRunner::start(store_b.clone(), fast, config("runner-b"), events().0);
    let job = wait_for_state(&store_b, stuck, JobState::Succeeded, LIMIT).await;
    b.shutdown(Duration::from_secs(1)).await;
    assert_eq!((job.attempts, job.result), (1, Some(json!("done by b"))));
}

async fn cron_fires_once_per_period_across_two_schedulers(db: TestDb) {
    let store_a = open(&db).await;
    let store_b = open(&db).await;
    let schedule = || {
        CronSchedule::parse("heartbeat", "* * * * * *", "tick", json!({"from": "cron"}))
            .expect("valid schedule")
    };
    let tick = Duration::from_secs(1);
    let a = CronScheduler::start(store_a.clone(), vec![schedule()], None, tick);
    let b = CronScheduler::start(store_b.clone(), vec![schedule()], None, tick);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    // Counted after both stopped, so a firing that lands while stopping is in the counts too.
    let fired_a = a.shutdown().await;
    let fired_b = b.shutdown().await;

    let filter = JobFilter { kind: Some("tick".into()), ..JobFilter::default() };
    let (jobs, total) = store_a.list_jobs(&filter, 100, 0).await.expect("list");
    let mut periods: Vec<_> = jobs.iter().map(|j| j.run_after.timestamp_millis()).collect();
    periods.sort_unstable();
    periods.dedup();
    assert_eq!(periods.len(), jobs.len(), "one job per period: {periods:?}");
    assert!((3..=5).contains(&total), "about one firing per second over 3.2 s: {total}");
    assert!(periods.iter().all(|ms| ms % 1000 == 0), "fire times are whole seconds");
    assert_eq!(
        fired_a + fired_b,
        u64::try_from(total).unwrap(),
        "each firing was won by exactly one scheduler ({fired_a} + {fired_b})"
    );
}
