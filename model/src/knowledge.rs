//! Knowledge sources, their syncs, and search as clients see them. Credentials never appear in
//! these types: a source says only whether it has them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of system a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Confluence Cloud or Data Center: spaces' pages and blog posts.
    Confluence,
    /// Jira Cloud or Data Center: issues with comments.
    Jira,
    /// GitLab.com or self-managed: repository files, wikis, issues, merge requests.
    Gitlab,
    /// Files uploaded by people.
    Files,
}

impl SourceKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Confluence => "confluence",
            SourceKind::Jira => "jira",
            SourceKind::Gitlab => "gitlab",
            SourceKind::Files => "files",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "confluence" => SourceKind::Confluence,
            "jira" => SourceKind::Jira,
            "gitlab" => SourceKind::Gitlab,
            "files" => SourceKind::Files,
            _ => return None,
        })
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Confluence => "Confluence",
            SourceKind::Jira => "Jira",
            SourceKind::Gitlab => "GitLab",
            SourceKind::Files => "Files",
        }
    }
}

/// Who may see a source's documents in search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Every signed-in user.
    Everyone,
    /// The owner and the listed users.
    Members,
    /// Only the owner.
    Owner,
}

impl Visibility {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Everyone => "everyone",
            Visibility::Members => "members",
            Visibility::Owner => "owner",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "everyone" => Visibility::Everyone,
            "members" => Visibility::Members,
            "owner" => Visibility::Owner,
            _ => return None,
        })
    }
}

/// A source as its owner and admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// What it reads.
    pub kind: SourceKind,
    /// Connector settings (base URL, spaces, projects …), never credentials.
    pub config: serde_json::Value,
    /// Whether credentials are stored (sealed).
    pub has_secret: bool,
    /// Who sees its documents.
    pub visibility: Visibility,
    /// Owner.
    pub owner_id: i64,
    /// Owner's e-mail.
    pub owner_email: String,
    /// Users besides the owner who see it (`members` visibility), by e-mail.
    pub members: Vec<String>,
    /// Cron schedule of automatic syncs.
    pub schedule: Option<String>,
    /// Whether scheduled syncs run.
    pub enabled: bool,
    /// Documents indexed.
    pub documents: i64,
    /// Chunks indexed.
    pub chunks: i64,
    /// When the last sync finished.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// `succeeded`, `failed`, `cancelled`, `running` …
    pub last_status: Option<String>,
    /// Why the last sync failed.
    pub last_error: Option<String>,
    /// Whether the caller may edit, sync and delete it.
    pub can_manage: bool,
    /// Created at.
    pub created_at: DateTime<Utc>,
}

/// A source to create or the new settings of one (credentials are write-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceForm {
    /// Unique name, 1–80 characters.
    pub name: String,
    /// `confluence`, `jira`, `gitlab` or `files`.
    pub kind: String,
    /// Connector settings as JSON (see docs/CONFIG.md, "Knowledge sources").
    pub config: serde_json::Value,
    /// Credentials: an API token or personal access token; Confluence/Jira Cloud also need
    /// `config.email`. Empty on an edit keeps the stored one.
    pub secret: Option<String>,
    /// `everyone`, `members` or `owner`.
    pub visibility: String,
    /// E-mails of the users who see it with `members` visibility.
    pub members: Vec<String>,
    /// Cron schedule (`0 */30 * * * *` …); empty for manual syncs only.
    pub schedule: Option<String>,
    /// Whether scheduled syncs run.
    pub enabled: bool,
}

/// An uploaded file kept by a `files` source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Id.
    pub id: i64,
    /// Source.
    pub source_id: i64,
    /// File name as uploaded.
    pub name: String,
    /// Sniffed format: `pdf`, `docx`, `html`, `markdown`, `text`.
    pub format: String,
    /// Bytes.
    pub size: i64,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Counts of one sync run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounts {
    /// Documents looked at.
    pub processed: i64,
    /// Documents in the whole run, when known.
    pub total: Option<i64>,
    /// New documents.
    pub added: i64,
    /// Changed documents re-indexed.
    pub updated: i64,
    /// Unchanged documents skipped by content hash.
    pub unchanged: i64,
    /// Documents pruned (deleted at the source or no longer readable).
    pub deleted: i64,
    /// Documents that failed.
    pub errors: i64,
}

/// One sync of a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    /// Id.
    pub id: i64,
    /// Source.
    pub source_id: i64,
    /// The background job that ran it.
    pub job_id: Option<i64>,
    /// `manual`, `schedule`, `upload`, `create`.
    pub trigger: String,
    /// `running`, `succeeded`, `failed`, `cancelled`.
    pub status: String,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Counts.
    pub counts: SyncCounts,
    /// Log lines (newest last).
    pub log: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Live progress of a sync (topic `sync`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// Source.
    pub source_id: i64,
    /// Run.
    pub run_id: i64,
    /// `running`, `succeeded`, `failed`, `cancelled`.
    pub status: String,
    /// Counts so far.
    pub counts: SyncCounts,
    /// Documents per second so far.
    pub rate: f64,
    /// Seconds left at that rate, when the total is known.
    pub eta_secs: Option<f64>,
    /// The last log line.
    pub message: String,
}

/// Filters of a search; empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SearchFilters {
    /// Source ids.
    #[serde(default)]
    pub sources: Vec<i64>,
    /// Document types (`page`, `issue`, `file` …).
    #[serde(default)]
    pub types: Vec<String>,
    /// Authors.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Languages (`en`, `ru` …).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Labels (all must match).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Updated at or after.
    #[serde(default)]
    pub updated_after: Option<DateTime<Utc>>,
    /// Updated before.
    #[serde(default)]
    pub updated_before: Option<DateTime<Utc>>,
}

impl SearchFilters {
    /// Whether any filter is set.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
            && self.types.is_empty()
            && self.authors.is_empty()
            && self.languages.is_empty()
            && self.labels.is_empty()
            && self.updated_after.is_none()
            && self.updated_before.is_none()
    }
}

/// How results are ranked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Keywords and meaning, fused.
    #[default]
    Hybrid,
    /// Full text only.
    Keyword,
    /// Meaning only.
    Vector,
}

/// A search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The words.
    pub q: String,
    /// Filters.
    #[serde(default)]
    pub filters: SearchFilters,
    /// Ranking mode.
    #[serde(default)]
    pub mode: SearchMode,
    /// Page size (1–50, default 10).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Offset of the first result.
    #[serde(default)]
    pub offset: Option<i64>,
}

/// A piece of a snippet; `hit` pieces matched the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    /// Text.
    pub text: String,
    /// Whether it matched.
    pub hit: bool,
}

/// One result: a document, shown by its best chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Document id.
    pub document_id: i64,
    /// The chunk that matched best.
    pub chunk_id: i64,
    /// Title.
    pub title: String,
    /// Link to the original.
    pub url: String,
    /// Source id.
    pub source_id: i64,
    /// Source name.
    pub source_name: String,
    /// Source kind.
    pub source_kind: SourceKind,
    /// Document type.
    pub doc_type: String,
    /// Author.
    pub author: Option<String>,
    /// Language.
    pub language: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Updated at the source.
    pub updated_at: DateTime<Utc>,
    /// Heading path of the chunk ("Setup › Database").
    pub heading: String,
    /// Highlighted snippet.
    pub snippet: Vec<SnippetPart>,
    /// Fused score (higher is better).
    pub score: f64,
    /// Rank in the keyword list, if it was there.
    pub keyword_rank: Option<i64>,
    /// Rank in the vector list, if it was there.
    pub vector_rank: Option<i64>,
}

/// One value of a facet with the number of results having it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetValue {
    /// Value (a source id as text for `sources`).
    pub value: String,
    /// Shown label.
    pub label: String,
    /// Results with it.
    pub count: i64,
}

/// Facet counts over the results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    /// By source.
    pub sources: Vec<FacetValue>,
    /// By document type.
    pub types: Vec<FacetValue>,
    /// By author.
    pub authors: Vec<FacetValue>,
    /// By language.
    pub languages: Vec<FacetValue>,
    /// By label.
    pub labels: Vec<FacetValue>,
    /// By how recently updated (`7d`, `30d`, `365d`, `older`).
    pub updated: Vec<FacetValue>,
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// The query as run.
    pub q: String,
    /// Results of this page.
    pub hits: Vec<SearchHit>,
    /// Results in all (documents).
    pub total: i64,
    /// Offset.
    pub offset: i64,
    /// Page size.
    pub limit: i64,
    /// Facet counts over all results.
    pub facets: Facets,
    /// Ranking used: `hybrid`, `keyword` (no embedder) or `vector`.
    pub mode: SearchMode,
    /// Why the mode differs from the one asked for, if it does.
    pub notice: Option<String>,
    /// Alternative queries when nothing matched.
    pub suggestions: Vec<String>,
    /// Server time in milliseconds.
    pub took_ms: f64,
    /// Whether the page came from the cache.
    pub cached: bool,
    /// Id of this search in the analytics (send it back with a click).
    pub query_id: Option<i64>,
}

/// One of the caller's recent searches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHistoryEntry {
    /// The words.
    pub q: String,
    /// Results it had.
    pub results: i64,
    /// When.
    pub at: DateTime<Utc>,
}

/// Search analytics for admins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchAnalytics {
    /// Days covered.
    pub days: i64,
    /// Searches per day (`YYYY-MM-DD`, count).
    pub volume: Vec<(String, i64)>,
    /// Searches in all.
    pub queries: i64,
    /// Median latency, ms.
    pub latency_p50_ms: f64,
    /// 95th percentile latency, ms.
    pub latency_p95_ms: f64,
    /// Share of searches with no result.
    pub zero_result_rate: f64,
    /// Most frequent queries without results.
    pub top_zero_result: Vec<(String, i64)>,
    /// Clicks per result position (1-based) and click-through rate.
    pub clicks_by_position: Vec<(i64, i64)>,
    /// Share of searches with at least one click.
    pub click_through_rate: f64,
    /// Per source: documents, chunks, last sync, newest document.
    pub sources: Vec<SourceFreshness>,
    /// The index.
    pub index: IndexStatus,
}

/// Index size and freshness of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFreshness {
    /// Source.
    pub source_id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: SourceKind,
    /// Documents.
    pub documents: i64,
    /// Chunks.
    pub chunks: i64,
    /// Last sync finished.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last sync status.
    pub last_status: Option<String>,
    /// Newest document's update time.
    pub newest_document_at: Option<DateTime<Utc>>,
}

/// The search index of this instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexStatus {
    /// Documents indexed.
    pub documents: i64,
    /// Chunks in the full-text index.
    pub chunks: i64,
    /// Chunks with a vector.
    pub vectors: i64,
    /// Vector length.
    pub dimensions: i64,
    /// The embedding model in use, if any.
    pub embedder: Option<String>,
    /// Why vector search is off, if it is.
    pub embedder_problem: Option<String>,
    /// The configured model while its vectors are being made (the `knowledge.embed` job);
    /// `embedder` serves meanwhile.
    #[serde(default)]
    pub pending_embedder: Option<String>,
    /// Bytes the vectors take in memory.
    pub vector_bytes: i64,
    /// Bytes the full-text index takes.
    pub text_index_bytes: i64,
    /// The last index change applied.
    pub applied_seq: i64,
    /// When the index was last rebuilt from the database.
    pub rebuilt_at: Option<DateTime<Utc>>,
    /// How long that took, ms.
    pub rebuild_ms: Option<f64>,
}
