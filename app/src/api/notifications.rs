//! Notification server fns: the caller's notifications, their unread count, and read marks
//! (scope `basic`).

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::notifications;
use leptos::prelude::*;
use model::NotificationPage;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use server_fn::codec::Json;

/// The caller's notifications, newest first, with the unread count.
#[server(prefix = "/api", endpoint = "list_notifications", input = Json)]
pub async fn list_notifications(limit: i64, offset: i64) -> Result<NotificationPage, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    notifications::list_mine(&state, &user, limit, offset).await
}

/// How many of the caller's notifications are unread (the bell's badge).
#[server(prefix = "/api", endpoint = "unread_notifications", input = Json)]
pub async fn unread_notifications() -> Result<i64, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    notifications::unread_count(&state, &user).await
}

/// Marks one of the caller's notifications read.
#[server(prefix = "/api", endpoint = "mark_notification_read", input = Json)]
pub async fn mark_notification_read(id: i64) -> Result<(), AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    notifications::mark_read(&state, &user, id).await
}

/// Marks all the caller's notifications read; returns how many were unread.
#[server(prefix = "/api", endpoint = "mark_all_notifications_read", input = Json)]
pub async fn mark_all_notifications_read() -> Result<i64, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    notifications::mark_all_read(&state, &user).await
}
