//! WebSocket fan-out load against a real server process: hold many authenticated connections,
//! then start a demo job per user and measure how long each job event takes from publication
//! on the server to arrival at every one of the user's connections; report the server's
//! memory before and at that load.
//!
//! `cargo run -p bench --release --bin ws_bench -- --server-bin target/release/blueprint \
//!   --connections 10000 --users 100`

use bench::{BenchDb, Summary, rss_kib};
use clap::Parser;
use futures::StreamExt;
use model::{LiveEvent, WsFrame};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Parser, Debug)]
struct Args {
    /// The server binary (built with `cargo leptos build --release`).
    #[arg(long, default_value = "target/release/blueprint")]
    server_bin: String,
    /// Connections to hold.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Users they belong to (spread evenly).
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Demo job steps per user (each step is a progress event).
    #[arg(long, default_value_t = 8)]
    steps: u32,
}

struct Server {
    child: std::process::Child,
    base: String,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = BenchDb::sqlite();
    let result = run(&args, &db.url).await;
    db.drop_db().await;
    result
}

async fn start_server(bin: &str, db_url: &str) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = std::process::Command::new(bin)
        .env("BLUEPRINT_SERVER__ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", db_url)
        .env("BLUEPRINT_LOG__LEVEL", "warn")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("could not start {bin}: {e} (build it first)"))?;
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), port };
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

async fn run(args: &Args, db_url: &str) -> anyhow::Result<()> {
    let server = start_server(&args.server_bin, db_url).await?;
    let pid = server.child.id();
    let client = reqwest::Client::new();
    let idle_kib = rss_kib(pid).unwrap_or(0);

    // Users, registered a few at a time (argon2id makes each take a while).
    let mut tokens = Vec::with_capacity(args.users);
    let mut pending = futures::stream::iter(0..args.users)
        .map(|i| {
            let client = client.clone();
            let url = format!("{}/api/v1/auth/register", server.base);
            async move {
                let body = serde_json::json!({
                    "email": format!("bench{i}@bench.example.com"),
                    "password": "bench password 1234",
                    "display_name": format!("Bench {i}"),
                });
                let res = client.post(url).json(&body).send().await?;
                anyhow::ensure!(res.status().is_success(), "register: {}", res.status());
                let v: serde_json::Value = res.json().await?;
                v["access_token"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow::anyhow!("no token"))
            }
        })
        .buffer_unordered(4);
    while let Some(t) = pending.next().await {
        tokens.push(t?);
    }

    // Connections, 200 handshakes at a time; each reader reports job event latencies.
    let (tx, mut rx) = mpsc::unbounded_channel::<Duration>();
    let completed = Arc::new(AtomicUsize::new(0));
    let opened = Instant::now();
    let mut connects = futures::stream::iter(0..args.connections)
        .map(|i| {
            let token = tokens[i % tokens.len()].clone();
            let port = server.port;
            async move {
                let mut req = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
                req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
                let (socket, _) = tokio_tungstenite::connect_async(req).await?;
                anyhow::Ok(socket)
            }
        })
        .buffer_unordered(200);
    let mut held = 0usize;
    while let Some(socket) = connects.next().await {
        let mut socket = socket?;
        held += 1;
        let tx = tx.clone();
        let completed = completed.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = socket.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(WsFrame::Event(LiveEvent { at, topic, data, .. })) =
                    serde_json::from_str::<WsFrame>(&text)
                else {
                    continue;
                };
                if topic != "job" {
                    continue;
                }
                let lag = (chrono::Utc::now() - at).to_std().unwrap_or_default();
                let _ = tx.send(lag);
                if data["event"] == "completed" {
                    completed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let connect_secs = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded_kib = rss_kib(pid).unwrap_or(0);

    // One demo job per user: every event goes to all of that user's connections.
    let started = Instant::now();
    for token in &tokens {
        let res = client
            .post(format!("{}/api/v1/jobs/demo", server.base))
            .bearer_auth(token)
            .json(&serde_json::json!({ "steps": args.steps, "step_ms": 250 }))
            .send()
            .await?;
        anyhow::ensure!(res.status().as_u16() == 202, "start job: {}", res.status());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while completed.load(Ordering::Relaxed) < held && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let busy_kib = rss_kib(pid).unwrap_or(0);
    let fan_secs = started.elapsed().as_secs_f64();
    drop(tx);
    let mut lags = Vec::new();
    while let Ok(lag) = rx.try_recv() {
        lags.push(lag);
    }
    let done = completed.load(Ordering::Relaxed);
    println!(
        "ws_bench: {held} connections for {} users, opened in {connect_secs:.1} s",
        tokens.len()
    );
    println!(
        "  server RSS: idle {} MiB, holding connections {} MiB ({:.1} KiB per connection), during fan-out {} MiB",
        idle_kib / 1024,
        loaded_kib / 1024,
        (loaded_kib.saturating_sub(idle_kib)) as f64 / held.max(1) as f64,
        busy_kib / 1024
    );
    println!(
        "  events delivered: {} in {fan_secs:.1} s; connections that saw their job complete: {done} of {held}",
        lags.len()
    );
    if let Some(s) = Summary::of(lags) {
        println!("  push latency (publish to arrival): {s}");
    }
    anyhow::ensure!(done == held, "{} connections missed the completion", held - done);
    Ok(())
}
