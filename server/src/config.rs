//! Configuration: built-in defaults, then an optional TOML file (`BLUEPRINT_CONFIG`, or
//! `blueprint.toml` in the working directory), then `BLUEPRINT_*` environment variables
//! (`__` separates levels: `BLUEPRINT_SERVER__ADDR`), then `DATABASE_URL` and `REDIS_URL`.
//! Every setting is documented in docs/CONFIG.md. Secrets are typed so they never print.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
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

/// HTTP server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Where the built site (pkg/, assets) lives.
    pub site_root: String,
    /// Longest time one request may take.
    pub request_timeout_secs: u64,
    /// Largest request body accepted.
    pub body_limit_bytes: u64,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
    /// Whether to take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// When set, `/metrics` answers only `Authorization: Bearer <this token>`.
    pub metrics_token: Secret,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: "target/site".into(),
            request_timeout_secs: 30,
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 20,
            trust_forwarded_for: false,
            metrics_token: Secret::default(),
        }
    }
}

/// Database settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path` (the default, `./data/blueprint.db`) or `postgres://…`.
    pub url: SecretUrl,
    /// Pool size.
    pub max_connections: u32,
    /// Idle connections kept.
    pub min_connections: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretUrl::new("sqlite://data/blueprint.db"),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout_secs: 5,
        }
    }
}

/// Redis settings.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://…`; unset means in-process cache, limits and pub/sub.
    pub url: Option<SecretUrl>,
}

/// Cache settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Entries kept in process.
    pub max_entries: u64,
    /// With Redis: longest an in-process copy lives (bounds staleness if an invalidation is missed).
    pub l1_max_ttl_secs: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { max_entries: 10_000, l1_max_ttl_secs: 30 }
    }
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

/// Account and session settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 key for access tokens (≥ 32 bytes). Unset: one is generated and kept in the database.
    pub jwt_secret: Secret,
    /// Access-token lifetime.
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl_days: u64,
    /// Window in which a reused refresh token counts as a concurrent request, not theft.
    pub refresh_reuse_grace_secs: u64,
    /// Scopes of newly registered users.
    pub default_scopes: Vec<String>,
    /// Mark cookies `Secure` (serve over HTTPS) and send HSTS.
    pub secure_cookies: bool,
    /// Let anyone register (the first user always can).
    pub allow_registration: bool,
    /// Failed sign-ins allowed per account per window.
    pub login_max_failures: u32,
    /// That window.
    pub login_failure_window_secs: u64,
    /// Sign-in attempts allowed per IP per window.
    pub login_max_per_ip: u32,
    /// That window.
    pub login_ip_window_secs: u64,
    /// Accounts that may be registered from one IP per window.
    pub register_max_per_ip: u32,
    /// That window.
    pub register_ip_window_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::default(),
            access_ttl_secs: 900,
            refresh_ttl_days: 30,
            refresh_reuse_grace_secs: 10,
            default_scopes: vec!["basic".into(), "search".into(), "generate".into()],
            secure_cookies: false,
            allow_registration: true,
            login_max_failures: 5,
            login_failure_window_secs: 900,
            login_max_per_ip: 30,
            login_ip_window_secs: 300,
            register_max_per_ip: 10,
            register_ip_window_secs: 3600,
        }
    }
}

/// Background job settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSettings {
    /// Run workers in this instance (false: it only enqueues; other instances run the jobs).
    pub workers: bool,
    /// How often an idle worker looks for due jobs when nothing wakes it.
    pub poll_interval_ms: u64,
    /// How long a claim holds a job without a heartbeat; a dead worker's jobs rerun after it.
    pub lease_secs: u64,
    /// How often a running job's lease is extended (kept below half the lease).
    pub heartbeat_secs: u64,
    /// Succeeded and cancelled jobs are deleted this many days after they finish (0: never).
    pub retention_days: u64,
    /// Per-kind worker count overrides, e.g. `"demo.count" = 8`.
    pub concurrency: std::collections::BTreeMap<String, usize>,
    /// Recurring jobs.
    pub schedules: Vec<ScheduleSettings>,
}

impl Default for JobsSettings {
    fn default() -> Self {
        Self {
            workers: true,
            poll_interval_ms: 1000,
            lease_secs: 30,
            heartbeat_secs: 10,
            retention_days: 30,
            concurrency: std::collections::BTreeMap::new(),
            schedules: Vec::new(),
        }
    }
}

/// A recurring job from configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// Unique name; a firing is claimed once per name and fire time across instances.
    pub name: String,
    /// Cron expression in UTC: five fields, or six with seconds first.
    pub cron: String,
    /// The job kind to enqueue.
    pub kind: String,
    /// The job's payload.
    #[serde(default = "empty_object")]
    pub payload: serde_json::Value,
    /// `low`, `normal`, `high` or `urgent`.
    #[serde(default = "normal_priority")]
    pub priority: String,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

fn normal_priority() -> String {
    "normal".into()
}

/// LLM gateway settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// IANA time zone that budget periods follow (`Europe/Berlin`).
    pub timezone: String,
    /// Every user's budget per period, in USD, unless an admin sets another.
    pub user_budget_usd: f64,
    /// `daily`, `weekly` or `monthly`.
    pub user_budget_period: String,
    /// The whole deployment's budget per period, in USD; 0 means none. On by default, so a
    /// deployment with open registration has a ceiling however many accounts are made.
    pub global_budget_usd: f64,
    /// `daily`, `weekly` or `monthly`.
    pub global_budget_period: String,
    /// Input price (USD per million tokens) of a model the price table does not know.
    pub default_input_usd_per_mtok: f64,
    /// Output price (USD per million tokens) of a model the price table does not know.
    pub default_output_usd_per_mtok: f64,
    /// Percentages at which a budget alerts, once per period each.
    pub alert_thresholds: Vec<i32>,
    /// The providers.
    pub providers: Vec<ProviderSettings>,
    /// Feature → `["provider:model", …]` (first choice, then fallbacks); `default` for the rest.
    pub routes: std::collections::BTreeMap<String, Vec<String>>,
    /// Candidate order: `priority`, `cost`, `quality`, `balanced` or `round_robin` (admins can
    /// switch it at run time).
    pub strategy: String,
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
    pub feature_limits: std::collections::BTreeMap<String, FeatureLimitSettings>,
    /// How long an admitted call's reservation outlives its instance's last renewal (every
    /// quarter of this) before any instance settles it as `orphaned` and releases the hold.
    pub reservation_lease_secs: u64,
}

/// One feature's rate limits.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureLimitSettings {
    /// Calls per minute per user; 0 means unlimited.
    pub requests_per_minute: u32,
    /// Tokens per minute per user; 0 means unlimited.
    pub tokens_per_minute: u32,
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
            timezone: "UTC".into(),
            user_budget_usd: 5.0,
            user_budget_period: "monthly".into(),
            global_budget_usd: 100.0,
            global_budget_period: "monthly".into(),
            default_input_usd_per_mtok: 15.0,
            default_output_usd_per_mtok: 75.0,
            alert_thresholds: vec![80, 95, 100],
            providers: Vec::new(),
            routes: std::collections::BTreeMap::new(),
            strategy: "priority".into(),
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
    pub kind: String,
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

fn default_llm_timeout() -> u64 {
    60
}

fn default_llm_retries() -> u32 {
    2
}

/// Outgoing e-mail through an SMTP server. Nothing is sent while `host` is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// SMTP server host name or IP address, without scheme or port; empty turns e-mail off.
    pub host: String,
    /// Server port (587 for STARTTLS submission, 465 for TLS, 25 for a plain relay).
    pub port: u16,
    /// `starttls` (upgrade before sending anything; refused if the server cannot), `tls`
    /// (TLS from the first byte), or `none` (no encryption: a relay on this host, tests).
    pub security: String,
    /// User name for SMTP AUTH; empty means no AUTH.
    pub username: String,
    /// Password for SMTP AUTH; secret.
    pub password: Secret,
    /// Sender mailbox: `address` or `Name <address>`.
    pub from: String,
    /// Longest wait for the connection and for each reply of the server.
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: "starttls".into(),
            username: String::new(),
            password: Secret::default(),
            from: "Blueprint <blueprint@localhost>".into(),
            timeout_secs: 15,
        }
    }
}

impl SmtpSettings {
    /// Whether e-mail is on.
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }
}

/// In-app notification settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    /// Notifications are deleted this many days after they were raised, read or not (0: never).
    pub retention_days: u64,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

/// Knowledge sources and search (`[knowledge]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Largest uploaded file, bytes.
    pub max_upload_bytes: u64,
    /// Prose accumulates up to about this many characters per chunk.
    pub chunk_target_chars: usize,
    /// No chunk is longer than this.
    pub chunk_max_chars: usize,
    /// Characters of a prose chunk the next one under the same heading repeats.
    pub chunk_overlap_chars: usize,
    /// Reciprocal rank fusion constant k.
    pub rrf_k: f64,
    /// Weight of the keyword ranking in the fusion.
    pub keyword_weight: f64,
    /// Weight of the vector ranking in the fusion.
    pub vector_weight: f64,
    /// Vector hits below this cosine similarity are dropped.
    pub min_similarity: f32,
    /// Chunks each retriever contributes before fusion.
    pub candidates: usize,
    /// Ranks of each list fused by reciprocal rank; deeper finds are ordered after them.
    pub fusion_depth: usize,
    /// Half-life of the recency boost in days (0: off).
    pub recency_half_life_days: f64,
    /// Share of the score recency may take away from old documents (0–1).
    pub recency_weight: f64,
    /// How often an instance checks the index log without a wake-up.
    pub poll_interval_ms: u64,
    /// How long a page of results stays cached.
    pub cache_ttl_secs: u64,
    /// Syncs one instance runs at once.
    pub sync_concurrency: usize,
    /// `default` (the compiled-in EN+RU model), `openai` (an OpenAI-compatible
    /// `/v1/embeddings`), `ollama`, or `none` (keyword search only).
    pub embedder: String,
    /// Base URL of the embedding provider (`openai`, `ollama`).
    pub embedder_base_url: String,
    /// API key of the embedding provider.
    pub embedder_api_key: Secret,
    /// Embedding model name at the provider.
    pub embedder_model: String,
    /// Texts per embedding request.
    pub embed_batch: usize,
    /// Executable run as the extraction worker (`blueprint extract-worker`); empty: this one.
    pub extract_worker: String,
    /// Address space one extraction worker may use, MiB.
    pub extract_memory_mib: u64,
    /// CPU seconds one extraction worker may use.
    pub extract_cpu_secs: u64,
    /// Wall-clock seconds after which an extraction worker is killed.
    pub extract_timeout_secs: u64,
    /// Extraction workers one instance runs at once.
    pub extract_concurrency: usize,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        let d = app::server::knowledge::KnowledgeSettings::default();
        Self {
            max_upload_bytes: d.max_upload_bytes as u64,
            chunk_target_chars: d.chunk.target_chars,
            chunk_max_chars: d.chunk.max_chars,
            chunk_overlap_chars: d.chunk.overlap_chars,
            rrf_k: d.rrf_k,
            keyword_weight: d.keyword_weight,
            vector_weight: d.vector_weight,
            min_similarity: d.min_similarity,
            candidates: d.candidates,
            fusion_depth: d.fusion_depth,
            recency_half_life_days: d.recency_half_life_days,
            recency_weight: d.recency_weight,
            poll_interval_ms: d.poll_interval.as_millis() as u64,
            cache_ttl_secs: d.cache_ttl.as_secs(),
            sync_concurrency: d.sync_concurrency,
            embedder: "default".into(),
            embedder_base_url: String::new(),
            embedder_api_key: Secret::default(),
            embedder_model: String::new(),
            embed_batch: d.embed_batch,
            extract_worker: String::new(),
            extract_memory_mib: d.extract.memory_bytes / (1024 * 1024),
            extract_cpu_secs: d.extract.cpu_secs,
            extract_timeout_secs: d.extract.wall.as_secs(),
            extract_concurrency: d.extract.concurrency,
        }
    }
}

impl KnowledgeConfig {
    /// The runtime settings.
    pub fn to_settings(&self) -> app::server::knowledge::KnowledgeSettings {
        app::server::knowledge::KnowledgeSettings {
            max_upload_bytes: usize::try_from(self.max_upload_bytes).unwrap_or(usize::MAX),
            chunk: app::server::knowledge::chunk::ChunkOptions {
                target_chars: self.chunk_target_chars,
                max_chars: self.chunk_max_chars,
                overlap_chars: self.chunk_overlap_chars,
            },
            rrf_k: self.rrf_k,
            keyword_weight: self.keyword_weight,
            vector_weight: self.vector_weight,
            min_similarity: self.min_similarity,
            candidates: self.candidates,
            fusion_depth: self.fusion_depth,
            recency_half_life_days: self.recency_half_life_days,
            recency_weight: self.recency_weight,
            poll_interval: std::time::Duration::from_millis(self.poll_interval_ms),
            cache_ttl: std::time::Duration::from_secs(self.cache_ttl_secs),
            sync_concurrency: self.sync_concurrency,
            embed_batch: self.embed_batch,
            extract: app::server::knowledge::sandbox::ExtractLimits {
                worker: (!self.extract_worker.trim().is_empty())
                    .then(|| std::path::PathBuf::from(self.extract_worker.trim())),
                memory_bytes: self.extract_memory_mib.saturating_mul(1024 * 1024),
                cpu_secs: self.extract_cpu_secs,
                wall: std::time::Duration::from_secs(self.extract_timeout_secs),
                concurrency: self.extract_concurrency,
            },
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1024..=1024 * 1024 * 1024).contains(&self.max_upload_bytes) {
            return Err(bad("knowledge.max_upload_bytes", "must be between 1024 and 1073741824"));
        }
        if !(200..=20_000).contains(&self.chunk_max_chars) {
            return Err(bad("knowledge.chunk_max_chars", "must be between 200 and 20000"));
        }
        if self.chunk_target_chars == 0 || self.chunk_target_chars > self.chunk_max_chars {
            return Err(bad("knowledge.chunk_target_chars", "must be 1 to chunk_max_chars"));
        }
        if self.chunk_overlap_chars >= self.chunk_target_chars {
            return Err(bad("knowledge.chunk_overlap_chars", "must be below chunk_target_chars"));
        }
        if self.rrf_k.is_nan() || self.rrf_k <= 0.0 {
            return Err(bad("knowledge.rrf_k", "must be above 0"));
        }
        if self.keyword_weight < 0.0 || self.vector_weight < 0.0 {
            return Err(bad("knowledge.keyword_weight", "weights must not be negative"));
        }
        if !(-1.0..=1.0).contains(&self.min_similarity) {
            return Err(bad("knowledge.min_similarity", "must be between -1 and 1"));
        }
        if !(1..=2000).contains(&self.candidates) {
            return Err(bad("knowledge.candidates", "must be between 1 and 2000"));
        }
        if !(1..=2000).contains(&self.fusion_depth) {
            return Err(bad("knowledge.fusion_depth", "must be between 1 and 2000"));
        }
        if self.recency_half_life_days < 0.0 || !(0.0..=1.0).contains(&self.recency_weight) {
            return Err(bad(
                "knowledge.recency_weight",
                "must be between 0 and 1 (and the half-life not negative)",
            ));
        }
        if !(100..=600_000).contains(&self.poll_interval_ms) {
            return Err(bad("knowledge.poll_interval_ms", "must be between 100 and 600000"));
        }
        if !(1..=64).contains(&self.sync_concurrency) {
            return Err(bad("knowledge.sync_concurrency", "must be between 1 and 64"));
        }
        if !(256..=65_536).contains(&self.extract_memory_mib) {
            return Err(bad("knowledge.extract_memory_mib", "must be between 256 and 65536"));
        }
        if !(1..=3600).contains(&self.extract_cpu_secs) {
            return Err(bad("knowledge.extract_cpu_secs", "must be between 1 and 3600"));
        }
        if !(1..=3600).contains(&self.extract_timeout_secs) {
            return Err(bad("knowledge.extract_timeout_secs", "must be between 1 and 3600"));
        }
        if self.extract_cpu_secs > self.extract_timeout_secs {
            return Err(bad(
                "knowledge.extract_cpu_secs",
                "must not exceed knowledge.extract_timeout_secs",
            ));
        }
        if !(1..=64).contains(&self.extract_concurrency) {
            return Err(bad("knowledge.extract_concurrency", "must be between 1 and 64"));
        }
        if !self.extract_worker.trim().is_empty()
            && !std::path::Path::new(self.extract_worker.trim()).is_file()
        {
            return Err(bad("knowledge.extract_worker", "must name an existing executable"));
        }
        if !(1..=2048).contains(&self.embed_batch) {
            return Err(bad("knowledge.embed_batch", "must be between 1 and 2048"));
        }
        match self.embedder.as_str() {
            "default" | "none" => {}
            "openai" | "ollama" => {
                if self.embedder_base_url.trim().is_empty() {
                    return Err(bad(
                        "knowledge.embedder_base_url",
                        "is required for this embedder",
                    ));
                }
                if self.embedder_model.trim().is_empty() {
                    return Err(bad("knowledge.embedder_model", "is required for this embedder"));
                }
            }
            _ => return Err(bad("knowledge.embedder", "must be default, openai, ollama or none")),
        }
        Ok(())
    }
}

/// Outbound URL rules (`[security]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Let admins point sources and providers at loopback and private-network addresses
    /// (self-managed servers on the same network). Link-local and metadata addresses stay refused.
    pub allow_private_urls: bool,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// Filter in `tracing` syntax; `RUST_LOG` overrides it.
    pub level: String,
    /// `pretty` or `json`.
    pub format: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info,sqlx=warn,tower_http=info".into(), format: "pretty".into() }
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
        if let Err(msg) = app::model::Scopes::parse_names(&self.auth.default_scopes) {
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
            if app::model::JobPriority::parse(&s.priority).is_err() {
                return Err(bad(&key("priority"), "must be low, normal, high or urgent"));
            }
            if let Err(e) =
                app::server::jobs::CronSchedule::parse(&s.name, &s.cron, &s.kind, s.payload.clone())
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
        if self.log.format != "pretty" && self.log.format != "json" {
            return Err(bad("log.format", "must be 'pretty' or 'json'"));
        }
        Ok(())
    }
}

impl Settings {
    fn validate_llm(&self) -> Result<(), ConfigError> {
        if let Some(key) = &self.secrets.key.0
            && app::server::secrets::SecretBox::from_base64(key.expose_secret()).is_err()
        {
            return Err(bad("secrets.key", "must be 32 bytes, base64-encoded"));
        }
        let l = &self.llm;
        if l.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(bad("llm.timezone", "must be an IANA time zone such as Europe/Berlin"));
        }
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
        for (key, value) in [
            ("llm.user_budget_period", &l.user_budget_period),
            ("llm.global_budget_period", &l.global_budget_period),
        ] {
            if app::server::llm::Period::parse(value).is_none() {
                return Err(bad(key, "must be daily, weekly or monthly"));
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
            if provider_kind(&p.kind).is_none() {
                return Err(bad(&key("kind"), "must be openai, anthropic or ollama"));
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
        if app::model::Strategy::parse(&l.strategy).is_none() {
            return Err(bad(
                "llm.strategy",
                "must be priority, cost, quality, balanced or round_robin",
            ));
        }
        if l.cache_ttl_secs > 30 * 86_400 {
            return Err(bad("llm.cache_ttl_secs", "must be at most 2592000 (30 days)"));
        }
        for (feature, targets) in &l.routes {
            for t in targets {
                match t.split_once(':') {
                    Some((provider, model)) if names.contains(provider) && !model.is_empty() => {}
                    _ => {
                        return Err(bad(
                            &format!("llm.routes.{feature}"),
                            format!("{t:?} must be provider:model with a configured provider"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Settings {
    fn validate_smtp(&self) -> Result<(), ConfigError> {
        use app::server::mail::{Security, parse_mailbox};
        let m = &self.smtp;
        let Some(security) = Security::parse(&m.security) else {
            return Err(bad("smtp.security", "must be starttls, tls or none"));
        };
        if let Err(e) = parse_mailbox(&m.from) {
            return Err(bad("smtp.from", e));
        }
        if !(1..=600).contains(&m.timeout_secs) {
            return Err(bad("smtp.timeout_secs", "must be between 1 and 600"));
        }
        if m.password.0.is_some() && m.username.trim().is_empty() {
            return Err(bad("smtp.password", "is set but smtp.username is empty"));
        }
        let host = m.host.trim();
        if host.is_empty() {
            return Ok(());
        }
        let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>();
        let name_ok = host.len() <= 253
            && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if ip.is_err() && !name_ok {
            return Err(bad(
                "smtp.host",
                "must be a host name or IP address, without scheme, credentials or port",
            ));
        }
        if m.port == 0 {
            return Err(bad("smtp.port", "must be between 1 and 65535"));
        }
        let local = host == "localhost" || ip.is_ok_and(|ip| ip.is_loopback());
        if security == Security::None && !m.username.trim().is_empty() && !local {
            return Err(bad(
                "smtp.username",
                "would be sent unencrypted with security = \"none\"; use starttls or tls \
                 (credentials over a plain connection are only allowed to this host)",
            ));
        }
        Ok(())
    }
}

/// The provider kind a configured name means.
pub fn provider_kind(name: &str) -> Option<app::server::llm::ProviderKind> {
    use app::server::llm::ProviderKind;
    match name.trim().to_ascii_lowercase().as_str() {
        "openai" => Some(ProviderKind::OpenAi),
        "anthropic" => Some(ProviderKind::Anthropic),
        "ollama" => Some(ProviderKind::Ollama),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_url_debug_hides_password() {
        let u = SecretUrl::new("postgres://app:hunter2@db:5432/x");
        assert!(!format!("{u:?}").contains("hunter2"));
    }

    #[test]
    fn rejects_unknown_database_scheme() {
        let mut s = Settings::default();
        s.database.url = SecretUrl::new("mysql://x");
        assert_eq!(s.validate().unwrap_err().key, "database.url");
    }

    #[test]
    fn rejects_a_bad_cron_expression_naming_the_schedule() {
        let mut s = Settings::default();
        s.jobs.schedules.push(ScheduleSettings {
            name: "nightly".into(),
            cron: "61 * * * *".into(),
            kind: "demo.count".into(),
            payload: empty_object(),
            priority: "normal".into(),
        });
        let err = s.validate().unwrap_err();
        assert_eq!(err.key, "jobs.schedules[0].cron");
        assert!(err.rule.contains("nightly"), "{}", err.rule);
    }

    #[test]
    fn heartbeat_must_fit_twice_in_the_lease() {
        let mut s = Settings::default();
        s.jobs.heartbeat_secs = 20;
        assert_eq!(s.validate().unwrap_err().key, "jobs.heartbeat_secs");
    }

    #[test]
    fn llm_routes_must_name_a_configured_provider() {
        let mut s = Settings::default();
        s.llm.providers.push(ProviderSettings {
            name: "local".into(),
            kind: "ollama".into(),
            base_url: "http://127.0.0.1:11434".into(),
            api_key: Secret::default(),
            timeout_secs: 60,
            max_retries: 2,
            private: None,
            azure: false,
        });
        s.llm.routes.insert("default".into(), vec!["local:llama3".into()]);
        s.validate().unwrap();
        s.llm.routes.insert("console".into(), vec!["openai:gpt-4o".into()]);
        assert_eq!(s.validate().unwrap_err().key, "llm.routes.console");
        s.llm.routes.remove("console");
        s.llm.timezone = "Mars/Olympus".into();
        assert_eq!(s.validate().unwrap_err().key, "llm.timezone");
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    fn smtp_on() -> Settings {
        let mut s = Settings::default();
        s.smtp.host = "smtp.example.com".into();
        s.smtp.username = "mailer".into();
        s.smtp.password = Secret(Some("hunter2".to_string().into()));
        s
    }

    #[test]
    fn smtp_is_off_by_default_and_valid_when_configured() {
        assert!(!Settings::default().smtp.enabled());
        let s = smtp_on();
        assert!(s.smtp.enabled());
        s.validate().unwrap();
    }

    type Break = fn(&mut SmtpSettings);

    #[test]
    fn smtp_rules_name_the_key() {
        let cases: [(&str, Break); 8] = [
            ("smtp.security", |m| m.security = "ssl".into()),
            ("smtp.from", |m| m.from = "Blueprint <nobody>".into()),
            ("smtp.from", |m| m.from = "".into()),
            ("smtp.timeout_secs", |m| m.timeout_secs = 0),
            ("smtp.port", |m| m.port = 0),
            ("smtp.host", |m| m.host = "smtp://mail.example.com".into()),
            ("smtp.host", |m| m.host = "mail.example.com:587".into()),
            ("smtp.password", |m| m.username = String::new()),
        ];
        for (key, break_it) in cases {
            let mut s = smtp_on();
            break_it(&mut s.smtp);
            assert_eq!(s.validate().unwrap_err().key, key);
        }
    }

    #[test]
    fn smtp_credentials_never_cross_the_network_unencrypted() {
        let mut s = smtp_on();
        s.smtp.security = "none".into();
        let err = s.validate().unwrap_err();
        assert_eq!(err.key, "smtp.username");
        assert!(err.rule.contains("starttls"), "{}", err.rule);
        s.smtp.host = "127.0.0.1".into();
        s.validate().unwrap();
        s.smtp.username = String::new();
        s.smtp.password = Secret::default();
        s.smtp.host = "relay.internal".into();
        s.validate().unwrap();
    }

    #[test]
    fn smtp_password_is_hidden_when_printed() {
        let text = format!("{:#?}", smtp_on());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("smtp.example.com"));
    }

    // figment::Jail's closure must return figment's own (large) error type.
    #[allow(clippy::result_large_err)]
    #[test]
    fn smtp_settings_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BLUEPRINT_SMTP__HOST", "mail.example.com");
            jail.set_env("BLUEPRINT_SMTP__PORT", "2525");
            jail.set_env("BLUEPRINT_SMTP__SECURITY", "tls");
            jail.set_env("BLUEPRINT_SMTP__FROM", "Ops <ops@example.com>");
            jail.set_env("BLUEPRINT_SMTP__USERNAME", "mailer");
            jail.set_env("BLUEPRINT_SMTP__PASSWORD", "123456");
            let s = Settings::load().map_err(|e| e.to_string())?;
            assert_eq!(
                s.smtp.password.0.as_ref().map(|p| p.expose_secret().to_string()),
                Some("123456".into())
            );
            assert_eq!(
                (s.smtp.host.as_str(), s.smtp.port, s.smtp.security.as_str()),
                ("mail.example.com", 2525, "tls")
            );
            assert_eq!(s.smtp.from, "Ops <ops@example.com>");
            jail.set_env("BLUEPRINT_SMTP__SECURITY", "plain");
            let err = Settings::load().unwrap_err();
            assert_eq!(err.key, "smtp.security");
            Ok(())
        });
    }
}
