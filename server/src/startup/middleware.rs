//! Middleware of the HTTP layer: JSON errors for `/api`, metrics per route, authentication,
//! the cross-site rule, the client IP.

use super::ServerState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::auth::{self as server_auth, AuthOutcome, ClientIp};
use domain::errors::REQUEST_ID;
use domain::service::accounts;
use std::net::SocketAddr;
use std::time::Instant;
use tower_http::request_id::RequestId;

/// Every error of the API (`/api/…`) is the JSON error format, also the ones axum's layers and
/// extractors answer in plain text: a body over the limit (413), a path id that is not a number
/// (400), a method the route does not take (405), a wrong content type (415).
pub(crate) async fn api_json_errors(
    State(limits): State<BodyLimits>,
    req: Request,
    next: Next,
) -> Response {
    use model::error::AppError;
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
        StatusCode::METHOD_NOT_ALLOWED => AppError::BadRequest {
            message: domain::tr!("this method is not allowed on this endpoint"),
        },
        _ if text.is_empty() => AppError::BadRequest { message: domain::tr!("bad request") },
        _ => AppError::BadRequest { message: text },
    };
    let mut out = err.into_response();
    *out.status_mut() = status;
    out
}

/// The body limits, for the JSON 413.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub(crate) body: usize,
    pub(crate) upload: usize,
}

/// Records latency by route and scopes the request id for error logs. Every label comes from a
/// bounded set: the router's matched route (or `unmatched`), a known method (or `OTHER`), the
/// status code, so anonymous clients cannot mint new series with invented paths or methods.
pub(crate) async fn observe(req: Request, next: Next) -> Response {
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
    let lang = domain::i18n::request_lang(req.headers());
    let res = REQUEST_ID.scope(id, domain::i18n::scope(lang, localize_error(next, req))).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
        .record(start.elapsed().as_secs_f64());
    res
}

/// Runs the request in its language and, when that is not English, renders an `AppError` body
/// again in it (the language may have changed on the way: [`authenticate`] switches to the
/// account's stored preference).
async fn localize_error(next: Next, req: Request) -> Response {
    let mut res = next.run(req).await;
    let lang = domain::i18n::lang();
    let Some(err) = res.extensions().get::<model::error::AppError>().cloned() else {
        return res;
    };
    // The body depends on the language: no shared cache may hand it to another reader.
    res.headers_mut().insert(
        header::VARY,
        axum::http::HeaderValue::from_static("accept-language, cookie, authorization"),
    );
    if lang == model::Lang::En {
        return res;
    }
    let err = domain::i18n::localized(err, lang);
    let mut body = model::error::error_body(&err);
    body["error"]["message"] = serde_json::Value::String(domain::i18n::error_message(&err, lang));
    let (mut parts, _) = res.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.insert(err);
    let mut out = Response::from_parts(parts, axum::body::Body::from(body.to_string()));
    out.headers_mut()
        .insert(header::CONTENT_LANGUAGE, axum::http::HeaderValue::from_static(lang.as_str()));
    out
}

/// The method as a label: the standard ones by name, anything else `OTHER`.
pub(crate) fn method_label(method: &Method) -> &'static str {
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
pub(crate) fn route_label(path: &str) -> &'static str {
    if path.starts_with("/pkg/") { "/pkg/*" } else { "unmatched" }
}

/// The pages that need an account (every page route but sign-in and registration).
#[derive(Clone, Debug, Default)]
pub(crate) struct ProtectedPages(pub(crate) std::sync::Arc<std::collections::HashSet<String>>);

/// A visitor (no session, or one that could not be refreshed) asking for a page that needs an
/// account is sent to sign in by the server, with the way back (`/signin?next=…`, encoded as
/// the page would), instead of an empty frame whose script redirects once it has loaded.
pub(crate) async fn redirect_visitors(
    State(pages): State<ProtectedPages>,
    req: Request,
    next: Next,
) -> Response {
    let visitor = req.extensions().get::<AuthOutcome>().is_none_or(|a| a.principal.is_none());
    if visitor
        && matches!(*req.method(), Method::GET | Method::HEAD)
        && pages.0.contains(req.uri().path())
    {
        let here = match req.uri().query() {
            Some(q) => format!("{}?{q}", req.uri().path()),
            None => req.uri().path().to_string(),
        };
        let to = format!("/signin?next={}", app::components::session::encode_next(&here));
        return axum::response::Redirect::to(&to).into_response();
    }
    next.run(req).await
}

/// Resolves credentials into an `AuthOutcome` extension, refreshes stale browser sessions,
/// and refuses cross-site state changes made with cookies.
pub(crate) async fn authenticate(
    State(state): State<ServerState>,
    mut req: Request,
    next: Next,
) -> Response {
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
        return model::error::AppError::forbidden(domain::tr!("cross-site request refused"))
            .into_response();
    }
    let resolved = accounts::resolve(&state.app, req.headers()).await;
    // The account's own choice beats the client's header. A browser's language cookie (the
    // switch's choice, set from the account at sign-in) stays in charge, so that the page and
    // the server's messages never disagree.
    if let Some(lang) = domain::i18n::account_lang(
        req.headers(),
        resolved.outcome.principal.as_ref().and_then(|p| p.lang),
    ) {
        domain::i18n::prefer(lang);
    }
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

pub(crate) fn is_static_asset(path: &str) -> bool {
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
pub(crate) fn cross_site_state_change(req: &Request) -> bool {
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
pub(crate) fn client_ip(req: &Request, trust_forwarded: bool) -> String {
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
