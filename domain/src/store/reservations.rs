//! Reservations: each admitted call holds its worst-case cost against its budgets until it is
//! settled (exactly once) or reaped.

use super::budgets::BudgetStore;
use super::ledger::{INSERT_CALL_SQL, call_args, write_call};
use super::{
    BudgetCheck, BudgetRefusal, BudgetSpend, Flag, Millis, NewLlmCall, SqlStore, StoreResult, add,
    placeholders, to_ms,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// An admitted call's hold on its budgets, kept until the call settles: who serves it (and
/// renews it) and what is known to price it if that instance dies.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NewReservation {
    /// The instance serving the call.
    pub owner: String,
    /// When a reaper may take the call for lost unless the owner renews it.
    #[sqlx(try_from = "Millis")]
    pub expires_at: DateTime<Utc>,
    /// When the call started.
    #[sqlx(try_from = "Millis")]
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
    #[sqlx(try_from = "Flag")]
    pub streamed: bool,
    /// Whether the price table knew the model.
    #[sqlx(try_from = "Flag")]
    pub price_known: bool,
    /// The HTTP request that made it.
    pub request_id: Option<String>,
    /// The RFC it is made for, if any (its ledger row carries it, even when orphaned).
    pub rfc_id: Option<i64>,
}

/// An open reservation as stored: the hold as it was admitted, with its id, amount and budgets.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReservationRow {
    /// Id.
    pub id: i64,
    /// Held on each budget.
    pub amount_nanos: i64,
    /// JSON `[[scope, period_start], …]`.
    pub budgets: String,
    /// The call it holds money for.
    #[sqlx(flatten)]
    pub hold: NewReservation,
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

/// Records an admitted call's hold (arguments from `hold_args`).
pub(crate) const INSERT_HOLD_SQL: &str = "INSERT INTO llm_reservations (owner, expires_at, \
     amount_nanos, budgets, at, user_id, feature, provider, model, prompt_tokens, input_per_mtok, \
     streamed, price_known, request_id, rfc_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id";

/// The arguments `$1`…`$15` of `INSERT_HOLD_SQL`: a `NewReservation`, its amount and its
/// budgets' JSON.
pub(crate) fn hold_args(
    hold: &NewReservation,
    amount: i64,
    budgets: String,
) -> StoreResult<sqlx::any::AnyArguments<'_>> {
    let mut args = sqlx::any::AnyArguments::default();
    add(&mut args, &hold.owner)?;
    add(&mut args, to_ms(hold.expires_at))?;
    add(&mut args, amount)?;
    add(&mut args, budgets)?;
    add(&mut args, to_ms(hold.at))?;
    add(&mut args, hold.user_id)?;
    add(&mut args, &hold.feature)?;
    add(&mut args, &hold.provider)?;
    add(&mut args, &hold.model)?;
    add(&mut args, hold.prompt_tokens)?;
    add(&mut args, hold.input_per_mtok)?;
    add(&mut args, hold.streamed)?;
    add(&mut args, hold.price_known)?;
    add(&mut args, hold.request_id.as_deref())?;
    add(&mut args, hold.rfc_id)?;
    Ok(args)
}

/// A write transaction's commit failed, so whether it took effect is unknown (the connection
/// may have dropped after the server committed): its operations must not be retried.
#[derive(Debug, thiserror::Error)]
#[error("the outcome of the commit is unknown: {0}")]
pub struct CommitUnknown(pub String);

/// Holds on budgets for calls in flight, and their settlement.
#[async_trait]
pub trait ReservationStore: Send + Sync {
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
}

#[async_trait]
impl ReservationStore for SqlStore {
    async fn reserve_budget(
        &self,
        checks: &[BudgetCheck],
        amount: i64,
        hold: &NewReservation,
    ) -> StoreResult<Result<i64, BudgetRefusal>> {
        let keys: Vec<(String, i64)> =
            checks.iter().map(|c| (c.scope.clone(), c.period_start)).collect();
        let mut tx = self.begin_write().await?;
        let budgets = budget_keys_json(&keys);
        let (id,): (i64,) = sqlx::query_as_with(INSERT_HOLD_SQL, hold_args(hold, amount, budgets)?)
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
        Ok(Err(BudgetRefusal { scope: check.scope.clone(), limit_nanos: check.limit_nanos, spend }))
    }

    async fn settle_budget(
        &self,
        reservation: Option<i64>,
        keys: &[(String, i64)],
        reserved: i64,
        call: &NewLlmCall,
    ) -> StoreResult<(i64, Vec<BudgetSpend>)> {
        let mut tx = self.begin_write().await?;
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
        let id = write_call(&mut tx, call, reaped).await?;
        let mut spends = vec![BudgetSpend::default(); keys.len()];
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
        expires_at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut renewed = 0;
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE llm_reservations SET expires_at = $1 WHERE owner = $2 \
                 AND reaped_call_id IS NULL AND id IN ({})",
                placeholders(3, chunk.len())
            );
            let mut update = sqlx::query(&sql).bind(to_ms(expires_at)).bind(owner);
            for id in chunk {
                update = update.bind(*id);
            }
            renewed += update.execute(&self.pool).await?.rows_affected();
        }
        Ok(renewed)
    }

    async fn expired_reservations(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ReservationRow>> {
        // Reaped holds are kept a day (a slow call still corrects its row), then go.
        sqlx::query(
            "DELETE FROM llm_reservations WHERE reaped_call_id IS NOT NULL \
                     AND expires_at < $1",
        )
        .bind(to_ms(now) - 86_400_000)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_as(
            "SELECT id, owner, expires_at, amount_nanos, budgets, at, user_id, feature, \
                     provider, model, prompt_tokens, input_per_mtok, \
                     CAST(streamed AS INTEGER) AS streamed, \
                     CAST(price_known AS INTEGER) AS price_known, request_id, rfc_id FROM llm_reservations \
                     WHERE reaped_call_id IS NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(to_ms(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn reap_reservation(
        &self,
        row: &ReservationRow,
        call: &NewLlmCall,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(i64, Vec<BudgetSpend>)>> {
        let mut tx = self.begin_write().await?;
        // Claim it: only one reaper wins, and not if it settled or was renewed meanwhile.
        let claimed = sqlx::query(
            "UPDATE llm_reservations SET reaped_call_id = 0 \
                     WHERE id = $1 AND reaped_call_id IS NULL AND expires_at < $2",
        )
        .bind(row.id)
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await?;
            return Ok(None);
        }
        let (id,): (i64,) = sqlx::query_as_with(INSERT_CALL_SQL, call_args(call, None)?)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("UPDATE llm_reservations SET reaped_call_id = $2 WHERE id = $1")
            .bind(row.id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let keys = row.keys();
        let mut spends = vec![BudgetSpend::default(); keys.len()];
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
}
