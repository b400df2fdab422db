//! The application state from settings: store (migrated), Redis, cache, limiters, keys, the
//! LLM gateway, knowledge, the job registry and schedules.

use crate::config::Settings;
use domain::auth::{self as server_auth};
use domain::cache::{Cache, CacheConfig};
use domain::events::EventBus;
use domain::jobs::{CronSchedule, JobRegistry};
use domain::mail::{MailSettings, Mailer, parse_mailbox};
use domain::ratelimit::{Limit, RateLimiter};
use domain::redis_conn::RedisConn;
use domain::secrets::SecretBox;
use domain::service::notifications::BudgetAlertNotifier;
use domain::state::{AppState, AuthSettings, JobsLink, Limiters};
use domain::store::{self, PoolOptions};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

/// Builds the shared state from settings: store (migrated), Redis, cache, limiters, keys.
pub async fn build_state(settings: &Settings) -> anyhow::Result<AppState> {
    let pool = PoolOptions {
        max_connections: settings.database.max_connections,
        min_connections: settings.database.min_connections,
        acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_secs),
    };
    let store = store::connect(settings.database.url.expose(), &pool).await?;
    let redis = match &settings.redis.url {
        Some(url) => Some(RedisConn::start(url.expose())?),
        None => None,
    };
    let cache = Cache::new(
        CacheConfig {
            max_entries: settings.cache.max_entries,
            l1_max_ttl: Duration::from_secs(settings.cache.l1_max_ttl_secs),
        },
        redis.clone(),
    );
    let a = &settings.auth;
    let secret = match &a.jwt_secret.0 {
        Some(s) => s.expose_secret().to_string(),
        None => {
            let candidate = server_auth::new_secret("");
            store.get_or_init_secret("jwt_signing_key", &candidate, chrono::Utc::now()).await?
        }
    };
    let limits = Limiters {
        login_account: RateLimiter::new(
            "login_account",
            Limit {
                max: a.login_max_failures,
                window: Duration::from_secs(a.login_failure_window_secs),
            },
            redis.clone(),
        ),
        login_delay: RateLimiter::new(
            "login_delay",
            Limit {
                max: a.login_max_failures,
                window: Duration::from_secs(a.login_failure_window_secs),
            },
            redis.clone(),
        ),
        login_ip: RateLimiter::new(
            "login_ip",
            Limit { max: a.login_max_per_ip, window: Duration::from_secs(a.login_ip_window_secs) },
            redis.clone(),
        ),
        register_ip: RateLimiter::new(
            "register_ip",
            Limit {
                max: a.register_max_per_ip,
                window: Duration::from_secs(a.register_ip_window_secs),
            },
            redis.clone(),
        ),
    };
    let events = EventBus::new(redis.clone());
    let jobs = JobsLink::new(redis.clone());
    forward_job_events(&jobs, &events);
    let default_scopes =
        model::Scopes::parse_names(&a.default_scopes).map_err(anyhow::Error::msg)?;
    let secrets = load_secret_key(settings)?;
    let llm = build_gateway(
        settings,
        store.clone(),
        events.clone(),
        cache.clone(),
        redis.clone(),
        secrets,
    )?;
    let timezone = settings.llm.timezone;
    llm.set_alert_sink(Arc::new(BudgetAlertNotifier::new(
        store.clone(),
        events.clone(),
        jobs.clone(),
        settings.smtp.enabled(),
        timezone,
    )));
    let knowledge = build_knowledge(settings, redis.clone())?;
    Ok(AppState {
        store,
        cache,
        redis,
        jwt: Arc::new(server_auth::JwtKeys::new(secret.as_bytes())),
        auth: Arc::new(AuthSettings {
            access_ttl: Duration::from_secs(a.access_ttl_secs),
            refresh_ttl: Duration::from_secs(a.refresh_ttl_days * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(a.refresh_reuse_grace_secs),
            default_scopes,
            secure_cookies: a.secure_cookies,
            allow_registration: a.allow_registration,
        }),
        limits,
        events,
        jobs,
        llm,
        knowledge,
        urls: domain::outbound::UrlPolicy { allow_private: settings.security.allow_private_urls },
    })
}

/// The knowledge runtime from `[knowledge]`: ranking settings and the embedder. A default model
/// that fails to load, or no embedder, leaves search on keywords (admins see why).
pub(crate) fn build_knowledge(
    settings: &Settings,
    redis: Option<RedisConn>,
) -> anyhow::Result<domain::knowledge::Knowledge> {
    use domain::knowledge::embedder::{DefaultEmbedder, E5Embedder, Embedder, ProviderEmbedder};
    use domain::llm::{ProviderConfig, ProviderKind, build_provider};
    let k = &settings.knowledge;
    let (embedder, problem): (Option<Arc<dyn Embedder>>, Option<String>) = match k.embedder.as_str()
    {
        "none" => (None, Some("no embedder configured (knowledge.embedder = none)".into())),
        "e5" => match E5Embedder::load(std::path::Path::new(k.e5_model.trim())) {
            Ok(e) => (Some(Arc::new(e)), None),
            // The compiled-in model serves instead, and admins see why.
            Err(e) => {
                tracing::error!(error = %e, "the e5 model did not load; the compiled-in model serves");
                let fallback =
                    DefaultEmbedder::load().ok().map(|d| Arc::new(d) as Arc<dyn Embedder>);
                (fallback, Some(format!("the e5 model did not load: {e:#}")))
            }
        },
        "openai" | "ollama" => {
            let kind =
                if k.embedder == "openai" { ProviderKind::OpenAi } else { ProviderKind::Ollama };
            let mut config = ProviderConfig::new("embeddings", kind, &k.embedder_base_url);
            config.api_key = k.embedder_api_key.0.clone();
            let provider = build_provider(config)
                .map_err(|e| anyhow::anyhow!("invalid setting knowledge.embedder_base_url: {e}"))?;
            (
                Some(Arc::new(ProviderEmbedder::new(provider, &k.embedder_model, k.embed_batch))),
                None,
            )
        }
        _ => match DefaultEmbedder::load() {
            Ok(e) => (Some(Arc::new(e)), None),
            Err(e) => {
                tracing::error!(error = %e, "the compiled-in embedding model did not load; keyword search only");
                (None, Some(format!("the default model did not load: {e}")))
            }
        },
    };
    // The compiled-in model serves while a newly configured one's vectors are being made.
    let fallback: Option<Arc<dyn Embedder>> = if k.embedder == "none" {
        None
    } else {
        DefaultEmbedder::load().ok().map(|e| Arc::new(e) as _)
    };
    domain::knowledge::Knowledge::new(k.to_settings(), embedder, fallback, problem, redis)
}

/// The LLM gateway from `[llm]`: providers, routes (`provider:model`), budgets, default price.
pub(crate) fn build_gateway(
    settings: &Settings,
    store: domain::store::DynStore,
    events: EventBus,
    cache: Cache,
    redis: Option<RedisConn>,
    secrets: SecretBox,
) -> anyhow::Result<domain::llm::Gateway> {
    use domain::llm::{
        AnswerCacheSettings, FeatureLimit, Gateway, GatewaySettings, Limit, Price, ProviderConfig,
        RateLimits, RetryPolicy, build_provider,
    };
    let l = &settings.llm;
    let mut providers = Vec::new();
    for p in &l.providers {
        let mut config = ProviderConfig::new(&p.name, p.kind, &p.base_url);
        config.api_key = p.api_key.0.clone();
        config.timeout = Duration::from_secs(p.timeout_secs);
        config.retry = RetryPolicy { max_retries: p.max_retries, ..RetryPolicy::default() };
        if let Some(private) = p.private {
            config.private = private;
        }
        config.azure_api_key_header = p.azure;
        providers.push(
            build_provider(config)
                .map_err(|e| anyhow::anyhow!("invalid setting llm.providers: {e}"))?,
        );
    }
    let usd = |dollars: f64| (dollars * 1e9).round() as i64;
    let routes =
        l.routes.iter().map(|(feature, targets)| (feature.clone(), targets.clone())).collect();
    let gateway_settings = GatewaySettings {
        timezone: l.timezone,
        default_user_budget: Limit { nanos: usd(l.user_budget_usd), period: l.user_budget_period },
        global_budget: (l.global_budget_usd > 0.0)
            .then(|| Limit { nanos: usd(l.global_budget_usd), period: l.global_budget_period }),
        default_price: Price {
            input_per_mtok: usd(l.default_input_usd_per_mtok),
            output_per_mtok: usd(l.default_output_usd_per_mtok),
            cached_input_per_mtok: usd(l.default_input_usd_per_mtok),
        },
        alert_thresholds: l.alert_thresholds.clone(),
        routes,
        strategy: l.strategy,
        private_features: l.private_features.clone(),
        answer_cache: AnswerCacheSettings {
            ttl: Duration::from_secs(l.cache_ttl_secs),
            shared_features: l.cache_shared_features.clone(),
            disabled_features: l.cache_disabled_features.clone(),
        },
        rate_limits: RateLimits {
            default: FeatureLimit {
                requests_per_minute: l.requests_per_minute,
                tokens_per_minute: l.tokens_per_minute,
            },
            features: l.feature_limits.iter().map(|(f, v)| (f.clone(), *v)).collect(),
        },
        secrets: Some(secrets),
        urls: domain::outbound::UrlPolicy { allow_private: settings.security.allow_private_urls },
        reservation_lease: Duration::from_secs(l.reservation_lease_secs),
    };
    Ok(Gateway::new(store, Some(events), Some(cache), redis, providers, gateway_settings))
}

/// The key that seals secrets at rest: `secrets.key`, else the key file (created with a new
/// random key, mode 0600, on first start).
pub(crate) fn load_secret_key(settings: &Settings) -> anyhow::Result<SecretBox> {
    use secrecy::ExposeSecret;
    if let Some(key) = &settings.secrets.key.0 {
        return SecretBox::from_base64(key.expose_secret())
            .map_err(|e| anyhow::anyhow!("invalid setting secrets.key: {e}"));
    }
    let path = if settings.secrets.key_file.trim().is_empty() {
        let url = settings.database.url.expose();
        let beside_db = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .map(|p| p.split('?').next().unwrap_or(p))
            .filter(|p| !p.is_empty() && !p.contains(":memory:"))
            .and_then(|p| std::path::Path::new(p).parent().map(|d| d.join("secret.key")));
        beside_db.unwrap_or_else(|| std::path::PathBuf::from("data/secret.key"))
    } else {
        std::path::PathBuf::from(settings.secrets.key_file.trim())
    };
    let shown = path.display().to_string();
    if let Ok(text) = std::fs::read_to_string(&path) {
        return SecretBox::from_base64(&text)
            .map_err(|e| anyhow::anyhow!("invalid setting secrets.key_file ({shown}): {e}"));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        domain::store::private_dir(dir)
            .map_err(|e| anyhow::anyhow!("invalid setting secrets.key_file ({shown}): {e}"))?;
    }
    let key = SecretBox::generate_key();
    match write_private(&path, &key) {
        Ok(()) => {}
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("invalid setting secrets.key_file ({shown}): {e}"))?;
            return SecretBox::from_base64(&text)
                .map_err(|e| anyhow::anyhow!("invalid setting secrets.key_file ({shown}): {e}"));
        }
        Err(e) => return Err(anyhow::anyhow!("invalid setting secrets.key_file ({shown}): {e}")),
    }
    if !url_is_sqlite(settings) {
        tracing::warn!(key_file = %shown, "created a secret key file; every instance of this deployment needs the same key (secrets.key)");
    } else {
        tracing::info!(key_file = %shown, "created the secret key that seals API keys at rest");
    }
    SecretBox::from_base64(&key).map_err(|e| anyhow::anyhow!("secret key: {e}"))
}

pub(crate) fn url_is_sqlite(settings: &Settings) -> bool {
    settings.database.url.expose().starts_with("sqlite:")
}

pub(crate) fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Publishes each job event to its owner's live events (topic `job`).
pub(crate) fn forward_job_events(jobs: &JobsLink, events: &EventBus) {
    let mut rx = jobs.events.subscribe();
    let events = events.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    if let Some(owner) = event.owner_id {
                        events.publish_live(owner, &model::LivePayload::Job(event)).await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    metrics::counter!("ws_events_dropped_total", "reason" => "job_events_lagged")
                        .increment(n);
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// The mailer's settings from `[smtp]`, or None while e-mail is off (`smtp.host` empty).
pub fn mail_settings(settings: &Settings) -> anyhow::Result<Option<MailSettings>> {
    let m = &settings.smtp;
    if !m.enabled() {
        return Ok(None);
    }
    let security = m.security;
    let from =
        parse_mailbox(&m.from).map_err(|e| anyhow::anyhow!("invalid setting smtp.from: {e}"))?;
    let username = m.username.trim();
    Ok(Some(MailSettings {
        host: m.host.trim().to_string(),
        port: m.port,
        security,
        username: (!username.is_empty()).then(|| username.to_string()),
        password: m.password.0.clone(),
        from,
        timeout: Duration::from_secs(m.timeout_secs),
    }))
}

/// The built-in job kinds (with `email.send` when SMTP is configured) and the configured
/// concurrency overrides.
pub(crate) fn job_registry(settings: &Settings, state: &AppState) -> anyhow::Result<JobRegistry> {
    let mailer = match mail_settings(settings)? {
        Some(mail) => {
            let mailer = Mailer::new(&mail)
                .map_err(|e| anyhow::anyhow!("invalid setting smtp.host: {e}"))?;
            tracing::info!(smtp.host = %mail.host, smtp.port = mail.port, smtp.security = mail.security.as_str(), "e-mail on");
            Some(mailer)
        }
        None => None,
    };
    let mut registry = domain::service::job_kinds::registry(state, mailer);
    for (kind, n) in &settings.jobs.concurrency {
        if !registry.set_concurrency(kind, *n) {
            anyhow::bail!(
                "invalid setting jobs.concurrency.{kind}: no such job kind (known: {})",
                registry.kinds().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(registry)
}

/// The built-in schedules and the configured ones, each naming a registered kind.
pub(crate) fn job_schedules(
    settings: &Settings,
    registry: &JobRegistry,
) -> anyhow::Result<Vec<CronSchedule>> {
    let mut schedules = domain::service::job_kinds::schedules(
        settings.jobs.retention_days,
        settings.notifications.retention_days,
    )?;
    for (i, s) in settings.jobs.schedules.iter().enumerate() {
        if registry.config(&s.kind).is_none() {
            anyhow::bail!(
                "invalid setting jobs.schedules[{i}].kind: no such job kind {:?} (known: {})",
                s.kind,
                registry.kinds().collect::<Vec<_>>().join(", ")
            );
        }
        let priority = model::JobPriority::parse(&s.priority).map_err(anyhow::Error::msg)?;
        schedules.push(
            CronSchedule::parse(&s.name, &s.cron, &s.kind, s.payload.clone())?.priority(priority),
        );
    }
    Ok(schedules)
}
