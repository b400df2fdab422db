//! Plain axum routes: health, metrics and the REST API for programmatic clients. The browser UI
//! goes through Leptos pages and server fns instead; both call the same services.

/// `/health/live`, `/health/ready`.
pub mod health;
/// `/metrics`.
pub mod metrics;
/// `/api/v1/…`.
pub mod rest;
/// `/ws`: live events over WebSocket.
pub mod ws;
