//! Admin server fns (scope `admin`).

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::users;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use model::{AuditEntry, Page, User};
use server_fn::codec::Json;

/// Users whose e-mail or name contains `query`.
#[server(prefix = "/api", endpoint = "list_users", input = Json)]
pub async fn list_users(query: String, limit: i64, offset: i64) -> Result<Page<User>, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    users::list(&state, &query, limit, offset).await
}

/// Replaces a user's scopes (audited).
#[server(prefix = "/api", endpoint = "set_user_scopes", input = Json)]
pub async fn set_user_scopes(user_id: i64, scopes: Vec<String>) -> Result<User, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    users::set_scopes(&state, &admin, user_id, &scopes).await
}

/// Activates or deactivates a user (audited; deactivation ends their sessions at once).
#[server(prefix = "/api", endpoint = "set_user_active", input = Json)]
pub async fn set_user_active(user_id: i64, active: bool) -> Result<User, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    users::set_active(&state, &admin, user_id, active).await
}

/// The audit log, newest first.
#[server(prefix = "/api", endpoint = "list_audit", input = Json)]
pub async fn list_audit(limit: i64, offset: i64) -> Result<Page<AuditEntry>, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    users::audit_log(&state, limit, offset).await
}
