#![recursion_limit = "256"]
//! Blueprint's application crate: pages, components and server fns, compiled for SSR and for the
//! browser. Wire types live in `model`; everything server-side that is not a page lives in
//! `domain` (reached only behind the `ssr` feature, so it never reaches the WASM).

/// Server functions: the typed API the UI calls; thin wrappers over `domain::service`.
pub mod api;
/// The shell and the route table.
pub mod app;
/// Reusable UI components; data arrives through props.
pub mod components;
/// Pages, one module per URL area; each page is a lazy route.
pub mod routes;

pub use app::{App, mark_hydrated, shell};
