//! The job queue: enqueue, claim with a lease, heartbeat, finish, and the admin's controls. Every
//! change is one atomic statement or one transaction (a follow-up read only explains a refusal),
//! so several runners on one database never both win a job or a lease. Retry policy, backoff
//! and timeouts belong to `crate::jobs`, not here.
//!
//! A claim is fenced by its `JobLease` (job id, worker id and attempt number): heartbeats,
//! completion and failure only take effect while the job is still running under that exact
//! lease, so a worker whose lease expired and was re-claimed can no longer write.

use super::{Flag, SqlStore, StoreError, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::{Job, JobPriority, JobProgress, JobState};
use std::time::Duration;

/// Attempts a job gets when the enqueuer does not say.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The kind its handler is registered under.
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// How urgently it runs.
    pub priority: JobPriority,
    /// The user it runs for.
    pub owner_id: Option<i64>,
    /// Not claimed before this time.
    pub run_after: DateTime<Utc>,
    /// Enqueuing again with a key that exists returns the existing job instead of a new one.
    pub idempotency_key: Option<String>,
    /// Attempts allowed (at least 1).
    pub max_attempts: i32,
    /// When it is enqueued.
    pub created_at: DateTime<Utc>,
}

impl NewJob {
    /// A normal-priority job due at once, with the default attempts and no owner or key.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value, now: DateTime<Utc>) -> Self {
        Self {
            kind: kind.into(),
            payload,
            priority: JobPriority::Normal,
            owner_id: None,
            run_after: now,
            idempotency_key: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            created_at: now,
        }
    }

    /// With this priority.
    pub fn priority(mut self, priority: JobPriority) -> Self {
        self.priority = priority;
        self
    }

    /// Run for this user.
    pub fn owner(mut self, owner_id: i64) -> Self {
        self.owner_id = Some(owner_id);
        self
    }

    /// Not before this time.
    pub fn run_after(mut self, at: DateTime<Utc>) -> Self {
        self.run_after = at;
        self
    }

    /// With an idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// With this many attempts allowed.
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n;
        self
    }
}

/// Proof that a worker holds a job: only this lease may heartbeat, complete or fail it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    /// The job.
    pub job_id: i64,
    /// The worker that claimed it.
    pub worker_id: String,
    /// Which attempt this claim started (the job's `attempts` after the claim).
    pub attempt: i32,
}

/// A job a worker has just claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job, now running.
    pub job: Job,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// The lease that fences this attempt.
    pub lease: JobLease,
}

/// What a heartbeat learns while the lease is still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    /// The owner or an admin asked for the job to stop.
    pub cancel_requested: bool,
}

/// Which jobs `list_jobs` returns.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this user's jobs.
    pub owner_id: Option<i64>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this kind.
    pub kind: Option<String>,
}

pub(crate) const JOB_COLUMNS: &str = "id, kind, state, priority, owner_id, attempts, max_attempts, \
     progress_percent, progress_done, progress_total, progress_message, last_error, result, \
     CAST(cancel_requested AS INTEGER) AS cancel_requested, created_at, run_after, started_at, finished_at";

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub priority: i32,
    pub owner_id: Option<i64>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub progress_percent: Option<i32>,
    pub progress_done: Option<i64>,
    pub progress_total: Option<i64>,
    pub progress_message: Option<String>,
    pub last_error: Option<String>,
    pub result: Option<String>,
    #[sqlx(try_from = "Flag")]
    pub cancel_requested: bool,
    pub created_at: i64,
    pub run_after: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimRow {
    #[sqlx(flatten)]
    pub job: JobRow,
    pub payload: String,
}

pub(crate) fn parse_state(s: &str) -> StoreResult<JobState> {
    JobState::parse(s).ok_or_else(|| StoreError::Other(anyhow::anyhow!("unknown job state {s:?}")))
}

fn parse_json(text: &str, what: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("stored job {what} is not JSON: {e}")))
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(r: JobRow) -> StoreResult<Job> {
        Ok(Job {
            id: r.id,
            state: parse_state(&r.state)?,
            priority: JobPriority::from_i32(r.priority).ok_or_else(|| {
                StoreError::Other(anyhow::anyhow!("job priority {} out of range", r.priority))
            })?,
            kind: r.kind,
            owner_id: r.owner_id,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            progress: JobProgress {
                percent: r.progress_percent,
                done: r.progress_done,
                total: r.progress_total,
                message: r.progress_message,
            },
            last_error: r.last_error,
            result: r.result.as_deref().map(|t| parse_json(t, "result")).transpose()?,
            cancel_requested: r.cancel_requested,
            created_at: from_ms(r.created_at),
            run_after: from_ms(r.run_after),
            started_at: r.started_at.map(from_ms),
            finished_at: r.finished_at.map(from_ms),
        })
    }
}

impl ClaimRow {
    pub(crate) fn into_claimed(self, worker_id: &str) -> StoreResult<ClaimedJob> {
        let payload = parse_json(&self.payload, "payload")?;
        let job = Job::try_from(self.job)?;
        let lease =
            JobLease { job_id: job.id, worker_id: worker_id.to_string(), attempt: job.attempts };
        Ok(ClaimedJob { job, payload, lease })
    }
}

/// `now + d` in milliseconds, saturating.
pub(crate) fn ms_after(now: DateTime<Utc>, d: Duration) -> i64 {
    to_ms(now).saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why a job that is not (or no longer) the caller's is refused: NotFound if it does not exist
/// for this requester, Conflict if it exists in the wrong state.
pub(crate) fn missing_or_conflict(
    found: Option<(Option<i64>,)>,
    requester: Option<i64>,
) -> StoreError {
    match found {
        Some((owner,)) if requester.is_none() || owner == requester => {
            StoreError::Conflict { constraint: "jobs.state".into() }
        }
        _ => StoreError::NotFound,
    }
}

/// The job queue: enqueue, claim with a lease, heartbeat, finish, and the admin's controls.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Inserts a queued job. If its idempotency key is already taken, inserts nothing and
    /// returns the job that holds the key, whatever its state.
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job>;
    /// Claims the due queued job of `kind` with the highest priority (then the earliest
    /// `run_after`, then the lowest id): it becomes running under a lease of `worker_id` until
    /// `now + lease`, and its attempt count goes up by one. None if nothing is due.
    async fn claim_job(
        &self,
        kind: &str,
        worker_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<ClaimedJob>>;
    /// Extends a held lease to `now + extend` and stores `progress` if given. None if the lease
    /// is no longer held (the job was re-claimed, released or finished).
    async fn heartbeat_job(
        &self,
        lease: &JobLease,
        now: DateTime<Utc>,
        extend: Duration,
        progress: Option<&JobProgress>,
    ) -> StoreResult<Option<HeartbeatAnswer>>;
    /// Records success, the handler's result and the last progress it reported that no heartbeat
    /// wrote yet (so a finished job never shows "step 9 of 10"). False (and nothing written)
    /// unless the job is still running under `lease`, so exactly one completion is recorded.
    async fn complete_job(
        &self,
        lease: &JobLease,
        now: DateTime<Utc>,
        result: &serde_json::Value,
        progress: Option<&JobProgress>,
    ) -> StoreResult<bool>;
    /// Records a failed attempt. The job is queued again with `run_after = retry_at`, or dead
    /// when `retry_at` is None or no attempts are left, or cancelled if cancellation was asked
    /// for. Returns the new state; None (nothing written) unless running under `lease`.
    async fn fail_job(
        &self,
        lease: &JobLease,
        now: DateTime<Utc>,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<Option<JobState>>;
    /// Cancels a job: a queued one at once, a running one by setting `cancel_requested` (its
    /// handler sees it on the next heartbeat); a finished one is returned unchanged. With a
    /// `requester`, another user's job is NotFound.
    async fn cancel_job(
        &self,
        id: i64,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Job>;
    /// Queues a dead or cancelled job again, due now, with its attempts reset. Conflict if it is
    /// in another state; with a `requester`, another user's job is NotFound.
    async fn retry_job(
        &self,
        id: i64,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Job>;
    /// Deletes a dead job for good, freeing its idempotency key (cancelled and succeeded jobs
    /// are kept as history). Conflict if it is not dead.
    async fn discard_job(&self, id: i64) -> StoreResult<()>;
    /// Puts every job running under `worker_id` back in the queue without counting the attempt
    /// (graceful shutdown); a job whose cancellation was asked for becomes cancelled instead.
    /// Returns how many.
    async fn release_jobs(&self, worker_id: &str, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Running jobs whose lease expired before `now` (their worker died) are queued again, or
    /// dead if that was their last attempt, or cancelled if cancellation was asked for.
    /// Returns how many.
    async fn requeue_expired_jobs(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// A job by id.
    async fn get_job(&self, id: i64) -> StoreResult<Job>;
    /// Jobs matching `filter`, newest first, and how many match in all.
    async fn list_jobs(
        &self,
        filter: &JobFilter,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<Job>, i64)>;
}

#[async_trait]
impl JobStore for SqlStore {
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job> {
        let created_at = to_ms(job.created_at);
        let payload =
            serde_json::to_string(&job.payload).map_err(|e| StoreError::Other(e.into()))?;
        let sql = format!(
            "INSERT INTO jobs (kind, payload, priority, owner_id, state, attempts, \
                     max_attempts, run_after, idempotency_key, cancel_requested, created_at, \
                     updated_at) \
                     VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, FALSE, $8, $8) \
                     ON CONFLICT (idempotency_key) DO NOTHING RETURNING {JOB_COLUMNS}"
        );
        let inserted: Option<JobRow> = sqlx::query_as(&sql)
            .bind(&job.kind)
            .bind(&payload)
            .bind(job.priority.as_i32())
            .bind(job.owner_id)
            .bind(job.max_attempts.max(1))
            .bind(to_ms(job.run_after))
            .bind(job.idempotency_key.as_deref())
            .bind(created_at)
            .fetch_optional(&self.pool)
            .await?;
        let row = match inserted {
            Some(row) => row,
            // Only a taken idempotency key skips the insert; the holder has committed
            // (PostgreSQL waits for it before deciding there is a conflict).
            None => {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE idempotency_key = $1");
                sqlx::query_as(&sql)
                    .bind(job.idempotency_key.as_deref())
                    .fetch_one(&self.pool)
                    .await?
            }
        };
        row.try_into()
    }

    async fn claim_job(
        &self,
        kind: &str,
        worker_id: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> StoreResult<Option<ClaimedJob>> {
        let lock = self.backend.skip_locked();
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $3, \
                     lease_expires_at = $4, started_at = $2, updated_at = $2 \
                     WHERE state = 'queued' AND id = (\
                        SELECT id FROM jobs WHERE state = 'queued' AND kind = $1 AND run_after <= $2 \
                        ORDER BY priority DESC, run_after, id LIMIT 1{lock}) \
                     RETURNING {JOB_COLUMNS}, payload"
        );
        let row: Option<ClaimRow> = sqlx::query_as(&sql)
            .bind(kind)
            .bind(to_ms(now))
            .bind(worker_id)
            .bind(ms_after(now, lease))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.into_claimed(worker_id)).transpose()
    }

    async fn heartbeat_job(
        &self,
        lease: &JobLease,
        now: DateTime<Utc>,
        extend: std::time::Duration,
        progress: Option<&JobProgress>,
    ) -> StoreResult<Option<HeartbeatAnswer>> {
        let answer: Option<(Flag,)> = sqlx::query_as(
            "UPDATE jobs SET lease_expires_at = $4, updated_at = $5, \
                     progress_percent = CASE WHEN $6 THEN $7 ELSE progress_percent END, \
                     progress_done = CASE WHEN $6 THEN $8 ELSE progress_done END, \
                     progress_total = CASE WHEN $6 THEN $9 ELSE progress_total END, \
                     progress_message = CASE WHEN $6 THEN $10 ELSE progress_message END \
                     WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND attempts = $3 \
                     RETURNING CAST(cancel_requested AS INTEGER)",
        )
        .bind(lease.job_id)
        .bind(&lease.worker_id)
        .bind(lease.attempt)
        .bind(ms_after(now, extend))
        .bind(to_ms(now))
        .bind(progress.is_some())
        .bind(progress.and_then(|p| p.percent))
        .bind(progress.and_then(|p| p.done))
        .bind(progress.and_then(|p| p.total))
        .bind(progress.and_then(|p| p.message.as_deref()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(answer.map(|(Flag(cancel_requested),)| HeartbeatAnswer { cancel_requested }))
    }

    async fn complete_job(
        &self,
        lease: &JobLease,
        now: DateTime<Utc>,
        result: &serde_json::Value,
        progress: Option<&JobProgress>,
    ) -> StoreResult<bool> {
        let result = serde_json::to_string(result).map_err(|e| StoreError::Other(e.into()))?;
        // The final progress first (as a heartbeat would write it), then done means 100 %.
        let done = sqlx::query(
            "UPDATE jobs SET state = 'succeeded', result = $4, finished_at = $5, \
             updated_at = $5, lease_owner = NULL, lease_expires_at = NULL, \
             progress_message = CASE WHEN $6 THEN $7 ELSE progress_message END, \
             progress_total = CASE WHEN $6 THEN $8 ELSE progress_total END, \
             progress_percent = CASE WHEN $6 THEN \
               CASE WHEN $9 IS NULL AND $8 IS NULL THEN NULL ELSE 100 END \
             WHEN progress_percent IS NULL AND progress_total IS NULL THEN NULL ELSE 100 END, \
             progress_done = CASE WHEN $6 THEN COALESCE($8, $10) \
             ELSE COALESCE(progress_total, progress_done) END \
             WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND attempts = $3",
        )
        .bind(lease.job_id)
        .bind(&lease.worker_id)
        .bind(lease.attempt)
        .bind(&result)
        .bind(to_ms(now))
        .bind(progress.is_some())
        .bind(progress.and_then(|p| p.message.as_deref()))
        .bind(progress.and_then(|p| p.total))
        .bind(progress.and_then(|p| p.percent))
        .bind(progress.and_then(|p| p.done))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(
        &self,
        lease: &JobLease,
        now: DateTime<Utc>,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<Option<JobState>> {
        // Every SET expression sees the row as it was, so `next` is computed once per
        // column from the same old values.
        let next = "CASE WHEN cancel_requested THEN 'cancelled' \
                            WHEN $6 IS NULL OR attempts >= max_attempts THEN 'dead' \
                            ELSE 'queued' END";
        let sql = format!(
            "UPDATE jobs SET state = {next}, \
                     run_after = CASE WHEN {next} = 'queued' THEN $6 ELSE run_after END, \
                     finished_at = CASE WHEN {next} = 'queued' THEN NULL ELSE $5 END, \
                     last_error = $4, updated_at = $5, lease_owner = NULL, lease_expires_at = NULL \
                     WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND attempts = $3 \
                     RETURNING state"
        );
        let state: Option<(String,)> = sqlx::query_as(&sql)
            .bind(lease.job_id)
            .bind(&lease.worker_id)
            .bind(lease.attempt)
            .bind(error)
            .bind(to_ms(now))
            .bind(retry_at.map(to_ms))
            .fetch_optional(&self.pool)
            .await?;
        state.map(|(s,)| parse_state(&s)).transpose()
    }

    async fn cancel_job(
        &self,
        id: i64,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Job> {
        let sql = format!(
            "UPDATE jobs SET \
                     state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, \
                     finished_at = CASE WHEN state = 'queued' THEN $2 ELSE finished_at END, \
                     cancel_requested = CASE WHEN state = 'running' THEN TRUE ELSE cancel_requested END, \
                     updated_at = $2 \
                     WHERE id = $1 AND ($3 IS NULL OR owner_id = $3) RETURNING {JOB_COLUMNS}"
        );
        let row: JobRow = sqlx::query_as(&sql)
            .bind(id)
            .bind(to_ms(now))
            .bind(requester)
            .fetch_one(&self.pool)
            .await?;
        row.try_into()
    }

    async fn retry_job(
        &self,
        id: i64,
        requester: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Job> {
        let sql = format!(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2, \
                     cancel_requested = FALSE, finished_at = NULL, started_at = NULL, \
                     progress_percent = NULL, progress_done = NULL, progress_total = NULL, \
                     progress_message = NULL, updated_at = $2 \
                     WHERE id = $1 AND ($3 IS NULL OR owner_id = $3) \
                     AND state IN ('dead', 'cancelled') RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(id)
            .bind(to_ms(now))
            .bind(requester)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => row.try_into(),
            None => {
                let found: Option<(Option<i64>,)> =
                    sqlx::query_as("SELECT owner_id FROM jobs WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                Err(missing_or_conflict(found, requester))
            }
        }
    }

    async fn discard_job(&self, id: i64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND state = 'dead'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let found: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT owner_id FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Err(missing_or_conflict(found, None))
    }

    async fn release_jobs(&self, worker_id: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET \
                     state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, \
                     attempts = CASE WHEN cancel_requested THEN attempts ELSE attempts - 1 END, \
                     finished_at = CASE WHEN cancel_requested THEN $2 ELSE NULL END, \
                     lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 \
                     WHERE state = 'running' AND lease_owner = $1",
        )
        .bind(worker_id)
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn requeue_expired_jobs(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let next = "CASE WHEN cancel_requested THEN 'cancelled' \
                            WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END";
        let sql = format!(
            "UPDATE jobs SET state = {next}, \
                     finished_at = CASE WHEN {next} = 'queued' THEN NULL ELSE $1 END, \
                     last_error = CASE WHEN cancel_requested THEN last_error \
                        ELSE 'lease expired: the worker stopped sending heartbeats' END, \
                     lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
                     WHERE state = 'running' AND lease_expires_at < $1"
        );
        let done = sqlx::query(&sql).bind(to_ms(now)).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn get_job(&self, id: i64) -> StoreResult<Job> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row: JobRow = sqlx::query_as(&sql).bind(id).fetch_one(&self.pool).await?;
        row.try_into()
    }

    async fn list_jobs(
        &self,
        filter: &JobFilter,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<Job>, i64)> {
        let filter_sql = "($1 IS NULL OR owner_id = $1) AND ($2 IS NULL OR state = $2) \
                                  AND ($3 IS NULL OR kind = $3)";
        let state = filter.state.map(|s| s.as_str());
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE {filter_sql} \
                     ORDER BY id DESC LIMIT $4 OFFSET $5"
        );
        let rows: Vec<JobRow> = sqlx::query_as(&sql)
            .bind(filter.owner_id)
            .bind(state)
            .bind(filter.kind.as_deref())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let (total,): (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM jobs WHERE {filter_sql}"))
                .bind(filter.owner_id)
                .bind(state)
                .bind(filter.kind.as_deref())
                .fetch_one(&self.pool)
                .await?;
        let jobs = rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?;
        Ok((jobs, total))
    }
}
