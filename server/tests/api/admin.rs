//! Scope checks on every protected route, and admin changes that take effect at once.

use crate::helpers::{TestApp, email, expect_error, expect_status, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every admin-only endpoint: (method, path, JSON body).
fn admin_routes(target: i64) -> Vec<(Method, String, Value)> {
    vec![
        (Method::GET, "/api/v1/admin/users".into(), Value::Null),
        (Method::PATCH, format!("/api/v1/admin/users/{target}"), json!({ "scopes": ["basic"] })),
        (Method::PATCH, format!("/api/v1/admin/users/{target}"), json!({ "active": false })),
        (Method::GET, "/api/v1/admin/audit".into(), Value::Null),
        (Method::POST, "/api/list_users".into(), json!({ "query": "", "limit": 20, "offset": 0 })),
        (
            Method::POST,
            "/api/set_user_scopes".into(),
            json!({ "user_id": target, "scopes": ["basic"] }),
        ),
        (
            Method::POST,
            "/api/set_user_active".into(),
            json!({ "user_id": target, "active": false }),
        ),
        (Method::POST, "/api/list_audit".into(), json!({ "limit": 20, "offset": 0 })),
    ]
}

/// Endpoints that need any signed-in user.
fn user_routes() -> Vec<(Method, String, Value)> {
    vec![
        (Method::GET, "/api/v1/me".into(), Value::Null),
        (Method::GET, "/api/v1/tokens".into(), Value::Null),
        (Method::POST, "/api/v1/tokens".into(), json!({ "name": "x", "expires_in_days": 30 })),
        (Method::DELETE, "/api/v1/tokens/1".into(), Value::Null),
        (Method::POST, "/api/list_api_tokens".into(), json!({})),
        (
            Method::POST,
            "/api/create_api_token".into(),
            json!({ "form": { "name": "x", "expires_in_days": 30 } }),
        ),
        (Method::POST, "/api/revoke_api_token".into(), json!({ "id": 1 })),
    ]
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: &Value,
    bearer: Option<&str>,
) -> reqwest::Response {
    let mut req = app.api.request(method.clone(), app.url(path));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if !body.is_null() {
        req = req.json(body);
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn non_admin_gets_403_on_every_admin_route_and_server_fn() {
    let app = spawn_app().await;
    let (admin, member) = app.admin_and_member().await;
    let admin_id = app.user_id(&admin.access).await;
    for (method, path, body) in admin_routes(admin_id) {
        let res = call(&app, &method, &path, &body, Some(&member.access)).await;
        let status = res.status();
        let text = res.text().await.expect("body");
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {text}");
        assert!(text.contains("forbidden"), "{method} {path}: {text}");
    }
    // Nothing changed and nothing was audited.
    let admin_row = app.state.store.get_user(admin_id).await.expect("admin");
    assert!(admin_row.user.active);
    assert!(admin_row.user.scopes.contains(model::Scope::Admin));
    assert_eq!(app.state.store.list_audit(10, 0).await.expect("audit").1, 0);
}

#[tokio::test]
async fn anonymous_gets_401_on_every_protected_route_and_server_fn() {
    let app = spawn_app().await;
    let (admin, _) = app.admin_and_member().await;
    let admin_id = app.user_id(&admin.access).await;
    for (method, path, body) in admin_routes(admin_id).into_iter().chain(user_routes()) {
        let res = call(&app, &method, &path, &body, None).await;
        let status = res.status();
        let text = res.text().await.expect("body");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {text}");
        assert!(text.contains("unauthorized"), "{method} {path}: {text}");
    }
    // A rejected bearer token is a 401 too, not an anonymous success or a 403.
    for (method, path, body) in admin_routes(admin_id).into_iter().chain(user_routes()) {
        let res = call(&app, &method, &path, &body, Some("not-a-token")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    assert_eq!(app.state.store.list_audit(10, 0).await.expect("audit").1, 0);
}

#[tokio::test]
async fn admin_server_fns_work_for_admin() {
    let app = spawn_app().await;
    let (admin, member) = app.admin_and_member().await;
    let member_id = app.user_id(&member.access).await;
    let res = app
        .post_bearer(
            "/api/list_users",
            &admin.access,
            &json!({ "query": "member", "limit": 20, "offset": 0 }),
        )
        .await;
    let page = expect_status(res, StatusCode::OK).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], member_id);

    let res = app
        .post_bearer(
            "/api/set_user_scopes",
            &admin.access,
            &json!({ "user_id": member_id, "scopes": ["basic"] }),
        )
        .await;
    assert_eq!(expect_status(res, StatusCode::OK).await["scopes"], json!(["basic"]));
    let res = app
        .post_bearer("/api/list_audit", &admin.access, &json!({ "limit": 20, "offset": 0 }))
        .await;
    let audit = expect_status(res, StatusCode::OK).await;
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["items"][0]["action"], "user.scopes_changed");

    // Bad paging is a 422 naming the field.
    let res = app
        .post_bearer(
            "/api/list_users",
            &admin.access,
            &json!({ "query": "", "limit": 0, "offset": 0 }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn scope_change_is_audited_and_applies_at_once() {
    let app = spawn_app().await;
    let (admin, member) = app.admin_and_member().await;
    let admin_id = app.user_id(&admin.access).await;
    let member_id = app.user_id(&member.access).await;

    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{member_id}"),
            &admin.access,
            &json!({ "scopes": ["basic", "search"] }),
        )
        .await;
    let updated = expect_status(res, StatusCode::OK).await;
    assert_eq!(updated["scopes"], json!(["basic", "search"]));

    // The member's existing access token loses the removed scope on its next request.
    let me = expect_status(app.me(&member.access).await, StatusCode::OK).await;
    assert_eq!(me["scopes"], json!(["basic", "search"]));

    let audit =
        expect_status(app.get_bearer("/api/v1/admin/audit", &admin.access).await, StatusCode::OK)
            .await;
    assert_eq!(audit["total"], 1);
    let entry = &audit["items"][0];
    assert_eq!(entry["action"], "user.scopes_changed");
    assert_eq!(entry["target"], format!("user:{member_id}"));
    assert_eq!(entry["actor_id"], admin_id);
    let detail: Value =
        serde_json::from_str(entry["detail"].as_str().expect("detail")).expect("json detail");
    assert_eq!(detail, json!({ "from": "basic,search,generate", "to": "basic,search" }));

    // Unknown scope names and unknown users are refused, and not audited.
    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{member_id}"),
            &admin.access,
            &json!({ "scopes": ["root"] }),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let res = app
        .patch_bearer("/api/v1/admin/users/99999", &admin.access, &json!({ "scopes": ["basic"] }))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // An admin cannot remove their own admin scope or deactivate themselves.
    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{admin_id}"),
            &admin.access,
            &json!({ "scopes": ["basic"] }),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{admin_id}"),
            &admin.access,
            &json!({ "active": false }),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    // Unknown fields are refused.
    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{member_id}"),
            &admin.access,
            &json!({ "role": "admin" }),
        )
        .await;
    assert!(res.status().is_client_error());
    assert_eq!(app.state.store.list_audit(10, 0).await.expect("audit").1, 1);
}

#[tokio::test]
async fn admin_user_list_searches_and_paginates() {
    let app = spawn_app().await;
    let (admin, _) = app.admin_and_member().await;
    for i in 0..5 {
        app.register(&format!("paged{i}-{}@example.com", uuid::Uuid::new_v4().simple())).await;
    }
    let page = expect_status(
        app.get_bearer("/api/v1/admin/users?query=PAGED&limit=2&offset=0", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let page = expect_status(
        app.get_bearer("/api/v1/admin/users?query=paged&limit=2&offset=4", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let res = app.get_bearer("/api/v1/admin/users?limit=1000", &admin.access).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

#[tokio::test]
async fn deactivated_user_loses_every_credential_at_once() {
    let app = spawn_app().await;
    let admin = app.register(&email("admin")).await;
    let address = email("leaver");
    let member = app.register(&address).await;
    let member_id = app.user_id(&member.access).await;
    let (_, api_token) = app.create_api_token(&member.access, &["basic"]).await;
    // Warm every cache first, so the test shows invalidation rather than a cold read.
    expect_status(app.me(&member.access).await, StatusCode::OK).await;
    expect_status(app.me(&api_token).await, StatusCode::OK).await;

    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{member_id}"),
            &admin.access,
            &json!({ "active": false }),
        )
        .await;
    assert_eq!(expect_status(res, StatusCode::OK).await["active"], false);

    expect_error(app.me(&member.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(app.me(&api_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(app.refresh_raw(&member.refresh).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    // Signing in answers like a wrong password: whether the password was right is not told
    // (`security::a_deactivated_account_answers_like_a_wrong_password`).
    expect_error(
        app.login_raw(&address, crate::helpers::PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let audit =
        expect_status(app.get_bearer("/api/v1/admin/audit", &admin.access).await, StatusCode::OK)
            .await;
    assert_eq!(audit["items"][0]["action"], "user.deactivated");

    // Reactivated: can sign in again; the old sessions stay revoked.
    let res = app
        .patch_bearer(
            &format!("/api/v1/admin/users/{member_id}"),
            &admin.access,
            &json!({ "active": true }),
        )
        .await;
    expect_status(res, StatusCode::OK).await;
    expect_error(app.refresh_raw(&member.refresh).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    let again = app.login(&address).await;
    expect_status(app.me(&again.access).await, StatusCode::OK).await;
    // The API token was never revoked, so it works again with the account.
    expect_status(app.me(&api_token).await, StatusCode::OK).await;
}
