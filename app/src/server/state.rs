//! `AppState`: what every server fn and route handler works with. Built once at start-up by
//! the server crate and handed to Leptos as context and to axum as state.

use crate::error::AppError;
use crate::model::Scopes;
use crate::server::auth::JwtKeys;
use crate::server::cache::Cache;
use crate::server::errors::internal;
use crate::server::events::EventBus;
use crate::server::ratelimit::RateLimiter;
use crate::server::redis_conn::RedisConn;
use crate::server::store::DynStore;
use std::sync::Arc;
use std::time::Duration;

/// Account and session rules, from configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token (and so of an idle session).
    pub refresh_ttl: Duration,
    /// A refresh token presented again within this time after its use is treated as a
    /// concurrent request of the same client, not as theft.
    pub refresh_reuse_grace: Duration,
    /// Scopes a newly registered user gets.
    pub default_scopes: Scopes,
    /// Whether cookies carry the `Secure` flag (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Whether anyone may register (the first user always may).
    pub allow_registration: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            default_scopes: Scopes::new([
                crate::model::Scope::Basic,
                crate::model::Scope::Search,
                crate::model::Scope::Generate,
            ]),
            secure_cookies: false,
            allow_registration: true,
        }
    }
}

/// Sign-in limiters.
#[derive(Clone)]
pub struct Limiters {
    /// Failed sign-ins per account.
    pub login_account: RateLimiter,
    /// Sign-in attempts per client IP.
    pub login_ip: RateLimiter,
}

/// Shared state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Persistence.
    pub store: DynStore,
    /// Two-level cache.
    pub cache: Cache,
    /// Redis, when configured.
    pub redis: Option<RedisConn>,
    /// Token signing keys.
    pub jwt: Arc<JwtKeys>,
    /// Account rules.
    pub auth: Arc<AuthSettings>,
    /// Rate limiters.
    pub limits: Limiters,
    /// Live events to users.
    pub events: EventBus,
    /// The job queue's wake-up line and event channel.
    pub jobs: JobsLink,
}

/// What services need of the job runner: wake it after an enqueue, and the channel its
/// events go out on. The runner fills in the notifier when it starts.
#[derive(Clone)]
pub struct JobsLink {
    /// Set once the runner runs in this process.
    pub notifier: Arc<std::sync::OnceLock<crate::server::jobs::JobNotifier>>,
    /// Job events, forwarded to the owners' live events.
    pub events: tokio::sync::broadcast::Sender<crate::model::JobEvent>,
}

impl JobsLink {
    /// A link with no runner yet.
    pub fn new() -> Self {
        let (events, _) = tokio::sync::broadcast::channel(1024);
        Self { notifier: Arc::new(std::sync::OnceLock::new()), events }
    }

    /// Wakes this process's idle workers (others find the job on their next poll).
    pub fn notify_enqueued(&self) {
        if let Some(n) = self.notifier.get() {
            n.notify_enqueued();
        }
    }
}

impl Default for JobsLink {
    fn default() -> Self {
        Self::new()
    }
}

/// The state, from Leptos context (server fns and SSR).
pub fn app_state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| internal("AppState is not in the Leptos context"))
}
