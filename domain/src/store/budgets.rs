//! Budgets, their spend per period, and alert thresholds crossed.

use super::audit::insert_audit_in;
use super::{NewAuditEntry, SqlStore, StoreResult, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

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

/// Budgets and their spend.
#[async_trait]
pub trait BudgetStore: Send + Sync {
    /// Every configured budget.
    async fn list_budgets(&self) -> StoreResult<Vec<BudgetRow>>;
    /// Inserts or replaces a budget and records the audit entry, in one transaction.
    async fn set_budget(
        &self,
        budget: &BudgetRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
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
    /// Every budget's spend in the periods starting at `period_starts` (scope, start, spend).
    async fn spends_in_periods(
        &self,
        period_starts: &[i64],
    ) -> StoreResult<Vec<(String, i64, BudgetSpend)>>;
}

#[async_trait]
impl BudgetStore for SqlStore {
    async fn list_budgets(&self) -> StoreResult<Vec<BudgetRow>> {
        Ok(sqlx::query_as(
            "SELECT scope, period, limit_nanos, updated_at FROM budgets ORDER BY scope",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_budget(
        &self,
        budget: &BudgetRow,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()> {
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

    async fn budget_spend(&self, scope: &str, period_start: i64) -> StoreResult<BudgetSpend> {
        let spend: Option<BudgetSpend> = sqlx::query_as(
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
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
                    "INSERT INTO budget_alerts (scope, period_start, threshold, at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (scope, period_start, threshold) DO NOTHING",
                )
                .bind(scope)
                .bind(period_start)
                .bind(threshold)
                .bind(to_ms(at))
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn spends_in_periods(
        &self,
        period_starts: &[i64],
    ) -> StoreResult<Vec<(String, i64, BudgetSpend)>> {
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
                (scope, start, BudgetSpend { spent_nanos: spent, reserved_nanos: reserved })
            }));
        }
        Ok(out)
    }
}
