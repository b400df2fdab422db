//! Rate limiters share their counts through Redis.

use crate::cache::redis;
use domain::ratelimit::{Limit, RateLimiter};
use std::time::Duration;

const LIMIT: Limit = Limit { max: 3, window: Duration::from_secs(60) };

#[tokio::test]
async fn two_instances_share_counts_through_redis() {
    let a = RateLimiter::new("test_shared", LIMIT, Some(redis().await));
    let b = RateLimiter::new("test_shared", LIMIT, Some(redis().await));
    let key = uuid::Uuid::new_v4().to_string();

    a.hit(&key).await.expect("1st");
    b.hit(&key).await.expect("2nd");
    a.check(&key).await.expect("2 of 3 used: check passes");
    a.hit(&key).await.expect("3rd");
    // Both instances now see the budget spent.
    assert!(b.check(&key).await.is_err());
    let retry = b.hit(&key).await.expect_err("4th hit, on the other instance, is refused");
    assert!((1..=60).contains(&retry.secs()), "retry after {} s", retry.secs());
    assert!(a.hit(&key).await.is_err());

    // Another key is independent.
    b.hit(&uuid::Uuid::new_v4().to_string()).await.expect("other key");

    // A reset on one instance frees the key for both.
    a.reset(&key).await;
    b.hit(&key).await.expect("after reset");
}

#[tokio::test]
async fn limiters_with_other_names_do_not_share() {
    let a = RateLimiter::new(
        "test_name_a",
        Limit { max: 1, window: Duration::from_secs(60) },
        Some(redis().await),
    );
    let b = RateLimiter::new(
        "test_name_b",
        Limit { max: 1, window: Duration::from_secs(60) },
        Some(redis().await),
    );
    let key = uuid::Uuid::new_v4().to_string();
    a.hit(&key).await.expect("a");
    b.hit(&key).await.expect("b counts separately");
    assert!(a.hit(&key).await.is_err());
}

#[tokio::test]
async fn without_redis_each_instance_counts_for_itself() {
    let a = RateLimiter::new("test_local", LIMIT, None);
    let b = RateLimiter::new("test_local", LIMIT, None);
    let key = uuid::Uuid::new_v4().to_string();
    for _ in 0..3 {
        a.hit(&key).await.expect("within budget");
    }
    assert!(a.hit(&key).await.is_err());
    b.hit(&key).await.expect("b has its own count");
}
