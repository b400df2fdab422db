//! Live events as the browser receives them over `/ws`.

use crate::{BudgetScope, JobEvent, Notification, RfcDraftEvent, SyncProgress};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a live event is about. The topic fixes the type of the event's `data`:
/// [`LivePayload`] holds each topic with its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveTopic {
    /// A job of the user's moved ([`JobEvent`]).
    Job,
    /// One of the user's budgets crossed an alert threshold ([`BudgetCrossed`]).
    Budget,
    /// A sync of one of the user's sources progressed ([`SyncProgress`]).
    Sync,
    /// The user's notifications changed ([`NotificationChange`]).
    Notification,
    /// One of the user's RFC drafts is being written ([`RfcDraftEvent`]).
    Rfc,
}

impl LiveTopic {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveTopic::Job => "job",
            LiveTopic::Budget => "budget",
            LiveTopic::Sync => "sync",
            LiveTopic::Notification => "notification",
            LiveTopic::Rfc => "rfc",
        }
    }
}

/// A live event's payload, typed by its topic. On the wire it is the event's `topic` and `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "topic", content = "data", rename_all = "snake_case")]
pub enum LivePayload {
    /// See [`LiveTopic::Job`].
    Job(JobEvent),
    /// See [`LiveTopic::Budget`].
    Budget(BudgetCrossed),
    /// See [`LiveTopic::Sync`].
    Sync(SyncProgress),
    /// See [`LiveTopic::Notification`].
    Notification(NotificationChange),
    /// See [`LiveTopic::Rfc`]. Read with [`LiveEvent::rfc_draft`]: only the RFC studio decodes
    /// it, so its decoder stays out of the code every page loads.
    #[serde(skip_deserializing)]
    Rfc(RfcDraftEvent),
}

impl LivePayload {
    /// Its topic.
    pub fn topic(&self) -> LiveTopic {
        match self {
            LivePayload::Job(_) => LiveTopic::Job,
            LivePayload::Budget(_) => LiveTopic::Budget,
            LivePayload::Sync(_) => LiveTopic::Sync,
            LivePayload::Notification(_) => LiveTopic::Notification,
            LivePayload::Rfc(_) => LiveTopic::Rfc,
        }
    }

    /// The payload as the event's `data`.
    pub fn data(&self) -> serde_json::Value {
        serde_json::to_value(self)
            .ok()
            .and_then(|mut v| v.get_mut("data").map(serde_json::Value::take))
            .unwrap_or_default()
    }
}

/// A budget crossed an alert threshold (topic `budget`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetCrossed {
    /// Whose budget.
    pub budget: BudgetScope,
    /// `daily`, `weekly` or `monthly`.
    pub period: String,
    /// The threshold crossed, in percent.
    pub threshold: i32,
    /// Spent this period, nano-dollars.
    pub spent_nanos: i64,
    /// The limit, nano-dollars.
    pub limit_nanos: i64,
    /// When the period resets.
    pub resets_at: DateTime<Utc>,
}

/// What changed in a user's notifications (topic `notification`), with the unread count after.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NotificationChange {
    /// A notification that just arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Notification>,
    /// Which were marked read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadMark>,
    /// Unread notifications now (absent when it could not be counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<i64>,
}

/// Which notifications were marked read: one (its id) or all (`"all"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReadMark {
    /// One notification.
    One(i64),
    /// Every notification.
    All(AllRead),
}

/// The word `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllRead {
    /// `"all"`.
    All,
}

/// One event for one user. `id` orders events and is what a reconnecting client sends back
/// (`/ws?after=<id>`) to receive what it missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Opaque, increasing id (`<ms>-<seq>`).
    pub id: String,
    /// The user it concerns.
    pub user_id: i64,
    /// What kind of event: a [`LiveTopic`]'s name (the transport carries any name).
    pub topic: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The typed payload of its topic, as JSON.
    pub data: serde_json::Value,
}

impl LiveEvent {
    /// The typed payload, when the topic is one of [`LiveTopic`] and the data matches it.
    pub fn payload(&self) -> Option<LivePayload> {
        serde_json::from_value(serde_json::json!({ "topic": self.topic, "data": self.data })).ok()
    }

    /// The RFC draft event it carries, if its topic is [`LiveTopic::Rfc`].
    pub fn rfc_draft(&self) -> Option<RfcDraftEvent> {
        (self.topic == LiveTopic::Rfc.as_str())
            .then(|| serde_json::from_value(self.data.clone()).ok())
            .flatten()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_keep_their_wire_format_and_read_back_by_topic() {
        let change = LivePayload::Notification(NotificationChange {
            new: None,
            read: Some(ReadMark::All(AllRead::All)),
            unread: Some(0),
        });
        assert_eq!(change.topic().as_str(), "notification");
        assert_eq!(change.data(), serde_json::json!({ "read": "all", "unread": 0 }));
        let event = LiveEvent {
            id: "1-0".into(),
            user_id: 7,
            topic: change.topic().as_str().into(),
            at: Utc::now(),
            data: change.data(),
        };
        assert_eq!(event.payload(), Some(change));
        let one = serde_json::json!({ "read": 12, "unread": 3 });
        let parsed: NotificationChange = serde_json::from_value(one).unwrap();
        assert_eq!(parsed.read, Some(ReadMark::One(12)));
        let unknown = LiveEvent { topic: "gossip".into(), ..event.clone() };
        assert_eq!(unknown.payload(), None);
        let mismatched = LiveEvent { topic: "budget".into(), ..event };
        assert_eq!(mismatched.payload(), None);
    }
}
