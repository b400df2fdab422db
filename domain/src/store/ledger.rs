//! The ledger: one row per model call, with tokens, cost and outcome.

use super::{Flag, Millis, SqlStore, StoreResult, add, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::LlmCall;

/// A call to record in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NewLlmCall {
    /// When it started.
    #[sqlx(try_from = "Millis")]
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
    #[sqlx(try_from = "Flag")]
    pub streamed: bool,
    /// Whether the model had a price (else the default price was used).
    #[sqlx(try_from = "Flag")]
    pub price_known: bool,
    /// The error, if any.
    pub error: Option<String>,
    /// The HTTP request that made it.
    pub request_id: Option<String>,
    /// Some token count was our estimate, not the provider's report.
    #[sqlx(try_from = "Flag")]
    pub usage_estimated: bool,
    /// The RFC it was made for, if any (an RFC's cost is the sum of its rows).
    pub rfc_id: Option<i64>,
}

pub(crate) const INSERT_CALL_SQL: &str = "INSERT INTO llm_calls (at, user_id, feature, provider, \
     model, input_tokens, output_tokens, cached_input_tokens, cost_nanos, latency_ms, outcome, \
     streamed, price_known, error, request_id, usage_estimated, rfc_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id";

pub(crate) const UPDATE_CALL_SQL: &str = "UPDATE llm_calls SET at = $1, user_id = $2, \
     feature = $3, provider = $4, model = $5, input_tokens = $6, output_tokens = $7, \
     cached_input_tokens = $8, cost_nanos = $9, latency_ms = $10, outcome = $11, streamed = $12, \
     price_known = $13, error = $14, request_id = $15, usage_estimated = $16, rfc_id = $17 \
     WHERE id = $18";

/// The arguments `$1`…`$17` of `INSERT_CALL_SQL`, and with `id` also `$18` of
/// `UPDATE_CALL_SQL`.
pub(crate) fn call_args(
    call: &NewLlmCall,
    id: Option<i64>,
) -> StoreResult<sqlx::any::AnyArguments<'_>> {
    let mut args = sqlx::any::AnyArguments::default();
    add(&mut args, to_ms(call.at))?;
    add(&mut args, call.user_id)?;
    add(&mut args, &call.feature)?;
    add(&mut args, &call.provider)?;
    add(&mut args, &call.model)?;
    add(&mut args, call.input_tokens)?;
    add(&mut args, call.output_tokens)?;
    add(&mut args, call.cached_input_tokens)?;
    add(&mut args, call.cost_nanos)?;
    add(&mut args, call.latency_ms)?;
    add(&mut args, &call.outcome)?;
    add(&mut args, call.streamed)?;
    add(&mut args, call.price_known)?;
    add(&mut args, call.error.as_deref())?;
    add(&mut args, call.request_id.as_deref())?;
    add(&mut args, call.usage_estimated)?;
    add(&mut args, call.rfc_id)?;
    if let Some(id) = id {
        add(&mut args, id)?;
    }
    Ok(args)
}

/// Writes a settled call's ledger row: over the row a reaper wrote for it (`reaped`), or as a
/// new row. Returns the row's id.
pub(crate) async fn write_call(
    tx: &mut sqlx::AnyConnection,
    call: &NewLlmCall,
    reaped: Option<i64>,
) -> StoreResult<i64> {
    match reaped {
        Some(call_id) => {
            sqlx::query_with(UPDATE_CALL_SQL, call_args(call, Some(call_id))?)
                .execute(&mut *tx)
                .await?;
            Ok(call_id)
        }
        None => {
            let (id,): (i64,) = sqlx::query_as_with(INSERT_CALL_SQL, call_args(call, None)?)
                .fetch_one(&mut *tx)
                .await?;
            Ok(id)
        }
    }
}

/// A ledger row as stored; callers get it as `model::LlmCall`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct LlmCallRow {
    /// Id.
    pub id: i64,
    /// The call.
    #[sqlx(flatten)]
    pub call: NewLlmCall,
}

pub(crate) const CALL_COLUMNS: &str = "id, at, user_id, feature, provider, model, input_tokens, \
    output_tokens, cached_input_tokens, cost_nanos, latency_ms, outcome, \
    CAST(streamed AS INTEGER) AS streamed, CAST(price_known AS INTEGER) AS price_known, error, request_id, \
    CAST(usage_estimated AS INTEGER) AS usage_estimated, rfc_id";

impl From<LlmCallRow> for LlmCall {
    fn from(LlmCallRow { id, call }: LlmCallRow) -> Self {
        LlmCall {
            id,
            at: call.at,
            user_id: call.user_id,
            feature: call.feature,
            provider: call.provider,
            model: call.model,
            input_tokens: call.input_tokens,
            output_tokens: call.output_tokens,
            cached_input_tokens: call.cached_input_tokens,
            cost_nanos: call.cost_nanos,
            latency_ms: call.latency_ms,
            outcome: call.outcome,
            streamed: call.streamed,
            price_known: call.price_known,
            error: call.error,
            request_id: call.request_id,
            usage_estimated: call.usage_estimated,
        }
    }
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

/// The call ledger and its usage views.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Hourly buckets of calls in `[since, until)`, optionally one user's.
    async fn usage_buckets(
        &self,
        user_id: Option<i64>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>>;
    /// Ledger rows, newest first, optionally one user's, from `since`; and the total count.
    async fn list_llm_calls(
        &self,
        user_id: Option<i64>,
        since: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<LlmCall>, i64)>;
}

#[async_trait]
impl LedgerStore for SqlStore {
    async fn usage_buckets(
        &self,
        user_id: Option<i64>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>> {
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
        .bind(to_ms(since))
        .bind(to_ms(until))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn list_llm_calls(
        &self,
        user_id: Option<i64>,
        since: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<LlmCall>, i64)> {
        let filter = "($1 IS NULL OR user_id = $1) AND at >= $2";
        let rows: Vec<LlmCallRow> = sqlx::query_as(&format!(
            "SELECT {CALL_COLUMNS} FROM llm_calls WHERE {filter} \
                     ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(user_id)
        .bind(to_ms(since))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let (total,): (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM llm_calls WHERE {filter}"))
                .bind(user_id)
                .bind(to_ms(since))
                .fetch_one(&self.pool)
                .await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }
}
