//! The LLM gateway's admin-facing types: routing strategy and routes, providers and their
//! health, usage summaries and every user's spend.

use super::BudgetBand;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the gateway orders the candidates of a feature's route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The route's order, as configured.
    #[default]
    Priority,
    /// Cheapest first (blended price: three input tokens to one output token).
    Cost,
    /// Highest quality first (the price table's quality column).
    Quality,
    /// Best quality per price (equal weight to normalised quality and normalised price).
    Balanced,
    /// Each call starts at the next candidate in turn.
    RoundRobin,
}

impl Strategy {
    /// Every strategy, in the order the admin view lists them.
    pub const ALL: [Strategy; 5] = [
        Strategy::Priority,
        Strategy::Cost,
        Strategy::Quality,
        Strategy::Balanced,
        Strategy::RoundRobin,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::Cost => "cost",
            Strategy::Quality => "quality",
            Strategy::Balanced => "balanced",
            Strategy::RoundRobin => "round_robin",
        }
    }

    /// A strategy by wire name.
    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// What it does, for the admin view.
    pub fn describe(self) -> &'static str {
        match self {
            Strategy::Priority => "the route's order: first choice, then its fallbacks",
            Strategy::Cost => "cheapest model of the route first",
            Strategy::Quality => "highest-quality model of the route first",
            Strategy::Balanced => "best quality for the price first",
            Strategy::RoundRobin => "spread calls over the route's models in turn",
        }
    }
}

/// What admins set at run time (stored as one JSON document; config gives the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingSettings {
    /// Candidate order; `None` keeps the configured one.
    pub strategy: Option<Strategy>,
    /// Feature → `["provider:model", …]`, replacing the configured route of that feature.
    pub routes: BTreeMap<String, Vec<String>>,
    /// Features whose calls may only go to private providers.
    pub private_features: Vec<String>,
    /// Users whose calls may only go to private providers.
    pub private_users: Vec<i64>,
}

/// One feature's effective route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureRoute {
    /// Feature (`default` serves features without their own).
    pub feature: String,
    /// `provider:model`, first choice first.
    pub targets: Vec<String>,
    /// `config` or `admin`.
    pub source: String,
    /// Pinned to private providers.
    pub private: bool,
}

/// The routing an admin sees and edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingView {
    /// In force now.
    pub strategy: Strategy,
    /// The configured default strategy.
    pub config_strategy: Strategy,
    /// Every route in force.
    pub routes: Vec<FeatureRoute>,
    /// Features pinned to private providers (config and admin).
    pub private_features: Vec<String>,
    /// E-mails of users pinned to private providers.
    pub private_users: Vec<String>,
}

/// A provider as admins see it. Its key is never shown, only whether one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Name.
    pub name: String,
    /// `openai`, `anthropic` or `ollama`.
    pub kind: String,
    /// Base URL.
    pub base_url: String,
    /// Whether a key is set.
    pub has_key: bool,
    /// Runs on our own hardware.
    pub private: bool,
    /// Azure-style key header.
    pub azure: bool,
    /// Routing may use it.
    pub enabled: bool,
    /// Timeout, seconds.
    pub timeout_secs: i64,
    /// Retries before output.
    pub max_retries: i32,
    /// `config` (read-only here) or `admin`.
    pub source: String,
    /// Circuit breaker: `closed`, `open` or `half_open` (empty when not loaded).
    pub breaker: String,
    /// Why it is not in use, if it is not.
    pub problem: Option<String>,
}

/// A provider as an admin submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInput {
    /// Name (letters, digits, `-`, `_`; 1–40).
    pub name: String,
    /// `openai`, `anthropic` or `ollama`.
    pub kind: String,
    /// `http(s)://host[:port][/path]`, no credentials.
    pub base_url: String,
    /// `None` keeps the stored key; `Some("")` removes it.
    pub api_key: Option<String>,
    /// Runs on our own hardware.
    pub private: bool,
    /// Azure-style key header.
    #[serde(default)]
    pub azure: bool,
    /// Routing may use it.
    pub enabled: bool,
    /// 1–3600.
    pub timeout_secs: i64,
    /// 0–10.
    pub max_retries: i32,
}

/// A health probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderHealth {
    /// Provider.
    pub name: String,
    /// Whether it answered.
    pub ok: bool,
    /// How long it took.
    pub latency_ms: Option<i64>,
    /// What went wrong.
    pub error: Option<String>,
}

/// Spend of one day (in the gateway's time zone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySpend {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Calls.
    pub calls: i64,
    /// Cost, nano-dollars.
    pub cost_nanos: i64,
}

/// Calls and cost of one feature or model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendShare {
    /// Feature or model.
    pub name: String,
    /// Calls.
    pub calls: i64,
    /// Of which answered from the response cache.
    pub cache_hits: i64,
    /// Tokens.
    pub tokens: i64,
    /// Cost, nano-dollars.
    pub cost_nanos: i64,
}

/// Spend over the last days: per day, per feature, per model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSummary {
    /// Time zone the days follow.
    pub timezone: String,
    /// Oldest first, every day of the window (zero days included).
    pub days: Vec<DaySpend>,
    /// Costliest first.
    pub by_feature: Vec<SpendShare>,
    /// Costliest first.
    pub by_model: Vec<SpendShare>,
}

/// One user's spend in their current budget period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSpend {
    /// User.
    pub user_id: i64,
    /// E-mail.
    pub email: String,
    /// Name.
    pub display_name: String,
    /// `daily`, `weekly` or `monthly`.
    pub period: String,
    /// Limit, nano-dollars.
    pub limit_nanos: i64,
    /// Spent, nano-dollars.
    pub spent_nanos: i64,
    /// Held by calls in progress.
    pub reserved_nanos: i64,
    /// Spent as a percentage of the limit.
    pub percent: i64,
    /// Band.
    pub band: BudgetBand,
    /// An admin set this user's budget (else the default applies).
    pub custom: bool,
    /// When the period resets.
    pub resets_at: DateTime<Utc>,
}

/// Every user's spend, filtered and paged, with the top spenders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendOverview {
    /// The page asked for, highest percentage first.
    pub users: Vec<UserSpend>,
    /// Users matching the filter.
    pub total: i64,
    /// The five who spent most (in dollars), whatever the filter.
    pub top: Vec<UserSpend>,
    /// Users at or above 80 % of their budget.
    pub over_warning: i64,
}

/// A model billed at the default price because the table does not know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpricedModelInfo {
    /// Model.
    pub model: String,
    /// Calls in the last 30 days.
    pub calls: i64,
    /// Last call.
    pub last_at: DateTime<Utc>,
}
