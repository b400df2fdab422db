//! What the queue did: counts per kind and state, run times, and purging finished jobs.

use super::jobs::parse_state;
use super::{SqlStore, StoreResult, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::QueueStats;

/// Jobs of one kind that reached one final state in a window.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FinishedStats {
    /// Job kind.
    pub kind: String,
    /// `succeeded`, `dead` or `cancelled`.
    pub state: String,
    /// How many.
    pub count: i64,
    /// Mean milliseconds from the start of the last attempt to the finish (None if unknown).
    pub avg_run_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct StatsRow {
    pub kind: String,
    pub state: String,
    pub count: i64,
    pub oldest_at: Option<i64>,
}

impl StatsRow {
    pub(crate) fn into_stats(self, now: DateTime<Utc>) -> StoreResult<QueueStats> {
        Ok(QueueStats {
            state: parse_state(&self.state)?,
            kind: self.kind,
            count: self.count,
            oldest_age_ms: self.oldest_at.map(|at| (to_ms(now) - at).max(0)),
        })
    }
}

/// Queue statistics and purging.
#[async_trait]
pub trait JobStatsStore: Send + Sync {
    /// Job counts per kind and state, with the age of the oldest waiting or running job.
    async fn queue_stats(&self, now: DateTime<Utc>) -> StoreResult<Vec<QueueStats>>;
    /// Per kind and final state, how many jobs finished at or after `since` and their mean
    /// run time (start of the last attempt to finish).
    async fn finished_stats(&self, since: DateTime<Utc>) -> StoreResult<Vec<FinishedStats>>;
    /// Deletes succeeded and cancelled jobs that finished before `before` (dead jobs stay
    /// until an admin retries or discards them). Returns how many.
    async fn purge_finished_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

#[async_trait]
impl JobStatsStore for SqlStore {
    async fn queue_stats(&self, now: DateTime<Utc>) -> StoreResult<Vec<QueueStats>> {
        let rows: Vec<StatsRow> = sqlx::query_as(
            "SELECT kind, state, COUNT(*) AS count, \
                     MIN(CASE WHEN state = 'queued' AND run_after <= $1 THEN run_after \
                              WHEN state = 'running' THEN started_at END) AS oldest_at \
                     FROM jobs GROUP BY kind, state ORDER BY kind, state",
        )
        .bind(to_ms(now))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|r| r.into_stats(now)).collect()
    }

    async fn finished_stats(&self, since: DateTime<Utc>) -> StoreResult<Vec<FinishedStats>> {
        Ok(sqlx::query_as(
            "SELECT kind, state, COUNT(*) AS count, \
                     CAST(AVG(finished_at - started_at) AS BIGINT) AS avg_run_ms \
                     FROM jobs WHERE finished_at IS NOT NULL AND finished_at >= $1 \
                     GROUP BY kind, state ORDER BY kind, state",
        )
        .bind(to_ms(since))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn purge_finished_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1 \
                     AND state IN ('succeeded', 'cancelled')",
        )
        .bind(to_ms(before))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
