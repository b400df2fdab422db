//! The `knowledge.sync` job: one run of one source. It fetches pages of changed documents from
//! the connector (or reads the source's uploaded files), turns each into chunks, skips those
//! whose content hash is unchanged, embeds new chunk texts (cached by hash), stores documents
//! and chunks, and prunes documents the source no longer has or shows. After every page the
//! checkpoint is saved, so a run killed mid-way resumes where it stopped; documents are keyed by
//! their id at the source, so a resumed page never duplicates. Progress (processed / total,
//! rate, ETA, errors) is written to the run and pushed live to the owner (topic `sync`).

use crate::jobs::{HandlerResult, JobContext, JobError, JobRegistry, KindConfig};
use crate::knowledge::connectors::{self, FetchRequest};
use crate::knowledge::{DocBody, SourceDoc, chunk, extract, lang};
use crate::state::AppState;
use crate::store::embed_text;
use crate::store::{NewChunk, NewDocument, SourceRecord, StoreError};
use chrono::Utc;
use model::{LivePayload, SourceKind, SyncCounts, SyncProgress};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Kind of the sync job.
pub const SYNC_SOURCE: &str = "knowledge.sync";
/// Attempts a sync gets (transient connector failures are retried with backoff).
pub const SYNC_ATTEMPTS: i32 = 5;
const LOG_LINES: usize = 200;

/// The payload of a sync job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPayload {
    /// Source.
    pub source_id: i64,
    /// `manual`, `schedule`, `upload`, `create`.
    pub trigger: String,
}

/// Where a run has got to; stored as the source's checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// The cursor to keep once this run completes.
    cursor_after: Option<String>,
    /// The connector's page token.
    page: Option<String>,
}

/// Registers the sync kind.
pub fn register(registry: &mut JobRegistry, state: AppState) {
    let concurrency = state.knowledge.settings().sync_concurrency;
    registry.register(
        SYNC_SOURCE,
        KindConfig {
            concurrency,
            max_attempts: SYNC_ATTEMPTS,
            timeout: Duration::from_secs(6 * 3600),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
        },
        move |ctx, payload| run(state.clone(), ctx, payload),
    );
}

enum Outcome {
    Added,
    Updated,
    Unchanged,
}

struct Run {
    state: AppState,
    ctx: JobContext,
    source: SourceRecord,
    run_id: i64,
    counts: SyncCounts,
    log: Vec<String>,
    started: Instant,
    processed_at_start: i64,
    recipient: i64,
    last_push: Instant,
    last_write: Instant,
}

async fn run(state: AppState, ctx: JobContext, payload: serde_json::Value) -> HandlerResult {
    let p: SyncPayload = serde_json::from_value(payload)
        .map_err(|e| JobError::permanent(format!("bad sync payload: {e}")))?;
    let lock = state.knowledge.sync_lock(p.source_id);
    let _serial = tokio::select! {
        guard = lock.lock() => guard,
        () = ctx.cancelled() => return Err(JobError::permanent("cancelled while waiting for another sync of this source")),
    };
    // Read after the wait: a sync that just finished moved the cursor and checkpoint.
    let source = match state.store.get_source(p.source_id).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Ok(serde_json::json!({ "skipped": "source deleted" })),
        Err(e) => return Err(e.into()),
    };
    let run =
        state.store.start_sync_run(source.id, Some(ctx.job_id()), &p.trigger, Utc::now()).await?;
    let recipient = ctx.owner_id().unwrap_or(source.owner_id);
    let mut r = Run {
        processed_at_start: run.counts.processed,
        counts: run.counts,
        log: run.log,
        state,
        ctx,
        source,
        run_id: run.id,
        started: Instant::now(),
        recipient,
        last_push: Instant::now() - Duration::from_secs(1),
        last_write: Instant::now(),
    };
    r.line(crate::tr!(
        "attempt %{n} started (%{trigger})",
        n = r.ctx.attempt(),
        trigger = p.trigger
    ));
    let kind = SourceKind::parse(&r.source.kind).unwrap_or(SourceKind::Files);
    let result = match kind {
        SourceKind::Files => r.sync_files().await.map(|()| None),
        _ => r.sync_connector(kind).await.map(Some),
    };
    let now = Utc::now();
    match result {
        Ok(cursor) => {
            r.line(crate::tr!(
                "done: %{added} added, %{updated} updated, %{unchanged} unchanged, %{deleted} deleted, %{errors} errors",
                added = r.counts.added,
                updated = r.counts.updated,
                unchanged = r.counts.unchanged,
                deleted = r.counts.deleted,
                errors = r.counts.errors
            ));
            r.write().await?;
            r.state.store.finish_sync_run(r.run_id, "succeeded", None, now).await?;
            r.state
                .store
                .finish_source_sync(r.source.id, cursor.as_deref(), "succeeded", None, now)
                .await?;
            r.push("succeeded").await;
            r.state.knowledge.notify_changed();
            Ok(serde_json::to_value(r.counts)?)
        }
        Err(e) => {
            let cancelled = r.ctx.is_cancelled();
            let message = format!("{e}");
            r.line(if cancelled {
                crate::tr!("cancelled: %{message}", message = message)
            } else {
                crate::tr!("failed: %{message}", message = message)
            });
            r.write().await?;
            let status = if cancelled { "cancelled" } else { "failed" };
            // A transient failure keeps the run open for the next attempt, which resumes it.
            let last_attempt = r.ctx.attempt() >= SYNC_ATTEMPTS || !e.is_transient() || cancelled;
            if last_attempt {
                r.state.store.finish_sync_run(r.run_id, status, Some(&message), now).await?;
            }
            r.state
                .store
                .finish_source_sync(r.source.id, None, status, Some(&message), now)
                .await?;
            r.push(if last_attempt { status } else { "retrying" }).await;
            r.state.knowledge.notify_changed();
            Err(if e.is_transient() {
                JobError::msg(message)
            } else {
                JobError::permanent(message)
            })
        }
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Connector(#[from] connectors::ConnectorError),
    #[error("{0}")]
    Other(String),
    /// One document could not be processed; counted and logged, the run goes on.
    #[error("{0}")]
    Document(String),
    #[error("cancelled")]
    Cancelled,
}

impl SyncError {
    fn is_transient(&self) -> bool {
        match self {
            SyncError::Connector(e) => e.is_transient(),
            SyncError::Other(_) | SyncError::Document(_) => true,
            SyncError::Cancelled => false,
        }
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Other(format!("database: {e:#}"))
    }
}

impl Run {
    fn line(&mut self, text: String) {
        self.log.push(format!("{} {text}", Utc::now().format("%H:%M:%S")));
        if self.log.len() > LOG_LINES {
            let extra = self.log.len() - LOG_LINES;
            self.log.drain(..extra);
        }
    }

    async fn write(&mut self) -> Result<(), StoreError> {
        self.last_write = Instant::now();
        self.state.store.update_sync_run(self.run_id, &self.counts, &self.log.join("\n")).await
    }

    async fn push(&mut self, status: &str) {
        self.last_push = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let done_now = (self.counts.processed - self.processed_at_start).max(0) as f64;
        let rate = done_now / secs;
        let eta_secs = self
            .counts
            .total
            .filter(|_| rate > 0.0)
            .map(|t| ((t - self.counts.processed).max(0) as f64 / rate).max(0.0));
        let total = self.counts.total.unwrap_or(0).max(self.counts.processed);
        self.ctx.progress(
            self.counts.processed,
            total,
            crate::tr!("%{n} documents", n = self.counts.processed),
        );
        let progress = SyncProgress {
            source_id: self.source.id,
            run_id: self.run_id,
            status: status.to_string(),
            counts: self.counts,
            rate,
            eta_secs,
            message: self.log.last().cloned().unwrap_or_default(),
        };
        self.state.events.publish_live(self.recipient, &LivePayload::Sync(progress)).await;
    }

    async fn tick(&mut self) -> Result<(), SyncError> {
        if self.ctx.is_cancelled() {
            return Err(SyncError::Cancelled);
        }
        if self.last_push.elapsed() >= Duration::from_millis(250) {
            self.push("running").await;
        }
        if self.last_write.elapsed() >= Duration::from_secs(1) {
            self.write().await?;
        }
        Ok(())
    }

    async fn sync_connector(&mut self, kind: SourceKind) -> Result<String, SyncError> {
        let secret = match &self.source.secret {
            Some(sealed) => {
                let boxed = self.state.llm.secrets().ok_or_else(|| {
                    SyncError::Other("no deployment key to open the credentials".into())
                })?;
                Some(boxed.open(sealed).map_err(|e| {
                    SyncError::Connector(connectors::ConnectorError::Config {
                        field: "secret".into(),
                        message: crate::tr!("stored credentials cannot be opened: %{e}", e = e),
                    })
                })?)
            }
            None => None,
        };
        let config: serde_json::Value = serde_json::from_str(&self.source.config)
            .map_err(|e| SyncError::Other(format!("stored config is not JSON: {e}")))?;
        let connector = connectors::build(kind, &config, secret, self.state.urls)?;
        let mut checkpoint: Checkpoint = self
            .source
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let cursor_after = match checkpoint.cursor_after.clone() {
            Some(c) => {
                self.line(crate::tr!("resuming from the checkpoint"));
                c
            }
            None => {
                let c = connector.begin().await?;
                checkpoint.cursor_after = Some(c.clone());
                self.save(&checkpoint).await?;
                c
            }
        };
        let full = self.source.cursor.is_none();
        self.line(if full { crate::tr!("full sync") } else { crate::tr!("incremental sync") });
        loop {
            let req = FetchRequest {
                cursor: self.source.cursor.clone(),
                checkpoint: checkpoint.page.clone(),
            };
            let page = connector.fetch(&req).await?;
            if let Some(t) = page.total {
                self.counts.total = Some(t);
            }
            let n = page.docs.len();
            for doc in page.docs {
                self.one(doc).await?;
                self.tick().await?;
            }
            if !page.deleted.is_empty() {
                let gone = self
                    .state
                    .store
                    .delete_documents(self.source.id, &page.deleted, Utc::now())
                    .await?;
                self.counts.deleted += gone as i64;
            }
            self.line(crate::tr!("page of %{n} documents", n = n));
            checkpoint.page = page.next.clone();
            self.save(&checkpoint).await?;
            self.write().await?;
            self.push("running").await;
            self.state.knowledge.notify_changed();
            if page.next.is_none() {
                break;
            }
        }
        if let Some(ids) = connector.list_ids().await? {
            let keep: HashSet<String> = ids.into_iter().collect();
            self.prune(&keep).await?;
        }
        Ok(cursor_after)
    }

    async fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), SyncError> {
        let text =
            serde_json::to_string(checkpoint).map_err(|e| SyncError::Other(e.to_string()))?;
        self.state.store.save_sync_checkpoint(self.source.id, Some(&text)).await?;
        Ok(())
    }

    async fn prune(&mut self, keep: &HashSet<String>) -> Result<(), SyncError> {
        let stored = self.state.store.list_external_ids(self.source.id).await?;
        let gone: Vec<String> = stored.into_iter().filter(|id| !keep.contains(id)).collect();
        if !gone.is_empty() {
            let n = self.state.store.delete_documents(self.source.id, &gone, Utc::now()).await?;
            self.counts.deleted += n as i64;
            self.line(crate::tr!("pruned %{n} documents no longer at the source", n = n));
        }
        Ok(())
    }

    async fn sync_files(&mut self) -> Result<(), SyncError> {
        let files = self.state.store.list_source_files(self.source.id).await?;
        self.counts.total = Some(files.len() as i64);
        let mut keep = HashSet::new();
        let limit = self.state.knowledge.settings().max_upload_bytes;
        for f in files {
            let external_id = format!("file:{}", f.id);
            keep.insert(external_id.clone());
            if self.state.store.document_hash(self.source.id, &external_id).await?.is_some() {
                // Files never change after upload: a stored document is current.
                self.counts.processed += 1;
                self.counts.unchanged += 1;
                self.tick().await?;
                continue;
            }
            let (_, bytes) = self.state.store.get_source_file(f.id).await?;
            match self.state.knowledge.extractor().extract(&bytes, &f.name, limit, None).await {
                Ok((format, ex)) => {
                    let doc = SourceDoc {
                        external_id,
                        title: ex
                            .title
                            .clone()
                            .filter(|t| !t.trim().is_empty())
                            .unwrap_or_else(|| f.name.clone()),
                        url: format!("/api/v1/sources/{}/files/{}", self.source.id, f.id),
                        author: None,
                        updated_at: f.created_at,
                        doc_type: "file".into(),
                        labels: vec![format!("format:{}", format.as_str())],
                        body: DocBody::Blocks(ex.blocks),
                    };
                    self.one(doc).await?;
                }
                // Not the file's fault: the run fails and is retried.
                Err(extract::ExtractError::Unavailable(reason)) => {
                    return Err(SyncError::Other(format!("extraction: {reason}")));
                }
                Err(e) => {
                    self.counts.processed += 1;
                    self.counts.errors += 1;
                    self.line(format!("{}: {e}", f.name));
                }
            }
            self.tick().await?;
        }
        self.prune(&keep).await?;
        Ok(())
    }

    /// Processes one document; a failure of this document is counted and logged, not fatal.
    async fn one(&mut self, doc: SourceDoc) -> Result<(), SyncError> {
        let name = doc.title.clone();
        match self.index_doc(doc).await {
            Ok(Outcome::Added) => self.counts.added += 1,
            Ok(Outcome::Updated) => self.counts.updated += 1,
            Ok(Outcome::Unchanged) => self.counts.unchanged += 1,
            Err(SyncError::Document(e)) => {
                self.counts.errors += 1;
                self.line(format!("{name}: {e}"));
            }
            Err(e) => return Err(e),
        }
        self.counts.processed += 1;
        Ok(())
    }

    async fn index_doc(&mut self, mut doc: SourceDoc) -> Result<Outcome, SyncError> {
        // Connector markup is parsed off the async workers: a hostile page may be slow to parse.
        let body = std::mem::replace(&mut doc.body, DocBody::Blocks(Vec::new()));
        let ex = tokio::task::spawn_blocking(move || extract::body_to_blocks(&body))
            .await
            .map_err(|e| SyncError::Document(format!("reading the document failed: {e}")))?;
        let text = ex.plain_text();
        let hash = chunk::content_hash(
            &serde_json::to_string(&(
                &doc.title,
                &doc.url,
                &doc.author,
                &doc.doc_type,
                &doc.labels,
                &text,
            ))
            .map_err(|e| SyncError::Document(e.to_string()))?,
        );
        let existing = self.state.store.document_hash(self.source.id, &doc.external_id).await?;
        if existing.as_ref().is_some_and(|(_, h)| *h == hash) {
            return Ok(Outcome::Unchanged);
        }
        let settings = self.state.knowledge.settings().clone();
        let mut chunks = chunks_to_store(&ex, &settings.chunk);
        if chunks.is_empty() && !doc.title.trim().is_empty() {
            // A document with a title but no body is still findable by its title.
            chunks.push(NewChunk {
                ord: 0,
                heading: String::new(),
                kind: "prose".into(),
                text: doc.title.clone(),
                content_hash: chunk::content_hash(&doc.title),
            });
        }
        self.embed(&chunks).await;
        let language = lang::detect(&text);
        let new = NewDocument {
            source_id: self.source.id,
            external_id: doc.external_id,
            title: doc.title,
            url: doc.url,
            author: doc.author,
            doc_type: doc.doc_type,
            language,
            labels: doc.labels,
            updated_at: doc.updated_at,
            content_hash: hash,
            chunks,
        };
        let (_, created) = self.state.store.upsert_document(&new, Utc::now()).await?;
        Ok(if created { Outcome::Added } else { Outcome::Updated })
    }

    /// Embeds chunk texts not cached yet. An embedder failure is logged once and leaves the
    /// chunks keyword-only (a later run embeds them).
    async fn embed(&mut self, chunks: &[NewChunk]) {
        let Some(embedder) = self.state.knowledge.embedder() else { return };
        let model = embedder.model_id().to_string();
        let mut hashes: Vec<String> = chunks.iter().map(|c| c.content_hash.clone()).collect();
        hashes.sort();
        hashes.dedup();
        let cached = match self.state.store.get_embeddings(&hashes, &model).await {
            Ok(c) => c,
            Err(e) => {
                self.line(crate::tr!("embedding cache: %{e}", e = e));
                return;
            }
        };
        let mut seen = HashSet::new();
        let missing: Vec<&NewChunk> = chunks
            .iter()
            .filter(|c| {
                !cached.contains_key(&c.content_hash) && seen.insert(c.content_hash.clone())
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        let texts: Vec<String> = missing.iter().map(|c| embed_text(&c.heading, &c.text)).collect();
        match embedder.embed(&texts).await {
            Ok(vectors) => {
                let rows: Vec<(String, Vec<f32>)> =
                    missing.iter().map(|c| c.content_hash.clone()).zip(vectors).collect();
                if let Err(e) = self.state.store.put_embeddings(&rows, &model, Utc::now()).await {
                    self.line(crate::tr!("embedding cache: %{e}", e = e));
                }
                self.state.knowledge.set_embedder_problem(None);
            }
            Err(e) => {
                let problem = format!("{e:#}");
                self.line(crate::tr!(
                    "embedding failed, keyword search only for now: %{problem}",
                    problem = problem
                ));
                self.state.knowledge.set_embedder_problem(Some(problem));
            }
        }
    }
}

/// A document's chunks as the store keeps them, each with the hash of what is embedded for it
/// (heading path and text), which keys the embedding cache.
pub fn chunks_to_store(
    ex: &crate::knowledge::Extracted,
    opts: &chunk::ChunkOptions,
) -> Vec<NewChunk> {
    chunk::chunk(ex, opts)
        .into_iter()
        .map(|c| NewChunk {
            ord: c.ord,
            content_hash: chunk::content_hash(&embed_text(&c.heading, &c.text)),
            heading: c.heading,
            kind: c.kind.as_str().to_string(),
            text: c.text,
        })
        .collect()
}
