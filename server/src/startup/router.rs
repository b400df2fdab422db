//! The router: every route (pages, server fns, REST, WebSocket, ops) and the layers around
//! them, outermost first.

use super::middleware::*;
use super::{ServerState, X_REQUEST_ID};
use crate::config::Settings;
use crate::routes;
use app::{App, shell};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use model::error::error_headers;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Leptos options from settings (which already hold `LEPTOS_SITE_ADDR` and `LEPTOS_SITE_ROOT`);
/// the other `LEPTOS_*` variables cargo-leptos sets (output name, pkg dir, reload port, hash
/// files, environment) are read here.
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
        .site_root(settings.server.site_root.clone())
        .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()))
        .env(if prod { leptos::config::Env::PROD } else { leptos::config::Env::DEV })
        .site_addr(settings.server.addr)
        .reload_port(env("LEPTOS_RELOAD_PORT").and_then(|p| p.parse().ok()).unwrap_or(3001))
        .hash_files(env("LEPTOS_HASH_FILES").map_or(hash_file_present, |v| v == "true"))
        .build()
}

/// The router with every route and layer.
pub fn router(state: ServerState, settings: &Settings) -> Router {
    // Once per process: the list is the same for every instance, and rendering the app to
    // list it from several threads at once (tests build many applications in parallel) once
    // touched a reactive value another thread's render had disposed.
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| generate_route_list(App)).clone();
    let protected = ProtectedPages(std::sync::Arc::new(
        routes
            .iter()
            .map(|r| if r.path().is_empty() { "/".to_string() } else { r.path().to_string() })
            .filter(|p| !app::components::session::is_auth_page(p))
            .collect(),
    ));
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

    domain::i18n::set_fallback(app::api::context::request_lang);
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
                .merge(routes::rfcs::router())
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
        .layer(middleware::from_fn_with_state(protected, redirect_visitors))
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

/// Serves `/api/<name>` paths that no server fn claims (Leptos registers a route for each
/// server fn itself, and those win over this wildcard): a JSON 404 like the REST API's, not
/// Leptos's plain-text 400.
pub(crate) async fn server_fn_handler(State(state): State<ServerState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if !leptos::server_fn::axum::server_fn_paths().any(|(p, _)| p == path) {
        return model::error::AppError::not_found("API endpoint").into_response();
    }
    let app_state = state.app.clone();
    leptos_axum::handle_server_fns_with_context(move || provide_context(app_state.clone()), req)
        .await
        .into_response()
}

/// Gives server fn errors the status their `AppError` names (Leptos would answer 500 for all of
/// them). A layer, not part of `server_fn_handler`, because the routes Leptos registers for
/// server fns never reach that handler.
pub(crate) async fn server_fn_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if !res.headers().contains_key("serverfnerror") {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1024 * 1024).await.unwrap_or_default();
    if let Ok(err) = serde_json::from_slice::<model::error::AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error_headers(&err, &mut parts.headers);
    }
    Response::from_parts(parts, Body::from(bytes))
}
