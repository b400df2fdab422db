//! Admin views: user lists and the audit log.

use super::User;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One page of a list, with the total for pagination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Rows matching in all.
    pub total: i64,
    /// Offset of the first row.
    pub offset: i64,
    /// Page size asked for.
    pub limit: i64,
}

/// A page of users.
pub type UserPage = Page<User>;

/// One admin action, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Entry id.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it (None for the command line).
    pub actor_id: Option<i64>,
    /// Their e-mail at the time.
    pub actor_email: Option<String>,
    /// What was done (`user.scopes_changed`, `user.deactivated` …).
    pub action: String,
    /// What it was done to (`user:42`).
    pub target: String,
    /// Details as JSON text.
    pub detail: String,
}
