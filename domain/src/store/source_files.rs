//! Files uploaded to a file source.

use super::{SqlStore, StoreError, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::SourceFile;

/// An uploaded file to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSourceFile {
    /// Source.
    pub source_id: i64,
    /// Name.
    pub name: String,
    /// Sniffed format.
    pub format: String,
    /// SHA-256 hex of the bytes.
    pub sha256: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// Who uploaded it.
    pub uploaded_by: i64,
    /// When.
    pub at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SourceFileRow {
    pub id: i64,
    pub source_id: i64,
    pub name: String,
    pub format: String,
    pub size: i64,
    pub created_at: i64,
}

impl From<SourceFileRow> for SourceFile {
    fn from(r: SourceFileRow) -> Self {
        SourceFile {
            id: r.id,
            source_id: r.source_id,
            name: r.name,
            format: r.format,
            size: r.size,
            created_at: from_ms(r.created_at),
        }
    }
}

/// Uploaded files.
#[async_trait]
pub trait SourceFileStore: Send + Sync {
    /// Keeps an uploaded file.
    async fn insert_source_file(&self, f: &NewSourceFile) -> StoreResult<SourceFile>;
    /// A source's files, newest first.
    async fn list_source_files(&self, source_id: i64) -> StoreResult<Vec<SourceFile>>;
    /// A file with its bytes.
    async fn get_source_file(&self, id: i64) -> StoreResult<(SourceFile, Vec<u8>)>;
    /// Deletes a file of a source; NotFound if it is not that source's.
    async fn delete_source_file(&self, source_id: i64, id: i64) -> StoreResult<()>;
}

#[async_trait]
impl SourceFileStore for SqlStore {
    async fn insert_source_file(&self, f: &NewSourceFile) -> StoreResult<SourceFile> {
        let row: SourceFileRow = sqlx::query_as(
            "INSERT INTO source_files (source_id, name, format, size, sha256, bytes, \
                         uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         RETURNING id, source_id, name, format, size, created_at",
        )
        .bind(f.source_id)
        .bind(&f.name)
        .bind(&f.format)
        .bind(i64::try_from(f.bytes.len()).unwrap_or(i64::MAX))
        .bind(&f.sha256)
        .bind(&f.bytes)
        .bind(f.uploaded_by)
        .bind(to_ms(f.at))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    async fn list_source_files(&self, source_id: i64) -> StoreResult<Vec<SourceFile>> {
        let rows: Vec<SourceFileRow> = sqlx::query_as(
            "SELECT id, source_id, name, format, size, created_at FROM source_files \
                         WHERE source_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(source_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn get_source_file(&self, id: i64) -> StoreResult<(SourceFile, Vec<u8>)> {
        let row: SourceFileRow = sqlx::query_as(
            "SELECT id, source_id, name, format, size, created_at FROM source_files \
                         WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let (bytes,): (Vec<u8>,) = sqlx::query_as("SELECT bytes FROM source_files WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok((row.into(), bytes))
    }

    async fn delete_source_file(&self, source_id: i64, id: i64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM source_files WHERE id = $1 AND source_id = $2")
            .bind(id)
            .bind(source_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
