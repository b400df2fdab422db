//! Redis going away under a running instance: a Redis server of the test's own (so the shared
//! one other tests use stays up) is stopped mid-test. Readiness stays 200 and says `degraded`,
//! sign-in keeps its speed (the breaker skips Redis instead of waiting out its timeout), and
//! when Redis comes back the breaker closes by itself.

use crate::helpers::{PASSWORD, email, expect_status, spawn_app_with};
use reqwest::StatusCode;
use server::config::SecretUrl;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (it runs the shared Redis too)");
        OwnRedis { child, port }
    }

    async fn wait_up(&self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on {}", self.port);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The median time of `n` sign-ins.
async fn sign_in_p50(app: &crate::helpers::TestApp, who: &str, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let res = app.login_raw(who, PASSWORD).await;
        times.push(started.elapsed());
        assert_eq!(res.status(), StatusCode::OK, "sign-in works");
    }
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_degrades_readiness_and_costs_sign_in_nothing() {
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    redis.wait_up().await;
    let app = spawn_app_with(|s| {
        s.redis.url = Some(SecretUrl::new(format!("redis://127.0.0.1:{port}")));
        s.auth.login_max_per_ip = 10_000;
    })
    .await;
    let redis_conn = app.state.redis.clone().expect("Redis is configured");
    assert!(redis_conn.wait_connected(Duration::from_secs(10)).await);
    let who = email("outage");
    app.register(&who).await;

    let ready = app.api.get(app.url("/health/ready")).send().await.unwrap();
    let body = expect_status(ready, StatusCode::OK).await;
    assert_eq!(
        (body["status"].as_str(), body["checks"]["redis"].as_str()),
        (Some("ok"), Some("ok"))
    );
    let normal = sign_in_p50(&app, &who, 15).await;

    redis.stop();
    // The first commands after the outage find it; then the breaker is open.
    for _ in 0..3 {
        let _ = app.login_raw(&who, PASSWORD).await;
    }
    let ready = app.api.get(app.url("/health/ready")).send().await.unwrap();
    let body = expect_status(ready, StatusCode::OK).await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["degraded"], true);
    assert_eq!(body["checks"]["redis"], "unavailable");
    assert_eq!(body["checks"]["database"], "ok");
    assert!(redis_conn.is_open(), "the breaker is open while Redis is down");
    let down = sign_in_p50(&app, &who, 15).await;
    // A sign-in is an argon2 hash (~tens of ms) and several Redis commands (rate limits); each
    // command waiting out its 500 ms timeout would add at least that much. The slack absorbs a
    // loaded machine.
    assert!(
        down <= normal * 2 + Duration::from_millis(250),
        "sign-in p50 {down:?} with Redis down vs {normal:?} with it up"
    );

    // Redis comes back on the same port: the probe closes the breaker by itself.
    let redis = OwnRedis::start(port);
    redis.wait_up().await;
    let mut closed = false;
    for _ in 0..100 {
        if !redis_conn.is_open() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the breaker closed once Redis answered");
    let ready = app.api.get(app.url("/health/ready")).send().await.unwrap();
    let body = expect_status(ready, StatusCode::OK).await;
    assert_eq!(body["status"], "ok", "{body}");
    drop(redis);
}
