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

/// Whose spending a budget limits. Written `global` or `user:<id>`: that is its key in the
/// store and its form on the wire, and reading it back goes through [`BudgetScope::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum BudgetScope {
    /// The whole deployment's spending.
    Global,
    /// One user's spending.
    User(i64),
}

impl BudgetScope {
    /// `global` or `user:<id>`.
    pub fn key(self) -> String {
        self.to_string()
    }

    /// Reads a key back; anything else is `None`.
    pub fn parse(key: &str) -> Option<Self> {
        match key {
            "global" => Some(BudgetScope::Global),
            _ => key.strip_prefix("user:")?.parse().ok().map(BudgetScope::User),
        }
    }

    /// The user whose budget it is; `None` for the global one.
    pub fn user_id(self) -> Option<i64> {
        match self {
            BudgetScope::Global => None,
            BudgetScope::User(id) => Some(id),
        }
    }

    /// Whether this is the deployment's budget.
    pub fn is_global(self) -> bool {
        self == BudgetScope::Global
    }
}

impl std::fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BudgetScope::Global => f.write_str("global"),
            BudgetScope::User(id) => write!(f, "user:{id}"),
        }
    }
}

impl TryFrom<String> for BudgetScope {
    type Error = String;

    fn try_from(key: String) -> Result<Self, String> {
        BudgetScope::parse(&key).ok_or_else(|| format!("\"{key}\" is not global or user:<id>"))
    }
}

impl From<BudgetScope> for String {
    fn from(scope: BudgetScope) -> String {
        scope.key()
    }
}

/// One budget a user's calls count against, now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetStatus {
    /// Whose budget (`global` or `user:<id>` on the wire).
    pub budget: BudgetScope,
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
    fn budget_scopes_round_trip_through_their_keys_and_refuse_anything_else() {
        for scope in [BudgetScope::Global, BudgetScope::User(42)] {
            assert_eq!(BudgetScope::parse(&scope.key()), Some(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(serde_json::from_str::<BudgetScope>(&json).unwrap(), scope);
        }
        assert_eq!(BudgetScope::User(7).key(), "user:7");
        for bad in ["", "Global", "user:", "user:x", "team:1", "user:1 "] {
            assert_eq!(BudgetScope::parse(bad), None, "{bad:?}");
        }
        assert!(serde_json::from_str::<BudgetScope>("\"user:abc\"").is_err());
    }

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
