//! Admins' RFC templates: copies with their whole definition (JSON), and the on/off switch of
//! built-in templates (a row without a definition). Every write carries its audit entry, in the
//! same transaction. What a valid template is, and who may write one, is
//! `service::rfcs::catalog`'s business.

use super::audit::insert_audit_in;
use super::{Flag, NewAuditEntry, SqlStore, StoreResult};
use async_trait::async_trait;

/// One stored template row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateRow {
    /// The template's key (a built-in's, or a copy's own).
    pub key: String,
    /// A copy's definition as JSON (`model::RfcTemplate`); None switches a built-in.
    pub definition: Option<String>,
    /// Offered in the wizard.
    #[sqlx(try_from = "Flag")]
    pub enabled: bool,
    /// Last change (ms).
    pub updated_at: i64,
}

/// Stored templates.
#[async_trait]
pub trait RfcTemplateStore: Send + Sync {
    /// Every stored row, by key.
    async fn list_rfc_templates(&self) -> StoreResult<Vec<TemplateRow>>;
    /// Adds a row and its audit entry; a taken key is a `Conflict` and writes nothing.
    async fn insert_rfc_template(
        &self,
        row: &TemplateRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
    /// Writes a row (adding it if there is none) and its audit entry.
    async fn put_rfc_template(
        &self,
        row: &TemplateRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
}

#[async_trait]
impl RfcTemplateStore for SqlStore {
    async fn list_rfc_templates(&self) -> StoreResult<Vec<TemplateRow>> {
        Ok(sqlx::query_as(
            "SELECT key, definition, CAST(enabled AS INTEGER) AS enabled, updated_at \
             FROM rfc_templates ORDER BY key",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn insert_rfc_template(
        &self,
        row: &TemplateRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO rfc_templates (key, definition, enabled, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.key)
        .bind(row.definition.as_deref())
        .bind(row.enabled)
        .bind(row.updated_at)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_rfc_template(
        &self,
        row: &TemplateRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO rfc_templates (key, definition, enabled, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET definition = $2, \
             enabled = $3, updated_at = $4, updated_by = $5",
        )
        .bind(&row.key)
        .bind(row.definition.as_deref())
        .bind(row.enabled)
        .bind(row.updated_at)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
