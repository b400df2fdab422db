//! Personal API token server fns (scope `basic`).

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::tokens;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use model::{ApiTokenInfo, CreatedApiToken, NewApiTokenForm};
use server_fn::codec::Json;

/// The caller's API tokens.
#[server(prefix = "/api", endpoint = "list_api_tokens", input = Json)]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenInfo>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    tokens::list(&state, &user).await
}

/// Creates an API token; its secret is in the answer and nowhere else.
#[server(prefix = "/api", endpoint = "create_api_token", input = Json)]
pub async fn create_api_token(form: NewApiTokenForm) -> Result<CreatedApiToken, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    tokens::create(&state, &user, form).await
}

/// Revokes one of the caller's API tokens.
#[server(prefix = "/api", endpoint = "revoke_api_token", input = Json)]
pub async fn revoke_api_token(id: i64) -> Result<(), AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    tokens::revoke(&state, &user, id).await
}
