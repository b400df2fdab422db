//! Liveness and readiness.

use crate::startup::ServerState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

/// 200 while the process serves requests.
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when the database (and Redis, when configured) answer; 503 naming what does not.
pub async fn ready(State(state): State<ServerState>) -> (StatusCode, Json<serde_json::Value>) {
    let db = state.app.store.ping().await;
    let redis = match &state.app.redis {
        Some(r) => Some(r.ping().await),
        None => None,
    };
    let db_ok = db.is_ok();
    let redis_ok = redis.as_ref().is_none_or(Result::is_ok);
    let status = if db_ok && redis_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let redis_state = match &redis {
        None => "not configured",
        Some(Ok(())) => "ok",
        Some(Err(_)) => "unavailable",
    };
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
            "checks": {
                "database": if db_ok { "ok" } else { "unavailable" },
                "database_backend": format!("{:?}", state.app.store.backend()).to_lowercase(),
                "redis": redis_state,
            }
        })),
    )
}
