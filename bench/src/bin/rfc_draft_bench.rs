//! What the RFC studio adds around the model: a real server process drafts RFCs of the Feature
//! template (9 sections) against a local OpenAI-compatible model that answers at once (one
//! chunk per section, no delay), so the time measured is orchestration — the job queue, prompts,
//! the gateway's admission and settlement, citation checks, store writes, live events — not the
//! model. Per section: the time between consecutive sections' "done" events on the socket; per
//! draft: from `POST /draft` to the last section's "done". The draft is grounded on one uploaded
//! note, so every section goes through the model.
//!
//! `cargo run -p bench --release --bin rfc_draft_bench -- --server-bin target/release/blueprint --drafts 20`

use axum::body::Body;
use axum::response::Response;
use bench::{BenchDb, Summary};
use clap::Parser;
use futures::StreamExt;
use model::{SectionState, WsFrame};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Parser, Debug)]
struct Args {
    /// The server binary (built with `cargo leptos build --release`).
    #[arg(long, default_value = "target/release/blueprint")]
    server_bin: String,
    /// Drafts to write, one after another.
    #[arg(long, default_value_t = 20)]
    drafts: usize,
}

/// The instant model: JSON for questions and the outline, one SSE chunk for a section.
async fn completions(body: axum::Json<Value>) -> Response {
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    let usage = json!({ "prompt_tokens": 500, "completion_tokens": 200 });
    if body["stream"] != true {
        let text = if system.contains("clarifying questions") {
            json!({ "questions": [
                { "kind": "text", "text": "Who uses it?" },
                { "kind": "text", "text": "What fails today?" },
                { "kind": "yes_no", "text": "Is there a deadline?" },
            ]})
            .to_string()
        } else {
            json!({ "sections": [] }).to_string()
        };
        let answer = json!({
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": usage,
        });
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(answer.to_string()))
            .unwrap_or_default();
    }
    let chunk = json!({ "choices": [{ "index": 0, "delta": { "content": "Uploads retry three times with backoff [S1]. Parked uploads resume." }, "finish_reason": "stop" }] });
    let tail = json!({ "choices": [], "usage": usage });
    let sse = format!("data: {chunk}\n\ndata: {tail}\n\ndata: [DONE]\n\n");
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(sse))
        .unwrap_or_default()
}

struct Server {
    child: std::process::Child,
    base: String,
    port: u16,
    _config: tempfile_path::TempPath,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config file removed when dropped.
mod tempfile_path {
    pub struct TempPath(pub std::path::PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

async fn start(bin: &str, db_url: &str, model: &str) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let path = std::env::temp_dir().join(format!("rfc-draft-bench-{}.toml", uuid::Uuid::new_v4()));
    // No per-minute limits: 20 drafts are 200 calls a minute, and a limited call waits for its
    // Retry-After, which is the limit's time, not the studio's.
    std::fs::write(
        &path,
        format!(
            "[llm]\nuser_budget_usd = 1000.0\nglobal_budget_usd = 0.0\n\
             requests_per_minute = 0\ntokens_per_minute = 0\n\n[[llm.providers]]\nname = \"instant\"\n\
             kind = \"openai\"\nbase_url = \"{model}\"\napi_key = \"sk-bench\"\ntimeout_secs = 10\nmax_retries = 0\n\n\
             [llm.routes]\ndefault = [\"instant:gpt-4o-mini\"]\n\n[security]\nallow_private_urls = true\n"
        ),
    )?;
    let child = std::process::Command::new(bin)
        .env("BLUEPRINT_SERVER__ADDR", format!("127.0.0.1:{port}"))
        .env("BLUEPRINT_CONFIG", &path)
        .env("DATABASE_URL", db_url)
        .env("BLUEPRINT_LOG__LEVEL", "warn")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("could not start {bin}: {e} (build it first)"))?;
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        port,
        _config: tempfile_path::TempPath(path),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{}/health/ready", server.base)).send().await
            && r.status().is_success()
        {
            return Ok(server);
        }
        anyhow::ensure!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn json_ok(res: reqwest::Response) -> anyhow::Result<Value> {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    Ok(body)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let model = format!("http://{}/v1", listener.local_addr()?);
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let db = BenchDb::sqlite();
    let result = run(&args, &db.url, &model).await;
    db.drop_db().await;
    result
}

async fn run(args: &Args, db_url: &str, model: &str) -> anyhow::Result<()> {
    let server = start(&args.server_bin, db_url, model).await?;
    let base = &server.base;
    let http = reqwest::Client::new();
    let reg = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({ "email": "bench@example.com", "password": "bench password 123", "display_name": "Bench" }))
        .send()
        .await?;
    let token = json_ok(reg).await?["access_token"].as_str().unwrap_or_default().to_string();
    let source = json_ok(
        http.post(format!("{base}/api/v1/sources"))
            .bearer_auth(&token)
            .json(&json!({ "name": "Notes", "kind": "files", "config": {}, "secret": null,
                "visibility": "owner", "members": [], "schedule": null, "enabled": true }))
            .send()
            .await?,
    )
    .await?["id"]
        .as_i64()
        .unwrap_or_default();
    let boundary = "rfc-bench";
    let note = "# Upload runbook\n\nFailed uploads retry three times with backoff before they are parked.\n";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"runbook.md\"\r\n\
         Content-Type: text/markdown\r\n\r\n{note}\r\n--{boundary}--\r\n"
    );
    json_ok(
        http.post(format!("{base}/api/v1/sources/{source}/files"))
            .bearer_auth(&token)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await?,
    )
    .await?;

    let mut req = format!("ws://127.0.0.1:{}/ws", server.port).into_client_request()?;
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(req).await?;
    let (mut per_section, mut per_draft) = (Vec::new(), Vec::new());
    for i in 0..args.drafts {
        let wizard = json!({
            "task_type": "new_feature", "template": "feature", "language": "en",
            "title": format!("Upload retries {i}"),
            "description": "Retry failed uploads with backoff instead of starting again from zero.",
        });
        let rfc = json_ok(
            http.post(format!("{base}/api/v1/rfcs"))
                .bearer_auth(&token)
                .json(&wizard)
                .send()
                .await?,
        )
        .await?;
        let id = rfc["summary"]["id"].as_i64().unwrap_or_default();
        // The note is found once the upload's sync has indexed it.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let grounded = json_ok(
                http.post(format!("{base}/api/v1/rfcs/{id}/ground"))
                    .bearer_auth(&token)
                    .json(&json!({}))
                    .send()
                    .await?,
            )
            .await?;
            if !grounded["sources"].as_array().is_none_or(Vec::is_empty) {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the note was never found");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let started = Instant::now();
        json_ok(
            http.post(format!("{base}/api/v1/rfcs/{id}/draft"))
                .bearer_auth(&token)
                .json(&json!({}))
                .send()
                .await?,
        )
        .await?;
        let mut last = started;
        // Other frames keep coming (job events, pings): the draft as a whole has a deadline.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let frame = tokio::time::timeout_at(deadline, socket.next())
                .await
                .map_err(|_| anyhow::anyhow!("draft {i} (RFC {id}) did not finish in 60 s"))?
                .ok_or_else(|| anyhow::anyhow!("the socket closed"))??;
            let Message::Text(text) = frame else { continue };
            let Ok(WsFrame::Event(event)) = serde_json::from_str::<WsFrame>(&text) else {
                continue;
            };
            let Some(d) = event.rfc_draft() else { continue };
            if d.rfc_id != id || d.state != SectionState::Done {
                continue;
            }
            per_section.push(last.elapsed());
            last = Instant::now();
            if d.index == d.total {
                per_draft.push(started.elapsed());
                break;
            }
        }
    }
    println!("drafts: {} of 9 sections each, instant model", args.drafts);
    if let Some(s) = Summary::of(per_section) {
        println!("per section (first includes the outline): {s}");
    }
    if let Some(s) = Summary::of(per_draft) {
        println!("whole draft: {s}");
    }
    Ok(())
}
