//! HTTP tests against a spawned application (SQLite by default; the main account flow also on
//! PostgreSQL), plus the cache and rate limiter against a real local Redis.

// A test fails by panicking; clippy.toml's allow-*-in-tests only covers #[test] fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod admin_jobs;
mod auth;
mod authz;
mod browser;
mod cache;
mod helpers;
mod hostile;
mod hygiene;
mod jobs_live;
mod knowledge;
mod llm;
mod mail;
mod notifications;
mod ops;
mod ratelimit;
mod redis_outage;
mod security;
mod shutdown;
mod smtp_sink;
mod tokens;
mod ws;
