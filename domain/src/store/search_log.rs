//! Search analytics: queries, clicks and each user's recent searches.

use super::{SqlStore, StoreError, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::SearchHistoryEntry;

/// A search to record for analytics and history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSearchQuery {
    /// Who.
    pub user_id: i64,
    /// The words.
    pub query: String,
    /// Filters, JSON text.
    pub filters: String,
    /// Results.
    pub results: i64,
    /// Server time, µs.
    pub latency_us: i64,
    /// Served from the cache.
    pub cached: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// A recorded search.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SearchQueryRecord {
    /// Id.
    pub id: i64,
    /// The words.
    pub query: String,
    /// Results.
    pub results: i64,
    /// Server time, µs.
    pub latency_us: i64,
    /// Unix ms.
    pub at: i64,
}

/// The search log.
#[async_trait]
pub trait SearchLogStore: Send + Sync {
    /// Records a search; returns its id.
    async fn insert_search_query(&self, q: &NewSearchQuery) -> StoreResult<i64>;
    /// Records a click on a result of one of the user's searches; NotFound otherwise.
    async fn insert_search_click(
        &self,
        query_id: i64,
        user_id: i64,
        position: i64,
        document_id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Searches since a time, oldest first.
    async fn search_queries_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<SearchQueryRecord>>;
    /// Clicks since a time: (query id, position).
    async fn search_clicks_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<(i64, i64)>>;
    /// A user's recent distinct searches, newest first.
    async fn recent_searches(
        &self,
        user_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<SearchHistoryEntry>>;
}

#[async_trait]
impl SearchLogStore for SqlStore {
    async fn insert_search_query(&self, q: &NewSearchQuery) -> StoreResult<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO search_queries (user_id, query, filters, results, \
                         latency_us, cached, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(q.user_id)
        .bind(&q.query)
        .bind(&q.filters)
        .bind(q.results)
        .bind(q.latency_us)
        .bind(q.cached)
        .bind(to_ms(q.at))
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn insert_search_click(
        &self,
        query_id: i64,
        user_id: i64,
        position: i64,
        document_id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO search_clicks (query_id, user_id, position, document_id, at) \
                         SELECT id, user_id, $3, $4, $5 FROM search_queries \
                         WHERE id = $1 AND user_id = $2",
        )
        .bind(query_id)
        .bind(user_id)
        .bind(position)
        .bind(document_id)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn search_queries_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<SearchQueryRecord>> {
        Ok(sqlx::query_as(
            "SELECT id, query, results, latency_us, at FROM search_queries \
                         WHERE at >= $1 ORDER BY at",
        )
        .bind(to_ms(since))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn search_clicks_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<(i64, i64)>> {
        Ok(sqlx::query_as("SELECT query_id, position FROM search_clicks WHERE at >= $1")
            .bind(to_ms(since))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn recent_searches(
        &self,
        user_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<SearchHistoryEntry>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT q.query, q.results, q.at FROM search_queries q \
                         WHERE q.user_id = $1 AND q.query <> '' AND q.id = (SELECT MAX(q2.id) \
                         FROM search_queries q2 WHERE q2.user_id = q.user_id \
                         AND q2.query = q.query) ORDER BY q.at DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(q, results, at)| SearchHistoryEntry { q, results, at: from_ms(at) })
            .collect())
    }
}
