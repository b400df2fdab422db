//! Many reservations and settlements in one transaction (the gateway's write-behind batch).

use super::ledger::write_call;
use super::reservations::INSERT_HOLD_SQL;
use super::reservations::budget_keys_json;
use super::reservations::hold_args;
use super::{
    BudgetCheck, BudgetRefusal, BudgetSpend, CommitUnknown, NewLlmCall, NewReservation, SqlStore,
    StoreError, StoreResult, placeholders,
};
use async_trait::async_trait;

/// One budget operation of a batch (`BudgetBatchStore::budget_batch`).
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

/// Batched reservations and settlements.
#[async_trait]
pub trait BudgetBatchStore: Send + Sync {
    /// Runs many reservations and settlements in one transaction, each decided exactly as if it
    /// ran alone in order (`plan_batch`), with every touched budget row read, locked and
    /// written once: the hot `global` row costs one update per batch instead of two per call.
    async fn budget_batch(&self, ops: &[BudgetOp]) -> StoreResult<Vec<BudgetOpResult>>;
}

#[async_trait]
impl BudgetBatchStore for SqlStore {
    async fn budget_batch(&self, ops: &[BudgetOp]) -> StoreResult<Vec<BudgetOpResult>> {
        use std::collections::{BTreeMap, HashMap};
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let keys = batch_keys(ops);
        let mut tx = self.begin_write().await?;
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
            let sql = format!(
                "DELETE FROM llm_reservations WHERE id IN ({}) RETURNING id, reaped_call_id",
                placeholders(1, chunk.len())
            );
            let mut delete = sqlx::query_as(&sql);
            for id in chunk {
                delete = delete.bind(*id);
            }
            let gone: Vec<(i64, Option<i64>)> = delete.fetch_all(&mut *tx).await?;
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
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
            let sql = format!(
                "INSERT INTO budget_usage (scope, period_start) VALUES {} \
                 ON CONFLICT (scope, period_start) DO UPDATE \
                 SET spent_nanos = budget_usage.spent_nanos \
                 RETURNING scope, period_start, spent_nanos, reserved_nanos",
                values.join(", ")
            );
            let mut upsert = sqlx::query_as(&sql);
            for (scope, start) in chunk {
                upsert = upsert.bind(scope).bind(*start);
            }
            let found: Vec<(String, i64, i64, i64)> = upsert.fetch_all(&mut *tx).await?;
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
                    let (id,): (i64,) =
                        sqlx::query_as_with(INSERT_HOLD_SQL, hold_args(hold, *amount, budgets)?)
                            .fetch_one(&mut *tx)
                            .await?;
                    out.push(BudgetOpResult::Reserved(Ok(id)));
                }
                (_, Planned::Reserve(Err(refusal))) => {
                    out.push(BudgetOpResult::Reserved(Err(refusal)));
                }
                (BudgetOp::Settle { call, .. }, Planned::Settle { reaped, spends }) => {
                    let id = write_call(&mut tx, call, reaped).await?;
                    out.push(BudgetOpResult::Settled(id, spends));
                }
                _ => {
                    return Err(StoreError::Other(anyhow::anyhow!(
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
        tx.commit()
            .await
            .map_err(|e| StoreError::Other(anyhow::Error::new(CommitUnknown(e.to_string()))))?;
        Ok(out)
    }
}
