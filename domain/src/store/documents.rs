//! Documents and their chunks. Every write that changes what a document contributes to the
//! index appends to `index_log` in the same transaction.

use super::embeddings::vector_from_bytes;
use super::{SqlStore, StoreResult, from_ms, placeholders, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One chunk to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChunk {
    /// Position in the document.
    pub ord: i32,
    /// Heading path.
    pub heading: String,
    /// `prose`, `code`, `comment`.
    pub kind: String,
    /// Text.
    pub text: String,
    /// SHA-256 of what is embedded (heading + text).
    pub content_hash: String,
}

/// A document with its chunks, replacing any stored one with the same external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDocument {
    /// Source.
    pub source_id: i64,
    /// Id within the source.
    pub external_id: String,
    /// Title.
    pub title: String,
    /// Link back.
    pub url: String,
    /// Author.
    pub author: Option<String>,
    /// Type.
    pub doc_type: String,
    /// Language.
    pub language: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Updated at the source.
    pub updated_at: DateTime<Utc>,
    /// Hash over everything indexed (metadata and text).
    pub content_hash: String,
    /// Chunks.
    pub chunks: Vec<NewChunk>,
}

/// A stored document (without chunks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    /// Id.
    pub id: i64,
    /// Source.
    pub source_id: i64,
    /// Id within the source.
    pub external_id: String,
    /// Title.
    pub title: String,
    /// Link back.
    pub url: String,
    /// Author.
    pub author: Option<String>,
    /// Type.
    pub doc_type: String,
    /// Language.
    pub language: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Updated at the source.
    pub updated_at: DateTime<Utc>,
    /// Content hash.
    pub content_hash: String,
}

/// A stored chunk with its vector (when one exists for the model asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    /// Id.
    pub id: i64,
    /// Position.
    pub ord: i32,
    /// Heading path.
    pub heading: String,
    /// Kind.
    pub kind: String,
    /// Text.
    pub text: String,
    /// Hash of what is embedded.
    pub content_hash: String,
    /// Vector.
    pub vector: Option<Vec<f32>>,
}

/// A document as the index needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDocument {
    /// The document.
    pub doc: DocumentRecord,
    /// Its chunks in order.
    pub chunks: Vec<ChunkRecord>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct DocumentRow {
    pub id: i64,
    pub source_id: i64,
    pub external_id: String,
    pub title: String,
    pub url: String,
    pub author: Option<String>,
    pub doc_type: String,
    pub language: Option<String>,
    pub labels: String,
    pub updated_at: i64,
    pub content_hash: String,
}

pub(crate) const DOCUMENT_COLUMNS: &str = "id, source_id, external_id, title, url, author, \
     doc_type, language, labels, updated_at, content_hash";

impl From<DocumentRow> for DocumentRecord {
    fn from(r: DocumentRow) -> Self {
        DocumentRecord {
            id: r.id,
            source_id: r.source_id,
            external_id: r.external_id,
            title: r.title,
            url: r.url,
            author: r.author,
            doc_type: r.doc_type,
            language: r.language,
            labels: serde_json::from_str(&r.labels).unwrap_or_default(),
            updated_at: from_ms(r.updated_at),
            content_hash: r.content_hash,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChunkRow {
    pub id: i64,
    pub document_id: i64,
    pub ord: i64,
    pub heading: String,
    pub kind: String,
    pub text: String,
    pub content_hash: String,
    pub vector: Option<Vec<u8>>,
}

impl ChunkRow {
    pub(crate) fn into_record(self) -> ChunkRecord {
        ChunkRecord {
            id: self.id,
            ord: i32::try_from(self.ord).unwrap_or(i32::MAX),
            heading: self.heading,
            kind: self.kind,
            text: self.text,
            content_hash: self.content_hash,
            vector: self.vector.as_deref().map(vector_from_bytes),
        }
    }
}

/// What is embedded for a chunk: its heading path, then its text.
pub fn embed_text(heading: &str, text: &str) -> String {
    if heading.is_empty() { text.to_string() } else { format!("{heading}\n{text}") }
}

/// Documents and chunks.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// The stored document's id and content hash, if any.
    async fn document_hash(
        &self,
        source_id: i64,
        external_id: &str,
    ) -> StoreResult<Option<(i64, String)>>;
    /// Inserts or replaces a document and its chunks; returns its id and whether it is new.
    async fn upsert_document(&self, d: &NewDocument, at: DateTime<Utc>)
    -> StoreResult<(i64, bool)>;
    /// Deletes documents of a source by external id; returns how many existed.
    async fn delete_documents(
        &self,
        source_id: i64,
        external_ids: &[String],
        at: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// External ids of a source's documents.
    async fn list_external_ids(&self, source_id: i64) -> StoreResult<Vec<String>>;
    /// One document.
    async fn get_document(&self, id: i64) -> StoreResult<DocumentRecord>;
    /// Documents with chunks (and vectors of `model`); missing ids are left out.
    async fn load_index_documents(
        &self,
        ids: &[i64],
        model: Option<&str>,
    ) -> StoreResult<Vec<IndexDocument>>;
    /// Document ids after `after_id`, ascending.
    async fn list_document_ids(&self, after_id: i64, limit: i64) -> StoreResult<Vec<i64>>;
    /// Chunks by id: (id, heading, text).
    async fn chunk_texts(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String, String)>>;
    /// Documents having a chunk with one of these hashes (to re-index after embedding).
    async fn documents_with_hashes(&self, hashes: &[String]) -> StoreResult<Vec<i64>>;
    /// Appends index log entries for these documents (their vectors changed).
    async fn touch_index(&self, document_ids: &[i64], at: DateTime<Utc>) -> StoreResult<()>;
}

#[async_trait]
impl DocumentStore for SqlStore {
    async fn document_hash(
        &self,
        source_id: i64,
        external_id: &str,
    ) -> StoreResult<Option<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, content_hash FROM documents \
                         WHERE source_id = $1 AND external_id = $2",
        )
        .bind(source_id)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn upsert_document(
        &self,
        d: &NewDocument,
        at: DateTime<Utc>,
    ) -> StoreResult<(i64, bool)> {
        let labels = serde_json::to_string(&d.labels).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin_write().await?;
        if let Some(lock) = self.backend.lock_index_log() {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        let existing: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM documents WHERE source_id = $1 AND external_id = $2")
                .bind(d.source_id)
                .bind(&d.external_id)
                .fetch_optional(&mut *tx)
                .await?;
        let chunk_count = i64::try_from(d.chunks.len()).unwrap_or(i64::MAX);
        let (id, created) = match existing {
            Some((id,)) => {
                sqlx::query(
                    "UPDATE documents SET title = $2, url = $3, author = $4, \
                                 doc_type = $5, language = $6, labels = $7, updated_at = $8, \
                                 content_hash = $9, chunk_count = $10, indexed_at = $11 \
                                 WHERE id = $1",
                )
                .bind(id)
                .bind(&d.title)
                .bind(&d.url)
                .bind(d.author.as_deref())
                .bind(&d.doc_type)
                .bind(d.language.as_deref())
                .bind(&labels)
                .bind(to_ms(d.updated_at))
                .bind(&d.content_hash)
                .bind(chunk_count)
                .bind(to_ms(at))
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM chunks WHERE document_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                (id, false)
            }
            None => {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO documents (source_id, external_id, title, url, \
                                 author, doc_type, language, labels, updated_at, content_hash, \
                                 chunk_count, indexed_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                                 RETURNING id",
                )
                .bind(d.source_id)
                .bind(&d.external_id)
                .bind(&d.title)
                .bind(&d.url)
                .bind(d.author.as_deref())
                .bind(&d.doc_type)
                .bind(d.language.as_deref())
                .bind(&labels)
                .bind(to_ms(d.updated_at))
                .bind(&d.content_hash)
                .bind(chunk_count)
                .bind(to_ms(at))
                .fetch_one(&mut *tx)
                .await?;
                (id, true)
            }
        };
        for c in &d.chunks {
            sqlx::query(
                "INSERT INTO chunks (document_id, ord, heading, kind, text, \
                             content_hash) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(i64::from(c.ord))
            .bind(&c.heading)
            .bind(&c.kind)
            .bind(&c.text)
            .bind(&c.content_hash)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO index_log (document_id, at) VALUES ($1, $2)")
            .bind(id)
            .bind(to_ms(at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((id, created))
    }

    async fn delete_documents(
        &self,
        source_id: i64,
        external_ids: &[String],
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut deleted = 0;
        for batch in external_ids.chunks(200) {
            let mut tx = self.pool.begin().await?;
            if let Some(lock) = self.backend.lock_index_log() {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            let list = placeholders(3, batch.len());
            let sql = format!(
                "INSERT INTO index_log (document_id, at) SELECT id, $2 FROM documents \
                             WHERE source_id = $1 AND external_id IN ({list})"
            );
            let mut q = sqlx::query(&sql).bind(source_id).bind(to_ms(at));
            for e in batch {
                q = q.bind(e);
            }
            q.execute(&mut *tx).await?;
            let sql = format!(
                "DELETE FROM documents WHERE source_id = $1 AND external_id IN ({})",
                placeholders(2, batch.len())
            );
            let mut q = sqlx::query(&sql).bind(source_id);
            for e in batch {
                q = q.bind(e);
            }
            deleted += q.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
        }
        Ok(deleted)
    }

    async fn list_external_ids(&self, source_id: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT external_id FROM documents WHERE source_id = $1 ORDER BY id")
                .bind(source_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn get_document(&self, id: i64) -> StoreResult<DocumentRecord> {
        let row: DocumentRow =
            sqlx::query_as(&format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1"))
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.into())
    }

    async fn load_index_documents(
        &self,
        ids: &[i64],
        model: Option<&str>,
    ) -> StoreResult<Vec<IndexDocument>> {
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(500) {
            let list = placeholders(1, batch.len());
            let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id IN ({list})");
            let mut q = sqlx::query_as::<_, DocumentRow>(&sql);
            for id in batch {
                q = q.bind(id);
            }
            let docs = q.fetch_all(&self.pool).await?;
            let n = batch.len();
            let sql = format!(
                "SELECT c.id, c.document_id, c.ord, c.heading, c.kind, c.text, \
                             c.content_hash, e.vector FROM chunks c LEFT JOIN embeddings e \
                             ON e.content_hash = c.content_hash AND e.model = ${} \
                             WHERE c.document_id IN ({list}) ORDER BY c.document_id, c.ord",
                n + 1
            );
            let mut q = sqlx::query_as::<_, ChunkRow>(&sql);
            for id in batch {
                q = q.bind(id);
            }
            let chunks = q.bind(model.unwrap_or("")).fetch_all(&self.pool).await?;
            let mut by_doc: HashMap<i64, Vec<ChunkRecord>> = HashMap::new();
            for c in chunks {
                by_doc.entry(c.document_id).or_default().push(c.into_record());
            }
            for d in docs {
                let chunks = by_doc.remove(&d.id).unwrap_or_default();
                out.push(IndexDocument { doc: d.into(), chunks });
            }
        }
        Ok(out)
    }

    async fn list_document_ids(&self, after_id: i64, limit: i64) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM documents WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn chunk_texts(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String, String)>> {
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(500) {
            let sql = format!(
                "SELECT id, heading, text FROM chunks WHERE id IN ({})",
                placeholders(1, batch.len())
            );
            let mut q = sqlx::query_as::<_, (i64, String, String)>(&sql);
            for id in batch {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    async fn documents_with_hashes(&self, hashes: &[String]) -> StoreResult<Vec<i64>> {
        let mut out = Vec::new();
        for batch in hashes.chunks(500) {
            let sql = format!(
                "SELECT DISTINCT document_id FROM chunks WHERE content_hash IN ({})",
                placeholders(1, batch.len())
            );
            let mut q = sqlx::query_as::<_, (i64,)>(&sql);
            for h in batch {
                q = q.bind(h);
            }
            out.extend(q.fetch_all(&self.pool).await?.into_iter().map(|r| r.0));
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    async fn touch_index(&self, document_ids: &[i64], at: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(lock) = self.backend.lock_index_log() {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        for id in document_ids {
            sqlx::query("INSERT INTO index_log (document_id, at) VALUES ($1, $2)")
                .bind(id)
                .bind(to_ms(at))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
