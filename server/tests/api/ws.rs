//! The live-event socket: events reach only their user, resume after reconnect, a client that
//! never reads does not stall others, and two instances fan out through real Redis.

use crate::common::TestDb;
use crate::helpers::{email, spawn_app};
use futures::{SinkExt, StreamExt};
use model::WsFrame;
use server::config::SecretUrl;
use server::startup::Application;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(port: u16, token: &str, after: Option<&str>) -> Socket {
    let url = match after {
        Some(a) => format!("ws://127.0.0.1:{port}/ws?after={a}"),
        None => format!("ws://127.0.0.1:{port}/ws"),
    };
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(req).await.expect("websocket connects");
    socket
}

/// The next server frame, skipping pings; None on timeout or close.
pub async fn next_frame(socket: &mut Socket, within: Duration) -> Option<WsFrame> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return Some(serde_json::from_str(&t).expect("a WsFrame"));
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

pub async fn expect_hello(socket: &mut Socket) -> i64 {
    match next_frame(socket, Duration::from_secs(5)).await {
        Some(WsFrame::Hello { replayed, .. }) => replayed,
        other => panic!("expected hello, got {other:?}"),
    }
}

async fn expect_event(socket: &mut Socket) -> model::LiveEvent {
    match next_frame(socket, Duration::from_secs(5)).await {
        Some(WsFrame::Event(e)) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn anonymous_socket_is_refused() {
    let app = spawn_app().await;
    let req = format!("ws://127.0.0.1:{}/ws", app.port).into_client_request().unwrap();
    let err = tokio_tungstenite::connect_async(req).await.expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");
}

#[tokio::test]
async fn events_reach_only_their_user() {
    let app = spawn_app().await;
    let ann = app.register(&email("ann")).await;
    let bob = app.register(&email("bob")).await;
    let ann_id = app.user_id(&ann.access).await;
    let mut ann_ws = connect(app.port, &ann.access, None).await;
    let mut bob_ws = connect(app.port, &bob.access, None).await;
    expect_hello(&mut ann_ws).await;
    expect_hello(&mut bob_ws).await;

    app.state.events.publish(ann_id, "test", serde_json::json!({ "n": 1 })).await;
    let e = expect_event(&mut ann_ws).await;
    assert_eq!((e.topic.as_str(), e.user_id, e.data["n"].as_i64()), ("test", ann_id, Some(1)));
    assert!(
        next_frame(&mut bob_ws, Duration::from_millis(400)).await.is_none(),
        "bob saw ann's event"
    );
}

#[tokio::test]
async fn resume_after_reconnect_delivers_missed_events_in_order() {
    let app = spawn_app().await;
    let ann = app.register(&email("ann")).await;
    let ann_id = app.user_id(&ann.access).await;
    let mut ws = connect(app.port, &ann.access, None).await;
    expect_hello(&mut ws).await;
    app.state.events.publish(ann_id, "test", serde_json::json!({ "n": 1 })).await;
    let first = expect_event(&mut ws).await;
    ws.close(None).await.unwrap();
    drop(ws);

    for n in 2..=4 {
        app.state.events.publish(ann_id, "test", serde_json::json!({ "n": n })).await;
    }
    let mut ws = connect(app.port, &ann.access, Some(&first.id)).await;
    assert_eq!(expect_hello(&mut ws).await, 3);
    let got: Vec<i64> =
        [expect_event(&mut ws).await, expect_event(&mut ws).await, expect_event(&mut ws).await]
            .iter()
            .map(|e| e.data["n"].as_i64().unwrap())
            .collect();
    assert_eq!(got, vec![2, 3, 4]);
    // Live events keep flowing after the replay.
    app.state.events.publish(ann_id, "test", serde_json::json!({ "n": 5 })).await;
    assert_eq!(expect_event(&mut ws).await.data["n"], 5);
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_stall_others() {
    let app = spawn_app().await;
    let ann = app.register(&email("ann")).await;
    let ann_id = app.user_id(&ann.access).await;
    let mut stalled = connect(app.port, &ann.access, None).await;
    expect_hello(&mut stalled).await;
    let mut reader = connect(app.port, &ann.access, None).await;
    expect_hello(&mut reader).await;

    let total = 3000;
    let big = "x".repeat(2000);
    let port = app.port;
    let token = ann.access.clone();
    // The reader follows the protocol: on `Resync` (or a dropped socket) it reconnects with the
    // last id it saw. It must end with every event exactly once, in order.
    let reading = tokio::spawn(async move {
        let mut got: Vec<i64> = Vec::new();
        let mut last: Option<String> = None;
        while got.len() < total {
            match next_frame(&mut reader, Duration::from_secs(10)).await {
                Some(WsFrame::Event(e)) => {
                    got.push(e.data["n"].as_i64().unwrap());
                    last = Some(e.id);
                }
                Some(WsFrame::Hello { .. }) => {}
                Some(WsFrame::Resync) | None => {
                    reader = connect(port, &token, last.as_deref()).await;
                }
            }
        }
        got
    });
    let started = Instant::now();
    for n in 0..total {
        app.state.events.publish(ann_id, "test", serde_json::json!({ "n": n, "pad": big })).await;
        if n % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let publish_time = started.elapsed();
    let got = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("reader finished")
        .unwrap();
    let want: Vec<i64> = (0..i64::try_from(total).unwrap()).collect();
    assert_eq!(got, want, "the reading client lost, duplicated or reordered events");
    assert!(publish_time < Duration::from_secs(5), "publishing took {publish_time:?}");
    // The stalled client is told to resume instead of holding everyone up.
    let mut resync = false;
    for _ in 0..(total + 10) {
        match next_frame(&mut stalled, Duration::from_secs(2)).await {
            Some(WsFrame::Resync) | None => {
                resync = true;
                break;
            }
            _ => {}
        }
    }
    assert!(resync, "the stalled client was never asked to resync");
}

#[tokio::test]
async fn two_instances_fan_out_through_redis() {
    let db = TestDb::postgres().await;
    let mut instances = Vec::new();
    for _ in 0..2 {
        let mut settings = crate::helpers::test_settings(db.url());
        settings.redis.url = Some(SecretUrl::new("redis://127.0.0.1:6379"));
        let app = Application::build(settings).await.unwrap();
        let port = app.port();
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        assert!(state.redis.as_ref().unwrap().wait_connected(Duration::from_secs(5)).await);
        instances.push((port, state));
    }
    // Register through instance 0, listen on instance 1, publish from instance 0.
    let client = reqwest::Client::new();
    let body = serde_json::json!({ "email": email("fan"), "password": crate::helpers::PASSWORD, "display_name": "Fan" });
    let res = client
        .post(format!("http://127.0.0.1:{}/api/v1/auth/register", instances[0].0))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = client
        .get(format!("http://127.0.0.1:{}/api/v1/me", instances[1].0))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let user_id = me["id"].as_i64().unwrap();

    let mut ws = connect(instances[1].0, &token, None).await;
    expect_hello(&mut ws).await;
    // Give the subscriber of instance 1 a moment to be listening.
    tokio::time::sleep(Duration::from_millis(200)).await;
    instances[0].1.events.publish(user_id, "test", serde_json::json!({ "from": 0 })).await;
    let e = expect_event(&mut ws).await;
    assert_eq!(e.data["from"], 0);

    // Resume works across instances too: the history lives in Redis.
    ws.close(None).await.unwrap();
    instances[0].1.events.publish(user_id, "test", serde_json::json!({ "from": 0, "n": 2 })).await;
    let mut ws = connect(instances[1].0, &token, Some(&e.id)).await;
    assert_eq!(expect_hello(&mut ws).await, 1);
    assert_eq!(expect_event(&mut ws).await.data["n"], 2);
    let _ = ws.send(Message::Close(None)).await;
}
