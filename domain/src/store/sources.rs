//! Knowledge sources: settings, sealed credentials, members, visibility and the sync cursor.

use super::audit::insert_audit_in;
use super::{Flag, NewAuditEntry, SqlStore, StoreError, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A source's stored settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// `confluence`, `jira`, `gitlab`, `files`.
    pub kind: String,
    /// Connector settings, JSON text.
    pub config: String,
    /// Sealed credentials.
    pub secret: Option<String>,
    /// `everyone`, `members`, `owner`.
    pub visibility: String,
    /// Owner.
    pub owner_id: i64,
    /// Owner's e-mail.
    pub owner_email: String,
    /// Member user ids.
    pub members: Vec<i64>,
    /// Member e-mails, same order.
    pub member_emails: Vec<String>,
    /// Cron schedule.
    pub schedule: Option<String>,
    /// Scheduled syncs on.
    pub enabled: bool,
    /// Cursor of the last completed sync.
    pub cursor: Option<String>,
    /// Resume point of an interrupted sync.
    pub checkpoint: Option<String>,
    /// Last sync finished.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last sync status.
    pub last_status: Option<String>,
    /// Last sync error.
    pub last_error: Option<String>,
    /// Documents.
    pub documents: i64,
    /// Chunks.
    pub chunks: i64,
    /// Newest document's update time.
    pub newest_document_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A source to insert, or the settings that replace an existing one's.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSource {
    /// Unique name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Settings JSON text.
    pub config: String,
    /// Sealed credentials (on update: None keeps the stored ones when `keep_secret`).
    pub secret: Option<String>,
    /// Visibility.
    pub visibility: String,
    /// Owner (ignored on update).
    pub owner_id: i64,
    /// Member user ids.
    pub members: Vec<i64>,
    /// Cron schedule.
    pub schedule: Option<String>,
    /// Scheduled syncs on.
    pub enabled: bool,
    /// When.
    pub at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SourceRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub config: String,
    pub secret: Option<String>,
    pub visibility: String,
    pub owner_id: i64,
    pub owner_email: String,
    pub schedule: Option<String>,
    #[sqlx(try_from = "Flag")]
    pub enabled: bool,
    pub cursor: Option<String>,
    pub checkpoint: Option<String>,
    pub last_sync_at: Option<i64>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub documents: i64,
    pub chunks: i64,
    pub newest: Option<i64>,
    pub created_at: i64,
}

pub(crate) const SOURCE_SELECT: &str = "SELECT s.id, s.name, s.kind, s.config, s.secret, \
     s.visibility, s.owner_id, u.email AS owner_email, s.schedule, \
     CAST(s.enabled AS INTEGER) AS enabled, s.cursor, \
     s.checkpoint, s.last_sync_at, s.last_status, s.last_error, \
     (SELECT COUNT(*) FROM documents d WHERE d.source_id = s.id) AS documents, \
     (SELECT CAST(COALESCE(SUM(d.chunk_count), 0) AS BIGINT) FROM documents d \
        WHERE d.source_id = s.id) AS chunks, \
     (SELECT MAX(d.updated_at) FROM documents d WHERE d.source_id = s.id) AS newest, \
     s.created_at FROM sources s JOIN users u ON u.id = s.owner_id";

impl SourceRow {
    pub(crate) fn into_record(self, members: Vec<(i64, String)>) -> SourceRecord {
        SourceRecord {
            id: self.id,
            name: self.name,
            kind: self.kind,
            config: self.config,
            secret: self.secret,
            visibility: self.visibility,
            owner_id: self.owner_id,
            owner_email: self.owner_email,
            members: members.iter().map(|m| m.0).collect(),
            member_emails: members.into_iter().map(|m| m.1).collect(),
            schedule: self.schedule,
            enabled: self.enabled,
            cursor: self.cursor,
            checkpoint: self.checkpoint,
            last_sync_at: self.last_sync_at.map(from_ms),
            last_status: self.last_status,
            last_error: self.last_error,
            documents: self.documents,
            chunks: self.chunks,
            newest_document_at: self.newest.map(from_ms),
            created_at: from_ms(self.created_at),
        }
    }
}

/// Knowledge sources.
#[async_trait]
pub trait SourceStore: Send + Sync {
    /// Inserts a source with its members and the audit entry; Conflict on a taken name.
    async fn create_source(&self, s: &NewSource, audit: NewAuditEntry)
    -> StoreResult<SourceRecord>;
    /// Replaces a source's settings and members (the secret too unless `keep_secret`), audited.
    async fn update_source(
        &self,
        id: i64,
        s: &NewSource,
        keep_secret: bool,
        audit: NewAuditEntry,
    ) -> StoreResult<SourceRecord>;
    /// Deletes a source and everything it holds; its documents leave the index.
    async fn delete_source(&self, id: i64, audit: NewAuditEntry) -> StoreResult<()>;
    /// One source.
    async fn get_source(&self, id: i64) -> StoreResult<SourceRecord>;
    /// Every source, by name.
    async fn list_sources(&self) -> StoreResult<Vec<SourceRecord>>;
    /// Every source's id, name and kind: what a result shows, without the per-source counts.
    async fn list_source_names(&self) -> StoreResult<Vec<(i64, String, String)>>;
    /// Ids of the sources whose documents `user_id` may see.
    async fn visible_source_ids(&self, user_id: i64) -> StoreResult<Vec<i64>>;
    /// Stores where a running sync has got to (None clears it).
    async fn save_sync_checkpoint(
        &self,
        source_id: i64,
        checkpoint: Option<&str>,
    ) -> StoreResult<()>;
    /// Records a sync's end: on success the new cursor is stored and the checkpoint cleared.
    async fn finish_source_sync(
        &self,
        source_id: i64,
        cursor: Option<&str>,
        status: &str,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
}

#[async_trait]
impl SourceStore for SqlStore {
    async fn create_source(
        &self,
        s: &NewSource,
        audit: NewAuditEntry,
    ) -> StoreResult<SourceRecord> {
        let mut tx = self.pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO sources (name, kind, config, secret, visibility, owner_id, \
                         schedule, enabled, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        )
        .bind(&s.name)
        .bind(&s.kind)
        .bind(&s.config)
        .bind(s.secret.as_deref())
        .bind(&s.visibility)
        .bind(s.owner_id)
        .bind(s.schedule.as_deref())
        .bind(s.enabled)
        .bind(to_ms(s.at))
        .fetch_one(&mut *tx)
        .await?;
        for m in &s.members {
            sqlx::query("INSERT INTO source_members (source_id, user_id) VALUES ($1, $2)")
                .bind(id)
                .bind(m)
                .execute(&mut *tx)
                .await?;
        }
        let mut audit = audit;
        audit.target = format!("source:{id}");
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        self.load_source(id).await
    }

    async fn update_source(
        &self,
        id: i64,
        s: &NewSource,
        keep_secret: bool,
        audit: NewAuditEntry,
    ) -> StoreResult<SourceRecord> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sources SET name = $2, config = $3, \
                         secret = CASE WHEN $4 THEN secret ELSE $5 END, visibility = $6, \
                         schedule = $7, enabled = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(id)
        .bind(&s.name)
        .bind(&s.config)
        .bind(keep_secret)
        .bind(s.secret.as_deref())
        .bind(&s.visibility)
        .bind(s.schedule.as_deref())
        .bind(s.enabled)
        .bind(to_ms(s.at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM source_members WHERE source_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for m in &s.members {
            sqlx::query("INSERT INTO source_members (source_id, user_id) VALUES ($1, $2)")
                .bind(id)
                .bind(m)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        self.load_source(id).await
    }

    async fn delete_source(&self, id: i64, audit: NewAuditEntry) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(lock) = self.backend.lock_index_log() {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO index_log (document_id, at) \
                         SELECT id, $2 FROM documents WHERE source_id = $1",
        )
        .bind(id)
        .bind(to_ms(audit.at))
        .execute(&mut *tx)
        .await?;
        let done =
            sqlx::query("DELETE FROM sources WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_source(&self, id: i64) -> StoreResult<SourceRecord> {
        self.load_source(id).await
    }

    async fn list_sources(&self) -> StoreResult<Vec<SourceRecord>> {
        let rows: Vec<SourceRow> = sqlx::query_as(&format!("{SOURCE_SELECT} ORDER BY s.name"))
            .fetch_all(&self.pool)
            .await?;
        let all: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT m.source_id, m.user_id, u.email FROM source_members m \
                         JOIN users u ON u.id = m.user_id ORDER BY u.email",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_source: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
        for (s, u, e) in all {
            by_source.entry(s).or_default().push((u, e));
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let m = by_source.remove(&r.id).unwrap_or_default();
                r.into_record(m)
            })
            .collect())
    }

    async fn list_source_names(&self) -> StoreResult<Vec<(i64, String, String)>> {
        Ok(sqlx::query_as("SELECT id, name, kind FROM sources ORDER BY name")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn visible_source_ids(&self, user_id: i64) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT s.id FROM sources s WHERE s.visibility = 'everyone' \
                         OR s.owner_id = $1 OR (s.visibility = 'members' AND EXISTS \
                         (SELECT 1 FROM source_members m WHERE m.source_id = s.id \
                          AND m.user_id = $1)) ORDER BY s.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn save_sync_checkpoint(
        &self,
        source_id: i64,
        checkpoint: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE sources SET checkpoint = $2, last_status = 'running' WHERE id = $1")
            .bind(source_id)
            .bind(checkpoint)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn finish_source_sync(
        &self,
        source_id: i64,
        cursor: Option<&str>,
        status: &str,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let ok = status == "succeeded";
        sqlx::query(
            "UPDATE sources SET cursor = CASE WHEN $2 THEN $3 ELSE cursor END, \
                         checkpoint = CASE WHEN $2 THEN NULL ELSE checkpoint END, \
                         last_status = $4, last_error = $5, last_sync_at = $6 WHERE id = $1",
        )
        .bind(source_id)
        .bind(ok)
        .bind(cursor)
        .bind(status)
        .bind(error)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn members_of<'c, E>(exec: E, id: i64) -> StoreResult<Vec<(i64, String)>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    Ok(sqlx::query_as(
        "SELECT m.user_id, u.email FROM source_members m JOIN users u \
                     ON u.id = m.user_id WHERE m.source_id = $1 ORDER BY u.email",
    )
    .bind(id)
    .fetch_all(exec)
    .await?)
}

impl SqlStore {
    async fn load_source(&self, id: i64) -> StoreResult<SourceRecord> {
        let row: SourceRow = sqlx::query_as(&format!("{SOURCE_SELECT} WHERE s.id = $1"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let members = members_of(&self.pool, id).await?;
        Ok(row.into_record(members))
    }
}
