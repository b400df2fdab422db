//! The embedding cache, keyed by content hash and model: unchanged text is never embedded twice.

use super::placeholders;
use super::{SqlStore, StoreResult, embed_text, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Little-endian f32s.
pub(crate) fn vector_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Back from little-endian f32s (a trailing partial value is dropped).
pub(crate) fn vector_from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The embedding cache.
#[async_trait]
pub trait EmbeddingStore: Send + Sync {
    /// Cached vectors of `model` for these content hashes.
    async fn get_embeddings(
        &self,
        hashes: &[String],
        model: &str,
    ) -> StoreResult<HashMap<String, Vec<f32>>>;
    /// Caches vectors (existing ones are kept).
    async fn put_embeddings(
        &self,
        rows: &[(String, Vec<f32>)],
        model: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Chunks without a vector of `model`: (content hash, heading + text), at most `limit`.
    async fn chunks_missing_embeddings(
        &self,
        model: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>>;
    /// How many distinct chunk texts have no vector of `model`.
    async fn count_chunks_missing_embeddings(&self, model: &str) -> StoreResult<i64>;
    /// How many distinct chunk texts there are.
    async fn count_chunk_texts(&self) -> StoreResult<i64>;
    /// Whether any chunk has no vector of `model` (stops at the first).
    async fn any_chunk_missing_embedding(&self, model: &str) -> StoreResult<bool>;
}

#[async_trait]
impl EmbeddingStore for SqlStore {
    async fn get_embeddings(
        &self,
        hashes: &[String],
        model: &str,
    ) -> StoreResult<HashMap<String, Vec<f32>>> {
        let mut out = HashMap::new();
        for batch in hashes.chunks(500) {
            let sql = format!(
                "SELECT content_hash, vector FROM embeddings WHERE model = $1 \
                             AND content_hash IN ({})",
                placeholders(2, batch.len())
            );
            let mut q = sqlx::query_as::<_, (String, Vec<u8>)>(&sql).bind(model);
            for h in batch {
                q = q.bind(h);
            }
            for (h, v) in q.fetch_all(&self.pool).await? {
                out.insert(h, vector_from_bytes(&v));
            }
        }
        Ok(out)
    }

    async fn put_embeddings(
        &self,
        rows: &[(String, Vec<f32>)],
        model: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (hash, v) in rows {
            sqlx::query(
                            "INSERT INTO embeddings (content_hash, model, dim, vector, created_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (content_hash, model) DO NOTHING",
                        )
                        .bind(hash)
                        .bind(model)
                        .bind(i64::try_from(v.len()).unwrap_or(0))
                        .bind(vector_to_bytes(v))
                        .bind(to_ms(at))
                        .execute(&mut *tx)
                        .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn chunks_missing_embeddings(
        &self,
        model: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT c.content_hash, MIN(c.heading), MIN(c.text) FROM chunks c \
                         WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE \
                         e.content_hash = c.content_hash AND e.model = $1) \
                         GROUP BY c.content_hash LIMIT $2",
        )
        .bind(model)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(h, heading, text)| (h, embed_text(&heading, &text))).collect())
    }

    async fn count_chunks_missing_embeddings(&self, model: &str) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(DISTINCT c.content_hash) FROM chunks c WHERE NOT EXISTS \
             (SELECT 1 FROM embeddings e WHERE e.content_hash = c.content_hash AND e.model = $1)",
        )
        .bind(model)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    async fn count_chunk_texts(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(DISTINCT content_hash) FROM chunks")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    async fn any_chunk_missing_embedding(&self, model: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT c.content_hash FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM embeddings e \
             WHERE e.content_hash = c.content_hash AND e.model = $1) LIMIT 1",
        )
        .bind(model)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}
