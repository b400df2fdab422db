//! Two-level cache for services (server fns never touch it).
//!
//! Level 1 is moka in this process; level 2 is Redis when configured, shared by all
//! instances. `get_or_load` is single-flight: concurrent misses on one key run the loader
//! once. Invalidation removes the key from both levels and, through Redis pub/sub, from every
//! other instance's level 1. If Redis is down the cache keeps working on level 1 and the
//! loader, logging a warning; users never see an error from the cache.

use crate::errors::internal;
use crate::redis_conn::RedisConn;
use model::error::AppError;
use moka::Expiry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const REDIS_PREFIX: &str = "bp:cache:";
const INVALIDATION_CHANNEL: &str = "bp:cache:invalidate";

/// Whose data a cache entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyScope {
    /// The same for everyone.
    Global,
    /// One user's data: never served to anyone else.
    User(i64),
}

/// A cache key: namespace, scope and id. Its string form is what both levels store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    namespace: &'static str,
    scope: KeyScope,
    id: String,
}

impl CacheKey {
    /// A key shared by all users.
    pub fn global(namespace: &'static str, id: impl Into<String>) -> Self {
        Self { namespace, scope: KeyScope::Global, id: id.into() }
    }

    /// A key for one user's data.
    pub fn user(namespace: &'static str, user_id: i64, id: impl Into<String>) -> Self {
        Self { namespace, scope: KeyScope::User(user_id), id: id.into() }
    }

    /// The namespace (used as a metrics label).
    pub fn namespace(&self) -> &'static str {
        self.namespace
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            KeyScope::Global => write!(f, "{}:g:{}", self.namespace, self.id),
            KeyScope::User(u) => write!(f, "{}:u{}:{}", self.namespace, u, self.id),
        }
    }
}

#[derive(Clone)]
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Hit and miss counts since start, by level.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Served from this process.
    pub l1_hits: AtomicU64,
    /// Served from Redis.
    pub l2_hits: AtomicU64,
    /// Loaded from the source.
    pub misses: AtomicU64,
}

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Entries kept in level 1.
    pub max_entries: u64,
    /// Upper bound on level-1 lifetime when Redis is shared, so an instance that missed an
    /// invalidation message is stale for at most this long.
    pub l1_max_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { max_entries: 10_000, l1_max_ttl: Duration::from_secs(30) }
    }
}

/// The two-level cache. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    l1: moka::future::Cache<String, Entry>,
    redis: Option<RedisConn>,
    config: CacheConfig,
    stats: Arc<CacheStats>,
}

impl Cache {
    /// A cache on level 1 only, or with Redis as level 2 (and its invalidation listener).
    pub fn new(config: CacheConfig, redis: Option<RedisConn>) -> Self {
        let l1 = moka::future::Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        let cache = Self { l1, redis, config, stats: Arc::new(CacheStats::default()) };
        if let Some(redis) = cache.redis.clone() {
            let l1 = cache.l1.clone();
            // Drops keys other instances invalidated. While the subscription is down, level-1
            // entries still age out within `l1_max_ttl`.
            redis.subscribe_forever(INVALIDATION_CHANNEL, "cache invalidation", move |key| {
                let l1 = l1.clone();
                async move { l1.invalidate(&key).await }
            });
        }
        cache
    }

    /// Counters since start.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The value under `key`, loading it with `load` on a miss and keeping it for `ttl`.
    /// Concurrent misses on one key share one load. Errors from `load` are returned and
    /// nothing is cached.
    pub async fn get_or_load<T, F, Fut>(
        &self,
        key: &CacheKey,
        ttl: Duration,
        load: F,
    ) -> Result<T, AppError>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, AppError>>,
    {
        let k = key.to_string();
        let ns = key.namespace();
        let l1_ttl = if self.redis.is_some() { ttl.min(self.config.l1_max_ttl) } else { ttl };
        let loaded_here = std::sync::atomic::AtomicBool::new(false);
        let result = self
            .l1
            .try_get_with(k.clone(), async {
                loaded_here.store(true, Ordering::Relaxed);
                if let Some(value) = self.l2_get::<T>(&k).await {
                    self.stats.l2_hits.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("cache_hits_total", "level" => "l2", "namespace" => ns)
                        .increment(1);
                    return Ok(Entry { value: Arc::new(value), ttl: l1_ttl });
                }
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("cache_misses_total", "namespace" => ns).increment(1);
                let value = load().await?;
                self.l2_set(&k, &value, ttl).await;
                Ok::<_, AppError>(Entry { value: Arc::new(value), ttl: l1_ttl })
            })
            .await;
        match result {
            Ok(entry) => {
                if !loaded_here.load(Ordering::Relaxed) {
                    self.stats.l1_hits.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("cache_hits_total", "level" => "l1", "namespace" => ns)
                        .increment(1);
                }
                match entry.value.downcast_ref::<T>() {
                    Some(v) => Ok(v.clone()),
                    None => {
                        // Two types under one key is a bug; drop the entry so the next call reloads.
                        self.l1.invalidate(&k).await;
                        Err(internal(format!("cache key {k} holds a value of another type")))
                    }
                }
            }
            // Every waiter of a failed single-flight load gets the same error.
            Err(shared) => Err(Arc::unwrap_or_clone(shared)),
        }
    }

    /// The value under `key` if either level holds one (a level-2 hit is copied to level 1
    /// for at most `ttl`). Never loads.
    pub async fn get<T>(&self, key: &CacheKey, ttl: Duration) -> Option<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let k = key.to_string();
        let ns = key.namespace();
        if let Some(entry) = self.l1.get(&k).await
            && let Some(v) = entry.value.downcast_ref::<T>()
        {
            self.stats.l1_hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("cache_hits_total", "level" => "l1", "namespace" => ns).increment(1);
            return Some(v.clone());
        }
        if let Some(value) = self.l2_get::<T>(&k).await {
            self.stats.l2_hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("cache_hits_total", "level" => "l2", "namespace" => ns).increment(1);
            let l1_ttl = ttl.min(self.config.l1_max_ttl);
            self.l1.insert(k, Entry { value: Arc::new(value.clone()), ttl: l1_ttl }).await;
            return Some(value);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("cache_misses_total", "namespace" => ns).increment(1);
        None
    }

    /// Stores `value` under `key` in both levels for `ttl`.
    pub async fn put<T>(&self, key: &CacheKey, value: T, ttl: Duration)
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        let k = key.to_string();
        self.l2_set(&k, &value, ttl).await;
        let l1_ttl = if self.redis.is_some() { ttl.min(self.config.l1_max_ttl) } else { ttl };
        self.l1.insert(k, Entry { value: Arc::new(value), ttl: l1_ttl }).await;
    }

    /// Removes `key` from both levels and from every other instance's level 1.
    pub async fn invalidate(&self, key: &CacheKey) {
        let k = key.to_string();
        self.l1.invalidate(&k).await;
        if let Some(redis) = &self.redis {
            let _: Option<i64> =
                redis.run(redis::cmd("DEL").arg(format!("{REDIS_PREFIX}{k}"))).await;
            redis.publish(INVALIDATION_CHANNEL, &k).await;
        }
    }

    async fn l2_get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let redis = self.redis.as_ref()?;
        let raw: Option<Vec<u8>> =
            redis.run(redis::cmd("GET").arg(format!("{REDIS_PREFIX}{key}"))).await?;
        serde_json::from_slice(&raw?).ok()
    }

    async fn l2_set<T: Serialize>(&self, key: &str, value: &T, ttl: Duration) {
        let Some(redis) = &self.redis else { return };
        let Ok(bytes) = serde_json::to_vec(value) else { return };
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let _: Option<String> = redis
            .run(redis::cmd("SET").arg(format!("{REDIS_PREFIX}{key}")).arg(bytes).arg("PX").arg(ms))
            .await;
    }
}
