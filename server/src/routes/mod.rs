//! Plain axum routes: health, metrics and the REST API for programmatic clients. The browser UI
//! goes through Leptos pages and server fns instead; both call the same services.

/// `/health/live`, `/health/ready`.
pub mod health;
/// `/api/v1/search`, `/api/v1/sources`, `/api/v1/admin/search/*`: knowledge.
pub mod knowledge;
/// `/api/v1/llm/chat`, `/api/v1/budget`.
pub mod llm;
/// `/metrics`.
pub mod metrics;
/// `/api/v1/notifications`: the caller's notifications and read marks.
pub mod notifications;
/// `/api/v1/…`.
pub mod rest;
/// `/api/v1/rfcs…`, `/api/v1/rfc-templates`: the RFC studio.
pub mod rfcs;
/// `/ws`: live events over WebSocket.
pub mod ws;
