//! The audit log: who changed what, append-only.

use super::{SqlStore, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::AuditEntry;

/// An audit entry to insert.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (None for the command line).
    pub actor_id: Option<i64>,
    /// Their e-mail.
    pub actor_email: Option<String>,
    /// What.
    pub action: String,
    /// To what.
    pub target: String,
    /// Details, JSON text.
    pub detail: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: from_ms(r.at),
            actor_id: r.actor_id,
            actor_email: r.actor_email,
            action: r.action,
            target: r.target,
            detail: r.detail,
        }
    }
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an audit entry.
    async fn insert_audit(&self, entry: NewAuditEntry) -> StoreResult<()>;
    /// Audit entries, newest first.
    async fn list_audit(&self, limit: i64, offset: i64) -> StoreResult<(Vec<AuditEntry>, i64)>;
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit(&self, entry: NewAuditEntry) -> StoreResult<()> {
        insert_audit_in(&self.pool, &entry).await
    }

    async fn list_audit(&self, limit: i64, offset: i64) -> StoreResult<(Vec<AuditEntry>, i64)> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, actor_id, actor_email, action, target, detail FROM audit_log \
                     ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let (total,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM audit_log").fetch_one(&self.pool).await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }
}

pub(crate) async fn insert_audit_in<'e, E>(executor: E, entry: &NewAuditEntry) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_email, action, target, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(to_ms(entry.at))
    .bind(entry.actor_id)
    .bind(entry.actor_email.as_deref())
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(&entry.detail)
    .execute(executor)
    .await?;
    Ok(())
}
