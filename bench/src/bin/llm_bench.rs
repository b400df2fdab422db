//! Gateway overhead: streamed chat calls straight to a local OpenAI-compatible mock versus the
//! same calls through the gateway (route, price, reserve, settle, ledger) on SQLite or
//! PostgreSQL, at 1, 64 and 256 concurrent streams; then budget-status reads with a warm cache.
//!
//! `cargo run -p bench --release --bin llm_bench -- --backend sqlite`

use bench::{BenchDb, Summary};
use clap::Parser;
use domain::cache::{Cache, CacheConfig};
use domain::llm::{
    Caller, ChatRequest, Gateway, GatewaySettings, Limit, Message, Period, Price, Provider,
    ProviderConfig, ProviderKind, Role, Target, build_provider,
};
use domain::store::{self, DynStore, NewUserRow, PoolOptions};
use futures::StreamExt;
use model::Scopes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Maintenance database of the PostgreSQL server.
    #[arg(long, env = "BP_TEST_PG_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Streams per concurrency level.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Deltas per streamed answer.
    #[arg(long, default_value_t = 20)]
    chunks: usize,
}

/// A minimal OpenAI-compatible streaming server on a random port.
async fn mock(chunks: usize) -> anyhow::Result<String> {
    let mut body = String::new();
    for i in 0..chunks {
        body.push_str(&format!(
            "data: {}\n\n",
            serde_json::json!({ "choices": [{ "index": 0, "delta": { "content": format!("tok{i} ") }, "finish_reason": null }] })
        ));
    }
    body.push_str(&format!(
        "data: {}\n\n",
        serde_json::json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] })
    ));
    body.push_str(&format!("data: {}\n\n", serde_json::json!({ "choices": [], "usage": { "prompt_tokens": 20, "completion_tokens": chunks } })));
    body.push_str("data: [DONE]\n\n");
    let body: Arc<str> = body.into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            let body = body.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                // Keep-alive: answer every request on the connection.
                loop {
                    let n = match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    seen.extend_from_slice(&buf[..n]);
                    let Some(head_end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if seen.len() < head_end + 4 + length {
                        continue;
                    }
                    seen.drain(..head_end + 4 + length);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{}",
                        body.len(),
                        body
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(format!("http://{addr}/v1"))
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![Message::new(Role::User, "Write a haiku about queues.")],
        max_tokens: 64,
        temperature: None,
    }
}

async fn drain(mut s: domain::llm::ChatStream) -> anyhow::Result<()> {
    while let Some(item) = s.next().await {
        item?;
    }
    Ok(())
}

async fn run_level<F, Fut>(
    concurrency: usize,
    requests: usize,
    call: F,
) -> anyhow::Result<(Summary, f64)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let mut workers = Vec::new();
    let per = requests.div_ceil(concurrency);
    for w in 0..concurrency {
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                call(w * per + i).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((Summary::of(all).ok_or_else(|| anyhow::anyhow!("no samples"))?, rate))
}

async fn users(store: &DynStore, n: usize) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for i in 0..n {
        let row = NewUserRow {
            email: format!("bench{i}@bench.example.com"),
            display_name: format!("Bench {i}"),
            password_hash: "x".into(),
            scopes: Scopes::new([]),
            first_user_scopes: None,
            created_at: chrono::Utc::now(),
        };
        ids.push(store.create_user(row).await?.id);
    }
    Ok(ids)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = match args.backend.as_str() {
        "postgres" => BenchDb::postgres(&args.pg_url).await?,
        _ => BenchDb::sqlite(),
    };
    let result = run(&args, &db.url).await;
    db.drop_db().await;
    result
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let base = mock(args.chunks).await?;
    let mut config = ProviderConfig::new("mock", ProviderKind::OpenAi, &base);
    config.timeout = Duration::from_secs(30);
    let provider: Arc<dyn Provider> = build_provider(config)?;
    let store =
        store::connect(url, &PoolOptions { max_connections: 32, ..PoolOptions::default() }).await?;
    let ids = Arc::new(users(&store, 256).await?);
    let cache =
        Cache::new(CacheConfig { max_entries: 100_000, l1_max_ttl: Duration::from_secs(30) }, None);
    let settings = GatewaySettings {
        reservation_lease: std::time::Duration::from_secs(120),
        urls: domain::outbound::UrlPolicy::PRIVATE_TOO,
        timezone: chrono_tz::UTC,
        default_user_budget: Limit { nanos: 1_000_000_000_000, period: Period::Monthly },
        global_budget: Some(Limit { nanos: 1_000_000_000_000_000, period: Period::Monthly }),
        default_price: Price::default(),
        alert_thresholds: vec![80, 95, 100],
        routes: HashMap::from([(
            "default".into(),
            vec![Target { provider: "mock".into(), model: "gpt-4o-mini".into() }],
        )]),
        strategy: model::Strategy::Priority,
        private_features: Vec::new(),
        // Every call of the bench is the same request: measure the gateway, not its cache.
        answer_cache: domain::llm::AnswerCacheSettings::default(),
        rate_limits: domain::llm::RateLimits::default(),
        secrets: None,
    };
    let gateway =
        Gateway::new(store.clone(), None, Some(cache), None, vec![provider.clone()], settings);
    println!(
        "llm_bench: {} streams per level, {} deltas each, backend {}",
        args.requests, args.chunks, args.backend
    );
    println!(
        "{:>12} {:>6} {:>10} {:>10} {:>10} {:>12}",
        "path", "conc", "p50 ms", "p99 ms", "max ms", "streams/s"
    );
    for concurrency in [1, 64, 256] {
        let p = provider.clone();
        let (direct, direct_rate) = run_level(concurrency, args.requests, move |_| {
            let p = p.clone();
            async move { drain(p.chat_stream(&request()).await?).await }
        })
        .await?;
        let (g, ids2) = (gateway.clone(), ids.clone());
        let (via, via_rate) = run_level(concurrency, args.requests, move |i| {
            let (g, ids) = (g.clone(), ids2.clone());
            async move {
                let caller = Caller {
                    user_id: ids[i % ids.len()],
                    feature: "bench".into(),
                    request_id: None,
                    rfc_id: None,
                };
                let stream = g
                    .chat_stream(&caller, request().messages, 64)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let mut stream = stream;
                while let Some(item) = stream.next().await {
                    item.map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                anyhow::Ok(())
            }
        })
        .await?;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:>12} {:>6} {:>10.2} {:>10.2} {:>10.2} {:>12.0}",
            "direct",
            concurrency,
            ms(direct.p50),
            ms(direct.p99),
            ms(direct.max),
            direct_rate
        );
        println!(
            "{:>12} {:>6} {:>10.2} {:>10.2} {:>10.2} {:>12.0}",
            "gateway",
            concurrency,
            ms(via.p50),
            ms(via.p99),
            ms(via.max),
            via_rate
        );
    }
    // Let the last settlements land, then read budget status with a warm cache.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in ids.iter() {
        domain::service::usage::budget_status(&gateway, *id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let g = gateway.clone();
    let (status, rate) = run_level(64, 100_000, move |i| {
        let (g, ids) = (g.clone(), ids.clone());
        async move {
            domain::service::usage::budget_status(&g, ids[i % ids.len()])
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::Ok(())
        }
    })
    .await?;
    println!("budget status, warm cache, 64 concurrent readers: {rate:.0} reads/s, {status}");
    Ok(())
}
