//! Team knowledge: sources (Confluence, Jira, GitLab, uploaded files), their sync, and what turns
//! a source's documents into searchable chunks. Rooms:
//! - `extract`: bytes or markup → structured blocks (headings, paragraphs, code, comments);
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
pub mod extract;
pub mod index;
pub mod index_types;
pub mod lang;
pub mod runtime;

pub use runtime::{Knowledge, KnowledgeSettings};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One structural piece of a document, in reading order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    /// A heading; `level` 1 is the top.
    Heading {
        /// 1–6.
        level: u8,
        /// The heading's text.
        text: String,
    },
    /// A paragraph (or a list item, a table row, a quote: prose).
    Paragraph {
        /// Plain text, whitespace collapsed.
        text: String,
    },
    /// Preformatted code; kept whole where it fits a chunk.
    Code {
        /// The fence's or macro's language, if named.
        lang: Option<String>,
        /// The code, line breaks kept.
        text: String,
    },
    /// A comment on an issue or a page (Jira comments, merge request notes).
    Comment {
        /// Who wrote it.
        author: Option<String>,
        /// When.
        at: Option<DateTime<Utc>>,
        /// Plain text.
        text: String,
    },
}

impl Block {
    /// The block's text.
    pub fn text(&self) -> &str {
        match self {
            Block::Heading { text, .. }
            | Block::Paragraph { text }
            | Block::Code { text, .. }
            | Block::Comment { text, .. } => text,
        }
    }
}

/// A document's text, as blocks, with the title the content itself gives (if any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// A title found in the content (`<title>`, the first `#` heading, DOCX core title …).
    pub title: Option<String>,
    /// The content in reading order.
    pub blocks: Vec<Block>,
}

impl Extracted {
    /// All text, blocks separated by blank lines (for hashing and language detection).
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(b.text());
        }
        out
    }
}

/// How a connector hands over a document's body; `extract::body_to_blocks` turns each into blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", content = "content", rename_all = "snake_case")]
pub enum DocBody {
    /// HTML or Confluence storage format (XHTML with `ac:` / `ri:` elements).
    Html(String),
    /// Markdown (GitLab files and wikis, issue descriptions).
    Markdown(String),
    /// Plain text or source code (`lang` names the language for source files).
    Text {
        /// The text.
        text: String,
        /// Programming language for code files, so the whole file is chunked as code.
        lang: Option<String>,
    },
    /// Already structured (Jira issues: description, then comments).
    Blocks(Vec<Block>),
}

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
