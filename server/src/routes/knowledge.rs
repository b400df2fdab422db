//! `/api/v1` knowledge routes: search (GET with query parameters or POST with a JSON body),
//! more-like-this, clicks, history; sources, their syncs, runs and files; admin analytics, the
//! vector-search stats and the index rebuild. The same services as the server fns. File uploads
//! live in `upload_router`, which gets its own body limit (`knowledge.max_upload_bytes`).

use super::rest::{ApiJson, ApiQuery};
use crate::startup::ServerState;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use domain::auth::AuthOutcome;
use domain::service::{search, sources};
use model::error::AppError;
use model::{
    IndexStatus, Job, Scope, SearchAnalytics, SearchFilters, SearchHistoryEntry, SearchMode,
    SearchRequest, SearchResponse, Source, SourceFile, SourceForm, SyncRun,
};
use serde::{Deserialize, Serialize};

/// The routes, to nest under `/api/v1` (uploads excepted).
pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/search", get(search_get).post(search_post))
        .route("/search/history", get(history))
        .route("/search/clicks", post(click))
        .route("/documents/{id}/similar", get(similar))
        .route("/sources", get(list).post(create))
        .route("/sources/test", post(test_new))
        .route("/sources/{id}", get(get_one).put(update).delete(remove))
        .route("/sources/{id}/test", post(test_existing))
        .route("/sources/{id}/sync", post(sync_now))
        .route("/sources/{id}/runs", get(runs))
        .route("/sources/{id}/files", get(files))
        .route("/sources/{id}/files/{file_id}", get(download).delete(delete_file))
        .route("/admin/search/analytics", get(analytics))
        .route("/admin/search/stats", get(stats))
        .route("/admin/search/reindex", post(reindex))
}

/// `POST /api/v1/sources/{id}/files` (multipart, field `file`), with the upload body limit.
pub fn upload_router() -> Router<ServerState> {
    Router::new().route("/api/v1/sources/{id}/files", post(upload))
}

fn list_param(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    mode: Option<SearchMode>,
    limit: Option<i64>,
    offset: Option<i64>,
    /// Comma-separated source ids.
    source: Option<String>,
    #[serde(rename = "type")]
    doc_type: Option<String>,
    author: Option<String>,
    language: Option<String>,
    label: Option<String>,
    updated_after: Option<chrono::DateTime<chrono::Utc>>,
    updated_before: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /search?q=&mode=&limit=&offset=&source=1,2&type=&author=&language=&label=&updated_after=`.
async fn search_get(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<SearchResponse>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    let mut sources = Vec::new();
    for id in list_param(&q.source) {
        sources.push(id.parse::<i64>().map_err(|_| {
            AppError::invalid(
                "source",
                "format",
                domain::tr!("source must be comma-separated source ids"),
            )
        })?);
    }
    let req = SearchRequest {
        q: q.q,
        filters: SearchFilters {
            sources,
            types: list_param(&q.doc_type),
            authors: list_param(&q.author),
            languages: list_param(&q.language),
            labels: list_param(&q.label),
            updated_after: q.updated_after,
            updated_before: q.updated_before,
        },
        mode: q.mode.unwrap_or_default(),
        limit: q.limit,
        offset: q.offset,
    };
    Ok(Json(search::search(&s.app, &user, req).await?))
}

/// `POST /search` with a `SearchRequest` body.
async fn search_post(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(search::search(&s.app, &user, req).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    10
}

/// `GET /search/history?limit=`: the caller's recent searches.
async fn history(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<SearchHistoryEntry>>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(search::history(&s.app, &user, q.limit).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickBody {
    query_id: i64,
    position: i64,
    document_id: i64,
}

/// `POST /search/clicks`: the caller opened a result; 204.
async fn click(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(b): ApiJson<ClickBody>,
) -> Result<StatusCode, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    search::record_click(&s.app, &user, b.query_id, b.position, b.document_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /documents/{id}/similar?limit=`: more like this.
async fn similar(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<SearchResponse>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(search::more_like_this(&s.app, &user, id, q.limit).await?))
}

/// `GET /sources`.
async fn list(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Vec<Source>>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(sources::list(&s.app, &user).await?))
}

/// `POST /sources`: 201 with the source.
async fn create(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(form): ApiJson<SourceForm>,
) -> Result<(StatusCode, Json<Source>), AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok((StatusCode::CREATED, Json(sources::create(&s.app, &user, form).await?)))
}

/// `GET /sources/{id}`.
async fn get_one(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Source>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(sources::get(&s.app, &user, id).await?))
}

/// `PUT /sources/{id}`.
async fn update(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    ApiJson(form): ApiJson<SourceForm>,
) -> Result<Json<Source>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(sources::update(&s.app, &user, id, form).await?))
}

/// `DELETE /sources/{id}`: 204.
async fn remove(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    sources::delete(&s.app, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Tested {
    message: String,
}

/// `POST /sources/test`: checks a form's URL and credentials.
async fn test_new(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(form): ApiJson<SourceForm>,
) -> Result<Json<Tested>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(Tested { message: sources::test_connection(&s.app, &user, None, form).await? }))
}

/// `POST /sources/{id}/test`: as above, an empty secret using the stored one.
async fn test_existing(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    ApiJson(form): ApiJson<SourceForm>,
) -> Result<Json<Tested>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(Tested { message: sources::test_connection(&s.app, &user, Some(id), form).await? }))
}

/// `POST /sources/{id}/sync`: 202 with the job.
async fn sync_now(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Job>), AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok((StatusCode::ACCEPTED, Json(sources::sync_now(&s.app, &user, id).await?)))
}

/// `GET /sources/{id}/runs`.
async fn runs(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<SyncRun>>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(sources::runs(&s.app, &user, id).await?))
}

/// `GET /sources/{id}/files`.
async fn files(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<SourceFile>>, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    Ok(Json(sources::files(&s.app, &user, id).await?))
}

/// `POST /sources/{id}/files` (multipart, one part named `file`): 201 with the file; 422 naming
/// `file` for an empty, oversized, unsupported or unreadable file (nothing is stored then).
async fn upload(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<SourceFile>), AppError> {
    let user = auth.require_scope(Scope::Search)?;
    let limit = s.app.knowledge.settings().max_upload_bytes;
    let bad = |m: String| AppError::BadRequest { message: m };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(domain::tr!("could not read the upload: %{e}", e = e)))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload").to_string();
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::invalid(
                    "file",
                    "max_size",
                    domain::tr!("the file is larger than %{limit} bytes", limit = limit),
                )
            } else {
                bad(domain::tr!("could not read the upload: %{e}", e = e))
            }
        })?;
        let file = sources::upload(&s.app, &user, id, &name, bytes.to_vec()).await?;
        return Ok((StatusCode::CREATED, Json(file)));
    }
    Err(AppError::invalid(
        "file",
        "required",
        domain::tr!("send the file as a multipart part named file"),
    ))
}

/// `GET /sources/{id}/files/{file_id}`: the original file, as a download.
async fn download(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, file_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    let (file, bytes) = sources::download(&s.app, &user, id, file_id).await?;
    // Never rendered inline: an uploaded HTML file must not run in our origin.
    let content_type =
        if file.format == "pdf" { "application/pdf" } else { "application/octet-stream" };
    let safe: String = file
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let mut res = bytes.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// `DELETE /sources/{id}/files/{file_id}`: 204.
async fn delete_file(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, file_id)): Path<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    let user = auth.require_scope(Scope::Search)?;
    sources::delete_file(&s.app, &user, id, file_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DaysQuery {
    #[serde(default = "default_days")]
    days: i64,
}

fn default_days() -> i64 {
    7
}

/// `GET /admin/search/analytics?days=`.
async fn analytics(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<DaysQuery>,
) -> Result<Json<SearchAnalytics>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(search::analytics(&s.app, q.days).await?))
}

/// `GET /admin/search/stats`: this instance's index (documents, chunks, vectors, dimensions,
/// memory, embedder and its problem, last rebuild).
async fn stats(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<IndexStatus>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(s.app.knowledge.status()))
}

#[derive(Serialize)]
struct Reindexed {
    documents: i64,
}

/// `POST /admin/search/reindex`: rebuilds this instance's index from the database.
async fn reindex(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Reindexed>, AppError> {
    auth.require_scope(Scope::Admin)?;
    Ok(Json(Reindexed { documents: search::rebuild_index(&s.app).await? }))
}
