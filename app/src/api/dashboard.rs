//! The dashboard's one read (scope `basic`).

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::dashboard;
use leptos::prelude::*;
use model::Overview;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use server_fn::codec::Json;

/// The caller's sources, searches, spend and jobs, and whether a model provider is set up.
#[server(prefix = "/api", endpoint = "dashboard", input = Json)]
pub async fn dashboard_overview() -> Result<Overview, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    dashboard::overview(&state, &user).await
}
