//! Builds the application: state from settings, the router with its layers, the listener.
//! `Application::build` binds (port 0 in tests) and `run_until_stopped` serves until a
//! shutdown signal, then drains in-flight requests within the grace period.

use crate::config::Settings;
use crate::routes;
use app::server::auth::{self as server_auth, AuthOutcome, ClientIp};
use app::server::cache::{Cache, CacheConfig};
use app::server::errors::{REQUEST_ID, error_headers};
use app::server::events::EventBus;
use app::server::jobs::{
    CronHandle, CronSchedule, CronScheduler, JobRegistry, JobRunner, RunnerConfig, RunnerHandle,
    kinds,
};
use app::server::mail::{MailSettings, Mailer, Security, parse_mailbox};
use app::server::ratelimit::{Limit, RateLimiter};
use app::server::redis_conn::RedisConn;
use app::server::secrets::SecretBox;
use app::server::service::accounts;
use app::server::service::notifications::BudgetAlertNotifier;
use app::server::state::{AppState, AuthSettings, JobsLink, Limiters};
use app::server::store::{self, PoolOptions};
use app::{App, shell};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// State of the axum router: the app's state plus what only the HTTP layer needs.
#[derive(Clone, FromRef)]
pub struct ServerState {
    /// Leptos site options.
    pub leptos_options: LeptosOptions,
    /// The application state.
    pub app: AppState,
    /// Prometheus handle for `/metrics`.
    pub metrics: PrometheusHandle,
    /// Settings that middleware reads.
    pub http: Arc<HttpSettings>,
}

/// Settings read by middleware.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Whether `X-Forwarded-For` is trusted.
    pub trust_forwarded_for: bool,
    /// Whether HTTPS-only headers are sent.
    pub secure: bool,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<secrecy::SecretString>,
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
        app::model::Scopes::parse_names(&a.default_scopes).map_err(anyhow::Error::msg)?;
    let secrets = load_secret_key(settings)?;
    let llm = build_gateway(
        settings,
        store.clone(),
        events.clone(),
        cache.clone(),
        redis.clone(),
        secrets,
    )?;
    let timezone = settings
        .llm
        .timezone
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid setting llm.timezone"))?;
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
        urls: app::server::outbound::UrlPolicy {
            allow_private: settings.security.allow_private_urls,
        },
    })
}

/// The knowledge runtime from `[knowledge]`: ranking settings and the embedder. A default model
/// that fails to load, or no embedder, leaves search on keywords (admins see why).
fn build_knowledge(
    settings: &Settings,
    redis: Option<RedisConn>,
) -> anyhow::Result<app::server::knowledge::Knowledge> {
    use app::server::knowledge::embedder::{DefaultEmbedder, Embedder, ProviderEmbedder};
    use app::server::llm::{ProviderConfig, ProviderKind, build_provider};
    let k = &settings.knowledge;
    let (embedder, problem): (Option<Arc<dyn Embedder>>, Option<String>) = match k.embedder.as_str()
    {
        "none" => (None, Some("no embedder configured (knowledge.embedder = none)".into())),
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
    app::server::knowledge::Knowledge::new(k.to_settings(), embedder, problem, redis)
}

/// The LLM gateway from `[llm]`: providers, routes (`provider:model`), budgets, default price.
fn build_gateway(
    settings: &Settings,
    store: app::server::store::DynStore,
    events: EventBus,
    cache: Cache,
    redis: Option<RedisConn>,
    secrets: SecretBox,
) -> anyhow::Result<app::server::llm::Gateway> {
    use app::server::llm::{
        AnswerCacheSettings, FeatureLimit, Gateway, GatewaySettings, Limit, Period, Price,
        ProviderConfig, RateLimits, RetryPolicy, Target, build_provider,
    };
    let l = &settings.llm;
    let mut providers = Vec::new();
    for p in &l.providers {
        let kind = crate::config::provider_kind(&p.kind).ok_or_else(|| {
            anyhow::anyhow!("invalid setting llm.providers: unknown kind {}", p.kind)
        })?;
        let mut config = ProviderConfig::new(&p.name, kind, &p.base_url);
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
    let period = |name: &str| Period::parse(name).unwrap_or(Period::Monthly);
    let routes = l
        .routes
        .iter()
        .map(|(feature, targets)| {
            let targets = targets
                .iter()
                .filter_map(|t| t.split_once(':'))
                .map(|(provider, model)| Target { provider: provider.into(), model: model.into() })
                .collect();
            (feature.clone(), targets)
        })
        .collect();
    let gateway_settings = GatewaySettings {
        timezone: l
            .timezone
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid setting llm.timezone"))?,
        default_user_budget: Limit {
            nanos: usd(l.user_budget_usd),
            period: period(&l.user_budget_period),
        },
        global_budget: (l.global_budget_usd > 0.0).then(|| Limit {
            nanos: usd(l.global_budget_usd),
            period: period(&l.global_budget_period),
        }),
        default_price: Price {
            input_per_mtok: usd(l.default_input_usd_per_mtok),
            output_per_mtok: usd(l.default_output_usd_per_mtok),
            cached_input_per_mtok: usd(l.default_input_usd_per_mtok),
        },
        alert_thresholds: l.alert_thresholds.clone(),
        routes,
        strategy: app::model::Strategy::parse(&l.strategy).unwrap_or_default(),
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
            features: l
                .feature_limits
                .iter()
                .map(|(f, v)| {
                    (
                        f.clone(),
                        FeatureLimit {
                            requests_per_minute: v.requests_per_minute,
                            tokens_per_minute: v.tokens_per_minute,
                        },
                    )
                })
                .collect(),
        },
        secrets: Some(secrets),
        urls: app::server::outbound::UrlPolicy {
            allow_private: settings.security.allow_private_urls,
        },
        reservation_lease: Duration::from_secs(l.reservation_lease_secs),
    };
    Ok(Gateway::new(store, Some(events), Some(cache), redis, providers, gateway_settings))
}

/// The key that seals secrets at rest: `secrets.key`, else the key file (created with a new
/// random key, mode 0600, on first start).
fn load_secret_key(settings: &Settings) -> anyhow::Result<SecretBox> {
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
        app::server::store::sqlite::private_dir(dir)
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

fn url_is_sqlite(settings: &Settings) -> bool {
    settings.database.url.expose().starts_with("sqlite:")
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
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
fn forward_job_events(jobs: &JobsLink, events: &EventBus) {
    let mut rx = jobs.events.subscribe();
    let events = events.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    if let (Some(owner), Ok(data)) = (event.owner_id, serde_json::to_value(&event))
                    {
                        events.publish(owner, "job", data).await;
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

/// Leptos options from settings; `LEPTOS_*` variables (set by `cargo leptos watch`) win.
pub fn leptos_options(settings: &Settings) -> LeptosOptions {
    let env = |k: &str| std::env::var(k).ok();
    let hash_file_present = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("hash.txt")))
        .is_some_and(|p| p.exists());
    let prod = env("LEPTOS_ENV")
        .is_none_or(|e| !e.eq_ignore_ascii_case("dev") && !e.eq_ignore_ascii_case("development"));
    LeptosOptions::builder()
        .output_name(env("LEPTOS_OUTPUT_NAME").unwrap_or_else(|| "blueprint".into()))
        .site_root(env("LEPTOS_SITE_ROOT").unwrap_or_else(|| settings.server.site_root.clone()))
        .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()))
        .env(if prod { leptos::config::Env::PROD } else { leptos::config::Env::DEV })
        .site_addr(settings.server.addr)
        .reload_port(env("LEPTOS_RELOAD_PORT").and_then(|p| p.parse().ok()).unwrap_or(3001))
        .hash_files(env("LEPTOS_HASH_FILES").map_or(hash_file_present, |v| v == "true"))
        .build()
}

/// The router with every route and layer.
pub fn router(state: ServerState, settings: &Settings) -> Router {
    let routes = generate_route_list(App);
    let app_state = state.app.clone();
    let leptos_options = state.leptos_options.clone();
    let pkg_dir = std::path::Path::new(leptos_options.site_root.as_ref())
        .join(leptos_options.site_pkg_dir.as_ref());
    let pkg = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if leptos_options.hash_files {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        ))
        .service(ServeDir::new(pkg_dir).precompressed_br().precompressed_gzip());

    let pages = Router::new()
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let app_state = app_state.clone();
                move || {
                    leptos::nonce::provide_nonce();
                    provide_context(app_state.clone());
                }
            },
            {
                let leptos_options = leptos_options.clone();
                move || shell(leptos_options.clone())
            },
        )
        .route("/api/{*fn_name}", get(server_fn_handler).post(server_fn_handler))
        .nest(
            "/api/v1",
            routes::rest::router()
                .merge(routes::llm::router())
                .merge(routes::notifications::router())
                .merge(routes::knowledge::router()),
        )
        .route("/ws", get(routes::ws::upgrade))
        .nest_service(&format!("/{}", leptos_options.site_pkg_dir), pkg)
        .fallback(leptos_axum::file_and_error_handler_with_context::<ServerState, _>(
            {
                let app_state = app_state.clone();
                move || provide_context(app_state.clone())
            },
            shell,
        ))
        .layer(middleware::from_fn(server_fn_status))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));

    let ops = Router::new()
        .route("/health/live", get(routes::health::live))
        .route("/health/ready", get(routes::health::ready))
        .route("/metrics", get(routes::metrics::render));

    let secure = settings.auth.secure_cookies;
    let mut security = vec![
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin")),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
    ];
    if secure {
        security.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    let body_limit = usize::try_from(settings.server.body_limit_bytes).unwrap_or(usize::MAX);
    let upload_limit = usize::try_from(settings.knowledge.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    let uploads = routes::knowledge::upload_router()
        .layer(axum::extract::DefaultBodyLimit::max(upload_limit))
        .layer(RequestBodyLimitLayer::new(upload_limit))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let mut app = pages
        .merge(ops)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .merge(uploads)
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(
            BodyLimits { body: body_limit, upload: upload_limit },
            api_json_errors,
        ))
        .layer(middleware::from_fn(observe));
    for (name, value) in security {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    app.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
            .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", request.id = %id, method = %req.method(), uri = %req.uri().path())
                }),
            )
            .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
            .layer(CompressionLayer::new().br(true).gzip(true))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(settings.server.request_timeout_secs),
            )),
    )
}

/// Every error of the API (`/api/…`) is the JSON error format, also the ones axum's layers and
/// extractors answer in plain text: a body over the limit (413), a path id that is not a number
/// (400), a method the route does not take (405), a wrong content type (415).
async fn api_json_errors(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    use app::error::AppError;
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let upload = req.uri().path().contains("/files");
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // Server fn errors carry their own encoding (read by the browser), so they are left alone.
    if !status.is_client_error() || is_json || res.headers().contains_key("serverfnerror") {
        return res;
    }
    let text = axum::body::to_bytes(res.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let err = match status {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge {
            limit_bytes: i64::try_from(if upload { limits.upload } else { limits.body })
                .unwrap_or(i64::MAX),
        },
        StatusCode::NOT_FOUND => AppError::not_found("API endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => {
            AppError::BadRequest { message: "this method is not allowed on this endpoint".into() }
        }
        _ if text.is_empty() => AppError::BadRequest { message: "bad request".into() },
        _ => AppError::BadRequest { message: text },
    };
    let mut out = err.into_response();
    *out.status_mut() = status;
    out
}

/// The body limits, for the JSON 413.
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    body: usize,
    upload: usize,
}

/// Records latency by route and scopes the request id for error logs. Every label comes from a
/// bounded set: the router's matched route (or `unmatched`), a known method (or `OTHER`), the
/// status code, so anonymous clients cannot mint new series with invented paths or methods.
async fn observe(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| route_label(req.uri().path()).to_string());
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|r| r.header_value().to_str().ok())
        .unwrap_or("-")
        .to_string();
    let res = REQUEST_ID.scope(id, next.run(req)).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
        .record(start.elapsed().as_secs_f64());
    res
}

/// The method as a label: the standard ones by name, anything else `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The label of a path no route matched: the bundle's files, or one label for all the rest.
fn route_label(path: &str) -> &'static str {
    if path.starts_with("/pkg/") { "/pkg/*" } else { "unmatched" }
}

/// Resolves credentials into an `AuthOutcome` extension, refreshes stale browser sessions,
/// and refuses cross-site state changes made with cookies.
async fn authenticate(State(state): State<ServerState>, mut req: Request, next: Next) -> Response {
    let ip = client_ip(&req, state.http.trust_forwarded_for);
    if is_static_asset(req.uri().path()) {
        // Assets need no identity; resolving would refresh sessions once per file.
        req.extensions_mut().insert(AuthOutcome::default());
        req.extensions_mut().insert(ClientIp(ip));
        return next.run(req).await;
    }
    // Before credentials are even looked at: a cross-site form must neither sign a victim in
    // (login CSRF) nor rotate their refresh token on the way to a refusal.
    if cross_site_state_change(&req) {
        metrics::counter!("http_cross_site_refused_total").increment(1);
        return app::error::AppError::forbidden("cross-site request refused").into_response();
    }
    let resolved = accounts::resolve(&state.app, req.headers()).await;
    req.extensions_mut().insert::<AuthOutcome>(resolved.outcome);
    req.extensions_mut().insert(ClientIp(ip));
    let mut res = next.run(req).await;
    // A handler that set session cookies itself (sign-in, sign-out) has the last word.
    let handler_set_session = res.headers().get_all(header::SET_COOKIE).iter().any(|c| {
        c.to_str().is_ok_and(|c| {
            c.starts_with(&format!("{}=", server_auth::ACCESS_COOKIE))
                || c.starts_with(&format!("{}=", server_auth::REFRESH_COOKIE))
        })
    });
    if !handler_set_session {
        for cookie in resolved.set_cookies {
            res.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    res
}

fn is_static_asset(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path.rsplit('/').next().is_some_and(|last| {
            last.rsplit_once('.').is_some_and(|(_, ext)| {
                matches!(
                    ext,
                    "ico"
                        | "css"
                        | "js"
                        | "wasm"
                        | "png"
                        | "svg"
                        | "woff2"
                        | "txt"
                        | "json"
                        | "map"
                )
            })
        })
}

/// One rule for every state-changing request, whatever its content type or credentials: a
/// browser that says it comes from another site (`Sec-Fetch-Site: cross-site`/`same-site`, or an
/// `Origin` that is not this host, `null` included) is refused. Requests carrying
/// `Authorization: Bearer` are exempt: a browser cannot attach one cross-site without a CORS
/// preflight, which this server never grants (Basic credentials a browser remembers are not).
/// Requests without either header are not from a browser that could be tricked.
fn cross_site_state_change(req: &Request) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if bearer {
        return false;
    }
    let fetch_site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return true;
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return false;
    };
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let origin_host = origin.to_str().ok().and_then(|o| {
        let (scheme, rest) = o.split_once("://")?;
        matches!(scheme, "http" | "https").then_some(rest)
    });
    !origin_host.is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host))
}

/// The client's IP: the peer address, or — behind a trusted proxy — the last `X-Forwarded-For`
/// entry (the one that proxy appended; entries before it are whatever the client sent).
fn client_ip(req: &Request, trust_forwarded: bool) -> String {
    if trust_forwarded
        && let Some(ip) = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
    {
        return ip.to_string();
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Serves `/api/<name>` paths that no server fn claims (Leptos registers a route for each
/// server fn itself, and those win over this wildcard): a JSON 404 like the REST API's, not
/// Leptos's plain-text 400.
async fn server_fn_handler(State(state): State<ServerState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if !leptos::server_fn::axum::server_fn_paths().any(|(p, _)| p == path) {
        return app::error::AppError::not_found("API endpoint").into_response();
    }
    let app_state = state.app.clone();
    leptos_axum::handle_server_fns_with_context(move || provide_context(app_state.clone()), req)
        .await
        .into_response()
}

/// Gives server fn errors the status their `AppError` names (Leptos would answer 500 for all of
/// them). A layer, not part of `server_fn_handler`, because the routes Leptos registers for
/// server fns never reach that handler.
async fn server_fn_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if !res.headers().contains_key("serverfnerror") {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1024 * 1024).await.unwrap_or_default();
    if let Ok(err) = serde_json::from_slice::<app::error::AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error_headers(&err, &mut parts.headers);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    listener: tokio::net::TcpListener,
    router: Router,
    grace: Duration,
    runner: Option<RunnerHandle>,
    cron: CronHandle,
    /// Renews this instance's LLM reservations and reaps expired ones (any instance's).
    housekeeping: tokio::task::JoinHandle<()>,
    /// The state, for tests and commands.
    pub state: AppState,
}

impl Application {
    /// Builds state and router and binds the listener (`server.addr`; port 0 picks one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(&settings).await?;
        Self::build_with_state(settings, state).await
    }

    /// As `build`, with a prepared state.
    pub async fn build_with_state(settings: Settings, state: AppState) -> anyhow::Result<Self> {
        let leptos_options = leptos_options(&settings);
        let server_state = ServerState {
            leptos_options,
            app: state.clone(),
            metrics: crate::telemetry::metrics_handle(),
            http: Arc::new(HttpSettings {
                trust_forwarded_for: settings.server.trust_forwarded_for,
                secure: settings.auth.secure_cookies,
                metrics_token: settings.server.metrics_token.0.clone(),
            }),
        };
        let router = router(server_state, &settings);
        let listener = tokio::net::TcpListener::bind(settings.server.addr)
            .await
            .map_err(|e| anyhow::anyhow!("could not listen on {}: {e}", settings.server.addr))?;
        let port = listener.local_addr()?.port();
        state.knowledge.start(state.store.clone());
        let housekeeping = state.llm.start_housekeeping();
        // The tokenizers of the configured routes load once, off the request path.
        let routed: Vec<String> = settings
            .llm
            .routes
            .values()
            .flatten()
            .filter_map(|t| t.split_once(':').map(|(_, model)| model.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || app::server::llm::tokens::warm_up(&routed));
        let registry = job_registry(&settings, &state)?;
        let schedules = job_schedules(&settings, &registry)?;
        let runner = settings.jobs.workers.then(|| {
            JobRunner::start(
                state.store.clone(),
                registry,
                RunnerConfig {
                    poll_interval: Duration::from_millis(settings.jobs.poll_interval_ms),
                    lease: Duration::from_secs(settings.jobs.lease_secs),
                    heartbeat_every: Duration::from_secs(settings.jobs.heartbeat_secs),
                    ..RunnerConfig::default()
                },
                state.jobs.events.clone(),
            )
        });
        if let Some(runner) = &runner {
            let _ = state.jobs.notifier.set(runner.notifier());
        }
        let cron = CronScheduler::start(
            state.store.clone(),
            schedules,
            runner.as_ref().map(RunnerHandle::notifier),
            Duration::from_secs(1),
        );
        Ok(Self {
            port,
            listener,
            router,
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            runner,
            cron,
            housekeeping,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for up to the
    /// grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let mut runner_rx = rx.clone();
        let stop_tx = tx.clone();
        let grace = self.grace;
        let serve = axum::serve(
            self.listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: draining in-flight requests and running jobs"
            );
            let _ = tx.send(true);
        });
        let deadline = async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(grace).await;
        };
        let http = async move {
            let result = tokio::select! {
                r = serve => r.map_err(anyhow::Error::from),
                () = deadline => {
                    tracing::warn!("grace period over; dropping remaining connections");
                    Ok(())
                }
            };
            let _ = stop_tx.send(true);
            result
        };
        // Jobs stop with the server: no new claims, running handlers get the grace period,
        // the rest go back to the queue for another instance or the next start.
        let (runner, cron) = (self.runner, self.cron);
        let gateway = self.state.llm.clone();
        let jobs = async move {
            let _ = runner_rx.wait_for(|stopping| *stopping).await;
            cron.shutdown().await;
            if let Some(runner) = runner {
                let released = runner.shutdown(grace).await;
                tracing::info!(released, "job runner stopped");
            }
        };
        let (result, ()) = tokio::join!(http, jobs);
        // Every stream that ended has its settlement running: let it reach the ledger before
        // the process exits (requests were drained above, so no new ones start).
        let left = gateway.drain_settlements(grace).await;
        if left > 0 {
            tracing::error!(left, "LLM calls left unsettled at shutdown");
        }
        // Reservations still open (grace ran out) expire and are reaped by another instance or
        // the next start.
        self.housekeeping.abort();
        result
    }
}

/// The mailer's settings from `[smtp]`, or None while e-mail is off (`smtp.host` empty).
pub fn mail_settings(settings: &Settings) -> anyhow::Result<Option<MailSettings>> {
    let m = &settings.smtp;
    if !m.enabled() {
        return Ok(None);
    }
    let security = Security::parse(&m.security)
        .ok_or_else(|| anyhow::anyhow!("invalid setting smtp.security: {}", m.security))?;
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
fn job_registry(settings: &Settings, state: &AppState) -> anyhow::Result<JobRegistry> {
    let mut registry = kinds::builtin(state.store.clone());
    app::server::service::sync::register(&mut registry, state.clone());
    let tick_state = state.clone();
    registry.register(
        app::server::service::sources::SCHEDULE_TICK,
        app::server::jobs::KindConfig { concurrency: 1, max_attempts: 1, ..Default::default() },
        move |_ctx, _payload| {
            let state = tick_state.clone();
            async move {
                let n = app::server::service::sources::enqueue_scheduled(&state).await?;
                Ok(serde_json::json!({ "enqueued": n }))
            }
        },
    );
    if let Some(mail) = mail_settings(settings)? {
        let mailer =
            Mailer::new(&mail).map_err(|e| anyhow::anyhow!("invalid setting smtp.host: {e}"))?;
        tracing::info!(smtp.host = %mail.host, smtp.port = mail.port, smtp.security = mail.security.as_str(), "e-mail on");
        kinds::register_email(&mut registry, mailer);
    }
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
fn job_schedules(settings: &Settings, registry: &JobRegistry) -> anyhow::Result<Vec<CronSchedule>> {
    let mut schedules = kinds::builtin_schedules(
        settings.jobs.retention_days,
        settings.notifications.retention_days,
    )?;
    schedules.push(CronSchedule::parse(
        "knowledge.schedule",
        "0 * * * * *",
        app::server::service::sources::SCHEDULE_TICK,
        serde_json::json!({}),
    )?);
    for (i, s) in settings.jobs.schedules.iter().enumerate() {
        if registry.config(&s.kind).is_none() {
            anyhow::bail!(
                "invalid setting jobs.schedules[{i}].kind: no such job kind {:?} (known: {})",
                s.kind,
                registry.kinds().collect::<Vec<_>>().join(", ")
            );
        }
        let priority = app::model::JobPriority::parse(&s.priority).map_err(anyhow::Error::msg)?;
        schedules.push(
            CronSchedule::parse(&s.name, &s.cron, &s.kind, s.payload.clone())?.priority(priority),
        );
    }
    Ok(schedules)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
