//! Fixed-window rate limits. With Redis the counters are shared by every instance (one atomic
//! Lua script per hit); without it, or while Redis is down, each instance counts for itself.

use crate::redis_conn::RedisConn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A limit: at most `max` hits per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Hits allowed per window.
    pub max: u32,
    /// Window length.
    pub window: Duration,
}

/// The limit was reached: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, at least 1, for a `Retry-After` header.
    pub fn secs(&self) -> i64 {
        i64::try_from(self.0.as_millis().div_ceil(1000)).unwrap_or(i64::MAX).max(1)
    }
}

const HIT_SCRIPT: &str = r"
local c = redis.call('INCRBY', KEYS[1], ARGV[2])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {c, ttl}
";

#[derive(Clone)]
struct Window {
    started: Instant,
    count: Arc<AtomicU32>,
}

/// One named limiter (e.g. sign-ins per IP).
#[derive(Clone)]
pub struct RateLimiter {
    name: &'static str,
    limit: Limit,
    local: moka::future::Cache<String, Window>,
    redis: Option<RedisConn>,
    script: Arc<redis::Script>,
}

impl RateLimiter {
    /// A limiter; `name` prefixes its keys and labels its metrics.
    pub fn new(name: &'static str, limit: Limit, redis: Option<RedisConn>) -> Self {
        let local =
            moka::future::Cache::builder().time_to_live(limit.window).max_capacity(100_000).build();
        Self { name, limit, local, redis, script: Arc::new(redis::Script::new(HIT_SCRIPT)) }
    }

    /// The limit this limiter enforces.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Counts one hit for `key`; refuses once the window's budget is spent.
    pub async fn hit(&self, key: &str) -> Result<(), RetryAfter> {
        self.hit_max(key, self.limit.max).await
    }

    /// Counts one hit for `key` against `max` instead of the limiter's own (per-feature limits).
    pub async fn hit_max(&self, key: &str, max: u32) -> Result<(), RetryAfter> {
        let (count, remaining) = self.count(key, 1).await;
        if count > max {
            metrics::counter!("rate_limited_total", "limiter" => self.name).increment(1);
            return Err(RetryAfter(remaining));
        }
        Ok(())
    }

    /// Checks without counting: refuses if the budget is already spent.
    pub async fn check(&self, key: &str) -> Result<(), RetryAfter> {
        self.check_max(key, self.limit.max).await
    }

    /// Checks without counting against `max`.
    pub async fn check_max(&self, key: &str, max: u32) -> Result<(), RetryAfter> {
        let (count, remaining) = self.count(key, 0).await;
        if count >= max {
            metrics::counter!("rate_limited_total", "limiter" => self.name).increment(1);
            return Err(RetryAfter(remaining));
        }
        Ok(())
    }

    /// The hits counted for `key` in its current window.
    pub async fn current(&self, key: &str) -> u32 {
        self.count(key, 0).await.0
    }

    /// Adds `amount` to `key`'s window without checking (e.g. tokens a call used).
    pub async fn add(&self, key: &str, amount: u32) {
        if amount > 0 {
            self.count(key, amount).await;
        }
    }

    /// Forgets `key` (e.g. after a successful sign-in).
    pub async fn reset(&self, key: &str) {
        let full = format!("bp:rl:{}:{key}", self.name);
        if let Some(redis) = &self.redis {
            let _: Option<i64> = redis.run(redis::cmd("DEL").arg(&full)).await;
        }
        self.local.invalidate(&full).await;
    }

    async fn count(&self, key: &str, add: u32) -> (u32, Duration) {
        let full = format!("bp:rl:{}:{key}", self.name);
        let window_ms = i64::try_from(self.limit.window.as_millis()).unwrap_or(i64::MAX);
        if let Some(redis) = &self.redis {
            let shared: Option<(i64, i64)> = if add > 0 {
                redis.run_script(&self.script, &[&full], &[window_ms, i64::from(add)]).await
            } else {
                let c: Option<Option<i64>> = redis.run(redis::cmd("GET").arg(&full)).await;
                let t: Option<i64> = redis.run(redis::cmd("PTTL").arg(&full)).await;
                c.zip(t).map(|(c, t)| (c.unwrap_or(0), t.max(0)))
            };
            if let Some((c, ttl)) = shared {
                let c = u32::try_from(c.max(0)).unwrap_or(u32::MAX);
                return (c, Duration::from_millis(u64::try_from(ttl.max(0)).unwrap_or(0)));
            }
        }
        let window = self
            .local
            .get_with(full, async {
                Window { started: Instant::now(), count: Arc::new(AtomicU32::new(0)) }
            })
            .await;
        let c = if add > 0 {
            window.count.fetch_add(add, Ordering::SeqCst).saturating_add(add)
        } else {
            window.count.load(Ordering::SeqCst)
        };
        (c, self.limit.window.saturating_sub(window.started.elapsed()))
    }
}
