//! `/api/v1/notifications`: the caller's notifications (newest first, with the unread count)
//! and read marks, scope `basic`. The same services as the server fns.

use super::rest::{ApiQuery, PageQuery};
use crate::startup::ServerState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use domain::auth::AuthOutcome;
use domain::service::notifications;
use model::error::AppError;
use model::{NotificationPage, Scope};
use serde::Serialize;

/// The routes, to nest under `/api/v1`.
pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/notifications", get(list_notifications))
        .route("/notifications/read-all", post(mark_all_read))
        .route("/notifications/{id}/read", post(mark_read))
}

/// `GET /notifications?limit=&offset=`: the caller's notifications and unread count.
async fn list_notifications(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<NotificationPage>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(notifications::list_mine(&s.app, &user, q.limit, q.offset).await?))
}

/// `POST /notifications/{id}/read`: marks one of the caller's notifications read; 204.
async fn mark_read(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    notifications::mark_read(&s.app, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Marked {
    marked: i64,
}

/// `POST /notifications/read-all`: marks all the caller's notifications read; says how many
/// were unread.
async fn mark_all_read(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Marked>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(Marked { marked: notifications::mark_all_read(&s.app, &user).await? }))
}
