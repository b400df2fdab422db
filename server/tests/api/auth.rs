//! Registration, sign-in, refresh rotation and sign-out over the REST API. The main flow runs
//! on SQLite and on PostgreSQL (`auth::sqlite::…`, `auth::postgres::…`).

use crate::helpers::{PASSWORD, TestApp, email, expect_error, expect_status, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;
use server::config::Settings;

/// Refresh reuse is detected at once (no grace period) in these tests.
fn no_grace(s: &mut Settings) {
    s.auth.refresh_reuse_grace_secs = 0;
}

/// The application with no grace period for reusing a rotated refresh token.
pub(crate) struct NoGrace(TestApp);

impl crate::common::Fixture for NoGrace {
    async fn set_up(db: crate::common::TestDb) -> (Self, Option<crate::common::TestDb>) {
        (NoGrace(crate::helpers::spawn_on(db, no_grace).await), None)
    }
}

pub(crate) async fn register_gives_201_token_pair_and_first_user_is_admin(
    NoGrace(ref app): NoGrace,
) {
    let first = email("first");
    let admin = app.register(&first).await;
    let me = expect_status(app.me(&admin.access).await, StatusCode::OK).await;
    assert_eq!(me["email"], first.as_str());
    assert_eq!(me["display_name"], "Test User");
    assert_eq!(me["scopes"], json!(["basic", "search", "generate", "admin"]));

    let member = app.register(&email("second")).await;
    let me = expect_status(app.me(&member.access).await, StatusCode::OK).await;
    assert_eq!(
        me["scopes"],
        json!(["basic", "search", "generate"]),
        "the second user is not admin"
    );
    assert_eq!(app.user_count().await, 2);
}

pub(crate) async fn duplicate_registration_is_409(NoGrace(ref app): NoGrace) {
    let address = email("dup");
    app.register(&address).await;
    // Same address in other case and with spaces: still the same account.
    let res = app.register_raw(&format!("  {}", address.to_uppercase()), PASSWORD).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(app.user_count().await, 1);
}

pub(crate) async fn login_gives_token_pair_and_wrong_password_is_401(NoGrace(ref app): NoGrace) {
    let address = email("login");
    app.register(&address).await;
    let tokens = app.login(&address).await;
    expect_status(app.me(&tokens.access).await, StatusCode::OK).await;
    let user = app.state.store.get_user_by_email(&address).await.expect("user");
    assert!(user.user.last_login_at.is_some(), "sign-in is recorded");

    let res = app.login_raw(&address, "not the password at all").await;
    assert_eq!(res.headers().get("www-authenticate").map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
    let err = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));

    // An unknown account gets the same answer as a wrong password.
    let res = app.login_raw(&email("nobody"), PASSWORD).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

pub(crate) async fn me_returns_caller_for_bearer_token(NoGrace(ref app): NoGrace) {
    let address = email("me");
    let tokens = app.register(&address).await;
    let me = expect_status(app.me(&tokens.access).await, StatusCode::OK).await;
    let stored = app.state.store.get_user_by_email(&address).await.expect("user");
    assert_eq!(me["id"], stored.user.id);
    assert_eq!(me["email"], address.as_str());
    assert!(me.get("password_hash").is_none());
    // Without credentials: 401.
    let res = app.api.get(app.url("/api/v1/me")).send().await.expect("request");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

pub(crate) async fn refresh_rotates_and_reuse_revokes_whole_family(NoGrace(ref app): NoGrace) {
    let address = email("refresh");
    let first = app.register(&address).await;
    let other_sign_in = app.login(&address).await;
    let second = app.refresh(&first.refresh).await;
    assert_ne!(second.refresh, first.refresh, "refresh rotates the refresh token");
    assert_ne!(second.access, first.access);
    expect_status(app.me(&second.access).await, StatusCode::OK).await;

    // The newer token works once more (and rotates again) ...
    let third = app.refresh(&second.refresh).await;
    // ... then the old one shows up again, later: treated as stolen.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let res = app.refresh_raw(&first.refresh).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The whole family is gone, the newest token included.
    let res = app.refresh_raw(&third.refresh).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.refresh_raw(&second.refresh).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Another sign-in (another family) is not affected.
    app.refresh(&other_sign_in.refresh).await;

    // A token that never existed is refused the same way.
    let garbage = app.refresh_raw("bp_rt_not-a-real-token").await;
    expect_error(garbage, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

pub(crate) async fn logout_revokes_the_session(NoGrace(ref app): NoGrace) {
    let address = email("logout");
    let tokens = app.register(&address).await;
    let other_session = app.login(&address).await;

    let res =
        app.post_json("/api/v1/auth/logout", &json!({ "refresh_token": tokens.refresh })).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.refresh_raw(&tokens.refresh).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Signing out with the bearer token alone revokes that token's session.
    let res = app.post_bearer("/api/v1/auth/logout", &other_session.access, &json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.refresh_raw(&other_session.refresh).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Without any credential: 401.
    let res = app.post_json("/api/v1/auth/logout", &json!({})).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_account() {
    let app = spawn_app_with(|s| s.auth.login_max_failures = 3).await;
    let address = email("limited");
    app.register(&address).await;
    for attempt in 1..=3 {
        let res = app.login_raw(&address, "wrong password!").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let res = app.login_raw(&address, "wrong password!").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=900).contains(&retry_after), "Retry-After {retry_after}");
    let err = expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(err["retry_after_secs"].as_i64().is_some_and(|s| s >= 1));

    // Even the right password is refused from the client that kept guessing ...
    expect_error(
        app.login_raw(&address, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // ... but other accounts can still sign in.
    let other = email("unaffected");
    app.register(&other).await;
    app.login(&other).await;
}

#[tokio::test]
async fn registration_can_be_closed_except_for_first_user() {
    let app = spawn_app_with(|s| s.auth.allow_registration = false).await;
    app.register(&email("first")).await;
    let res = app.register_raw(&email("second"), PASSWORD).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.user_count().await, 1);
}
