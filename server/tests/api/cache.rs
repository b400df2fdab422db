//! The two-level cache against a real Redis at 127.0.0.1:6379 (`BP_TEST_REDIS_URL` overrides).
//! Two `Cache` values sharing one Redis stand for two instances of the app.

use domain::cache::{Cache, CacheConfig, CacheKey};
use domain::redis_conn::RedisConn;
use model::error::AppError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(60);

pub fn redis_url() -> String {
    std::env::var("BP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A connection to the test Redis; fails the test if Redis is not there.
pub async fn redis() -> RedisConn {
    let conn = RedisConn::start(&redis_url()).expect("valid Redis URL");
    assert!(
        conn.wait_connected(Duration::from_secs(5)).await,
        "Redis must be running at {}",
        redis_url()
    );
    conn
}

async fn instance() -> Cache {
    Cache::new(CacheConfig::default(), Some(redis().await))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A loader that counts its calls and returns `value`.
async fn counted(calls: &AtomicU32, value: String) -> Result<String, AppError> {
    calls.fetch_add(1, Ordering::SeqCst);
    Ok(value)
}

/// Waits until `b` has subscribed to invalidations, by invalidating a probe key on `a` until `b`
/// drops it. The subscription is set up in the background when a cache is created.
async fn wait_for_subscription(a: &Cache, b: &Cache) {
    let probe = CacheKey::global("test", unique("probe"));
    let calls = AtomicU32::new(0);
    b.get_or_load(&probe, TTL, || counted(&calls, "old".into())).await.expect("probe");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        a.invalidate(&probe).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if b.get_or_load(&probe, TTL, || counted(&calls, "new".into())).await.expect("probe")
            == "new"
        {
            return;
        }
    }
    panic!("the second instance never subscribed to cache invalidations");
}

#[tokio::test]
async fn second_instance_reads_from_redis_without_loading() {
    let (a, b) = (instance().await, instance().await);
    let key = CacheKey::global("test", unique("shared"));
    let calls = AtomicU32::new(0);

    let v = a
        .get_or_load(&key, TTL, || counted(&calls, "from-source".into()))
        .await
        .expect("load on A");
    assert_eq!(v, "from-source");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(a.stats().misses.load(Ordering::SeqCst), 1);

    let v = b
        .get_or_load(&key, TTL, || counted(&calls, "loaded-again".into()))
        .await
        .expect("read on B");
    assert_eq!(v, "from-source");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "B must not call the loader");
    assert_eq!(b.stats().l2_hits.load(Ordering::SeqCst), 1);
    assert_eq!(b.stats().misses.load(Ordering::SeqCst), 0);

    // Now in B's level 1.
    let v = b
        .get_or_load(&key, TTL, || counted(&calls, "loaded-again".into()))
        .await
        .expect("again on B");
    assert_eq!(v, "from-source");
    assert_eq!(b.stats().l1_hits.load(Ordering::SeqCst), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_load_once() {
    let cache = instance().await;
    let key = CacheKey::global("test", unique("flight"));
    let calls = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (cache, key, calls) = (cache.clone(), key.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_load(&key, TTL, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, AppError>(vec![1u32, 2, 3])
                })
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("value"), vec![1, 2, 3]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "single flight: one load for 20 concurrent misses");
}

#[tokio::test]
async fn loader_errors_are_returned_and_not_cached() {
    let cache = instance().await;
    let key = CacheKey::global("test", unique("err"));
    let err = cache
        .get_or_load(&key, TTL, || async { Err::<String, _>(AppError::not_found("thing")) })
        .await
        .expect_err("the loader's error");
    assert_eq!(err, AppError::not_found("thing"));
    let calls = AtomicU32::new(0);
    let v = cache.get_or_load(&key, TTL, || counted(&calls, "ok".into())).await.expect("value");
    assert_eq!((v.as_str(), calls.load(Ordering::SeqCst)), ("ok", 1));
}

#[tokio::test]
async fn invalidate_on_one_instance_drops_the_other_instances_copy() {
    let (a, b) = (instance().await, instance().await);
    wait_for_subscription(&a, &b).await;

    let key = CacheKey::global("test", unique("inval"));
    let calls = AtomicU32::new(0);
    a.get_or_load(&key, TTL, || counted(&calls, "v1".into())).await.expect("A");
    assert_eq!(b.get_or_load(&key, TTL, || counted(&calls, "v1-b".into())).await.expect("B"), "v1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    a.invalidate(&key).await;
    // A reloads at once.
    assert_eq!(a.get_or_load(&key, TTL, || counted(&calls, "v2".into())).await.expect("A"), "v2");

    // B drops its level-1 copy when the message arrives (and then reads v2 from Redis).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let v = b.get_or_load(&key, TTL, || counted(&calls, "v2-b".into())).await.expect("B");
        if v != "v1" {
            assert_eq!(v, "v2", "B reads the new value from Redis");
            break;
        }
        assert!(Instant::now() < deadline, "B still serves the invalidated value after 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn user_scoped_keys_do_not_collide() {
    let (a, b) = (instance().await, instance().await);
    let id = unique("profile");
    let (k1, k2) = (CacheKey::user("test", 1, id.clone()), CacheKey::user("test", 2, id.clone()));
    let global = CacheKey::global("test", id.clone());
    assert_ne!(k1.to_string(), k2.to_string());
    assert_ne!(k1.to_string(), global.to_string());

    let calls = AtomicU32::new(0);
    assert_eq!(
        a.get_or_load(&k1, TTL, || counted(&calls, "user one".into())).await.expect("k1"),
        "user one"
    );
    assert_eq!(
        a.get_or_load(&k2, TTL, || counted(&calls, "user two".into())).await.expect("k2"),
        "user two"
    );
    assert_eq!(
        a.get_or_load(&global, TTL, || counted(&calls, "everyone".into())).await.expect("g"),
        "everyone"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Through Redis on the other instance, each user still gets their own value.
    assert_eq!(
        b.get_or_load(&k2, TTL, || counted(&calls, "wrong".into())).await.expect("k2"),
        "user two"
    );
    assert_eq!(
        b.get_or_load(&k1, TTL, || counted(&calls, "wrong".into())).await.expect("k1"),
        "user one"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Invalidating one user's entry leaves the other's alone.
    a.invalidate(&k1).await;
    assert_eq!(
        a.get_or_load(&k2, TTL, || counted(&calls, "wrong".into())).await.expect("k2"),
        "user two"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_level_one_quickly() {
    let conn = RedisConn::start("redis://127.0.0.1:1").expect("valid URL");
    let cache = Cache::new(CacheConfig::default(), Some(conn));
    let key = CacheKey::global("test", unique("down"));
    let calls = AtomicU32::new(0);

    let started = Instant::now();
    let v =
        cache.get_or_load(&key, TTL, || counted(&calls, "loaded".into())).await.expect("no error");
    assert_eq!(v, "loaded");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "first call took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let v =
        cache.get_or_load(&key, TTL, || counted(&calls, "again".into())).await.expect("no error");
    assert_eq!(v, "loaded");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "second call took {:?}",
        started.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().l1_hits.load(Ordering::SeqCst), 1);

    let started = Instant::now();
    cache.invalidate(&key).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "invalidate took {:?}",
        started.elapsed()
    );
    assert_eq!(
        cache.get_or_load(&key, TTL, || counted(&calls, "reloaded".into())).await.expect("v"),
        "reloaded"
    );
}

#[tokio::test]
async fn level_one_only_cache_works_without_redis() {
    let cache = Cache::new(CacheConfig::default(), None);
    let key = CacheKey::global("test", unique("local"));
    let calls = AtomicU32::new(0);
    cache.get_or_load(&key, TTL, || counted(&calls, "x".into())).await.expect("v");
    cache.get_or_load(&key, TTL, || counted(&calls, "y".into())).await.expect("v");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    cache.invalidate(&key).await;
    assert_eq!(cache.get_or_load(&key, TTL, || counted(&calls, "z".into())).await.expect("v"), "z");
}
