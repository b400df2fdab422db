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
    /// One unit vector per text, in order.
    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>>;
}

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
