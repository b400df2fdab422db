//! Server functions: the typed API the UI calls. Each is four lines: state, caller and scope,
//! parsed input, one service call. Endpoints are fixed (`/api/<name>`) because they are public.

/// Admin: users and the audit log.
pub mod admin;
/// Registration, sign-in, sign-out, the current user.
pub mod auth;
/// The application state and the caller, from the request context (server side only).
#[cfg(feature = "ssr")]
pub mod context;
/// The dashboard's one read.
pub mod dashboard;
/// Background jobs of the caller.
pub mod jobs;
/// The LLM gateway's admin side and usage summaries.
pub mod llm_admin;
/// The caller's notifications.
pub mod notifications;
/// The RFC studio.
pub mod rfcs;
/// Knowledge search, history, analytics.
pub mod search;
/// Knowledge sources: settings, syncs, files.
pub mod sources;
/// Personal API tokens.
pub mod tokens;
/// Budgets, the ledger, prices.
pub mod usage;
