//! The embedded default: one SQLite file in WAL mode. Writes are serialised by SQLite itself;
//! the pool gives readers concurrency.

use super::sql::DialectSql;
use super::{Backend, PoolOptions};
use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// A store on a SQLite file (or `sqlite::memory:`).
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl DialectSql for SqliteStore {
    // SQLite has one writer at a time; the count and insert run in one write transaction.
    const LOCK_USERS: Option<&'static str> = None;
    // Take the write lock up front. A deferred transaction that reads (the user count) and then
    // writes cannot upgrade its lock once another writer went first, and fails at once with
    // SQLITE_BUSY ("database is locked") instead of waiting for the busy timeout.
    const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");
    // One writer at a time: the claim's select and update cannot interleave with another's.
    const SKIP_LOCKED: &'static str = "";
    const LOCK_INDEX_LOG: Option<&'static str> = None;
}

impl SqliteStore {
    /// Opens (creating if needed) the database, sets WAL mode and runs migrations.
    pub async fn connect(url: &str, opts: &PoolOptions) -> anyhow::Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .context("database.url is not a valid sqlite: URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(dir) = connect.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("could not create the database folder {}", dir.display())
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .min_connections(opts.min_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .context("could not open the SQLite database")?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .context("SQLite migrations failed")?;
        Ok(Self { pool })
    }

    /// The underlying pool, for the store's own tests.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl_sql_store!(SqliteStore, sqlx::Sqlite, Backend::Sqlite);
impl_job_store!(SqliteStore);
impl_llm_store!(SqliteStore);
impl_notification_store!(SqliteStore);
impl_knowledge_store!(SqliteStore, sqlx::Sqlite);
