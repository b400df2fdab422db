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
    /// Opens (creating if missing, folder 0700 and file 0600: it holds the JWT signing key and
    /// sealed credentials) and migrates the database at `url`.
    pub async fn connect(url: &str, opts: &PoolOptions) -> anyhow::Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .context("database.url is not a valid sqlite: URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let file = connect.get_filename().to_path_buf();
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
        {
            private_dir(dir).with_context(|| {
                format!("could not create the database folder {}", dir.display())
            })?;
        }
        if !url.contains(":memory:") && !url.contains("mode=memory") {
            private_file(&file)
                .with_context(|| format!("could not create the database {}", file.display()))?;
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
impl_llm_store!(SqliteStore, sqlx::Sqlite);
impl_notification_store!(SqliteStore);
impl_knowledge_store!(SqliteStore, sqlx::Sqlite);

/// Creates a folder readable by this user only; an existing folder is left as it is (it may be
/// shared on purpose, e.g. the working directory).
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the database file as 0600, or narrows an existing one to 0600. SQLite gives its
/// `-wal` and `-shm` files the database file's permissions.
fn private_file(file: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(file)?.permissions().mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}
