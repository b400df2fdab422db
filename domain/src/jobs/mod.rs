//! Durable background jobs: handlers registered by kind, a runner that claims jobs from the
//! store under leases, retries them with backoff, and publishes their events, and a cron
//! scheduler that fires recurring jobs once per period across instances. The state lives in the
//! `jobs` table through `store::JobStore`; this module owns the policy (concurrency, retries,
//! timeouts, heartbeats, shutdown) and must not write SQL or know about HTTP, WebSockets or UI.
//!
//! Why not apalis: apalis 1.0 (tower-based workers with retries, timeouts, cron and
//! SQLite/PostgreSQL storage) covers much of this, but `apalis-sqlite` and `apalis-postgres` 1.0
//! are built on sqlx 0.9 while we are on 0.8, so adopting them means a second sqlx and a second
//! connection pool per database. They also bring their own schema (`apalis.jobs`, a workers table,
//! SQL functions, a NOTIFY trigger, their own migrations), which would live outside our migrations
//! and outside the store contract suite that runs on both backends. Their leases are per-worker
//! heartbeats, while we need per-job lease fencing, owner-scoped listing and cancellation, stored
//! progress and a cancel flag that reaches a running handler: custom layers on top anyway. So we
//! keep this small core over one table, and revisit apalis if we need workflows, a dashboard or
//! other brokers, once it and we share a sqlx version.
//!
//! Map:
//! - `handler`: `JobRegistry::register(kind, KindConfig, async fn)`, `JobContext` (progress,
//!   cancellation), `JobError`.
//! - `runner`: `JobRunner::start` → `RunnerHandle` (`notify_enqueued`, `shutdown`), the reaper,
//!   the metrics `jobs_claimed_total`, `jobs_completed_total`, `job_run_seconds`,
//!   `job_claim_latency_seconds` and `jobs_queue_depth`.
//! - `cron`: `CronSchedule`, `CronScheduler::start` → `CronHandle`.
//!
//! Cron expressions are parsed by `croner` (4.x, MIT, maintained): it reads the standard
//! five-field crontab form with optional seconds and POSIX weekdays (0 = Sunday), and finds the
//! previous occurrence directly, which is what "fire the latest period" needs. The `cron` crate
//! requires a leading seconds field (a plain `0 3 * * *` is rejected) and numbers weekdays
//! Quartz-style (1 = Sunday), an easy way to schedule the wrong day.

pub mod cron;
pub mod handler;
pub mod kinds;
pub mod runner;

pub use cron::{CronHandle, CronSchedule, CronScheduler};
pub use handler::{HandlerResult, JobContext, JobError, JobRegistry, KindConfig};
pub use runner::{JobNotifier, JobRunner, RunnerConfig, RunnerHandle};
