//! LLM providers an admin added (keys sealed) and the gateway's stored settings.

use super::audit::insert_audit_in;
use super::{Flag, NewAuditEntry, SqlStore, StoreResult, to_ms};
use async_trait::async_trait;

/// A provider an admin added at run time. The key is stored encrypted (`v1:` + base64); the
/// deployment's secret key that opens it is never in the database.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct ProviderRow {
    /// Unique name.
    pub name: String,
    /// `openai`, `anthropic` or `ollama`.
    pub kind: String,
    /// Base URL.
    pub base_url: String,
    /// The sealed API key.
    pub api_key_enc: Option<String>,
    /// Runs on our own hardware.
    #[sqlx(try_from = "Flag")]
    pub private: bool,
    /// Azure-style `api-key` header.
    #[sqlx(try_from = "Flag")]
    pub azure: bool,
    /// Timeout.
    pub timeout_secs: i64,
    /// Retries before output.
    pub max_retries: i32,
    /// Whether routing may use it.
    #[sqlx(try_from = "Flag")]
    pub enabled: bool,
    /// Last change (ms).
    pub updated_at: i64,
}

/// Providers and gateway settings.
#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// Providers added at run time.
    async fn list_llm_providers(&self) -> StoreResult<Vec<ProviderRow>>;
    /// Inserts or replaces a provider and records the audit entry, in one transaction.
    async fn upsert_llm_provider(
        &self,
        row: &ProviderRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
    /// Deletes a provider (false if there was none) and records the audit entry.
    async fn delete_llm_provider(&self, name: &str, audit: NewAuditEntry) -> StoreResult<bool>;
    /// Every run-time setting: key → JSON text.
    async fn list_llm_settings(&self) -> StoreResult<Vec<(String, String)>>;
    /// Sets one run-time setting and records the audit entry, in one transaction.
    async fn put_llm_setting(
        &self,
        key: &str,
        value: &str,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
}

#[async_trait]
impl ProviderStore for SqlStore {
    async fn list_llm_providers(&self) -> StoreResult<Vec<ProviderRow>> {
        Ok(sqlx::query_as(
            "SELECT name, kind, base_url, api_key_enc, CAST(private AS INTEGER) AS private, \
                     CAST(azure AS INTEGER) AS azure, timeout_secs, max_retries, \
                     CAST(enabled AS INTEGER) AS enabled, updated_at FROM llm_providers ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn upsert_llm_provider(
        &self,
        row: &ProviderRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO llm_providers (name, kind, base_url, api_key_enc, private, azure, \
                     timeout_secs, max_retries, enabled, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (name) DO UPDATE SET kind = $2, base_url = $3, api_key_enc = $4, \
                     private = $5, azure = $6, timeout_secs = $7, max_retries = $8, enabled = $9, \
                     updated_at = $10, updated_by = $11",
        )
        .bind(&row.name)
        .bind(&row.kind)
        .bind(&row.base_url)
        .bind(row.api_key_enc.as_deref())
        .bind(row.private)
        .bind(row.azure)
        .bind(row.timeout_secs)
        .bind(row.max_retries)
        .bind(row.enabled)
        .bind(row.updated_at)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_llm_provider(&self, name: &str, audit: NewAuditEntry) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM llm_providers WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if gone {
            insert_audit_in(&mut *tx, &audit).await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    async fn list_llm_settings(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT key, value FROM llm_settings ORDER BY key")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn put_llm_setting(
        &self,
        key: &str,
        value: &str,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO llm_settings (key, value, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET \
                     value = $2, updated_at = $3, updated_by = $4",
        )
        .bind(key)
        .bind(value)
        .bind(to_ms(chrono::Utc::now()))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
