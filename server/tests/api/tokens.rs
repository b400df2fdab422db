//! Access tokens that must be refused, and personal API tokens end to end.

use crate::helpers::{TestApp, email, expect_error, expect_status, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;

/// The signing key the running app uses (generated at start and kept in the store).
async fn signing_key(app: &TestApp) -> String {
    app.state
        .store
        .get_or_init_secret("jwt_signing_key", "x", chrono::Utc::now())
        .await
        .expect("signing key")
}

fn claims(user_id: i64, iat: i64, exp: i64) -> serde_json::Value {
    json!({
        "sub": user_id.to_string(),
        "iss": "blueprint",
        "iat": iat,
        "exp": exp,
        "jti": uuid::Uuid::new_v4().to_string(),
        "scp": "basic,search,generate,admin",
        "fam": "forged",
    })
}

async fn me_is_401(app: &TestApp, token: &str) {
    expect_error(app.me(token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn crafted_token_with_real_key_is_accepted_so_the_key_is_right() {
    // Control for the tests below: a token signed with the real key and a valid exp works.
    let app = spawn_app().await;
    let user = app.register(&email("ctl")).await;
    let id = app.user_id(&user.access).await;
    let now = chrono::Utc::now().timestamp();
    let key = signing_key(&app).await;
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(id, now, now + 300),
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("encode");
    expect_status(app.me(&token).await, StatusCode::OK).await;
}

#[tokio::test]
async fn expired_access_token_is_401() {
    let app = spawn_app().await;
    let user = app.register(&email("exp")).await;
    let id = app.user_id(&user.access).await;
    let now = chrono::Utc::now().timestamp();
    let key = signing_key(&app).await;
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(id, now - 3600, now - 600),
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("encode");
    let err = expect_error(app.me(&token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(err["message"].as_str().is_some_and(|m| m.contains("expired")), "{err}");
}

#[tokio::test]
async fn tampered_access_token_is_401() {
    let app = spawn_app().await;
    let user = app.register(&email("tamper")).await;
    let (head_and_claims, signature) = user.access.rsplit_once('.').expect("three parts");
    let mut sig: Vec<char> = signature.chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{head_and_claims}.{}", sig.into_iter().collect::<String>());
    me_is_401(&app, &tampered).await;

    // Changing the claims (granting admin to the second user) breaks the signature as well.
    let member = app.register(&email("member")).await;
    let parts: Vec<&str> = member.access.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    payload["scp"] = json!("basic,search,generate,admin");
    let forged =
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload.to_string()), parts[2]);
    me_is_401(&app, &forged).await;
    // The genuine token still works.
    expect_status(app.me(&user.access).await, StatusCode::OK).await;
}

#[tokio::test]
async fn alg_none_token_is_401() {
    let app = spawn_app().await;
    let user = app.register(&email("none")).await;
    let id = app.user_id(&user.access).await;
    let now = chrono::Utc::now().timestamp();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(id, now, now + 600).to_string());
    me_is_401(&app, &format!("{header}.{payload}.")).await;
    me_is_401(&app, &format!("{header}.{payload}")).await;
}

#[tokio::test]
async fn token_signed_with_another_key_or_algorithm_is_401() {
    let app = spawn_app().await;
    let user = app.register(&email("otherkey")).await;
    let id = app.user_id(&user.access).await;
    let now = chrono::Utc::now().timestamp();
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(id, now, now + 600),
        &EncodingKey::from_secret(b"some-other-secret-some-other-secret"),
    )
    .expect("encode");
    me_is_401(&app, &token).await;
    let key = signing_key(&app).await;
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims(id, now, now + 600),
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("encode");
    me_is_401(&app, &hs512).await;
}

#[tokio::test]
async fn garbage_credentials_are_401() {
    let app = spawn_app().await;
    app.register(&email("garbage")).await;
    for token in ["garbage", "a.b.c", "bp_pat_garbage", "", "eyJhbGciOiJIUzI1NiJ9..."] {
        me_is_401(&app, token).await;
    }
    // Not the Bearer scheme at all.
    let res = app
        .api
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .expect("req");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn personal_api_token_lifecycle() {
    let app = spawn_app().await;
    let address = email("pat");
    let user = app.register(&address).await;

    let res = app
        .post_bearer(
            "/api/v1/tokens",
            &user.access,
            &json!({ "name": "ci", "expires_in_days": 30, "scopes": ["basic"] }),
        )
        .await;
    let created = expect_status(res, StatusCode::CREATED).await;
    let secret = created["token"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("bp_pat_"), "{secret}");
    assert_eq!(created["info"]["name"], "ci");
    assert_eq!(created["info"]["scopes"], json!(["basic"]));
    let id = created["info"]["id"].as_i64().expect("id");

    // The token authenticates as its owner, with its own scopes.
    let me = expect_status(app.me(&secret).await, StatusCode::OK).await;
    assert_eq!(me["email"], address.as_str());
    assert_eq!(me["scopes"], json!(["basic"]));

    // Listed, without the secret.
    let res = app.get_bearer("/api/v1/tokens", &user.access).await;
    let text = res.text().await.expect("body");
    assert!(!text.contains(&secret), "the secret is shown once only");
    let list: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], id);
    assert!(list[0].get("token").is_none());
    assert!(list[0]["last_used_at"].is_string(), "use is recorded: {list}");
    assert!(list[0]["revoked_at"].is_null());
    // Only the hash is stored.
    let stored =
        app.state.store.list_api_tokens(me["id"].as_i64().expect("id")).await.expect("list");
    assert_eq!(stored.len(), 1);

    // Someone else cannot revoke it.
    let other = app.register(&email("other")).await;
    let res = app
        .api
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&other.access)
        .send()
        .await
        .expect("req");
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    expect_status(app.me(&secret).await, StatusCode::OK).await;

    // Its owner can, and it stops working at once.
    let res = app
        .api
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    me_is_401(&app, &secret).await;
    let list =
        expect_status(app.get_bearer("/api/v1/tokens", &user.access).await, StatusCode::OK).await;
    assert!(list[0]["revoked_at"].is_string());
}

#[tokio::test]
async fn api_token_cannot_exceed_owner_scopes() {
    let app = spawn_app().await;
    let (_admin, member) = app.admin_and_member().await;
    let res = app
        .post_bearer(
            "/api/v1/tokens",
            &member.access,
            &json!({ "name": "x", "expires_in_days": 30, "scopes": ["admin"] }),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "scopes");
    assert_eq!(err["errors"][0]["rule"], "subset");
    let res = app
        .post_bearer(
            "/api/v1/tokens",
            &member.access,
            &json!({ "name": "", "expires_in_days": 0, "scopes": ["root"] }),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"].as_array().map(Vec::len), Some(3), "{err}");
}

#[tokio::test]
async fn basic_only_api_token_is_403_on_admin_routes_even_for_admin() {
    let app = spawn_app().await;
    let (admin, member) = app.admin_and_member().await;
    let member_id = app.user_id(&member.access).await;
    let (_, basic) = app.create_api_token(&admin.access, &["basic"]).await;
    // The admin's own access token may do it ...
    expect_status(app.get_bearer("/api/v1/admin/users", &admin.access).await, StatusCode::OK).await;
    // ... the basic-only token may not.
    expect_error(
        app.get_bearer("/api/v1/admin/users", &basic).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get_bearer("/api/v1/admin/audit", &basic).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{member_id}"),
            &basic,
            &json!({ "active": false }),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post_bearer("/api/list_users", &basic, &json!({ "query": "", "limit": 20, "offset": 0 }))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Nothing changed.
    assert!(app.state.store.get_user(member_id).await.expect("member").user.active);
    // A token with every scope works on admin routes.
    let (_, full) = app.create_api_token(&admin.access, &[]).await;
    expect_status(app.get_bearer("/api/v1/admin/users", &full).await, StatusCode::OK).await;
}
