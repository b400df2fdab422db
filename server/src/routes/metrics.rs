//! Prometheus exposition. Gauges that are cheap to read are refreshed at scrape time.

use crate::startup::ServerState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::atomic::Ordering;

/// `GET /metrics` in the Prometheus text format.
pub async fn render(State(state): State<ServerState>) -> impl IntoResponse {
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
