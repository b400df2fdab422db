//! SIGTERM right after 100 streamed calls finished: the real binary, a local OpenAI-compatible
//! server, and the ledger read from the SQLite file after the process exited. Every call whose
//! client saw a cost has its ledger row, and no money stays held.

use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const CALLS: usize = 100;

async fn openai_stream_server() -> MockServer {
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
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_a_hundred_streams_loses_no_ledger_row() {
    let provider = openai_stream_server().await;
    let dir = std::env::temp_dir().join(format!("bp_shutdown_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("blueprint.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[llm]
user_budget_usd = 1000.0
requests_per_minute = 0
tokens_per_minute = 0
# Identical prompts: every call must reach the provider, not the answer cache.
cache_ttl_secs = 0

[[llm.providers]]
name = "mock"
kind = "openai"
base_url = "{}/v1"
api_key = "sk-shutdown-test"
max_retries = 0

[llm.routes]
default = ["mock:gpt-4o-mini"]
"#,
            provider.uri()
        ),
    )
    .unwrap();
    let db = dir.join("bp.db");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_blueprint"))
        .env("BLUEPRINT_CONFIG", &config)
        .env("BLUEPRINT_SERVER__ADDR", "127.0.0.1:0")
        .env("BLUEPRINT_SERVER__SHUTDOWN_GRACE_SECS", "20")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("BLUEPRINT_SECRETS__KEY", app::server::secrets::SecretBox::generate_key())
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

    let client = reqwest::Client::new();
    let res = client
        .post(format!("{address}/api/v1/auth/register"))
        .json(&json!({ "email": "stream@example.com", "password": crate::helpers::PASSWORD,
                       "display_name": "Streamer" }))
        .send()
        .await
        .unwrap();
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let calls = (0..CALLS).map(|_| {
        let (client, address, token) = (client.clone(), address.clone(), token.clone());
        async move {
            let res = client
                .post(format!("{address}/api/v1/llm/chat"))
                .bearer_auth(&token)
                .json(&json!({ "feature": "shutdown", "stream": true, "max_tokens": 50,
                               "messages": [{ "role": "user", "content": "Say it." }] }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), reqwest::StatusCode::OK);
            res.text().await.unwrap()
        }
    });
    let bodies = futures::future::join_all(calls).await;
    let billed = bodies.iter().filter(|b| b.contains("event: cost")).count();
    assert_eq!(billed, CALLS, "every client saw its cost");

    // At once, while settlements may still be on their way to the database.
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the server stops within its grace")
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM llm_calls WHERE outcome = 'ok'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let held: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(reserved_nanos), 0) FROM budget_usage")
        .fetch_one(&pool)
        .await
        .unwrap();
    let spent: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(cost_nanos), 0) FROM llm_calls")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(rows, CALLS as i64, "a ledger row for every call a client saw a cost for");
    assert_eq!(held, 0, "nothing stays reserved");
    assert!(spent > 0);
}
