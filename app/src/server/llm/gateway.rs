//! The gateway: picks a provider and model for a feature (with fallback), reserves the call's
//! worst-case cost on every budget it counts against (refusing with 402 naming the budget),
//! calls the provider, settles the reservation to the real cost and writes the ledger row —
//! for whole answers, streams, failed calls and streams the client abandoned alike.

use super::budget::Period;
use super::error::LlmError;
use super::pricing::{Price, PriceTable};
use super::provider::Provider;
use super::types::{ChatRequest, ChatResponse, Message, StreamEvent, Usage, estimate_tokens};
use crate::error::AppError;
use crate::server::cache::{Cache, CacheKey};
use crate::server::events::EventBus;
use crate::server::store::{BudgetCheck, DynStore, NewLlmCall};
use crate::server::store::{BudgetRow, BudgetSpend};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One step of a feature's route: a provider and the model to ask it for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
}

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
    providers: HashMap<String, Arc<dyn Provider>>,
    settings: GatewaySettings,
    prices: Mutex<Option<(Instant, PriceTable)>>,
    alerts: std::sync::OnceLock<Arc<dyn AlertSink>>,
}

/// How long the price table is kept before it is read again (edits invalidate it at once on
/// the instance that made them).
const PRICES_TTL: Duration = Duration::from_secs(30);

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
    keys: Vec<(String, i64)>,
    amount: i64,
    /// Our estimate of the prompt's tokens, billed if the provider never reported them.
    prompt_tokens: u64,
    price: Price,
    price_known: bool,
}

impl Gateway {
    /// A gateway over `providers` (by name).
    /// With a cache, budget rows and spends are read through it (and invalidated on every
    /// reservation, settlement and budget edit, on all instances).
    pub fn new(
        store: DynStore,
        events: Option<EventBus>,
        cache: Option<Cache>,
        providers: Vec<Arc<dyn Provider>>,
        settings: GatewaySettings,
    ) -> Self {
        let providers = providers.into_iter().map(|p| (p.name().to_string(), p)).collect();
        Self {
            inner: Arc::new(Inner {
                store,
                events,
                cache,
                providers,
                settings,
                prices: Mutex::new(None),
                alerts: std::sync::OnceLock::new(),
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

    /// The providers, by name.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.inner.providers.values()
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

    fn route(&self, feature: &str) -> Result<Vec<Hop>, AppError> {
        let routes = &self.inner.settings.routes;
        let targets = routes.get(feature).or_else(|| routes.get("default")).ok_or_else(|| {
            AppError::Unavailable {
                message: format!("no LLM provider is configured for {feature}"),
            }
        })?;
        let resolved: Vec<_> = targets
            .iter()
            .filter_map(|t| {
                self.inner.providers.get(&t.provider).map(|p| (p.clone(), t.model.clone()))
            })
            .collect();
        if resolved.is_empty() {
            return Err(AppError::Unavailable {
                message: format!("no LLM provider is configured for {feature}"),
            });
        }
        Ok(resolved)
    }

    /// The budgets a user's calls count against, in this period: the global one (if any) and
    /// the user's (an admin's override, else the default).
    pub async fn budgets(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<BudgetLine>, AppError> {
        let s = &self.inner.settings;
        let rows = self.budget_rows().await?;
        let configured = |scope: &str, fallback: Option<Limit>| {
            rows.iter()
                .find(|r| r.scope == scope)
                .and_then(|r| {
                    Period::parse(&r.period).map(|period| Limit { nanos: r.limit_nanos, period })
                })
                .or(fallback)
        };
        let mut out = Vec::new();
        for (scope, limit) in [
            ("global".to_string(), configured("global", s.global_budget)),
            (
                format!("user:{user_id}"),
                configured(&format!("user:{user_id}"), Some(s.default_user_budget)),
            ),
        ] {
            if let Some(limit) = limit {
                let (start, end) = limit.period.bounds(s.timezone, now);
                out.push((
                    BudgetCheck {
                        scope,
                        period_start: start.timestamp_millis(),
                        limit_nanos: limit.nanos,
                    },
                    limit.period,
                    end,
                ));
            }
        }
        Ok(out)
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
    ) -> Result<Reserved, AppError> {
        let (price, price_known) = table.lookup(&req.model);
        let prompt: u64 = req.messages.iter().map(|m| estimate_tokens(&m.content) + 4).sum();
        let worst = Usage {
            input_tokens: prompt,
            output_tokens: u64::from(req.max_tokens),
            cached_input_tokens: 0,
        };
        let amount = price.cost(&worst);
        let budgets = self.budgets(caller.user_id, Utc::now()).await?;
        let checks: Vec<BudgetCheck> = budgets.iter().map(|(c, _, _)| c.clone()).collect();
        let keys: Vec<(String, i64)> =
            checks.iter().map(|c| (c.scope.clone(), c.period_start)).collect();
        let reserved = self.inner.store.reserve_budget(&checks, amount).await?;
        if reserved.is_ok() {
            self.forget_spend(&keys).await;
        }
        if let Err(refusal) = reserved {
            let (_, period, resets_at) =
                budgets.iter().find(|(c, _, _)| c.scope == refusal.scope).cloned().ok_or_else(
                    || AppError::Unavailable { message: "budget changed; try again".into() },
                )?;
            let whose = if refusal.scope == "global" { "the team's" } else { "your" };
            metrics::counter!("llm_budget_refusals_total", "budget" => if refusal.scope == "global" { "global" } else { "user" }).increment(1);
            return Err(AppError::BudgetExceeded {
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
            });
        }
        Ok(Reserved { keys, amount, prompt_tokens: prompt, price, price_known })
    }

    /// Releases a reservation, records the call and raises threshold alerts.
    async fn settle(
        &self,
        caller: &Caller,
        reserved: &Reserved,
        call: NewLlmCall,
    ) -> Result<i64, AppError> {
        let (id, spends) =
            self.inner.store.settle_budget(&reserved.keys, reserved.amount, &call).await?;
        metrics::counter!("llm_calls_total", "provider" => call.provider.clone(), "outcome" => call.outcome.clone()).increment(1);
        metrics::counter!("llm_cost_nanos_total", "provider" => call.provider.clone())
            .increment(u64::try_from(call.cost_nanos).unwrap_or(0));
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

    /// A whole answer for `messages`, from the feature's route with fallback.
    pub async fn chat(
        &self,
        caller: &Caller,
        messages: Vec<Message>,
        max_tokens: u32,
    ) -> Result<(ChatResponse, Receipt), AppError> {
        let table = self.prices().await?;
        let mut last_error = None;
        for (provider, model) in self.route(&caller.feature)? {
            let req = ChatRequest {
                model: model.clone(),
                messages: messages.clone(),
                max_tokens,
                temperature: None,
            };
            let reserved = self.reserve(caller, &req, &table).await?;
            let started = (Utc::now(), Instant::now());
            match provider.chat(&req).await {
                Ok(answer) => {
                    let cost = reserved.price.cost(&answer.usage);
                    let attempt = Attempt {
                        caller,
                        provider: provider.name(),
                        model: &model,
                        started,
                        streamed: false,
                        price_known: reserved.price_known,
                    };
                    let row = attempt.row(answer.usage, cost, "ok", None);
                    let call_id = self.settle(caller, &reserved, row).await?;
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
                    let attempt = Attempt {
                        caller,
                        provider: provider.name(),
                        model: &model,
                        started,
                        streamed: false,
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

    /// An answer as it is generated. The reservation is settled when the stream ends, fails,
    /// or is dropped by the caller (output received so far is paid for).
    pub async fn chat_stream(
        &self,
        caller: &Caller,
        messages: Vec<Message>,
        max_tokens: u32,
    ) -> Result<BoxStream<'static, Result<StreamEvent, AppError>>, AppError> {
        let table = self.prices().await?;
        let mut last_error = None;
        for (provider, model) in self.route(&caller.feature)? {
            let req = ChatRequest {
                model: model.clone(),
                messages: messages.clone(),
                max_tokens,
                temperature: None,
            };
            let reserved = self.reserve(caller, &req, &table).await?;
            let started = (Utc::now(), Instant::now());
            match provider.chat_stream(&req).await {
                Ok(stream) => {
                    let tracker = StreamTracker {
                        gateway: self.clone(),
                        caller: caller.clone(),
                        provider: provider.name().to_string(),
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
        }
    }
}

/// Watches a stream to settle its reservation exactly once: at `Done`, at an error, or when
/// the caller drops it.
struct StreamTracker {
    gateway: Gateway,
    caller: Caller,
    provider: String,
    model: String,
    reserved: Option<Reserved>,
    started: (DateTime<Utc>, Instant),
    text_chars: String,
    usage: Option<Usage>,
}

impl StreamTracker {
    /// The usage to bill: the provider's last report (or our prompt estimate if none came),
    /// with output estimated from the text if the provider had not counted it yet.
    fn billable(&self, prompt_tokens: u64) -> Usage {
        let mut usage =
            self.usage.unwrap_or(Usage { input_tokens: prompt_tokens, ..Usage::default() });
        let seen = estimate_tokens(&self.text_chars);
        if usage.output_tokens < seen {
            usage.output_tokens = seen;
        }
        usage
    }

    fn finish(&mut self, outcome: &'static str, error: Option<String>) {
        let Some(reserved) = self.reserved.take() else { return };
        let usage = self.billable(reserved.prompt_tokens);
        let cost = reserved.price.cost(&usage);
        let attempt = Attempt {
            caller: &self.caller,
            provider: &self.provider,
            model: &self.model,
            started: self.started,
            streamed: true,
            price_known: reserved.price_known,
        };
        let row = attempt.row(usage, cost, outcome, error);
        let gateway = self.gateway.clone();
        let caller = self.caller.clone();
        // Also runs from Drop, so it cannot be awaited here.
        tokio::spawn(async move {
            if let Err(e) = gateway.settle(&caller, &reserved, row).await {
                tracing::error!(error = %e, "could not settle a streamed LLM call");
            }
        });
    }
}

impl Drop for StreamTracker {
    fn drop(&mut self) {
        self.finish("abandoned", Some("the client stopped reading".into()));
    }
}

fn tracked(
    stream: BoxStream<'static, Result<StreamEvent, LlmError>>,
    tracker: StreamTracker,
) -> BoxStream<'static, Result<StreamEvent, AppError>> {
    futures::stream::unfold(
        (stream, tracker, false),
        |(mut stream, mut tracker, ended)| async move {
            if ended {
                return None;
            }
            match stream.next().await {
                Some(Ok(event)) => {
                    match &event {
                        StreamEvent::Delta(t) => tracker.text_chars.push_str(t),
                        StreamEvent::Usage(u) => tracker.usage = Some(*u),
                        StreamEvent::Done { .. } => tracker.finish("ok", None),
                    }
                    let done = matches!(event, StreamEvent::Done { .. });
                    Some((Ok(event), (stream, tracker, done)))
                }
                Some(Err(e)) => {
                    let outcome = if matches!(e, LlmError::Interrupted { .. }) {
                        "interrupted"
                    } else {
                        "error"
                    };
                    tracker.finish(outcome, Some(e.to_string()));
                    Some((Err(llm_to_app(Some(e))), (stream, tracker, true)))
                }
                None => {
                    tracker
                        .finish("interrupted", Some("the stream ended without completing".into()));
                    None
                }
            }
        },
    )
    .boxed()
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
