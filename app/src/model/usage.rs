//! Spending as users and API clients see it: budget status with its band and projection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How close a budget is to its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetBand {
    /// Below 80 %.
    Active,
    /// 80 % or more.
    Warning,
    /// 95 % or more.
    Critical,
    /// At or over the limit.
    Exceeded,
}

impl BudgetBand {
    /// The band of `spent` against `limit`.
    pub fn of(spent: i64, limit: i64) -> Self {
        if limit <= 0 || spent >= limit {
            return BudgetBand::Exceeded;
        }
        match spent.saturating_mul(100) / limit {
            95.. => BudgetBand::Critical,
            80.. => BudgetBand::Warning,
            _ => BudgetBand::Active,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetBand::Active => "active",
            BudgetBand::Warning => "warning",
            BudgetBand::Critical => "critical",
            BudgetBand::Exceeded => "exceeded",
        }
    }
}

/// One budget a user's calls count against, now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetStatus {
    /// `global` or `user:<id>`.
    pub budget: String,
    /// `daily`, `weekly` or `monthly`.
    pub period: String,
    /// Limit per period, nano-dollars.
    pub limit_nanos: i64,
    /// Settled spend this period.
    pub spent_nanos: i64,
    /// Held by calls in progress.
    pub reserved_nanos: i64,
    /// Spent as a percentage of the limit (may exceed 100 by at most one call).
    pub percent: i64,
    /// The band.
    pub band: BudgetBand,
    /// Start of this period.
    pub period_start: DateTime<Utc>,
    /// When it resets.
    pub resets_at: DateTime<Utc>,
    /// Spend at the end of the period at the current pace.
    pub projected_nanos: i64,
    /// Whether that pace crosses the limit.
    pub projected_over: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_thresholds() {
        assert_eq!(BudgetBand::of(79, 100), BudgetBand::Active);
        assert_eq!(BudgetBand::of(80, 100), BudgetBand::Warning);
        assert_eq!(BudgetBand::of(95, 100), BudgetBand::Critical);
        assert_eq!(BudgetBand::of(100, 100), BudgetBand::Exceeded);
        assert_eq!(BudgetBand::of(0, 0), BudgetBand::Exceeded);
    }
}
