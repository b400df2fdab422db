//! Knowledge source server fns (scope `search`; connector sources and team-wide visibility need
//! `admin`, checked by the service). Uploads go through `POST /api/v1/sources/{id}/files`.

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::sources;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use model::{Job, Source, SourceFile, SourceForm, SyncRun};
use server_fn::codec::Json;

/// Sources the caller can see.
#[server(prefix = "/api", endpoint = "list_sources", input = Json)]
pub async fn list_sources() -> Result<Vec<Source>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::list(&state, &user).await
}

/// Adds a source.
#[server(prefix = "/api", endpoint = "create_source", input = Json)]
pub async fn create_source(form: SourceForm) -> Result<Source, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::create(&state, &user, form).await
}

/// Changes a source's settings.
#[server(prefix = "/api", endpoint = "update_source", input = Json)]
pub async fn update_source(id: i64, form: SourceForm) -> Result<Source, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::update(&state, &user, id, form).await
}

/// Deletes a source and its documents.
#[server(prefix = "/api", endpoint = "delete_source", input = Json)]
pub async fn delete_source(id: i64) -> Result<(), AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::delete(&state, &user, id).await
}

/// Checks a source's URL and credentials (`id` of an existing source to reuse its secret).
#[server(prefix = "/api", endpoint = "test_source", input = Json)]
pub async fn test_source(id: Option<i64>, form: SourceForm) -> Result<String, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::test_connection(&state, &user, id, form).await
}

/// Starts a sync now.
#[server(prefix = "/api", endpoint = "sync_source", input = Json)]
pub async fn sync_source(id: i64) -> Result<Job, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::sync_now(&state, &user, id).await
}

/// A source's sync runs, newest first.
#[server(prefix = "/api", endpoint = "list_sync_runs", input = Json)]
pub async fn list_sync_runs(id: i64) -> Result<Vec<SyncRun>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::runs(&state, &user, id).await
}

/// A file source's files.
#[server(prefix = "/api", endpoint = "list_source_files", input = Json)]
pub async fn list_source_files(id: i64) -> Result<Vec<SourceFile>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::files(&state, &user, id).await
}

/// Deletes an uploaded file (its document leaves the index with the next sync, started now).
#[server(prefix = "/api", endpoint = "delete_source_file", input = Json)]
pub async fn delete_source_file(id: i64, file_id: i64) -> Result<(), AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    sources::delete_file(&state, &user, id, file_id).await
}
