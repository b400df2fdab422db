//! The contract every `JobStore` implementation must keep. Each function gets a store on a
//! fresh, migrated, empty database. Times are passed in explicitly, so nothing here sleeps.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::store::{DynStore, JobFilter, JobLease, NewJob, NewUserRow, StoreError};
use model::{JobPriority, JobProgress, JobState, Scopes};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tokio::sync::Barrier;

const WORKER: &str = "worker-a";
const LEASE: StdDuration = StdDuration::from_secs(30);

/// A fixed, millisecond-precise starting time.
fn t0() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis()).single().expect("valid time")
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

async fn owner(store: &DynStore, email: &str) -> i64 {
    let row = NewUserRow {
        email: email.to_string(),
        display_name: "Owner".into(),
        password_hash: "hash".into(),
        scopes: Scopes::new([]),
        first_user_scopes: None,
        created_at: t0(),
    };
    store.create_user(row).await.expect("create user").id
}

async fn enqueue(store: &DynStore, job: NewJob) -> i64 {
    store.enqueue_job(job).await.expect("enqueue").id
}

/// Claims the next `kind` job at `now` and returns its id and lease.
async fn claim(store: &DynStore, kind: &str, now: DateTime<Utc>) -> Option<(i64, JobLease)> {
    store.claim_job(kind, WORKER, now, LEASE).await.expect("claim").map(|c| (c.job.id, c.lease))
}

pub async fn enqueue_stores_a_queued_job(store: DynStore) {
    let now = t0();
    let user = owner(&store, "owner@example.com").await;
    let job = store
        .enqueue_job(
            NewJob::new("report", json!({"rfc": 7}), now)
                .priority(JobPriority::High)
                .owner(user)
                .max_attempts(5),
        )
        .await
        .expect("enqueue");
    assert!(job.id > 0);
    assert_eq!(job.kind, "report");
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.priority, JobPriority::High);
    assert_eq!(job.owner_id, Some(user));
    assert_eq!((job.attempts, job.max_attempts), (0, 5));
    assert_eq!((job.created_at, job.run_after), (now, now));
    assert_eq!(
        (job.started_at, job.finished_at, &job.last_error, &job.result),
        (None, None, &None, &None)
    );
    assert_eq!(job.progress, JobProgress::default());
    assert!(!job.cancel_requested);
    assert_eq!(store.get_job(job.id).await.expect("get"), job);
    assert!(matches!(store.get_job(job.id + 100).await, Err(StoreError::NotFound)));

    let claimed = store.claim_job("report", WORKER, now, LEASE).await.expect("claim");
    let claimed = claimed.expect("the job is due");
    assert_eq!(claimed.payload, json!({"rfc": 7}), "the payload round-trips");
    assert_eq!(claimed.job.state, JobState::Running);
    assert_eq!(claimed.job.attempts, 1);
    assert_eq!(claimed.job.started_at, Some(now));
    assert_eq!(claimed.lease, JobLease { job_id: job.id, worker_id: WORKER.into(), attempt: 1 });
}

pub async fn claims_by_priority_then_run_after_then_id(store: DynStore) {
    let now = t0();
    let at = now - secs(60);
    let mut expected = Vec::new();
    let specs = [
        (JobPriority::Low, 0),
        (JobPriority::Urgent, 10),
        (JobPriority::Normal, 0),
        (JobPriority::High, 0),
        (JobPriority::Urgent, 0),
        (JobPriority::Normal, 0),
        (JobPriority::Urgent, 0),
    ];
    for (priority, later) in specs {
        let id = enqueue(
            &store,
            NewJob::new("k", json!({}), now).priority(priority).run_after(at + secs(later)),
        )
        .await;
        expected.push((std::cmp::Reverse(priority), later, id));
    }
    // Another kind, even urgent and older, is never claimed by this kind's workers.
    enqueue(
        &store,
        NewJob::new("other", json!({}), now).priority(JobPriority::Urgent).run_after(at - secs(5)),
    )
    .await;
    expected.sort();
    let mut order = Vec::new();
    while let Some((id, _)) = claim(&store, "k", now).await {
        order.push(id);
    }
    assert_eq!(order, expected.into_iter().map(|(_, _, id)| id).collect::<Vec<_>>());
    assert_eq!(store.get_job(order[0]).await.expect("get").state, JobState::Running);
}

pub async fn claim_waits_for_run_after(store: DynStore) {
    let now = t0();
    let later = enqueue(&store, NewJob::new("k", json!({}), now).run_after(now + secs(10))).await;
    assert_eq!(claim(&store, "k", now).await, None, "not due yet");
    assert_eq!(claim(&store, "k", now + secs(9)).await, None, "still not due");
    assert_eq!(
        claim(&store, "k", now + secs(10)).await.map(|c| c.0),
        Some(later),
        "due exactly then"
    );
    assert_eq!(claim(&store, "k", now + secs(11)).await, None, "nothing left");
}

pub async fn enqueue_with_taken_idempotency_key_returns_existing_job(store: DynStore) {
    let now = t0();
    let first = store
        .enqueue_job(NewJob::new("k", json!({"n": 1}), now).idempotency_key("once"))
        .await
        .expect("first");
    let again = store
        .enqueue_job(
            NewJob::new("k", json!({"n": 2}), now + secs(1))
                .priority(JobPriority::Urgent)
                .idempotency_key("once"),
        )
        .await
        .expect("again is not an error");
    assert_eq!(again, first, "the existing job, unchanged");
    // Still the same job after it ran.
    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    assert!(store.complete_job(&lease, now, &json!("done"), None).await.expect("complete"));
    let after = store
        .enqueue_job(NewJob::new("k", json!({}), now).idempotency_key("once"))
        .await
        .expect("after");
    assert_eq!((after.id, after.state), (first.id, JobState::Succeeded));
    // Jobs without a key never collide; another key is another job.
    let a = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let b = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let c = enqueue(&store, NewJob::new("k", json!({}), now).idempotency_key("twice")).await;
    assert_eq!(HashSet::from([a, b, c, first.id]).len(), 4);
    let (_, total) = store.list_jobs(&JobFilter::default(), 10, 0).await.expect("list");
    assert_eq!(total, 4);
}

pub async fn concurrent_idempotent_enqueues_make_one_job(store: DynStore) {
    const N: usize = 10;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.enqueue_job(NewJob::new("k", json!({}), t0()).idempotency_key("race")).await
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.expect("task").expect("every enqueue succeeds").id);
    }
    assert_eq!(ids.len(), 1, "one job for one key: {ids:?}");
    assert_eq!(store.list_jobs(&JobFilter::default(), 10, 0).await.expect("list").1, 1);
}

pub async fn fail_requeues_with_retry_at_then_dead_after_max_attempts(store: DynStore) {
    let now = t0();
    let id = enqueue(&store, NewJob::new("k", json!({}), now).max_attempts(3)).await;
    let mut at = now;
    for attempt in 1..=2 {
        let (claimed, lease) = claim(&store, "k", at).await.expect("claim");
        assert_eq!((claimed, lease.attempt), (id, attempt));
        let retry_at = at + secs(10);
        let state = store.fail_job(&lease, at, &format!("boom {attempt}"), Some(retry_at)).await;
        assert_eq!(state.expect("fail"), Some(JobState::Queued));
        let job = store.get_job(id).await.expect("get");
        assert_eq!(job.state, JobState::Queued);
        assert_eq!(job.run_after, retry_at);
        assert_eq!(job.attempts, attempt);
        assert_eq!(job.last_error.as_deref(), Some(format!("boom {attempt}").as_str()));
        assert_eq!(job.finished_at, None);
        assert_eq!(claim(&store, "k", retry_at - secs(1)).await, None, "not before retry_at");
        at = retry_at;
    }
    let (_, lease) = claim(&store, "k", at).await.expect("third claim");
    assert_eq!(lease.attempt, 3);
    let state = store.fail_job(&lease, at, "boom 3", Some(at + secs(10))).await.expect("fail");
    assert_eq!(state, Some(JobState::Dead), "attempts used up: dead even with a retry_at");
    let job = store.get_job(id).await.expect("get");
    assert_eq!((job.state, job.attempts), (JobState::Dead, 3));
    assert_eq!(job.last_error.as_deref(), Some("boom 3"));
    assert_eq!(job.finished_at, Some(at));
    assert_eq!(claim(&store, "k", at + secs(3600)).await, None, "a dead job is never claimed");
    // A second report for the same attempt is refused.
    assert_eq!(store.fail_job(&lease, at, "again", None).await.expect("fail again"), None);
}

pub async fn fail_without_retry_at_is_dead_at_once(store: DynStore) {
    let now = t0();
    let id = enqueue(&store, NewJob::new("k", json!({}), now).max_attempts(5)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    let state = store.fail_job(&lease, now, "bad payload", None).await.expect("fail");
    assert_eq!(state, Some(JobState::Dead));
    let job = store.get_job(id).await.expect("get");
    assert_eq!(
        (job.state, job.attempts, job.last_error.as_deref()),
        (JobState::Dead, 1, Some("bad payload"))
    );
}

pub async fn cancel_queued_job_cancels_at_once(store: DynStore) {
    let now = t0();
    let id = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let job = store.cancel_job(id, None, now + secs(1)).await.expect("cancel");
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(job.finished_at, Some(now + secs(1)));
    assert_eq!(claim(&store, "k", now + secs(2)).await, None, "a cancelled job is never claimed");
    // Cancelling again is harmless and changes nothing.
    let again = store.cancel_job(id, None, now + secs(5)).await.expect("cancel again");
    assert_eq!(again, job);
    assert!(matches!(store.cancel_job(id + 100, None, now).await, Err(StoreError::NotFound)));
}

pub async fn cancel_running_job_sets_flag_that_heartbeat_reports(store: DynStore) {
    let now = t0();
    let id = enqueue(&store, NewJob::new("k", json!({}), now).max_attempts(5)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    let beat = store.heartbeat_job(&lease, now, LEASE, None).await.expect("heartbeat");
    assert_eq!(beat.map(|b| b.cancel_requested), Some(false));

    let job = store.cancel_job(id, None, now + secs(1)).await.expect("cancel");
    assert_eq!(job.state, JobState::Running, "a running job keeps running until its handler stops");
    assert!(job.cancel_requested);
    let beat = store.heartbeat_job(&lease, now + secs(2), LEASE, None).await.expect("heartbeat");
    assert_eq!(beat.map(|b| b.cancel_requested), Some(true));

    // The handler gives up: the job is cancelled, not retried, even with attempts left.
    let state = store.fail_job(&lease, now + secs(3), "cancelled", Some(now + secs(4))).await;
    assert_eq!(state.expect("fail"), Some(JobState::Cancelled));
    let job = store.get_job(id).await.expect("get");
    assert_eq!((job.state, job.finished_at), (JobState::Cancelled, Some(now + secs(3))));
}

pub async fn cancel_by_another_user_is_not_found(store: DynStore) {
    let now = t0();
    let ann = owner(&store, "ann@example.com").await;
    let bob = owner(&store, "bob@example.com").await;
    let id = enqueue(&store, NewJob::new("k", json!({}), now).owner(ann)).await;
    let system = enqueue(&store, NewJob::new("k", json!({}), now)).await;

    assert!(matches!(store.cancel_job(id, Some(bob), now).await, Err(StoreError::NotFound)));
    assert!(matches!(store.cancel_job(system, Some(bob), now).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_job(id).await.expect("get").state, JobState::Queued, "untouched");
    assert_eq!(store.cancel_job(id, Some(ann), now).await.expect("own").state, JobState::Cancelled);
    assert_eq!(
        store.cancel_job(system, None, now).await.expect("admin").state,
        JobState::Cancelled
    );
}

pub async fn completing_writes_the_progress_no_heartbeat_carried(store: DynStore) {
    let now = t0();
    // A heartbeat wrote "step 9 of 10"; the handler then reported 10 of 10 and returned.
    let id = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    let nine = JobProgress::of(9, 10, "step 9 of 10");
    store.heartbeat_job(&lease, now, LEASE, Some(&nine)).await.expect("beat");
    let ten = JobProgress::of(10, 10, "step 10 of 10");
    assert!(store.complete_job(&lease, now, &json!(1), Some(&ten)).await.expect("complete"));
    let job = store.get_job(id).await.expect("get");
    assert_eq!(job.progress.message.as_deref(), Some("step 10 of 10"));
    assert_eq!(
        (job.progress.done, job.progress.total, job.progress.percent),
        (Some(10), Some(10), Some(100))
    );
    // Nothing new since the heartbeat: its message stays, and done means 100 %.
    let id = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    store.heartbeat_job(&lease, now, LEASE, Some(&nine)).await.expect("beat");
    assert!(store.complete_job(&lease, now, &json!(1), None).await.expect("complete"));
    let job = store.get_job(id).await.expect("get");
    assert_eq!(job.progress.message.as_deref(), Some("step 9 of 10"));
    assert_eq!((job.progress.done, job.progress.percent), (Some(10), Some(100)));
    // A job that never reported progress shows none.
    let id = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    assert!(store.complete_job(&lease, now, &json!(1), None).await.expect("complete"));
    let job = store.get_job(id).await.expect("get");
    assert_eq!((job.progress.percent, job.progress.message), (None, None));
}

pub async fn complete_needs_the_current_lease(store: DynStore) {
    let now = t0();
    let id = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    let other_worker = JobLease { worker_id: "worker-b".into(), ..lease.clone() };
    let stale_attempt = JobLease { attempt: lease.attempt - 1, ..lease.clone() };
    assert!(!store.complete_job(&other_worker, now, &json!(1), None).await.expect("other"));
    assert!(!store.complete_job(&stale_attempt, now, &json!(1), None).await.expect("stale"));
    assert_eq!(store.get_job(id).await.expect("get").state, JobState::Running);

    assert!(
        store.complete_job(&lease, now + secs(1), &json!({"pages": 3}), None).await.expect("ours")
    );
    assert!(!store.complete_job(&lease, now + secs(2), &json!(2), None).await.expect("second"));
    let job = store.get_job(id).await.expect("get");
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.result, Some(json!({"pages": 3})), "the first completion's result stays");
    assert_eq!(job.finished_at, Some(now + secs(1)));
    assert_eq!(store.fail_job(&lease, now, "late", None).await.expect("fail"), None);
    assert_eq!(store.heartbeat_job(&lease, now, LEASE, None).await.expect("beat"), None);
}

pub async fn heartbeat_extends_lease_and_stores_progress(store: DynStore) {
    let now = t0();
    let id = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    let progress = JobProgress::of(3, 12, "chunk 3");
    let beat = store.heartbeat_job(&lease, now + secs(20), LEASE, Some(&progress)).await;
    assert!(beat.expect("heartbeat").is_some());
    assert_eq!(store.get_job(id).await.expect("get").progress, progress);
    // A beat without progress keeps the last progress.
    store.heartbeat_job(&lease, now + secs(40), LEASE, None).await.expect("heartbeat");
    assert_eq!(store.get_job(id).await.expect("get").progress.percent, Some(25));
    // Lease now runs to now+70s: not expired at now+60s, expired at now+71s.
    assert_eq!(store.requeue_expired_jobs(now + secs(60)).await.expect("reap"), 0);
    assert_eq!(store.get_job(id).await.expect("get").state, JobState::Running);
    assert_eq!(store.requeue_expired_jobs(now + secs(71)).await.expect("reap"), 1);
    assert_eq!(store.heartbeat_job(&lease, now + secs(72), LEASE, None).await.expect("beat"), None);
}

pub async fn requeue_expired_puts_running_job_back_or_dead(store: DynStore) {
    let now = t0();
    let id = enqueue(&store, NewJob::new("k", json!({}), now).max_attempts(2)).await;
    let (_, first) = claim(&store, "k", now).await.expect("claim");
    assert_eq!(
        store.requeue_expired_jobs(now + secs(29)).await.expect("reap"),
        0,
        "lease still valid"
    );
    assert_eq!(store.requeue_expired_jobs(now + secs(31)).await.expect("reap"), 1);
    let job = store.get_job(id).await.expect("get");
    assert_eq!((job.state, job.attempts), (JobState::Queued, 1), "the lost attempt counts");
    assert!(job.last_error.as_deref().unwrap_or_default().contains("lease expired"));

    // Another worker takes it; the first one's lease is worthless now.
    let second = store.claim_job("k", "worker-b", now + secs(32), LEASE).await.expect("claim");
    let second = second.expect("claimable again").lease;
    assert_eq!(second.attempt, 2);
    assert!(!store.complete_job(&first, now + secs(33), &json!(1), None).await.expect("stale"));

    // Its worker dies too, on the last attempt: dead.
    assert_eq!(store.requeue_expired_jobs(now + secs(63)).await.expect("reap"), 1);
    let job = store.get_job(id).await.expect("get");
    assert_eq!((job.state, job.finished_at), (JobState::Dead, Some(now + secs(63))));
    assert!(!store.complete_job(&second, now + secs(64), &json!(1), None).await.expect("too late"));
}

pub async fn release_returns_a_workers_jobs_without_counting_the_attempt(store: DynStore) {
    let now = t0();
    let mine = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let cancelling = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let theirs = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let (a, _) = claim(&store, "k", now).await.expect("claim");
    let (b, _) = claim(&store, "k", now).await.expect("claim");
    assert_eq!((a, b), (mine, cancelling));
    let other = store.claim_job("k", "worker-b", now, LEASE).await.expect("claim").expect("job");
    assert_eq!(other.job.id, theirs);
    store.cancel_job(cancelling, None, now).await.expect("cancel");

    assert_eq!(store.release_jobs(WORKER, now + secs(1)).await.expect("release"), 2);
    let job = store.get_job(mine).await.expect("get");
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0), "released, attempt not counted");
    assert_eq!(store.get_job(cancelling).await.expect("get").state, JobState::Cancelled);
    assert_eq!(store.get_job(theirs).await.expect("get").state, JobState::Running, "not ours");
    assert_eq!(store.release_jobs(WORKER, now + secs(2)).await.expect("release"), 0);
    // Released jobs are claimable at once.
    assert_eq!(claim(&store, "k", now + secs(1)).await.map(|c| c.0), Some(mine));
}

pub async fn retry_and_discard_only_finished_failures(store: DynStore) {
    let now = t0();
    let ann = owner(&store, "ann@example.com").await;
    let id = enqueue(&store, NewJob::new("k", json!({}), now).owner(ann).max_attempts(1)).await;
    let conflict = store.retry_job(id, None, now).await;
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })), "queued: {conflict:?}");
    assert!(matches!(store.discard_job(id).await, Err(StoreError::Conflict { .. })));

    let (_, lease) = claim(&store, "k", now).await.expect("claim");
    let progress = JobProgress::of(1, 2, "half");
    store.heartbeat_job(&lease, now, LEASE, Some(&progress)).await.expect("beat");
    store.fail_job(&lease, now, "boom", Some(now)).await.expect("fail");
    assert_eq!(store.get_job(id).await.expect("get").state, JobState::Dead);
    let stranger = owner(&store, "bob@example.com").await;
    assert!(matches!(store.retry_job(id, Some(stranger), now).await, Err(StoreError::NotFound)));

    let retried = store.retry_job(id, Some(ann), now + secs(5)).await.expect("retry");
    assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));
    assert_eq!((retried.run_after, retried.finished_at), (now + secs(5), None));
    assert_eq!(retried.progress, JobProgress::default());
    let (_, lease) = claim(&store, "k", now + secs(5)).await.expect("claimable again");
    assert_eq!(lease.attempt, 1);
    store.fail_job(&lease, now, "boom again", None).await.expect("fail");

    store.discard_job(id).await.expect("discard dead");
    assert!(matches!(store.get_job(id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.discard_job(id).await, Err(StoreError::NotFound)));

    let cancelled = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    store.cancel_job(cancelled, None, now).await.expect("cancel");
    assert_eq!(store.retry_job(cancelled, None, now).await.expect("retry").state, JobState::Queued);
}

pub async fn finished_stats_count_a_window_and_purge_keeps_dead_jobs(store: DynStore) {
    let now = t0();
    // Three "k" jobs finish: one succeeds after 4 s, one dies, one is cancelled while queued.
    let ok = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim ok");
    assert!(store.complete_job(&lease, now + secs(4), &json!({}), None).await.expect("complete"));
    let dead = enqueue(&store, NewJob::new("k", json!({}), now).max_attempts(1)).await;
    let (_, lease) = claim(&store, "k", now).await.expect("claim dead");
    store.fail_job(&lease, now + secs(2), "boom", None).await.expect("fail");
    let cancelled = enqueue(&store, NewJob::new("k", json!({}), now)).await;
    store.cancel_job(cancelled, None, now + secs(1)).await.expect("cancel");
    // Still queued: not finished, never counted or purged.
    let waiting = enqueue(&store, NewJob::new("k", json!({}), now)).await;

    let stats = store.finished_stats(now).await.expect("stats");
    let by_state = |state: &str| stats.iter().find(|s| s.kind == "k" && s.state == state).cloned();
    let succeeded = by_state("succeeded").expect("succeeded row");
    assert_eq!((succeeded.count, succeeded.avg_run_ms), (1, Some(4000)));
    assert_eq!(by_state("dead").map(|s| (s.count, s.avg_run_ms)), Some((1, Some(2000))));
    assert_eq!(by_state("cancelled").map(|s| s.count), Some(1));
    assert_eq!(stats.len(), 3, "{stats:?}");
    assert!(store.finished_stats(now + secs(5)).await.expect("later window").is_empty());

    assert_eq!(store.purge_finished_jobs(now + secs(3)).await.expect("purge"), 1, "cancelled");
    assert_eq!(store.purge_finished_jobs(now + secs(60)).await.expect("purge"), 1, "succeeded");
    assert!(matches!(store.get_job(ok).await, Err(StoreError::NotFound)));
    assert!(matches!(store.get_job(cancelled).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_job(dead).await.expect("dead kept").state, JobState::Dead);
    assert_eq!(store.get_job(waiting).await.expect("queued kept").state, JobState::Queued);
}

pub async fn list_jobs_filters_and_paginates(store: DynStore) {
    let now = t0();
    let ann = owner(&store, "ann@example.com").await;
    let bob = owner(&store, "bob@example.com").await;
    let mut anns = Vec::new();
    for i in 0..5 {
        anns.push(
            enqueue(
                &store,
                NewJob::new(if i % 2 == 0 { "a" } else { "b" }, json!({}), now).owner(ann),
            )
            .await,
        );
    }
    let bobs = enqueue(&store, NewJob::new("a", json!({}), now).owner(bob)).await;
    store.cancel_job(anns[0], None, now).await.expect("cancel");

    let by_ann = JobFilter { owner_id: Some(ann), ..JobFilter::default() };
    let (page, total) = store.list_jobs(&by_ann, 2, 0).await.expect("list");
    assert_eq!(total, 5);
    assert_eq!(page.iter().map(|j| j.id).collect::<Vec<_>>(), [anns[4], anns[3]], "newest first");
    let (page, _) = store.list_jobs(&by_ann, 2, 4).await.expect("last page");
    assert_eq!(page.iter().map(|j| j.id).collect::<Vec<_>>(), [anns[0]]);

    let queued_a =
        JobFilter { owner_id: Some(ann), state: Some(JobState::Queued), kind: Some("a".into()) };
    let (page, total) = store.list_jobs(&queued_a, 10, 0).await.expect("filtered");
    assert_eq!((page.iter().map(|j| j.id).collect::<Vec<_>>(), total), (vec![anns[4], anns[2]], 2));

    let (all, total) = store.list_jobs(&JobFilter::default(), 10, 0).await.expect("all");
    assert_eq!((all.len(), total), (6, 6));
    assert_eq!(all[0].id, bobs);
}

pub async fn queue_stats_count_by_kind_and_state(store: DynStore) {
    let now = t0();
    enqueue(&store, NewJob::new("a", json!({}), now - secs(30))).await;
    enqueue(&store, NewJob::new("a", json!({}), now).run_after(now - secs(10))).await;
    enqueue(&store, NewJob::new("a", json!({}), now).run_after(now + secs(60))).await;
    enqueue(&store, NewJob::new("b", json!({}), now - secs(10))).await;
    let (_, _) = claim(&store, "b", now - secs(5)).await.expect("claim b");
    let stats = store.queue_stats(now).await.expect("stats");
    let rows: Vec<_> =
        stats.iter().map(|s| (s.kind.as_str(), s.state, s.count, s.oldest_age_ms)).collect();
    assert_eq!(
        rows,
        [("a", JobState::Queued, 3, Some(30_000)), ("b", JobState::Running, 1, Some(5_000))],
        "queued: age of the oldest due job; running: age of the oldest attempt"
    );
    assert!(store.queue_stats(now).await.expect("stats").iter().all(|s| s.count > 0));
}

pub async fn concurrent_claims_never_share_a_job(store: DynStore) {
    const JOBS: usize = 30;
    const CLAIMERS: usize = 8;
    for _ in 0..JOBS {
        enqueue(&store, NewJob::new("k", json!({}), t0())).await;
    }
    let barrier = Arc::new(Barrier::new(CLAIMERS));
    let mut tasks = Vec::new();
    for i in 0..CLAIMERS {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut mine = Vec::new();
            let worker = format!("w{i}");
            while let Some(c) = store.claim_job("k", &worker, t0(), LEASE).await.expect("claim") {
                mine.push(c.job.id);
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("task"));
    }
    let distinct: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), JOBS, "every job claimed once: {claimed:?}");
    assert_eq!(distinct.len(), JOBS);
}

pub async fn claim_cron_firing_wins_once_per_fire_time(store: DynStore) {
    let t = t0();
    assert!(store.claim_cron_firing("nightly", t).await.expect("first"));
    assert!(!store.claim_cron_firing("nightly", t).await.expect("second"));
    assert!(store.claim_cron_firing("hourly", t).await.expect("another schedule"));
    assert!(store.claim_cron_firing("nightly", t + secs(60)).await.expect("next period"));
    assert!(!store.claim_cron_firing("nightly", t).await.expect("an older period, late"));
    assert!(!store.claim_cron_firing("nightly", t + secs(30)).await.expect("older than fired"));

    const N: usize = 8;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.claim_cron_firing("nightly", t + secs(120)).await.expect("claim")
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.expect("task"));
    }
    assert_eq!(winners, 1, "one instance wins a firing");
}
