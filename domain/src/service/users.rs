//! Admin work on users: search, scopes, deactivation. Every change is written together with
//! its audit entry, and the changed user's cached profile is dropped on every instance so the
//! change applies to their very next request.

use crate::auth::Principal;
use crate::service::accounts::forget_user;
use crate::state::AppState;
use crate::store::{NewAuditEntry, StoreError};
use model::error::AppError;
use model::{AuditEntry, Page, Scope, Scopes, User};

/// Largest page an admin list returns.
pub const MAX_PAGE: i64 = 100;

/// Checks a page request: `limit` in 1..=MAX_PAGE, `offset` not negative.
pub(crate) fn page_bounds(limit: i64, offset: i64) -> Result<(i64, i64), AppError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::invalid(
            "limit",
            "range",
            crate::tr!("limit must be between 1 and %{MAX_PAGE}", MAX_PAGE = MAX_PAGE),
        ));
    }
    if offset < 0 {
        return Err(AppError::invalid("offset", "min", crate::tr!("offset must not be negative")));
    }
    Ok((limit, offset))
}

/// Users matching `query` in e-mail or name.
#[tracing::instrument(skip_all)]
pub async fn list(
    state: &AppState,
    query: &str,
    limit: i64,
    offset: i64,
) -> Result<Page<User>, AppError> {
    let (limit, offset) = page_bounds(limit, offset)?;
    if query.chars().count() > 200 {
        return Err(AppError::invalid(
            "query",
            "max_length",
            crate::tr!("query must be at most 200 characters"),
        ));
    }
    let (items, total) = state.store.list_users(query, limit, offset).await?;
    Ok(Page { items, total, offset, limit })
}

fn audit(
    actor: &Principal,
    action: &str,
    user_id: i64,
    detail: serde_json::Value,
) -> NewAuditEntry {
    crate::service::audit_by(actor, action, format!("user:{user_id}"), detail)
}

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found("user"),
        e => e.into(),
    }
}

/// Replaces a user's scopes. Admins cannot remove their own admin scope.
#[tracing::instrument(skip_all, fields(user.id = user_id))]
pub async fn set_scopes(
    state: &AppState,
    actor: &Principal,
    user_id: i64,
    names: &[String],
) -> Result<User, AppError> {
    let scopes = Scopes::parse_names(names).map_err(|m| AppError::invalid("scopes", "known", m))?;
    if actor.user_id == user_id && !scopes.contains(Scope::Admin) {
        return Err(AppError::invalid(
            "scopes",
            "keep_own_admin",
            crate::tr!("You cannot remove your own admin scope."),
        ));
    }
    let before = state.store.get_user(user_id).await.map_err(not_found)?;
    let detail = serde_json::json!({ "from": before.user.scopes.to_csv(), "to": scopes.to_csv() });
    let user = state
        .store
        .set_user_scopes(user_id, &scopes, audit(actor, "user.scopes_changed", user_id, detail))
        .await
        .map_err(not_found)?;
    forget_user(state, user_id).await;
    Ok(user)
}

/// Activates or deactivates a user; deactivation revokes their sessions at once.
#[tracing::instrument(skip_all, fields(user.id = user_id))]
pub async fn set_active(
    state: &AppState,
    actor: &Principal,
    user_id: i64,
    active: bool,
) -> Result<User, AppError> {
    if actor.user_id == user_id && !active {
        return Err(AppError::invalid(
            "active",
            "not_self",
            crate::tr!("You cannot deactivate your own account."),
        ));
    }
    let action = if active { "user.activated" } else { "user.deactivated" };
    let user = state
        .store
        .set_user_active(user_id, active, audit(actor, action, user_id, serde_json::json!({})))
        .await
        .map_err(not_found)?;
    forget_user(state, user_id).await;
    Ok(user)
}

/// The audit log, newest first.
#[tracing::instrument(skip_all)]
pub async fn audit_log(
    state: &AppState,
    limit: i64,
    offset: i64,
) -> Result<Page<AuditEntry>, AppError> {
    let (limit, offset) = page_bounds(limit, offset)?;
    let (items, total) = state.store.list_audit(limit, offset).await?;
    Ok(Page { items, total, offset, limit })
}
