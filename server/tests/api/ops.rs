//! Health, metrics, security headers, request ids and the 404 page.

use crate::helpers::{expect_status, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn health_live_is_200() {
    let app = spawn_app().await;
    let res = app.api.get(app.url("/health/live")).send().await.expect("request");
    assert_eq!(expect_status(res, StatusCode::OK).await["status"], "ok");
}

#[tokio::test]
async fn health_ready_reports_database_ok() {
    let app = spawn_app().await;
    let res = app.api.get(app.url("/health/ready")).send().await.expect("request");
    let body = expect_status(res, StatusCode::OK).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["database_backend"], "sqlite");
    assert_eq!(body["checks"]["redis"], "not configured");
}

#[tokio::test]
async fn health_ready_on_postgres() {
    let app = crate::helpers::spawn_app_pg().await;
    let res = app.api.get(app.url("/health/ready")).send().await.expect("request");
    let body = expect_status(res, StatusCode::OK).await;
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["database_backend"], "postgres");
}

#[tokio::test]
async fn metrics_expose_request_durations() {
    let app = spawn_app().await;
    app.api.get(app.url("/health/live")).send().await.expect("request");
    let res = app.api.get(app.url("/metrics")).send().await.expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.expect("body");
    assert!(text.contains("http_request_duration_seconds"), "{text}");
    assert!(text.contains("db_pool_connections"), "{text}");
}

#[tokio::test]
async fn responses_carry_security_headers_and_request_id() {
    let app = spawn_app().await;
    for path in ["/health/live", "/api/v1/me", "/no-such-page"] {
        let res = app.api.get(app.url(path)).send().await.expect("request");
        let h = res.headers();
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
        assert!(h.get("content-security-policy").is_some(), "{path}");
        assert_eq!(h.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"DENY"[..]), "{path}");
        assert!(h.get("referrer-policy").is_some(), "{path}");
        let id = h.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(!id.is_empty(), "{path} has no x-request-id");
        // No HSTS without HTTPS.
        assert!(h.get("strict-transport-security").is_none(), "{path}");
    }
    // A request id sent by the client (e.g. a proxy) is kept.
    let res = app
        .api
        .get(app.url("/health/live"))
        .header("x-request-id", "from-the-proxy")
        .send()
        .await
        .expect("req");
    assert_eq!(
        res.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"from-the-proxy"[..])
    );
}

#[tokio::test]
async fn unknown_page_is_404() {
    let app = spawn_app().await;
    let res = app.api.get(app.url("/no-such-page")).send().await.expect("request");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Unknown API paths are JSON 404s, for the REST API and for server fns alike.
    for path in ["/api/v1/no-such-endpoint", "/api/no_such_fn"] {
        let res =
            app.api.post(app.url(path)).json(&serde_json::json!({})).send().await.expect("request");
        crate::helpers::expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn pages_render() {
    let app = spawn_app().await;
    let res = app.api.get(app.url("/signin")).send().await.expect("request");
    let status = res.status();
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let html = res.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<html"), "{html}");
    assert!(csp.contains("nonce-"), "pages get a per-response nonce CSP: {csp}");
}

#[tokio::test]
async fn invented_paths_and_methods_do_not_create_metric_series() {
    let app = spawn_app().await;
    for i in 0..40 {
        let path = format!("/probe-{i}-{}", uuid::Uuid::new_v4().simple());
        app.api.get(app.url(&path)).send().await.expect("request");
        app.api.get(app.url(&format!("/api/{path}"))).send().await.expect("request");
    }
    for m in ["BREW", "PROPFIND", "X-INVENTED"] {
        let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        app.api.request(method, app.url("/health/live")).send().await.expect("request");
    }
    let text = app.api.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let series: Vec<&str> =
        text.lines().filter(|l| l.starts_with("http_request_duration_seconds_count{")).collect();
    assert!(!text.contains("probe-"), "a path became a label:\n{}", series.join("\n"));
    for m in ["BREW", "PROPFIND", "X-INVENTED"] {
        assert!(!text.contains(m), "method {m} became a label");
    }
    // The recorder is shared by every test in this process: count only the unmatched series.
    let unmatched: Vec<&&str> =
        series.iter().filter(|l| l.contains("route=\"unmatched\"")).collect();
    assert!(!unmatched.is_empty(), "{}", series.join("\n"));
    assert!(unmatched.len() <= 8, "bounded series: {unmatched:?}");
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.server.metrics_token =
            server::config::Secret(Some("scrape-secret-123".to_string().into()));
    })
    .await;
    let res = app.api.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res =
        app.api.get(app.url("/metrics")).bearer_auth("wrong-secret-1234").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res =
        app.api.get(app.url("/metrics")).bearer_auth("scrape-secret-123").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
