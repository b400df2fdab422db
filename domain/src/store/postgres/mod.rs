//! Scale-out: PostgreSQL holds all data, so instances stay stateless.

use super::sql::DialectSql;
use super::{Backend, PoolOptions};
use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};

/// A store on a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl DialectSql for PgStore {
    // Serialises concurrent first registrations; ordinary inserts are not blocked for long.
    const LOCK_USERS: Option<&'static str> = Some("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE");
    const BEGIN_WRITE: Option<&'static str> = None;
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const LOCK_INDEX_LOG: Option<&'static str> = Some("LOCK TABLE index_log IN EXCLUSIVE MODE");
}

impl PgStore {
    /// Connects and runs migrations (guarded by sqlx's advisory lock, safe with many instances).
    pub async fn connect(url: &str, opts: &PoolOptions) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .min_connections(opts.min_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect(url)
            .await
            .context("could not connect to PostgreSQL")?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .context("PostgreSQL migrations failed")?;
        Ok(Self { pool })
    }

    /// The underlying pool, for the store's own tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl_sql_store!(PgStore, sqlx::Postgres, Backend::Postgres);
impl_job_store!(PgStore);
impl_llm_store!(PgStore, sqlx::Postgres);
impl_notification_store!(PgStore);
impl_knowledge_store!(PgStore, sqlx::Postgres);
