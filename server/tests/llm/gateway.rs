//! The gateway over a real store (SQLite and PostgreSQL) and wiremock providers: budgets that
//! hold under 50 concurrent calls, 402 naming the budget and its reset in the configured zone,
//! streamed and abandoned calls priced from their tokens, fallback to the next provider.

use crate::common::TestDb;
use crate::support::{provider_with, sse};
use chrono::Utc;
use domain::cache::{Cache, CacheConfig};
use domain::llm::{
    AnswerCacheSettings, Caller, Gateway, GatewaySettings, Limit, Message, Period, Price,
    ProviderKind, RateLimits, Role, StreamEvent, Target,
};
use domain::store::{self, DynStore, NewAuditEntry, NewUserRow, PoolOptions, PriceRow};
use futures::StreamExt;
use model::Scopes;
use model::Strategy;
use model::error::AppError;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// $1 per million tokens in and out: a token costs 1,000 nano-dollars.
const PER_TOKEN: i64 = 1_000;

pub(crate) async fn open(db: &TestDb) -> DynStore {
    let store =
        store::connect(db.url(), &PoolOptions { max_connections: 20, ..PoolOptions::default() })
            .await
            .unwrap();
    let audit = NewAuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor_email: None,
        action: "price.set".into(),
        target: "m-1".into(),
        detail: "{}".into(),
    };
    let price = PriceRow {
        model: "m-1".into(),
        input_per_mtok: 1_000_000_000,
        output_per_mtok: 1_000_000_000,
        cached_input_per_mtok: 0,
        quality: None,
        updated_at: 0,
    };
    store.upsert_price(&price, None, audit).await.unwrap();
    store
}

pub(crate) async fn user(store: &DynStore) -> i64 {
    let row = NewUserRow {
        email: format!("u{}@example.com", uuid::Uuid::new_v4().simple()),
        display_name: "U".into(),
        password_hash: "x".into(),
        scopes: Scopes::new([]),
        first_user_scopes: None,
        created_at: Utc::now(),
    };
    store.create_user(row).await.unwrap().id
}

pub(crate) fn settings(user_budget_nanos: i64, route: Vec<Target>) -> GatewaySettings {
    GatewaySettings {
        reservation_lease: std::time::Duration::from_secs(120),
        urls: domain::outbound::UrlPolicy::PRIVATE_TOO,
        timezone: "Asia/Tokyo".parse().unwrap(),
        default_user_budget: Limit { nanos: user_budget_nanos, period: Period::Daily },
        global_budget: Some(Limit { nanos: 1_000_000_000_000, period: Period::Monthly }),
        default_price: Price {
            input_per_mtok: 30_000_000_000,
            output_per_mtok: 60_000_000_000,
            cached_input_per_mtok: 0,
        },
        alert_thresholds: vec![80, 95, 100],
        routes: HashMap::from([("default".to_string(), route)]),
        strategy: Strategy::Priority,
        private_features: Vec::new(),
        answer_cache: AnswerCacheSettings::default(),
        rate_limits: RateLimits::default(),
        secrets: None,
    }
}

/// The user's ledger rows once `n` are there (streams settle from their own tasks).
pub(crate) async fn ledger_rows(store: &DynStore, uid: i64, n: usize) -> Vec<model::LlmCall> {
    let since = Utc::now() - chrono::Duration::hours(1);
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = store.list_llm_calls(Some(uid), since, 10, 0).await.unwrap().0;
        if rows.len() == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), n, "every call is in the ledger");
    rows
}

pub(crate) fn target(provider: &str) -> Target {
    Target { provider: provider.into(), model: "m-1".into() }
}

/// 7 + 7 estimated prompt tokens.
pub(crate) fn messages() -> Vec<Message> {
    vec![Message::new(Role::System, "Be brief."), Message::new(Role::User, "Say hello.")]
}

pub(crate) fn caller(user_id: i64) -> Caller {
    Caller { user_id, feature: "console".into(), request_id: Some("req-test".into()), rfc_id: None }
}

pub(crate) async fn openai_server(prompt: u64, completion: u64) -> MockServer {
    let server = MockServer::start().await;
    let stream = sse(&[
        ("", json!({ "choices": [{ "index": 0, "delta": { "content": "Hello " }, "finish_reason": null }] }).to_string()),
        ("", json!({ "choices": [{ "index": 0, "delta": { "content": "there, friend" }, "finish_reason": "stop" }] }).to_string()),
        ("", json!({ "choices": [], "usage": { "prompt_tokens": prompt, "completion_tokens": completion } }).to_string()),
        ("", "[DONE]".into()),
    ]);
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_partial_json(json!({ "stream": true })))
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
            "usage": { "prompt_tokens": prompt, "completion_tokens": completion }
        })))
        .mount(&server)
        .await;
    server
}

pub(crate) async fn fifty_concurrent_calls_at_the_edge(db: TestDb) {
    let store = open(&db).await;
    let uid = user(&store).await;
    // `m-1` has no public tokenizer: its prompt is bounded at one token per byte, 19 + 4 per
    // message + 3 = 30. The provider counts exactly that, so each call reserves (30 + 100)
    // tokens = 130,000 and really costs the same: 7 fit in 1,000,000, whatever the timing.
    let server = openai_server(30, 100).await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
    let limit = 1_000_000;
    // Through a cache, so the status read below also shows that spends are invalidated.
    let cache =
        Cache::new(CacheConfig { max_entries: 1000, l1_max_ttl: Duration::from_secs(30) }, None);
    let gateway = Gateway::new(
        store.clone(),
        None,
        Some(cache),
        None,
        vec![p],
        settings(limit, vec![Target { provider: "test".into(), model: "m-1".into() }]),
    );
    let before = domain::service::usage::budget_status(&gateway, uid).await.unwrap();
    assert!(before.iter().all(|b| b.spent_nanos == 0), "cached at zero before the race");
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (gateway, barrier) = (gateway.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            gateway.chat(&caller(uid), messages(), 100).await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok((_, receipt)) => {
                assert_eq!(receipt.cost_nanos, 130 * PER_TOKEN);
                ok += 1;
            }
            Err(AppError::BudgetExceeded { budget, limit_nanos, reservation_nanos, .. }) => {
                assert_eq!(
                    (budget, limit_nanos, reservation_nanos),
                    (format!("user:{uid}"), limit, 130 * PER_TOKEN)
                );
                refused += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (7, 43));
    let (start, _) = Period::Daily.bounds("Asia/Tokyo".parse().unwrap(), Utc::now());
    let spend = store.budget_spend(&format!("user:{uid}"), start.timestamp_millis()).await.unwrap();
    assert_eq!((spend.spent_nanos, spend.reserved_nanos), (7 * 130 * PER_TOKEN, 0));
    assert!(spend.spent_nanos <= limit, "overshoot");
    let status = domain::service::usage::budget_status(&gateway, uid).await.unwrap();
    let mine = status.iter().find(|b| b.budget == model::BudgetScope::User(uid)).unwrap();
    assert_eq!((mine.spent_nanos, mine.band.as_str()), (7 * 130 * PER_TOKEN, "warning"));
    let (_, calls) = store
        .list_llm_calls(Some(uid), Utc::now() - chrono::Duration::hours(1), 100, 0)
        .await
        .unwrap();
    assert_eq!(calls, 7, "refused calls never reached the provider");
    assert_eq!(server.received_requests().await.unwrap().len(), 7);
}

#[tokio::test]
async fn the_402_names_the_budget_and_when_it_resets_in_the_configured_zone() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let uid = user(&store).await;
    let server = openai_server(14, 100).await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
    let gateway =
        Gateway::new(store, None, None, None, vec![p], settings(50_000, vec![target("test")]));
    let err = gateway.chat(&caller(uid), messages(), 100).await.unwrap_err();
    assert_eq!(err.status(), 402);
    let AppError::BudgetExceeded { budget, period, resets_at, message, spent_nanos, .. } = err
    else {
        unreachable!()
    };
    assert_eq!(
        (budget.as_str(), period.as_str(), spent_nanos),
        (format!("user:{uid}").as_str(), "daily", 0)
    );
    assert_eq!(resets_at, Period::Daily.bounds("Asia/Tokyo".parse().unwrap(), Utc::now()).1);
    assert!(
        message.contains("daily budget of $0.000050") && message.contains("Asia/Tokyo"),
        "{message}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn streamed_calls_are_priced_from_their_usage_and_abandoned_ones_still_pay() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let uid = user(&store).await;
    let server = openai_server(20, 6).await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
    let gateway = Gateway::new(
        store.clone(),
        None,
        None,
        None,
        vec![p],
        settings(10_000_000, vec![target("test")]),
    );

    let mut stream = gateway.chat_stream(&caller(uid), messages(), 100).await.unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::Delta(t) = event.unwrap() {
            text.push_str(&t);
        }
    }
    assert_eq!(text, "Hello there, friend");
    drop(stream);

    // The client reads one delta and goes away.
    let mut stream = gateway.chat_stream(&caller(uid), messages(), 100).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(StreamEvent::Delta(_)))));
    drop(stream);

    let rows = ledger_rows(&store, uid, 2).await;
    // Both started within moments and settle from their own tasks: find them by outcome.
    let abandoned = rows.iter().find(|r| r.outcome == "abandoned").expect("the abandoned call");
    let finished = rows.iter().find(|r| r.outcome == "ok").expect("the finished call");
    assert_eq!((finished.outcome.as_str(), finished.streamed), ("ok", true));
    assert_eq!(
        (finished.input_tokens, finished.output_tokens, finished.cost_nanos),
        (20, 6, 26 * PER_TOKEN)
    );
    assert_eq!(abandoned.outcome, "abandoned");
    // No usage came before the client left: the prompt and the text seen are our estimate.
    let prompt = domain::llm::tokens::prompt_estimate("m-1", &messages()) as i64;
    assert!(abandoned.output_tokens >= 1 && abandoned.input_tokens == prompt, "{abandoned:?}");
    assert!(abandoned.usage_estimated && !finished.usage_estimated);
    assert!(abandoned.cost_nanos > 0, "partial output is paid for");
    let (start, _) = Period::Daily.bounds("Asia/Tokyo".parse().unwrap(), Utc::now());
    let spend = store.budget_spend(&format!("user:{uid}"), start.timestamp_millis()).await.unwrap();
    assert_eq!(
        (spend.spent_nanos, spend.reserved_nanos),
        (finished.cost_nanos + abandoned.cost_nanos, 0)
    );
}

#[tokio::test]
async fn a_failing_provider_falls_back_to_the_next_and_both_attempts_are_recorded() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let uid = user(&store).await;
    let down = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&down).await;
    let up = openai_server(14, 3).await;
    let first = provider_with(ProviderKind::OpenAi, &format!("{}/v1", down.uri()), |c| {
        c.name = "primary".into();
        c.retry.max_retries = 0;
    });
    let second = provider_with(ProviderKind::OpenAi, &format!("{}/v1", up.uri()), |c| {
        c.name = "backup".into()
    });
    let gateway = Gateway::new(
        store.clone(),
        None,
        None,
        None,
        vec![first, second],
        settings(10_000_000, vec![target("primary"), target("backup")]),
    );
    let (answer, receipt) = gateway.chat(&caller(uid), messages(), 100).await.unwrap();
    assert_eq!((answer.text.as_str(), receipt.provider.as_str()), ("Hello!", "backup"));
    let rows = store
        .list_llm_calls(Some(uid), Utc::now() - chrono::Duration::hours(1), 10, 0)
        .await
        .unwrap()
        .0;
    let outcomes: Vec<(&str, &str, i64)> = rows
        .iter()
        .rev()
        .map(|r| (r.provider.as_str(), r.outcome.as_str(), r.cost_nanos))
        .collect();
    assert_eq!(outcomes, vec![("primary", "error", 0), ("backup", "ok", 17 * PER_TOKEN)]);
}

/// An answer of 400 characters the provider counts as 50 tokens (our characters / 4 estimate
/// says 100): streamed or not, the bill is the provider's count.
#[tokio::test]
async fn a_streamed_and_an_unstreamed_answer_cost_the_same_when_the_provider_reports_usage() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let uid = user(&store).await;
    let answer = "Ok, ".repeat(100);
    let server = MockServer::start().await;
    let mut frames: Vec<(&str, String)> = answer
        .as_bytes()
        .chunks(40)
        .map(|c| {
            let delta = std::str::from_utf8(c).unwrap();
            ("", json!({ "choices": [{ "index": 0, "delta": { "content": delta }, "finish_reason": null }] }).to_string())
        })
        .collect();
    frames.push((
        "",
        json!({ "choices": [], "usage": { "prompt_tokens": 20, "completion_tokens": 50 } })
            .to_string(),
    ));
    frames.push(("", "[DONE]".into()));
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_partial_json(json!({ "stream": true })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse(&frames)),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": answer }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 20, "completion_tokens": 50 }
        })))
        .mount(&server)
        .await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
    let gateway = Gateway::new(
        store.clone(),
        None,
        None,
        None,
        vec![p],
        settings(10_000_000, vec![target("test")]),
    );
    gateway.chat(&caller(uid), messages(), 200).await.unwrap();
    let mut stream = gateway.chat_stream(&caller(uid), messages(), 200).await.unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::Delta(t) = event.unwrap() {
            text.push_str(&t);
        }
    }
    assert_eq!(text, answer);
    drop(stream);

    let rows = ledger_rows(&store, uid, 2).await;
    let streamed = rows.iter().find(|r| r.streamed).expect("the streamed call");
    let whole = rows.iter().find(|r| !r.streamed).expect("the unstreamed call");
    assert_eq!((whole.input_tokens, whole.output_tokens), (20, 50));
    assert_eq!((streamed.input_tokens, streamed.output_tokens), (20, 50), "{streamed:?}");
    assert_eq!(streamed.cost_nanos, whole.cost_nanos);
    assert_eq!(whole.cost_nanos, 70 * PER_TOKEN);
}
