//! Money under hostile prompts, several instances and lost instances: 50 concurrent streamed
//! calls at a budget's edge with prompts that tokenize far above four characters per token
//! (digits, punctuation, Russian, code), counted by a provider that tokenizes like OpenAI — on
//! SQLite, and on two gateways sharing PostgreSQL and Redis. Reservations whose instance stops
//! renewing them are reaped as `orphaned`; a call that was only slow takes its row back.

use crate::common::TestDb;
use crate::gateway::{caller, open, settings, user};
use crate::support::{provider_with, sse};
use chrono::Utc;
use domain::cache::{Cache, CacheConfig};
use domain::llm::{Gateway, Message, Period, ProviderKind, Role, StreamEvent, Target};
use domain::redis_conn::RedisConn;
use domain::store::DynStore;
use futures::StreamExt;
use model::error::AppError;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Priced in the seeded table at $0.15 / $0.60 per million tokens in / out.
const MODEL: &str = "gpt-4o-mini";
const ANSWER: &str = "Готово: 1, 2, 3 — done.";
/// The user's daily budget in the 50-call races.
const LIMIT: i64 = 2_000_000;

/// Counts like OpenAI's chat completions: `o200k_base` over each message's content plus the
/// chat template (3 tokens per message, 3 to prime the reply), and streams `ANSWER` with the
/// usage in a final chunk.
struct OpenAiCounting;

fn provider_count(body: &Value) -> (usize, usize) {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt = messages
        .iter()
        .map(|m| bpe.encode_with_special_tokens(m["content"].as_str().unwrap_or("")).len() + 3)
        .sum::<usize>()
        + 3;
    (prompt, bpe.encode_with_special_tokens(ANSWER).len())
}

impl Respond for OpenAiCounting {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let (prompt, completion) = provider_count(&body);
        let chunks: Vec<String> =
            ANSWER.chars().collect::<Vec<_>>().chunks(5).map(String::from_iter).collect();
        let mut frames: Vec<(&str, String)> = chunks
            .iter()
            .map(|c| ("", json!({ "choices": [{ "index": 0, "delta": { "content": c }, "finish_reason": null }] }).to_string()))
            .collect();
        frames.push((
            "",
            json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] })
                .to_string(),
        ));
        frames.push((
            "",
            json!({ "choices": [], "usage": { "prompt_tokens": prompt, "completion_tokens": completion } })
                .to_string(),
        ));
        frames.push(("", "[DONE]".into()));
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/event-stream")
            .set_body_string(sse(&frames))
    }
}

/// The `i`-th hostile prompt: ~800 characters of digits and commas, punctuation, Russian or
/// code, each distinct.
fn hostile(i: usize) -> Vec<Message> {
    let body = match i % 4 {
        0 => (0..400).map(|k| format!("{},", (k * 7 + i) % 10)).collect::<String>(),
        1 => {
            (0..160).map(|k| ["?!", "..", ";:", "-=", "»«"][(k + i) % 5]).collect::<String>()
                + &"…".repeat(i % 7 + 1)
        }
        2 => {
            format!("Вопрос №{i}: ")
                + &"Съешь же ещё этих мягких французских булок, да выпей чаю. ".repeat(7)
        }
        _ => {
            format!("// case {i}\n")
                + &"fn f(x:&[u8])->u8{x.iter().fold(0u8,|a,b|a.wrapping_add(*b))}\n".repeat(10)
        }
    };
    vec![Message::new(Role::System, "Answer in one line."), Message::new(Role::User, body)]
}

async fn counting_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(OpenAiCounting).mount(&server).await;
    server
}

fn route() -> Vec<Target> {
    vec![Target { provider: "test".into(), model: MODEL.into() }]
}

/// Streams one call to its end; Ok(cost billed) or the refusal.
async fn stream_call(gateway: Gateway, uid: i64, i: usize) -> Result<i64, AppError> {
    let mut stream = gateway.chat_stream(&caller(uid), hostile(i), 100).await?;
    let mut cost = None;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Billed { cost_nanos, .. } = event? {
            cost = Some(cost_nanos);
        }
    }
    Ok(cost.expect("a finished stream says what it cost"))
}

/// What the old estimate (characters / 4 + 4 per message) would have reserved for the prompt.
fn chars_over_four(messages: &[Message]) -> usize {
    messages.iter().map(|m| m.content.chars().count().div_ceil(4) + 4).sum()
}

async fn fifty_streams_at_the_edge(store: DynStore, gateways: Vec<Gateway>) {
    let uid = user(&store).await;
    // The prompts really are hostile: the provider counts each well above characters / 4.
    let counted = |i: usize| {
        let messages: Vec<Value> =
            hostile(i).iter().map(|m| json!({ "content": m.content })).collect();
        provider_count(&json!({ "messages": messages })).0
    };
    assert!(counted(0) > 3 * chars_over_four(&hostile(0)), "digits: {}", counted(0));
    let (all, naive): (usize, usize) = (0..4)
        .map(|i| (counted(i), chars_over_four(&hostile(i))))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert!(
        all * 2 > naive * 3,
        "the four kinds together count {all} tokens, chars/4 says {naive}"
    );
    // Room for about a fifth of the calls (a reservation is ~180,000 nano-dollars).
    let limit = LIMIT;
    let barrier = Arc::new(Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (gateway, barrier) = (gateways[i % gateways.len()].clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                stream_call(gateway, uid, i).await
            })
        })
        .collect();
    let (mut admitted, mut refused, mut billed) = (0, 0, 0);
    let mut largest_reservation = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(cost) => {
                admitted += 1;
                billed += cost;
            }
            Err(AppError::BudgetExceeded { reservation_nanos, .. }) => {
                refused += 1;
                largest_reservation = largest_reservation.max(reservation_nanos);
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(admitted >= 3 && refused >= 10, "the edge was reached: {admitted} in, {refused} out");
    let (start, _) = Period::Daily.bounds("Asia/Tokyo".parse().unwrap(), Utc::now());
    let scope = format!("user:{uid}");
    // Streams settle from their own tasks: wait for the last ledger row.
    let mut calls = Vec::new();
    for _ in 0..200 {
        calls = store
            .list_llm_calls(Some(uid), Utc::now() - chrono::Duration::hours(1), 100, 0)
            .await
            .unwrap()
            .0;
        if calls.len() == admitted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(calls.len(), admitted, "a ledger row per admitted call");
    let spend = store.budget_spend(&scope, start.timestamp_millis()).await.unwrap();
    let ledger: i64 = calls.iter().map(|c| c.cost_nanos).sum();
    assert_eq!(spend.reserved_nanos, 0, "nothing held afterwards");
    assert_eq!(spend.spent_nanos, ledger, "the ledger sums to what was spent");
    assert_eq!(billed, ledger, "clients were told what the ledger says");
    assert!(
        spend.spent_nanos <= limit,
        "overshoot: spent {} of {limit} (a reservation is up to {largest_reservation})",
        spend.spent_nanos
    );
    for c in &calls {
        assert_eq!(c.outcome, "ok");
        assert!(!c.usage_estimated, "billed from the provider's usage: {c:?}");
    }
    let open = store.expired_reservations(Utc::now() + chrono::Duration::days(30), 10).await;
    assert!(open.unwrap().is_empty(), "no reservation left open");
}

fn with_limit(limit: i64) -> domain::llm::GatewaySettings {
    settings(limit, route())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_hostile_streams_stay_within_the_budget_on_sqlite() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let server = counting_server().await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
    let gateway = Gateway::new(store.clone(), None, None, None, vec![p], with_limit(LIMIT));
    fifty_streams_at_the_edge(store, vec![gateway]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_hostile_streams_stay_within_the_budget_on_two_instances_sharing_postgres_and_redis()
{
    let db = TestDb::postgres().await;
    let store = open(&db).await;
    let server = counting_server().await;
    let url =
        std::env::var("BP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut gateways = Vec::new();
    for _ in 0..2 {
        // Each instance has its own pool, Redis connection and cache, like separate processes.
        let store = open(&db).await;
        let redis = RedisConn::start(&url).unwrap();
        assert!(redis.wait_connected(Duration::from_secs(5)).await, "Redis must be running");
        let cache = Cache::new(
            CacheConfig { max_entries: 1000, l1_max_ttl: Duration::from_secs(30) },
            Some(redis.clone()),
        );
        let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
        gateways.push(Gateway::new(
            store,
            None,
            Some(cache),
            Some(redis),
            vec![p],
            with_limit(LIMIT),
        ));
    }
    fifty_streams_at_the_edge(store, gateways).await;
}

/// A stream whose instance stops renewing its reservation: another instance's reaper settles
/// it as `orphaned` (the prompt billed, the hold released); when the call then finishes after
/// all, it takes that ledger row over and only the difference moves.
pub(crate) async fn a_lost_call_is_reaped_and_a_late_finish_takes_its_row_back(db: TestDb) {
    let store = open(&db).await;
    let uid = user(&store).await;
    let server = counting_server().await;
    let lease = Duration::from_secs(1);
    let make = || {
        let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
        let mut s = with_limit(10_000_000);
        s.reservation_lease = lease;
        Gateway::new(store.clone(), None, None, None, vec![p], s)
    };
    let (serving, other) = (make(), make());
    let (start, _) = Period::Daily.bounds("Asia/Tokyo".parse().unwrap(), Utc::now());
    let scope = format!("user:{uid}");

    // The call starts; its instance never renews (no housekeeping runs on it).
    let mut stream = serving.chat_stream(&caller(uid), hostile(0), 100).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(StreamEvent::Delta(_)))));
    let held = store.budget_spend(&scope, start.timestamp_millis()).await.unwrap();
    assert!(held.reserved_nanos > 0 && held.spent_nanos == 0);
    assert_eq!(other.reap_expired().await.unwrap(), 0, "not expired yet");
    tokio::time::sleep(lease + Duration::from_millis(300)).await;

    assert_eq!(other.reap_expired().await.unwrap(), 1);
    assert_eq!(other.reap_expired().await.unwrap(), 0, "reaped once");
    let rows = store.list_llm_calls(Some(uid), Utc::now() - chrono::Duration::hours(1), 10, 0);
    let rows = rows.await.unwrap().0;
    assert_eq!(rows.len(), 1);
    let orphan = &rows[0];
    assert_eq!(
        (orphan.outcome.as_str(), orphan.usage_estimated, orphan.output_tokens),
        ("orphaned", true, 0)
    );
    assert!(orphan.input_tokens > 0 && orphan.cost_nanos > 0, "the prompt is billed: {orphan:?}");
    let after = store.budget_spend(&scope, start.timestamp_millis()).await.unwrap();
    assert_eq!((after.spent_nanos, after.reserved_nanos), (orphan.cost_nanos, 0));

    // It was only slow: it finishes and is billed exactly, on the same row.
    let mut cost = None;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Billed { cost_nanos, .. } = event.unwrap() {
            cost = Some(cost_nanos);
        }
    }
    drop(stream);
    let cost = cost.unwrap();
    let mut row = None;
    for _ in 0..200 {
        let rows = store
            .list_llm_calls(Some(uid), Utc::now() - chrono::Duration::hours(1), 10, 0)
            .await
            .unwrap()
            .0;
        if rows.len() == 1 && rows[0].outcome == "ok" {
            row = Some(rows[0].clone());
            break;
        }
        assert_eq!(rows.len(), 1, "never a second row for one call");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let row = row.expect("the late settlement took the row over");
    assert_eq!((row.id, row.cost_nanos, row.usage_estimated), (orphan.id, cost, false));
    let end = store.budget_spend(&scope, start.timestamp_millis()).await.unwrap();
    assert_eq!((end.spent_nanos, end.reserved_nanos), (cost, 0));
}

/// A live instance keeps its calls: its housekeeping renews them, so no reaper takes them even
/// long after the first expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_call_is_never_reaped() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let uid = user(&store).await;
    let server = counting_server().await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
    let mut s = with_limit(10_000_000);
    s.reservation_lease = Duration::from_secs(3);
    let serving = Gateway::new(store.clone(), None, None, None, vec![p], s.clone());
    let other = Gateway::new(store.clone(), None, None, None, Vec::new(), s);
    let housekeeping = serving.start_housekeeping();
    let mut stream = serving.chat_stream(&caller(uid), hostile(1), 100).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(StreamEvent::Delta(_)))));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(other.reap_expired().await.unwrap(), 0, "the owner renewed it");
    while stream.next().await.is_some() {}
    drop(stream);
    housekeeping.abort();
    let rows = crate::gateway::ledger_rows(&store, uid, 1).await;
    assert_eq!(rows[0].outcome, "ok");
}
