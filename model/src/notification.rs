//! In-app notifications as their recipient sees them (budget alerts, later others).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Kind of the notification a budget alert raises.
pub const NOTIFICATION_BUDGET_ALERT: &str = "budget_alert";

/// One notification for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Id.
    pub id: i64,
    /// What raised it (`budget_alert` …).
    pub kind: String,
    /// One line.
    pub title: String,
    /// A few sentences.
    pub body: String,
    /// Where in the app it leads (`/usage` …), if anywhere.
    pub link: Option<String>,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When its recipient marked it read.
    pub read_at: Option<DateTime<Utc>>,
}

/// One page of a user's notifications, newest first, with their unread count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPage {
    /// The notifications of this page.
    pub items: Vec<Notification>,
    /// The user's notifications in all.
    pub total: i64,
    /// How many of them are unread.
    pub unread: i64,
    /// Offset of the first row.
    pub offset: i64,
    /// Page size asked for.
    pub limit: i64,
}
