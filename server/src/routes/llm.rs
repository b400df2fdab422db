//! `/api/v1/llm/chat` (whole answer, or Server-Sent Events with `stream: true`) and
//! `/api/v1/budget` (the caller's budgets). Both need scope `generate`; calls go through the
//! gateway, so they are budgeted, priced and in the ledger.

use super::rest::{ApiJson, ApiQuery};
use crate::startup::ServerState;
use axum::extract::Path;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router, extract::State};
use domain::auth::AuthOutcome;
use domain::errors::REQUEST_ID;
use domain::llm::{Message, StreamEvent, Usage};
use domain::service::chat::{self, ChatInput};
use domain::service::{llm_admin, usage};
use futures::StreamExt;
use model::error::AppError;
use model::{BudgetStatus, ChatStreamEvent, LlmCall, ModelPrice, Page, Scope};
use serde::{Deserialize, Serialize};

/// The routes, to nest under `/api/v1`.
pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/llm/chat", post(chat))
        .route("/budget", get(budget))
        .route("/usage", get(usage_list))
        .route("/usage/export", get(usage_export))
        .route("/admin/budgets/global", put(set_global_budget))
        .route("/admin/budgets/users/{id}", put(set_user_budget))
        .route("/admin/prices", get(list_prices).put(set_price))
        .route("/usage/summary", get(my_summary))
        .route("/admin/llm/usage", get(team_summary))
        .route("/admin/llm/providers", get(list_providers))
        .route("/admin/llm/providers/{name}", put(save_provider).delete(delete_provider))
        .route("/admin/llm/providers/{name}/probe", post(probe_provider))
        .route("/admin/llm/routing", get(get_routing).put(save_routing))
        .route("/admin/llm/spend", get(spend))
        .route("/admin/llm/unpriced", get(unpriced))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    #[serde(default = "default_feature")]
    feature: String,
    messages: Vec<Message>,
    #[serde(default = "default_max_tokens")]
    max_tokens: u32,
    #[serde(default)]
    stream: bool,
}

fn default_feature() -> String {
    "api".into()
}

fn default_max_tokens() -> u32 {
    1024
}

/// A whole answer with what it cost.
#[derive(Serialize)]
struct ChatAnswer {
    text: String,
    finish_reason: Option<String>,
    usage: Usage,
    cost_nanos: i64,
    provider: String,
    model: String,
    call_id: i64,
}

/// `POST /llm/chat {feature, messages, max_tokens, stream}`.
async fn chat(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(body): ApiJson<ChatBody>,
) -> Result<Response, AppError> {
    let user = auth.require_user()?;
    let input =
        ChatInput { feature: body.feature, messages: body.messages, max_tokens: body.max_tokens };
    let request_id = REQUEST_ID.try_with(|id| id.clone()).ok();
    if !body.stream {
        let (answer, receipt) = chat::answer(&s.app, &user, input, request_id).await?;
        return Ok(Json(ChatAnswer {
            text: answer.text,
            finish_reason: answer.finish_reason,
            usage: answer.usage,
            cost_nanos: receipt.cost_nanos,
            provider: receipt.provider,
            model: receipt.model,
            call_id: receipt.call_id,
        })
        .into_response());
    }
    // Budget refusals and provider failures before the first token are plain JSON errors.
    let stream = chat::stream(&s.app, &user, input, request_id).await?;
    let stream = domain::i18n::scope_stream(domain::i18n::lang(), stream);
    let events = stream.map(|item| {
        let event = match item {
            Ok(StreamEvent::Delta(text)) => ChatStreamEvent::Delta { text },
            Ok(StreamEvent::Usage(usage)) => ChatStreamEvent::Usage(usage),
            Ok(StreamEvent::Done { finish_reason }) => ChatStreamEvent::Done { finish_reason },
            Ok(StreamEvent::Billed { cost_nanos, usage }) => {
                ChatStreamEvent::Cost { cost_nanos, usage }
            }
            Err(error) => ChatStreamEvent::Error { error },
        };
        Event::default()
            .event(event.name())
            .json_data(event.data())
            .map_err(|e| AppError::BadRequest { message: e.to_string() })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

/// `GET /budget`: the caller's budgets with band, reset time and projection.
async fn budget(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Vec<BudgetStatus>>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(usage::budget_status(&s.app.llm, user.user_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    #[serde(default = "default_days")]
    days: i64,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_days() -> i64 {
    30
}

fn default_limit() -> i64 {
    50
}

/// `GET /usage?days=&limit=&offset=`: the caller's calls, newest first.
async fn usage_list(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<Page<LlmCall>>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(usage::my_calls(&s.app, &user, q.days, q.limit, q.offset).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    #[serde(default = "default_days")]
    days: i64,
    #[serde(default = "default_format")]
    format: String,
}

fn default_format() -> String {
    "csv".into()
}

/// `GET /usage/export?days=&format=csv|json`: the caller's ledger as a download.
async fn usage_export(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    let (content_type, ext) = match q.format.as_str() {
        "csv" => ("text/csv; charset=utf-8", "csv"),
        "json" => ("application/json", "json"),
        _ => {
            return Err(AppError::invalid(
                "format",
                "one_of",
                domain::tr!("format must be csv or json"),
            ));
        }
    };
    let calls = usage::export_calls(&s.app, &user, q.days).await?;
    let body = if ext == "csv" {
        usage::calls_csv(&calls)
    } else {
        serde_json::to_string(&calls)
            .map_err(|e| AppError::BadRequest { message: e.to_string() })?
    };
    let disposition = format!("attachment; filename=\"blueprint-usage.{ext}\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetBody {
    limit_usd: f64,
    period: String,
    reason: String,
}

/// `PUT /admin/budgets/global {limit_usd, period, reason}` (scope `admin`; audited).
async fn set_global_budget(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(b): ApiJson<BudgetBody>,
) -> Result<Json<BudgetStatus>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    Ok(Json(usage::set_budget(&s.app, &admin, None, b.limit_usd, &b.period, &b.reason).await?))
}

/// `PUT /admin/budgets/users/{id} {limit_usd, period, reason}` (scope `admin`; audited).
async fn set_user_budget(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<BudgetBody>,
) -> Result<Json<BudgetStatus>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    Ok(Json(usage::set_budget(&s.app, &admin, Some(id), b.limit_usd, &b.period, &b.reason).await?))
}

/// `GET /admin/prices` (scope `admin`).
async fn list_prices(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Vec<ModelPrice>>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(usage::prices(&s.app).await?))
}

// `flatten` cannot be combined with `deny_unknown_fields`.
#[derive(Deserialize)]
struct PriceBody {
    #[serde(flatten)]
    price: ModelPrice,
    reason: String,
}

/// `PUT /admin/prices {model, input_usd_per_mtok, output_usd_per_mtok, cached_input_usd_per_mtok, reason}`.
async fn set_price(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(b): ApiJson<PriceBody>,
) -> Result<axum::http::StatusCode, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    usage::set_price(&s.app, &admin, &b.price, &b.reason).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    #[serde(default = "default_days")]
    days: i64,
}

/// `GET /usage/summary?days=`: the caller's spend per day, feature and model.
async fn my_summary(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Json<model::UsageSummary>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(llm_admin::usage_summary(&s.app, Some(user.user_id), q.days).await?))
}

/// `GET /admin/llm/usage?days=`: everyone's spend per day, feature and model.
async fn team_summary(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Json<model::UsageSummary>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(llm_admin::usage_summary(&s.app, None, q.days).await?))
}

/// `GET /admin/llm/providers`: every provider with its breaker state; keys are never shown.
async fn list_providers(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Vec<model::ProviderInfo>>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(llm_admin::list_providers(&s.app).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderBody {
    kind: String,
    base_url: String,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    azure: bool,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "default_timeout")]
    timeout_secs: i64,
    #[serde(default = "default_retries")]
    max_retries: i32,
}

fn yes() -> bool {
    true
}

fn default_timeout() -> i64 {
    60
}

fn default_retries() -> i32 {
    2
}

/// `PUT /admin/llm/providers/{name} {kind, base_url, api_key?, private, enabled, …}`.
async fn save_provider(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<ProviderBody>,
) -> Result<Json<model::ProviderInfo>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    let input = model::ProviderInput {
        name,
        kind: b.kind,
        base_url: b.base_url,
        api_key: b.api_key,
        private: b.private,
        azure: b.azure,
        enabled: b.enabled,
        timeout_secs: b.timeout_secs,
        max_retries: b.max_retries,
    };
    Ok(Json(llm_admin::save_provider(&s.app, &admin, input).await?))
}

/// `DELETE /admin/llm/providers/{name}`.
async fn delete_provider(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(name): Path<String>,
) -> Result<axum::http::StatusCode, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    llm_admin::delete_provider(&s.app, &admin, &name).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `POST /admin/llm/providers/{name}/probe`: a health probe now.
async fn probe_provider(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(name): Path<String>,
) -> Result<Json<model::ProviderHealth>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(llm_admin::probe_provider(&s.app, &name).await?))
}

/// `GET /admin/llm/routing`.
async fn get_routing(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<model::RoutingView>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(llm_admin::routing_view(&s.app).await?))
}

/// `PUT /admin/llm/routing {strategy, routes, private_features, private_users}`.
async fn save_routing(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(b): ApiJson<llm_admin::RoutingInput>,
) -> Result<Json<model::RoutingView>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    Ok(Json(llm_admin::save_routing(&s.app, &admin, b).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpendQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    min_percent: i64,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

/// `GET /admin/llm/spend?q=&min_percent=&limit=&offset=`: every user's spend this period.
async fn spend(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<SpendQuery>,
) -> Result<Json<model::SpendOverview>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(llm_admin::spend_overview(&s.app, &q.q, q.min_percent, q.limit, q.offset).await?))
}

/// `GET /admin/llm/unpriced`: models billed at the default price in the last 30 days.
async fn unpriced(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Vec<model::UnpricedModelInfo>>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(llm_admin::unpriced_models(&s.app).await?))
}
