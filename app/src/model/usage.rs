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

/// One ledger row as its user (or an admin) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmCall {
    /// Id.
    pub id: i64,
    /// When it started.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub user_id: Option<i64>,
    /// Feature.
    pub feature: String,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cached input tokens.
    pub cached_input_tokens: i64,
    /// Cost, nano-dollars.
    pub cost_nanos: i64,
    /// Latency.
    pub latency_ms: i64,
    /// `ok`, `error`, `interrupted`, `abandoned`, `cache_hit` or `orphaned`.
    pub outcome: String,
    /// Whether it streamed.
    pub streamed: bool,
    /// False when the model was priced at the default price (unknown model).
    pub price_known: bool,
    /// The error, if any.
    pub error: Option<String>,
    /// The request that made it.
    pub request_id: Option<String>,
    /// Some token count was Blueprint's estimate, not the provider's report (a stream cut
    /// before its usage came, a provider that reports none, or a call lost with its instance).
    #[serde(default)]
    pub usage_estimated: bool,
}

/// A model's price as admins edit it, in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Exact model name, or a prefix ending in `*`.
    pub model: String,
    /// Input.
    pub input_usd_per_mtok: f64,
    /// Output.
    pub output_usd_per_mtok: f64,
    /// Cached input.
    pub cached_input_usd_per_mtok: f64,
    /// Relative answer quality 0–100 for quality-aware routing (`None`: 50).
    #[serde(default)]
    pub quality: Option<i32>,
}

/// A prompt's answer from the console, with what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptAnswer {
    /// The answer.
    pub text: String,
    /// Provider that answered.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cost, nano-dollars.
    pub cost_nanos: i64,
}

/// Nano-dollars as dollars for people: `$12.50`, `$0.0420`, `$0.000050`.
pub fn usd(nanos: i64) -> String {
    let dollars = nanos as f64 / 1e9;
    if dollars.abs() >= 1.0 || nanos == 0 {
        format!("${dollars:.2}")
    } else if dollars.abs() >= 0.01 {
        format!("${dollars:.4}")
    } else {
        format!("${dollars:.6}")
    }
}
