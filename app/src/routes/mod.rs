//! Pages, one module per URL area. Each page is a `LazyRoute` whose `view()` creates the page's
//! resources and actions (a private `…Data::load()`) and renders, so all of the page's code,
//! including the server-function calls and the types they decode, ships as its own WASM chunk.
//! `data()` stays empty: code it runs would land in the main module that every page downloads.

/// `/admin`: users and the audit log.
pub mod admin;
/// `/admin/jobs`: the job queue, dead letters.
pub mod admin_jobs;
/// The AI gateway for admins: providers, routing, spend, prices.
pub mod admin_llm;
/// `/admin/search`: search analytics and the index.
pub mod admin_search;
/// `/signin` and `/register`.
pub mod auth;
/// `/`: the dashboard.
pub mod dashboard;
/// `/jobs`: the user's background jobs, live.
pub mod jobs;
/// The 404 page.
pub mod not_found;
/// `/notifications`: the user's notifications (budget alerts …), live.
pub mod notifications;
/// Areas that are not built yet.
pub mod placeholder;
/// `/admin/templates`: RFC templates for admins (in the admin page's lazy route).
pub mod rfc_templates;
/// `/rfcs`, `/rfcs/new`, `/rfcs/:id`: the RFC studio.
pub mod rfcs;
/// `/search`: knowledge search.
pub mod search;
/// `/settings`: profile, theme, API tokens.
pub mod settings;
/// `/sources`: knowledge sources, syncs, uploads.
pub mod sources;
/// `/usage`: budgets and model calls.
pub mod usage;
