//! Live events: typed notifications pushed to the users they concern (job progress, budget
//! alerts, sync updates …), over WebSocket.
//!
//! Every event gets an id and is appended to its user's bounded history, so a client that
//! reconnects with the last id it saw receives what it missed. With Redis the history is a
//! capped stream per user (`XADD … MAXLEN ~`) shared by all instances, and events fan out to
//! every instance through pub/sub; without Redis both live in this process. Delivery to one
//! connection never waits: each connection has a bounded buffer, and a connection whose buffer
//! is full is told to reconnect and resume, so a slow client never slows the others.

use crate::redis_conn::RedisConn;
use model::LiveEvent;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

const CHANNEL: &str = "bp:events";
/// Events kept per user for resume.
pub const HISTORY_PER_USER: usize = 500;
/// Largest event payload (serialised) that is delivered; larger ones are dropped and logged.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Messages buffered per connection before it is asked to resume.
pub const CONNECTION_BUFFER: usize = 256;

/// What a connection receives.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// One event, serialised once for all its receivers.
    Event {
        /// Its id, to skip what a replay already sent.
        id: Arc<str>,
        /// The `WsFrame::Event` JSON.
        frame: Arc<str>,
    },
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Delivery>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct Local {
    subscribers: HashMap<i64, Vec<Subscriber>>,
    history: HashMap<i64, VecDeque<LiveEvent>>,
}

/// The event bus. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    local: Arc<Mutex<Local>>,
    redis: Option<RedisConn>,
    next_conn: Arc<AtomicU64>,
    seq: Arc<AtomicU64>,
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    /// Deliveries for this connection.
    pub rx: mpsc::Receiver<Delivery>,
    /// Set when an event could not be buffered: the connection must stop and ask the client
    /// to resume from its last id (the history has what was dropped).
    pub lagged: Arc<AtomicBool>,
    bus: EventBus,
    user_id: i64,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut local) = self.bus.local.lock()
            && let Some(list) = local.subscribers.get_mut(&self.user_id)
        {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                local.subscribers.remove(&self.user_id);
            }
        }
        metrics::gauge!("ws_connections").decrement(1.0);
    }
}

/// Orders event ids (`<ms>-<seq>`, as Redis stream ids are).
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

impl EventBus {
    /// A bus in this process, or shared through Redis.
    pub fn new(redis: Option<RedisConn>) -> Self {
        let bus = Self {
            local: Arc::new(Mutex::new(Local::default())),
            redis,
            next_conn: Arc::new(AtomicU64::new(1)),
            seq: Arc::new(AtomicU64::new(0)),
        };
        if let Some(redis) = bus.redis.clone() {
            let local = bus.clone();
            redis.subscribe_forever(CHANNEL, "live event", move |payload| {
                if let Ok(event) = serde_json::from_str::<LiveEvent>(&payload) {
                    local.deliver_local(event);
                }
                std::future::ready(())
            });
        }
        bus
    }

    /// Publishes a typed event to `user_id`: what product code calls (the topic comes from the
    /// payload's type, so a topic and its data cannot disagree).
    pub async fn publish_live(&self, user_id: i64, payload: &model::LivePayload) {
        self.publish(user_id, payload.topic().as_str(), payload.data()).await;
    }

    /// Publishes `data` under `topic` to `user_id`. Never fails the caller: a Redis outage
    /// degrades to this instance's connections and history.
    pub async fn publish(&self, user_id: i64, topic: &str, data: serde_json::Value) {
        let mut event = LiveEvent {
            id: String::new(),
            user_id,
            topic: topic.to_string(),
            at: chrono::Utc::now(),
            data,
        };
        if let Some(redis) = &self.redis
            && let Ok(json) = serde_json::to_string(&event)
        {
            let key = format!("bp:events:u{user_id}");
            let added: Option<String> = redis
                .run(
                    redis::cmd("XADD")
                        .arg(&key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(HISTORY_PER_USER)
                        .arg("*")
                        .arg("e")
                        .arg(&json),
                )
                .await;
            if let Some(id) = added {
                event.id = id;
                let _: Option<i64> =
                    redis.run(redis::cmd("PEXPIRE").arg(&key).arg(86_400_000)).await;
                if let Ok(json) = serde_json::to_string(&event) {
                    let sent: Option<i64> =
                        redis.run(redis::cmd("PUBLISH").arg(CHANNEL).arg(json)).await;
                    if sent.is_some() {
                        return;
                    }
                }
            }
        }
        let ms = u64::try_from(event.at.timestamp_millis()).unwrap_or_default();
        event.id = format!("{ms}-{}", self.seq.fetch_add(1, Ordering::Relaxed));
        self.deliver_local(event);
    }

    /// Hands an event (already carrying its id) to this process's subscribers and history.
    fn deliver_local(&self, event: LiveEvent) {
        let Ok(json) = serde_json::to_string(&model::WsFrame::Event(event.clone())) else {
            return;
        };
        if json.len() > MAX_EVENT_BYTES {
            tracing::warn!(topic = %event.topic, bytes = json.len(), "live event too large; dropped");
            metrics::counter!("ws_events_dropped_total", "reason" => "too_large").increment(1);
            return;
        }
        let frame: Arc<str> = Arc::from(json);
        let id: Arc<str> = Arc::from(event.id.as_str());
        let Ok(mut local) = self.local.lock() else { return };
        if self.redis.is_none() {
            let history = local.history.entry(event.user_id).or_default();
            history.push_back(event.clone());
            while history.len() > HISTORY_PER_USER {
                history.pop_front();
            }
        }
        if let Some(list) = local.subscribers.get_mut(&event.user_id) {
            for sub in list.iter() {
                if sub
                    .tx
                    .try_send(Delivery::Event { id: id.clone(), frame: frame.clone() })
                    .is_err()
                {
                    // Full or closed: never wait for it; it resumes from the history instead.
                    sub.lagged.store(true, Ordering::Relaxed);
                    metrics::counter!("ws_events_dropped_total", "reason" => "slow_client")
                        .increment(1);
                }
            }
        }
    }

    /// Subscribes a connection of `user_id`.
    pub fn subscribe(&self, user_id: i64) -> Subscription {
        let (tx, rx) = mpsc::channel(CONNECTION_BUFFER);
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let lagged = Arc::new(AtomicBool::new(false));
        if let Ok(mut local) = self.local.lock() {
            local.subscribers.entry(user_id).or_default().push(Subscriber {
                id,
                tx,
                lagged: lagged.clone(),
            });
        }
        metrics::gauge!("ws_connections").increment(1.0);
        Subscription { rx, lagged, bus: self.clone(), user_id, id }
    }

    /// Events of `user_id` after `after` (exclusive), oldest first, at most `limit`.
    pub async fn missed(&self, user_id: i64, after: &str, limit: usize) -> Vec<LiveEvent> {
        if let Some(redis) = &self.redis {
            let key = format!("bp:events:u{user_id}");
            let rows: Option<Vec<(String, Vec<String>)>> = redis
                .run(
                    redis::cmd("XRANGE")
                        .arg(&key)
                        .arg(format!("({after}"))
                        .arg("+")
                        .arg("COUNT")
                        .arg(limit),
                )
                .await;
            if let Some(rows) = rows {
                return rows
                    .into_iter()
                    .filter_map(|(id, fields)| {
                        let mut e: LiveEvent = serde_json::from_str(fields.get(1)?).ok()?;
                        e.id = id;
                        Some(e)
                    })
                    .collect();
            }
        }
        let Some(after) = parse_id(after) else { return Vec::new() };
        let Ok(local) = self.local.lock() else { return Vec::new() };
        local
            .history
            .get(&user_id)
            .map(|h| {
                h.iter()
                    .filter(|e| parse_id(&e.id).is_some_and(|id| id > after))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}
