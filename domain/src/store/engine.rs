//! The one store implementation: `SqlStore`, a sqlx `Any` pool plus the backend it talks to.
//! SQL is written once, with `$n` parameters (PostgreSQL and SQLite both accept them); the few
//! statements that differ come from `Backend`'s dialect methods. Each noun's trait is implemented
//! for `SqlStore` in that noun's own file.

use super::{Backend, PoolOptions, StoreResult};
use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyTypeInfo, AnyTypeInfoKind, AnyValueRef};
use sqlx::{Any, AnyPool, Decode, Executor, Transaction, Type};
use std::str::FromStr;

/// A store on a SQLite file or a PostgreSQL database.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
}

/// Statements whose text differs between the dialects.
impl Backend {
    /// Run inside the user-creation transaction before counting users, so that two concurrent
    /// first registrations cannot both become admin. SQLite has one writer at a time already.
    pub(crate) fn lock_users(self) -> Option<&'static str> {
        match self {
            // Serialises concurrent first registrations; ordinary inserts are not blocked long.
            Backend::Postgres => Some("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"),
            Backend::Sqlite => None,
        }
    }

    /// Run inside the RFC-creation transaction before reading the year's last number, so two
    /// RFCs created at once never take the same one.
    pub(crate) fn lock_rfcs(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some("LOCK TABLE rfcs IN SHARE ROW EXCLUSIVE MODE"),
            Backend::Sqlite => None,
        }
    }

    /// Run (with the RFC's id) before an RFC's row is read to be rewritten, so that two
    /// patches of different fields made at once both land. SQLite's write transaction already
    /// holds the only write lock.
    pub(crate) fn lock_rfc_row(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some("SELECT id FROM rfcs WHERE id = $1 FOR UPDATE"),
            Backend::Sqlite => None,
        }
    }

    /// Run first in every template write, so that the check "one template stays on" reads what
    /// no other admin's write is changing at the same moment.
    pub(crate) fn lock_rfc_templates(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some("LOCK TABLE rfc_templates IN SHARE ROW EXCLUSIVE MODE"),
            Backend::Sqlite => None,
        }
    }

    /// Opens a transaction that reads and then writes; None means the plain `BEGIN`.
    pub(crate) fn begin_write(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => None,
            // Take the write lock up front. A deferred transaction that reads and then writes
            // cannot upgrade its lock once another writer went first, and fails at once with
            // SQLITE_BUSY ("database is locked") instead of waiting for the busy timeout.
            Backend::Sqlite => Some("BEGIN IMMEDIATE"),
        }
    }

    /// Appended to the sub-select that picks the job to claim. PostgreSQL needs `FOR UPDATE
    /// SKIP LOCKED` so concurrent claimers skip each other's rows instead of queueing on them;
    /// SQLite runs one write statement at a time, so its claim is atomic as it stands.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Taken before appending to `index_log`, so that log sequence numbers become visible in
    /// order (PostgreSQL hands out identities before commit); None where writers are serial.
    pub(crate) fn lock_index_log(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some("LOCK TABLE index_log IN EXCLUSIVE MODE"),
            Backend::Sqlite => None,
        }
    }
}

impl SqlStore {
    /// Opens the database a URL names (`sqlite:` or `postgres://`) and runs its migrations.
    pub async fn connect(url: &str, opts: &PoolOptions) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(url, opts).await
        } else if url.starts_with("sqlite:") {
            Self::connect_sqlite(url, opts).await
        } else {
            anyhow::bail!("database.url must start with sqlite: or postgres://")
        }
    }

    /// Scale-out: PostgreSQL holds all data, so instances stay stateless. Migrations are guarded
    /// by sqlx's advisory lock, safe with many instances starting at once.
    async fn connect_postgres(url: &str, opts: &PoolOptions) -> anyhow::Result<Self> {
        let pool =
            pool_options(opts).connect(url).await.context("could not connect to PostgreSQL")?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .context("PostgreSQL migrations failed")?;
        Ok(Self { pool, backend: Backend::Postgres })
    }

    /// The embedded default: one SQLite file in WAL mode, created if missing (folder 0700 and
    /// file 0600: it holds the JWT signing key and sealed credentials). Writes are serialised
    /// by SQLite itself; the pool gives readers concurrency.
    async fn connect_sqlite(url: &str, opts: &PoolOptions) -> anyhow::Result<Self> {
        let parsed = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .context("database.url is not a valid sqlite: URL")?;
        let file = parsed.get_filename().to_path_buf();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
            && !in_memory
        {
            private_dir(dir).with_context(|| {
                format!("could not create the database folder {}", dir.display())
            })?;
        }
        if !in_memory {
            private_file(&file)
                .with_context(|| format!("could not create the database {}", file.display()))?;
        }
        // Every connection gets the same settings: WAL, NORMAL sync (durable at checkpoints,
        // safe with WAL), foreign keys on, and a 5 s wait for the write lock.
        let mut options = pool_options(opts);
        if in_memory {
            // Each new connection to `:memory:` would open a database of its own: keep one
            // connection, forever.
            options =
                options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        }
        let pool = options
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .context("could not open the SQLite database")?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .context("SQLite migrations failed")?;
        Ok(Self { pool, backend: Backend::Sqlite })
    }

    /// The underlying pool, for the store's own tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write after reading (see `Backend::begin_write`).
    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        Ok(match self.backend.begin_write() {
            Some(begin) => self.pool.begin_with(begin).await?,
            None => self.pool.begin().await?,
        })
    }
}

fn pool_options(opts: &PoolOptions) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .min_connections(opts.min_connections)
        .acquire_timeout(opts.acquire_timeout)
}

/// A boolean column, read back. sqlx's `Any` driver refuses a SQLite column declared `BOOLEAN`
/// outright, so every query selects a boolean column as `CAST(col AS INTEGER) AS col` (both
/// dialects accept the cast) and row structs read it with `#[sqlx(try_from = "Flag")]`, which
/// takes an integer (0 or 1) or a real boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        ty.kind() == AnyTypeInfoKind::Bool || ty.kind().is_integer()
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        use sqlx::ValueRef;
        if value.type_info().kind() == AnyTypeInfoKind::Bool {
            Ok(Flag(<bool as Decode<Any>>::decode(value)?))
        } else {
            Ok(Flag(<i64 as Decode<Any>>::decode(value)? != 0))
        }
    }
}

/// A time column, stored as Unix milliseconds; row structs read it as a `DateTime<Utc>` with
/// `#[sqlx(try_from = "Millis")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Millis(pub i64);

impl From<Millis> for chrono::DateTime<chrono::Utc> {
    fn from(m: Millis) -> Self {
        super::from_ms(m.0)
    }
}

impl Type<Any> for Millis {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        ty.kind().is_integer()
    }
}

impl<'r> Decode<'r, Any> for Millis {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Millis(<i64 as Decode<Any>>::decode(value)?))
    }
}

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

/// Adds one argument to a hand-built argument list.
pub(crate) fn add<'q, T>(args: &mut sqlx::any::AnyArguments<'q>, value: T) -> StoreResult<()>
where
    T: 'q + sqlx::Encode<'q, Any> + Type<Any>,
{
    use sqlx::Arguments;
    args.add(value).map_err(|e| super::StoreError::Other(anyhow::anyhow!(e)))
}

#[async_trait::async_trait]
impl super::Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn pool_stats(&self) -> super::PoolStats {
        super::PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// `$1, $2, …` starting at `first` for `n` parameters.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}
