//! `Knowledge`: this instance's search index, its embedder and settings, and the loop that keeps
//! the index current. The index is derived state: at start it is rebuilt from the store, then
//! the store's `index_log` is applied as it grows — woken at once by writes on this instance,
//! through Redis by writes on others, and by a poll otherwise — so every instance converges on
//! the same content.

use super::chunk::ChunkOptions;
use super::embedder::Embedder;
use super::index::SearchIndex;
use super::index_types::{DocMeta, IndexedChunk};
use crate::redis_conn::RedisConn;
use crate::store::{DynStore, IndexDocument};
use chrono::{DateTime, Utc};
use model::IndexStatus;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Redis channel on which an instance says the index log grew.
const CHANGED_CHANNEL: &str = "bp:index:changed";

/// Ranking and ingestion settings (`[knowledge]`).
#[derive(Debug, Clone)]
pub struct KnowledgeSettings {
    /// Largest uploaded file.
    pub max_upload_bytes: usize,
    /// Chunk sizes.
    pub chunk: ChunkOptions,
    /// Weight of the keyword list in the fusion.
    pub keyword_weight: f64,
    /// Weight of the vector list in the fusion; None: the serving model's own
    /// ([`Embedder::vector_weight`]).
    pub vector_weight: Option<f64>,
    /// Vector hits below this cosine are dropped.
    pub min_similarity: f32,
    /// Chunks each retriever contributes before fusion (documents are fused at their best
    /// chunk, so a deep pool keeps enough distinct documents).
    pub candidates: usize,
    /// Half-life of the recency boost in days (0: off).
    pub recency_half_life_days: f64,
    /// How much recency may add (0–1).
    pub recency_weight: f64,
    /// How often the index looks for changes without a wake-up.
    pub poll_interval: Duration,
    /// How long a page of results stays cached.
    pub cache_ttl: Duration,
    /// Concurrent syncs per instance.
    pub sync_concurrency: usize,
    /// Uploads to one source within this window share one sync, which starts when the window
    /// closes (a folder of 394 files is a handful of syncs, not 394).
    pub upload_sync_delay: Duration,
    /// Texts per embedding call.
    pub embed_batch: usize,
    /// Limits of the worker processes that read uploaded files.
    pub extract: super::sandbox::ExtractLimits,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 20 * 1024 * 1024,
            chunk: ChunkOptions::default(),
            keyword_weight: 1.0,
            vector_weight: None,
            min_similarity: 0.3,
            candidates: 300,
            recency_half_life_days: 0.0,
            recency_weight: 0.0,
            poll_interval: Duration::from_secs(2),
            cache_ttl: Duration::from_secs(60),
            sync_concurrency: 3,
            upload_sync_delay: Duration::from_secs(3),
            embed_batch: 64,
            extract: super::sandbox::ExtractLimits::default(),
        }
    }
}

struct Inner {
    index: SearchIndex,
    extractor: super::sandbox::Extractor,
    /// The configured embedder.
    embedder: Option<Arc<dyn Embedder>>,
    /// The compiled-in model, which serves while the configured one's vectors are being made.
    fallback: Option<Arc<dyn Embedder>>,
    /// The embedder whose vectors the index holds and queries are embedded with.
    serving: RwLock<Option<Arc<dyn Embedder>>>,
    embedder_problem: Mutex<Option<String>>,
    settings: KnowledgeSettings,
    applied_seq: AtomicI64,
    apply_lock: tokio::sync::Mutex<()>,
    rebuilt: Mutex<(Option<DateTime<Utc>>, Option<f64>)>,
    wake: Notify,
    redis: Option<RedisConn>,
    sync_locks: Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

/// The knowledge runtime. Cheap to clone.
#[derive(Clone)]
pub struct Knowledge {
    inner: Arc<Inner>,
}

impl Knowledge {
    /// A runtime with an empty index (call `start` to fill it and keep it current).
    /// `fallback` (the compiled-in model) serves while `embedder`'s vectors are being made.
    pub fn new(
        settings: KnowledgeSettings,
        embedder: Option<Arc<dyn Embedder>>,
        fallback: Option<Arc<dyn Embedder>>,
        embedder_problem: Option<String>,
        redis: Option<RedisConn>,
    ) -> anyhow::Result<Self> {
        let fallback =
            fallback.filter(|f| embedder.as_ref().is_some_and(|e| e.model_id() != f.model_id()));
        Ok(Self {
            inner: Arc::new(Inner {
                index: SearchIndex::new()?,
                extractor: super::sandbox::Extractor::new(settings.extract.clone()),
                serving: RwLock::new(embedder.clone()),
                embedder,
                fallback,
                embedder_problem: Mutex::new(embedder_problem),
                settings,
                applied_seq: AtomicI64::new(0),
                apply_lock: tokio::sync::Mutex::new(()),
                rebuilt: Mutex::new((None, None)),
                wake: Notify::new(),
                redis,
                sync_locks: Mutex::new(std::collections::HashMap::new()),
            }),
        })
    }

    /// The index.
    pub fn index(&self) -> &SearchIndex {
        &self.inner.index
    }

    /// Settings.
    pub fn settings(&self) -> &KnowledgeSettings {
        &self.inner.settings
    }

    /// Reads uploaded files in worker processes under the configured limits.
    pub fn extractor(&self) -> &super::sandbox::Extractor {
        &self.inner.extractor
    }

    /// The embedder queries and new chunks use now, when vector search is on: the configured
    /// one, or the compiled-in model while the configured one's vectors are being made.
    pub fn embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.inner.serving.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The configured embedder (`knowledge.embedder`), serving or not.
    pub fn configured_embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.inner.embedder.clone()
    }

    /// Whether the compiled-in model can serve while the configured one's vectors are made.
    pub fn has_fallback(&self) -> bool {
        self.inner.fallback.is_some()
    }

    /// The configured embedder, when it is not serving yet: its vectors are being made.
    pub fn pending_embedder(&self) -> Option<Arc<dyn Embedder>> {
        let serving = self.embedder();
        self.inner
            .embedder
            .clone()
            .filter(|e| serving.as_ref().is_none_or(|s| s.model_id() != e.model_id()))
    }

    /// The vector list's weight in hybrid ranking: the setting, else the serving model's own.
    pub fn vector_weight(&self) -> f64 {
        self.inner
            .settings
            .vector_weight
            .unwrap_or_else(|| self.embedder().map_or(0.0, |e| e.vector_weight()))
    }

    fn model(&self) -> Option<String> {
        self.embedder().map(|e| e.model_id().to_string())
    }

    /// Whether every stored chunk has a vector of `model`.
    async fn complete(store: &DynStore, model: &str) -> anyhow::Result<bool> {
        Ok(!store.any_chunk_missing_embedding(model).await?)
    }

    /// Serves the configured embedder once all its vectors are made (by the `knowledge.embed`
    /// job, on this instance or another): the index is rebuilt with them. Returns whether it
    /// switched.
    pub async fn serve_configured_when_complete(&self, store: &DynStore) -> anyhow::Result<bool> {
        let Some(pending) = self.pending_embedder() else { return Ok(false) };
        if !Self::complete(store, pending.model_id()).await? {
            return Ok(false);
        }
        tracing::info!(
            model = pending.model_id(),
            "every chunk has a vector of the configured model; it serves from now on"
        );
        self.rebuild_serving(store, Some(pending)).await?;
        // Chunks a sync embedded with the old model between the job's last batch and now.
        self.embed_missing(store).await?;
        Ok(true)
    }

    /// Records why embedding failed (shown to admins; search falls back to keywords).
    pub fn set_embedder_problem(&self, problem: Option<String>) {
        *self.inner.embedder_problem.lock().unwrap_or_else(PoisonError::into_inner) = problem;
    }

    /// Why vector search is off or failing, if it is.
    pub fn embedder_problem(&self) -> Option<String> {
        self.inner.embedder_problem.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The lock a sync of `source_id` holds on this instance, so two syncs of one source (an
    /// upload while a scheduled run is going) run one after the other, never interleaved.
    pub fn sync_lock(&self, source_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .sync_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(source_id)
            .or_default()
            .clone()
    }

    /// The last index log entry applied: part of every cache key, so cached results never
    /// outlive a change.
    pub fn applied_seq(&self) -> i64 {
        self.inner.applied_seq.load(Ordering::Acquire)
    }

    /// Rebuilds the index, then keeps it current until the process ends.
    pub fn start(&self, store: DynStore) {
        if let Some(redis) = &self.inner.redis {
            let me = self.clone();
            redis.subscribe_forever(CHANGED_CHANNEL, "index change", move |_| {
                me.inner.wake.notify_one();
                std::future::ready(())
            });
        }
        let me = self.clone();
        tokio::spawn(async move {
            // A newly configured model whose vectors are not all made yet: the compiled-in
            // model serves meanwhile, and the `knowledge.embed` job makes them.
            // A few missing (a sync that ran during a switch, an embedder that failed for a
            // while) are made below with the configured model itself.
            if let (Some(e), Some(f)) = (&me.inner.embedder, &me.inner.fallback) {
                let missing = async {
                    let missing = store.count_chunks_missing_embeddings(e.model_id()).await?;
                    let texts = store.count_chunk_texts().await?;
                    anyhow::Ok(missing > 0 && missing * 20 > texts)
                };
                let fall_back = missing.await.unwrap_or_else(|err| {
                    tracing::warn!(error = %format!("{err:#}"), "counting missing vectors failed; the compiled-in model serves");
                    true
                });
                if fall_back {
                    tracing::info!(
                        model = e.model_id(),
                        serving = f.model_id(),
                        "the configured embedding model has many chunks without vectors; the compiled-in model serves until they are made"
                    );
                    *me.inner.serving.write().unwrap_or_else(PoisonError::into_inner) =
                        Some(f.clone());
                }
            }
            if let Err(e) = me.rebuild(&store).await {
                tracing::error!(error = %format!("{e:#}"), "search index rebuild failed");
            }
            // Chunks stored while the serving model failed get vectors.
            match me.embed_missing(&store).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(chunks = n, "embedded chunks that had no vector of this model")
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "embedding missing chunks failed")
                }
            }
            loop {
                tokio::select! {
                    () = me.inner.wake.notified() => {}
                    () = tokio::time::sleep(me.inner.settings.poll_interval) => {}
                }
                if let Err(e) = me.catch_up(&store).await {
                    tracing::warn!(error = %format!("{e:#}"), "search index catch-up failed");
                }
                if let Err(e) = me.serve_configured_when_complete(&store).await {
                    tracing::warn!(error = %format!("{e:#}"), "switching to the configured embedding model failed");
                }
            }
        });
    }

    /// Tells this instance (at once) and the others (through Redis) that the index log grew.
    pub fn notify_changed(&self) {
        self.inner.wake.notify_one();
        if let Some(redis) = self.inner.redis.clone() {
            tokio::spawn(async move { redis.publish(CHANGED_CHANNEL, "1").await });
        }
    }

    /// Embeds every stored chunk text that has no vector of the serving model (chunks stored
    /// while the embedder failed), then marks their documents for re-indexing on every
    /// instance. Returns how many texts were embedded.
    pub async fn embed_missing(&self, store: &DynStore) -> anyhow::Result<usize> {
        let Some(embedder) = self.embedder() else { return Ok(0) };
        let model = embedder.model_id().to_string();
        let batch = i64::try_from(self.inner.settings.embed_batch.max(1) * 8).unwrap_or(512);
        let mut done = 0;
        loop {
            let missing = store.chunks_missing_embeddings(&model, batch).await?;
            if missing.is_empty() {
                break;
            }
            let (hashes, texts): (Vec<String>, Vec<String>) = missing.into_iter().unzip();
            let vectors = embedder.embed(&texts).await?;
            let rows: Vec<(String, Vec<f32>)> = hashes.iter().cloned().zip(vectors).collect();
            store.put_embeddings(&rows, &model, Utc::now()).await?;
            let docs = store.documents_with_hashes(&hashes).await?;
            store.touch_index(&docs, Utc::now()).await?;
            done += rows.len();
            self.notify_changed();
        }
        Ok(done)
    }

    /// Applies the index log entries this instance has not seen; returns how many documents
    /// it touched.
    pub async fn catch_up(&self, store: &DynStore) -> anyhow::Result<usize> {
        let _guard = self.inner.apply_lock.lock().await;
        let mut touched = 0;
        loop {
            let from = self.applied_seq();
            let entries = store.index_log_after(from, 1000).await?;
            let Some(last) = entries.last().map(|e| e.0) else { break };
            let mut ids: Vec<i64> = entries.iter().map(|e| e.1).collect();
            ids.sort_unstable();
            ids.dedup();
            touched += ids.len();
            self.load_and_apply(store, &ids, self.model().as_deref()).await?;
            self.inner.applied_seq.store(last, Ordering::Release);
        }
        Ok(touched)
    }

    /// Empties the index and fills it from the store; returns the documents indexed.
    pub async fn rebuild(&self, store: &DynStore) -> anyhow::Result<usize> {
        self.rebuild_serving(store, None).await
    }

    /// Rebuilds the index; with `next`, from its vectors, and `next` serves from then on.
    async fn rebuild_serving(
        &self,
        store: &DynStore,
        next: Option<Arc<dyn Embedder>>,
    ) -> anyhow::Result<usize> {
        let started = Instant::now();
        let count = {
            let _guard = self.inner.apply_lock.lock().await;
            // Another caller (the job, the poll) switched while this one waited.
            if next.as_ref().is_some_and(|n| self.model().as_deref() == Some(n.model_id())) {
                return Ok(0);
            }
            let seq = store.max_index_seq().await?;
            let index = self.clone();
            tokio::task::spawn_blocking(move || index.inner.index.clear()).await??;
            // The new model serves from the moment the index holds only its vectors, so a
            // query during the refill meets vectors of its own kind.
            if let Some(next) = next {
                *self.inner.serving.write().unwrap_or_else(PoisonError::into_inner) = Some(next);
            }
            let model = self.model();
            let mut after = 0;
            let mut count = 0;
            loop {
                let ids = store.list_document_ids(after, 500).await?;
                let Some(last) = ids.last().copied() else { break };
                count += ids.len();
                self.load_and_apply(store, &ids, model.as_deref()).await?;
                after = last;
            }
            self.inner.applied_seq.store(seq, Ordering::Release);
            count
        };
        *self.inner.rebuilt.lock().unwrap_or_else(PoisonError::into_inner) =
            (Some(Utc::now()), Some(started.elapsed().as_secs_f64() * 1000.0));
        tracing::info!(
            documents = count,
            duration_ms = started.elapsed().as_millis() as u64,
            "search index rebuilt"
        );
        self.catch_up(store).await?;
        Ok(count)
    }

    async fn load_and_apply(
        &self,
        store: &DynStore,
        ids: &[i64],
        model: Option<&str>,
    ) -> anyhow::Result<()> {
        let docs = store.load_index_documents(ids, model).await?;
        let present: std::collections::HashSet<i64> = docs.iter().map(|d| d.doc.id).collect();
        let removals: Vec<i64> = ids.iter().copied().filter(|id| !present.contains(id)).collect();
        let upserts: Vec<(DocMeta, Vec<IndexedChunk>)> = docs.into_iter().map(to_index).collect();
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.inner.index.apply(upserts, &removals)).await??;
        Ok(())
    }

    /// Size and state of this instance's index.
    pub fn status(&self) -> IndexStatus {
        let (documents, chunks, vectors, dimensions, vector_bytes, text_index_bytes) =
            self.inner.index.sizes();
        let (rebuilt_at, rebuild_ms) =
            *self.inner.rebuilt.lock().unwrap_or_else(PoisonError::into_inner);
        IndexStatus {
            documents,
            chunks,
            vectors,
            dimensions,
            embedder: self.model(),
            pending_embedder: self.pending_embedder().map(|e| e.model_id().to_string()),
            embedder_problem: self.embedder_problem(),
            vector_bytes,
            text_index_bytes,
            applied_seq: self.applied_seq(),
            rebuilt_at,
            rebuild_ms,
        }
    }
}

fn to_index(d: IndexDocument) -> (DocMeta, Vec<IndexedChunk>) {
    let meta = DocMeta {
        id: d.doc.id,
        source_id: d.doc.source_id,
        title: d.doc.title,
        url: d.doc.url,
        author: d.doc.author,
        doc_type: d.doc.doc_type,
        language: d.doc.language,
        labels: d.doc.labels,
        updated_at: d.doc.updated_at,
    };
    let chunks = d
        .chunks
        .into_iter()
        .map(|c| IndexedChunk { id: c.id, heading: c.heading, text: c.text, vector: c.vector })
        .collect();
    (meta, chunks)
}
