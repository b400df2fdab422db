//! Prometheus exposition. Gauges that are cheap to read are refreshed at scrape time.

use crate::startup::ServerState;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use model::error::AppError;
use secrecy::ExposeSecret;
use std::sync::atomic::Ordering;

/// `GET /metrics` in the Prometheus text format; with `server.metrics_token` set, only for
/// `Authorization: Bearer <token>` (compared in constant time).
pub async fn render(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.http.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let expected = token.expose_secret();
        let same = presented.len() == expected.len()
            && presented.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same {
            return AppError::unauthorized(domain::tr!("metrics need the metrics token"))
                .into_response();
        }
    }
    let pool = state.app.store.pool_stats();
    metrics::gauge!("db_pool_connections").set(f64::from(pool.size));
    metrics::gauge!("db_pool_idle_connections").set(f64::from(pool.idle));
    let stats = state.app.cache.stats();
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!("cache_l1_hits").set(stats.l1_hits.load(Ordering::Relaxed) as f64);
        metrics::gauge!("cache_l2_hits").set(stats.l2_hits.load(Ordering::Relaxed) as f64);
        metrics::gauge!("cache_misses").set(stats.misses.load(Ordering::Relaxed) as f64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
