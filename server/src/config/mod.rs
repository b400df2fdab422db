//! Configuration: built-in defaults, then an optional TOML file (`BLUEPRINT_CONFIG`, or
//! `blueprint.toml` in the working directory), then cargo-leptos' `LEPTOS_SITE_ADDR` and
//! `LEPTOS_SITE_ROOT`, then `BLUEPRINT_*` environment variables
//! (`__` separates levels: `BLUEPRINT_SERVER__ADDR`), then `DATABASE_URL` and `REDIS_URL`.
//! Every setting is documented in docs/CONFIG.md. Secrets are typed so they never print.

use figment::Figment;

mod knowledge;
mod llm;
mod named;
mod platform;
mod smtp;
#[cfg(test)]
mod tests;

pub use knowledge::*;
pub use llm::*;
pub use platform::*;
pub use smtp::*;

use chrono_tz::Tz;
use domain::llm::{FeatureLimit, Period, ProviderKind, Target};
use domain::mail::Security;
use figment::providers::{Env, Format, Serialized, Toml};
use model::Strategy;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A connection URL whose password never appears in logs or errors.
#[derive(Clone)]
pub struct SecretUrl(SecretString);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The full URL, for the driver.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.expose()) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            Err(_) => "<unparseable url>".into(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretUrl::new)
    }
}

/// All settings.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Redis (optional).
    pub redis: RedisSettings,
    /// Cache.
    pub cache: CacheSettings,
    /// Accounts and sessions.
    pub auth: AuthSettings,
    /// Background jobs.
    pub jobs: JobsSettings,
    /// The LLM gateway: providers, routes, prices, budgets.
    pub llm: LlmSettings,
    /// The key that seals secrets at rest.
    pub secrets: SecretsSettings,
    /// Outgoing e-mail (budget alerts); off while `smtp.host` is empty.
    pub smtp: SmtpSettings,
    /// In-app notifications.
    pub notifications: NotificationSettings,
    /// Knowledge sources and search.
    pub knowledge: KnowledgeConfig,
    /// Outbound URL rules.
    pub security: SecuritySettings,
    /// Logging.
    pub log: LogSettings,
}

/// A secret string from configuration; prints as `***`.
#[derive(Clone, Default)]
pub struct Secret(pub Option<SecretString>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "***" } else { "<unset>" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(v) => s.serialize_some(v.expose_secret()),
            None => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret(Option::<String>::deserialize(d)?.map(SecretString::from)))
    }
}

/// A setting that broke a rule.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {key}: {rule}")]
pub struct ConfigError {
    /// Dotted key (`server.addr`).
    pub key: String,
    /// The rule it broke.
    pub rule: String,
}

/// String settings whose `BLUEPRINT_*` variable is never parsed as a number or boolean.
const VERBATIM_ENV_KEYS: [&str; 3] = ["auth.jwt_secret", "smtp.username", "smtp.password"];

/// An environment variable's value, when it is set and not blank.
fn env_value(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn bad(key: &str, rule: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), rule: rule.into() }
}

impl Settings {
    /// Loads all layers and validates the result.
    pub fn load() -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let file = std::env::var("BLUEPRINT_CONFIG").ok().map(PathBuf::from).or_else(|| {
            let p = PathBuf::from("blueprint.toml");
            p.exists().then_some(p)
        });
        if let Some(path) = file {
            if !path.exists() {
                return Err(bad(
                    "BLUEPRINT_CONFIG",
                    format!("file {} does not exist", path.display()),
                ));
            }
            figment = figment.merge(Toml::file(path));
        }
        // Leptos' own variables, as cargo-leptos passes them to the server it runs (`serve`,
        // `watch`, `end2end`, from `site-addr` and `site-root`); `BLUEPRINT_*`, merged next, wins.
        if let Some(addr) = env_value("LEPTOS_SITE_ADDR") {
            let addr: SocketAddr = addr.parse().map_err(|_| {
                bad("LEPTOS_SITE_ADDR", "must be an IP address and port, such as 127.0.0.1:3000")
            })?;
            figment = figment.merge(Serialized::default("server.addr", addr));
        }
        if let Some(root) = env_value("LEPTOS_SITE_ROOT") {
            figment = figment.merge(Serialized::default("server.site_root", root));
        }
        figment = figment
            .merge(Env::prefixed("BLUEPRINT_").split("__").ignore(&["config", "admin_password"]));
        // The environment layer reads `012345` as the number 12345; these strings (secrets above
        // all) are taken verbatim instead, leading zeros and all.
        for key in VERBATIM_ENV_KEYS {
            let var = format!("BLUEPRINT_{}", key.to_ascii_uppercase().replace('.', "__"));
            if let Ok(value) = std::env::var(&var) {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        if let Ok(url) = std::env::var("REDIS_URL")
            && !url.trim().is_empty()
        {
            figment = figment.merge(Serialized::default("redis.url", url));
        }
        let settings: Settings = figment.extract().map_err(|e| {
            let key = e.path.join(".");
            let mut rule = e.kind.to_string();
            if let Some(meta) = &e.metadata {
                rule.push_str(&format!(" (from {})", meta.name));
            }
            bad(if key.is_empty() { "<root>" } else { &key }, rule)
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks rules serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(bad("database.url", "must start with sqlite: or postgres://"));
        }
        if !(1..=1000).contains(&self.database.max_connections) {
            return Err(bad("database.max_connections", "must be between 1 and 1000"));
        }
        if self.database.min_connections > self.database.max_connections {
            return Err(bad(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        if let Some(r) = &self.redis.url
            && !(r.expose().starts_with("redis://") || r.expose().starts_with("rediss://"))
        {
            return Err(bad("redis.url", "must start with redis:// or rediss://"));
        }
        if !(1..=3600).contains(&self.server.request_timeout_secs) {
            return Err(bad("server.request_timeout_secs", "must be between 1 and 3600"));
        }
        if !(1024..=1024 * 1024 * 1024).contains(&self.server.body_limit_bytes) {
            return Err(bad("server.body_limit_bytes", "must be between 1024 and 1073741824"));
        }
        if let Some(s) = &self.auth.jwt_secret.0
            && s.expose_secret().len() < 32
        {
            return Err(bad("auth.jwt_secret", "must be at least 32 bytes"));
        }
        if !(30..=86_400).contains(&self.auth.access_ttl_secs) {
            return Err(bad("auth.access_ttl_secs", "must be between 30 and 86400"));
        }
        if !(1..=365).contains(&self.auth.refresh_ttl_days) {
            return Err(bad("auth.refresh_ttl_days", "must be between 1 and 365"));
        }
        if let Err(msg) = model::Scopes::parse_names(&self.auth.default_scopes) {
            return Err(bad("auth.default_scopes", msg));
        }
        if self.auth.login_max_failures == 0
            || self.auth.login_max_per_ip == 0
            || self.auth.register_max_per_ip == 0
        {
            return Err(bad("auth.login_max_failures", "limits must be at least 1"));
        }
        let j = &self.jobs;
        if !(10..=60_000).contains(&j.poll_interval_ms) {
            return Err(bad("jobs.poll_interval_ms", "must be between 10 and 60000"));
        }
        if !(2..=3600).contains(&j.lease_secs) {
            return Err(bad("jobs.lease_secs", "must be between 2 and 3600"));
        }
        if j.heartbeat_secs == 0 || j.heartbeat_secs * 2 > j.lease_secs {
            return Err(bad(
                "jobs.heartbeat_secs",
                "must be at least 1 and at most half of jobs.lease_secs",
            ));
        }
        for (kind, n) in &j.concurrency {
            if !(1..=1000).contains(n) {
                return Err(bad(&format!("jobs.concurrency.{kind}"), "must be between 1 and 1000"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in j.schedules.iter().enumerate() {
            let key = |field: &str| format!("jobs.schedules[{i}].{field}");
            if s.name.trim().is_empty() || !names.insert(s.name.as_str()) {
                return Err(bad(&key("name"), "must be present and unique"));
            }
            if model::JobPriority::parse(&s.priority).is_err() {
                return Err(bad(&key("priority"), "must be low, normal, high or urgent"));
            }
            if let Err(e) =
                domain::jobs::CronSchedule::parse(&s.name, &s.cron, &s.kind, s.payload.clone())
            {
                return Err(bad(&key("cron"), format!("{e:#}")));
            }
        }
        self.validate_llm()?;
        self.validate_smtp()?;
        self.knowledge.validate()?;
        if self.knowledge.extract_timeout_secs >= self.server.request_timeout_secs {
            // An upload waits for its check: the worker must be killed before the request is.
            return Err(bad(
                "knowledge.extract_timeout_secs",
                "must be below server.request_timeout_secs",
            ));
        }
        if self.server.metrics_token.0.as_ref().is_some_and(|t| t.expose_secret().len() < 16) {
            return Err(bad("server.metrics_token", "must be at least 16 characters"));
        }
        if self.notifications.retention_days > 36_500 {
            return Err(bad("notifications.retention_days", "must be between 0 and 36500"));
        }
        Ok(())
    }
}
