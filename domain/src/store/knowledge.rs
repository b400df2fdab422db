//! Persistence of knowledge: sources (settings, sealed credentials, members, sync cursor and
//! checkpoint), documents and their chunks, the embedding cache keyed by content hash, uploaded
//! files, sync runs, the index change log, and search analytics. One macro
//! (`impl_knowledge_store!`) that both backends expand. Every write that changes what a document
//! contributes to the index appends to `index_log` in the same transaction, so each instance's
//! index can catch up by reading the log; on PostgreSQL the append is serialised so sequence
//! numbers become visible in order.

use super::{NewAuditEntry, StoreResult, from_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::{SearchHistoryEntry, SourceFile, SyncCounts, SyncRun};
use std::collections::HashMap;

/// A source's stored settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// `confluence`, `jira`, `gitlab`, `files`.
    pub kind: String,
    /// Connector settings, JSON text.
    pub config: String,
    /// Sealed credentials.
    pub secret: Option<String>,
    /// `everyone`, `members`, `owner`.
    pub visibility: String,
    /// Owner.
    pub owner_id: i64,
    /// Owner's e-mail.
    pub owner_email: String,
    /// Member user ids.
    pub members: Vec<i64>,
    /// Member e-mails, same order.
    pub member_emails: Vec<String>,
    /// Cron schedule.
    pub schedule: Option<String>,
    /// Scheduled syncs on.
    pub enabled: bool,
    /// Cursor of the last completed sync.
    pub cursor: Option<String>,
    /// Resume point of an interrupted sync.
    pub checkpoint: Option<String>,
    /// Last sync finished.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last sync status.
    pub last_status: Option<String>,
    /// Last sync error.
    pub last_error: Option<String>,
    /// Documents.
    pub documents: i64,
    /// Chunks.
    pub chunks: i64,
    /// Newest document's update time.
    pub newest_document_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A source to insert, or the settings that replace an existing one's.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSource {
    /// Unique name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Settings JSON text.
    pub config: String,
    /// Sealed credentials (on update: None keeps the stored ones when `keep_secret`).
    pub secret: Option<String>,
    /// Visibility.
    pub visibility: String,
    /// Owner (ignored on update).
    pub owner_id: i64,
    /// Member user ids.
    pub members: Vec<i64>,
    /// Cron schedule.
    pub schedule: Option<String>,
    /// Scheduled syncs on.
    pub enabled: bool,
    /// When.
    pub at: DateTime<Utc>,
}

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

/// Knowledge persistence. Each method is atomic.
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Inserts a source with its members and the audit entry; Conflict on a taken name.
    async fn create_source(&self, s: &NewSource, audit: NewAuditEntry)
    -> StoreResult<SourceRecord>;
    /// Replaces a source's settings and members (the secret too unless `keep_secret`), audited.
    async fn update_source(
        &self,
        id: i64,
        s: &NewSource,
        keep_secret: bool,
        audit: NewAuditEntry,
    ) -> StoreResult<SourceRecord>;
    /// Deletes a source and everything it holds; its documents leave the index.
    async fn delete_source(&self, id: i64, audit: NewAuditEntry) -> StoreResult<()>;
    /// One source.
    async fn get_source(&self, id: i64) -> StoreResult<SourceRecord>;
    /// Every source, by name.
    async fn list_sources(&self) -> StoreResult<Vec<SourceRecord>>;
    /// Every source's id, name and kind: what a result shows, without the per-source counts.
    async fn list_source_names(&self) -> StoreResult<Vec<(i64, String, String)>>;
    /// Ids of the sources whose documents `user_id` may see.
    async fn visible_source_ids(&self, user_id: i64) -> StoreResult<Vec<i64>>;
    /// Stores where a running sync has got to (None clears it).
    async fn save_sync_checkpoint(
        &self,
        source_id: i64,
        checkpoint: Option<&str>,
    ) -> StoreResult<()>;
    /// Records a sync's end: on success the new cursor is stored and the checkpoint cleared.
    async fn finish_source_sync(
        &self,
        source_id: i64,
        cursor: Option<&str>,
        status: &str,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

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
    /// Index log entries after `seq`: (seq, document id), ascending.
    async fn index_log_after(&self, seq: i64, limit: i64) -> StoreResult<Vec<(i64, i64)>>;
    /// The newest index log entry (0 when empty).
    async fn max_index_seq(&self) -> StoreResult<i64>;

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
    /// Documents having a chunk with one of these hashes (to re-index after embedding).
    async fn documents_with_hashes(&self, hashes: &[String]) -> StoreResult<Vec<i64>>;
    /// Appends index log entries for these documents (their vectors changed).
    async fn touch_index(&self, document_ids: &[i64], at: DateTime<Utc>) -> StoreResult<()>;

    /// Keeps an uploaded file.
    async fn insert_source_file(&self, f: &NewSourceFile) -> StoreResult<SourceFile>;
    /// A source's files, newest first.
    async fn list_source_files(&self, source_id: i64) -> StoreResult<Vec<SourceFile>>;
    /// A file with its bytes.
    async fn get_source_file(&self, id: i64) -> StoreResult<(SourceFile, Vec<u8>)>;
    /// Deletes a file of a source; NotFound if it is not that source's.
    async fn delete_source_file(&self, source_id: i64, id: i64) -> StoreResult<()>;

    /// Opens a sync run, or returns the running one of the same job (a resumed attempt).
    async fn start_sync_run(
        &self,
        source_id: i64,
        job_id: Option<i64>,
        trigger: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<SyncRun>;
    /// Stores a run's counts and log.
    async fn update_sync_run(&self, id: i64, counts: &SyncCounts, log: &str) -> StoreResult<()>;
    /// Closes a run.
    async fn finish_sync_run(
        &self,
        id: i64,
        status: &str,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A source's runs, newest first.
    async fn list_sync_runs(&self, source_id: i64, limit: i64) -> StoreResult<Vec<SyncRun>>;

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

#[derive(sqlx::FromRow)]
pub(crate) struct SourceRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub config: String,
    pub secret: Option<String>,
    pub visibility: String,
    pub owner_id: i64,
    pub owner_email: String,
    pub schedule: Option<String>,
    pub enabled: bool,
    pub cursor: Option<String>,
    pub checkpoint: Option<String>,
    pub last_sync_at: Option<i64>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub documents: i64,
    pub chunks: i64,
    pub newest: Option<i64>,
    pub created_at: i64,
}

pub(crate) const SOURCE_SELECT: &str = "SELECT s.id, s.name, s.kind, s.config, s.secret, \
     s.visibility, s.owner_id, u.email AS owner_email, s.schedule, s.enabled, s.cursor, \
     s.checkpoint, s.last_sync_at, s.last_status, s.last_error, \
     (SELECT COUNT(*) FROM documents d WHERE d.source_id = s.id) AS documents, \
     (SELECT CAST(COALESCE(SUM(d.chunk_count), 0) AS BIGINT) FROM documents d \
        WHERE d.source_id = s.id) AS chunks, \
     (SELECT MAX(d.updated_at) FROM documents d WHERE d.source_id = s.id) AS newest, \
     s.created_at FROM sources s JOIN users u ON u.id = s.owner_id";

impl SourceRow {
    pub(crate) fn into_record(self, members: Vec<(i64, String)>) -> SourceRecord {
        SourceRecord {
            id: self.id,
            name: self.name,
            kind: self.kind,
            config: self.config,
            secret: self.secret,
            visibility: self.visibility,
            owner_id: self.owner_id,
            owner_email: self.owner_email,
            members: members.iter().map(|m| m.0).collect(),
            member_emails: members.into_iter().map(|m| m.1).collect(),
            schedule: self.schedule,
            enabled: self.enabled,
            cursor: self.cursor,
            checkpoint: self.checkpoint,
            last_sync_at: self.last_sync_at.map(from_ms),
            last_status: self.last_status,
            last_error: self.last_error,
            documents: self.documents,
            chunks: self.chunks,
            newest_document_at: self.newest.map(from_ms),
            created_at: from_ms(self.created_at),
        }
    }
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

#[derive(sqlx::FromRow)]
pub(crate) struct SyncRunRow {
    pub id: i64,
    pub source_id: i64,
    pub job_id: Option<i64>,
    pub trigger: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub processed: i64,
    pub total: Option<i64>,
    pub added: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub deleted: i64,
    pub errors: i64,
    pub log: String,
    pub error: Option<String>,
}

pub(crate) const SYNC_RUN_COLUMNS: &str = "id, source_id, job_id, trigger, status, started_at, \
     finished_at, processed, total, added, updated, unchanged, deleted, errors, log, error";

impl From<SyncRunRow> for SyncRun {
    fn from(r: SyncRunRow) -> Self {
        SyncRun {
            id: r.id,
            source_id: r.source_id,
            job_id: r.job_id,
            trigger: r.trigger,
            status: r.status,
            started_at: from_ms(r.started_at),
            finished_at: r.finished_at.map(from_ms),
            counts: SyncCounts {
                processed: r.processed,
                total: r.total,
                added: r.added,
                updated: r.updated,
                unchanged: r.unchanged,
                deleted: r.deleted,
                errors: r.errors,
            },
            log: r.log.lines().map(str::to_string).collect(),
            error: r.error,
        }
    }
}

/// Little-endian f32s.
pub(crate) fn vector_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Back from little-endian f32s (a trailing partial value is dropped).
pub(crate) fn vector_from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// `$1, $2, …` starting at `first` for `n` parameters.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Writes `impl KnowledgeStore for $store` over a `pool` field of database `$db`. Index log
/// appends take `DialectSql::LOCK_INDEX_LOG` first (PostgreSQL; SQLite has one writer already).
macro_rules! impl_knowledge_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use ::model::{SearchHistoryEntry, SourceFile, SyncCounts, SyncRun};
            use $crate::store::knowledge::*;
            use $crate::store::sql::DialectSql;
            use $crate::store::{NewAuditEntry, StoreError, StoreResult, from_ms, to_ms};
            use chrono::{DateTime, Utc};
            use std::collections::HashMap;

            async fn members_of<'c, E>(exec: E, id: i64) -> StoreResult<Vec<(i64, String)>>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                Ok(sqlx::query_as(
                    "SELECT m.user_id, u.email FROM source_members m JOIN users u \
                     ON u.id = m.user_id WHERE m.source_id = $1 ORDER BY u.email",
                )
                .bind(id)
                .fetch_all(exec)
                .await?)
            }

            impl $store {
                async fn load_source(&self, id: i64) -> StoreResult<SourceRecord> {
                    let row: SourceRow =
                        sqlx::query_as(&format!("{SOURCE_SELECT} WHERE s.id = $1"))
                            .bind(id)
                            .fetch_one(&self.pool)
                            .await?;
                    let members = members_of(&self.pool, id).await?;
                    Ok(row.into_record(members))
                }
            }

            #[async_trait::async_trait]
            impl KnowledgeStore for $store {
                async fn create_source(
                    &self,
                    s: &NewSource,
                    audit: NewAuditEntry,
                ) -> StoreResult<SourceRecord> {
                    let mut tx = self.pool.begin().await?;
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO sources (name, kind, config, secret, visibility, owner_id, \
                         schedule, enabled, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                    )
                    .bind(&s.name)
                    .bind(&s.kind)
                    .bind(&s.config)
                    .bind(s.secret.as_deref())
                    .bind(&s.visibility)
                    .bind(s.owner_id)
                    .bind(s.schedule.as_deref())
                    .bind(s.enabled)
                    .bind(to_ms(s.at))
                    .fetch_one(&mut *tx)
                    .await?;
                    for m in &s.members {
                        sqlx::query("INSERT INTO source_members (source_id, user_id) VALUES ($1, $2)")
                            .bind(id)
                            .bind(m)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let mut audit = audit;
                    audit.target = format!("source:{id}");
                    insert_audit_in(&mut *tx, &audit).await?;
                    tx.commit().await?;
                    self.load_source(id).await
                }

                async fn update_source(
                    &self,
                    id: i64,
                    s: &NewSource,
                    keep_secret: bool,
                    audit: NewAuditEntry,
                ) -> StoreResult<SourceRecord> {
                    let mut tx = self.pool.begin().await?;
                    let done = sqlx::query(
                        "UPDATE sources SET name = $2, config = $3, \
                         secret = CASE WHEN $4 THEN secret ELSE $5 END, visibility = $6, \
                         schedule = $7, enabled = $8, updated_at = $9 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(&s.name)
                    .bind(&s.config)
                    .bind(keep_secret)
                    .bind(s.secret.as_deref())
                    .bind(&s.visibility)
                    .bind(s.schedule.as_deref())
                    .bind(s.enabled)
                    .bind(to_ms(s.at))
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query("DELETE FROM source_members WHERE source_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for m in &s.members {
                        sqlx::query("INSERT INTO source_members (source_id, user_id) VALUES ($1, $2)")
                            .bind(id)
                            .bind(m)
                            .execute(&mut *tx)
                            .await?;
                    }
                    insert_audit_in(&mut *tx, &audit).await?;
                    tx.commit().await?;
                    self.load_source(id).await
                }

                async fn delete_source(&self, id: i64, audit: NewAuditEntry) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await?;
                    if let Some(lock) = <$store as DialectSql>::LOCK_INDEX_LOG {
                        sqlx::query(lock).execute(&mut *tx).await?;
                    }
                    sqlx::query(
                        "INSERT INTO index_log (document_id, at) \
                         SELECT id, $2 FROM documents WHERE source_id = $1",
                    )
                    .bind(id)
                    .bind(to_ms(audit.at))
                    .execute(&mut *tx)
                    .await?;
                    let done = sqlx::query("DELETE FROM sources WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    insert_audit_in(&mut *tx, &audit).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn get_source(&self, id: i64) -> StoreResult<SourceRecord> {
                    self.load_source(id).await
                }

                async fn list_sources(&self) -> StoreResult<Vec<SourceRecord>> {
                    let rows: Vec<SourceRow> =
                        sqlx::query_as(&format!("{SOURCE_SELECT} ORDER BY s.name"))
                            .fetch_all(&self.pool)
                            .await?;
                    let all: Vec<(i64, i64, String)> = sqlx::query_as(
                        "SELECT m.source_id, m.user_id, u.email FROM source_members m \
                         JOIN users u ON u.id = m.user_id ORDER BY u.email",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let mut by_source: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
                    for (s, u, e) in all {
                        by_source.entry(s).or_default().push((u, e));
                    }
                    Ok(rows
                        .into_iter()
                        .map(|r| {
                            let m = by_source.remove(&r.id).unwrap_or_default();
                            r.into_record(m)
                        })
                        .collect())
                }

                async fn list_source_names(&self) -> StoreResult<Vec<(i64, String, String)>> {
                    Ok(sqlx::query_as("SELECT id, name, kind FROM sources ORDER BY name")
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn visible_source_ids(&self, user_id: i64) -> StoreResult<Vec<i64>> {
                    let rows: Vec<(i64,)> = sqlx::query_as(
                        "SELECT s.id FROM sources s WHERE s.visibility = 'everyone' \
                         OR s.owner_id = $1 OR (s.visibility = 'members' AND EXISTS \
                         (SELECT 1 FROM source_members m WHERE m.source_id = s.id \
                          AND m.user_id = $1)) ORDER BY s.id",
                    )
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(|r| r.0).collect())
                }

                async fn save_sync_checkpoint(
                    &self,
                    source_id: i64,
                    checkpoint: Option<&str>,
                ) -> StoreResult<()> {
                    sqlx::query("UPDATE sources SET checkpoint = $2, last_status = 'running' WHERE id = $1")
                        .bind(source_id)
                        .bind(checkpoint)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn finish_source_sync(
                    &self,
                    source_id: i64,
                    cursor: Option<&str>,
                    status: &str,
                    error: Option<&str>,
                    at: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let ok = status == "succeeded";
                    sqlx::query(
                        "UPDATE sources SET cursor = CASE WHEN $2 THEN $3 ELSE cursor END, \
                         checkpoint = CASE WHEN $2 THEN NULL ELSE checkpoint END, \
                         last_status = $4, last_error = $5, last_sync_at = $6 WHERE id = $1",
                    )
                    .bind(source_id)
                    .bind(ok)
                    .bind(cursor)
                    .bind(status)
                    .bind(error)
                    .bind(to_ms(at))
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

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
                    let mut tx = match <$store as DialectSql>::BEGIN_WRITE {
                        Some(begin) => self.pool.begin_with(begin).await?,
                        None => self.pool.begin().await?,
                    };
                    if let Some(lock) = <$store as DialectSql>::LOCK_INDEX_LOG {
                        sqlx::query(lock).execute(&mut *tx).await?;
                    }
                    let existing: Option<(i64,)> = sqlx::query_as(
                        "SELECT id FROM documents WHERE source_id = $1 AND external_id = $2",
                    )
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
                        if let Some(lock) = <$store as DialectSql>::LOCK_INDEX_LOG {
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
                    let rows: Vec<(String,)> = sqlx::query_as(
                        "SELECT external_id FROM documents WHERE source_id = $1 ORDER BY id",
                    )
                    .bind(source_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(|r| r.0).collect())
                }

                async fn get_document(&self, id: i64) -> StoreResult<DocumentRecord> {
                    let row: DocumentRow = sqlx::query_as(&format!(
                        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1"
                    ))
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
                        let sql =
                            format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id IN ({list})");
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
                    let rows: Vec<(i64,)> = sqlx::query_as(
                        "SELECT id FROM documents WHERE id > $1 ORDER BY id LIMIT $2",
                    )
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(|r| r.0).collect())
                }

                async fn chunk_texts(
                    &self,
                    ids: &[i64],
                ) -> StoreResult<Vec<(i64, String, String)>> {
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
                    let (n,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM index_log")
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(n.unwrap_or(0))
                }

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
                    Ok(rows
                        .into_iter()
                        .map(|(h, heading, text)| (h, embed_text(&heading, &text)))
                        .collect())
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
                    if let Some(lock) = <$store as DialectSql>::LOCK_INDEX_LOG {
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
                    let (bytes,): (Vec<u8>,) =
                        sqlx::query_as("SELECT bytes FROM source_files WHERE id = $1")
                            .bind(id)
                            .fetch_one(&self.pool)
                            .await?;
                    Ok((row.into(), bytes))
                }

                async fn delete_source_file(&self, source_id: i64, id: i64) -> StoreResult<()> {
                    let done =
                        sqlx::query("DELETE FROM source_files WHERE id = $1 AND source_id = $2")
                            .bind(id)
                            .bind(source_id)
                            .execute(&self.pool)
                            .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn start_sync_run(
                    &self,
                    source_id: i64,
                    job_id: Option<i64>,
                    trigger: &str,
                    at: DateTime<Utc>,
                ) -> StoreResult<SyncRun> {
                    if let Some(job_id) = job_id {
                        let running: Option<SyncRunRow> = sqlx::query_as(&format!(
                            "SELECT {SYNC_RUN_COLUMNS} FROM sync_runs WHERE source_id = $1 \
                             AND job_id = $2 AND status = 'running' ORDER BY id DESC LIMIT 1"
                        ))
                        .bind(source_id)
                        .bind(job_id)
                        .fetch_optional(&self.pool)
                        .await?;
                        if let Some(r) = running {
                            return Ok(r.into());
                        }
                    }
                    let row: SyncRunRow = sqlx::query_as(&format!(
                        "INSERT INTO sync_runs (source_id, job_id, trigger, status, started_at) \
                         VALUES ($1, $2, $3, 'running', $4) RETURNING {SYNC_RUN_COLUMNS}"
                    ))
                    .bind(source_id)
                    .bind(job_id)
                    .bind(trigger)
                    .bind(to_ms(at))
                    .fetch_one(&self.pool)
                    .await?;
                    sqlx::query("UPDATE sources SET last_status = 'running' WHERE id = $1")
                        .bind(source_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(row.into())
                }

                async fn update_sync_run(
                    &self,
                    id: i64,
                    counts: &SyncCounts,
                    log: &str,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE sync_runs SET processed = $2, total = $3, added = $4, \
                         updated = $5, unchanged = $6, deleted = $7, errors = $8, log = $9 \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(counts.processed)
                    .bind(counts.total)
                    .bind(counts.added)
                    .bind(counts.updated)
                    .bind(counts.unchanged)
                    .bind(counts.deleted)
                    .bind(counts.errors)
                    .bind(log)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn finish_sync_run(
                    &self,
                    id: i64,
                    status: &str,
                    error: Option<&str>,
                    at: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE sync_runs SET status = $2, error = $3, finished_at = $4 \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(status)
                    .bind(error)
                    .bind(to_ms(at))
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn list_sync_runs(&self, source_id: i64, limit: i64) -> StoreResult<Vec<SyncRun>> {
                    let rows: Vec<SyncRunRow> = sqlx::query_as(&format!(
                        "SELECT {SYNC_RUN_COLUMNS} FROM sync_runs WHERE source_id = $1 \
                         ORDER BY id DESC LIMIT $2"
                    ))
                    .bind(source_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

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

                async fn search_clicks_since(
                    &self,
                    since: DateTime<Utc>,
                ) -> StoreResult<Vec<(i64, i64)>> {
                    Ok(sqlx::query_as(
                        "SELECT query_id, position FROM search_clicks WHERE at >= $1",
                    )
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

        };
    };
}

/// What is embedded for a chunk: its heading path, then its text.
pub fn embed_text(heading: &str, text: &str) -> String {
    if heading.is_empty() { text.to_string() } else { format!("{heading}\n{text}") }
}
