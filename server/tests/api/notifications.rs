//! Budget alerts end to end: calls through `/api/v1/llm/chat` against an OpenAI-compatible
//! mock cross a threshold, and the recipients get a notification (REST and live push) and an
//! e-mail that a real SMTP server (`smtp_sink`) receives, once per threshold and period.
//! Also the REST surface of notifications: paging, read marks, other users' rows, bad input.

use crate::helpers::{TestApp, Tokens, email, expect_error, expect_status, spawn_app_with};
use crate::smtp_sink::SmtpSink;
use crate::ws::{connect, expect_hello, next_frame};
use model::WsFrame;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::{ProviderSettings, Secret, Settings};
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// gpt-4o-mini ($0.15 / $0.60 per M tokens): every call costs 14 × 150 + 100 × 600 = 62,100
/// nano-dollars.
const CALL_NANOS: i64 = 62_100;

async fn provider() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hello!" }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 14, "completion_tokens": 100 }
        })))
        .mount(&server)
        .await;
    server
}

/// The app with the mock provider and e-mail to `sink` (no encryption: a local test server).
/// The default user budget is $0.00046 a day: the sixth call crosses 80 % (81 %), the seventh
/// stays under 95 % (94.5 %) and the eighth is refused.
async fn app_with_mail(
    server: &MockServer,
    sink: &SmtpSink,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let base = format!("{}/v1", server.uri());
    let port = sink.port;
    spawn_app_with(move |s| {
        s.llm.providers.push(ProviderSettings {
            name: "mock".into(),
            kind: domain::llm::ProviderKind::OpenAi,
            base_url: base,
            api_key: Secret(Some("sk-test".to_string().into())),
            timeout_secs: 5,
            max_retries: 0,
            private: None,
            azure: false,
        });
        s.llm.routes.insert(
            "default".into(),
            vec![domain::llm::Target::parse("mock:gpt-4o-mini").unwrap()],
        );
        s.llm.user_budget_usd = 0.00046;
        s.llm.user_budget_period = domain::llm::Period::Daily;
        s.llm.timezone = chrono_tz::Europe::Berlin;
        s.smtp.host = "127.0.0.1".into();
        s.smtp.port = port;
        s.smtp.security = domain::mail::Security::None;
        s.smtp.from = "Blueprint Alerts <blueprint@localhost>".into();
        s.smtp.timeout_secs = 5;
        configure(s);
    })
    .await
}

async fn chat(app: &TestApp, token: &str) -> reqwest::Response {
    let body = json!({ "feature": "console", "max_tokens": 100,
                       "messages": [{ "role": "user", "content": "Say hello." }] });
    app.post_bearer("/api/v1/llm/chat", token, &body).await
}

async fn chat_ok(app: &TestApp, token: &str) {
    let answer = expect_status(chat(app, token).await, StatusCode::OK).await;
    assert_eq!(answer["cost_nanos"], CALL_NANOS);
}

async fn notifications(app: &TestApp, token: &str) -> Value {
    expect_status(app.get_bearer("/api/v1/notifications", token).await, StatusCode::OK).await
}

/// Waits for a `notification` event on the socket, skipping others (the `budget` push).
async fn expect_notification_event(socket: &mut crate::ws::Socket) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match next_frame(socket, left).await {
            Some(WsFrame::Event(e)) if e.topic == "notification" => return e.data,
            Some(_) => {}
            None => break,
        }
    }
    panic!("no notification event arrived");
}

#[tokio::test]
async fn crossing_80_percent_notifies_the_user_in_app_live_and_by_one_email() {
    let server = provider().await;
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&server, &sink, |_| {}).await;
    let address = email("alert");
    let user = app.register(&address).await;
    let uid = app.user_id(&user.access).await;
    let budget = format!("user:{uid}");

    for _ in 0..5 {
        chat_ok(&app, &user.access).await;
    }
    let page = notifications(&app, &user.access).await;
    assert_eq!((page["total"].as_i64(), page["unread"].as_i64()), (Some(0), Some(0)), "67 %");

    let mut socket = connect(app.port, &user.access, None).await;
    expect_hello(&mut socket).await;
    chat_ok(&app, &user.access).await; // 6 × 62,100 = 372,600 of 460,000: 81 %

    // The notification is written while the crossing call settles, before it answers.
    let page = notifications(&app, &user.access).await;
    assert_eq!((page["total"].as_i64(), page["unread"].as_i64()), (Some(1), Some(1)), "{page}");
    let item = page["items"][0].clone();
    assert_eq!(item["kind"], "budget_alert");
    assert_eq!(item["title"], "Your daily LLM budget reached 80 %");
    let body = item["body"].as_str().unwrap();
    assert!(body.contains(&format!("Budget {budget} (daily)")), "{body}");
    assert!(body.contains("$0.000373 spent of $0.000460 (81 %)"), "{body}");
    assert!(body.contains("(Europe/Berlin)"), "{body}");
    assert_eq!((item["link"].as_str(), item["read_at"].is_null()), (Some("/usage"), true));

    let pushed = expect_notification_event(&mut socket).await;
    assert_eq!(
        (pushed["new"]["id"].clone(), pushed["unread"].as_i64()),
        (item["id"].clone(), Some(1))
    );

    // The e-mail goes out from the job queue to the real SMTP server.
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "one e-mail: {mails:?}");
    let mail = &mails[0];
    assert_eq!(
        (mail.from.as_str(), mail.to.clone()),
        ("blueprint@localhost", vec![address.clone()])
    );
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[Blueprint] Your daily LLM budget reached 80 %")
    );
    let from = mail.header("From").unwrap();
    assert!(from.contains("Blueprint Alerts") && from.ends_with("<blueprint@localhost>"), "{from}");
    assert!(mail.body().contains("Hello Test User,"), "{}", mail.data);
    assert!(mail.body().contains(&format!("Budget {budget} (daily)")), "{}", mail.data);
    assert!(mail.body().contains("$0.000460"), "{}", mail.data);

    // Later calls in the same period raise no second alert for the same threshold.
    chat_ok(&app, &user.access).await; // 434,700: 94.5 %, under the next threshold
    expect_error(chat(&app, &user.access).await, StatusCode::PAYMENT_REQUIRED, "budget_exceeded")
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 1, "still one e-mail");
    let page = notifications(&app, &user.access).await;
    assert_eq!((page["total"].as_i64(), page["unread"].as_i64()), (Some(1), Some(1)));

    // Read marks: one, then all (nothing left), and the unread count follows.
    let id = item["id"].as_i64().unwrap();
    let res = app
        .api
        .post(app.url(&format!("/api/v1/notifications/{id}/read")))
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let page = notifications(&app, &user.access).await;
    assert_eq!((page["total"].as_i64(), page["unread"].as_i64()), (Some(1), Some(0)));
    assert!(page["items"][0]["read_at"].is_string(), "{page}");
    let marked = expect_status(
        app.post_bearer("/api/v1/notifications/read-all", &user.access, &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(marked["marked"], 0);
}

#[tokio::test]
async fn the_global_budget_alerts_every_active_admin_and_nobody_else() {
    let server = provider().await;
    let sink = SmtpSink::start().await;
    // $0.00007 for the team: one call (62,100) is 88 %.
    let app = app_with_mail(&server, &sink, |s| {
        s.llm.global_budget_usd = 0.00007;
        s.llm.global_budget_period = domain::llm::Period::Weekly;
    })
    .await;
    let (first_admin, member) = app.admin_and_member().await;
    let second_admin = app.register(&email("admin2")).await;
    let retired_admin = app.register(&email("admin3")).await;
    let retired_id = app.user_id(&retired_admin.access).await;
    for (tokens, active) in [(&second_admin, true), (&retired_admin, false)] {
        let id = app.user_id(&tokens.access).await;
        let path = format!("/api/v1/admin/users/{id}");
        let patch = json!({ "scopes": ["basic", "admin"], "active": active });
        expect_status(app.patch_bearer(&path, &first_admin.access, &patch).await, StatusCode::OK)
            .await;
    }
    let admin_emails = addresses(&app, &[&first_admin, &second_admin]).await;

    chat_ok(&app, &member.access).await;

    for admin in [&first_admin, &second_admin] {
        let page = notifications(&app, &admin.access).await;
        assert_eq!(page["unread"].as_i64(), Some(1), "{page}");
        assert_eq!(page["items"][0]["title"], "The team's weekly LLM budget reached 80 %");
        let body = page["items"][0]["body"].as_str().unwrap();
        assert!(
            body.starts_with("Budget global (weekly) crossed its 80 % alert threshold"),
            "{body}"
        );
    }
    // The member's own budget ($0.00046) is at 13 %: nothing for them; nothing for the
    // deactivated admin either.
    assert_eq!(notifications(&app, &member.access).await["total"].as_i64(), Some(0));
    let retired = app.state.store.list_notifications(retired_id, 10, 0).await.unwrap();
    assert_eq!(retired.total, 0);

    let mails = sink.wait_for(2, Duration::from_secs(10)).await;
    let mut recipients: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    assert_eq!(recipients, admin_emails, "{mails:?}");
    assert!(mails.iter().all(|m| {
        m.header("Subject").as_deref()
            == Some("[Blueprint] The team's weekly LLM budget reached 80 %")
    }));
}

/// The e-mail addresses of these users, sorted.
async fn addresses(app: &TestApp, users: &[&Tokens]) -> Vec<String> {
    let mut out = Vec::new();
    for u in users {
        let me = expect_status(app.me(&u.access).await, StatusCode::OK).await;
        out.push(me["email"].as_str().unwrap().to_string());
    }
    out.sort();
    out
}

#[tokio::test]
async fn notifications_are_private_paged_and_validated() {
    let app = spawn_app_with(|_| {}).await;
    let ann = app.register(&email("ann")).await;
    let bob = app.register(&email("bob")).await;
    let ann_id = app.user_id(&ann.access).await;
    for i in 0..3 {
        app.state
            .store
            .insert_notification(&domain::store::NewNotification {
                user_id: ann_id,
                kind: "test".into(),
                title: format!("note {i}"),
                body: "body".into(),
                link: None,
                created_at: chrono::Utc::now() + chrono::Duration::milliseconds(i),
            })
            .await
            .unwrap();
    }
    let page = expect_status(
        app.get_bearer("/api/v1/notifications?limit=2&offset=0", &ann.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (page["total"].as_i64(), page["unread"].as_i64(), page["limit"].as_i64()),
        (Some(3), Some(3), Some(2))
    );
    assert_eq!(page["items"][0]["title"], "note 2", "newest first");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let ann_note = page["items"][0]["id"].as_i64().unwrap();

    // Bob sees none of them and cannot mark them.
    assert_eq!(notifications(&app, &bob.access).await["total"].as_i64(), Some(0));
    let res = app
        .api
        .post(app.url(&format!("/api/v1/notifications/{ann_note}/read")))
        .bearer_auth(&bob.access)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let marked = expect_status(
        app.post_bearer("/api/v1/notifications/read-all", &bob.access, &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(marked["marked"], 0);
    assert_eq!(notifications(&app, &ann.access).await["unread"].as_i64(), Some(3));

    let marked = expect_status(
        app.post_bearer("/api/v1/notifications/read-all", &ann.access, &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(marked["marked"], 3);

    for (query, field) in [("limit=0", "limit"), ("limit=abc", "limit"), ("offset=-1", "offset")] {
        let err = expect_error(
            app.get_bearer(&format!("/api/v1/notifications?{query}"), &ann.access).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
        assert_eq!(err["errors"][0]["field"], field, "{query}: {err}");
    }
    let res = app.api.get(app.url("/api/v1/notifications")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_bell_and_the_notifications_page_render_on_the_server() {
    let app = spawn_app_with(|_| {}).await;
    let ann = app.register(&email("ann")).await;
    let ann_id = app.user_id(&ann.access).await;
    app.state
        .store
        .insert_notification(&domain::store::NewNotification {
            user_id: ann_id,
            kind: "budget_alert".into(),
            title: "Your daily LLM budget reached 80 %".into(),
            body: "Budget user:1 (daily) crossed its 80 % alert threshold.".into(),
            link: Some("/usage".into()),
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let res = app.get_bearer("/notifications", &ann.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"notification-bell\"") && html.contains("href=\"/notifications\""));
    assert!(html.contains("id=\"unread-badge\""), "the bell shows the unread count: {html}");
    assert!(html.contains("Your daily LLM budget reached 80 %"), "{html}");
    assert!(html.contains("Mark all read") && html.contains("1 unread"), "{html}");
    assert!(!html.contains(" style="), "no inline styles under the page CSP");
}
