//! The REST API under `/api/v1` for API clients (bearer tokens). Handlers parse input, check the
//! scope and call the same services as the server fns. Errors are `AppError` as JSON:
//! `{"error": {"code": …, "message": …, …}}`.

use crate::startup::ServerState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use axum::{Extension, Json, Router};
use domain::auth::{AuthOutcome, ClientIp};
use domain::service::{accounts, jobs, tokens, users};
use model::error::{AppError, FieldError};
use model::{
    ApiTokenInfo, AuditEntry, CreatedApiToken, CurrentUser, Job, NewAccount, NewApiTokenForm, Page,
    QueueOverview, RegisterForm, Scope, SignInForm, TokenPair, User,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// JSON input whose rejections are `AppError`s naming the field and the rule.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !is_json {
            return Err(AppError::BadRequest {
                message: domain::tr!("send the body as JSON with Content-Type: application/json"),
            });
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge { limit_bytes: -1 }
            } else {
                AppError::BadRequest {
                    message: domain::tr!(
                        "could not read the body: %{reason}",
                        reason = e.body_text()
                    ),
                }
            }
        })?;
        // serde reads a struct from a JSON array too (by position); the API takes objects only.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(AppError::invalid(
                "body",
                "object",
                domain::tr!("the body must be a JSON object"),
            ));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => {
            if let Some(field) =
                text.split("missing field `").nth(1).and_then(|r| r.split('`').next())
            {
                return AppError::Validation {
                    errors: vec![FieldError::new(
                        field,
                        "required",
                        domain::tr!("%{field} is required", field = field),
                    )],
                };
            }
            AppError::BadRequest {
                message: domain::tr!(
                    "the JSON does not match the expected shape: %{text}",
                    text = text
                ),
            }
        }
        JsonRejection::JsonSyntaxError(_) => {
            AppError::BadRequest { message: domain::tr!("malformed JSON: %{text}", text = text) }
        }
        JsonRejection::MissingJsonContentType(_) => AppError::BadRequest {
            message: domain::tr!("send the body as JSON with Content-Type: application/json"),
        },
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::PayloadTooLarge { limit_bytes: -1 }
        }
        _ => AppError::BadRequest {
            message: domain::tr!("could not read the body: %{text}", text = text),
        },
    }
}

/// Query-string input whose rejections are `AppError`s (422 naming the parameter).
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, AppError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => {
                // "Failed to deserialize query string: limit: invalid digit found in string"
                let text = rejection.body_text();
                let detail = text.split_once(": ").map_or(text.as_str(), |(_, d)| d);
                let (field, rule) = match detail.split_once(": ") {
                    Some((field, rule)) if !field.contains(' ') => (field, rule),
                    _ => ("query", detail),
                };
                Err(AppError::invalid(field, "format", format!("{field}: {rule}")))
            }
        }
    }
}

/// The routes, to nest under `/api/v1`.
pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/admin/users", get(list_users))
        .route("/admin/users/{id}", patch(update_user))
        .route("/admin/audit", get(list_audit))
        .route("/admin/queue", get(queue_overview))
        .route("/admin/jobs", get(admin_list_jobs))
        .route("/admin/jobs/{id}", delete(discard_job))
        .route("/admin/jobs/{id}/retry", post(admin_retry_job))
        .route("/jobs", get(list_jobs))
        .route("/jobs/demo", post(start_demo_job))
        .route("/jobs/{id}/cancel", post(cancel_job))
        .route("/jobs/{id}/retry", post(retry_job))
}

fn pair(session: accounts::Session) -> Result<TokenPair, AppError> {
    Ok(TokenPair {
        access_token: session.access_token,
        expires_in: session.access_ttl_s,
        refresh_token: session
            .refresh_token
            .ok_or_else(|| AppError::Conflict { message: domain::tr!("this refresh token is being used by a concurrent request; retry with the newest one") })?,
        token_type: "Bearer".into(),
    })
}

/// `POST /auth/register`: creates an account; 201 with a token pair.
async fn register(
    State(s): State<ServerState>,
    Extension(ip): Extension<ClientIp>,
    headers: http::HeaderMap,
    ApiJson(form): ApiJson<RegisterForm>,
) -> Result<(StatusCode, Json<TokenPair>), AppError> {
    let new = NewAccount::try_from(form)?;
    let lang = domain::i18n::requested_lang(&headers);
    let session = accounts::register(&s.app, new, lang, &ip.0).await?;
    Ok((StatusCode::CREATED, Json(pair(session)?)))
}

/// `POST /auth/login`: e-mail and password for a token pair.
async fn login(
    State(s): State<ServerState>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(form): ApiJson<SignInForm>,
) -> Result<Json<TokenPair>, AppError> {
    Ok(Json(pair(accounts::sign_in(&s.app, form, &ip.0).await?)?))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

/// `POST /auth/refresh`: a refresh token for the next pair (single use).
async fn refresh(
    State(s): State<ServerState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<TokenPair>, AppError> {
    Ok(Json(pair(accounts::refresh(&s.app, &body.refresh_token).await?)?))
}

#[derive(Deserialize)]
struct LogoutBody {
    refresh_token: Option<String>,
}

/// `POST /auth/logout`: revokes the session the refresh token (or bearer token) belongs to.
async fn logout(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(body): ApiJson<LogoutBody>,
) -> Result<StatusCode, AppError> {
    if body.refresh_token.is_none() {
        auth.require_user()?;
    }
    accounts::sign_out(&s.app, body.refresh_token.as_deref(), auth.principal.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me`: the caller (scope `basic`).
async fn me(Extension(auth): Extension<AuthOutcome>) -> Result<Json<CurrentUser>, AppError> {
    Ok(Json(auth.require_scope(Scope::Basic)?.to_current_user()))
}

/// `GET /tokens`: the caller's API tokens.
async fn list_tokens(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Vec<ApiTokenInfo>>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(tokens::list(&s.app, &user).await?))
}

/// `POST /tokens`: creates an API token; 201 with its secret, shown once.
async fn create_token(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(form): ApiJson<NewApiTokenForm>,
) -> Result<(StatusCode, Json<CreatedApiToken>), AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok((StatusCode::CREATED, Json(tokens::create(&s.app, &user, form).await?)))
}

/// `DELETE /tokens/{id}`: revokes one of the caller's tokens.
async fn revoke_token(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    tokens::revoke(&s.app, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    query: String,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    20
}

/// `?limit=&offset=` of a list (20 by default), and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// How many.
    #[serde(default = "default_limit")]
    pub limit: i64,
    /// From where.
    #[serde(default)]
    pub offset: i64,
}

/// `GET /admin/users?query=&limit=&offset=` (scope `admin`).
async fn list_users(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<User>>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(users::list(&s.app, &q.query, q.limit, q.offset).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    scopes: Option<Vec<String>>,
    active: Option<bool>,
}

/// `PATCH /admin/users/{id}` with `scopes` and/or `active` (scope `admin`; audited).
async fn update_user(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Json<User>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    if patch.scopes.is_none() && patch.active.is_none() {
        return Err(AppError::invalid(
            "scopes",
            "required",
            domain::tr!("send scopes and/or active"),
        ));
    }
    let mut user = None;
    if let Some(scopes) = &patch.scopes {
        user = Some(users::set_scopes(&s.app, &admin, id, scopes).await?);
    }
    if let Some(active) = patch.active {
        user = Some(users::set_active(&s.app, &admin, id, active).await?);
    }
    user.map(Json).ok_or_else(|| AppError::not_found("user"))
}

/// `GET /admin/audit?limit=&offset=` (scope `admin`).
async fn list_audit(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<AuditEntry>>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(users::audit_log(&s.app, q.limit, q.offset).await?))
}

/// `GET /jobs?limit=&offset=`: the caller's jobs (scope `basic`).
async fn list_jobs(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Job>>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(jobs::list_mine(&s.app, &user, q.limit, q.offset).await?))
}

#[derive(Deserialize)]
struct DemoBody {
    #[serde(default = "default_steps")]
    steps: i64,
    #[serde(default = "default_step_ms")]
    step_ms: i64,
}

fn default_steps() -> i64 {
    10
}

fn default_step_ms() -> i64 {
    200
}

/// `POST /jobs/demo {steps, step_ms}`: starts a demo job; 202 with the job (scope `basic`).
async fn start_demo_job(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(body): ApiJson<DemoBody>,
) -> Result<(StatusCode, Json<Job>), AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(jobs::start_demo(&s.app, &user, body.steps, body.step_ms).await?),
    ))
}

/// `POST /jobs/{id}/cancel`: cancels one of the caller's jobs.
async fn cancel_job(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Job>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(jobs::cancel(&s.app, &user, id).await?))
}

/// `POST /jobs/{id}/retry`: runs a dead or cancelled job again.
async fn retry_job(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Job>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(jobs::retry(&s.app, &user, id).await?))
}

/// `GET /admin/queue`: depth, oldest waiting and throughput per kind (scope `admin`).
async fn queue_overview(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<QueueOverview>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(jobs::overview(&s.app).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminJobsQuery {
    state: Option<String>,
    kind: Option<String>,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

/// `GET /admin/jobs?state=dead&kind=&limit=&offset=`: every user's jobs (scope `admin`).
async fn admin_list_jobs(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<AdminJobsQuery>,
) -> Result<Json<Page<Job>>, AppError> {
    auth.require_scope(Scope::Admin)?;
    let page =
        jobs::list_all(&s.app, q.state.as_deref(), q.kind.as_deref(), q.limit, q.offset).await?;
    Ok(Json(page))
}

/// `POST /admin/jobs/{id}/retry`: runs any user's dead or cancelled job again (audited).
async fn admin_retry_job(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Job>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    Ok(Json(jobs::admin_retry(&s.app, &admin, id).await?))
}

/// `DELETE /admin/jobs/{id}`: discards a dead job for good; 204 (audited).
async fn discard_job(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    jobs::discard(&s.app, &admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
