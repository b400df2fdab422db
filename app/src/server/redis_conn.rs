//! The optional Redis connection. Start-up never waits for Redis: a background task connects
//! and the connection manager reconnects by itself. Callers get `None` while Redis is not
//! there and fall back to in-process state, logging a warning at most every few seconds.

use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one Redis command may take before we give up and fall back.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// A cheap-to-clone handle on the shared Redis, if one is configured.
#[derive(Clone)]
pub struct RedisConn {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    last_warning_ms: AtomicI64,
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

    /// The connection, once established.
    pub fn manager(&self) -> Option<ConnectionManager> {
        self.inner.manager.get().cloned()
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

    /// Sends PING; for readiness checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let Some(mut manager) = self.manager() else {
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
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.warn(&e.to_string());
                None
            }
            Err(_) => {
                self.warn("command timed out");
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
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.warn(&e.to_string());
                None
            }
            Err(_) => {
                self.warn("script timed out");
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
