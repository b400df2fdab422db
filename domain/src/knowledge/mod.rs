//! Team knowledge: sources (Confluence, Jira, GitLab, uploaded files), their sync, and what turns
//! a source's documents into searchable chunks. Rooms:
//! - `extract`: bytes or markup → structured blocks (headings, paragraphs, code, comments);
//! - `sandbox`: uploaded files are extracted in a worker process under memory, CPU and time limits;
//! - `lang`: language detection (English, Russian, others by ISO 639-1 code);
//! - `chunk`: blocks → overlapping chunks that follow the document's structure;
//! - `connectors`: each source's real REST API, paged, incremental, honouring `Retry-After`;
//! - `index`: the derived search index (tantivy full text + vectors), rebuilt from the store;
//! - `embedder`: the compiled-in default model or a provider's embedding endpoint;
//! - `runtime`: the index of this instance kept current from the store's index log.
//!
//! Nothing here knows about users or visibility; `service::search` and `service::sources` do.

pub mod chunk;
pub mod connectors;
pub mod embedder;
/// Extraction is its own crate (`extract/`), so its fuzz targets build without the server.
pub use ::extract;
pub use ::extract::{Block, DocBody, Extracted};
pub mod index;
pub mod index_types;
pub mod lang;
pub mod runtime;
pub mod sandbox;
pub mod words;

pub use runtime::{Knowledge, KnowledgeSettings};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One document as a source delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDoc {
    /// Stable id within the source (Confluence page id, Jira key, `path@project` …).
    pub external_id: String,
    /// Title shown in results.
    pub title: String,
    /// Link back to the original (absolute).
    pub url: String,
    /// Author or last editor, as the source names them.
    pub author: Option<String>,
    /// Last change at the source.
    pub updated_at: DateTime<Utc>,
    /// `page`, `attachment`, `issue`, `merge_request`, `wiki`, `file`, `code` …
    pub doc_type: String,
    /// Labels, components, status (`status:Done`), space or project keys.
    pub labels: Vec<String>,
    /// The content.
    pub body: DocBody,
}

/// One page of a sync: documents changed since the cursor, in the source's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchPage {
    /// Changed or new documents.
    pub docs: Vec<SourceDoc>,
    /// External ids the source reports deleted since the cursor (GitLab's compare does).
    pub deleted: Vec<String>,
    /// Where to continue (opaque; stored as the sync checkpoint). None: this was the last page.
    pub next: Option<String>,
    /// Documents in the whole sync, when the source says.
    pub total: Option<i64>,
}
