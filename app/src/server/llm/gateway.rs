//! The gateway: picks a provider and model for a feature (with fallback), reserves the call's
//! worst-case cost on every budget it counts against (refusing with 402 naming the budget),
//! calls the provider, settles the reservation to the real cost and writes the ledger row —
//! for whole answers, streams, failed calls and streams the client abandoned alike.

use super::budget::Period;
use super::error::LlmError;
use super::pricing::{Price, PriceTable};
use super::provider::Provider;
pub use super::routing::Target;
use super::routing::{CandidateFacts, RoutingDefaults, Runtime};
use super::tokens;
use super::types::{ChatRequest, ChatResponse, Message, StreamEvent, Usage, estimate_tokens};
use crate::error::AppError;
use crate::model::Strategy;
use crate::server::cache::{Cache, CacheKey};
use crate::server::events::EventBus;
use crate::server::ratelimit::{Limit as RateLimit, RateLimiter};
use crate::server::redis_conn::RedisConn;
use crate::server::secrets::SecretBox;
use crate::server::store::{
    BudgetCheck, BudgetOp, BudgetOpResult, DynStore, NewLlmCall, NewReservation, ReservationRow,
};
use crate::server::store::{BudgetRow, BudgetSpend};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A budget limit and its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Per period, nano-dollars.
    pub nanos: i64,
    /// The period.
    pub period: Period,
}

/// How the gateway prices, limits and routes.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Periods are aligned to the calendar here.
    pub timezone: Tz,
    /// Every user's budget unless an admin set another.
    pub default_user_budget: Limit,
    /// The whole deployment's budget, if any.
    pub global_budget: Option<Limit>,
    /// Price of a model the table does not know (flagged in the ledger).
    pub default_price: Price,
    /// Soft thresholds in percent that alert once per period.
    pub alert_thresholds: Vec<i32>,
    /// Feature → route (first target first, then the fallbacks); `default` serves the rest.
    pub routes: HashMap<String, Vec<Target>>,
    /// Candidate order unless an admin picks another.
    pub strategy: Strategy,
    /// Features whose calls may only go to private providers.
    pub private_features: Vec<String>,
    /// The response cache.
    pub answer_cache: AnswerCacheSettings,
    /// Per-user limits per feature.
    pub rate_limits: RateLimits,
    /// Opens the keys of providers admins added (without it they cannot have keys).
    pub secrets: Option<SecretBox>,
    /// Which addresses admin-added providers may be at (`security.allow_private_urls`).
    pub urls: crate::server::outbound::UrlPolicy,
    /// How long a reservation outlives its instance's last renewal before any instance's
    /// reaper settles it as `orphaned` (renewals run every quarter of it).
    pub reservation_lease: Duration,
}

/// Which answers are reused, for how long, and by whom.
#[derive(Debug, Clone, Default)]
pub struct AnswerCacheSettings {
    /// How long an answer is reused; zero turns the cache off.
    pub ttl: Duration,
    /// Features whose answers every user shares (others: per user).
    pub shared_features: Vec<String>,
    /// Features never answered from the cache.
    pub disabled_features: Vec<String>,
}

/// Requests and tokens per minute, per user and feature; 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureLimit {
    /// Calls per minute.
    pub requests_per_minute: u32,
    /// Input + output tokens per minute.
    pub tokens_per_minute: u32,
}

/// The default limit and per-feature overrides.
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    /// For features without their own.
    pub default: FeatureLimit,
    /// Per feature.
    pub features: HashMap<String, FeatureLimit>,
}

/// An answer kept for reuse.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CachedAnswer {
    text: String,
    finish_reason: Option<String>,
}

/// A finished call as the caller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// Ledger row id.
    pub call_id: i64,
    /// Provider that answered.
    pub provider: String,
    /// Model.
    pub model: String,
    /// What it cost.
    pub cost_nanos: i64,
    /// Tokens.
    pub usage: Usage,
}

/// A budget crossed one of its alert thresholds (claimed once per budget, period and
/// threshold across all instances).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetAlert {
    /// `global` or `user:<id>`.
    pub budget: String,
    /// The user whose budget it is (`None` for the global one).
    pub user_id: Option<i64>,
    /// `daily`, `weekly` or `monthly`.
    pub period: String,
    /// The threshold crossed, in percent.
    pub threshold: i32,
    /// Spent in the period so far, nano-dollars.
    pub spent_nanos: i64,
    /// The budget's limit, nano-dollars.
    pub limit_nanos: i64,
    /// When the period ends.
    pub resets_at: DateTime<Utc>,
}

/// Where budget alerts go beyond the live push (in-app notifications, e-mail).
#[async_trait::async_trait]
pub trait AlertSink: Send + Sync {
    /// Delivers one alert. Errors are the sink's to log; the call that crossed the threshold
    /// has already been settled.
    async fn budget_alert(&self, alert: BudgetAlert);
}

/// The LLM gateway. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    events: Option<EventBus>,
    cache: Option<Cache>,
    /// Providers from configuration (admin ones live in the runtime).
    providers: HashMap<String, Arc<dyn Provider>>,
    settings: GatewaySettings,
    defaults: RoutingDefaults,
    runtime: Mutex<Option<(Instant, Arc<Runtime>)>>,
    reload: tokio::sync::Mutex<()>,
    turns: Mutex<HashMap<String, usize>>,
    requests: RateLimiter,
    tokens: RateLimiter,
    prices: Mutex<Option<(Instant, PriceTable)>>,
    alerts: std::sync::OnceLock<Arc<dyn AlertSink>>,
    /// Settlements of streams, which run in tasks of their own (a stream may be settled from
    /// `Drop`); graceful shutdown waits for them (`drain_settlements`).
    settlements: tokio_util::task::TaskTracker,
    /// This instance, as the owner of its reservations.
    owner: String,
    /// The holds of calls this instance is serving now: only these are renewed, so a hold
    /// whose call ended without settling (cancelled, settlement failed) expires and is reaped.
    live: Arc<Mutex<std::collections::HashSet<i64>>>,
    /// Where reservations and settlements queue for the batch writer (started on first use).
    writer: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<BudgetJob>>,
}

/// A budget operation waiting for its batch, and where its result goes.
type BudgetJob = (BudgetOp, tokio::sync::oneshot::Sender<Result<BudgetOpResult, AppError>>);

/// The most operations one budget transaction carries.
const MAX_BATCH: usize = 256;

/// Runs queued budget operations in batches: whatever queued while the previous transaction
/// ran goes into the next one (group commit), so under load the hot `global` row is written
/// once per batch, and alone a call waits for nothing. A batch that fails as a whole is retried
/// one operation at a time, so one bad operation cannot fail the others.
fn spawn_budget_writer(store: DynStore) -> tokio::sync::mpsc::UnboundedSender<BudgetJob> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BudgetJob>();
    tokio::spawn(async move {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            let (ops, replies): (Vec<BudgetOp>, Vec<_>) = jobs.drain(..).unzip();
            metrics::histogram!("llm_budget_batch_size").record(ops.len() as f64);
            match store.budget_batch(&ops).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                }
                Err(crate::server::store::StoreError::Other(e))
                    if e.is::<crate::server::store::CommitUnknown>() =>
                {
                    // It may have committed: running the operations again could bill twice.
                    // Reservations fail (the caller retries); a settlement's hold, no longer
                    // renewed, is reaped if the commit did not take effect.
                    tracing::error!(error = %e, operations = ops.len(), "a budget batch's commit failed");
                    for reply in replies {
                        let _ = reply.send(Err(out_of_step()));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, operations = ops.len(), "a budget batch failed; running its operations one by one");
                    for (op, reply) in ops.into_iter().zip(replies) {
                        let _ = reply.send(budget_op_alone(&store, op).await);
                    }
                }
            }
        }
    });
    tx
}

async fn budget_op_alone(store: &DynStore, op: BudgetOp) -> Result<BudgetOpResult, AppError> {
    Ok(match op {
        BudgetOp::Reserve { checks, amount, hold } => {
            BudgetOpResult::Reserved(store.reserve_budget(&checks, amount, &hold).await?)
        }
        BudgetOp::Settle { reservation, keys, reserved, call } => {
            let (id, spends) = store.settle_budget(reservation, &keys, reserved, &call).await?;
            BudgetOpResult::Settled(id, spends)
        }
    })
}

/// How long the price table is kept before it is read again (edits invalidate it at once on
/// the instance that made them).
const PRICES_TTL: Duration = Duration::from_secs(30);

/// How long an instance uses its routing before reading the admin rows again (edits apply at
/// once on the instance that made them, on the others within this time).
const RUNTIME_TTL: Duration = Duration::from_secs(5);

/// How long a cached budget spend or budget table lives (changes invalidate it sooner).
const SPEND_TTL: Duration = Duration::from_secs(300);

/// A resolved step of a route: the provider and the model.
type Hop = (Arc<dyn Provider>, String);

/// A budget a call counts against: the check, its period and when that period resets.
pub type BudgetLine = (BudgetCheck, Period, DateTime<Utc>);

/// Who is calling and for what.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user_id: i64,
    /// The feature (`console`, `rfc.draft` …).
    pub feature: String,
    /// The HTTP request id, for the ledger.
    pub request_id: Option<String>,
}

struct Reserved {
    /// The stored hold (None for a cache hit, which reserves nothing).
    id: Option<i64>,
    keys: Vec<(String, i64)>,
    amount: i64,
    /// Our estimate of the prompt's tokens, billed if the provider never reported them.
    prompt_tokens: u64,
    price: Price,
    price_known: bool,
    /// The instance's live set this hold is in until the call is over.
    live: Option<Arc<Mutex<std::collections::HashSet<i64>>>>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let (Some(live), Some(id)) = (&self.live, self.id)
            && let Ok(mut live) = live.lock()
        {
            live.remove(&id);
        }
    }
}

impl Gateway {
    /// A gateway over `providers` (by name).
    /// With a cache, budget rows and spends are read through it (and invalidated on every
    /// reservation, settlement and budget edit, on all instances).
    /// With Redis, rate limits are shared by every instance.
    pub fn new(
        store: DynStore,
        events: Option<EventBus>,
        cache: Option<Cache>,
        redis: Option<RedisConn>,
        providers: Vec<Arc<dyn Provider>>,
        settings: GatewaySettings,
    ) -> Self {
        let providers = providers.into_iter().map(|p| (p.name().to_string(), p)).collect();
        let minute = |max: u32| RateLimit { max: max.max(1), window: Duration::from_secs(60) };
        let limits = settings.rate_limits.default;
        let defaults = RoutingDefaults {
            routes: settings.routes.clone(),
            strategy: settings.strategy,
            private_features: settings.private_features.clone(),
            urls: settings.urls,
        };
        Self {
            inner: Arc::new(Inner {
                store,
                events,
                cache,
                providers,
                defaults,
                runtime: Mutex::new(None),
                reload: tokio::sync::Mutex::new(()),
                turns: Mutex::new(HashMap::new()),
                requests: RateLimiter::new(
                    "llm_requests",
                    minute(limits.requests_per_minute),
                    redis.clone(),
                ),
                tokens: RateLimiter::new("llm_tokens", minute(limits.tokens_per_minute), redis),
                settings,
                prices: Mutex::new(None),
                alerts: std::sync::OnceLock::new(),
                settlements: tokio_util::task::TaskTracker::new(),
                owner: format!("gw-{}", uuid::Uuid::new_v4().simple()),
                writer: std::sync::OnceLock::new(),
                live: Arc::default(),
            }),
        }
    }

    fn spend_key(scope: &str, period_start: i64) -> CacheKey {
        match scope.strip_prefix("user:").and_then(|u| u.parse::<i64>().ok()) {
            Some(user) => CacheKey::user("budget_spend", user, period_start.to_string()),
            None => CacheKey::global("budget_spend", format!("{scope}:{period_start}")),
        }
    }

    /// A budget's spend in a period, through the cache when there is one.
    async fn spend(&self, scope: &str, period_start: i64) -> Result<BudgetSpend, AppError> {
        let store = self.inner.store.clone();
        let load = || async move { Ok(store.budget_spend(scope, period_start).await?) };
        match &self.inner.cache {
            Some(cache) => {
                cache.get_or_load(&Self::spend_key(scope, period_start), SPEND_TTL, load).await
            }
            None => load().await,
        }
    }

    async fn forget_spend(&self, keys: &[(String, i64)]) {
        if let Some(cache) = &self.inner.cache {
            for (scope, start) in keys {
                cache.invalidate(&Self::spend_key(scope, *start)).await;
            }
        }
    }

    /// The configured budget rows, through the cache when there is one.
    async fn budget_rows(&self) -> Result<Vec<BudgetRow>, AppError> {
        let store = self.inner.store.clone();
        let load = || async move { Ok(store.list_budgets().await?) };
        match &self.inner.cache {
            Some(cache) => {
                cache.get_or_load(&CacheKey::global("budgets", "all"), SPEND_TTL, load).await
            }
            None => load().await,
        }
    }

    /// Installs where budget alerts are delivered (once; later calls are ignored).
    pub fn set_alert_sink(&self, sink: Arc<dyn AlertSink>) {
        let _ = self.inner.alerts.set(sink);
    }

    /// Drops cached budget rows (after an admin edit).
    pub async fn invalidate_budgets(&self) {
        if let Some(cache) = &self.inner.cache {
            cache.invalidate(&CacheKey::global("budgets", "all")).await;
        }
    }

    /// Every usable provider (configured and admin-added), by name.
    pub async fn providers(&self) -> Result<Vec<Arc<dyn Provider>>, AppError> {
        let rt = self.runtime().await?;
        let mut out: Vec<_> = rt.providers.values().cloned().collect();
        out.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(out)
    }

    /// The names of the providers that come from configuration.
    pub fn configured_provider_names(&self) -> Vec<String> {
        self.inner.providers.keys().cloned().collect()
    }

    /// The configured defaults routing starts from.
    pub fn routing_defaults(&self) -> &RoutingDefaults {
        &self.inner.defaults
    }

    /// Routing in force: strategy, effective routes with their source, pins, and why admin
    /// providers are not in use.
    pub async fn routing(&self) -> Result<RoutingSnapshot, AppError> {
        let rt = self.runtime().await?;
        let mut routes: Vec<crate::model::FeatureRoute> = rt
            .routes
            .iter()
            .map(|(feature, (targets, source))| crate::model::FeatureRoute {
                feature: feature.clone(),
                targets: targets.iter().map(ToString::to_string).collect(),
                source: (*source).into(),
                private: rt.private_features.contains(feature),
            })
            .collect();
        routes.sort_by(|a, b| a.feature.cmp(&b.feature));
        let mut private_features: Vec<String> = rt.private_features.iter().cloned().collect();
        private_features.sort();
        Ok(RoutingSnapshot {
            strategy: rt.strategy,
            routes,
            private_features,
            private_users: rt.private_users.iter().copied().collect(),
            admin: rt.admin.clone(),
            problems: rt.problems.clone(),
            rows: rt.rows.clone(),
        })
    }

    /// Waits up to `within` for the settlements of streams that have ended (shutdown: every
    /// call a client saw a cost for gets its ledger row). Returns how many were still pending
    /// when the time ran out.
    pub async fn drain_settlements(&self, within: Duration) -> usize {
        let tracker = &self.inner.settlements;
        tracker.close();
        let pending = tracker.len();
        if pending > 0 {
            tracing::info!(pending, "waiting for LLM call settlements");
        }
        if tokio::time::timeout(within, tracker.wait()).await.is_err() {
            let left = tracker.len();
            tracing::error!(left, "shutdown grace ran out with LLM settlements pending");
            return left;
        }
        tracker.reopen();
        0
    }

    /// This instance's name as the owner of its reservations.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Runs for the life of the process: every quarter of the reservation lease, renews this
    /// instance's open reservations and settles any instance's expired ones (`reap_expired`).
    /// The first pass runs at once, so a restart reclaims what a crash left as soon as it
    /// expires.
    pub fn start_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        let gateway = self.clone();
        let every = (self.inner.settings.reservation_lease / 4).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = gateway.renew_reservations().await {
                    tracing::warn!(error = %e, "could not renew this instance's LLM reservations");
                }
                if let Err(e) = gateway.reap_expired().await {
                    tracing::warn!(error = %e, "could not reap expired LLM reservations");
                }
            }
        })
    }

    /// Moves the expiry of the holds of the calls this instance is serving a lease ahead.
    pub async fn renew_reservations(&self) -> Result<u64, AppError> {
        let mut ids: Vec<i64> = match self.inner.live.lock() {
            Ok(live) => live.iter().copied().collect(),
            Err(_) => Vec::new(),
        };
        ids.sort_unstable();
        let until = Utc::now() + self.inner.settings.reservation_lease;
        Ok(self.inner.store.renew_reservations(&self.inner.owner, &ids, until).await?)
    }

    /// Settles every expired reservation (its instance died, or lost the database for longer
    /// than the lease) as an `orphaned` call: the prompt we counted is billed at the input
    /// price — the provider received it; what it generated is unknown — the rest of the hold
    /// is released, and the row says the usage is estimated. Returns how many were reaped.
    pub async fn reap_expired(&self) -> Result<usize, AppError> {
        let mut reaped = 0;
        loop {
            let now = Utc::now();
            let rows = self.inner.store.expired_reservations(now, 100).await?;
            let batch = rows.len();
            for row in rows {
                let call = orphaned_call(&row, now);
                if self.inner.store.reap_reservation(&row, &call, now).await?.is_some() {
                    reaped += 1;
                    metrics::counter!("llm_calls_total", "provider" => call.provider.clone(), "outcome" => "orphaned").increment(1);
                    tracing::warn!(reservation = row.id, owner = %row.owner, user_id = ?row.user_id,
                        cost_nanos = call.cost_nanos, released_nanos = row.amount_nanos,
                        "settled an LLM call whose instance stopped serving it");
                    let keys = row.keys();
                    self.forget_spend(&keys).await;
                }
            }
            if batch < 100 {
                return Ok(reaped);
            }
        }
    }

    /// Reads admin providers and routing again on the next call (after an edit).
    pub fn reload(&self) {
        if let Ok(mut rt) = self.inner.runtime.lock()
            && let Some((at, _)) = rt.as_mut()
        {
            *at = Instant::now() - RUNTIME_TTL - Duration::from_secs(1);
        }
    }

    async fn runtime(&self) -> Result<Arc<Runtime>, AppError> {
        let fresh = |slot: &Option<(Instant, Arc<Runtime>)>| {
            slot.as_ref().filter(|(at, _)| at.elapsed() < RUNTIME_TTL).map(|(_, rt)| rt.clone())
        };
        if let Ok(slot) = self.inner.runtime.lock()
            && let Some(rt) = fresh(&slot)
        {
            return Ok(rt);
        }
        let _one = self.inner.reload.lock().await;
        let previous = match self.inner.runtime.lock() {
            Ok(slot) => {
                if let Some(rt) = fresh(&slot) {
                    return Ok(rt);
                }
                slot.as_ref().map(|(_, rt)| rt.clone())
            }
            Err(_) => None,
        };
        let rows = self.inner.store.list_llm_providers().await?;
        let settings = self.inner.store.list_llm_settings().await?;
        let fingerprint = serde_json::to_string(&(&rows, &settings)).unwrap_or_default();
        let rt = match previous {
            Some(prev) if prev.fingerprint == fingerprint => prev,
            prev => Arc::new(Runtime::build(
                &self.inner.defaults,
                &self.inner.providers,
                rows,
                &settings,
                self.inner.settings.secrets.as_ref(),
                prev.as_deref(),
                fingerprint,
            )),
        };
        if let Ok(mut slot) = self.inner.runtime.lock() {
            *slot = Some((Instant::now(), rt.clone()));
        }
        Ok(rt)
    }

    /// Drops the cached price table (after an edit).
    pub fn invalidate_prices(&self) {
        if let Ok(mut p) = self.inner.prices.lock() {
            *p = None;
        }
    }

    async fn prices(&self) -> Result<PriceTable, AppError> {
        if let Ok(guard) = self.inner.prices.lock()
            && let Some((at, table)) = guard.as_ref()
            && at.elapsed() < PRICES_TTL
        {
            return Ok(table.clone());
        }
        let rows = self.inner.store.list_prices().await?;
        let table = PriceTable::new(rows, self.inner.settings.default_price);
        if let Ok(mut guard) = self.inner.prices.lock() {
            *guard = Some((Instant::now(), table.clone()));
        }
        Ok(table)
    }

    /// The candidates for a call, in the order to try them: the feature's route (an admin's,
    /// else the configured one, else `default`), only private providers when the feature or
    /// user is pinned (falling back to the `private` route), ordered by the strategy.
    async fn route(&self, caller: &Caller, table: &PriceTable) -> Result<Vec<Hop>, AppError> {
        let rt = self.runtime().await?;
        let feature = caller.feature.as_str();
        let unavailable = |message: String| AppError::Unavailable { message };
        let (targets, _) =
            rt.routes.get(feature).or_else(|| rt.routes.get("default")).ok_or_else(|| {
                unavailable(format!("no LLM provider is configured for {feature}"))
            })?;
        let resolve = |targets: &[Target]| -> Vec<Hop> {
            targets
                .iter()
                .filter_map(|t| rt.providers.get(&t.provider).map(|p| (p.clone(), t.model.clone())))
                .collect()
        };
        let mut hops = resolve(targets);
        let pinned =
            rt.private_features.contains(feature) || rt.private_users.contains(&caller.user_id);
        if pinned {
            hops.retain(|(p, _)| p.is_private());
            if hops.is_empty()
                && let Some((private, _)) = rt.routes.get("private")
            {
                hops = resolve(private);
                hops.retain(|(p, _)| p.is_private());
            }
            if hops.is_empty() {
                return Err(unavailable(format!(
                    "{feature} calls may only go to private providers, and none is configured for it \
                     (add a private provider to its route or to the `private` route)"
                )));
            }
        }
        if hops.is_empty() {
            return Err(unavailable(format!("no LLM provider is configured for {feature}")));
        }
        let facts: Vec<CandidateFacts> = hops
            .iter()
            .map(|(p, m)| {
                CandidateFacts::of(
                    table,
                    m,
                    p.breaker_state() != super::breaker::BreakerState::Open,
                )
            })
            .collect();
        let turn = if rt.strategy == Strategy::RoundRobin {
            let mut turns = self
                .inner
                .turns
                .lock()
                .map_err(|_| unavailable("routing state is unavailable".into()))?;
            let t = turns.entry(feature.to_string()).or_insert(0);
            *t = t.wrapping_add(1);
            *t - 1
        } else {
            0
        };
        let order = super::routing::order(rt.strategy, &facts, turn);
        Ok(order.into_iter().map(|i| hops[i].clone()).collect())
    }

    /// Counts the call against the caller's per-feature request limit and checks the token
    /// limit (tokens are counted when calls settle).
    async fn admit(&self, caller: &Caller) -> Result<(), AppError> {
        let limits = &self.inner.settings.rate_limits;
        let limit = limits.features.get(&caller.feature).copied().unwrap_or(limits.default);
        let key = format!("{}:{}", caller.user_id, caller.feature);
        if limit.requests_per_minute > 0
            && let Err(wait) = self.inner.requests.hit_max(&key, limit.requests_per_minute).await
        {
            return Err(AppError::RateLimited {
                message: format!(
                    "You reached the limit of {} requests per minute for {}. Try again in {} s.",
                    limit.requests_per_minute,
                    caller.feature,
                    wait.secs()
                ),
                retry_after_secs: wait.secs(),
            });
        }
        if limit.tokens_per_minute > 0
            && let Err(wait) = self.inner.tokens.check_max(&key, limit.tokens_per_minute).await
        {
            return Err(AppError::RateLimited {
                message: format!(
                    "You reached the limit of {} tokens per minute for {}. Try again in {} s.",
                    limit.tokens_per_minute,
                    caller.feature,
                    wait.secs()
                ),
                retry_after_secs: wait.secs(),
            });
        }
        Ok(())
    }

    /// Where `req`'s answer is kept for `caller`, if answers of this feature are reused.
    fn answer_key(&self, caller: &Caller, provider: &str, req: &ChatRequest) -> Option<CacheKey> {
        use sha2::{Digest, Sha256};
        let c = &self.inner.settings.answer_cache;
        if c.ttl.is_zero()
            || self.inner.cache.is_none()
            || c.disabled_features.contains(&caller.feature)
        {
            return None;
        }
        let bytes = serde_json::to_vec(&(provider, req)).ok()?;
        let id = format!("{}:{}", caller.feature, hex::encode(Sha256::digest(bytes)));
        Some(if c.shared_features.contains(&caller.feature) {
            CacheKey::global("llm_answer", id)
        } else {
            CacheKey::user("llm_answer", caller.user_id, id)
        })
    }

    /// The first candidate whose answer to this request is cached: recorded in the ledger at
    /// $0 as a hit.
    async fn cached_answer(
        &self,
        caller: &Caller,
        hops: &[Hop],
        messages: &[Message],
        max_tokens: u32,
        streamed: bool,
    ) -> Result<Option<(ChatResponse, Receipt)>, AppError> {
        let Some(cache) = &self.inner.cache else { return Ok(None) };
        let ttl = self.inner.settings.answer_cache.ttl;
        for (provider, model) in hops {
            let req = request(model, messages, max_tokens);
            let Some(key) = self.answer_key(caller, provider.name(), &req) else { return Ok(None) };
            if let Some(hit) = cache.get::<CachedAnswer>(&key, ttl).await {
                let attempt = Attempt {
                    caller,
                    provider: provider.name(),
                    model,
                    started: (Utc::now(), Instant::now()),
                    streamed,
                    price_known: true,
                };
                let row = attempt.row(Usage::default(), 0, "cache_hit", None);
                let none = Reserved {
                    id: None,
                    keys: Vec::new(),
                    amount: 0,
                    prompt_tokens: 0,
                    price: Price {
                        input_per_mtok: 0,
                        output_per_mtok: 0,
                        cached_input_per_mtok: 0,
                    },
                    price_known: true,
                    live: None,
                };
                let call_id = self.settle(caller, &none, row).await?;
                metrics::counter!("llm_answer_cache_hits_total").increment(1);
                let receipt = Receipt {
                    call_id,
                    provider: provider.name().into(),
                    model: model.clone(),
                    cost_nanos: 0,
                    usage: Usage::default(),
                };
                let answer = ChatResponse {
                    text: hit.text,
                    usage: Usage::default(),
                    finish_reason: hit.finish_reason,
                };
                return Ok(Some((answer, receipt)));
            }
        }
        Ok(None)
    }

    /// Keeps a whole answer for reuse.
    async fn remember(&self, key: Option<CacheKey>, text: &str, finish_reason: Option<String>) {
        if let (Some(cache), Some(key)) = (&self.inner.cache, key) {
            let answer = CachedAnswer { text: text.to_string(), finish_reason };
            cache.put(&key, answer, self.inner.settings.answer_cache.ttl).await;
        }
    }

    /// The budgets a user's calls count against, in this period: the global one (if any) and
    /// the user's (an admin's override, else the default).
    pub async fn budgets(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<BudgetLine>, AppError> {
        let rows = self.budget_rows().await?;
        let mut out = Vec::new();
        if let Some(global) = self.line(&rows, "global", self.inner.settings.global_budget, now) {
            out.push(global);
        }
        out.extend(self.user_line(&rows, user_id, now).map(|(line, _)| line));
        Ok(out)
    }

    /// Each user's own budget in its current period, and whether an admin set it.
    pub async fn user_budgets(
        &self,
        user_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, BudgetLine, bool)>, AppError> {
        let rows = self.budget_rows().await?;
        Ok(user_ids
            .iter()
            .filter_map(|id| {
                self.user_line(&rows, *id, now).map(|(line, custom)| (*id, line, custom))
            })
            .collect())
    }

    /// Seals and opens provider keys, when a secret key is configured.
    pub fn secrets(&self) -> Option<&SecretBox> {
        self.inner.settings.secrets.as_ref()
    }

    /// The time zone periods and days follow.
    pub fn timezone(&self) -> Tz {
        self.inner.settings.timezone
    }

    fn user_line(
        &self,
        rows: &[BudgetRow],
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Option<(BudgetLine, bool)> {
        let scope = format!("user:{user_id}");
        let custom = rows.iter().any(|r| r.scope == scope);
        self.line(rows, &scope, Some(self.inner.settings.default_user_budget), now)
            .map(|line| (line, custom))
    }

    fn line(
        &self,
        rows: &[BudgetRow],
        scope: &str,
        fallback: Option<Limit>,
        now: DateTime<Utc>,
    ) -> Option<BudgetLine> {
        let limit = rows
            .iter()
            .find(|r| r.scope == scope)
            .and_then(|r| {
                Period::parse(&r.period).map(|period| Limit { nanos: r.limit_nanos, period })
            })
            .or(fallback)?;
        let (start, end) = limit.period.bounds(self.inner.settings.timezone, now);
        Some((
            BudgetCheck {
                scope: scope.to_string(),
                period_start: start.timestamp_millis(),
                limit_nanos: limit.nanos,
            },
            limit.period,
            end,
        ))
    }

    /// The caller's budgets now: spend, band, reset time and the projection at the current pace.
    pub async fn status(&self, user_id: i64) -> Result<Vec<crate::model::BudgetStatus>, AppError> {
        let now = Utc::now();
        let mut out = Vec::new();
        for (check, period, resets_at) in self.budgets(user_id, now).await? {
            let spend = self.spend(&check.scope, check.period_start).await?;
            let start = crate::server::store::from_ms(check.period_start);
            let elapsed = (now - start).num_milliseconds().max(1);
            let length = (resets_at - start).num_milliseconds().max(1);
            let projected = i64::try_from(
                i128::from(spend.spent_nanos) * i128::from(length) / i128::from(elapsed),
            )
            .unwrap_or(i64::MAX);
            out.push(crate::model::BudgetStatus {
                budget: check.scope,
                period: period.as_str().into(),
                limit_nanos: check.limit_nanos,
                spent_nanos: spend.spent_nanos,
                reserved_nanos: spend.reserved_nanos,
                percent: if check.limit_nanos > 0 {
                    spend.spent_nanos.saturating_mul(100) / check.limit_nanos
                } else {
                    100
                },
                band: crate::model::BudgetBand::of(spend.spent_nanos, check.limit_nanos),
                period_start: start,
                resets_at,
                projected_nanos: projected,
                projected_over: projected > check.limit_nanos,
            });
        }
        Ok(out)
    }

    async fn reserve(
        &self,
        caller: &Caller,
        req: &ChatRequest,
        table: &PriceTable,
        provider: &str,
        streamed: bool,
    ) -> Result<Reserved, AppError> {
        let (price, price_known) = table.lookup(&req.model);
        // The most the provider can count for this prompt (its real tokenizer, or one token per
        // byte where the tokenizer is not public) plus the most it may generate.
        let (bound, prompt) = self.count_prompt(&req.model, &req.messages).await;
        let worst = Usage {
            input_tokens: bound,
            output_tokens: u64::from(req.max_tokens),
            cached_input_tokens: 0,
        };
        let amount = price.cost(&worst);
        let budgets = self.budgets(caller.user_id, Utc::now()).await?;
        let checks: Vec<BudgetCheck> = budgets.iter().map(|(c, _, _)| c.clone()).collect();
        let keys: Vec<(String, i64)> =
            checks.iter().map(|c| (c.scope.clone(), c.period_start)).collect();
        let now = Utc::now();
        let hold = NewReservation {
            owner: self.inner.owner.clone(),
            expires_at: now + self.inner.settings.reservation_lease,
            at: now,
            user_id: Some(caller.user_id),
            feature: caller.feature.clone(),
            provider: provider.to_string(),
            model: req.model.clone(),
            prompt_tokens: i64::try_from(prompt).unwrap_or(i64::MAX),
            input_per_mtok: price.input_per_mtok,
            streamed,
            price_known,
            request_id: caller.request_id.clone(),
        };
        let reserved = match self.budget_op(BudgetOp::Reserve { checks, amount, hold }).await? {
            BudgetOpResult::Reserved(r) => r,
            BudgetOpResult::Settled(..) => return Err(out_of_step()),
        };
        if reserved.is_ok() {
            self.forget_spend(&keys).await;
        }
        let id = match reserved {
            Ok(id) => id,
            Err(refusal) => return Err(self.refusal(refusal, amount, &budgets)),
        };
        if let Ok(mut live) = self.inner.live.lock() {
            live.insert(id);
        }
        Ok(Reserved {
            id: Some(id),
            keys,
            amount,
            prompt_tokens: prompt,
            price,
            price_known,
            live: Some(self.inner.live.clone()),
        })
    }

    /// Runs one budget operation in the writer's next batch.
    async fn budget_op(&self, op: BudgetOp) -> Result<BudgetOpResult, AppError> {
        let writer =
            self.inner.writer.get_or_init(|| spawn_budget_writer(self.inner.store.clone()));
        let (reply, result) = tokio::sync::oneshot::channel();
        writer.send((op, reply)).map_err(|_| out_of_step())?;
        result.await.map_err(|_| out_of_step())?
    }

    /// Prompt tokens of `messages` to `model`: the reservation's bound and the billing
    /// estimate (long prompts are counted on the blocking pool).
    async fn count_prompt(&self, model: &str, messages: &[Message]) -> (u64, u64) {
        let count = |model: &str, messages: &[Message]| {
            (tokens::prompt_bound(model, messages), tokens::prompt_estimate(model, messages))
        };
        let bytes: usize = messages.iter().map(|m| m.content.len()).sum();
        if bytes < 16 * 1024 {
            return count(model, messages);
        }
        let (model_owned, messages_owned) = (model.to_string(), messages.to_vec());
        match tokio::task::spawn_blocking(move || count(&model_owned, &messages_owned)).await {
            Ok(counts) => counts,
            Err(_) => (bytes as u64 + 8 * messages.len() as u64, bytes as u64),
        }
    }

    fn refusal(
        &self,
        refusal: crate::server::store::BudgetRefusal,
        amount: i64,
        budgets: &[BudgetLine],
    ) -> AppError {
        let Some((_, period, resets_at)) =
            budgets.iter().find(|(c, _, _)| c.scope == refusal.scope).cloned()
        else {
            return AppError::Unavailable { message: "budget changed; try again".into() };
        };
        {
            let whose = if refusal.scope == "global" { "the team's" } else { "your" };
            metrics::counter!("llm_budget_refusals_total", "budget" => if refusal.scope == "global" { "global" } else { "user" }).increment(1);
            AppError::BudgetExceeded {
                message: format!(
                    "This call could cost up to {}, more than is left of {whose} {} budget of {}: {} spent, {} held by calls in progress. It resets at {} ({}).",
                    usd(amount),
                    period.as_str(),
                    usd(refusal.limit_nanos),
                    usd(refusal.spend.spent_nanos),
                    usd(refusal.spend.reserved_nanos),
                    resets_at.with_timezone(&self.inner.settings.timezone).format("%Y-%m-%d %H:%M"),
                    self.inner.settings.timezone.name(),
                ),
                budget: refusal.scope,
                period: period.as_str().into(),
                limit_nanos: refusal.limit_nanos,
                spent_nanos: refusal.spend.spent_nanos,
                reserved_nanos: refusal.spend.reserved_nanos,
                reservation_nanos: amount,
                resets_at,
            }
        }
    }

    /// Releases a reservation, records the call and raises threshold alerts.
    async fn settle(
        &self,
        caller: &Caller,
        reserved: &Reserved,
        call: NewLlmCall,
    ) -> Result<i64, AppError> {
        let op = BudgetOp::Settle {
            reservation: reserved.id,
            keys: reserved.keys.clone(),
            reserved: reserved.amount,
            call: call.clone(),
        };
        let (id, spends) = match self.budget_op(op).await? {
            BudgetOpResult::Settled(id, spends) => (id, spends),
            BudgetOpResult::Reserved(_) => return Err(out_of_step()),
        };
        let tokens = call.input_tokens + call.output_tokens + call.cached_input_tokens;
        if tokens > 0 {
            let key = format!("{}:{}", caller.user_id, caller.feature);
            self.inner.tokens.add(&key, u32::try_from(tokens).unwrap_or(u32::MAX)).await;
        }
        metrics::counter!("llm_calls_total", "provider" => call.provider.clone(), "outcome" => call.outcome.clone()).increment(1);
        metrics::counter!("llm_cost_nanos_total", "provider" => call.provider.clone())
            .increment(u64::try_from(call.cost_nanos).unwrap_or(0));
        if reserved.keys.is_empty() {
            // A cache hit: no budget moved, so no threshold can have been crossed.
            return Ok(id);
        }
        let budgets = self.budgets(caller.user_id, Utc::now()).await.unwrap_or_default();
        for ((scope, period_start), spend) in reserved.keys.iter().zip(spends) {
            let Some((check, period, resets_at)) = budgets
                .iter()
                .find(|(c, _, _)| &c.scope == scope && c.period_start == *period_start)
            else {
                continue;
            };
            if check.limit_nanos <= 0 {
                continue;
            }
            let percent = spend.spent_nanos.saturating_mul(100) / check.limit_nanos;
            for threshold in &self.inner.settings.alert_thresholds {
                if percent >= i64::from(*threshold)
                    && self
                        .inner
                        .store
                        .claim_budget_alert(scope, *period_start, *threshold, Utc::now())
                        .await
                        .unwrap_or(false)
                {
                    tracing::info!(budget = %scope, threshold, spent_nanos = spend.spent_nanos, "budget threshold reached");
                    let user_id = scope.strip_prefix("user:").and_then(|u| u.parse::<i64>().ok());
                    if let Some(sink) = self.inner.alerts.get() {
                        sink.budget_alert(BudgetAlert {
                            budget: scope.clone(),
                            user_id,
                            period: period.as_str().into(),
                            threshold: *threshold,
                            spent_nanos: spend.spent_nanos,
                            limit_nanos: check.limit_nanos,
                            resets_at: *resets_at,
                        })
                        .await;
                    }
                    if let (Some(events), Some(user)) = (&self.inner.events, user_id) {
                        events
                            .publish(user, "budget", serde_json::json!({
                                "budget": scope, "period": period.as_str(), "threshold": threshold,
                                "spent_nanos": spend.spent_nanos, "limit_nanos": check.limit_nanos,
                                "resets_at": resets_at,
                            }))
                            .await;
                    }
                }
            }
        }
        Ok(id)
    }

    /// Records a failed attempt at $0 (releasing its reservation) and keeps its error; true if
    /// the next provider should be tried.
    async fn failed_attempt(
        &self,
        attempt: &Attempt<'_>,
        reserved: &Reserved,
        e: LlmError,
        last_error: &mut Option<LlmError>,
    ) -> Result<bool, AppError> {
        let row = attempt.row(Usage::default(), 0, "error", Some(e.to_string()));
        self.settle(attempt.caller, reserved, row).await?;
        let fall_back = e.should_fall_back();
        if fall_back {
            tracing::warn!(provider = %attempt.provider, error = %e, "LLM call failed; trying the next provider");
        }
        *last_error = Some(e);
        Ok(fall_back)
    }

    /// A whole answer for `messages`, from the feature's route with fallback (or from the
    /// response cache, at $0).
    pub async fn chat(
        &self,
        caller: &Caller,
        messages: Vec<Message>,
        max_tokens: u32,
    ) -> Result<(ChatResponse, Receipt), AppError> {
        let table = self.prices().await?;
        let hops = self.route(caller, &table).await?;
        self.admit(caller).await?;
        if let Some(hit) = self.cached_answer(caller, &hops, &messages, max_tokens, false).await? {
            return Ok(hit);
        }
        let mut last_error = None;
        for (provider, model) in hops {
            let req = request(&model, &messages, max_tokens);
            let reserved = self.reserve(caller, &req, &table, provider.name(), false).await?;
            let started = (Utc::now(), Instant::now());
            let attempt = Attempt {
                caller,
                provider: provider.name(),
                model: &model,
                started,
                streamed: false,
                price_known: reserved.price_known,
            };
            match provider.chat(&req).await {
                Ok(mut answer) => {
                    // A provider that reports no usage is billed our count, flagged as such.
                    let estimated = answer.usage.is_empty();
                    if estimated {
                        answer.usage = Usage {
                            input_tokens: reserved.prompt_tokens,
                            output_tokens: tokens::estimate(&model, &answer.text),
                            cached_input_tokens: 0,
                        };
                    }
                    let cost = reserved.price.cost(&answer.usage);
                    let row = attempt.row_estimated(answer.usage, cost, "ok", None, estimated);
                    let call_id = self.settle(caller, &reserved, row).await?;
                    let key = self.answer_key(caller, provider.name(), &req);
                    self.remember(key, &answer.text, answer.finish_reason.clone()).await;
                    let receipt = Receipt {
                        call_id,
                        provider: provider.name().into(),
                        model,
                        cost_nanos: cost,
                        usage: answer.usage,
                    };
                    return Ok((answer, receipt));
                }
                Err(e) => {
                    if !self.failed_attempt(&attempt, &reserved, e, &mut last_error).await? {
                        break;
                    }
                }
            }
        }
        Err(llm_to_app(last_error))
    }

    /// An answer as it is generated. The reservation is settled when the stream ends, fails,
    /// or is dropped by the caller (output received so far is paid for). A cached answer comes
    /// as one delta, at $0.
    pub async fn chat_stream(
        &self,
        caller: &Caller,
        messages: Vec<Message>,
        max_tokens: u32,
    ) -> Result<BoxStream<'static, Result<StreamEvent, AppError>>, AppError> {
        let table = self.prices().await?;
        let hops = self.route(caller, &table).await?;
        self.admit(caller).await?;
        if let Some((hit, _)) =
            self.cached_answer(caller, &hops, &messages, max_tokens, true).await?
        {
            let events = vec![
                Ok(StreamEvent::Delta(hit.text)),
                Ok(StreamEvent::Usage(Usage::default())),
                Ok(StreamEvent::Done { finish_reason: hit.finish_reason }),
                Ok(StreamEvent::Billed { cost_nanos: 0, usage: Usage::default() }),
            ];
            return Ok(futures::stream::iter(events).boxed());
        }
        let mut last_error = None;
        for (provider, model) in hops {
            let req = request(&model, &messages, max_tokens);
            let reserved = self.reserve(caller, &req, &table, provider.name(), true).await?;
            let started = (Utc::now(), Instant::now());
            match provider.chat_stream(&req).await {
                Ok(stream) => {
                    let tracker = StreamTracker {
                        gateway: self.clone(),
                        caller: caller.clone(),
                        provider: provider.name().to_string(),
                        answer_key: self.answer_key(caller, provider.name(), &req),
                        model,
                        reserved: Some(reserved),
                        started,
                        text_chars: String::new(),
                        usage: None,
                    };
                    return Ok(tracked(stream, tracker));
                }
                Err(e) => {
                    let attempt = Attempt {
                        caller,
                        provider: provider.name(),
                        model: &model,
                        started,
                        streamed: true,
                        price_known: reserved.price_known,
                    };
                    if !self.failed_attempt(&attempt, &reserved, e, &mut last_error).await? {
                        break;
                    }
                }
            }
        }
        Err(llm_to_app(last_error))
    }
}

/// Routing as admins see it.
#[derive(Debug, Clone)]
pub struct RoutingSnapshot {
    /// Strategy in force.
    pub strategy: Strategy,
    /// Effective routes.
    pub routes: Vec<crate::model::FeatureRoute>,
    /// Pinned features.
    pub private_features: Vec<String>,
    /// Pinned users.
    pub private_users: Vec<i64>,
    /// What admins saved.
    pub admin: crate::model::RoutingSettings,
    /// Why admin providers are not in use.
    pub problems: HashMap<String, String>,
    /// Admin provider rows.
    pub rows: Vec<crate::server::store::ProviderRow>,
}

fn request(model: &str, messages: &[Message], max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: model.to_string(),
        messages: messages.to_vec(),
        max_tokens,
        temperature: None,
    }
}

/// The ledger row of a call whose instance stopped serving it.
fn orphaned_call(row: &ReservationRow, now: DateTime<Utc>) -> NewLlmCall {
    let price = Price { input_per_mtok: row.input_per_mtok, ..Price::default() };
    let prompt = u64::try_from(row.prompt_tokens).unwrap_or(0);
    let cost = price.cost(&Usage { input_tokens: prompt, ..Usage::default() });
    let at = crate::server::store::from_ms(row.at);
    NewLlmCall {
        at,
        user_id: row.user_id,
        feature: row.feature.clone(),
        provider: row.provider.clone(),
        model: row.model.clone(),
        input_tokens: row.prompt_tokens,
        output_tokens: 0,
        cached_input_tokens: 0,
        cost_nanos: cost,
        latency_ms: (now - at).num_milliseconds().max(0),
        outcome: "orphaned".into(),
        streamed: row.streamed,
        price_known: row.price_known,
        error: Some(format!(
            "the instance serving this call ({}) stopped before settling it; the prompt is billed, \
             the output is unknown",
            row.owner
        )),
        request_id: row.request_id.clone(),
        usage_estimated: true,
    }
}

/// One attempt at one provider, for its ledger row.
struct Attempt<'a> {
    caller: &'a Caller,
    provider: &'a str,
    model: &'a str,
    started: (DateTime<Utc>, Instant),
    streamed: bool,
    price_known: bool,
}

impl Attempt<'_> {
    fn row(&self, usage: Usage, cost: i64, outcome: &str, error: Option<String>) -> NewLlmCall {
        self.row_estimated(usage, cost, outcome, error, false)
    }

    /// A ledger row; `estimated`: some token count is ours, not the provider's.
    fn row_estimated(
        &self,
        usage: Usage,
        cost: i64,
        outcome: &str,
        error: Option<String>,
        estimated: bool,
    ) -> NewLlmCall {
        let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        NewLlmCall {
            at: self.started.0,
            user_id: Some(self.caller.user_id),
            feature: self.caller.feature.clone(),
            provider: self.provider.to_string(),
            model: self.model.to_string(),
            input_tokens: tokens(usage.input_tokens),
            output_tokens: tokens(usage.output_tokens),
            cached_input_tokens: tokens(usage.cached_input_tokens),
            cost_nanos: cost,
            latency_ms: i64::try_from(self.started.1.elapsed().as_millis()).unwrap_or(i64::MAX),
            outcome: outcome.to_string(),
            streamed: self.streamed,
            price_known: self.price_known,
            error,
            request_id: self.caller.request_id.clone(),
            usage_estimated: estimated,
        }
    }
}

/// Watches a stream to settle its reservation exactly once: at `Done`, at an error, or when
/// the caller drops it.
struct StreamTracker {
    gateway: Gateway,
    caller: Caller,
    provider: String,
    answer_key: Option<CacheKey>,
    model: String,
    reserved: Option<Reserved>,
    started: (DateTime<Utc>, Instant),
    text_chars: String,
    usage: Option<Usage>,
}

impl StreamTracker {
    /// The usage to bill. A stream that ended with the provider's usage report is billed exactly
    /// as reported, like the same answer unstreamed — unless the report is implausibly small for
    /// the text (under a quarter of our estimate: a report sent at the start, never updated).
    /// Otherwise (cut off, abandoned, or no report) the provider's last report — or our prompt
    /// estimate if none came — with output estimated from the text seen if the provider had not
    /// counted that much yet.
    /// The second value says whether any count is our estimate (recorded in the ledger).
    fn billable(&self, prompt_tokens: u64, completed: bool) -> (Usage, bool) {
        if completed
            && let Some(usage) = self.usage
            && usage.output_tokens.saturating_mul(4) >= estimate_tokens(&self.text_chars)
        {
            return (usage, false);
        }
        let mut estimated = self.usage.is_none();
        let mut usage =
            self.usage.unwrap_or(Usage { input_tokens: prompt_tokens, ..Usage::default() });
        let seen = tokens::estimate(&self.model, &self.text_chars);
        if usage.output_tokens < seen {
            usage.output_tokens = seen;
            estimated = true;
        }
        (usage, estimated)
    }

    /// Settles once (later calls do nothing); returns the cost and tokens billed.
    fn finish(
        &mut self,
        outcome: &'static str,
        error: Option<String>,
        finish_reason: Option<String>,
    ) -> Option<(i64, Usage)> {
        let reserved = self.reserved.take()?;
        let keep = (outcome == "ok").then(|| self.answer_key.take()).flatten();
        let text = keep.as_ref().map(|_| self.text_chars.clone());
        let (usage, estimated) = self.billable(reserved.prompt_tokens, outcome == "ok");
        let cost = reserved.price.cost(&usage);
        let attempt = Attempt {
            caller: &self.caller,
            provider: &self.provider,
            model: &self.model,
            started: self.started,
            streamed: true,
            price_known: reserved.price_known,
        };
        let row = attempt.row_estimated(usage, cost, outcome, error, estimated);
        let gateway = self.gateway.clone();
        let caller = self.caller.clone();
        // Also runs from Drop, so it cannot be awaited here; shutdown waits for it instead.
        self.gateway.inner.settlements.spawn(async move {
            if let Err(e) = gateway.settle(&caller, &reserved, row).await {
                tracing::error!(error = %e, "could not settle a streamed LLM call");
            }
            if let Some(text) = text {
                gateway.remember(keep, &text, finish_reason).await;
            }
        });
        Some((cost, usage))
    }
}

impl Drop for StreamTracker {
    fn drop(&mut self) {
        let _ = self.finish("abandoned", Some("the client stopped reading".into()), None);
    }
}

/// Where a tracked stream is: running, owing the `Billed` event after `Done`, or over.
enum Phase {
    Running,
    Bill(i64, Usage),
    Over,
}

fn tracked(
    stream: BoxStream<'static, Result<StreamEvent, LlmError>>,
    tracker: StreamTracker,
) -> BoxStream<'static, Result<StreamEvent, AppError>> {
    futures::stream::unfold(
        (stream, tracker, Phase::Running),
        |(mut stream, mut tracker, phase)| async move {
            match phase {
                Phase::Over => return None,
                Phase::Bill(cost_nanos, usage) => {
                    let event = StreamEvent::Billed { cost_nanos, usage };
                    return Some((Ok(event), (stream, tracker, Phase::Over)));
                }
                Phase::Running => {}
            }
            match stream.next().await {
                Some(Ok(event)) => {
                    let mut next = Phase::Running;
                    match &event {
                        StreamEvent::Delta(t) => tracker.text_chars.push_str(t),
                        StreamEvent::Usage(u) => tracker.usage = Some(*u),
                        StreamEvent::Done { finish_reason } => {
                            next = match tracker.finish("ok", None, finish_reason.clone()) {
                                Some((cost, usage)) => Phase::Bill(cost, usage),
                                None => Phase::Over,
                            };
                        }
                        StreamEvent::Billed { .. } => {}
                    }
                    Some((Ok(event), (stream, tracker, next)))
                }
                Some(Err(e)) => {
                    let outcome = if matches!(e, LlmError::Interrupted { .. }) {
                        "interrupted"
                    } else {
                        "error"
                    };
                    tracker.finish(outcome, Some(e.to_string()), None);
                    Some((Err(llm_to_app(Some(e))), (stream, tracker, Phase::Over)))
                }
                None => {
                    tracker.finish(
                        "interrupted",
                        Some("the stream ended without completing".into()),
                        None,
                    );
                    None
                }
            }
        },
    )
    .boxed()
}

fn out_of_step() -> AppError {
    AppError::Unavailable { message: "the budget ledger is unavailable; try again".into() }
}

fn llm_to_app(e: Option<LlmError>) -> AppError {
    match e {
        Some(LlmError::RateLimited { provider, retry_after }) => AppError::RateLimited {
            message: format!("{provider} is rate limiting requests."),
            retry_after_secs: retry_after
                .map_or(30, |d| i64::try_from(d.as_secs()).unwrap_or(30).max(1)),
        },
        Some(e) => {
            AppError::Unavailable { message: format!("the language model is unavailable: {e}") }
        }
        None => AppError::Unavailable { message: "no language model answered".into() },
    }
}

pub use crate::model::usd;
