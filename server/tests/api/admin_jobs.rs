//! The admin's view of the queue over REST: depth and throughput per kind, every user's jobs by
//! state, dead letters retried or discarded (audited), bad filters refused naming the field;
//! and an enqueue on one instance waking the idle workers of another through Redis.

use crate::common::TestDb;
use crate::helpers::{email, expect_error, expect_status, spawn_app};
use chrono::Utc;
use domain::store::NewJob;
use model::{JobState, QueueOverview};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::SecretUrl;
use server::startup::Application;
use std::time::{Duration, Instant};

/// Makes a dead job of a kind no runner handles: enqueue, claim, fail with no retry.
async fn dead_job(app: &crate::helpers::TestApp, owner: i64, error: &str) -> i64 {
    let store = &app.state.store;
    let now = Utc::now();
    let job = NewJob::new("test.orphan", json!({}), now).owner(owner).max_attempts(1);
    let id = store.enqueue_job(job).await.unwrap().id;
    let claimed = store.claim_job("test.orphan", "test-worker", now, Duration::from_secs(30));
    let claimed = claimed.await.unwrap().expect("the orphan job is claimable");
    assert_eq!(claimed.job.id, id);
    let state = store.fail_job(&claimed.lease, now, error, None).await.unwrap();
    assert_eq!(state, Some(JobState::Dead));
    id
}

async fn wait_for_state(app: &crate::helpers::TestApp, id: i64, state: JobState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state.store.get_job(id).await.unwrap().state != state {
        assert!(Instant::now() < deadline, "job {id} never became {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn admin_sees_the_queue_and_handles_dead_letters() {
    let app = spawn_app().await;
    let (admin, member) = app.admin_and_member().await;
    let member_id = app.user_id(&member.access).await;

    // A demo job that succeeds, and two dead letters.
    let res = app
        .post_bearer("/api/v1/jobs/demo", &member.access, &json!({ "steps": 2, "step_ms": 5 }))
        .await;
    let done = expect_status(res, StatusCode::ACCEPTED).await["id"].as_i64().unwrap();
    wait_for_state(&app, done, JobState::Succeeded).await;
    let dead = dead_job(&app, member_id, "upstream said 500").await;
    let other_dead = dead_job(&app, member_id, "bad payload").await;

    // Members may not look.
    for path in ["/api/v1/admin/queue", "/api/v1/admin/jobs?state=dead"] {
        expect_error(
            app.get_bearer(path, &member.access).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let res = app.api.delete(app.url(&format!("/api/v1/admin/jobs/{dead}")));
    let res = res.bearer_auth(&member.access).send().await.unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // The overview counts both kinds.
    let body =
        expect_status(app.get_bearer("/api/v1/admin/queue", &admin.access).await, StatusCode::OK)
            .await;
    let overview: QueueOverview = serde_json::from_value(body).unwrap();
    let kind = |name: &str| overview.kinds.iter().find(|k| k.kind == name).cloned().unwrap();
    let demo = kind("demo.count");
    assert_eq!((demo.succeeded_recent, demo.queued, demo.dead), (1, 0, 0));
    assert!(demo.avg_run_ms.is_some());
    let orphan = kind("test.orphan");
    assert_eq!((orphan.dead, orphan.dead_recent), (2, 2));
    assert_eq!(overview.window_secs, 3600);

    // Dead letters, newest first, with their errors; other users' jobs included.
    let page = expect_status(
        app.get_bearer("/api/v1/admin/jobs?state=dead", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["id"], other_dead);
    assert_eq!(page["items"][1]["last_error"], "upstream said 500");
    let page = app.get_bearer("/api/v1/admin/jobs?kind=demo.count", &admin.access).await;
    assert_eq!(expect_status(page, StatusCode::OK).await["items"][0]["id"], done);

    // Bad filters name the parameter.
    let err = expect_error(
        app.get_bearer("/api/v1/admin/jobs?state=failed", &admin.access).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(err["errors"][0]["field"], "state");
    let err = expect_error(
        app.get_bearer("/api/v1/admin/jobs?limit=many", &admin.access).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(err["errors"][0]["field"], "limit");

    // Only dead jobs can be discarded; the answer says why.
    let res = app.api.delete(app.url(&format!("/api/v1/admin/jobs/{done}")));
    let err = expect_error(
        res.bearer_auth(&admin.access).send().await.unwrap(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(err["message"].as_str().unwrap().contains("succeeded"), "{err}");

    // Retry puts a dead letter back in the queue; discard deletes the other.
    let res = app
        .post_bearer(&format!("/api/v1/admin/jobs/{dead}/retry"), &admin.access, &json!({}))
        .await;
    let retried = expect_status(res, StatusCode::OK).await;
    assert_eq!(
        (retried["state"].as_str(), retried["attempts"].as_i64()),
        (Some("queued"), Some(0))
    );
    let res = app.api.delete(app.url(&format!("/api/v1/admin/jobs/{other_dead}")));
    assert_eq!(
        res.bearer_auth(&admin.access).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert!(app.state.store.get_job(other_dead).await.is_err());
    let res = app.api.delete(app.url(&format!("/api/v1/admin/jobs/{other_dead}")));
    expect_error(
        res.bearer_auth(&admin.access).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app
        .post_bearer(&format!("/api/v1/admin/jobs/{done}/retry"), &admin.access, &json!({}))
        .await;
    let err = expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert!(err["message"].as_str().unwrap().contains("dead or cancelled"), "{err}");

    // Both actions are in the audit log with the job they touched.
    let audit: Value =
        expect_status(app.get_bearer("/api/v1/admin/audit", &admin.access).await, StatusCode::OK)
            .await;
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (a["action"].as_str().unwrap().to_string(), a["target"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(actions.contains(&("job.retry".into(), format!("job:{dead}"))), "{actions:?}");
    assert!(actions.contains(&("job.discard".into(), format!("job:{other_dead}"))), "{actions:?}");
}

/// An instance that only enqueues (no workers) wakes another instance's idle workers through
/// Redis: the job starts long before the worker's 30 s poll would find it.
#[tokio::test]
async fn an_enqueue_wakes_another_instance_through_redis() {
    let db = TestDb::postgres().await;
    let mut states = Vec::new();
    let mut ports = Vec::new();
    for workers in [false, true] {
        let mut settings = crate::helpers::test_settings(db.url());
        settings.redis.url = Some(SecretUrl::new("redis://127.0.0.1:6379"));
        settings.jobs.workers = workers;
        settings.jobs.poll_interval_ms = 30_000;
        settings.validate().unwrap();
        let app = Application::build(settings).await.unwrap();
        ports.push(app.port());
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        assert!(state.redis.as_ref().unwrap().wait_connected(Duration::from_secs(5)).await);
        states.push(state);
    }
    // Let both subscriptions start, and the worker's first (empty) poll pass.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let client = reqwest::Client::new();
    let register = json!({ "email": email("wake"), "password": crate::helpers::PASSWORD, "display_name": "Wake" });
    let res = client
        .post(format!("http://127.0.0.1:{}/api/v1/auth/register", ports[0]))
        .json(&register)
        .send()
        .await
        .unwrap();
    let token =
        expect_status(res, StatusCode::CREATED).await["access_token"].as_str().unwrap().to_string();
    let started = Instant::now();
    let res = client
        .post(format!("http://127.0.0.1:{}/api/v1/jobs/demo", ports[0]))
        .bearer_auth(&token)
        .json(&json!({ "steps": 1, "step_ms": 1 }))
        .send()
        .await
        .unwrap();
    let id = expect_status(res, StatusCode::ACCEPTED).await["id"].as_i64().unwrap();
    loop {
        let job = states[0].store.get_job(id).await.unwrap();
        if job.state == JobState::Succeeded {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the other instance never woke: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// What a job writes while it runs (its progress line) is in its owner's language, not in that
/// of whatever request happens to be around: the runner works outside any request.
#[tokio::test]
async fn a_jobs_progress_line_is_in_its_owners_language() {
    let app = spawn_app().await;
    let mut jobs = Vec::new();
    for (lang, expected) in [(Some("ru-RU,ru;q=0.9"), "шаг 2 из 2"), (None, "step 2 of 2")] {
        let mut req = app.api.post(app.url("/api/v1/auth/register")).json(&json!({
            "email": email("lang"),
            "password": crate::helpers::PASSWORD,
            "display_name": "Lang"
        }));
        if let Some(lang) = lang {
            req = req.header("accept-language", lang);
        }
        let tokens = expect_status(req.send().await.unwrap(), StatusCode::CREATED).await;
        let access = tokens["access_token"].as_str().unwrap().to_string();
        // Enqueued by a request that asks for no language.
        let res = app
            .post_bearer("/api/v1/jobs/demo", &access, &json!({ "steps": 2, "step_ms": 1 }))
            .await;
        jobs.push((
            expect_status(res, StatusCode::ACCEPTED).await["id"].as_i64().unwrap(),
            expected,
        ));
    }
    for (id, expected) in jobs {
        wait_for_state(&app, id, JobState::Succeeded).await;
        let job = app.state.store.get_job(id).await.unwrap();
        assert_eq!(job.progress.message.as_deref(), Some(expected));
    }
}
