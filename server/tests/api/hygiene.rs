//! Bad input is refused with the right status and a precise error, and writes nothing.

use crate::helpers::{PASSWORD, email, expect_error, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400_and_writes_nothing() {
    let app = spawn_app().await;
    let before = app.user_count().await;
    let res = app
        .api
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(r#"{"email": "x@example.com", "password": "#)
        .send()
        .await
        .expect("request");
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn body_without_json_content_type_is_400() {
    let app = spawn_app().await;
    let body =
        json!({ "email": email("ct"), "password": PASSWORD, "display_name": "X" }).to_string();
    let res =
        app.api.post(app.url("/api/v1/auth/register")).body(body).send().await.expect("request");
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn missing_field_is_422_naming_the_field() {
    let app = spawn_app().await;
    let before = app.user_count().await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "password": PASSWORD, "display_name": "No Mail" }),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "email");
    assert_eq!(err["errors"][0]["rule"], "required");
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn wrong_field_type_is_400() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "email": 42, "password": PASSWORD, "display_name": "X" }),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn short_password_is_422_naming_password_min_length() {
    let app = spawn_app().await;
    let before = app.user_count().await;
    let res = app.register_raw(&email("short"), "short").await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let errors = err["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "only the password is wrong: {err}");
    assert_eq!(errors[0]["field"], "password");
    assert_eq!(errors[0]["rule"], "min_length");
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn every_broken_field_is_reported() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "email": "not-an-email", "password": "1", "display_name": "  " }),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let fields: Vec<&str> = err["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "password", "display_name"]);
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn oversized_body_is_413_and_writes_nothing() {
    let app = spawn_app_with(|s| s.server.body_limit_bytes = 4096).await;
    let before = app.user_count().await;
    let huge = "x".repeat(8 * 1024);
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "email": email("big"), "password": PASSWORD, "display_name": huge }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The same through a server fn.
    let res = app
        .post_json("/api/register", &json!({ "form": { "email": email("big"), "password": PASSWORD, "display_name": huge } }))
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.user_count().await, before);
    // A body under the limit still works.
    app.register(&email("small")).await;
    assert_eq!(app.user_count().await, before + 1);
}

#[tokio::test]
async fn oversized_chunked_body_is_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|s| s.server.body_limit_bytes = 4096).await;
    let huge = json!({ "email": email("big"), "password": PASSWORD, "display_name": "x".repeat(8 * 1024) }).to_string();
    // A chunked body has no Content-Length, so the limit must be enforced while reading.
    let mut request = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.port
    );
    for chunk in huge.as_bytes().chunks(1024) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).expect("ascii")
        ));
    }
    request.push_str("0\r\n\r\n");
    let mut stream =
        tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.expect("connect");
    // The server may answer and close before reading everything; that is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "answer: {answer}");
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn server_fn_bad_input_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    // Malformed JSON.
    let res = app
        .api
        .post(app.url("/api/register"))
        .header("content-type", "application/json")
        .body(r#"{"form": {"#)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Short password.
    let res = app
        .post_json(
            "/api/register",
            &json!({ "form": { "email": email("sf"), "password": "short", "display_name": "X" } }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.user_count().await, 0);
}
