//! The Blueprint server: configuration, telemetry, HTTP start-up and the plain axum routes.
//! All product logic lives in the `app` crate; this crate wires it to the network.

// The whole app's view type is deep; rustc's default limit (128) overflows computing its layout.
#![recursion_limit = "256"]

/// Command-line commands besides serving.
pub mod commands;
/// Layered settings.
pub mod config;
/// Health, metrics, REST.
pub mod routes;
/// State, router, listener, graceful shutdown.
pub mod startup;
/// Logging and metrics set-up.
pub mod telemetry;
