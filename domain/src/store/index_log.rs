//! The index change log each instance reads to catch its index up.

use super::{SqlStore, StoreResult};
use async_trait::async_trait;

/// The index change log.
#[async_trait]
pub trait IndexLogStore: Send + Sync {
    /// Index log entries after `seq`: (seq, document id), ascending.
    async fn index_log_after(&self, seq: i64, limit: i64) -> StoreResult<Vec<(i64, i64)>>;
    /// The newest index log entry (0 when empty).
    async fn max_index_seq(&self) -> StoreResult<i64>;
}

#[async_trait]
impl IndexLogStore for SqlStore {
    async fn index_log_after(&self, seq: i64, limit: i64) -> StoreResult<Vec<(i64, i64)>> {
        Ok(sqlx::query_as(
            "SELECT seq, document_id FROM index_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn max_index_seq(&self) -> StoreResult<i64> {
        let (n,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(seq) FROM index_log").fetch_one(&self.pool).await?;
        Ok(n.unwrap_or(0))
    }
}
