//! The gateway over HTTP: `/api/v1/llm/chat` answers (JSON and SSE) priced into the ledger,
//! `/api/v1/budget` shows the band, a call past the budget gets 402 naming it, bad input 422.

use crate::helpers::{TestApp, email, expect_error, expect_status, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;
use server::config::{ProviderSettings, Secret};
use wiremock::matchers::{body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn provider() -> MockServer {
    let server = MockServer::start().await;
    let stream = [
        json!({ "choices": [{ "index": 0, "delta": { "content": "Hi " }, "finish_reason": null }] }).to_string(),
        json!({ "choices": [{ "index": 0, "delta": { "content": "there" }, "finish_reason": "stop" }] }).to_string(),
        json!({ "choices": [], "usage": { "prompt_tokens": 14, "completion_tokens": 100 } }).to_string(),
        "[DONE]".to_string(),
    ]
    .iter()
    .map(|d| format!("data: {d}\n\n"))
    .collect::<String>();
    Mock::given(method("POST"))
        .and(body_partial_json(json!({ "stream": true })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(stream),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hello!" }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 14, "completion_tokens": 100 }
        })))
        .mount(&server)
        .await;
    server
}

/// gpt-4o-mini ($0.15 / $0.60 per M): each call reserves 17 × 150 + 100 × 600 = 62,550
/// nano-dollars (the prompt's `o200k_base` count, 6, plus the chat template, 4 per message and 3
/// for the reply) and costs what the provider counts, 14 × 150 + 100 × 600 = 62,100; a $0.0002
/// budget holds three.
async fn app_with_budget(server: &MockServer) -> TestApp {
    let base = format!("{}/v1", server.uri());
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
        s.llm.user_budget_usd = 0.0002;
        s.llm.user_budget_period = domain::llm::Period::Daily;
        s.llm.timezone = chrono_tz::Europe::Berlin;
    })
    .await
}

fn ask(stream: bool) -> serde_json::Value {
    json!({ "feature": "console", "max_tokens": 100, "stream": stream,
            "messages": [{ "role": "system", "content": "Be brief." }, { "role": "user", "content": "Say hello." }] })
}

#[tokio::test]
async fn chat_is_priced_budgeted_and_refused_with_402_naming_the_budget() {
    let server = provider().await;
    let app = app_with_budget(&server).await;
    let user = app.register(&email("llm")).await;
    let uid = app.user_id(&user.access).await;

    let answer = expect_status(
        app.post_bearer("/api/v1/llm/chat", &user.access, &ask(false)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (answer["text"].as_str(), answer["provider"].as_str(), answer["model"].as_str()),
        (Some("Hello!"), Some("mock"), Some("gpt-4o-mini"))
    );
    assert_eq!(answer["cost_nanos"], 62_100);
    assert_eq!(answer["usage"]["output_tokens"], 100);

    // A streamed call: deltas, usage and done as Server-Sent Events.
    let res = app.post_bearer("/api/v1/llm/chat", &user.access, &ask(true)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let body = res.text().await.unwrap();
    assert!(
        body.contains("event: delta")
            && body.contains("\"text\":\"Hi \"")
            && body.contains("event: done")
            && body.contains("event: cost")
            && body.contains("\"cost_nanos\":62100"),
        "{body}"
    );

    expect_status(
        app.post_bearer("/api/v1/llm/chat", &user.access, &ask(false)).await,
        StatusCode::OK,
    )
    .await;
    let budgets =
        expect_status(app.get_bearer("/api/v1/budget", &user.access).await, StatusCode::OK).await;
    let mine = &budgets
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["budget"] == format!("user:{uid}"))
        .cloned()
        .unwrap();
    // The stream's settlement may land a moment after its last event.
    assert!(mine["spent_nanos"].as_i64().unwrap() >= 2 * 62_100, "{mine}");
    assert_eq!(
        (mine["period"].as_str(), mine["limit_nanos"].as_i64()),
        (Some("daily"), Some(200_000))
    );

    // The fourth call would cross $0.0002.
    let mut refused = None;
    for _ in 0..20 {
        let res = app.post_bearer("/api/v1/llm/chat", &user.access, &ask(false)).await;
        if res.status() == StatusCode::PAYMENT_REQUIRED {
            refused = Some(res.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let err = refused.expect("402 once the budget is used")["error"].clone();
    assert_eq!(err["code"], "budget_exceeded");
    assert_eq!(
        (err["budget"].as_str(), err["period"].as_str()),
        (Some(format!("user:{uid}").as_str()), Some("daily"))
    );
    assert_eq!(err["reservation_nanos"], 62_550);
    assert!(err["resets_at"].is_string());
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("daily budget") && message.contains("Europe/Berlin"), "{message}");
    // The refusal can come while the stream's settlement is still landing (its reservation
    // counts until then): wait for the spend to show all three calls.
    let mut mine = serde_json::Value::Null;
    for _ in 0..100 {
        let budgets =
            expect_status(app.get_bearer("/api/v1/budget", &user.access).await, StatusCode::OK)
                .await;
        mine = budgets
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["budget"] == format!("user:{uid}"))
            .cloned()
            .unwrap();
        if mine["spent_nanos"].as_i64() == Some(3 * 62_100) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        (mine["spent_nanos"].as_i64(), mine["band"].as_str()),
        (Some(3 * 62_100), Some("warning"))
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "refused calls never reach the provider"
    );
}

#[tokio::test]
async fn bad_chat_input_names_the_field() {
    let server = provider().await;
    let app = app_with_budget(&server).await;
    let user = app.register(&email("llm-bad")).await;
    for (body, field) in [
        (json!({ "messages": [] }), "messages"),
        (json!({ "messages": [{ "role": "system", "content": "x" }] }), "messages"),
        (
            json!({ "messages": [{ "role": "user", "content": "x" }], "max_tokens": 0 }),
            "max_tokens",
        ),
        (
            json!({ "feature": "Bad Feature", "messages": [{ "role": "user", "content": "x" }] }),
            "feature",
        ),
        (json!({ "max_tokens": 5 }), "messages"),
    ] {
        let err = expect_error(
            app.post_bearer("/api/v1/llm/chat", &user.access, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
        assert_eq!(err["errors"][0]["field"], field, "{body}");
    }
    let res = app.api.post(app.url("/api/v1/llm/chat")).json(&ask(false)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn usage_is_listed_and_exported_and_an_admin_raises_a_budget_with_a_reason() {
    let server = provider().await;
    let app = app_with_budget(&server).await;
    let (admin, member) = app.admin_and_member().await;
    let uid = app.user_id(&member.access).await;
    for _ in 0..3 {
        expect_status(
            app.post_bearer("/api/v1/llm/chat", &member.access, &ask(false)).await,
            StatusCode::OK,
        )
        .await;
    }
    let refused = app.post_bearer("/api/v1/llm/chat", &member.access, &ask(false)).await;
    assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);

    let page = expect_status(
        app.get_bearer("/api/v1/usage?days=1&limit=2", &member.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (page["total"].as_i64(), page["items"].as_array().map(Vec::len)),
        (Some(3), Some(2))
    );
    assert_eq!(page["items"][0]["model"], "gpt-4o-mini");
    let csv = app.get_bearer("/api/v1/usage/export?format=csv", &member.access).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("blueprint-usage.csv"));
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,at,feature,provider,model"));
    assert_eq!(lines.len(), 4);
    assert!(lines[1].contains(",console,mock,gpt-4o-mini,14,100,0,0.000062100,"), "{}", lines[1]);
    let json: serde_json::Value = app
        .get_bearer("/api/v1/usage/export?format=json", &member.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(3));
    let err = expect_error(
        app.get_bearer("/api/v1/usage/export?format=xml", &member.access).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(err["errors"][0]["field"], "format");

    // Only admins change budgets, and only with a reason.
    let raise = json!({ "limit_usd": 1.0, "period": "daily", "reason": "release week" });
    let path = format!("/api/v1/admin/budgets/users/{uid}");
    let res =
        app.api.put(app.url(&path)).bearer_auth(&member.access).json(&raise).send().await.unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .api
        .put(app.url(&path))
        .bearer_auth(&admin.access)
        .json(&json!({ "limit_usd": 1.0, "period": "daily", "reason": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await["errors"][0]["field"],
        "reason"
    );
    let res = app
        .api
        .put(app.url(&path))
        .bearer_auth(&admin.access)
        .json(&json!({ "limit_usd": -1.0, "period": "daily", "reason": "oops" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await["errors"][0]["field"],
        "limit_usd"
    );
    let res =
        app.api.put(app.url(&path)).bearer_auth(&admin.access).json(&raise).send().await.unwrap();
    let status = expect_status(res, StatusCode::OK).await;
    assert_eq!(
        (status["limit_nanos"].as_i64(), status["band"].as_str()),
        (Some(1_000_000_000), Some("active"))
    );
    let audit =
        expect_status(app.get_bearer("/api/v1/admin/audit", &admin.access).await, StatusCode::OK)
            .await;
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "budget.set")
        .cloned()
        .expect("audited");
    assert_eq!(entry["target"], format!("user:{uid}"));
    assert!(entry["detail"].as_str().unwrap().contains("release week"));

    // The member can continue at once.
    expect_status(
        app.post_bearer("/api/v1/llm/chat", &member.access, &ask(false)).await,
        StatusCode::OK,
    )
    .await;

    // Prices: listed, edited with a reason, used by the next call.
    let prices =
        expect_status(app.get_bearer("/api/v1/admin/prices", &admin.access).await, StatusCode::OK)
            .await;
    assert!(prices.as_array().unwrap().iter().any(|p| p["model"] == "gpt-4o-mini*"));
    let res = app.api.put(app.url("/api/v1/admin/prices")).bearer_auth(&admin.access)
        .json(&json!({ "model": "gpt-4o-mini", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0, "cached_input_usd_per_mtok": 0.5, "reason": "contract price" }))
        .send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let answer = expect_status(
        app.post_bearer("/api/v1/llm/chat", &member.access, &ask(false)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        answer["cost_nanos"],
        14 * 1_000 + 100 * 2_000,
        "the new exact price wins over the pattern"
    );
    let res = app.api.put(app.url("/api/v1/admin/prices")).bearer_auth(&admin.access)
        .json(&json!({ "model": "bad model", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0, "cached_input_usd_per_mtok": 0.5, "reason": "x y z" }))
        .send().await.unwrap();
    assert_eq!(
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await["errors"][0]["field"],
        "model"
    );
}

#[tokio::test]
async fn admins_add_providers_with_sealed_keys_switch_routing_and_see_everyones_spend() {
    let server = provider().await;
    let app = app_with_budget(&server).await;
    let (admin, member) = app.admin_and_member().await;
    let member_email = expect_status(
        app.get_bearer("/api/v1/me", &member.access).await,
        StatusCode::OK,
    )
    .await["email"]
        .as_str()
        .unwrap()
        .to_string();

    // Members are refused; bad input names the field.
    let body = json!({ "kind": "openai", "base_url": format!("{}/v1", server.uri()), "api_key": "sk-added-123" });
    expect_error(
        app.put_bearer("/api/v1/admin/llm/providers/added", &member.access, &body).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for (bad, field) in [
        (json!({ "kind": "openai", "base_url": "http://169.254.169.254/latest" }), "base_url"),
        (json!({ "kind": "openai", "base_url": "https://u:p@example.com" }), "base_url"),
        (json!({ "kind": "gemini", "base_url": "https://example.com" }), "kind"),
        (
            json!({ "kind": "openai", "base_url": "https://example.com", "timeout_secs": 0 }),
            "timeout_secs",
        ),
    ] {
        let err = expect_error(
            app.put_bearer("/api/v1/admin/llm/providers/added", &admin.access, &bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
        assert_eq!(err["errors"][0]["field"], field, "{bad}");
    }
    let err = expect_error(
        app.put_bearer("/api/v1/admin/llm/providers/mock", &admin.access, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(err["errors"][0]["field"], "name", "configured names are taken");

    let saved = expect_status(
        app.put_bearer("/api/v1/admin/llm/providers/added", &admin.access, &body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((saved["has_key"].as_bool(), saved["source"].as_str()), (Some(true), Some("admin")));
    let listed =
        app.get_bearer("/api/v1/admin/llm/providers", &admin.access).await.text().await.unwrap();
    assert!(listed.contains("\"added\"") && listed.contains("\"mock\""), "{listed}");
    assert!(
        !listed.contains("sk-added-123") && !listed.contains("sk-test"),
        "keys are never shown"
    );
    let stored = app.state.store.list_llm_providers().await.unwrap();
    assert!(
        stored[0]
            .api_key_enc
            .as_deref()
            .is_some_and(|k| k.starts_with("v1:") && !k.contains("sk-added"))
    );
    let health = expect_status(
        app.post_bearer("/api/v1/admin/llm/providers/added/probe", &admin.access, &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["name"], "added");

    // Routing: a bad target names the field; a good one routes the member's next call.
    let err = expect_error(
        app.put_bearer(
            "/api/v1/admin/llm/routing",
            &admin.access,
            &json!({ "strategy": "cost", "routes": { "console": ["nowhere:gpt-4o"] }, "private_features": [], "private_users": [] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(err["errors"][0]["field"], "routes.console");
    let err = expect_error(
        app.put_bearer(
            "/api/v1/admin/llm/routing",
            &admin.access,
            &json!({ "strategy": "fastest", "routes": {}, "private_features": [], "private_users": [] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(err["errors"][0]["field"], "strategy");
    let routing = expect_status(
        app.put_bearer(
            "/api/v1/admin/llm/routing",
            &admin.access,
            &json!({ "strategy": "round_robin", "routes": { "console": ["added:gpt-4o-mini"] },
                     "private_features": ["secret.docs"], "private_users": [member_email] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(routing["strategy"], "round_robin");
    assert_eq!(routing["private_users"][0], member_email);
    // The member is pinned to private providers now, and none is private: refused, not leaked.
    let res = app.post_bearer("/api/v1/llm/chat", &member.access, &ask(false)).await;
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let answer = expect_status(
        app.post_bearer("/api/v1/llm/chat", &admin.access, &ask(false)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["provider"], "added", "the admin route is in force");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests.last().unwrap().headers["authorization"].to_str().unwrap(),
        "Bearer sk-added-123",
        "the sealed key was opened to call the provider"
    );

    // Everyone's spend, the team's usage and the audit trail.
    let spend = expect_status(
        app.get_bearer("/api/v1/admin/llm/spend?min_percent=0", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(spend["total"], 2);
    assert_eq!(spend["top"][0]["spent_nanos"], 62_100);
    expect_error(
        app.get_bearer("/api/v1/admin/llm/spend?min_percent=-5", &admin.access).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    let team = expect_status(
        app.get_bearer("/api/v1/admin/llm/usage?days=7", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(team["days"].as_array().unwrap().len(), 7);
    assert_eq!(team["by_model"][0]["name"], "gpt-4o-mini");
    let mine = expect_status(
        app.get_bearer("/api/v1/usage/summary?days=3", &member.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine["days"].as_array().unwrap().len(), 3);
    assert_eq!(mine["timezone"], "Europe/Berlin");
    expect_error(
        app.get_bearer("/api/v1/admin/llm/usage", &member.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let audit =
        expect_status(app.get_bearer("/api/v1/admin/audit", &admin.access).await, StatusCode::OK)
            .await;
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    assert!(
        actions.contains(&"llm.provider.save") && actions.contains(&"llm.routing.save"),
        "{actions:?}"
    );
    assert!(!audit.to_string().contains("sk-added-123"), "the key is not in the audit log");

    let res = app.delete_bearer("/api/v1/admin/llm/providers/added", &admin.access).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.delete_bearer("/api/v1/admin/llm/providers/added", &admin.access).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn without_a_configured_key_a_key_file_is_created_beside_the_database() {
    let dir = std::env::temp_dir().join(format!("bp_key_{}", uuid::Uuid::new_v4().simple()));
    let file = dir.join("nested").join("secret.key");
    let path = file.clone();
    let app = spawn_app_with(move |s| {
        s.secrets.key = server::config::Secret(None);
        s.secrets.key_file = path.display().to_string();
    })
    .await;
    let key = std::fs::read_to_string(&file).unwrap();
    assert!(domain::secrets::SecretBox::from_base64(&key).is_ok());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    // A second instance reads the same key.
    let path = file.clone();
    let _again = spawn_app_with(move |s| {
        s.secrets.key = server::config::Secret(None);
        s.secrets.key_file = path.display().to_string();
    })
    .await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), key);
    drop(app);
    let _ = std::fs::remove_dir_all(dir);
}

/// `Accept-Language: ru` gets Russian validation and budget messages, `Content-Language` says
/// so, a client that asks for nothing gets English, and the language the account chose wins
/// over the header.
#[tokio::test]
async fn messages_follow_accept_language_and_the_accounts_choice_wins() {
    let server = provider().await;
    let app = app_with_budget(&server).await;
    let post = |path: &str, token: Option<&str>, lang: Option<&str>, body: serde_json::Value| {
        let mut req = app.api.post(app.url(path)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(lang) = lang {
            req = req.header("accept-language", lang);
        }
        req.send()
    };
    let bad_signup =
        json!({ "email": "ann.example.com", "password": "short", "display_name": "Ann" });

    // A model-made validation message (the shared e-mail and password rules).
    let res =
        post("/api/v1/auth/register", None, Some("ru-RU,ru;q=0.9,en;q=0.5"), bad_signup.clone())
            .await
            .unwrap();
    assert_eq!(res.headers()["content-language"], "ru");
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let messages: Vec<&str> =
        err["errors"].as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
    assert_eq!(messages, ["В e-mail должен быть символ «@».", "Пароль — не короче 8 символов."]);
    assert_eq!(err["errors"][0]["field"], "email", "field names stay as the client sent them");
    assert!(
        err["message"].as_str().unwrap().starts_with("некорректные данные: email: В e-mail"),
        "{err}"
    );
    let err = expect_error(
        post("/api/v1/auth/register", None, None, bad_signup).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(err["errors"][0]["message"], "E-mail must contain '@'.");

    // A domain-made one, and the budget refusal.
    let user = app.register(&email("ru")).await;
    let mut bad_ask = ask(false);
    bad_ask["max_tokens"] = json!(0);
    let err = expect_error(
        post("/api/v1/llm/chat", Some(&user.access), Some("ru"), bad_ask).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(err["errors"][0]["field"], "max_tokens");
    assert!(
        err["errors"][0]["message"].as_str().unwrap().starts_with("max_tokens — от 1 до "),
        "{err}"
    );
    let mut refused = None;
    for _ in 0..20 {
        let res =
            post("/api/v1/llm/chat", Some(&user.access), Some("ru"), ask(false)).await.unwrap();
        if res.status() == StatusCode::PAYMENT_REQUIRED {
            refused = Some(res.json::<serde_json::Value>().await.unwrap());
            break;
        }
    }
    let err = refused.expect("402 once the budget is used")["error"].clone();
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with("Этот вызов может стоить до $")
            && message.contains("вашего дневного бюджета в $0.0002")
            && message.contains("(Europe/Berlin)"),
        "{message}"
    );
    assert_eq!(err["period"], "daily", "the machine-readable fields stay as they are");

    // The account's choice beats the header, both ways.
    let choose = |lang: &'static str| {
        app.api
            .post(app.url("/api/set_language"))
            .bearer_auth(&user.access)
            .json(&json!({ "lang": lang }))
            .send()
    };
    assert!(choose("en").await.unwrap().status().is_success());
    let res = post("/api/v1/llm/chat", Some(&user.access), Some("ru"), ask(false)).await.unwrap();
    assert!(res.headers().get("content-language").is_none());
    let err = expect_error(res, StatusCode::PAYMENT_REQUIRED, "budget_exceeded").await;
    assert!(err["message"].as_str().unwrap().starts_with("This call could cost up to $"), "{err}");
    assert!(choose("ru").await.unwrap().status().is_success());
    let err = expect_error(
        post("/api/v1/llm/chat", Some(&user.access), None, ask(false)).await.unwrap(),
        StatusCode::PAYMENT_REQUIRED,
        "budget_exceeded",
    )
    .await;
    assert!(err["message"].as_str().unwrap().starts_with("Этот вызов"), "{err}");
}
