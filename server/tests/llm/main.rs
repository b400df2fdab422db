//! Providers against local servers speaking their wire protocols (wiremock, or a raw TCP
//! server where a connection must break mid-stream): answers and usage with and without
//! streaming, 429 + `Retry-After`, 5xx then success, mid-stream disconnects (no retry),
//! timeouts, and the circuit breaker opening and closing.

// A test fails by panicking; clippy.toml's allow-*-in-tests only covers #[test] fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod gateway;
mod money;
mod providers;
mod routing;
mod support;
