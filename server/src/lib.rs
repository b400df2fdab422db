//! The Blueprint server: configuration, telemetry, HTTP start-up and the plain axum routes.
//! All product logic lives in the `app` crate; this crate wires it to the network.

/// Layered settings.
pub mod config;
/// Command-line commands besides serving.
pub mod commands;
/// Health, metrics, REST.
pub mod routes;
/// State, router, listener, graceful shutdown.
pub mod startup;
/// Logging and metrics set-up.
pub mod telemetry;
