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
use crate::cache::{Cache, CacheKey};
use crate::events::EventBus;
use crate::ratelimit::{Limit as RateLimit, RateLimiter};
use crate::redis_conn::RedisConn;
use crate::secrets::SecretBox;
use crate::store::{
    BudgetCheck, BudgetOp, BudgetOpResult, DynStore, NewLlmCall, NewReservation, ReservationRow,
};
use crate::store::{BudgetRow, BudgetSpend};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use futures::stream::BoxStream;
use model::error::AppError;
use model::{BudgetScope, Strategy};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod admission;
mod answer_cache;
mod budgets;
mod housekeeping;
mod route;
mod settlement;

use settlement::tracked;

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
    pub urls: crate::outbound::UrlPolicy,
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

/// Requests and tokens per minute, per user and feature; 0 means unlimited. Also the shape of
/// `llm.feature_limits.<feature>` in the settings file, read directly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Whose budget.
    pub budget: BudgetScope,
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
    /// The RFC the call is made for: its ledger row (and hold) carry it.
    pub rfc_id: Option<i64>,
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

    /// Installs where budget alerts are delivered (once; later calls are ignored).
    pub fn set_alert_sink(&self, sink: Arc<dyn AlertSink>) {
        let _ = self.inner.alerts.set(sink);
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
        let mut routes: Vec<model::FeatureRoute> = rt
            .routes
            .iter()
            .map(|(feature, (targets, source))| model::FeatureRoute {
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

    /// This instance's name as the owner of its reservations.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Seals and opens provider keys, when a secret key is configured.
    pub fn secrets(&self) -> Option<&SecretBox> {
        self.inner.settings.secrets.as_ref()
    }

    /// The time zone periods and days follow.
    pub fn timezone(&self) -> Tz {
        self.inner.settings.timezone
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
    pub routes: Vec<model::FeatureRoute>,
    /// Pinned features.
    pub private_features: Vec<String>,
    /// Pinned users.
    pub private_users: Vec<i64>,
    /// What admins saved.
    pub admin: model::RoutingSettings,
    /// Why admin providers are not in use.
    pub problems: HashMap<String, String>,
    /// Admin provider rows.
    pub rows: Vec<crate::store::ProviderRow>,
}

fn request(model: &str, messages: &[Message], max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: model.to_string(),
        messages: messages.to_vec(),
        max_tokens,
        temperature: None,
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

/// Where a tracked stream is: running, owing the `Billed` event after `Done`, or over.
enum Phase {
    Running,
    Bill(i64, Usage),
    Over,
}

fn out_of_step() -> AppError {
    AppError::Unavailable { message: crate::tr!("the budget ledger is unavailable; try again") }
}

fn llm_to_app(e: Option<LlmError>) -> AppError {
    match e {
        Some(LlmError::RateLimited { provider, retry_after }) => {
            let secs = retry_after.map_or(30, |d| i64::try_from(d.as_secs()).unwrap_or(30).max(1));
            AppError::RateLimited {
                message: crate::tr!(
                    "%{provider} is rate limiting requests. Try again in %{secs} s.",
                    provider = provider,
                    secs = secs
                ),
                retry_after_secs: secs,
            }
        }
        Some(e) => {
            tracing::warn!(
                request.id = %crate::errors::current_request_id(), error = %e, "no language model answered"
            );
            AppError::Unavailable {
                message: crate::tr!(
                    "the language model is unavailable: %{reason}",
                    reason = e.public_message()
                ),
            }
        }
        None => AppError::Unavailable { message: crate::tr!("no language model answered") },
    }
}

pub use model::usd;
