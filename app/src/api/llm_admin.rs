//! The gateway's admin server fns (scope `admin`): providers and their health, routing, every
//! user's spend, unpriced models, deployment-wide usage. And the caller's own usage summary
//! (scope `basic`).

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::llm_admin;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use model::{
    ProviderHealth, ProviderInfo, ProviderInput, RoutingView, SpendOverview, UnpricedModelInfo,
    UsageSummary,
};
use server_fn::codec::Json;
use std::collections::BTreeMap;

/// The caller's spend per day, feature and model over the last `days` days.
#[server(prefix = "/api", endpoint = "my_usage_summary", input = Json)]
pub async fn my_usage_summary(days: i64) -> Result<UsageSummary, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    llm_admin::usage_summary(&state, Some(user.user_id), days).await
}

/// Everyone's spend per day, feature and model (scope `admin`).
#[server(prefix = "/api", endpoint = "team_usage_summary", input = Json)]
pub async fn team_usage_summary(days: i64) -> Result<UsageSummary, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    llm_admin::usage_summary(&state, None, days).await
}

/// Every provider with its breaker state (scope `admin`; keys are never returned).
#[server(prefix = "/api", endpoint = "list_llm_providers", input = Json)]
pub async fn list_llm_providers() -> Result<Vec<ProviderInfo>, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    llm_admin::list_providers(&state).await
}

/// Adds or changes a provider (scope `admin`; audited; the key is sealed at rest).
#[server(prefix = "/api", endpoint = "save_llm_provider", input = Json)]
pub async fn save_llm_provider(provider: ProviderInput) -> Result<ProviderInfo, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    llm_admin::save_provider(&state, &admin, provider).await
}

/// Removes a provider an admin added (scope `admin`; audited).
#[server(prefix = "/api", endpoint = "delete_llm_provider", input = Json)]
pub async fn delete_llm_provider(name: String) -> Result<(), AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    llm_admin::delete_provider(&state, &admin, &name).await
}

/// Probes a provider now (scope `admin`).
#[server(prefix = "/api", endpoint = "probe_llm_provider", input = Json)]
pub async fn probe_llm_provider(name: String) -> Result<ProviderHealth, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    llm_admin::probe_provider(&state, &name).await
}

/// Routing in force (scope `admin`).
#[server(prefix = "/api", endpoint = "get_llm_routing", input = Json)]
pub async fn get_llm_routing() -> Result<RoutingView, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    llm_admin::routing_view(&state).await
}

/// Replaces the admin routing: strategy, per-feature routes, private pins (scope `admin`).
#[server(prefix = "/api", endpoint = "save_llm_routing", input = Json)]
pub async fn save_llm_routing(
    strategy: String,
    routes: BTreeMap<String, Vec<String>>,
    private_features: Vec<String>,
    private_users: Vec<String>,
) -> Result<RoutingView, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    let input = llm_admin::RoutingInput { strategy, routes, private_features, private_users };
    llm_admin::save_routing(&state, &admin, input).await
}

/// Every user's spend this period, filtered and paged, with top spenders (scope `admin`).
#[server(prefix = "/api", endpoint = "spend_overview", input = Json)]
pub async fn get_spend_overview(
    q: String,
    min_percent: i64,
    limit: i64,
    offset: i64,
) -> Result<SpendOverview, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    llm_admin::spend_overview(&state, &q, min_percent, limit, offset).await
}

/// Models billed at the default price in the last 30 days (scope `admin`).
#[server(prefix = "/api", endpoint = "unpriced_models", input = Json)]
pub async fn unpriced_models() -> Result<Vec<UnpricedModelInfo>, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    llm_admin::unpriced_models(&state).await
}
