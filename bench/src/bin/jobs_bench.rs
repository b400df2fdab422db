//! Job queue load: no-op job throughput (jobs/s) with a backlog, and enqueue-to-start latency
//! at a steady rate, on SQLite and PostgreSQL, through the real store and runner.
//!
//! `cargo run -p bench --release --bin jobs_bench -- --jobs 20000 --concurrency 8`

use bench::{BenchDb, Summary};
use clap::Parser;
use domain::jobs::{JobContext, JobError, JobRegistry, JobRunner, KindConfig, RunnerConfig};
use domain::store::{self, DynStore, NewJob, PoolOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser, Debug)]
struct Args {
    /// Backlog size for the throughput run.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Workers per kind.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Jobs for the latency run.
    #[arg(long, default_value_t = 2_000)]
    latency_jobs: usize,
    /// Enqueue rate of the latency run, jobs per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Maintenance database of the PostgreSQL server (a fresh database is made beside it).
    #[arg(long, env = "BP_TEST_PG_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Which backends: sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
}

const NOOP: &str = "bench.noop";
const PROBE: &str = "bench.probe";

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "jobs_bench: backlog {} no-op jobs, {} workers; latency: {} jobs at {}/s",
        args.jobs, args.concurrency, args.latency_jobs, args.rate
    );
    for backend in ["sqlite", "postgres"] {
        if args.backend != "both" && args.backend != backend {
            continue;
        }
        let db = match backend {
            "sqlite" => BenchDb::sqlite(),
            _ => BenchDb::postgres(&args.pg_url).await?,
        };
        let result = run(&args, &db.url).await;
        db.drop_db().await;
        let (throughput, latency) = result?;
        println!("{backend:>8}: throughput {throughput:.0} jobs/s");
        println!("{backend:>8}: enqueue-to-start {latency}");
    }
    Ok(())
}

async fn run(args: &Args, url: &str) -> anyhow::Result<(f64, Summary)> {
    let pool = PoolOptions {
        max_connections: (args.concurrency as u32 * 2).max(10),
        ..PoolOptions::default()
    };
    let store = store::connect(url, &pool).await?;

    // Throughput: fill the backlog first, then time the runner draining it.
    let now = chrono::Utc::now();
    let mut batch = futures::stream::FuturesUnordered::new();
    for i in 0..args.jobs {
        let store = store.clone();
        batch.push(async move {
            store.enqueue_job(NewJob::new(NOOP, serde_json::json!({ "i": i }), now)).await
        });
        if batch.len() >= 16 {
            use futures::StreamExt;
            if let Some(r) = batch.next().await {
                r?;
            }
        }
    }
    {
        use futures::StreamExt;
        while let Some(r) = batch.next().await {
            r?;
        }
    }
    let samples = Arc::new(Mutex::new(Vec::with_capacity(args.latency_jobs)));
    let registry = registry(args.concurrency, samples.clone());
    let (events, _) = tokio::sync::broadcast::channel(16);
    let config =
        RunnerConfig { poll_interval: Duration::from_millis(500), ..RunnerConfig::default() };
    let started = Instant::now();
    let runner = JobRunner::start(store.clone(), registry, config, events);
    wait_succeeded(&store, NOOP, args.jobs as i64).await?;
    let throughput = args.jobs as f64 / started.elapsed().as_secs_f64();

    // Latency: one job at a time at a steady rate, waking the idle workers like a service does.
    let notifier = runner.notifier();
    let every = Duration::from_micros(1_000_000 / args.rate.max(1));
    let mut tick = tokio::time::interval(every);
    for _ in 0..args.latency_jobs {
        tick.tick().await;
        let job = NewJob::new(PROBE, serde_json::json!({ "t": now_us() }), chrono::Utc::now());
        store.enqueue_job(job).await?;
        notifier.notify_enqueued();
    }
    wait_succeeded(&store, PROBE, args.latency_jobs as i64).await?;
    runner.shutdown(Duration::from_secs(5)).await;
    let samples = std::mem::take(&mut *samples.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let summary = Summary::of(samples).ok_or_else(|| anyhow::anyhow!("no latency samples"))?;
    Ok((throughput, summary))
}

fn registry(concurrency: usize, samples: Arc<Mutex<Vec<Duration>>>) -> JobRegistry {
    let mut registry = JobRegistry::new();
    let config = KindConfig { concurrency, ..KindConfig::default() };
    registry.register(NOOP, config.clone(), |_ctx: JobContext, _payload| async {
        Ok::<_, JobError>(serde_json::Value::Null)
    });
    registry.register(PROBE, config, move |_ctx: JobContext, payload: serde_json::Value| {
        let samples = samples.clone();
        async move {
            let waited = (now_us() - payload["t"].as_i64().unwrap_or(0)).max(0);
            if let Ok(mut s) = samples.lock() {
                s.push(Duration::from_micros(waited as u64));
            }
            Ok::<_, JobError>(serde_json::Value::Null)
        }
    });
    registry
}

async fn wait_succeeded(store: &DynStore, kind: &str, want: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let stats = store.queue_stats(chrono::Utc::now()).await?;
        let done = stats
            .iter()
            .find(|s| s.kind == kind && s.state == model::JobState::Succeeded)
            .map_or(0, |s| s.count);
        if done >= want {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{kind}: only {done} of {want} jobs finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
