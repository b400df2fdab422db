//! The LLM gateway's persistence: prices, the call ledger, budgets and their atomic
//! reservations, alerts claimed once per period. One macro (`impl_llm_store!`) that both
//! backends expand, like `jobs.rs`. Money is integer nano-dollars.

use super::{NewAuditEntry, StoreResult};
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
    pub private: bool,
    /// Azure-style `api-key` header.
    pub azure: bool,
    /// Timeout.
    pub timeout_secs: i64,
    /// Retries before output.
    pub max_retries: i32,
    /// Whether routing may use it.
    pub enabled: bool,
    /// Last change (ms).
    pub updated_at: i64,
}

/// Calls and cost in one hour for one feature and model (UTC hour buckets, so days can be cut
/// in any time zone).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageBucket {
    /// Hour start, UTC ms.
    pub hour: i64,
    /// Feature.
    pub feature: String,
    /// Model.
    pub model: String,
    /// Calls (cache hits and failures included).
    pub calls: i64,
    /// Cache hits.
    pub cache_hits: i64,
    /// Input + output tokens.
    pub tokens: i64,
    /// Cost.
    pub cost_nanos: i64,
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

/// A configured limit: scope `global` or `user:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct BudgetRow {
    /// `global` or `user:<id>`.
    pub scope: String,
    /// `daily`, `weekly` or `monthly`.
    pub period: String,
    /// Limit per period.
    pub limit_nanos: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// One budget a reservation must fit: its scope, the current period and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCheck {
    /// `global` or `user:<id>`.
    pub scope: String,
    /// Start of the current period, UTC ms.
    pub period_start: i64,
    /// The limit.
    pub limit_nanos: i64,
}

/// A budget's spend in one period.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize,
)]
pub struct BudgetSpend {
    /// Settled cost.
    pub spent_nanos: i64,
    /// Open reservations.
    pub reserved_nanos: i64,
}

/// Why a reservation was refused: the first budget it would cross, with its numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRefusal {
    /// The budget.
    pub scope: String,
    /// Its limit.
    pub limit_nanos: i64,
    /// Its spend and open reservations when refused.
    pub spend: BudgetSpend,
}

/// A call to record in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLlmCall {
    /// When it started.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub user_id: Option<i64>,
    /// Which feature (`rfc.draft`, `console` …).
    pub feature: String,
    /// Provider name (`cache` for a cache hit).
    pub provider: String,
    /// Model.
    pub model: String,
    /// Tokens.
    pub input_tokens: i64,
    /// Tokens.
    pub output_tokens: i64,
    /// Tokens.
    pub cached_input_tokens: i64,
    /// What it cost.
    pub cost_nanos: i64,
    /// How long it took.
    pub latency_ms: i64,
    /// `ok`, `error`, `interrupted`, `abandoned` or `cache_hit`.
    pub outcome: String,
    /// Whether it streamed.
    pub streamed: bool,
    /// Whether the model had a price (else the default price was used).
    pub price_known: bool,
    /// The error, if any.
    pub error: Option<String>,
    /// The HTTP request that made it.
    pub request_id: Option<String>,
}

/// A ledger row as stored; callers get it as `model::LlmCall`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct LlmCallRow {
    /// Id.
    pub id: i64,
    /// When (ms).
    pub at: i64,
    /// Who.
    pub user_id: Option<i64>,
    /// Feature.
    pub feature: String,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Tokens.
    pub input_tokens: i64,
    /// Tokens.
    pub output_tokens: i64,
    /// Tokens.
    pub cached_input_tokens: i64,
    /// Cost.
    pub cost_nanos: i64,
    /// Latency.
    pub latency_ms: i64,
    /// Outcome.
    pub outcome: String,
    /// Streamed.
    pub streamed: bool,
    /// Priced from the table.
    pub price_known: bool,
    /// Error.
    pub error: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
}

/// The gateway's persistence. Each method is atomic.
#[async_trait]
pub trait LlmStore: Send + Sync {
    /// Every price row.
    async fn list_prices(&self) -> StoreResult<Vec<PriceRow>>;
    /// Inserts or replaces a price and records the audit entry, in one transaction.
    async fn upsert_price(
        &self,
        price: &PriceRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
    /// Every configured budget.
    async fn list_budgets(&self) -> StoreResult<Vec<BudgetRow>>;
    /// Inserts or replaces a budget and records the audit entry, in one transaction.
    async fn set_budget(
        &self,
        budget: &BudgetRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
    /// Reserves `amount` on every budget in `checks`, all or none: each must keep
    /// spent + reserved + amount <= limit. Err(refusal) names the first that would not.
    async fn reserve_budget(
        &self,
        checks: &[BudgetCheck],
        amount: i64,
    ) -> StoreResult<Result<(), BudgetRefusal>>;
    /// Releases `reserved` on each (scope, period_start), adds `call.cost_nanos` to its spend
    /// and records the call, in one transaction. Returns the call id and each budget's spend.
    async fn settle_budget(
        &self,
        keys: &[(String, i64)],
        reserved: i64,
        call: &NewLlmCall,
    ) -> StoreResult<(i64, Vec<BudgetSpend>)>;
    /// A budget's spend in a period (zero if nothing was spent).
    async fn budget_spend(&self, scope: &str, period_start: i64) -> StoreResult<BudgetSpend>;
    /// True for exactly one caller per (scope, period, threshold).
    async fn claim_budget_alert(
        &self,
        scope: &str,
        period_start: i64,
        threshold: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
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
    /// Hourly buckets of calls in `[since, until)`, optionally one user's.
    async fn usage_buckets(
        &self,
        user_id: Option<i64>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>>;
    /// Models billed at the default price since `since`.
    async fn unpriced_models(&self, since: DateTime<Utc>) -> StoreResult<Vec<UnpricedModel>>;
    /// Every budget's spend in the periods starting at `period_starts` (scope, start, spend).
    async fn spends_in_periods(
        &self,
        period_starts: &[i64],
    ) -> StoreResult<Vec<(String, i64, BudgetSpend)>>;
    /// Ledger rows, newest first, optionally one user's, from `since`; and the total count.
    async fn list_llm_calls(
        &self,
        user_id: Option<i64>,
        since: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<crate::model::LlmCall>, i64)>;
}

pub(crate) const CALL_COLUMNS: &str = "id, at, user_id, feature, provider, model, input_tokens, \
    output_tokens, cached_input_tokens, cost_nanos, latency_ms, outcome, streamed, price_known, \
    error, request_id";

/// Writes `impl LlmStore for $store` over a `pool: sqlx::Pool<$db>` field.
macro_rules! impl_llm_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::LlmStore for $store {
            async fn list_prices(
                &self,
            ) -> $crate::server::store::StoreResult<Vec<$crate::server::store::PriceRow>> {
                Ok(sqlx::query_as(
                    "SELECT model, input_per_mtok, output_per_mtok, cached_input_per_mtok, \
                     quality, updated_at FROM llm_prices ORDER BY model",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn upsert_price(
                &self,
                price: &$crate::server::store::PriceRow,
                by: Option<i64>,
                audit: $crate::server::store::NewAuditEntry,
            ) -> $crate::server::store::StoreResult<()> {
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

            async fn list_budgets(
                &self,
            ) -> $crate::server::store::StoreResult<Vec<$crate::server::store::BudgetRow>> {
                Ok(sqlx::query_as(
                    "SELECT scope, period, limit_nanos, updated_at FROM budgets ORDER BY scope",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn set_budget(
                &self,
                budget: &$crate::server::store::BudgetRow,
                by: Option<i64>,
                audit: $crate::server::store::NewAuditEntry,
            ) -> $crate::server::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO budgets (scope, period, limit_nanos, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope) DO UPDATE SET \
                     period = $2, limit_nanos = $3, updated_at = $4, updated_by = $5",
                )
                .bind(&budget.scope)
                .bind(&budget.period)
                .bind(budget.limit_nanos)
                .bind(budget.updated_at)
                .bind(by)
                .execute(&mut *tx)
                .await?;
                insert_audit_in(&mut *tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn reserve_budget(
                &self,
                checks: &[$crate::server::store::BudgetCheck],
                amount: i64,
            ) -> $crate::server::store::StoreResult<
                Result<(), $crate::server::store::BudgetRefusal>,
            > {
                use $crate::server::store::sql::DialectSql;
                let mut tx = match <$store as DialectSql>::BEGIN_WRITE {
                    Some(begin) => self.pool.begin_with(begin).await?,
                    None => self.pool.begin().await?,
                };
                // One lock order for every caller (PostgreSQL would otherwise risk deadlocks).
                let mut ordered: Vec<&$crate::server::store::BudgetCheck> = checks.iter().collect();
                ordered.sort_by(|a, b| (&a.scope, a.period_start).cmp(&(&b.scope, b.period_start)));
                for check in ordered {
                    sqlx::query(
                        "INSERT INTO budget_usage (scope, period_start) VALUES ($1, $2) \
                         ON CONFLICT (scope, period_start) DO NOTHING",
                    )
                    .bind(&check.scope)
                    .bind(check.period_start)
                    .execute(&mut *tx)
                    .await?;
                    let fits = sqlx::query(
                        "UPDATE budget_usage SET reserved_nanos = reserved_nanos + $3 \
                         WHERE scope = $1 AND period_start = $2 \
                         AND spent_nanos + reserved_nanos + $3 <= $4",
                    )
                    .bind(&check.scope)
                    .bind(check.period_start)
                    .bind(amount)
                    .bind(check.limit_nanos)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if !fits {
                        let spend: $crate::server::store::BudgetSpend = sqlx::query_as(
                            "SELECT spent_nanos, reserved_nanos FROM budget_usage \
                             WHERE scope = $1 AND period_start = $2",
                        )
                        .bind(&check.scope)
                        .bind(check.period_start)
                        .fetch_one(&mut *tx)
                        .await?;
                        tx.rollback().await?;
                        return Ok(Err($crate::server::store::BudgetRefusal {
                            scope: check.scope.clone(),
                            limit_nanos: check.limit_nanos,
                            spend,
                        }));
                    }
                }
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn settle_budget(
                &self,
                keys: &[(String, i64)],
                reserved: i64,
                call: &$crate::server::store::NewLlmCall,
            ) -> $crate::server::store::StoreResult<(i64, Vec<$crate::server::store::BudgetSpend>)>
            {
                use $crate::server::store::sql::DialectSql;
                let mut tx = match <$store as DialectSql>::BEGIN_WRITE {
                    Some(begin) => self.pool.begin_with(begin).await?,
                    None => self.pool.begin().await?,
                };
                let mut spends = Vec::with_capacity(keys.len());
                let mut ordered: Vec<(usize, &(String, i64))> = keys.iter().enumerate().collect();
                ordered.sort_by(|a, b| a.1.cmp(b.1));
                let mut by_index = vec![$crate::server::store::BudgetSpend::default(); keys.len()];
                for (index, (scope, period_start)) in ordered {
                    sqlx::query(
                        "INSERT INTO budget_usage (scope, period_start) VALUES ($1, $2) \
                         ON CONFLICT (scope, period_start) DO NOTHING",
                    )
                    .bind(scope)
                    .bind(period_start)
                    .execute(&mut *tx)
                    .await?;
                    let spend: $crate::server::store::BudgetSpend = sqlx::query_as(
                        "UPDATE budget_usage SET \
                         reserved_nanos = CASE WHEN reserved_nanos > $3 THEN reserved_nanos - $3 ELSE 0 END, \
                         spent_nanos = spent_nanos + $4 \
                         WHERE scope = $1 AND period_start = $2 \
                         RETURNING spent_nanos, reserved_nanos",
                    )
                    .bind(scope)
                    .bind(period_start)
                    .bind(reserved)
                    .bind(call.cost_nanos)
                    .fetch_one(&mut *tx)
                    .await?;
                    by_index[index] = spend;
                }
                spends.extend(by_index);
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO llm_calls (at, user_id, feature, provider, model, input_tokens, \
                     output_tokens, cached_input_tokens, cost_nanos, latency_ms, outcome, streamed, \
                     price_known, error, request_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     RETURNING id",
                )
                .bind($crate::server::store::to_ms(call.at))
                .bind(call.user_id)
                .bind(&call.feature)
                .bind(&call.provider)
                .bind(&call.model)
                .bind(call.input_tokens)
                .bind(call.output_tokens)
                .bind(call.cached_input_tokens)
                .bind(call.cost_nanos)
                .bind(call.latency_ms)
                .bind(&call.outcome)
                .bind(call.streamed)
                .bind(call.price_known)
                .bind(call.error.as_deref())
                .bind(call.request_id.as_deref())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((id, spends))
            }

            async fn budget_spend(
                &self,
                scope: &str,
                period_start: i64,
            ) -> $crate::server::store::StoreResult<$crate::server::store::BudgetSpend> {
                let spend: Option<$crate::server::store::BudgetSpend> = sqlx::query_as(
                    "SELECT spent_nanos, reserved_nanos FROM budget_usage \
                     WHERE scope = $1 AND period_start = $2",
                )
                .bind(scope)
                .bind(period_start)
                .fetch_optional(&self.pool)
                .await?;
                Ok(spend.unwrap_or_default())
            }

            async fn claim_budget_alert(
                &self,
                scope: &str,
                period_start: i64,
                threshold: i32,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::server::store::StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO budget_alerts (scope, period_start, threshold, at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (scope, period_start, threshold) DO NOTHING",
                )
                .bind(scope)
                .bind(period_start)
                .bind(threshold)
                .bind($crate::server::store::to_ms(at))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn list_llm_providers(
                &self,
            ) -> $crate::server::store::StoreResult<Vec<$crate::server::store::ProviderRow>> {
                Ok(sqlx::query_as(
                    "SELECT name, kind, base_url, api_key_enc, private, azure, timeout_secs, \
                     max_retries, enabled, updated_at FROM llm_providers ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn upsert_llm_provider(
                &self,
                row: &$crate::server::store::ProviderRow,
                by: Option<i64>,
                audit: $crate::server::store::NewAuditEntry,
            ) -> $crate::server::store::StoreResult<()> {
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

            async fn delete_llm_provider(
                &self,
                name: &str,
                audit: $crate::server::store::NewAuditEntry,
            ) -> $crate::server::store::StoreResult<bool> {
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

            async fn list_llm_settings(
                &self,
            ) -> $crate::server::store::StoreResult<Vec<(String, String)>> {
                Ok(sqlx::query_as("SELECT key, value FROM llm_settings ORDER BY key")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn put_llm_setting(
                &self,
                key: &str,
                value: &str,
                by: Option<i64>,
                audit: $crate::server::store::NewAuditEntry,
            ) -> $crate::server::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO llm_settings (key, value, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET \
                     value = $2, updated_at = $3, updated_by = $4",
                )
                .bind(key)
                .bind(value)
                .bind($crate::server::store::to_ms(chrono::Utc::now()))
                .bind(by)
                .execute(&mut *tx)
                .await?;
                insert_audit_in(&mut *tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn usage_buckets(
                &self,
                user_id: Option<i64>,
                since: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::server::store::StoreResult<Vec<$crate::server::store::UsageBucket>> {
                Ok(sqlx::query_as(
                    "SELECT (at / 3600000) * 3600000 AS hour, feature, model, \
                     COUNT(*) AS calls, \
                     CAST(SUM(CASE WHEN outcome = 'cache_hit' THEN 1 ELSE 0 END) AS BIGINT) \
                     AS cache_hits, \
                     CAST(SUM(input_tokens + output_tokens + cached_input_tokens) AS BIGINT) \
                     AS tokens, CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos \
                     FROM llm_calls WHERE ($1 IS NULL OR user_id = $1) AND at >= $2 AND at < $3 \
                     GROUP BY 1, 2, 3 ORDER BY 1",
                )
                .bind(user_id)
                .bind($crate::server::store::to_ms(since))
                .bind($crate::server::store::to_ms(until))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn unpriced_models(
                &self,
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::server::store::StoreResult<Vec<$crate::server::store::UnpricedModel>> {
                Ok(sqlx::query_as(
                    "SELECT model, COUNT(*) AS calls, MAX(at) AS last_at FROM llm_calls \
                     WHERE NOT price_known AND at >= $1 GROUP BY model ORDER BY 2 DESC",
                )
                .bind($crate::server::store::to_ms(since))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn spends_in_periods(
                &self,
                period_starts: &[i64],
            ) -> $crate::server::store::StoreResult<
                Vec<(String, i64, $crate::server::store::BudgetSpend)>,
            > {
                let mut out = Vec::new();
                for start in period_starts {
                    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
                        "SELECT scope, period_start, spent_nanos, reserved_nanos FROM budget_usage \
                         WHERE period_start = $1",
                    )
                    .bind(start)
                    .fetch_all(&self.pool)
                    .await?;
                    out.extend(rows.into_iter().map(|(scope, start, spent, reserved)| {
                        (
                            scope,
                            start,
                            $crate::server::store::BudgetSpend {
                                spent_nanos: spent,
                                reserved_nanos: reserved,
                            },
                        )
                    }));
                }
                Ok(out)
            }

            async fn list_llm_calls(
                &self,
                user_id: Option<i64>,
                since: chrono::DateTime<chrono::Utc>,
                limit: i64,
                offset: i64,
            ) -> $crate::server::store::StoreResult<(Vec<$crate::model::LlmCall>, i64)> {
                use $crate::server::store::llm::{LlmCallRow, CALL_COLUMNS};
                let filter = "($1 IS NULL OR user_id = $1) AND at >= $2";
                let rows: Vec<LlmCallRow> = sqlx::query_as(&format!(
                    "SELECT {CALL_COLUMNS} FROM llm_calls WHERE {filter} \
                     ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4"
                ))
                .bind(user_id)
                .bind($crate::server::store::to_ms(since))
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                let (total,): (i64,) =
                    sqlx::query_as(&format!("SELECT COUNT(*) FROM llm_calls WHERE {filter}"))
                        .bind(user_id)
                        .bind($crate::server::store::to_ms(since))
                        .fetch_one(&self.pool)
                        .await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }
        }
    };
}

impl From<LlmCallRow> for crate::model::LlmCall {
    fn from(r: LlmCallRow) -> Self {
        crate::model::LlmCall {
            id: r.id,
            at: super::from_ms(r.at),
            user_id: r.user_id,
            feature: r.feature,
            provider: r.provider,
            model: r.model,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cached_input_tokens: r.cached_input_tokens,
            cost_nanos: r.cost_nanos,
            latency_ms: r.latency_ms,
            outcome: r.outcome,
            streamed: r.streamed,
            price_known: r.price_known,
            error: r.error,
            request_id: r.request_id,
        }
    }
}
