//! Usage server fns: the caller's budgets and calls (scope `basic`); budget and price edits
//! (scope `admin`, with a reason, audited).

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::usage;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use model::{BudgetStatus, LlmCall, ModelPrice, Page, PromptAnswer};
use server_fn::codec::Json;

/// The caller's budgets: limit, spent, band, reset time, projection.
#[server(prefix = "/api", endpoint = "my_budgets", input = Json)]
pub async fn my_budgets() -> Result<Vec<BudgetStatus>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    usage::my_budgets(&state, &user).await
}

/// Whether a model provider is set up, so that the prompt form can say so before anyone asks.
#[server(prefix = "/api", endpoint = "model_ready", input = Json)]
pub async fn model_ready() -> Result<bool, AppError> {
    let state = app_state()?;
    require_scope(Scope::Basic)?;
    Ok(domain::service::dashboard::model_configured(&state).await)
}

/// The caller's calls in the last `days` days.
#[server(prefix = "/api", endpoint = "my_calls", input = Json)]
pub async fn my_calls(days: i64, limit: i64, offset: i64) -> Result<Page<LlmCall>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    usage::my_calls(&state, &user, days, limit, offset).await
}

/// Sets the global budget (no e-mail) or a user's (scope `admin`; audited with the reason).
#[server(prefix = "/api", endpoint = "set_budget", input = Json)]
pub async fn set_budget(
    user_email: Option<String>,
    limit_usd: f64,
    period: String,
    reason: String,
) -> Result<BudgetStatus, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    let user_id = match user_email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(email) => Some(usage::user_id_by_email(&state, email).await?),
        None => None,
    };
    usage::set_budget(&state, &admin, user_id, limit_usd, &period, &reason).await
}

/// Asks the console's model one question (scope `generate`; budgeted and recorded).
#[server(prefix = "/api", endpoint = "try_prompt", input = Json)]
pub async fn try_prompt(prompt: String) -> Result<PromptAnswer, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    let request_id = domain::errors::REQUEST_ID.try_with(Clone::clone).ok();
    usage::try_prompt(&state, &user, &prompt, request_id).await
}

/// The price table (scope `admin`).
#[server(prefix = "/api", endpoint = "list_prices", input = Json)]
pub async fn list_prices() -> Result<Vec<ModelPrice>, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    usage::prices(&state).await
}

/// Sets a model's price (scope `admin`; audited with the reason).
#[server(prefix = "/api", endpoint = "set_price", input = Json)]
pub async fn set_price(price: ModelPrice, reason: String) -> Result<(), AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    usage::set_price(&state, &admin, &price, &reason).await
}
