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

/// 200 when the database answers, 503 when it does not. Redis is optional to serving — every
/// use of it falls back to local state — so a Redis outage makes the instance `degraded`
/// (still 200, `"degraded": true`) rather than unready: a load balancer must not pull every
/// instance because the shared cache is down.
pub async fn ready(State(state): State<ServerState>) -> (StatusCode, Json<serde_json::Value>) {
    let db = state.app.store.ping().await;
    let redis = match &state.app.redis {
        Some(r) => Some(r.ping().await),
        None => None,
    };
    let db_ok = db.is_ok();
    let degraded = redis.as_ref().is_some_and(Result::is_err);
    let status = if db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let redis_state = match &redis {
        None => "not configured",
        Some(Ok(())) => "ok",
        Some(Err(_)) => "unavailable",
    };
    let summary = match (db_ok, degraded) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    (
        status,
        Json(json!({
            "status": summary,
            "degraded": degraded,
            "checks": {
                "database": if db_ok { "ok" } else { "unavailable" },
                "database_backend": format!("{:?}", state.app.store.backend()).to_lowercase(),
                "redis": redis_state,
            }
        })),
    )
}
