//! Builds the application: state from settings, the router with its layers, the listener.
//! `Application::build` binds (port 0 in tests) and `run_until_stopped` serves until a
//! shutdown signal, then drains in-flight requests within the grace period.

mod application;
mod middleware;
mod router;
mod state;

pub use application::{Application, shutdown_signal};
pub use router::{leptos_options, router};
pub use state::{build_state, mail_settings};

use axum::extract::FromRef;
use axum::http::HeaderName;
use domain::state::AppState;
use leptos::prelude::*;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// State of the axum router: the app's state plus what only the HTTP layer needs.
#[derive(Clone, FromRef)]
pub struct ServerState {
    /// Leptos site options.
    pub leptos_options: LeptosOptions,
    /// The application state.
    pub app: AppState,
    /// Prometheus handle for `/metrics`.
    pub metrics: PrometheusHandle,
    /// Settings that middleware reads.
    pub http: Arc<HttpSettings>,
}

/// Settings read by middleware.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Whether `X-Forwarded-For` is trusted.
    pub trust_forwarded_for: bool,
    /// Whether HTTPS-only headers are sent.
    pub secure: bool,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<secrecy::SecretString>,
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
