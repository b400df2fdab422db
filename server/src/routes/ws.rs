//! `GET /ws`: the authenticated live-event socket (session cookie or bearer token). On connect
//! the client may pass `?after=<last id>` to receive what it missed (bounded), then gets events
//! as they happen. The server pings every 20 s and closes a socket that does not answer;
//! incoming messages are capped at 4 KiB and otherwise ignored.

use crate::startup::ServerState;
use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use domain::auth::{AuthOutcome, Credential};
use domain::events::{Delivery, HISTORY_PER_USER, parse_id};
use model::error::AppError;
use model::{Scope, WsFrame};
use serde::Deserialize;
use std::time::Duration;

const PING_EVERY: Duration = Duration::from_secs(20);
/// A client that stops reading cannot make us buffer more than this for it.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;
const MAX_INCOMING: usize = 4 * 1024;

/// Query of `/ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Last event id the client saw.
    after: Option<String>,
}

/// Upgrades an authenticated request to the event socket.
pub async fn upgrade(
    State(state): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let principal = match auth.require_scope(Scope::Basic) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // A cookie-authenticated socket must come from our own pages (cross-site WebSocket hijacking).
    if matches!(principal.credential, Credential::Cookie { .. }) {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        if let Some(origin) = origin
            && origin.split("://").nth(1) != Some(host)
        {
            return AppError::forbidden(domain::tr!("cross-site WebSocket refused"))
                .into_response();
        }
    }
    let bus = state.app.events.clone();
    let user_id = principal.user_id;
    // tungstenite's defaults (128 KiB read and write buffers per socket) cost ~210 KiB per
    // idle connection; clients only send pings and 4 KiB at most, and every frame we send is
    // flushed at once, so small buffers suffice (bench/ws_bench measures the difference).
    ws.max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .read_buffer_size(MAX_INCOMING)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            serve(socket, bus, user_id, q.after).await;
        })
}

async fn send(socket: &mut WebSocket, frame: &WsFrame) -> bool {
    match serde_json::to_string(frame) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => true,
    }
}

async fn serve(
    mut socket: WebSocket,
    bus: domain::events::EventBus,
    user_id: i64,
    after: Option<String>,
) {
    // Only a well-formed event id reaches Redis (`<ms>-<seq>`); anything else replays nothing.
    let after = after.filter(|a| parse_id(a).is_some());
    // Subscribe before reading the history so nothing falls between the two.
    let mut sub = bus.subscribe(user_id);
    let missed = match &after {
        Some(after) => bus.missed(user_id, after, HISTORY_PER_USER + 1).await,
        None => Vec::new(),
    };
    let truncated = missed.len() > HISTORY_PER_USER;
    let mut last_sent = after.as_deref().and_then(parse_id);
    let hello = WsFrame::Hello {
        replayed: i64::try_from(missed.len().min(HISTORY_PER_USER)).unwrap_or(0),
        truncated,
    };
    if !send(&mut socket, &hello).await {
        return;
    }
    for event in missed.into_iter().take(HISTORY_PER_USER) {
        last_sent = parse_id(&event.id).or(last_sent);
        if !send(&mut socket, &WsFrame::Event(event)).await {
            return;
        }
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            delivery = sub.rx.recv() => match delivery {
                Some(Delivery::Event { .. }) if sub.lagged.load(std::sync::atomic::Ordering::Relaxed) => {
                    let _ = send(&mut socket, &WsFrame::Resync).await;
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                Some(Delivery::Event { id, frame }) => {
                    // Skip what the replay already sent (an event can be both missed and live).
                    if let (Some(seen), Some(this)) = (last_sent, parse_id(&id))
                        && this <= seen {
                            continue;
                        }
                    if socket.send(Message::Text(frame.as_ref().into())).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    return;
                }
                awaiting_pong = true;
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}
