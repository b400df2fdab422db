//! Persistence. One implementation, `SqlStore` (in `engine.rs`), over a sqlx `Any` pool: SQLite
//! for the embedded default, PostgreSQL for scale-out. The SQL is written once with `$n`
//! parameters; the few statements that differ come from `Backend`'s dialect methods. Each noun
//! has its own file and its own small trait; `Store` is all of them, so a `DynStore` offers
//! every method. Nothing above this module writes SQL; nothing here holds business rules.
//! Timestamps are stored as Unix milliseconds.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::Arc;

mod audit;
mod budget_batch;
mod budgets;
mod cron;
mod documents;
mod embeddings;
mod engine;
mod index_log;
mod job_stats;
mod jobs;
mod ledger;
mod notifications;
mod prices;
mod providers;
mod reservations;
mod rfc_templates;
mod rfcs;
mod search_log;
mod secrets;
mod source_files;
mod sources;
mod sync_runs;
mod tokens;
mod users;

pub use audit::{AuditStore, NewAuditEntry};
pub use budget_batch::{BudgetBatchStore, BudgetOp, BudgetOpResult};
pub use budgets::{BudgetCheck, BudgetRefusal, BudgetRow, BudgetSpend, BudgetStore};
pub use cron::CronStore;
pub use documents::{
    ChunkRecord, DocumentRecord, DocumentStore, IndexDocument, NewChunk, NewDocument, embed_text,
};
pub use embeddings::EmbeddingStore;
pub(crate) use engine::{Flag, Millis, add, placeholders};
pub use engine::{SqlStore, private_dir};
pub use index_log::IndexLogStore;
pub use job_stats::{FinishedStats, JobStatsStore};
pub use jobs::{
    ClaimedJob, DEFAULT_MAX_ATTEMPTS, HeartbeatAnswer, JobFilter, JobLease, JobStore, NewJob,
};
pub use ledger::{LedgerStore, NewLlmCall, UsageBucket};
pub use notifications::{NewNotification, NotificationList, NotificationStore};
pub use prices::{PriceRow, PriceStore, UnpricedModel};
pub use providers::{ProviderRow, ProviderStore};
pub use reservations::{CommitUnknown, NewReservation, ReservationRow, ReservationStore};
pub use rfc_templates::{LAST_ENABLED, RfcTemplateStore, TemplateRow, TemplateWrite};
pub use rfcs::{
    NewQuestion, NewRfc, NewRfcSource, NewSection, RfcPatch, RfcRecord, RfcStore, SectionUpdate,
    rfc_number,
};
pub use search_log::{NewSearchQuery, SearchLogStore, SearchQueryRecord};
pub use secrets::SecretStore;
pub use source_files::{NewSourceFile, SourceFileStore};
pub use sources::{NewSource, SourceRecord, SourceStore};
pub use sync_runs::SyncRunStore;
pub use tokens::{ApiTokenRecord, NewApiTokenRow, RefreshTokenRecord, TokenStore};
pub use users::{NewUserRow, UserRecord, UserStore};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A unique or foreign-key constraint refused the write.
    #[error("conflict on {constraint}")]
    Conflict {
        /// The constraint's name or the column it guards.
        constraint: String,
    },
    /// Anything else: connection, I/O, a bug. Logged, never shown.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db)
                if db.is_unique_violation() || db.is_foreign_key_violation() =>
            {
                StoreError::Conflict {
                    constraint: db
                        .constraint()
                        .map(str::to_string)
                        .unwrap_or_else(|| db.message().to_string()),
                }
            }
            _ => StoreError::Other(anyhow::Error::new(e)),
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which backend a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Pool gauges for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Idle connections.
    pub idle: u32,
}

/// A shared store handle.
pub type DynStore = Arc<dyn Store>;

/// Opens the store a database URL names (`sqlite:` or `postgres:`), running its migrations.
pub async fn connect(url: &str, opts: &PoolOptions) -> anyhow::Result<DynStore> {
    Ok(Arc::new(SqlStore::connect(url, opts).await?))
}

/// Pool settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Upper bound on connections.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a caller waits for a connection.
    pub acquire_timeout: std::time::Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// Milliseconds since the epoch.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Back from milliseconds; out-of-range values clamp to the epoch.
pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Everything Blueprint persists: every noun's trait, plus the pool's health. Implementations
/// make each method atomic.
#[async_trait::async_trait]
pub trait Store:
    UserStore
    + TokenStore
    + AuditStore
    + SecretStore
    + JobStore
    + JobStatsStore
    + CronStore
    + PriceStore
    + ProviderStore
    + BudgetStore
    + ReservationStore
    + BudgetBatchStore
    + LedgerStore
    + NotificationStore
    + SourceStore
    + SyncRunStore
    + DocumentStore
    + IndexLogStore
    + EmbeddingStore
    + SourceFileStore
    + SearchLogStore
    + RfcStore
    + RfcTemplateStore
    + Send
    + Sync
    + 'static
{
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// Pool gauges.
    fn pool_stats(&self) -> PoolStats;
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;
}
