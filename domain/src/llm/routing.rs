//! Routing: which provider and model a feature's call goes to, in which order. The routes and
//! pins come from configuration, overridden at run time by admins (`llm_settings`); the order
//! follows the strategy in force. Providers added by admins are built here from their rows,
//! their keys opened with the deployment's secret key.

use super::pricing::{Price, PriceTable};
use super::provider::{Provider, ProviderConfig, build_provider};
use crate::secrets::SecretBox;
use crate::store::ProviderRow;
use model::{RoutingSettings, Strategy};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// One step of a feature's route: a provider and the model to ask it for. Written
/// `provider:model` in settings; deserializing goes through [`Target::parse`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Target {
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
}

impl Target {
    /// `provider:model`.
    pub fn parse(s: &str) -> Option<Target> {
        let (provider, model) = s.trim().split_once(':')?;
        (!provider.is_empty() && !model.is_empty())
            .then(|| Target { provider: provider.into(), model: model.into() })
    }
}

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Target::parse(&s).ok_or_else(|| format!("\"{s}\" must be provider:model"))
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        t.to_string()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.provider, self.model)
    }
}

/// The settings routing starts from (configuration).
#[derive(Debug, Clone, Default)]
pub struct RoutingDefaults {
    /// Feature → route; `default` serves the rest.
    pub routes: HashMap<String, Vec<Target>>,
    /// Candidate order.
    pub strategy: Strategy,
    /// Features pinned to private providers.
    pub private_features: Vec<String>,
    /// Which addresses admin-added providers may be at.
    pub urls: crate::outbound::UrlPolicy,
}

/// Routing as it stands: configuration plus what admins changed. Rebuilt when the admin rows
/// change; providers whose row did not change keep their object (and circuit breaker).
pub(crate) struct Runtime {
    /// Every usable provider by name: configured ones and enabled admin ones.
    pub providers: HashMap<String, Arc<dyn Provider>>,
    /// Admin rows, as stored.
    pub rows: Vec<ProviderRow>,
    /// Why an admin provider is not in use.
    pub problems: HashMap<String, String>,
    /// Admin settings (empty when none were saved).
    pub admin: RoutingSettings,
    /// Effective routes with where they come from (`config` or `admin`).
    pub routes: HashMap<String, (Vec<Target>, &'static str)>,
    /// Strategy in force.
    pub strategy: Strategy,
    /// Pinned features (config and admin).
    pub private_features: HashSet<String>,
    /// Pinned users.
    pub private_users: HashSet<i64>,
    /// What it was built from, to tell whether a reload changed anything.
    pub fingerprint: String,
}

impl Runtime {
    /// Builds the runtime from config and the admin rows.
    pub fn build(
        defaults: &RoutingDefaults,
        configured: &HashMap<String, Arc<dyn Provider>>,
        rows: Vec<ProviderRow>,
        settings: &[(String, String)],
        secrets: Option<&SecretBox>,
        previous: Option<&Runtime>,
        fingerprint: String,
    ) -> Runtime {
        let mut providers = configured.clone();
        let mut problems = HashMap::new();
        for row in &rows {
            if configured.contains_key(&row.name) {
                problems.insert(row.name.clone(), "a configured provider has this name".into());
                continue;
            }
            if !row.enabled {
                problems.insert(row.name.clone(), "disabled".into());
                continue;
            }
            let unchanged = previous.and_then(|p| {
                p.rows
                    .iter()
                    .any(|r| r == row)
                    .then(|| p.providers.get(&row.name).cloned())
                    .flatten()
            });
            if let Some(p) = unchanged {
                providers.insert(row.name.clone(), p);
                continue;
            }
            match provider_from_row(row, secrets, defaults.urls) {
                Ok(p) => {
                    providers.insert(row.name.clone(), p);
                }
                Err(problem) => {
                    tracing::warn!(provider = %row.name, %problem, "admin LLM provider not loaded");
                    problems.insert(row.name.clone(), problem);
                }
            }
        }
        let admin: RoutingSettings = settings
            .iter()
            .find(|(k, _)| k == "routing")
            .and_then(|(_, v)| serde_json::from_str(v).ok())
            .unwrap_or_default();
        let mut routes: HashMap<String, (Vec<Target>, &'static str)> =
            defaults.routes.iter().map(|(f, t)| (f.clone(), (t.clone(), "config"))).collect();
        for (feature, targets) in &admin.routes {
            let targets: Vec<Target> = targets.iter().filter_map(|t| Target::parse(t)).collect();
            if !targets.is_empty() {
                routes.insert(feature.clone(), (targets, "admin"));
            }
        }
        let private_features = defaults
            .private_features
            .iter()
            .chain(admin.private_features.iter())
            .cloned()
            .collect();
        let private_users = admin.private_users.iter().copied().collect();
        Runtime {
            providers,
            rows,
            problems,
            strategy: admin.strategy.unwrap_or(defaults.strategy),
            admin,
            routes,
            private_features,
            private_users,
            fingerprint,
        }
    }
}

/// Builds an admin provider, opening its key.
fn provider_from_row(
    row: &ProviderRow,
    secrets: Option<&SecretBox>,
    urls: crate::outbound::UrlPolicy,
) -> Result<Arc<dyn Provider>, String> {
    let kind = match row.kind.as_str() {
        "openai" => super::ProviderKind::OpenAi,
        "anthropic" => super::ProviderKind::Anthropic,
        "ollama" => super::ProviderKind::Ollama,
        other => return Err(format!("unknown kind {other}")),
    };
    let mut config = ProviderConfig::new(&row.name, kind, &row.base_url);
    if let Some(sealed) = &row.api_key_enc {
        let secrets = secrets.ok_or("no secret key is configured to open its API key")?;
        config.api_key = Some(secrets.open(sealed).map_err(|e| e.to_string())?);
    }
    config.timeout = Duration::from_secs(u64::try_from(row.timeout_secs).unwrap_or(60));
    config.retry.max_retries = u32::try_from(row.max_retries).unwrap_or(0);
    config.private = row.private;
    config.azure_api_key_header = row.azure;
    config.urls = urls;
    build_provider(config).map_err(|e| e.to_string())
}

/// What ordering needs to know of a candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CandidateFacts {
    /// Blended price per million tokens (three input to one output), nano-dollars.
    pub blended: i128,
    /// Quality 0–100.
    pub quality: i32,
    /// False while its circuit breaker is open.
    pub healthy: bool,
}

impl CandidateFacts {
    /// Facts of `model` from the price table.
    pub fn of(table: &PriceTable, model: &str, healthy: bool) -> CandidateFacts {
        let (price, _) = table.lookup(model);
        CandidateFacts { blended: blended(&price), quality: table.quality(model), healthy }
    }
}

fn blended(p: &Price) -> i128 {
    (i128::from(p.input_per_mtok) * 3 + i128::from(p.output_per_mtok)) / 4
}

/// The order in which to try candidates (indices into `facts`): by the strategy, healthy ones
/// first, ties in configured order. `turn` rotates round-robin.
pub fn order(strategy: Strategy, facts: &[CandidateFacts], turn: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..facts.len()).collect();
    match strategy {
        Strategy::Priority => {}
        Strategy::Cost => idx.sort_by_key(|i| facts[*i].blended),
        Strategy::Quality => idx.sort_by_key(|i| std::cmp::Reverse(facts[*i].quality)),
        Strategy::Balanced => {
            let (lo_c, hi_c) = min_max(facts.iter().map(|f| f.blended as f64));
            let (lo_q, hi_q) = min_max(facts.iter().map(|f| f64::from(f.quality)));
            let norm = |v: f64, lo: f64, hi: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            let score = |f: &CandidateFacts| {
                0.5 * norm(f64::from(f.quality), lo_q, hi_q)
                    + 0.5 * (1.0 - norm(f.blended as f64, lo_c, hi_c))
            };
            idx.sort_by(|a, b| score(&facts[*b]).total_cmp(&score(&facts[*a])));
        }
        Strategy::RoundRobin => {
            if !idx.is_empty() {
                let n = idx.len();
                idx.rotate_left(turn % n);
            }
        }
    }
    // Stable: healthy candidates first, each group in strategy order.
    idx.sort_by_key(|i| !facts[*i].healthy);
    idx
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(blended: i128, quality: i32) -> CandidateFacts {
        CandidateFacts { blended, quality, healthy: true }
    }

    #[test]
    fn each_strategy_orders_as_documented() {
        // 0: strong and dear, 1: cheap and weak, 2: middling and cheap-ish.
        let facts = [f(10_000, 90), f(100, 50), f(1_000, 80)];
        assert_eq!(order(Strategy::Priority, &facts, 0), vec![0, 1, 2]);
        assert_eq!(order(Strategy::Cost, &facts, 0), vec![1, 2, 0]);
        assert_eq!(order(Strategy::Quality, &facts, 0), vec![0, 2, 1]);
        // Balanced: 2 has 75 % of the quality span at 9 % of the price span.
        assert_eq!(order(Strategy::Balanced, &facts, 0)[0], 2);
        assert_eq!(order(Strategy::RoundRobin, &facts, 0), vec![0, 1, 2]);
        assert_eq!(order(Strategy::RoundRobin, &facts, 1), vec![1, 2, 0]);
        assert_eq!(order(Strategy::RoundRobin, &facts, 5), vec![2, 0, 1]);
    }

    #[test]
    fn open_circuits_go_last_and_ties_keep_configured_order() {
        let mut facts = [f(100, 50), f(100, 50), f(50, 50)];
        facts[2].healthy = false;
        assert_eq!(order(Strategy::Cost, &facts, 0), vec![0, 1, 2]);
        assert_eq!(order(Strategy::Priority, &facts, 0), vec![0, 1, 2]);
        assert!(order(Strategy::Balanced, &[], 3).is_empty());
        assert!(order(Strategy::RoundRobin, &[], 3).is_empty());
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            Target::parse(" local:llama3:8b "),
            Some(Target { provider: "local".into(), model: "llama3:8b".into() })
        );
        assert_eq!(Target::parse("nomodel:"), None);
        assert_eq!(Target::parse("plain"), None);
    }
}
