//! The browser flow through server fns, with a cookie-keeping client.

use crate::helpers::{PASSWORD, browser, email, expect_status, spawn_app};
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (k, v) = first.split_once('=')?;
        (k.trim() == name).then(|| v.to_string())
    })
}

#[tokio::test]
async fn register_sets_http_only_cookies_and_sign_out_ends_the_session() {
    let app = spawn_app().await;
    let client = browser();
    let address = email("browser");

    let res = client
        .post(app.url("/api/register"))
        .json(&json!({ "form": { "email": address, "password": PASSWORD, "display_name": "Browser User" } }))
        .send()
        .await
        .expect("register");
    let cookies = set_cookies(&res);
    let user = expect_status(res, StatusCode::OK).await;
    assert_eq!(user["email"], address.as_str());
    for name in ["bp_at", "bp_rt"] {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} set: {cookies:?}"));
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
    }
    let refresh_cookie = cookie_value(&cookies, "bp_rt").expect("refresh cookie");

    // The server fn for the current user is `get_current_user` at endpoint `current_user`.
    let res = client
        .post(app.url("/api/current_user"))
        .json(&json!({}))
        .send()
        .await
        .expect("current user");
    let me = expect_status(res, StatusCode::OK).await;
    assert_eq!(me["email"], address.as_str());
    assert_eq!(me["display_name"], "Browser User");

    // Cookies also work for server fns that need a scope.
    let res =
        client.post(app.url("/api/list_api_tokens")).json(&json!({})).send().await.expect("tokens");
    assert_eq!(expect_status(res, StatusCode::OK).await, json!([]));

    let res =
        client.post(app.url("/api/sign_out")).json(&json!({})).send().await.expect("sign out");
    let cleared = set_cookies(&res);
    expect_status(res, StatusCode::OK).await;
    assert!(
        cleared.iter().any(|c| c.starts_with("bp_at=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(
        cleared.iter().any(|c| c.starts_with("bp_rt=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );

    let res = client
        .post(app.url("/api/current_user"))
        .json(&json!({}))
        .send()
        .await
        .expect("current user");
    assert_eq!(expect_status(res, StatusCode::OK).await, Value::Null);

    // The old refresh cookie was revoked on the server, not just forgotten by the client.
    let res = app
        .api
        .post(app.url("/api/current_user"))
        .header("cookie", format!("bp_rt={refresh_cookie}"))
        .json(&json!({}))
        .send()
        .await
        .expect("replay");
    assert_eq!(expect_status(res, StatusCode::OK).await, Value::Null);
}

#[tokio::test]
async fn sign_in_server_fn_and_wrong_password() {
    let app = spawn_app().await;
    let address = email("signin");
    app.register(&address).await;
    let client = browser();
    let res = client
        .post(app.url("/api/sign_in"))
        .json(&json!({ "form": { "email": address, "password": "wrong password" } }))
        .send()
        .await
        .expect("sign in");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookies(&res).is_empty());

    let res = client
        .post(app.url("/api/sign_in"))
        .json(&json!({ "form": { "email": address, "password": PASSWORD } }))
        .send()
        .await
        .expect("sign in");
    expect_status(res, StatusCode::OK).await;
    let res = client
        .post(app.url("/api/current_user"))
        .json(&json!({}))
        .send()
        .await
        .expect("current user");
    assert_eq!(expect_status(res, StatusCode::OK).await["email"], address.as_str());
}

#[tokio::test]
async fn expired_access_cookie_is_refreshed_silently() {
    let app = spawn_app().await;
    let client = browser();
    let address = email("silent");
    let res = client
        .post(app.url("/api/register"))
        .json(&json!({ "form": { "email": address, "password": PASSWORD, "display_name": "Silent" } }))
        .send()
        .await
        .expect("register");
    let cookies = set_cookies(&res);
    expect_status(res, StatusCode::OK).await;
    let refresh = cookie_value(&cookies, "bp_rt").expect("refresh cookie");

    // Only the refresh cookie (the access cookie has expired and gone): the session continues
    // and new cookies are set.
    let res = app
        .api
        .post(app.url("/api/current_user"))
        .header("cookie", format!("bp_rt={refresh}"))
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    let renewed = set_cookies(&res);
    assert_eq!(expect_status(res, StatusCode::OK).await["email"], address.as_str());
    let new_refresh = cookie_value(&renewed, "bp_rt").expect("rotated refresh cookie");
    assert_ne!(new_refresh, refresh);
    assert!(cookie_value(&renewed, "bp_at").is_some_and(|v| !v.is_empty()));
}

#[tokio::test]
async fn cross_site_post_with_cookies_is_403() {
    let app = spawn_app().await;
    let client = browser();
    let res = client
        .post(app.url("/api/register"))
        .json(&json!({ "form": { "email": email("csrf"), "password": PASSWORD, "display_name": "Csrf" } }))
        .send()
        .await
        .expect("register");
    expect_status(res, StatusCode::OK).await;
    let before = app.state.store.list_api_tokens(1).await.expect("tokens").len();

    let res = client
        .post(app.url("/api/create_api_token"))
        .header("origin", "http://evil.example")
        .json(&json!({ "form": { "name": "stolen", "expires_in_days": 30 } }))
        .send()
        .await
        .expect("cross-site");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client
        .post(app.url("/api/sign_out"))
        .header("origin", "http://evil.example")
        .json(&json!({}))
        .send()
        .await
        .expect("cross-site");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.state.store.list_api_tokens(1).await.expect("tokens").len(),
        before,
        "nothing was created"
    );

    // The same request from our own origin is fine, and the session survived.
    let res = client
        .post(app.url("/api/create_api_token"))
        .header("origin", app.address.clone())
        .json(&json!({ "form": { "name": "mine", "expires_in_days": 30 } }))
        .send()
        .await
        .expect("same-site");
    expect_status(res, StatusCode::OK).await;
    let res = client
        .post(app.url("/api/current_user"))
        .json(&json!({}))
        .send()
        .await
        .expect("current user");
    assert!(expect_status(res, StatusCode::OK).await.is_object());
}

/// The language: a Russian browser's account is Russian; signing in elsewhere brings the choice
/// along (the `bp_lang` cookie); the switch stores a new choice; pages render in it on the server.
#[tokio::test]
async fn the_accounts_language_follows_it_to_another_browser() {
    let app = spawn_app().await;
    let address = email("lang");
    let russian = browser();
    let res = russian
        .post(app.url("/api/register"))
        .header("accept-language", "ru-RU,ru;q=0.9,en;q=0.5")
        .json(
            &json!({ "form": { "email": address, "password": PASSWORD, "display_name": "Иван" } }),
        )
        .send()
        .await
        .expect("register");
    let cookies = set_cookies(&res);
    expect_status(res, StatusCode::OK).await;
    assert_eq!(cookie_value(&cookies, "bp_lang").as_deref(), Some("ru"), "{cookies:?}");
    let lang_cookie = cookies.iter().find(|c| c.starts_with("bp_lang=")).expect("bp_lang");
    assert!(
        !lang_cookie.contains("HttpOnly"),
        "the switch must be able to write it: {lang_cookie}"
    );

    // Another browser that prefers English signs in and gets the account's Russian.
    let other = browser();
    let res = other
        .post(app.url("/api/sign_in"))
        .header("accept-language", "en-US")
        .json(&json!({ "form": { "email": address, "password": PASSWORD } }))
        .send()
        .await
        .expect("sign in");
    let cookies = set_cookies(&res);
    expect_status(res, StatusCode::OK).await;
    assert_eq!(cookie_value(&cookies, "bp_lang").as_deref(), Some("ru"), "{cookies:?}");
    let page = other.get(app.url("/")).send().await.expect("page").text().await.expect("html");
    assert!(page.contains(r#"lang="ru""#), "{}", &page[..page.len().min(400)]);
    assert!(page.contains("Здравствуйте, Иван"), "the dashboard is Russian");

    // A browser whose language cookie is gone (cleared, expired) but whose session is not:
    // the server renders the account's language, not the browser's English.
    let session: Vec<String> = cookies
        .iter()
        .filter_map(|c| c.split(';').next())
        .filter(|c| !c.starts_with("bp_lang="))
        .map(str::to_string)
        .collect();
    let page = reqwest::Client::new()
        .get(app.url("/"))
        .header("cookie", session.join("; "))
        .header("accept-language", "en-US,en;q=0.9")
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(r#"lang="ru""#), "{}", &page[..page.len().min(400)]);
    assert!(page.contains("Здравствуйте, Иван"), "the account's Russian without the cookie");

    // The switch (its cookie is the browser's own): English from now on, on the account too.
    let res = other
        .post(app.url("/api/set_language"))
        .json(&json!({ "lang": "en" }))
        .send()
        .await
        .expect("switch");
    expect_status(res, StatusCode::OK).await;
    let third = browser();
    let res = third
        .post(app.url("/api/sign_in"))
        .header("accept-language", "ru")
        .json(&json!({ "form": { "email": address, "password": PASSWORD } }))
        .send()
        .await
        .expect("sign in");
    let cookies = set_cookies(&res);
    assert_eq!(cookie_value(&cookies, "bp_lang").as_deref(), Some("en"), "preference beats header");
    expect_status(res, StatusCode::OK).await;

    let res = other
        .post(app.url("/api/set_language"))
        .json(&json!({ "lang": "de" }))
        .send()
        .await
        .expect("switch");
    let body = expect_status(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "lang", "{body}");

    // A visitor's sign-in page follows Accept-Language, and says so in <html lang>.
    let page = browser()
        .get(app.url("/signin"))
        .header("accept-language", "ru;q=0.9, en;q=0.8")
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(r#"lang="ru""#) && page.contains("Вход в Blueprint"), "Russian sign-in");
    let page =
        browser().get(app.url("/signin")).send().await.expect("page").text().await.expect("html");
    assert!(
        page.contains(r#"lang="en""#) && page.contains("Sign in to Blueprint"),
        "English default"
    );
}

/// A visitor asking for a page that needs an account is sent to sign in by the server (no page
/// shell, no script needed), with the way back; the sign-in and registration pages are not.
#[tokio::test]
async fn a_visitor_is_redirected_to_sign_in_by_the_server() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (path, next) in [
        ("/", "/"),
        ("/settings", "/settings"),
        ("/search?q=deploy%20runbook", "/search%3Fq%3Ddeploy%2520runbook"),
    ] {
        let res = client.get(app.url(path)).send().await.expect("page");
        assert!(res.status().is_redirection(), "{path}: {}", res.status());
        let location = res.headers().get("location").and_then(|v| v.to_str().ok());
        assert_eq!(location, Some(format!("/signin?next={next}").as_str()), "{path}");
    }
    for path in ["/signin", "/register"] {
        let res = client.get(app.url(path)).send().await.expect("page");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
}
