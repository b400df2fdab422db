//! Persistence. One `Store` trait, implemented twice: `sqlite/` for the embedded default and
//! `postgres/` for scale-out. Both share the SQL in `sql.rs` where the dialects agree and keep
//! their own where they differ. Nothing above this module writes SQL; nothing here holds
//! business rules. Timestamps are stored as Unix milliseconds. The job queue's SQL lives in
//! `jobs.rs`, a second macro expanded by both backends; the gateway's in `llm.rs` and
//! notifications' in `notifications.rs`, likewise.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use model::{ApiTokenInfo, AuditEntry, Scopes, User};
use std::sync::Arc;

#[macro_use]
mod sql;
#[macro_use]
pub mod jobs;
#[macro_use]
pub mod llm;
#[macro_use]
pub mod knowledge;
#[macro_use]
pub mod notifications;
pub mod postgres;
pub mod sqlite;

pub use jobs::{
    ClaimedJob, DEFAULT_MAX_ATTEMPTS, FinishedStats, HeartbeatAnswer, JobFilter, JobLease,
    JobStore, NewJob,
};
pub use knowledge::{
    ChunkRecord, DocumentRecord, IndexDocument, KnowledgeStore, NewChunk, NewDocument,
    NewSearchQuery, NewSource, NewSourceFile, SearchQueryRecord, SourceRecord,
};
pub use llm::{
    BudgetCheck, BudgetOp, BudgetOpResult, BudgetRefusal, BudgetRow, BudgetSpend, CommitUnknown,
    LlmStore, NewLlmCall, NewReservation, PriceRow, ProviderRow, ReservationRow, UnpricedModel,
    UsageBucket,
};
pub use notifications::{NewNotification, NotificationList, NotificationStore};

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

/// A user row with the secret parts services need.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The public part.
    pub user: User,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUserRow {
    /// Normalised e-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Scopes for an ordinary user.
    pub scopes: Scopes,
    /// Scopes given instead when no user exists yet (the first user becomes admin).
    pub first_user_scopes: Option<Scopes>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A refresh token as stored (the secret itself is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// All tokens rotated from one sign-in share a family.
    pub family_id: String,
    /// Owner.
    pub user_id: i64,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for the next one.
    pub used_at: Option<DateTime<Utc>>,
    /// When it (or its family) was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API token as stored, with its owner.
#[derive(Debug, Clone)]
pub struct ApiTokenRecord {
    /// The public part.
    pub info: ApiTokenInfo,
    /// Owner.
    pub user_id: i64,
}

/// An API token to insert.
#[derive(Debug, Clone)]
pub struct NewApiTokenRow {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// SHA-256 of the secret, hex.
    pub token_hash: String,
    /// Scopes.
    pub scopes: Scopes,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
}

/// An audit entry to insert.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (None for the command line).
    pub actor_id: Option<i64>,
    /// Their e-mail.
    pub actor_email: Option<String>,
    /// What.
    pub action: String,
    /// To what.
    pub target: String,
    /// Details, JSON text.
    pub detail: String,
}

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

/// Everything Blueprint persists. Implementations must make each method atomic. The job queue's
/// methods come from the `JobStore` supertrait, the gateway's from `LlmStore` and notifications'
/// from `NotificationStore`, so a `DynStore` offers them too.
#[async_trait]
pub trait Store:
    JobStore + LlmStore + NotificationStore + KnowledgeStore + Send + Sync + 'static
{
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// Pool gauges.
    fn pool_stats(&self) -> PoolStats;
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    // --- users
    /// Inserts a user; gives `first_user_scopes` if the table was empty (atomically).
    async fn create_user(&self, row: NewUserRow) -> StoreResult<User>;
    /// A user by id.
    async fn get_user(&self, id: i64) -> StoreResult<UserRecord>;
    /// A user by normalised e-mail.
    async fn get_user_by_email(&self, email: &str) -> StoreResult<UserRecord>;
    /// Users whose e-mail or name contains `query` (case-insensitive), newest first.
    async fn list_users(
        &self,
        query: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<User>, i64)>;
    /// Number of users.
    async fn count_users(&self) -> StoreResult<i64>;
    /// Records a successful sign-in.
    async fn touch_user_login(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
    /// Replaces a user's scopes and records the audit entry in the same transaction.
    async fn set_user_scopes(
        &self,
        id: i64,
        scopes: &Scopes,
        audit: NewAuditEntry,
    ) -> StoreResult<User>;
    /// Activates or deactivates a user, revoking all their refresh tokens when deactivating,
    /// and records the audit entry, all in one transaction.
    async fn set_user_active(
        &self,
        id: i64,
        active: bool,
        audit: NewAuditEntry,
    ) -> StoreResult<User>;
    /// Replaces a password hash (and revokes refresh tokens) in one transaction.
    async fn set_user_password(
        &self,
        id: i64,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    // --- refresh tokens
    /// Stores a new refresh token.
    async fn insert_refresh_token(&self, row: RefreshTokenRecord) -> StoreResult<()>;
    /// A refresh token by hash.
    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<RefreshTokenRecord>;
    /// Marks an unused, unrevoked token used and stores its successor, atomically. Returns
    /// false (and writes nothing) if the token was already used or revoked.
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
        next: RefreshTokenRecord,
    ) -> StoreResult<bool>;
    /// Revokes every token of a family.
    async fn revoke_refresh_family(&self, family_id: &str, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Whether any token of the family was revoked (sign-out, reuse, deactivation, new password).
    async fn refresh_family_revoked(&self, family_id: &str) -> StoreResult<bool>;

    // --- API tokens
    /// Stores a new API token.
    async fn insert_api_token(&self, row: NewApiTokenRow) -> StoreResult<ApiTokenInfo>;
    /// A user's tokens, newest first.
    async fn list_api_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiTokenInfo>>;
    /// A token by the hash of its secret.
    async fn get_api_token_by_hash(&self, token_hash: &str) -> StoreResult<ApiTokenRecord>;
    /// Revokes one of a user's tokens; NotFound if it is not theirs.
    async fn revoke_api_token(&self, user_id: i64, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
    /// Records that a token was used.
    async fn touch_api_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;

    // --- audit
    /// Appends an audit entry.
    async fn insert_audit(&self, entry: NewAuditEntry) -> StoreResult<()>;
    /// Audit entries, newest first.
    async fn list_audit(&self, limit: i64, offset: i64) -> StoreResult<(Vec<AuditEntry>, i64)>;

    // --- secrets
    /// Returns the stored value for `name`, storing `candidate` first if there is none
    /// (first writer wins across instances).
    async fn get_or_init_secret(
        &self,
        name: &str,
        candidate: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<String>;
}

/// A shared store handle.
pub type DynStore = Arc<dyn Store>;

/// Opens the store a database URL names (`sqlite:` or `postgres:`), running its migrations.
pub async fn connect(url: &str, opts: &PoolOptions) -> anyhow::Result<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url, opts).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, opts).await?))
    } else {
        anyhow::bail!("database.url must start with sqlite: or postgres://")
    }
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
