#![recursion_limit = "256"]
//! Blueprint's application crate: the UI (compiled for SSR and for the browser) and, behind the
//! `ssr` feature, everything that runs only on the server.

/// Server functions: the typed API the UI calls; thin wrappers over `server::service`.
pub mod api;
/// The shell and the route table.
pub mod app;
/// Reusable UI components; data arrives through props.
pub mod components;
/// The one error type that crosses the wire.
pub mod error;
/// Types that cross the wire, with validated newtypes.
pub mod model;
/// Pages, one module per URL area; each page is a lazy route.
pub mod routes;
/// Server-only code: state, auth, services, store, cache. Never compiled to WASM.
#[cfg(feature = "ssr")]
pub mod server;

pub use app::{App, mark_hydrated, shell};
