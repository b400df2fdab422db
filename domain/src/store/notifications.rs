//! In-app notifications: insert, a user's page newest first with the unread count, read marks
//! scoped to their owner, and retention. Who gets notified of what is the service's business,
//! not this module's.

use super::{SqlStore, StoreError, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::Notification;

/// A notification to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Recipient.
    pub user_id: i64,
    /// What raised it (`budget_alert` …).
    pub kind: String,
    /// One line.
    pub title: String,
    /// A few sentences.
    pub body: String,
    /// Where in the app it leads.
    pub link: Option<String>,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
}

/// A page of one user's notifications and their counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationList {
    /// The rows, newest first.
    pub items: Vec<Notification>,
    /// The user's notifications in all.
    pub total: i64,
    /// How many of those are unread.
    pub unread: i64,
}

pub(crate) const NOTIFICATION_COLUMNS: &str = "id, kind, title, body, link, created_at, read_at";

/// A notification row as stored; callers get `Notification`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct NotificationRow {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            kind: r.kind,
            title: r.title,
            body: r.body,
            link: r.link,
            created_at: from_ms(r.created_at),
            read_at: r.read_at.map(from_ms),
        }
    }
}

/// Notifications.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores a notification (unread) and returns it.
    async fn insert_notification(&self, n: &NewNotification) -> StoreResult<Notification>;
    /// One user's notifications, newest first, with their total and unread counts.
    async fn list_notifications(
        &self,
        user_id: i64,
        limit: i64,
        offset: i64,
    ) -> StoreResult<NotificationList>;
    /// How many of a user's notifications are unread.
    async fn count_unread_notifications(&self, user_id: i64) -> StoreResult<i64>;
    /// Marks one of the user's notifications read (a second mark keeps the first time).
    /// NotFound if it does not exist or is someone else's.
    async fn mark_notification_read(
        &self,
        user_id: i64,
        id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Marks every unread notification of the user read; returns how many were unread.
    async fn mark_all_notifications_read(
        &self,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Deletes notifications raised before `before` (read or not); returns how many.
    async fn purge_notifications(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

#[async_trait]
impl NotificationStore for SqlStore {
    async fn insert_notification(&self, n: &NewNotification) -> StoreResult<Notification> {
        let row: NotificationRow = sqlx::query_as(&format!(
            "INSERT INTO notifications (user_id, kind, title, body, link, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {NOTIFICATION_COLUMNS}"
        ))
        .bind(n.user_id)
        .bind(&n.kind)
        .bind(&n.title)
        .bind(&n.body)
        .bind(n.link.as_deref())
        .bind(to_ms(n.created_at))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    async fn list_notifications(
        &self,
        user_id: i64,
        limit: i64,
        offset: i64,
    ) -> StoreResult<NotificationList> {
        let rows: Vec<NotificationRow> = sqlx::query_as(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(user_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        // One statement, so the two counts agree with each other.
        let (total, unread): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), SUM(CASE WHEN read_at IS NULL THEN 1 ELSE 0 END) \
                     FROM notifications WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(NotificationList {
            items: rows.into_iter().map(Into::into).collect(),
            total,
            unread: unread.unwrap_or(0),
        })
    }

    async fn count_unread_notifications(&self, user_id: i64) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    async fn mark_notification_read(
        &self,
        user_id: i64,
        id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE notifications SET read_at = COALESCE(read_at, $3) \
                     WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn mark_all_notifications_read(
        &self,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn purge_notifications(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM notifications WHERE created_at < $1")
            .bind(to_ms(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
