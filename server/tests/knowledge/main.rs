//! Knowledge below the HTTP API: connectors against local servers speaking Confluence's, Jira's
//! and GitLab's REST APIs (`connectors.rs`), and search relevance on a judged corpus
//! (`relevance.rs`).

// A test fails by panicking; clippy.toml's allow-*-in-tests only covers #[test] fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod connectors;
mod real_sets;
mod relevance;
