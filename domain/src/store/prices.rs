//! Model prices (nano-dollars per million tokens) and the models called without one.

use super::audit::insert_audit_in;
use super::{NewAuditEntry, SqlStore, StoreResult, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A model's prices in nano-dollars per million tokens. `model` is an exact name or a prefix
/// ending in `*`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PriceRow {
    /// Model name or prefix pattern.
    pub model: String,
    /// Per million input tokens.
    pub input_per_mtok: i64,
    /// Per million output tokens.
    pub output_per_mtok: i64,
    /// Per million cached input tokens.
    pub cached_input_per_mtok: i64,
    /// Relative answer quality 0–100 for quality-aware routing (`None`: 50).
    pub quality: Option<i32>,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A model seen in the ledger without a price.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UnpricedModel {
    /// Model.
    pub model: String,
    /// Calls billed at the default price.
    pub calls: i64,
    /// Last seen (ms).
    pub last_at: i64,
}

/// Model prices.
#[async_trait]
pub trait PriceStore: Send + Sync {
    /// Every price row.
    async fn list_prices(&self) -> StoreResult<Vec<PriceRow>>;
    /// Inserts or replaces a price and records the audit entry, in one transaction.
    async fn upsert_price(
        &self,
        price: &PriceRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
    /// Models billed at the default price since `since`.
    async fn unpriced_models(&self, since: DateTime<Utc>) -> StoreResult<Vec<UnpricedModel>>;
}

#[async_trait]
impl PriceStore for SqlStore {
    async fn list_prices(&self) -> StoreResult<Vec<PriceRow>> {
        Ok(sqlx::query_as(
            "SELECT model, input_per_mtok, output_per_mtok, cached_input_per_mtok, \
                     quality, updated_at FROM llm_prices ORDER BY model",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn upsert_price(
        &self,
        price: &PriceRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO llm_prices (model, input_per_mtok, output_per_mtok, \
                     cached_input_per_mtok, updated_at, updated_by, quality) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (model) DO UPDATE SET input_per_mtok = $2, output_per_mtok = $3, \
                     cached_input_per_mtok = $4, updated_at = $5, updated_by = $6, quality = $7",
        )
        .bind(&price.model)
        .bind(price.input_per_mtok)
        .bind(price.output_per_mtok)
        .bind(price.cached_input_per_mtok)
        .bind(price.updated_at)
        .bind(by)
        .bind(price.quality)
        .execute(&mut *tx)
        .await?;
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unpriced_models(&self, since: DateTime<Utc>) -> StoreResult<Vec<UnpricedModel>> {
        Ok(sqlx::query_as(
            "SELECT model, COUNT(*) AS calls, MAX(at) AS last_at FROM llm_calls \
                     WHERE NOT price_known AND at >= $1 GROUP BY model ORDER BY 2 DESC",
        )
        .bind(to_ms(since))
        .fetch_all(&self.pool)
        .await?)
    }
}
