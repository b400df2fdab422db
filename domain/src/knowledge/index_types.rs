//! What the index keeps per document and per chunk; built from the store's rows.

use chrono::{DateTime, Utc};

/// A document's metadata, as filters and results need it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocMeta {
    /// Document id.
    pub id: i64,
    /// Source id.
    pub source_id: i64,
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
}

/// A chunk to index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedChunk {
    /// Chunk id.
    pub id: i64,
    /// Heading path.
    pub heading: String,
    /// Text.
    pub text: String,
    /// Unit vector, when embedded.
    pub vector: Option<Vec<f32>>,
}
