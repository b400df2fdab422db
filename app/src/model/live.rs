//! Live events as the browser receives them over `/ws`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One event for one user. `id` orders events and is what a reconnecting client sends back
/// (`/ws?after=<id>`) to receive what it missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Opaque, increasing id (`<ms>-<seq>`).
    pub id: String,
    /// The user it concerns.
    pub user_id: i64,
    /// What kind of event (`job`, `budget_alert`, `sync` …).
    pub topic: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The typed payload of its topic, as JSON.
    pub data: serde_json::Value,
}

/// Frames the server sends over `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WsFrame {
    /// First frame: how many missed events follow, and whether the history was cut.
    Hello {
        /// Missed events replayed after this frame.
        replayed: i64,
        /// True if more were missed than the history keeps: reload state from the API.
        truncated: bool,
    },
    /// An event.
    Event(LiveEvent),
    /// The server will close this connection because the client fell behind; reconnect with
    /// the last id seen.
    Resync,
}
