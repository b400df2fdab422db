//! Sync runs: one row per sync of a source, with counts and a log tail.

use super::{SqlStore, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::{SyncCounts, SyncRun};

pub(crate) const SYNC_RUN_COLUMNS: &str = "id, source_id, job_id, trigger, status, started_at, \
     finished_at, processed, total, added, updated, unchanged, deleted, errors, log, error";

#[derive(sqlx::FromRow)]
pub(crate) struct SyncRunRow {
    pub id: i64,
    pub source_id: i64,
    pub job_id: Option<i64>,
    pub trigger: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub processed: i64,
    pub total: Option<i64>,
    pub added: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub deleted: i64,
    pub errors: i64,
    pub log: String,
    pub error: Option<String>,
}

impl From<SyncRunRow> for SyncRun {
    fn from(r: SyncRunRow) -> Self {
        SyncRun {
            id: r.id,
            source_id: r.source_id,
            job_id: r.job_id,
            trigger: r.trigger,
            status: r.status,
            started_at: from_ms(r.started_at),
            finished_at: r.finished_at.map(from_ms),
            counts: SyncCounts {
                processed: r.processed,
                total: r.total,
                added: r.added,
                updated: r.updated,
                unchanged: r.unchanged,
                deleted: r.deleted,
                errors: r.errors,
            },
            log: r.log.lines().map(str::to_string).collect(),
            error: r.error,
        }
    }
}

/// Sync runs.
#[async_trait]
pub trait SyncRunStore: Send + Sync {
    /// Opens a sync run, or returns the running one of the same job (a resumed attempt).
    async fn start_sync_run(
        &self,
        source_id: i64,
        job_id: Option<i64>,
        trigger: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<SyncRun>;
    /// Stores a run's counts and log.
    async fn update_sync_run(&self, id: i64, counts: &SyncCounts, log: &str) -> StoreResult<()>;
    /// Closes a run.
    async fn finish_sync_run(
        &self,
        id: i64,
        status: &str,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A source's runs, newest first.
    async fn list_sync_runs(&self, source_id: i64, limit: i64) -> StoreResult<Vec<SyncRun>>;
}

#[async_trait]
impl SyncRunStore for SqlStore {
    async fn start_sync_run(
        &self,
        source_id: i64,
        job_id: Option<i64>,
        trigger: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<SyncRun> {
        if let Some(job_id) = job_id {
            let running: Option<SyncRunRow> = sqlx::query_as(&format!(
                "SELECT {SYNC_RUN_COLUMNS} FROM sync_runs WHERE source_id = $1 \
                             AND job_id = $2 AND status = 'running' ORDER BY id DESC LIMIT 1"
            ))
            .bind(source_id)
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = running {
                return Ok(r.into());
            }
        }
        let row: SyncRunRow = sqlx::query_as(&format!(
            "INSERT INTO sync_runs (source_id, job_id, trigger, status, started_at) \
                         VALUES ($1, $2, $3, 'running', $4) RETURNING {SYNC_RUN_COLUMNS}"
        ))
        .bind(source_id)
        .bind(job_id)
        .bind(trigger)
        .bind(to_ms(at))
        .fetch_one(&self.pool)
        .await?;
        sqlx::query("UPDATE sources SET last_status = 'running' WHERE id = $1")
            .bind(source_id)
            .execute(&self.pool)
            .await?;
        Ok(row.into())
    }

    async fn update_sync_run(&self, id: i64, counts: &SyncCounts, log: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sync_runs SET processed = $2, total = $3, added = $4, \
                         updated = $5, unchanged = $6, deleted = $7, errors = $8, log = $9 \
                         WHERE id = $1",
        )
        .bind(id)
        .bind(counts.processed)
        .bind(counts.total)
        .bind(counts.added)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.deleted)
        .bind(counts.errors)
        .bind(log)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_sync_run(
        &self,
        id: i64,
        status: &str,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sync_runs SET status = $2, error = $3, finished_at = $4 \
                         WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(error)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_sync_runs(&self, source_id: i64, limit: i64) -> StoreResult<Vec<SyncRun>> {
        let rows: Vec<SyncRunRow> = sqlx::query_as(&format!(
            "SELECT {SYNC_RUN_COLUMNS} FROM sync_runs WHERE source_id = $1 \
                         ORDER BY id DESC LIMIT $2"
        ))
        .bind(source_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
