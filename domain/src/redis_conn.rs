//! The optional Redis connection. Start-up never waits for Redis: a background task connects
//! and the connection manager reconnects by itself. Callers get `None` while Redis is not
//! there and fall back to in-process state, logging a warning at most every few seconds.
//!
//! A circuit breaker keeps an outage from costing requests time: after
//! [`FAILURES_TO_OPEN`] failed commands in a row it opens, and every command answers `None` at
//! once, without touching the network. While open, one background task pings Redis every
//! [`PROBE_EVERY`]; the first answer closes the breaker.

use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one Redis command may take before we give up and fall back.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// Failed commands in a row that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 2;

/// How often an open breaker probes Redis.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// A cheap-to-clone handle on the shared Redis, if one is configured.
#[derive(Clone)]
pub struct RedisConn {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    last_warning_ms: AtomicI64,
    /// Failed commands since the last success.
    failures: AtomicU32,
    /// Whether the breaker is open (commands skip Redis; a probe task runs).
    open: AtomicBool,
}

impl RedisConn {
    /// Parses the URL and starts connecting in the background.
    pub fn start(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("redis.url is not a valid Redis URL: {e}"))?;
        let conn = Self {
            inner: Arc::new(Inner {
                client,
                manager: OnceCell::new(),
                last_warning_ms: AtomicI64::new(0),
                failures: AtomicU32::new(0),
                open: AtomicBool::new(false),
            }),
        };
        let bg = conn.clone();
        tokio::spawn(async move { bg.connect_loop().await });
        Ok(conn)
    }

    async fn connect_loop(&self) {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        loop {
            match self.inner.client.get_connection_manager_with_config(config.clone()).await {
                Ok(manager) => {
                    let _ = self.inner.manager.set(manager);
                    tracing::info!("connected to Redis");
                    return;
                }
                Err(e) => {
                    self.warn(&format!("Redis is not reachable yet: {e}"));
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }

    /// The connection, once established and while the breaker is closed.
    pub fn manager(&self) -> Option<ConnectionManager> {
        if self.is_open() {
            return None;
        }
        self.inner.manager.get().cloned()
    }

    /// Whether the breaker is open: Redis failed and commands are skipped until a probe
    /// answers.
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Acquire)
    }

    fn succeeded(&self) {
        self.inner.failures.store(0, Ordering::Relaxed);
    }

    /// A command failed: only a transport failure (I/O, timeout, dropped or refused
    /// connection) counts toward opening the breaker — Redis answering with an error (a bad
    /// argument a client sent, a type mismatch) means it is up.
    fn answered_with(&self, e: &redis::RedisError) {
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            self.failed(&e.to_string());
        } else {
            self.succeeded();
            self.warn(&e.to_string());
        }
    }

    fn failed(&self, message: &str) {
        self.warn(message);
        let failures = self.inner.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= FAILURES_TO_OPEN
            && self
                .inner
                .open
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            tracing::warn!("Redis circuit open: serving from local state until it answers again");
            metrics::counter!("redis_breaker_opened_total").increment(1);
            let probe = self.clone();
            tokio::spawn(async move { probe.probe_until_closed().await });
        }
    }

    async fn probe_until_closed(&self) {
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            if self.ping_raw().await.is_ok() {
                self.inner.failures.store(0, Ordering::Relaxed);
                self.inner.open.store(false, Ordering::Release);
                tracing::info!("Redis answers again: circuit closed");
                return;
            }
        }
    }

    /// Waits up to `timeout` for the first connection (for readiness and tests).
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.inner.manager.initialized() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.inner.manager.initialized()
    }

    /// The client, for dedicated connections such as pub/sub.
    pub fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    /// Logs a warning, at most once every 10 s, so a Redis outage does not flood the log.
    pub fn warn(&self, message: &str) {
        let now = chrono::Utc::now().timestamp_millis();
        let last = self.inner.last_warning_ms.load(Ordering::Relaxed);
        if now - last >= 10_000
            && self
                .inner
                .last_warning_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %message, "Redis unavailable; serving from local state");
        }
    }

    /// Sends PING; for readiness checks. Fails at once while the breaker is open.
    pub async fn ping(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.is_open(), "circuit open after failed commands");
        self.ping_raw().await
    }

    async fn ping_raw(&self) -> anyhow::Result<()> {
        let Some(mut manager) = self.inner.manager.get().cloned() else {
            anyhow::bail!("not connected");
        };
        let pong: String =
            tokio::time::timeout(COMMAND_TIMEOUT, redis::cmd("PING").query_async(&mut manager))
                .await
                .map_err(|_| anyhow::anyhow!("PING timed out"))??;
        anyhow::ensure!(pong == "PONG", "unexpected PING answer");
        Ok(())
    }

    /// Runs one command with the standard timeout; `None` (and a warning) on any failure.
    pub async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut manager = self.manager()?;
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<T>(&mut manager)).await {
            Ok(Ok(v)) => {
                self.succeeded();
                Some(v)
            }
            Ok(Err(e)) => {
                self.answered_with(&e);
                None
            }
            Err(_) => {
                self.failed("command timed out");
                None
            }
        }
    }

    /// Runs a Lua script with the standard timeout; `None` (and a warning) on any failure.
    pub async fn run_script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[&str],
        args: &[i64],
    ) -> Option<T> {
        let mut manager = self.manager()?;
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, inv.invoke_async::<T>(&mut manager)).await {
            Ok(Ok(v)) => {
                self.succeeded();
                Some(v)
            }
            Ok(Err(e)) => {
                self.answered_with(&e);
                None
            }
            Err(_) => {
                self.failed("script timed out");
                None
            }
        }
    }

    /// Delivers every message published on `channel` to `handle`, from a task that resubscribes
    /// forever (2 s after a lost subscription; `what` names it in the warning). Messages
    /// published while the subscription is down are lost, so callers must tolerate that.
    pub fn subscribe_forever<F, Fut>(
        &self,
        channel: &'static str,
        what: &'static str,
        mut handle: F,
    ) where
        F: FnMut(String) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let redis = self.clone();
        tokio::spawn(async move {
            loop {
                match redis.client().get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(channel).await.is_ok() {
                            let mut messages = pubsub.on_message();
                            while let Some(msg) = messages.next().await {
                                if let Ok(payload) = msg.get_payload::<String>() {
                                    handle(payload).await;
                                }
                            }
                        }
                        redis.warn(&format!("{what} subscription lost"));
                    }
                    Err(e) => redis.warn(&format!("{what} subscription failed: {e}")),
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }

    /// Publishes `payload` on `channel`; a failure only logs (subscribers must tolerate loss).
    pub async fn publish(&self, channel: &str, payload: &str) {
        let _: Option<i64> = self.run(redis::cmd("PUBLISH").arg(channel).arg(payload)).await;
    }
}
