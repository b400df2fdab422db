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
    /// `ok`, `error`, `interrupted`, `abandoned`, `cache_hit` or `orphaned`.
    pub outcome: String,
    /// Whether it streamed.
    pub streamed: bool,
    /// Whether the model had a price (else the default price was used).
    pub price_known: bool,
    /// The error, if any.
    pub error: Option<String>,
    /// The HTTP request that made it.
    pub request_id: Option<String>,
    /// Some token count was our estimate, not the provider's report.
    pub usage_estimated: bool,
}

/// An admitted call's hold on its budgets, kept until the call settles: who serves it (and
/// renews it) and what is known to price it if that instance dies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReservation {
    /// The instance serving the call.
    pub owner: String,
    /// When a reaper may take the call for lost unless the owner renews it.
    pub expires_at: DateTime<Utc>,
    /// When the call started.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub user_id: Option<i64>,
    /// Feature.
    pub feature: String,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Our estimate of the prompt's tokens (billed if the call is lost).
    pub prompt_tokens: i64,
    /// Input price, nano-dollars per million tokens.
    pub input_per_mtok: i64,
    /// Whether it streams.
    pub streamed: bool,
    /// Whether the price table knew the model.
    pub price_known: bool,
    /// The HTTP request that made it.
    pub request_id: Option<String>,
}

/// An open reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReservationRow {
    /// Id.
    pub id: i64,
    /// The instance serving the call.
    pub owner: String,
    /// Expiry (ms).
    pub expires_at: i64,
    /// Held on each budget.
    pub amount_nanos: i64,
    /// JSON `[[scope, period_start], …]`.
    pub budgets: String,
    /// Start (ms).
    pub at: i64,
    /// Who.
    pub user_id: Option<i64>,
    /// Feature.
    pub feature: String,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Estimated prompt tokens.
    pub prompt_tokens: i64,
    /// Input price per million tokens.
    pub input_per_mtok: i64,
    /// Streamed.
    pub streamed: bool,
    /// Priced from the table.
    pub price_known: bool,
    /// Request id.
    pub request_id: Option<String>,
}

impl ReservationRow {
    /// The budgets it holds money on.
    pub fn keys(&self) -> Vec<(String, i64)> {
        serde_json::from_str(&self.budgets).unwrap_or_default()
    }
}

pub(crate) fn budget_keys_json(keys: &[(String, i64)]) -> String {
    serde_json::to_string(keys).unwrap_or_else(|_| "[]".into())
}

/// `items` in the one order every transaction takes budget rows in — by (scope, period), as
/// `budget_batch` locks them — so no two transactions can wait on each other.
pub(crate) fn lock_order<T>(items: &[T], key: impl Fn(&T) -> (&String, i64)) -> Vec<&T> {
    let mut out: Vec<&T> = items.iter().collect();
    out.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        (ka.0, ka.1).cmp(&(kb.0, kb.1))
    });
    out
}

/// Holds `$3` on a budget in one statement if spent + reserved + `$3` stays within `$4`
/// (creating the period's row on first use); affects no row when it would not fit.
pub(crate) const RESERVE_SQL: &str = "INSERT INTO budget_usage (scope, period_start, reserved_nanos) \
     SELECT $1, $2, $3 WHERE $3 <= $4 \
     ON CONFLICT (scope, period_start) DO UPDATE \
     SET reserved_nanos = budget_usage.reserved_nanos + $3 \
     WHERE budget_usage.spent_nanos + budget_usage.reserved_nanos + $3 <= $4";

/// Releases `$3` of a budget's hold and adds `$4` to its spend, in one statement.
pub(crate) const SETTLE_SQL: &str = "INSERT INTO budget_usage (scope, period_start, spent_nanos) \
     VALUES ($1, $2, $4) \
     ON CONFLICT (scope, period_start) DO UPDATE SET \
     reserved_nanos = CASE WHEN budget_usage.reserved_nanos > $3 \
     THEN budget_usage.reserved_nanos - $3 ELSE 0 END, \
     spent_nanos = budget_usage.spent_nanos + $4 \
     RETURNING spent_nanos, reserved_nanos";

pub(crate) const INSERT_CALL_SQL: &str = "INSERT INTO llm_calls (at, user_id, feature, provider, \
     model, input_tokens, output_tokens, cached_input_tokens, cost_nanos, latency_ms, outcome, \
     streamed, price_known, error, request_id, usage_estimated) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id";

pub(crate) const UPDATE_CALL_SQL: &str = "UPDATE llm_calls SET at = $1, user_id = $2, \
     feature = $3, provider = $4, model = $5, input_tokens = $6, output_tokens = $7, \
     cached_input_tokens = $8, cost_nanos = $9, latency_ms = $10, outcome = $11, streamed = $12, \
     price_known = $13, error = $14, request_id = $15, usage_estimated = $16 WHERE id = $17";

/// Records an admitted call's hold (bound by `bind_hold!`).
pub(crate) const INSERT_HOLD_SQL: &str = "INSERT INTO llm_reservations (owner, expires_at, \
     amount_nanos, budgets, at, user_id, feature, provider, model, prompt_tokens, input_per_mtok, \
     streamed, price_known, request_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id";

/// Binds a `NewReservation`, its amount and its budgets' JSON as `$1`…`$14` of
/// `INSERT_HOLD_SQL`.
macro_rules! bind_hold {
    ($query:expr, $hold:expr, $amount:expr, $budgets:expr) => {
        $query
            .bind(&$hold.owner)
            .bind($crate::store::to_ms($hold.expires_at))
            .bind($amount)
            .bind($budgets)
            .bind($crate::store::to_ms($hold.at))
            .bind($hold.user_id)
            .bind(&$hold.feature)
            .bind(&$hold.provider)
            .bind(&$hold.model)
            .bind($hold.prompt_tokens)
            .bind($hold.input_per_mtok)
            .bind($hold.streamed)
            .bind($hold.price_known)
            .bind($hold.request_id.as_deref())
    };
}
pub(crate) use bind_hold;

/// Binds a `NewLlmCall` as `$1`…`$16` of `INSERT_CALL_SQL` / `UPDATE_CALL_SQL`.
macro_rules! bind_call {
    ($query:expr, $call:expr) => {
        $query
            .bind($crate::store::to_ms($call.at))
            .bind($call.user_id)
            .bind(&$call.feature)
            .bind(&$call.provider)
            .bind(&$call.model)
            .bind($call.input_tokens)
            .bind($call.output_tokens)
            .bind($call.cached_input_tokens)
            .bind($call.cost_nanos)
            .bind($call.latency_ms)
            .bind(&$call.outcome)
            .bind($call.streamed)
            .bind($call.price_known)
            .bind($call.error.as_deref())
            .bind($call.request_id.as_deref())
            .bind($call.usage_estimated)
    };
}
pub(crate) use bind_call;

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
    /// Some token count was estimated.
    pub usage_estimated: bool,
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
    /// spent + reserved + amount <= limit. The hold is recorded with its owner and expiry, so a
    /// reaper can settle it if the owner dies. Ok(reservation id); Err(refusal) names the first
    /// budget that would not fit.
    async fn reserve_budget(
        &self,
        checks: &[BudgetCheck],
        amount: i64,
        hold: &NewReservation,
    ) -> StoreResult<Result<i64, BudgetRefusal>>;
    /// Settles a call once, in one transaction: releases `reserved` on each (scope,
    /// period_start), adds `call.cost_nanos` to its spend, drops the reservation and records
    /// the call. A call the reaper already recorded as orphaned takes over that ledger row and
    /// moves only the difference. `None`: nothing was reserved (a cache hit). Returns the call
    /// id and each budget's spend.
    async fn settle_budget(
        &self,
        reservation: Option<i64>,
        keys: &[(String, i64)],
        reserved: i64,
        call: &NewLlmCall,
    ) -> StoreResult<(i64, Vec<BudgetSpend>)>;
    /// Moves the expiry of `owner`'s open reservations `ids` (its heartbeat: the calls it is
    /// still serving); returns how many.
    async fn renew_reservations(
        &self,
        owner: &str,
        ids: &[i64],
        expires_at: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Up to `limit` open reservations that expired before `now`, oldest first (and forgets
    /// reaped ones older than a day).
    async fn expired_reservations(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ReservationRow>>;
    /// Settles an expired reservation as `call` (an `orphaned` ledger row): releases the hold,
    /// adds the cost, marks the reservation reaped. None if another reaper took it or its owner
    /// settled or renewed it meanwhile.
    async fn reap_reservation(
        &self,
        row: &ReservationRow,
        call: &NewLlmCall,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(i64, Vec<BudgetSpend>)>>;
    /// Runs many reservations and settlements in one transaction, each decided exactly as if it
    /// ran alone in order (`plan_batch`), with every touched budget row read, locked and
    /// written once: the hot `global` row costs one update per batch instead of two per call.
    async fn budget_batch(&self, ops: &[BudgetOp]) -> StoreResult<Vec<BudgetOpResult>>;
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
    ) -> StoreResult<(Vec<model::LlmCall>, i64)>;
}

pub(crate) const CALL_COLUMNS: &str = "id, at, user_id, feature, provider, model, input_tokens, \
    output_tokens, cached_input_tokens, cost_nanos, latency_ms, outcome, streamed, price_known, \
    error, request_id, usage_estimated";

/// Writes `impl LlmStore for $store` over a `pool: sqlx::Pool<$db>` field.
macro_rules! impl_llm_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::LlmStore for $store {
            async fn list_prices(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::PriceRow>> {
                Ok(sqlx::query_as(
                    "SELECT model, input_per_mtok, output_per_mtok, cached_input_per_mtok, \
                     quality, updated_at FROM llm_prices ORDER BY model",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn upsert_price(
                &self,
                price: &$crate::store::PriceRow,
                by: Option<i64>,
                audit: $crate::store::NewAuditEntry,
            ) -> $crate::store::StoreResult<()> {
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
            ) -> $crate::store::StoreResult<Vec<$crate::store::BudgetRow>> {
                Ok(sqlx::query_as(
                    "SELECT scope, period, limit_nanos, updated_at FROM budgets ORDER BY scope",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn set_budget(
                &self,
                budget: &$crate::store::BudgetRow,
                by: Option<i64>,
                audit: $crate::store::NewAuditEntry,
            ) -> $crate::store::StoreResult<()> {
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
                checks: &[$crate::store::BudgetCheck],
                amount: i64,
                hold: &$crate::store::NewReservation,
            ) -> $crate::store::StoreResult<
                Result<i64, $crate::store::BudgetRefusal>,
            > {
                use $crate::store::llm::{
                    budget_keys_json, lock_order, INSERT_HOLD_SQL, RESERVE_SQL,
                };
                use $crate::store::sql::DialectSql;
                let keys: Vec<(String, i64)> =
                    checks.iter().map(|c| (c.scope.clone(), c.period_start)).collect();
                let mut tx = match <$store as DialectSql>::BEGIN_WRITE {
                    Some(begin) => self.pool.begin_with(begin).await?,
                    None => self.pool.begin().await?,
                };
                let budgets = budget_keys_json(&keys);
                let (id,): (i64,) = $crate::store::llm::bind_hold!(
                    sqlx::query_as(INSERT_HOLD_SQL),
                    hold,
                    amount,
                    budgets
                )
                .fetch_one(&mut *tx)
                .await?;
                // One statement per budget, in the one lock order (no deadlocks).
                let mut refused = None;
                for check in lock_order(checks, |c| (&c.scope, c.period_start)) {
                    let fits = sqlx::query(RESERVE_SQL)
                        .bind(&check.scope)
                        .bind(check.period_start)
                        .bind(amount)
                        .bind(check.limit_nanos)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                    if !fits {
                        refused = Some(check);
                        break;
                    }
                }
                let Some(check) = refused else {
                    tx.commit().await?;
                    return Ok(Ok(id));
                };
                tx.rollback().await?;
                let spend = self.budget_spend(&check.scope, check.period_start).await?;
                Ok(Err($crate::store::BudgetRefusal {
                    scope: check.scope.clone(),
                    limit_nanos: check.limit_nanos,
                    spend,
                }))
            }

            async fn settle_budget(
                &self,
                reservation: Option<i64>,
                keys: &[(String, i64)],
                reserved: i64,
                call: &$crate::store::NewLlmCall,
            ) -> $crate::store::StoreResult<(i64, Vec<$crate::store::BudgetSpend>)>
            {
                use $crate::store::llm::{lock_order, INSERT_CALL_SQL, SETTLE_SQL, UPDATE_CALL_SQL};
                use $crate::store::sql::DialectSql;
                let mut tx = match <$store as DialectSql>::BEGIN_WRITE {
                    Some(begin) => self.pool.begin_with(begin).await?,
                    None => self.pool.begin().await?,
                };
                // Normally the reservation is released and the cost added. If the reaper took
                // the call for lost (its owner stopped renewing), it already released the hold
                // and wrote an 'orphaned' row: that row becomes this call's, and only the
                // difference in cost moves.
                let (mut release, mut charge, mut reaped) = (reserved, call.cost_nanos, None);
                if let Some(id) = reservation {
                    let row: Option<(Option<i64>,)> = sqlx::query_as(
                        "DELETE FROM llm_reservations WHERE id = $1 RETURNING reaped_call_id",
                    )
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match row {
                        Some((None,)) => {}
                        Some((Some(call_id),)) => {
                            let (billed,): (i64,) =
                                sqlx::query_as("SELECT cost_nanos FROM llm_calls WHERE id = $1")
                                    .bind(call_id)
                                    .fetch_one(&mut *tx)
                                    .await?;
                            release = 0;
                            charge = call.cost_nanos - billed;
                            reaped = Some(call_id);
                        }
                        // Reaped more than a day ago and forgotten: the hold is long released.
                        None => release = 0,
                    }
                }
                let id = match reaped {
                    Some(call_id) => {
                        $crate::store::llm::bind_call!(sqlx::query(UPDATE_CALL_SQL), call)
                            .bind(call_id)
                            .execute(&mut *tx)
                            .await?;
                        call_id
                    }
                    None => {
                        let (id,): (i64,) = $crate::store::llm::bind_call!(
                            sqlx::query_as(INSERT_CALL_SQL),
                            call
                        )
                        .fetch_one(&mut *tx)
                        .await?;
                        id
                    }
                };
                let mut spends = vec![$crate::store::BudgetSpend::default(); keys.len()];
                let indexed: Vec<(usize, &(String, i64))> = keys.iter().enumerate().collect();
                for (index, (scope, period_start)) in lock_order(&indexed, |(_, k)| (&k.0, k.1)) {
                    spends[*index] = sqlx::query_as(SETTLE_SQL)
                        .bind(scope)
                        .bind(period_start)
                        .bind(release)
                        .bind(charge)
                        .fetch_one(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok((id, spends))
            }

            async fn renew_reservations(
                &self,
                owner: &str,
                ids: &[i64],
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<u64> {
                let mut renewed = 0;
                for chunk in ids.chunks(500) {
                    let mut update = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE llm_reservations SET expires_at = ",
                    );
                    update.push_bind($crate::store::to_ms(expires_at));
                    update.push(" WHERE owner = ").push_bind(owner);
                    update.push(" AND reaped_call_id IS NULL AND id IN (");
                    let mut list = update.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    update.push(")");
                    renewed += update.build().execute(&self.pool).await?.rows_affected();
                }
                Ok(renewed)
            }

            async fn expired_reservations(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::ReservationRow>> {
                // Reaped holds are kept a day (a slow call still corrects its row), then go.
                sqlx::query(
                    "DELETE FROM llm_reservations WHERE reaped_call_id IS NOT NULL \
                     AND expires_at < $1",
                )
                .bind($crate::store::to_ms(now) - 86_400_000)
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_as(
                    "SELECT id, owner, expires_at, amount_nanos, budgets, at, user_id, feature, \
                     provider, model, prompt_tokens, input_per_mtok, streamed, price_known, \
                     request_id FROM llm_reservations \
                     WHERE reaped_call_id IS NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2",
                )
                .bind($crate::store::to_ms(now))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn reap_reservation(
                &self,
                row: &$crate::store::ReservationRow,
                call: &$crate::store::NewLlmCall,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<(i64, Vec<$crate::store::BudgetSpend>)>>
            {
                use $crate::store::llm::{lock_order, INSERT_CALL_SQL, SETTLE_SQL};
                use $crate::store::sql::DialectSql;
                let mut tx = match <$store as DialectSql>::BEGIN_WRITE {
                    Some(begin) => self.pool.begin_with(begin).await?,
                    None => self.pool.begin().await?,
                };
                // Claim it: only one reaper wins, and not if it settled or was renewed meanwhile.
                let claimed = sqlx::query(
                    "UPDATE llm_reservations SET reaped_call_id = 0 \
                     WHERE id = $1 AND reaped_call_id IS NULL AND expires_at < $2",
                )
                .bind(row.id)
                .bind($crate::store::to_ms(now))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !claimed {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let (id,): (i64,) =
                    $crate::store::llm::bind_call!(sqlx::query_as(INSERT_CALL_SQL), call)
                        .fetch_one(&mut *tx)
                        .await?;
                sqlx::query("UPDATE llm_reservations SET reaped_call_id = $2 WHERE id = $1")
                    .bind(row.id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let keys = row.keys();
                let mut spends = vec![$crate::store::BudgetSpend::default(); keys.len()];
                let indexed: Vec<(usize, &(String, i64))> = keys.iter().enumerate().collect();
                for (index, (scope, period_start)) in lock_order(&indexed, |(_, k)| (&k.0, k.1)) {
                    spends[*index] = sqlx::query_as(SETTLE_SQL)
                        .bind(scope)
                        .bind(period_start)
                        .bind(row.amount_nanos)
                        .bind(call.cost_nanos)
                        .fetch_one(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Some((id, spends)))
            }

            async fn budget_batch(
                &self,
                ops: &[$crate::store::BudgetOp],
            ) -> $crate::store::StoreResult<Vec<$crate::store::BudgetOpResult>> {
                use $crate::store::llm::{
                    batch_keys, budget_keys_json, plan_batch, Planned, INSERT_CALL_SQL,
                    INSERT_HOLD_SQL, UPDATE_CALL_SQL,
                };
                use $crate::store::sql::DialectSql;
                use $crate::store::{BudgetOp, BudgetOpResult, BudgetSpend};
                use std::collections::{BTreeMap, HashMap};
                if ops.is_empty() {
                    return Ok(Vec::new());
                }
                let keys = batch_keys(ops);
                let mut tx = match <$store as DialectSql>::BEGIN_WRITE {
                    Some(begin) => self.pool.begin_with(begin).await?,
                    None => self.pool.begin().await?,
                };
                // The holds of the settlements go first, in one statement (reservation rows before
                // budget rows, the reaper's lock order); a reaped one names the orphaned ledger row
                // this call takes over.
                let ids: Vec<i64> = ops
                    .iter()
                    .filter_map(|op| match op {
                        BudgetOp::Settle { reservation, .. } => *reservation,
                        BudgetOp::Reserve { .. } => None,
                    })
                    .collect();
                let mut deleted: HashMap<i64, Option<i64>> = HashMap::new();
                let mut reaped_costs: HashMap<i64, i64> = HashMap::new();
                for chunk in ids.chunks(500) {
                    let mut delete =
                        sqlx::QueryBuilder::<$db>::new("DELETE FROM llm_reservations WHERE id IN (");
                    let mut list = delete.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    delete.push(") RETURNING id, reaped_call_id");
                    let gone: Vec<(i64, Option<i64>)> =
                        delete.build_query_as().fetch_all(&mut *tx).await?;
                    for (id, reaped) in gone {
                        if let Some(call_id) = reaped {
                            let (cost,): (i64,) =
                                sqlx::query_as("SELECT cost_nanos FROM llm_calls WHERE id = $1")
                                    .bind(call_id)
                                    .fetch_one(&mut *tx)
                                    .await?;
                            reaped_costs.insert(call_id, cost);
                        }
                        deleted.insert(id, reaped);
                    }
                }
                // Each touched budget row is created if missing and locked, in sorted order, by
                // one statement (a no-op update takes the row lock on PostgreSQL; SQLite's write
                // transaction already excludes other writers), and read once for the batch.
                let mut rows = BTreeMap::new();
                for chunk in keys.chunks(200) {
                    let mut upsert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO budget_usage (scope, period_start) ",
                    );
                    upsert.push_values(chunk, |mut b, (scope, start)| {
                        b.push_bind(scope).push_bind(*start);
                    });
                    upsert.push(
                        " ON CONFLICT (scope, period_start) DO UPDATE \
                         SET spent_nanos = budget_usage.spent_nanos \
                         RETURNING scope, period_start, spent_nanos, reserved_nanos",
                    );
                    let found: Vec<(String, i64, i64, i64)> =
                        upsert.build_query_as().fetch_all(&mut *tx).await?;
                    for (scope, start, spent_nanos, reserved_nanos) in found {
                        rows.insert((scope, start), BudgetSpend { spent_nanos, reserved_nanos });
                    }
                }
                let plan = plan_batch(ops, rows, &deleted, &reaped_costs);
                let mut out = Vec::with_capacity(ops.len());
                for (op, planned) in ops.iter().zip(plan.ops) {
                    match (op, planned) {
                        (BudgetOp::Reserve { checks, amount, hold }, Planned::Reserve(Ok(()))) => {
                            let keys: Vec<(String, i64)> =
                                checks.iter().map(|c| (c.scope.clone(), c.period_start)).collect();
                            let budgets = budget_keys_json(&keys);
                            let (id,): (i64,) = $crate::store::llm::bind_hold!(
                                sqlx::query_as(INSERT_HOLD_SQL),
                                hold,
                                *amount,
                                budgets
                            )
                            .fetch_one(&mut *tx)
                            .await?;
                            out.push(BudgetOpResult::Reserved(Ok(id)));
                        }
                        (_, Planned::Reserve(Err(refusal))) => {
                            out.push(BudgetOpResult::Reserved(Err(refusal)));
                        }
                        (BudgetOp::Settle { call, .. }, Planned::Settle { reaped, spends }) => {
                            let id = match reaped {
                                Some(call_id) => {
                                    $crate::store::llm::bind_call!(
                                        sqlx::query(UPDATE_CALL_SQL),
                                        call
                                    )
                                    .bind(call_id)
                                    .execute(&mut *tx)
                                    .await?;
                                    call_id
                                }
                                None => {
                                    let (id,): (i64,) = $crate::store::llm::bind_call!(
                                        sqlx::query_as(INSERT_CALL_SQL),
                                        call
                                    )
                                    .fetch_one(&mut *tx)
                                    .await?;
                                    id
                                }
                            };
                            out.push(BudgetOpResult::Settled(id, spends));
                        }
                        _ => {
                            return Err($crate::store::StoreError::Other(anyhow::anyhow!(
                                "a budget batch was planned out of step with its operations"
                            )));
                        }
                    }
                }
                // The touched budgets, once each (their rows are ours until the commit).
                for ((scope, start), spend) in &plan.rows {
                    sqlx::query(
                        "UPDATE budget_usage SET spent_nanos = $3, reserved_nanos = $4 \
                         WHERE scope = $1 AND period_start = $2",
                    )
                    .bind(scope)
                    .bind(*start)
                    .bind(spend.spent_nanos)
                    .bind(spend.reserved_nanos)
                    .execute(&mut *tx)
                    .await?;
                }
                // If the commit itself fails, whether it took effect is unknown: the operations
                // must not be run again (they would bill twice).
                tx.commit().await.map_err(|e| {
                    $crate::store::StoreError::Other(anyhow::Error::new(
                        $crate::store::CommitUnknown(e.to_string()),
                    ))
                })?;
                Ok(out)
            }

            async fn budget_spend(
                &self,
                scope: &str,
                period_start: i64,
            ) -> $crate::store::StoreResult<$crate::store::BudgetSpend> {
                let spend: Option<$crate::store::BudgetSpend> = sqlx::query_as(
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
            ) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO budget_alerts (scope, period_start, threshold, at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (scope, period_start, threshold) DO NOTHING",
                )
                .bind(scope)
                .bind(period_start)
                .bind(threshold)
                .bind($crate::store::to_ms(at))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn list_llm_providers(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::ProviderRow>> {
                Ok(sqlx::query_as(
                    "SELECT name, kind, base_url, api_key_enc, private, azure, timeout_secs, \
                     max_retries, enabled, updated_at FROM llm_providers ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn upsert_llm_provider(
                &self,
                row: &$crate::store::ProviderRow,
                by: Option<i64>,
                audit: $crate::store::NewAuditEntry,
            ) -> $crate::store::StoreResult<()> {
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
                audit: $crate::store::NewAuditEntry,
            ) -> $crate::store::StoreResult<bool> {
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
            ) -> $crate::store::StoreResult<Vec<(String, String)>> {
                Ok(sqlx::query_as("SELECT key, value FROM llm_settings ORDER BY key")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn put_llm_setting(
                &self,
                key: &str,
                value: &str,
                by: Option<i64>,
                audit: $crate::store::NewAuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO llm_settings (key, value, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET \
                     value = $2, updated_at = $3, updated_by = $4",
                )
                .bind(key)
                .bind(value)
                .bind($crate::store::to_ms(chrono::Utc::now()))
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
            ) -> $crate::store::StoreResult<Vec<$crate::store::UsageBucket>> {
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
                .bind($crate::store::to_ms(since))
                .bind($crate::store::to_ms(until))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn unpriced_models(
                &self,
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<Vec<$crate::store::UnpricedModel>> {
                Ok(sqlx::query_as(
                    "SELECT model, COUNT(*) AS calls, MAX(at) AS last_at FROM llm_calls \
                     WHERE NOT price_known AND at >= $1 GROUP BY model ORDER BY 2 DESC",
                )
                .bind($crate::store::to_ms(since))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn spends_in_periods(
                &self,
                period_starts: &[i64],
            ) -> $crate::store::StoreResult<
                Vec<(String, i64, $crate::store::BudgetSpend)>,
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
                            $crate::store::BudgetSpend {
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
            ) -> $crate::store::StoreResult<(Vec<::model::LlmCall>, i64)> {
                use $crate::store::llm::{LlmCallRow, CALL_COLUMNS};
                let filter = "($1 IS NULL OR user_id = $1) AND at >= $2";
                let rows: Vec<LlmCallRow> = sqlx::query_as(&format!(
                    "SELECT {CALL_COLUMNS} FROM llm_calls WHERE {filter} \
                     ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4"
                ))
                .bind(user_id)
                .bind($crate::store::to_ms(since))
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                let (total,): (i64,) =
                    sqlx::query_as(&format!("SELECT COUNT(*) FROM llm_calls WHERE {filter}"))
                        .bind(user_id)
                        .bind($crate::store::to_ms(since))
                        .fetch_one(&self.pool)
                        .await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }
        }
    };
}

impl From<LlmCallRow> for model::LlmCall {
    fn from(r: LlmCallRow) -> Self {
        model::LlmCall {
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
            usage_estimated: r.usage_estimated,
        }
    }
}

/// A write transaction's commit failed, so whether it took effect is unknown (the connection
/// may have dropped after the server committed): its operations must not be retried.
#[derive(Debug, thiserror::Error)]
#[error("the outcome of the commit is unknown: {0}")]
pub struct CommitUnknown(pub String);

/// One budget operation of a batch (`LlmStore::budget_batch`).
#[derive(Debug, Clone)]
pub enum BudgetOp {
    /// `reserve_budget`.
    Reserve {
        /// The budgets it must fit.
        checks: Vec<BudgetCheck>,
        /// The worst-case cost.
        amount: i64,
        /// The hold to record.
        hold: NewReservation,
    },
    /// `settle_budget`.
    Settle {
        /// The hold (None for a cache hit).
        reservation: Option<i64>,
        /// The budgets it held money on.
        keys: Vec<(String, i64)>,
        /// What it held on each.
        reserved: i64,
        /// The ledger row.
        call: NewLlmCall,
    },
}

/// What one operation of a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetOpResult {
    /// The reservation id, or the refusal.
    Reserved(Result<i64, BudgetRefusal>),
    /// The call id and each budget's spend after it.
    Settled(i64, Vec<BudgetSpend>),
}

/// A batch decided in memory over the budget rows it locked.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Per operation: a reservation's verdict, or a settlement's reaped row and spends.
    pub ops: Vec<Planned>,
    /// Every touched budget's values after the batch.
    pub rows: std::collections::BTreeMap<(String, i64), BudgetSpend>,
}

#[derive(Debug)]
pub(crate) enum Planned {
    Reserve(Result<(), BudgetRefusal>),
    Settle { reaped: Option<i64>, spends: Vec<BudgetSpend> },
}

/// Every budget a batch touches, sorted (the one order rows are locked in).
pub(crate) fn batch_keys(ops: &[BudgetOp]) -> Vec<(String, i64)> {
    let mut keys: Vec<(String, i64)> = ops
        .iter()
        .flat_map(|op| match op {
            BudgetOp::Reserve { checks, .. } => {
                checks.iter().map(|c| (c.scope.clone(), c.period_start)).collect::<Vec<_>>()
            }
            BudgetOp::Settle { keys, .. } => keys.clone(),
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Decides a batch in order, exactly as the one-at-a-time statements would: each reservation
/// fits every budget with what the earlier operations left, or is refused naming the first
/// (sorted) budget it would cross; each settlement releases its hold and adds its cost — or, for
/// a call the reaper took (`deleted[id] = Some(Some(call))`), moves only the difference from
/// the orphaned row's cost.
pub(crate) fn plan_batch(
    ops: &[BudgetOp],
    mut rows: std::collections::BTreeMap<(String, i64), BudgetSpend>,
    deleted: &std::collections::HashMap<i64, Option<i64>>,
    reaped_costs: &std::collections::HashMap<i64, i64>,
) -> Plan {
    let mut planned = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            BudgetOp::Reserve { checks, amount, .. } => {
                let mut sorted: Vec<&BudgetCheck> = checks.iter().collect();
                sorted.sort_by(|a, b| (&a.scope, a.period_start).cmp(&(&b.scope, b.period_start)));
                let refusal = sorted.iter().find_map(|c| {
                    let spend =
                        rows.get(&(c.scope.clone(), c.period_start)).copied().unwrap_or_default();
                    let total = spend.spent_nanos.saturating_add(spend.reserved_nanos);
                    (total.saturating_add(*amount) > c.limit_nanos).then(|| BudgetRefusal {
                        scope: c.scope.clone(),
                        limit_nanos: c.limit_nanos,
                        spend,
                    })
                });
                if refusal.is_none() {
                    for c in &sorted {
                        let row = rows.entry((c.scope.clone(), c.period_start)).or_default();
                        row.reserved_nanos = row.reserved_nanos.saturating_add(*amount);
                    }
                }
                planned.push(Planned::Reserve(refusal.map_or(Ok(()), Err)));
            }
            BudgetOp::Settle { reservation, keys, reserved, call } => {
                let (mut release, mut charge, mut reaped) = (*reserved, call.cost_nanos, None);
                if let Some(id) = reservation {
                    match deleted.get(id) {
                        Some(None) => {}
                        Some(Some(call_id)) => {
                            release = 0;
                            charge =
                                call.cost_nanos - reaped_costs.get(call_id).copied().unwrap_or(0);
                            reaped = Some(*call_id);
                        }
                        None => release = 0,
                    }
                }
                let spends = keys
                    .iter()
                    .map(|k| {
                        let row = rows.entry(k.clone()).or_default();
                        row.reserved_nanos = (row.reserved_nanos - release).max(0);
                        row.spent_nanos = row.spent_nanos.saturating_add(charge);
                        *row
                    })
                    .collect();
                planned.push(Planned::Settle { reaped, spends });
            }
        }
    }
    Plan { ops: planned, rows }
}
