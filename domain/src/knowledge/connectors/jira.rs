//! Jira Cloud and Data Center/Server issue search. Cloud uses the token-paged
//! `rest/api/3/search/jql` (`nextPageToken`, `isLast`); Data Center the offset-paged
//! `rest/api/2/search` (`startAt`, `total`). The checkpoint is the next page token or offset.
//! Incremental syncs add `updated >= "yyyy-MM-dd HH:mm"` (UTC, cursor already five minutes early;
//! the same time-zone caveat as Confluence's CQL applies).
//!
//! An issue becomes blocks: the rendered description as paragraphs, then one comment block per
//! comment. The HTML handling here is deliberately tiny (tags stripped, block tags break
//! paragraphs); rich extraction belongs to `extract`, which connectors must not call.

use super::super::{Block, DocBody, FetchPage, SourceDoc};
use super::confluence::{Deployment, cursor_now};
use super::http::{Auth, HttpOptions, SourceHttp, query};
use super::{Connector, ConnectorError, FetchRequest};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Fields a synced issue needs.
const FIELDS: &str = "summary,description,comment,status,assignee,reporter,labels,updated,\
                      issuetype,components";

/// Page size for `list_ids` (keys only; servers clip larger requests and we follow their pages).
const LIST_IDS_PAGE: &str = "500";

/// A Jira source's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// Cloud: `https://acme.atlassian.net`; Data Center: `https://jira.acme.local` (with its
    /// context path, if any).
    pub base_url: String,
    /// Cloud or Data Center.
    #[serde(default)]
    pub deployment: Deployment,
    /// Project keys to sync.
    #[serde(default)]
    pub projects: Vec<String>,
    /// A JQL filter (without `ORDER BY`), instead of or narrowing `projects`.
    #[serde(default)]
    pub jql: Option<String>,
    /// Issues per search page.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

fn default_page_size() -> u32 {
    50
}

/// The Jira connector.
#[derive(Debug)]
pub struct Jira {
    http: SourceHttp,
    config: JiraConfig,
}

impl Jira {
    /// A connector for `config` (Cloud: `Auth::Basic` with e-mail + API token; Data Center:
    /// `Auth::Bearer` with a personal access token).
    pub fn new(
        config: JiraConfig,
        auth: Auth,
        options: HttpOptions,
    ) -> Result<Self, ConnectorError> {
        let invalid = |field: &str, message: &str| ConnectorError::Config {
            field: field.into(),
            message: message.into(),
        };
        if config.page_size == 0 {
            return Err(invalid("page_size", "must be at least 1"));
        }
        let filter = config.jql.as_deref().map(str::trim).filter(|j| !j.is_empty());
        if config.projects.is_empty() && filter.is_none() {
            return Err(invalid("projects", "name at least one project or set jql"));
        }
        if config.projects.iter().any(|p| !is_project_key(p)) {
            return Err(invalid("projects", "a project key may hold only letters, digits and _"));
        }
        if filter.is_some_and(|j| j.to_ascii_lowercase().contains("order by")) {
            return Err(invalid("jql", "leave out ORDER BY; the sync orders by updated"));
        }
        let http = SourceHttp::new(&config.base_url, auth, options)?;
        Ok(Self { http, config })
    }

    fn api(&self) -> &'static str {
        match self.config.deployment {
            Deployment::Cloud => "rest/api/3",
            Deployment::DataCenter => "rest/api/2",
        }
    }

    /// The JQL for a sync (`since` adds the `updated` filter) or for listing ids.
    fn jql(&self, since: Option<DateTime<Utc>>) -> String {
        let mut clauses = Vec::new();
        if !self.config.projects.is_empty() {
            let keys: Vec<String> =
                self.config.projects.iter().map(|k| format!("\"{}\"", k.trim())).collect();
            clauses.push(format!("project in ({})", keys.join(",")));
        }
        if let Some(filter) = self.config.jql.as_deref().map(str::trim).filter(|j| !j.is_empty()) {
            clauses.push(format!("({filter})"));
        }
        if let Some(since) = since {
            clauses.push(format!("updated >= \"{}\"", since.format("%Y-%m-%d %H:%M")));
        }
        format!("{} ORDER BY updated ASC", clauses.join(" AND "))
    }

    /// One search page: the answer and the checkpoint for the next one.
    async fn search(
        &self,
        jql: &str,
        fields: &str,
        expand: bool,
        page_size: &str,
        checkpoint: Option<&str>,
    ) -> Result<(Value, Option<String>), ConnectorError> {
        let mut pairs = vec![("jql", jql), ("fields", fields), ("maxResults", page_size)];
        if expand {
            pairs.push(("expand", "renderedFields"));
        }
        match self.config.deployment {
            Deployment::Cloud => {
                if let Some(token) = checkpoint {
                    pairs.push(("nextPageToken", token));
                }
                let body =
                    self.http.get_json(&format!("rest/api/3/search/jql?{}", query(&pairs))).await?;
                let next = match body["nextPageToken"].as_str() {
                    Some(t) if !body["isLast"].as_bool().unwrap_or(false) => Some(t.to_string()),
                    _ => None,
                };
                Ok((body, next))
            }
            Deployment::DataCenter => {
                let start: u64 = match checkpoint {
                    Some(c) => c.parse().map_err(|_| {
                        ConnectorError::Protocol(format!("checkpoint {c:?} is not an offset"))
                    })?,
                    None => 0,
                };
                let start_at = start.to_string();
                pairs.push(("startAt", &start_at));
                let body =
                    self.http.get_json(&format!("rest/api/2/search?{}", query(&pairs))).await?;
                let got = body["issues"].as_array().map_or(0, Vec::len) as u64;
                let total = body["total"].as_u64().unwrap_or(0);
                let next = (got > 0 && start + got < total).then(|| (start + got).to_string());
                Ok((body, next))
            }
        }
    }

    fn to_doc(&self, issue: &Value) -> Result<SourceDoc, ConnectorError> {
        let key = issue["key"]
            .as_str()
            .ok_or_else(|| ConnectorError::Protocol("an issue has no key".into()))?;
        let f = &issue["fields"];
        let updated = f["updated"].as_str().and_then(parse_jira_time).ok_or_else(|| {
            ConnectorError::Protocol(format!("issue {key} has no readable fields.updated"))
        })?;
        let author = f["assignee"]["displayName"]
            .as_str()
            .or_else(|| f["reporter"]["displayName"].as_str())
            .map(str::to_string);
        let mut labels: Vec<String> = f["labels"]
            .as_array()
            .map(|ls| ls.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        for c in f["components"].as_array().into_iter().flatten() {
            if let Some(name) = c["name"].as_str() {
                labels.push(name.to_string());
            }
        }
        if let Some(status) = f["status"]["name"].as_str() {
            labels.push(format!("status:{status}"));
        }
        if let Some(kind) = f["issuetype"]["name"].as_str() {
            labels.push(format!("type:{kind}"));
        }
        if let Some((project, _)) = key.rsplit_once('-') {
            labels.push(format!("project:{project}"));
        }
        Ok(SourceDoc {
            external_id: key.to_string(),
            title: format!("{key}: {}", f["summary"].as_str().unwrap_or_default()),
            url: format!("{}/browse/{key}", self.http.base_str()),
            author,
            updated_at: updated,
            doc_type: "issue".into(),
            labels,
            body: DocBody::Blocks(issue_blocks(issue)),
        })
    }
}

/// Jira project keys: letters, digits, underscores (so they need no JQL escaping).
fn is_project_key(key: &str) -> bool {
    let key = key.trim();
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Jira's `2026-11-30T10:15:30.000+0000` (and RFC 3339, just in case).
fn parse_jira_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The description as paragraphs, then the comments.
fn issue_blocks(issue: &Value) -> Vec<Block> {
    let f = &issue["fields"];
    let rendered = &issue["renderedFields"];
    let mut blocks: Vec<Block> = match rendered["description"].as_str() {
        Some(html) => html_paragraphs(html),
        None => raw_paragraphs(&f["description"]),
    };
    let rendered_comments = rendered["comment"]["comments"].as_array();
    for (i, c) in f["comment"]["comments"].as_array().into_iter().flatten().enumerate() {
        let html = rendered_comments
            .and_then(|rc| rc.iter().find(|r| r["id"] == c["id"]).or_else(|| rc.get(i)))
            .and_then(|r| r["body"].as_str());
        let text = match html {
            Some(html) => join_paragraphs(&html_paragraphs(html)),
            None => join_paragraphs(&raw_paragraphs(&c["body"])),
        };
        if text.is_empty() {
            continue;
        }
        blocks.push(Block::Comment {
            author: c["author"]["displayName"].as_str().map(str::to_string),
            at: c["created"].as_str().and_then(parse_jira_time),
            text,
        });
    }
    blocks
}

fn join_paragraphs(blocks: &[Block]) -> String {
    blocks.iter().map(Block::text).collect::<Vec<_>>().join("\n\n")
}

/// A raw body: v2's wiki-markup string (split on blank lines) or v3's ADF document.
fn raw_paragraphs(body: &Value) -> Vec<Block> {
    match body {
        Value::String(s) => s
            .split("\n\n")
            .map(collapse)
            .filter(|t| !t.is_empty())
            .map(|text| Block::Paragraph { text })
            .collect(),
        Value::Object(_) => body["content"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|node| {
                let mut text = String::new();
                adf_text(node, &mut text);
                collapse(&text)
            })
            .filter(|t| !t.is_empty())
            .map(|text| Block::Paragraph { text })
            .collect(),
        _ => Vec::new(),
    }
}

/// The text of an Atlassian Document Format node and its children.
fn adf_text(node: &Value, out: &mut String) {
    if let Some(t) = node["text"].as_str() {
        out.push_str(t);
    }
    if node["type"] == "hardBreak" || node["type"] == "paragraph" {
        out.push(' ');
    }
    for child in node["content"].as_array().into_iter().flatten() {
        adf_text(child, out);
    }
}

/// Tags that end a paragraph.
const BLOCK_TAGS: &[&str] = &[
    "p",
    "br",
    "div",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "table",
    "ul",
    "ol",
];

/// A small HTML to paragraphs: block tags split, other tags vanish, common entities decode.
fn html_paragraphs(html: &str) -> Vec<Block> {
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        current.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = &rest[open..];
            break;
        };
        let tag = &rest[open + 1..open + close];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if BLOCK_TAGS.contains(&name.as_str()) {
            paragraphs.push(std::mem::take(&mut current));
        }
        rest = &rest[open + close + 1..];
    }
    current.push_str(rest);
    paragraphs.push(current);
    paragraphs
        .iter()
        .map(|p| collapse(&decode_entities(p)))
        .filter(|t| !t.is_empty())
        .map(|text| Block::Paragraph { text })
        .collect()
}

fn decode_entities(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl Connector for Jira {
    async fn test_connection(&self) -> Result<String, ConnectorError> {
        let me = self.http.get_json(&format!("{}/myself", self.api())).await?;
        let who = me["displayName"].as_str().or_else(|| me["emailAddress"].as_str()).unwrap_or("?");
        let mut named = Vec::new();
        for key in &self.config.projects {
            let key = key.trim();
            let project = match self.http.get_json(&format!("{}/project/{key}", self.api())).await {
                Ok(p) => p,
                Err(ConnectorError::Http { status: 404, .. }) => {
                    return Err(ConnectorError::Config {
                        field: "projects".into(),
                        message: format!("project {key} not found or not readable"),
                    });
                }
                Err(e) => return Err(e),
            };
            named.push(format!("{key} ({})", project["name"].as_str().unwrap_or(key)));
        }
        if named.is_empty() {
            return Ok(format!("Connected as {who}; JQL filter"));
        }
        Ok(format!("Connected as {who}; projects {}", named.join(", ")))
    }

    async fn begin(&self) -> Result<String, ConnectorError> {
        Ok(cursor_now())
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<FetchPage, ConnectorError> {
        let since = req
            .cursor
            .as_deref()
            .map(|c| DateTime::parse_from_rfc3339(c).map(|d| d.with_timezone(&Utc)))
            .transpose()
            .map_err(|e| {
                ConnectorError::Protocol(format!("the stored cursor is unreadable: {e}"))
            })?;
        let page_size = self.config.page_size.to_string();
        let (body, next) = self
            .search(&self.jql(since), FIELDS, true, &page_size, req.checkpoint.as_deref())
            .await?;
        let issues = body["issues"]
            .as_array()
            .ok_or_else(|| ConnectorError::Protocol("the search answer has no issues".into()))?;
        let docs = issues.iter().map(|i| self.to_doc(i)).collect::<Result<_, _>>()?;
        let total = match self.config.deployment {
            Deployment::DataCenter if req.checkpoint.is_none() => body["total"].as_i64(),
            _ => None,
        };
        Ok(FetchPage { docs, deleted: Vec::new(), next, total })
    }

    async fn list_ids(&self) -> Result<Option<Vec<String>>, ConnectorError> {
        let jql = self.jql(None);
        let mut ids = Vec::new();
        let mut checkpoint: Option<String> = None;
        loop {
            let (body, next) =
                self.search(&jql, "key", false, LIST_IDS_PAGE, checkpoint.as_deref()).await?;
            for issue in body["issues"].as_array().into_iter().flatten() {
                if let Some(key) = issue["key"].as_str() {
                    ids.push(key.to_string());
                }
            }
            match next {
                Some(n) => checkpoint = Some(n),
                None => return Ok(Some(ids)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_jira_timestamps() {
        let t = parse_jira_time("2026-11-30T10:15:30.000+0100").map(|t| t.to_rfc3339());
        assert_eq!(t.as_deref(), Some("2026-11-30T09:15:30+00:00"));
    }

    #[test]
    fn html_becomes_paragraphs() {
        let html =
            "<p>First &amp; <b>bold</b></p>\n<ul><li>one</li><li>two</li></ul><p>x<br/>y</p>";
        let texts: Vec<String> =
            html_paragraphs(html).iter().map(|b| b.text().to_string()).collect();
        assert_eq!(texts, ["First & bold", "one", "two", "x", "y"]);
    }

    #[test]
    fn adf_bodies_become_text() {
        let adf = serde_json::json!({"type":"doc","version":1,"content":[
            {"type":"paragraph","content":[{"type":"text","text":"Looks "},
             {"type":"text","text":"good","marks":[{"type":"strong"}]}]},
            {"type":"paragraph","content":[{"type":"text","text":"Ship it."}]}]});
        let texts: Vec<String> =
            raw_paragraphs(&adf).iter().map(|b| b.text().to_string()).collect();
        assert_eq!(texts, ["Looks good", "Ship it."]);
    }
}
