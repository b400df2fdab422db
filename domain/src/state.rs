//! `AppState`: what every server fn and route handler works with. Built once at start-up by
//! the server crate and handed to Leptos as context and to axum as state.

use crate::auth::JwtKeys;
use crate::cache::Cache;
use crate::events::EventBus;
use crate::ratelimit::RateLimiter;
use crate::redis_conn::RedisConn;
use crate::store::DynStore;
use model::Scopes;
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
                model::Scope::Basic,
                model::Scope::Search,
                model::Scope::Generate,
            ]),
            secure_cookies: false,
            allow_registration: true,
        }
    }
}

/// Sign-in limiters.
#[derive(Clone)]
pub struct Limiters {
    /// Failed sign-ins per (account, client IP): a client that keeps guessing is locked out.
    pub login_account: RateLimiter,
    /// Failed sign-ins per account from any client: past the limit every attempt at the account
    /// waits a progressively longer time, but the right password still signs in.
    pub login_delay: RateLimiter,
    /// Sign-in attempts per client IP.
    pub login_ip: RateLimiter,
    /// Registrations per client IP.
    pub register_ip: RateLimiter,
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
    /// The LLM gateway: routing, budgets, the ledger.
    pub llm: crate::llm::Gateway,
    /// Knowledge search: this instance's index, the embedder, ranking settings.
    pub knowledge: crate::knowledge::Knowledge,
    /// Which addresses user- and admin-supplied URLs may reach.
    pub urls: crate::outbound::UrlPolicy,
}

/// What services need of the job runner: wake it after an enqueue, and the channel its
/// events go out on. The runner fills in the notifier when it starts.
#[derive(Clone)]
pub struct JobsLink {
    /// Set once the runner runs in this process.
    pub notifier: Arc<std::sync::OnceLock<crate::jobs::JobNotifier>>,
    /// Job events, forwarded to the owners' live events.
    pub events: tokio::sync::broadcast::Sender<model::JobEvent>,
    /// With Redis, enqueues wake the idle workers of every instance, not only this one's.
    redis: Option<RedisConn>,
}

/// Redis channel on which an enqueue wakes every instance's idle workers.
const WAKE_CHANNEL: &str = "bp:jobs:wake";

impl JobsLink {
    /// A link with no runner yet. With Redis, it also listens for other instances' enqueues.
    pub fn new(redis: Option<RedisConn>) -> Self {
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let notifier: Arc<std::sync::OnceLock<crate::jobs::JobNotifier>> =
            Arc::new(std::sync::OnceLock::new());
        if let Some(redis) = &redis {
            let local = notifier.clone();
            redis.subscribe_forever(WAKE_CHANNEL, "job wake-up", move |_| {
                if let Some(n) = local.get() {
                    n.notify_enqueued();
                }
                std::future::ready(())
            });
        }
        Self { notifier, events, redis }
    }

    /// Wakes idle workers: this process's at once, other instances' through Redis when
    /// configured (without Redis they find the job on their next poll).
    pub fn notify_enqueued(&self) {
        if let Some(n) = self.notifier.get() {
            n.notify_enqueued();
        }
        if let Some(redis) = self.redis.clone() {
            tokio::spawn(async move { redis.publish(WAKE_CHANNEL, "1").await });
        }
    }
}
