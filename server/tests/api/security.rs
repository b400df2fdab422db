//! Reproductions of the outside probe's findings, each failing against the build before its fix:
//! access tokens that outlived sign-out, login CSRF, a cross-site POST that rotated a victim's
//! refresh token, lockout of an account by anyone, a deactivated account answering differently
//! for right and wrong passwords, unthrottled registration.

use crate::helpers::{
    PASSWORD, TestApp, browser, email, expect_error, expect_status, spawn_app, spawn_app_with,
};
use reqwest::StatusCode;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Sessions end when they end

#[tokio::test]
async fn an_access_token_dies_with_its_session_at_sign_out() {
    let app = spawn_app().await;
    let address = email("signout");
    app.register(&address).await;
    let tokens = app.login(&address).await;
    expect_status(app.me(&tokens.access).await, StatusCode::OK).await;

    let res =
        app.post_json("/api/v1/auth/logout", &json!({ "refresh_token": tokens.refresh })).await;
    assert!(res.status().is_success(), "logout: {}", res.status());

    // At once, not 15 minutes later; and it can no longer mint a long-lived API token.
    expect_error(app.me(&tokens.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .post_bearer(
            "/api/v1/tokens",
            &tokens.access,
            &json!({ "name": "keep", "expires_in_days": 365, "scopes": ["basic"] }),
        )
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_access_tokens_of_its_family() {
    let app = spawn_app_with(|s| s.auth.refresh_reuse_grace_secs = 0).await;
    let address = email("reuse");
    app.register(&address).await;
    let first = app.login(&address).await;
    let second = app.refresh(&first.refresh).await;
    expect_status(app.me(&second.access).await, StatusCode::OK).await;
    // The stolen first refresh token is presented again: the family is revoked ...
    expect_error(app.refresh_raw(&first.refresh).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    // ... and so is every access token issued from it.
    expect_error(app.me(&second.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(app.me(&first.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Another sign-in of the same user is unaffected.
    let other = app.login(&address).await;
    expect_status(app.me(&other.access).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_browser_session_ends_at_sign_out_even_with_a_copied_access_cookie() {
    let app = spawn_app().await;
    let client = browser();
    let res = client
        .post(app.url("/api/register"))
        .json(&json!({ "form": { "email": email("cookie"), "password": PASSWORD, "display_name": "C" } }))
        .send()
        .await
        .unwrap();
    let access = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find_map(|c| c.strip_prefix("bp_at="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
        .expect("access cookie");
    expect_status(res, StatusCode::OK).await;
    let res = client.post(app.url("/api/sign_out")).json(&json!({})).send().await.unwrap();
    expect_status(res, StatusCode::OK).await;
    // Someone who copied the access cookie before sign-out cannot use it afterwards.
    let copied = reqwest::Client::new()
        .post(app.url("/api/current_user"))
        .header("cookie", format!("bp_at={access}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(copied, StatusCode::OK).await, serde_json::Value::Null);
}

// ---------------------------------------------------------------------------------------------
// No cross-site sign-in, no cross-site state change

async fn cross_site_post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> StatusCode {
    let mut req = reqwest::Client::new().post(app.url(path)).body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn sign_in_and_register_refuse_a_foreign_origin_whatever_the_content_type() {
    let app = spawn_app().await;
    let attacker = email("attacker");
    app.register(&attacker).await;
    let users_before = app.user_count().await;
    let sign_in = json!({ "form": { "email": attacker, "password": PASSWORD } }).to_string();
    let register =
        json!({ "form": { "email": email("victim"), "password": PASSWORD, "display_name": "V" } })
            .to_string();
    let foreign: [&[(&str, &str)]; 4] = [
        &[("origin", "http://evil.example"), ("content-type", "text/plain")],
        &[("origin", "null"), ("content-type", "application/json")],
        &[("sec-fetch-site", "cross-site"), ("content-type", "text/plain")],
        &[("origin", "http://evil.example"), ("content-type", "application/x-www-form-urlencoded")],
    ];
    for headers in foreign {
        for (path, body) in [("/api/sign_in", &sign_in), ("/api/register", &register)] {
            let status = cross_site_post(&app, path, headers, body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} with {headers:?}");
        }
        let rest = cross_site_post(&app, "/api/v1/auth/login", headers, &sign_in).await;
        assert_eq!(rest, StatusCode::FORBIDDEN, "REST login with {headers:?}");
    }
    assert_eq!(app.user_count().await, users_before, "nobody was registered");

    // Our own origin, and API clients without Origin, still sign in.
    let own = app.address.clone();
    let ok = cross_site_post(
        &app,
        "/api/sign_in",
        &[
            ("origin", &own),
            ("content-type", "application/json"),
            ("sec-fetch-site", "same-origin"),
        ],
        &sign_in,
    )
    .await;
    assert_eq!(ok, StatusCode::OK);
    app.login(&attacker).await;
}

#[tokio::test]
async fn a_cross_site_post_with_a_stale_cookie_does_not_rotate_the_refresh_token() {
    let app = spawn_app().await;
    let address = email("stale");
    app.register(&address).await;
    let tokens = app.login(&address).await;
    // Only the refresh cookie: the access cookie has expired.
    let res = reqwest::Client::new()
        .post(app.url("/api/create_api_token"))
        .header("origin", "http://evil.example")
        .header("cookie", format!("bp_rt={}", tokens.refresh))
        .json(&json!({ "form": { "name": "x", "expires_in_days": 30 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("set-cookie").is_none(), "no session change on a refusal");
    // The victim's refresh token is still unused: their next refresh works.
    app.refresh(&tokens.refresh).await;
}

// ---------------------------------------------------------------------------------------------
// Guessing passwords cannot lock the owner out

async fn login_from(app: &TestApp, ip: &str, address: &str, password: &str) -> reqwest::Response {
    app.api
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": address, "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stranger_guessing_locks_out_only_themselves() {
    let app = spawn_app_with(|s| {
        s.server.trust_forwarded_for = true;
        s.auth.login_max_failures = 3;
    })
    .await;
    let address = email("owner");
    app.register(&address).await;
    let stranger = "203.0.113.66";
    for attempt in 1..=3 {
        let res = login_from(&app, stranger, &address, "wrong password!").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let res = login_from(&app, stranger, &address, "wrong password!").await;
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Even with the right password, that client waits out its window ...
    let res = login_from(&app, stranger, &address, PASSWORD).await;
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // ... but the owner, from their own address, signs in (after a short delay at most).
    let res = login_from(&app, "198.51.100.7", &address, PASSWORD).await;
    expect_status(res, StatusCode::OK).await;
}

#[test]
fn the_delay_grows_with_failures_and_is_capped() {
    use domain::service::accounts::sign_in_delay;
    use std::time::Duration;
    assert_eq!(sign_in_delay(0, 5), Duration::ZERO);
    assert_eq!(sign_in_delay(5, 5), Duration::from_millis(250));
    assert_eq!(sign_in_delay(6, 5), Duration::from_millis(500));
    assert_eq!(sign_in_delay(9, 5), Duration::from_secs(4));
    assert_eq!(sign_in_delay(40, 5), Duration::from_secs(8));
    assert_eq!(sign_in_delay(u32::MAX, 5), Duration::from_secs(8));
}

#[tokio::test]
async fn a_deactivated_account_answers_like_a_wrong_password() {
    let app = spawn_app().await;
    let admin = app.register(&email("admin")).await;
    let address = email("gone");
    app.register(&address).await;
    let tokens = app.login(&address).await;
    let id = app.user_id(&tokens.access).await;
    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{id}"),
            &admin.access,
            &json!({ "active": false }),
        )
        .await;
    expect_status(res, StatusCode::OK).await;
    let right = expect_error(
        app.login_raw(&address, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let wrong = expect_error(
        app.login_raw(&address, "not the password").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(right["message"], wrong["message"]);
}

#[tokio::test]
async fn registration_is_limited_per_address() {
    let app = spawn_app_with(|s| s.auth.register_max_per_ip = 3).await;
    for _ in 0..3 {
        app.register(&email("many")).await;
    }
    let res = app.register_raw(&email("many"), PASSWORD).await;
    let err = expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(err["retry_after_secs"].as_i64().is_some_and(|s| s >= 1));
    assert_eq!(app.user_count().await, 3);
}

// ---------------------------------------------------------------------------------------------
// Credentials never travel in a URL

#[tokio::test]
async fn sign_in_and_register_forms_post_and_wait_for_hydration() {
    let app = spawn_app().await;
    for path in ["/signin", "/register"] {
        let html = app.api.get(app.url(path)).send().await.unwrap().text().await.unwrap();
        let form = html.split("<form").nth(1).expect("a form").split("</form>").next().unwrap();
        let tag = form.split('>').next().unwrap();
        assert!(tag.contains(r#"method="post""#), "{path}: a form that falls back to GET: {tag}");
        let button =
            form.split("<button").nth(1).expect("a submit button").split('>').next().unwrap();
        assert!(
            button.contains("disabled"),
            "{path}: the submit button must stay disabled until the page is hydrated: {button}"
        );
    }
}

#[tokio::test]
async fn names_with_control_or_direction_characters_are_refused() {
    let app = spawn_app().await;
    for (email_addr, name) in [
        (email("nul"), "Eve\u{0}Admin"),
        (email("bidi"), "Mallory\u{202E}nimda"),
        (email("isolate"), "Trudy\u{2066}x"),
    ] {
        let res = app
            .post_json(
                "/api/v1/auth/register",
                &json!({ "email": email_addr, "password": PASSWORD, "display_name": name }),
            )
            .await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(err["errors"][0]["field"], "display_name", "{err}");
    }
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "email": "a\u{0}b@example.com", "password": PASSWORD, "display_name": "A" }),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    let user = app.register(&email("owner")).await.access;
    let form = |name: &str, config: serde_json::Value, secret: Option<String>| {
        json!({ "name": name, "kind": "files", "config": config, "secret": secret,
                "visibility": "owner", "members": [], "schedule": null, "enabled": true })
    };
    let res =
        app.post_bearer("/api/v1/sources", &user, &form("Notes\u{202E}", json!({}), None)).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "name");
    let huge = json!({ "padding": "x".repeat(900_000) });
    let res = app
        .api
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&user)
        .json(&form("Big", huge, None))
        .send()
        .await
        .unwrap();
    // Over the body limit (413) or over the config rule (422): never stored.
    assert!(
        matches!(res.status(), StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNPROCESSABLE_ENTITY),
        "{}",
        res.status()
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "the JSON error format: {body}");
    let big = json!({ "padding": "x".repeat(40_000) });
    let res = app.post_bearer("/api/v1/sources", &user, &form("Big", big, None)).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "config", "{err}");
    let res = app
        .post_bearer(
            "/api/v1/sources",
            &user,
            &form("Secret", json!({}), Some("s".repeat(100_000))),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "secret", "{err}");
}

// ---------------------------------------------------------------------------------------------
// Every API error is JSON

#[tokio::test]
async fn api_errors_are_json_for_arrays_bad_path_ids_and_oversized_bodies() {
    let app = spawn_app().await;
    let user = app.register(&email("json")).await.access;
    // An array where an object is required.
    let res = app.post_json("/api/v1/auth/login", &json!(["a@example.com", PASSWORD])).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "body");
    // A path id that is not a number.
    let res = app.get_bearer("/api/v1/sources/not-a-number", &user).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.json::<serde_json::Value>().await.unwrap()["error"]["code"].is_string());
    // A body over the limit.
    let res = app
        .api
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&user)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    let err = expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(err["limit_bytes"].as_i64().is_some_and(|l| l > 0), "{err}");
    // A method the route does not take.
    let res = app.api.patch(app.url("/api/v1/me")).bearer_auth(&user).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(res.json::<serde_json::Value>().await.unwrap()["error"]["code"].is_string());
}

// ---------------------------------------------------------------------------------------------
// One URL guard for every supplied base URL; a stored secret stays with its origin

fn confluence(base: &str, secret: Option<&str>) -> serde_json::Value {
    json!({ "name": "Wiki", "kind": "confluence",
            "config": { "base_url": base, "deployment": "data_center", "spaces": ["ENG"] },
            "secret": secret, "visibility": "owner", "members": [], "schedule": null,
            "enabled": false })
}

#[tokio::test]
async fn private_and_metadata_addresses_are_refused_for_sources_and_providers_by_default() {
    let app = spawn_app_with(|s| s.security.allow_private_urls = false).await;
    let admin = app.register(&email("admin")).await.access;
    for base in [
        "http://127.0.0.1:6379/",
        "http://localhost:8080/",
        "http://0.0.0.0:6379/",
        "http://10.0.0.7/confluence",
        "http://[::1]:8090/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://metadata.google.internal./",
    ] {
        let res =
            app.post_bearer("/api/v1/sources/test", &admin, &confluence(base, Some("t"))).await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(err["errors"][0]["field"], "config.base_url", "{base}: {err}");
        let provider = json!({ "kind": "openai", "base_url": base, "api_key": "sk-1" });
        let res = app.put_bearer("/api/v1/admin/llm/providers/p", &admin, &provider).await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(err["errors"][0]["field"], "base_url", "{base}: {err}");
    }
}

#[tokio::test]
async fn a_stored_secret_is_not_sent_to_a_new_origin_without_being_entered_again() {
    let app = spawn_app().await;
    let admin = app.register(&email("admin")).await.access;
    // A source with a stored token (disabled: nothing syncs in this test).
    let res = app
        .post_bearer(
            "/api/v1/sources",
            &admin,
            &confluence("http://127.0.0.1:9/wiki", Some("tok-1")),
        )
        .await;
    let id = expect_status(res, StatusCode::CREATED).await["id"].as_i64().unwrap();
    // Same origin, other path, no secret: keeps the stored one.
    let res = app
        .put_bearer(
            &format!("/api/v1/sources/{id}"),
            &admin,
            &confluence("http://127.0.0.1:9/other", None),
        )
        .await;
    expect_status(res, StatusCode::OK).await;
    // Another host or port without the secret: refused, naming the secret.
    for elsewhere in
        ["http://127.0.0.2:9/wiki", "http://127.0.0.1:10/wiki", "https://127.0.0.1:9/wiki"]
    {
        let path = format!("/api/v1/sources/{id}");
        let res = app.put_bearer(&path, &admin, &confluence(elsewhere, None)).await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(err["errors"][0]["field"], "secret", "{elsewhere}: {err}");
        assert_eq!(err["errors"][0]["rule"], "required_for_new_origin");
        let res = app
            .post_bearer(
                &format!("/api/v1/sources/{id}/test"),
                &admin,
                &confluence(elsewhere, None),
            )
            .await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(err["errors"][0]["field"], "secret", "{elsewhere}: {err}");
    }
    // With the secret entered again it is fine.
    let res = app
        .put_bearer(
            &format!("/api/v1/sources/{id}"),
            &admin,
            &confluence("http://127.0.0.2:9/wiki", Some("tok-2")),
        )
        .await;
    expect_status(res, StatusCode::OK).await;

    // The same for an LLM provider's key.
    let put = |base: &str, key: Option<&str>| json!({ "kind": "openai", "base_url": base, "api_key": key, "enabled": false });
    let path = "/api/v1/admin/llm/providers/added";
    expect_status(
        app.put_bearer(path, &admin, &put("http://127.0.0.1:9/v1", Some("sk-1"))).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.put_bearer(path, &admin, &put("http://127.0.0.1:9/v2", None)).await,
        StatusCode::OK,
    )
    .await;
    let res = app.put_bearer(path, &admin, &put("http://127.0.0.3:9/v1", None)).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "api_key", "{err}");
    expect_status(
        app.put_bearer(path, &admin, &put("http://127.0.0.3:9/v1", Some("sk-2"))).await,
        StatusCode::OK,
    )
    .await;
}
