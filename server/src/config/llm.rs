//! `[llm]`: the gateway's providers, routes, prices, budgets and limits, and `[secrets]`.

use super::*;

/// LLM gateway settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// IANA time zone that budget periods follow (`Europe/Berlin`).
    #[serde(with = "named")]
    pub timezone: Tz,
    /// Every user's budget per period, in USD, unless an admin sets another.
    pub user_budget_usd: f64,
    /// `daily`, `weekly` or `monthly`.
    #[serde(with = "named")]
    pub user_budget_period: Period,
    /// The whole deployment's budget per period, in USD; 0 means none. On by default, so a
    /// deployment with open registration has a ceiling however many accounts are made.
    pub global_budget_usd: f64,
    /// `daily`, `weekly` or `monthly`.
    #[serde(with = "named")]
    pub global_budget_period: Period,
    /// Input price (USD per million tokens) of a model the price table does not know.
    pub default_input_usd_per_mtok: f64,
    /// Output price (USD per million tokens) of a model the price table does not know.
    pub default_output_usd_per_mtok: f64,
    /// Percentages at which a budget alerts, once per period each.
    pub alert_thresholds: Vec<i32>,
    /// The providers.
    pub providers: Vec<ProviderSettings>,
    /// Feature → `["provider:model", …]` (first choice, then fallbacks); `default` for the rest.
    pub routes: std::collections::BTreeMap<String, Vec<Target>>,
    /// Candidate order: `priority`, `cost`, `quality`, `balanced` or `round_robin` (admins can
    /// switch it at run time).
    #[serde(with = "named")]
    pub strategy: Strategy,
    /// Features whose calls may only go to private providers (e.g. Ollama on our hardware).
    pub private_features: Vec<String>,
    /// How long an identical request is answered from the response cache; 0 turns it off.
    pub cache_ttl_secs: u64,
    /// Features whose cached answers all users share (others: per user).
    pub cache_shared_features: Vec<String>,
    /// Features never answered from the cache.
    pub cache_disabled_features: Vec<String>,
    /// Calls per minute per user and feature; 0 means unlimited.
    pub requests_per_minute: u32,
    /// Tokens (input + output) per minute per user and feature; 0 means unlimited.
    pub tokens_per_minute: u32,
    /// Per-feature overrides of the two limits.
    pub feature_limits: std::collections::BTreeMap<String, FeatureLimit>,
    /// How long an admitted call's reservation outlives its instance's last renewal (every
    /// quarter of this) before any instance settles it as `orphaned` and releases the hold.
    pub reservation_lease_secs: u64,
}

/// Where the key that seals secrets at rest (provider keys, connector credentials) comes from.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsSettings {
    /// 32 random bytes, base64 (`openssl rand -base64 32`). Every instance of a scale-out
    /// deployment needs the same one.
    pub key: Secret,
    /// File holding the key, created (mode 0600) on first start if missing. Default:
    /// `secret.key` beside the SQLite database, or `data/secret.key` with PostgreSQL.
    pub key_file: String,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            timezone: Tz::UTC,
            user_budget_usd: 5.0,
            user_budget_period: Period::Monthly,
            global_budget_usd: 100.0,
            global_budget_period: Period::Monthly,
            default_input_usd_per_mtok: 15.0,
            default_output_usd_per_mtok: 75.0,
            alert_thresholds: vec![80, 95, 100],
            providers: Vec::new(),
            routes: std::collections::BTreeMap::new(),
            strategy: Strategy::Priority,
            private_features: Vec::new(),
            cache_ttl_secs: 3600,
            cache_shared_features: Vec::new(),
            cache_disabled_features: vec!["console".into()],
            requests_per_minute: 60,
            tokens_per_minute: 200_000,
            feature_limits: std::collections::BTreeMap::new(),
            reservation_lease_secs: 120,
        }
    }
}

/// One LLM provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Unique name, used in routes and the ledger.
    pub name: String,
    /// `openai` (any OpenAI-compatible server), `anthropic` or `ollama`.
    #[serde(with = "named")]
    pub kind: ProviderKind,
    /// Base URL (`https://api.openai.com/v1`, `https://api.anthropic.com`, `http://127.0.0.1:11434`).
    pub base_url: String,
    /// API key; secret.
    #[serde(default)]
    pub api_key: Secret,
    /// Wait for an answer to start, and between streamed chunks.
    #[serde(default = "default_llm_timeout")]
    pub timeout_secs: u64,
    /// Retries on 429/5xx/timeouts before any output.
    #[serde(default = "default_llm_retries")]
    pub max_retries: u32,
    /// Runs on our own hardware (default: true for ollama).
    #[serde(default)]
    pub private: Option<bool>,
    /// Send the key as `api-key` (Azure OpenAI).
    #[serde(default)]
    pub azure: bool,
}

pub(super) fn default_llm_timeout() -> u64 {
    60
}

pub(super) fn default_llm_retries() -> u32 {
    2
}

impl Settings {
    pub(super) fn validate_llm(&self) -> Result<(), ConfigError> {
        if let Some(key) = &self.secrets.key.0
            && domain::secrets::SecretBox::from_base64(key.expose_secret()).is_err()
        {
            return Err(bad("secrets.key", "must be 32 bytes, base64-encoded"));
        }
        let l = &self.llm;
        for (key, value) in [
            ("llm.user_budget_usd", l.user_budget_usd),
            ("llm.global_budget_usd", l.global_budget_usd),
            ("llm.default_input_usd_per_mtok", l.default_input_usd_per_mtok),
            ("llm.default_output_usd_per_mtok", l.default_output_usd_per_mtok),
        ] {
            if !(0.0..=1e9).contains(&value) {
                return Err(bad(key, "must be between 0 and 1000000000"));
            }
        }
        if !(2..=86_400).contains(&l.reservation_lease_secs) {
            return Err(bad("llm.reservation_lease_secs", "must be between 2 and 86400"));
        }
        if l.alert_thresholds.iter().any(|t| !(1..=100).contains(t)) {
            return Err(bad("llm.alert_thresholds", "each must be between 1 and 100"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, p) in l.providers.iter().enumerate() {
            let key = |f: &str| format!("llm.providers[{i}].{f}");
            if p.name.trim().is_empty() || p.name.contains(':') || !names.insert(p.name.as_str()) {
                return Err(bad(&key("name"), "must be present, unique and without ':'"));
            }
            match url::Url::parse(&p.base_url) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.password().is_none() => {}
                _ => {
                    return Err(bad(
                        &key("base_url"),
                        "must be an http(s) URL without credentials",
                    ));
                }
            }
            if !(1..=3600).contains(&p.timeout_secs) {
                return Err(bad(&key("timeout_secs"), "must be between 1 and 3600"));
            }
            if p.max_retries > 10 {
                return Err(bad(&key("max_retries"), "must be at most 10"));
            }
        }
        if l.cache_ttl_secs > 30 * 86_400 {
            return Err(bad("llm.cache_ttl_secs", "must be at most 2592000 (30 days)"));
        }
        for (feature, targets) in &l.routes {
            for t in targets {
                if !names.contains(t.provider.as_str()) {
                    return Err(bad(
                        &format!("llm.routes.{feature}"),
                        format!("\"{t}\" must be provider:model with a configured provider"),
                    ));
                }
            }
        }
        Ok(())
    }
}
