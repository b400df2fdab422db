//! A job started through the API reports its progress live over the WebSocket, to its owner
//! only, and can be cancelled while it runs.

use crate::helpers::{email, spawn_app};
use crate::ws::{connect, expect_hello, next_frame};
use model::{JobEvent, JobEventKind, JobState, WsFrame};
use serde_json::json;
use std::time::Duration;

async fn next_job_event(socket: &mut crate::ws::Socket) -> JobEvent {
    loop {
        match next_frame(socket, Duration::from_secs(10)).await {
            Some(WsFrame::Event(e)) if e.topic == "job" => {
                return serde_json::from_value(e.data).unwrap();
            }
            Some(_) => {}
            None => panic!("socket closed before the next job event"),
        }
    }
}

#[tokio::test]
async fn demo_job_progress_arrives_live_and_completes() {
    let app = spawn_app().await;
    let ann = app.register(&email("ann")).await;
    let bob = app.register(&email("bob")).await;
    let mut ws = connect(app.port, &ann.access, None).await;
    let mut bob_ws = connect(app.port, &bob.access, None).await;
    expect_hello(&mut ws).await;
    expect_hello(&mut bob_ws).await;

    let res = app
        .post_bearer("/api/v1/jobs/demo", &ann.access, &json!({ "steps": 5, "step_ms": 150 }))
        .await;
    assert_eq!(res.status(), 202);
    let job: serde_json::Value = res.json().await.unwrap();
    let id = job["id"].as_i64().unwrap();

    let started = next_job_event(&mut ws).await;
    assert_eq!((started.job_id, started.event), (id, JobEventKind::Started));
    let mut done_seen = Vec::new();
    loop {
        let e = next_job_event(&mut ws).await;
        match e.event {
            JobEventKind::Progress => done_seen.push(e.progress.unwrap().done.unwrap()),
            JobEventKind::Completed => {
                assert_eq!(e.state, JobState::Succeeded);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!done_seen.is_empty() && done_seen.windows(2).all(|w| w[0] < w[1]), "{done_seen:?}");
    assert!(done_seen.iter().all(|d| (1..=5).contains(d)), "{done_seen:?}");
    // Bob saw none of it.
    assert!(next_frame(&mut bob_ws, Duration::from_millis(300)).await.is_none());

    let list: serde_json::Value =
        app.get_bearer("/api/v1/jobs", &ann.access).await.json().await.unwrap();
    assert_eq!(list["items"][0]["id"], id);
    assert_eq!(list["items"][0]["state"], "succeeded");
    // Done is 100 %, even when the last progress report was throttled away.
    assert_eq!(list["items"][0]["progress"]["percent"], 100, "{list}");
    assert_eq!(list["items"][0]["progress"]["done"], list["items"][0]["progress"]["total"]);
}

#[tokio::test]
async fn running_demo_job_is_cancelled_by_its_owner_only() {
    let app = spawn_app().await;
    let ann = app.register(&email("ann")).await;
    let bob = app.register(&email("bob")).await;
    let mut ws = connect(app.port, &ann.access, None).await;
    expect_hello(&mut ws).await;
    let job: serde_json::Value = app
        .post_bearer("/api/v1/jobs/demo", &ann.access, &json!({ "steps": 1000, "step_ms": 50 }))
        .await
        .json()
        .await
        .unwrap();
    let id = job["id"].as_i64().unwrap();
    assert_eq!(next_job_event(&mut ws).await.event, JobEventKind::Started);

    let res = app.post_bearer(&format!("/api/v1/jobs/{id}/cancel"), &bob.access, &json!({})).await;
    assert_eq!(res.status(), 404, "another user's job is not theirs to cancel");
    let res = app.post_bearer(&format!("/api/v1/jobs/{id}/cancel"), &ann.access, &json!({})).await;
    assert_eq!(res.status(), 200);
    loop {
        let e = next_job_event(&mut ws).await;
        if e.event == JobEventKind::Cancelled {
            assert_eq!(e.state, JobState::Cancelled);
            break;
        }
        assert_eq!(e.event, JobEventKind::Progress, "unexpected {e:?}");
    }
}

#[tokio::test]
async fn demo_job_input_is_validated() {
    let app = spawn_app().await;
    let ann = app.register(&email("ann")).await;
    let res = app.post_bearer("/api/v1/jobs/demo", &ann.access, &json!({ "steps": 0 })).await;
    let body =
        crate::helpers::expect_error(res, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "validation")
            .await;
    assert_eq!(body["errors"][0]["field"], "steps");
    let list: serde_json::Value =
        app.get_bearer("/api/v1/jobs", &ann.access).await.json().await.unwrap();
    assert_eq!(list["total"], 0);
}
