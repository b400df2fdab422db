//! Providers against local servers speaking their wire protocols (wiremock, or a raw TCP
//! server where a connection must break mid-stream): answers and usage with and without
//! streaming, 429 + `Retry-After`, 5xx then success, mid-stream disconnects (no retry),
//! timeouts, and the circuit breaker opening and closing.

// A test fails by panicking; clippy.toml's allow-*-in-tests only covers #[test] fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
#[macro_use]
mod common;
mod gateway;
mod money;
mod providers;
mod routing;
mod support;

on_both_backends!(
    gateway: [fifty_concurrent_calls_at_the_edge],
    money: [a_lost_call_is_reaped_and_a_late_finish_takes_its_row_back],
    routing: [strategies_switch_at_run_time, cache_hits_cost_nothing],
);
