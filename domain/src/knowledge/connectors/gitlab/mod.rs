//! GitLab (gitlab.com or self-managed) over REST v4: repository files, wiki pages, issues and
//! merge requests of the configured projects, authenticated with `PRIVATE-TOKEN`.
//!
//! A sync walks each project through phases — files, wiki, issues, merge requests — and the
//! checkpoint (JSON) names the project, the phase and the page within it. Files: the first sync
//! walks the keyset-paged tree at the head commit; later syncs compare the cursor's commit with
//! the head and re-fetch only changed files, reporting deleted ones (falling back to the tree
//! when the old commit is gone or the compare timed out). Issues and merge requests use
//! `updated_after` from the cursor; wiki pages have no timestamps in the API and are re-read
//! every sync. The cursor (JSON) keeps, per project, the head commit and the sync's start time.
//!
//! Connectors never touch the store; turning Markdown into blocks is `extract`'s job.

use super::super::{Block, DocBody, FetchPage, SourceDoc};
use super::confluence::cursor_now;
use super::http::{Auth, HttpOptions, SourceHttp, SourceResponse, query};
use super::{Connector, ConnectorError, FetchRequest};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

mod repository;
mod tracker;

/// Encodes a whole value into one path segment (`group/name` → `group%2Fname`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Encodes a path segment for a browser link, keeping it readable.
const LINK_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/');

/// Changed files handled per page of an incremental sync.
const COMPARE_PAGE: usize = 100;

/// Files downloaded at once.
const PARALLEL_FILES: usize = 4;

/// File extensions delivered as Markdown.
const MARKDOWN: &[&str] = &["md", "markdown", "mdx"];

/// A GitLab source's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabConfig {
    /// The instance, e.g. `https://gitlab.com` or `https://gitlab.acme.local/gitlab`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Projects as `group/name` or numeric id.
    pub projects: Vec<String>,
    /// Branch, tag or commit to read files from; default: each project's default branch.
    #[serde(default)]
    pub git_ref: Option<String>,
    /// Repository files to sync (globs; `**` crosses directories, `*` does not).
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Files to skip even when included.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Larger files are skipped.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Whether wiki pages are synced.
    #[serde(default = "default_true")]
    pub wiki: bool,
    /// Whether issues (with their comments) are synced.
    #[serde(default = "default_true")]
    pub issues: bool,
    /// Whether merge requests (with their comments) are synced.
    #[serde(default = "default_true")]
    pub merge_requests: bool,
    /// Extensions of included files that are source code (chunked as code).
    #[serde(default = "default_code_extensions")]
    pub code_extensions: Vec<String>,
}

fn default_base_url() -> String {
    "https://gitlab.com".into()
}

fn default_include() -> Vec<String> {
    ["**/*.md", "**/*.txt", "**/*.rst", "docs/**"].map(String::from).to_vec()
}

fn default_max_file_bytes() -> u64 {
    512 * 1024
}

fn default_true() -> bool {
    true
}

fn default_code_extensions() -> Vec<String> {
    [
        "rs", "go", "py", "ts", "js", "java", "kt", "rb", "cs", "cpp", "c", "h", "swift", "php",
        "scala", "sql", "sh", "yaml", "toml",
    ]
    .map(String::from)
    .to_vec()
}

/// What the sync needs to know about a project.
#[derive(Debug, Clone)]
struct Project {
    /// The id as a path segment (`group%2Fname` or `42`).
    api: String,
    path_with_namespace: String,
    /// The ref files are read from (None: empty repository).
    git_ref: Option<String>,
    wiki: bool,
    issues: bool,
    merge_requests: bool,
    last_activity_at: Option<DateTime<Utc>>,
}

/// The stored cursor: per configured project, the commit and time the last sync started at.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    projects: BTreeMap<String, ProjectCursor>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProjectCursor {
    /// The head commit (None: the repository was empty).
    sha: Option<String>,
    /// Issues and merge requests updated after this (RFC 3339).
    updated_after: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    /// Resolve the head commit and choose tree or compare.
    Files,
    /// Walk the tree; `page` is the next keyset link.
    Tree,
    /// Changed files since `from`; `page` is the offset into the compare's diffs.
    Compare,
    Wiki,
    /// `page` is the page number.
    Issues,
    /// `page` is the page number.
    MergeRequests,
}

/// Where a sync is: `{"project":0,"phase":"tree","page":"<next link>","sha":"…"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    project: usize,
    phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
    /// The head commit being synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha: Option<String>,
    /// Its commit time (the files' `updated_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    committed_at: Option<DateTime<Utc>>,
    /// The previous sync's commit, for compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
}

impl Checkpoint {
    fn start(project: usize) -> Self {
        Self { project, phase: Phase::Files, page: None, sha: None, committed_at: None, from: None }
    }

    /// The same project's next phase, or the next project.
    fn advance(self) -> Self {
        let phase = match self.phase {
            Phase::Files | Phase::Tree | Phase::Compare => Phase::Wiki,
            Phase::Wiki => Phase::Issues,
            Phase::Issues => Phase::MergeRequests,
            Phase::MergeRequests => return Self::start(self.project + 1),
        };
        Self { phase, page: None, ..self }
    }

    fn at(self, phase: Phase, page: Option<String>) -> Self {
        Self { phase, page, ..self }
    }
}

/// The GitLab connector.
pub struct Gitlab {
    http: SourceHttp,
    config: GitlabConfig,
    include: GlobSet,
    exclude: GlobSet,
    projects: Mutex<HashMap<String, Project>>,
}

impl std::fmt::Debug for Gitlab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gitlab").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Gitlab {
    /// A connector for `config`, authenticating with a personal, project or group access token.
    pub fn new(
        config: GitlabConfig,
        token: SecretString,
        options: HttpOptions,
    ) -> Result<Self, ConnectorError> {
        if config.projects.is_empty() || config.projects.iter().any(|p| p.trim().is_empty()) {
            return Err(ConnectorError::Config {
                field: "projects".into(),
                message: crate::tr!("name at least one project, none empty"),
            });
        }
        let include = globs("include", &config.include)?;
        let exclude = globs("exclude", &config.exclude)?;
        let http = SourceHttp::new(&config.base_url, Auth::PrivateToken(token), options)?;
        Ok(Self { http, config, include, exclude, projects: Mutex::new(HashMap::new()) })
    }

    fn wanted(&self, path: &str) -> bool {
        self.include.is_match(path) && !self.exclude.is_match(path)
    }

    /// The project's settings, read once per connector.
    async fn project(&self, key: &str) -> Result<Project, ConnectorError> {
        if let Some(p) = self.lock_projects().get(key) {
            return Ok(p.clone());
        }
        let api = utf8_percent_encode(key.trim(), SEGMENT).to_string();
        let v = match self.http.get_json(&format!("api/v4/projects/{api}")).await {
            Err(ConnectorError::Http { status: 404, .. }) => {
                return Err(ConnectorError::Config {
                    field: "projects".into(),
                    message: format!("project {key} not found or not readable"),
                });
            }
            other => other?,
        };
        let enabled = |feature: &str| match v[format!("{feature}_enabled")].as_bool() {
            Some(b) => b,
            None => v[format!("{feature}_access_level")].as_str() != Some("disabled"),
        };
        let project = Project {
            api,
            path_with_namespace: v["path_with_namespace"].as_str().unwrap_or(key).to_string(),
            git_ref: self
                .config
                .git_ref
                .clone()
                .or_else(|| v["default_branch"].as_str().map(str::to_string)),
            wiki: enabled("wiki"),
            issues: enabled("issues"),
            merge_requests: enabled("merge_requests"),
            last_activity_at: v["last_activity_at"].as_str().and_then(parse_time),
        };
        self.lock_projects().insert(key.to_string(), project.clone());
        Ok(project)
    }

    fn lock_projects(&self) -> std::sync::MutexGuard<'_, HashMap<String, Project>> {
        // A panic while holding this lock cannot leave the map half-written; keep using it.
        self.projects.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One step of the sync from `cp`: documents, deletions, and where to go on (None: done).
    async fn step(
        &self,
        cursor: &Cursor,
        cp: Checkpoint,
    ) -> Result<(Vec<SourceDoc>, Vec<String>, Option<Checkpoint>), ConnectorError> {
        let Some(key) = self.config.projects.get(cp.project).map(|k| k.trim().to_string()) else {
            return Ok((Vec::new(), Vec::new(), None));
        };
        let p = self.project(&key).await?;
        let previous = cursor.projects.get(&key);
        match cp.phase {
            Phase::Files => {
                let Some((sha, at)) = self.head(&p).await? else {
                    return Ok((Vec::new(), Vec::new(), Some(cp.advance())));
                };
                let from = previous.and_then(|c| c.sha.clone());
                let cp = Checkpoint { sha: Some(sha.clone()), committed_at: Some(at), ..cp };
                Ok(match from {
                    Some(from) if from == sha => (Vec::new(), Vec::new(), Some(cp.advance())),
                    Some(from) => {
                        let cp = Checkpoint { from: Some(from), ..cp };
                        (Vec::new(), Vec::new(), Some(cp.at(Phase::Compare, Some("0".into()))))
                    }
                    None => (Vec::new(), Vec::new(), Some(cp.at(Phase::Tree, None))),
                })
            }
            Phase::Tree => {
                let (sha, at) = commit_of(&cp)?;
                let url = cp.page.clone().unwrap_or_else(|| self.tree_url(&p, &sha));
                let (paths, next) = self.tree_page(&url).await?;
                let docs = self.files(&key, &p, &sha, at, &paths).await?;
                let cp = match next {
                    Some(link) => cp.at(Phase::Tree, Some(link)),
                    None => cp.advance(),
                };
                Ok((docs, Vec::new(), Some(cp)))
            }
            Phase::Compare => {
                let (sha, at) = commit_of(&cp)?;
                let from = cp.from.clone().unwrap_or_default();
                let q = query(&[("from", &from), ("to", &sha)]);
                let url = format!("api/v4/projects/{}/repository/compare?{q}", p.api);
                let compare = match self.http.get_json(&url).await {
                    // The old commit is gone (force push, expired): walk the whole tree.
                    Err(ConnectorError::Http { status: 404, .. }) => {
                        return Ok((Vec::new(), Vec::new(), Some(cp.at(Phase::Tree, None))));
                    }
                    other => other?,
                };
                if compare["compare_timeout"].as_bool().unwrap_or(false) {
                    return Ok((Vec::new(), Vec::new(), Some(cp.at(Phase::Tree, None))));
                }
                let diffs = compare["diffs"].as_array().cloned().unwrap_or_default();
                let offset: usize = cp.page.as_deref().unwrap_or("0").parse().unwrap_or(0);
                let end = (offset + COMPARE_PAGE).min(diffs.len());
                let mut deleted = Vec::new();
                let mut changed = Vec::new();
                for d in diffs.get(offset..end).unwrap_or_default() {
                    let old = d["old_path"].as_str().unwrap_or_default();
                    let new = d["new_path"].as_str().unwrap_or(old);
                    if d["deleted_file"].as_bool().unwrap_or(false) {
                        deleted.push(format!("{key}:{old}"));
                        continue;
                    }
                    if d["renamed_file"].as_bool().unwrap_or(false) {
                        deleted.push(format!("{key}:{old}"));
                    }
                    if self.wanted(new) {
                        changed.push(new.to_string());
                    }
                }
                let docs = self.files(&key, &p, &sha, at, &changed).await?;
                let cp = if end < diffs.len() {
                    cp.at(Phase::Compare, Some(end.to_string()))
                } else {
                    cp.advance()
                };
                Ok((docs, deleted, Some(cp)))
            }
            Phase::Wiki => {
                let docs = if self.config.wiki && p.wiki {
                    self.wikis(&key, &p).await?
                } else {
                    Vec::new()
                };
                Ok((docs, Vec::new(), Some(cp.advance())))
            }
            Phase::Issues | Phase::MergeRequests => {
                let (enabled, kind) = match cp.phase {
                    Phase::Issues => (self.config.issues && p.issues, "issues"),
                    _ => (self.config.merge_requests && p.merge_requests, "merge_requests"),
                };
                if !enabled {
                    return Ok((Vec::new(), Vec::new(), Some(cp.advance())));
                }
                let page = cp.page.clone().unwrap_or_else(|| "1".into());
                let after = previous.map(|c| c.updated_after.as_str());
                let (docs, next) = self.tickets(&key, &p, kind, &page, after).await?;
                let cp = match next {
                    Some(n) => {
                        let phase = cp.phase;
                        cp.at(phase, Some(n))
                    }
                    None => cp.advance(),
                };
                Ok((docs, Vec::new(), Some(cp)))
            }
        }
    }

    /// Every page of `path` (offset pagination), as JSON arrays.
    async fn all_pages(&self, path: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        let mut page = "1".to_string();
        loop {
            let res = self.http.get(&format!("{path}&{}", query(&[("page", &page)]))).await?;
            out.extend(res.json()?.as_array().cloned().unwrap_or_default());
            match next_page(&res) {
                Some(next) => page = next,
                None => return Ok(out),
            }
        }
    }
}

fn commit_of(cp: &Checkpoint) -> Result<(String, DateTime<Utc>), ConnectorError> {
    match (&cp.sha, cp.committed_at) {
        (Some(sha), Some(at)) => Ok((sha.clone(), at)),
        _ => Err(ConnectorError::Protocol("the checkpoint lacks the commit being synced".into())),
    }
}

fn globs(field: &str, patterns: &[String]) -> Result<GlobSet, ConnectorError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(pattern).literal_separator(true).build().map_err(|e| {
            ConnectorError::Config { field: field.into(), message: format!("{pattern}: {e}") }
        })?;
        set.add(glob);
    }
    set.build().map_err(|e| ConnectorError::Config { field: field.into(), message: e.to_string() })
}

/// GitLab's `X-Next-Page` (empty on the last page).
fn next_page(res: &SourceResponse) -> Option<String> {
    res.header("x-next-page").map(str::trim).filter(|n| !n.is_empty()).map(str::to_string)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc))
}

/// Markdown split on blank lines into paragraphs (structure is `extract`'s business).
fn markdown_paragraphs(md: &str) -> Vec<Block> {
    md.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Block::Paragraph { text: p.to_string() })
        .collect()
}

fn parse_state<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, ConnectorError> {
    serde_json::from_str(s)
        .map_err(|e| ConnectorError::Protocol(format!("the stored {what} is unreadable: {e}")))
}

#[async_trait]
impl Connector for Gitlab {
    async fn test_connection(&self) -> Result<String, ConnectorError> {
        let me = self.http.get_json("api/v4/user").await?;
        let who = me["username"].as_str().unwrap_or("?");
        let mut named = Vec::new();
        for key in &self.config.projects {
            named.push(self.project(key.trim()).await?.path_with_namespace);
        }
        Ok(format!("Connected as @{who}; projects {}", named.join(", ")))
    }

    async fn begin(&self) -> Result<String, ConnectorError> {
        let updated_after = cursor_now();
        let mut cursor = Cursor::default();
        for key in &self.config.projects {
            let key = key.trim();
            let p = self.project(key).await?;
            let sha = self.head(&p).await?.map(|(sha, _)| sha);
            cursor.projects.insert(
                key.to_string(),
                ProjectCursor { sha, updated_after: updated_after.clone() },
            );
        }
        serde_json::to_string(&cursor).map_err(|e| ConnectorError::Protocol(e.to_string()))
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<FetchPage, ConnectorError> {
        let cursor: Cursor = match &req.cursor {
            Some(c) => parse_state("cursor", c)?,
            None => Cursor::default(),
        };
        let mut cp: Checkpoint = match &req.checkpoint {
            Some(c) => parse_state("checkpoint", c)?,
            None => Checkpoint::start(0),
        };
        // Steps that only resolve commits or skip disabled features produce nothing; go on
        // until there is something to hand over or the sync is done.
        loop {
            let (docs, deleted, next) = self.step(&cursor, cp).await?;
            match next {
                Some(n) if docs.is_empty() && deleted.is_empty() => cp = n,
                next => {
                    let next = next
                        .map(|n| serde_json::to_string(&n))
                        .transpose()
                        .map_err(|e| ConnectorError::Protocol(e.to_string()))?;
                    return Ok(FetchPage { docs, deleted, next, total: None });
                }
            }
        }
    }

    async fn list_ids(&self) -> Result<Option<Vec<String>>, ConnectorError> {
        let mut ids = Vec::new();
        for key in &self.config.projects {
            let key = key.trim();
            let p = self.project(key).await?;
            if let Some((sha, _)) = self.head(&p).await? {
                let mut url = self.tree_url(&p, &sha);
                loop {
                    let (paths, next) = self.tree_page(&url).await?;
                    ids.extend(paths.into_iter().map(|path| format!("{key}:{path}")));
                    match next {
                        Some(n) => url = n,
                        None => break,
                    }
                }
            }
            if self.config.wiki && p.wiki {
                let path = format!("api/v4/projects/{}/wikis", p.api);
                match self.http.get_json(&path).await {
                    Err(ConnectorError::Http { status: 404, .. }) => {}
                    pages => {
                        for w in pages?.as_array().into_iter().flatten() {
                            if let Some(slug) = w["slug"].as_str() {
                                ids.push(format!("{key}:wiki:{slug}"));
                            }
                        }
                    }
                }
            }
            for (enabled, kind, short) in [
                (self.config.issues && p.issues, "issues", "issue"),
                (self.config.merge_requests && p.merge_requests, "merge_requests", "mr"),
            ] {
                if !enabled {
                    continue;
                }
                let path = format!("api/v4/projects/{}/{kind}?per_page=100", p.api);
                for t in self.all_pages(&path).await? {
                    if let Some(iid) = t["iid"].as_i64() {
                        ids.push(format!("{key}:{short}:{iid}"));
                    }
                }
            }
        }
        Ok(Some(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(include: &[&str], exclude: &[&str]) -> Gitlab {
        let config: GitlabConfig = serde_json::from_value(serde_json::json!({
            "projects": ["group/docs"],
            "include": include,
            "exclude": exclude,
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        Gitlab::new(config, "t".into(), HttpOptions::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn default_globs_match_docs_and_text_anywhere() {
        let g = connector(&["**/*.md", "**/*.txt", "**/*.rst", "docs/**"], &["docs/private/**"]);
        for yes in ["README.md", "a/b/NOTES.txt", "docs/api/v1.yaml", "docs/x.rs"] {
            assert!(g.wanted(yes), "{yes}");
        }
        for no in ["src/main.rs", "docs/private/keys.md", "xdocs/a.yaml"] {
            assert!(!g.wanted(no), "{no}");
        }
    }

    #[test]
    fn invalid_globs_name_their_field() {
        let config: GitlabConfig =
            serde_json::from_value(serde_json::json!({ "projects": ["g/p"], "exclude": ["a/[b"] }))
                .unwrap_or_else(|e| panic!("{e}"));
        let err = Gitlab::new(config, "t".into(), HttpOptions::default()).err();
        assert!(matches!(err, Some(ConnectorError::Config { field, .. }) if field == "exclude"));
    }

    #[test]
    fn checkpoints_walk_phases_then_projects() {
        let cp = Checkpoint::start(0).at(Phase::Tree, Some("x".into())).advance();
        assert_eq!((cp.project, cp.phase, cp.page.as_deref()), (0, Phase::Wiki, None));
        let cp = cp.advance().advance().advance();
        assert_eq!((cp.project, cp.phase), (1, Phase::Files));
    }
}
