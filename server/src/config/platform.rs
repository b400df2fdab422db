//! The platform's sections: `[server]`, `[database]`, `[redis]`, `[cache]`, `[auth]`, `[jobs]`,
//! `[notifications]`, `[security]`, `[log]`.

use super::*;

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

pub(super) fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

pub(super) fn normal_priority() -> String {
    "normal".into()
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
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info,sqlx=warn,tower_http=info".into(), format: LogFormat::Pretty }
    }
}
