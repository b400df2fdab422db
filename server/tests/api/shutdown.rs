//! The real binary stopped three ways with streamed calls on a local OpenAI-compatible server,
//! the ledger read from the SQLite file afterwards:
//! - SIGTERM right after 100 streams finished, and SIGTERM with 100 streams in flight: every
//!   call has its ledger row and no money stays held;
//! - kill -9 with streams in flight, then a restart: the new process's reaper settles what the
//!   dead one held, within the reservation lease, as `orphaned` calls.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const CALLS: usize = 100;

async fn openai_stream_server(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    let frame = |data: serde_json::Value| format!("data: {data}\n\n");
    let body = [
        frame(json!({ "choices": [{ "index": 0, "delta": { "content": "Settled " }, "finish_reason": null }] })),
        frame(json!({ "choices": [{ "index": 0, "delta": { "content": "exactly once." }, "finish_reason": "stop" }] })),
        frame(json!({ "choices": [], "usage": { "prompt_tokens": 12, "completion_tokens": 4 } })),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(body)
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

/// A folder with a config routing every call to `provider`; returns it and the database path.
fn setup(provider: &MockServer, extra: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("bp_shutdown_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("blueprint.toml"),
        format!(
            r#"
[llm]
user_budget_usd = 1000.0
requests_per_minute = 0
tokens_per_minute = 0
# Identical prompts: every call must reach the provider, not the answer cache.
cache_ttl_secs = 0
{extra}

[[llm.providers]]
name = "mock"
kind = "openai"
base_url = "{}/v1"
api_key = "sk-shutdown-test"
max_retries = 0
timeout_secs = 120

[llm.routes]
default = ["mock:gpt-4o-mini"]
"#,
            provider.uri()
        ),
    )
    .unwrap();
    let db = dir.join("bp.db");
    (dir, db)
}

/// Starts the binary on `dir`'s config and database; returns it and where it serves.
async fn start(dir: &Path, db: &Path, key: &str) -> (Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_blueprint"))
        .env("BLUEPRINT_CONFIG", dir.join("blueprint.toml"))
        .env("BLUEPRINT_SERVER__ADDR", "127.0.0.1:0")
        .env("BLUEPRINT_SERVER__SHUTDOWN_GRACE_SECS", "20")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("BLUEPRINT_SECRETS__KEY", key)
        .env("BLUEPRINT_LOG__LEVEL", "warn")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("serving at ").nth(1) {
                return rest.trim().to_string();
            }
        }
        panic!("the server exited before serving");
    })
    .await
    .expect("the server says where it serves");
    // Keep reading so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, address)
}

async fn register(client: &reqwest::Client, address: &str) -> String {
    let res = client
        .post(format!("{address}/api/v1/auth/register"))
        .json(&json!({ "email": "stream@example.com", "password": crate::helpers::PASSWORD,
                       "display_name": "Streamer" }))
        .send()
        .await
        .unwrap();
    res.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

/// One streamed call; the body as the client read it (empty if the server went away).
async fn stream(client: reqwest::Client, address: String, token: String) -> String {
    let res = client
        .post(format!("{address}/api/v1/llm/chat"))
        .bearer_auth(&token)
        .json(&json!({ "feature": "shutdown", "stream": true, "max_tokens": 50,
                       "messages": [{ "role": "user", "content": "Say it." }] }))
        .send()
        .await;
    match res {
        Ok(res) => res.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(sent.success());
}

/// (ok rows, all rows, money held, ledger sum, spent) from the database file.
async fn ledger(db: &Path) -> (i64, i64, i64, i64, i64) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let one = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    let out = (
        one("SELECT COUNT(*) FROM llm_calls WHERE outcome = 'ok'").await,
        one("SELECT COUNT(*) FROM llm_calls").await,
        one("SELECT COALESCE(SUM(reserved_nanos), 0) FROM budget_usage WHERE scope <> 'global'")
            .await,
        one("SELECT COALESCE(SUM(cost_nanos), 0) FROM llm_calls").await,
        one("SELECT COALESCE(SUM(spent_nanos), 0) FROM budget_usage WHERE scope <> 'global'").await,
    );
    pool.close().await;
    out
}

async fn wait_for_requests(provider: &MockServer, n: usize) {
    for _ in 0..600 {
        if provider.received_requests().await.unwrap_or_default().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the provider never saw {n} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_a_hundred_streams_loses_no_ledger_row() {
    let provider = openai_stream_server(Duration::ZERO).await;
    let (dir, db) = setup(&provider, "");
    let key = domain::secrets::SecretBox::generate_key();
    let (mut child, address) = start(&dir, &db, &key).await;
    let client = reqwest::Client::new();
    let token = register(&client, &address).await;
    let calls = (0..CALLS).map(|_| stream(client.clone(), address.clone(), token.clone()));
    let bodies = futures::future::join_all(calls).await;
    let billed = bodies.iter().filter(|b| b.contains("event: cost")).count();
    assert_eq!(billed, CALLS, "every client saw its cost");

    // At once, while settlements may still be on their way to the database.
    signal(&child, "-TERM").await;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the server stops within its grace")
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    let (ok, _, held, ledger_sum, spent) = ledger(&db).await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(ok, CALLS as i64, "a ledger row for every call a client saw a cost for");
    assert_eq!(held, 0, "nothing stays reserved");
    assert!(spent > 0 && spent == ledger_sum);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hundred_streams_in_flight_finishes_and_records_them_all() {
    // The provider answers each call 2 s after it arrives: SIGTERM lands while all 100 wait.
    let provider = openai_stream_server(Duration::from_secs(2)).await;
    let (dir, db) = setup(&provider, "");
    let key = domain::secrets::SecretBox::generate_key();
    let (mut child, address) = start(&dir, &db, &key).await;
    let client = reqwest::Client::new();
    let token = register(&client, &address).await;
    let calls: Vec<_> = (0..CALLS)
        .map(|_| tokio::spawn(stream(client.clone(), address.clone(), token.clone())))
        .collect();
    wait_for_requests(&provider, CALLS).await;
    signal(&child, "-TERM").await;
    let mut billed = 0;
    for call in calls {
        billed += usize::from(call.await.unwrap().contains("event: cost"));
    }
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the server stops within its grace")
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    let (ok, all, held, ledger_sum, spent) = ledger(&db).await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(billed, CALLS, "in-flight calls finish within the grace");
    assert_eq!((ok, all), (CALLS as i64, CALLS as i64), "a ledger row for every call");
    assert_eq!(held, 0, "nothing stays reserved");
    assert!(spent > 0 && spent == ledger_sum);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_streams_in_flight_is_settled_by_the_reaper_after_a_restart() {
    const LOST: usize = 5;
    // The provider holds every call for a minute: the process dies with all of them open.
    let provider = openai_stream_server(Duration::from_secs(60)).await;
    let (dir, db) = setup(&provider, "reservation_lease_secs = 2");
    let key = domain::secrets::SecretBox::generate_key();
    let (mut child, address) = start(&dir, &db, &key).await;
    let client = reqwest::Client::new();
    let token = register(&client, &address).await;
    let calls: Vec<_> = (0..LOST)
        .map(|_| tokio::spawn(stream(client.clone(), address.clone(), token.clone())))
        .collect();
    wait_for_requests(&provider, LOST).await;
    signal(&child, "-KILL").await;
    let _ = child.wait().await;
    for call in calls {
        assert!(!call.await.unwrap().contains("event: cost"), "no client saw a cost");
    }
    let (_, rows, held, _, _) = ledger(&db).await;
    assert_eq!(rows, 0, "nothing was settled before the crash");
    assert!(held > 0, "the dead process left money held");

    // The next start reaps what expired: within the 2 s lease (plus one reaper pass).
    let (mut child, _) = start(&dir, &db, &key).await;
    let mut state = ledger(&db).await;
    for _ in 0..200 {
        if state.2 == 0 && state.1 == LOST as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = ledger(&db).await;
    }
    signal(&child, "-TERM").await;
    let _ = child.wait().await;
    let (ok, rows, held, ledger_sum, spent) = state;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let orphaned: Vec<(String, bool, i64)> =
        sqlx::query_as("SELECT outcome, usage_estimated, input_tokens FROM llm_calls ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((ok, rows, held), (0, LOST as i64, 0), "every lost call recorded, nothing held");
    assert!(
        orphaned.iter().all(|(o, estimated, input)| o == "orphaned" && *estimated && *input > 0),
        "{orphaned:?}"
    );
    assert!(spent > 0 && spent == ledger_sum, "the prompts are billed: {spent} vs {ledger_sum}");
}
