//! Search server fns (scope `search`): search, more like this, clicks, history; analytics and
//! the index rebuild for admins.

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::search;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use model::{SearchAnalytics, SearchHistoryEntry, SearchRequest, SearchResponse};
use server_fn::codec::Json;

/// Searches the knowledge the caller may see.
#[server(prefix = "/api", endpoint = "search", input = Json)]
pub async fn search_knowledge(req: SearchRequest) -> Result<SearchResponse, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    search::search(&state, &user, req).await
}

/// Documents like one the caller can see.
#[server(prefix = "/api", endpoint = "more_like_this", input = Json)]
pub async fn more_like_this(document_id: i64, limit: i64) -> Result<SearchResponse, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    search::more_like_this(&state, &user, document_id, limit).await
}

/// Records that the caller opened result `position` of search `query_id`.
#[server(prefix = "/api", endpoint = "record_search_click", input = Json)]
pub async fn record_search_click(
    query_id: i64,
    position: i64,
    document_id: i64,
) -> Result<(), AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    search::record_click(&state, &user, query_id, position, document_id).await
}

/// The caller's recent searches.
#[server(prefix = "/api", endpoint = "search_history", input = Json)]
pub async fn search_history(limit: i64) -> Result<Vec<SearchHistoryEntry>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Search)?;
    search::history(&state, &user, limit).await
}

/// Search analytics and index state (scope `admin`).
#[server(prefix = "/api", endpoint = "search_analytics", input = Json)]
pub async fn get_search_analytics(days: i64) -> Result<SearchAnalytics, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    search::analytics(&state, days).await
}

/// Rebuilds this instance's index from the database (scope `admin`).
#[server(prefix = "/api", endpoint = "rebuild_search_index", input = Json)]
pub async fn rebuild_search_index() -> Result<i64, AppError> {
    let state = app_state()?;
    require_scope(Scope::Admin)?;
    search::rebuild_index(&state).await
}
