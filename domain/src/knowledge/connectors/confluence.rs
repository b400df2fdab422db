//! Confluence Cloud and Data Center/Server over the v1 REST API's CQL search
//! (`rest/api/content/search`). Pages follow `_links.next` verbatim (Cloud puts a cursor in it,
//! Data Center a `start` offset), and that link is the checkpoint. Incremental syncs filter on
//! `lastmodified`.
//!
//! CQL compares `lastmodified` in minutes, in the server's (or the user's) time zone, and takes
//! no offset. We write the cursor in UTC after `begin()` subtracted five minutes of skew; a
//! server set to a zone *ahead* of UTC then re-fetches some pages (harmless), one *behind* UTC
//! could miss edits made within that offset — run such servers' users in UTC or set the sync's
//! cursor back accordingly.
//!
//! It hands over page bodies in storage format; turning them into text is `extract`'s job.

use super::super::{DocBody, FetchPage, SourceDoc};
use super::http::{Auth, HttpOptions, SourceHttp, query};
use super::{Connector, ConnectorError, FetchRequest};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Expansions a synced page needs (body, editor, labels, space).
const EXPAND: &str = "body.storage,version,history,metadata.labels,space";

/// Page size for `list_ids` (ids only, so large pages are cheap).
const LIST_IDS_LIMIT: &str = "200";

/// Where an Atlassian product runs; decides API flavours and auth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deployment {
    /// Atlassian Cloud (`https://acme.atlassian.net`): Basic auth with e-mail + API token.
    #[default]
    Cloud,
    /// Data Center or Server (self-managed): Bearer personal access token.
    DataCenter,
}

/// A Confluence source's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfluenceConfig {
    /// Cloud: `https://acme.atlassian.net/wiki`; Data Center: `https://confluence.acme.local`
    /// (with its context path, if any).
    pub base_url: String,
    /// Cloud or Data Center.
    #[serde(default)]
    pub deployment: Deployment,
    /// Space keys to sync; empty syncs every space the credentials can read.
    #[serde(default)]
    pub spaces: Vec<String>,
    /// Whether blog posts are synced besides pages.
    #[serde(default = "default_true")]
    pub include_blogposts: bool,
    /// Results per search page (Confluence caps expanded searches at 50 or less).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

fn default_true() -> bool {
    true
}

fn default_page_size() -> u32 {
    25
}

/// The Confluence connector.
#[derive(Debug)]
pub struct Confluence {
    http: SourceHttp,
    config: ConfluenceConfig,
}

impl Confluence {
    /// A connector for `config`, authenticating with `auth` (Cloud: `Auth::Basic` with the
    /// account e-mail and an API token; Data Center: `Auth::Bearer` with a personal access token).
    pub fn new(
        config: ConfluenceConfig,
        auth: Auth,
        options: HttpOptions,
    ) -> Result<Self, ConnectorError> {
        if config.page_size == 0 {
            return Err(ConnectorError::Config {
                field: "page_size".into(),
                message: crate::tr!("must be at least 1"),
            });
        }
        if config.spaces.iter().any(|s| s.trim().is_empty()) {
            return Err(ConnectorError::Config {
                field: "spaces".into(),
                message: crate::tr!("a space key is empty"),
            });
        }
        let http = SourceHttp::new(&config.base_url, auth, options)?;
        Ok(Self { http, config })
    }

    /// The CQL for a sync (`since` adds the `lastmodified` filter) or for listing ids.
    fn cql(&self, since: Option<DateTime<Utc>>) -> String {
        let mut clauses = Vec::new();
        if !self.config.spaces.is_empty() {
            let keys: Vec<String> = self.config.spaces.iter().map(|k| cql_string(k)).collect();
            clauses.push(format!("space in ({})", keys.join(",")));
        }
        clauses.push(if self.config.include_blogposts {
            "type in (page, blogpost)".to_string()
        } else {
            "type in (page)".to_string()
        });
        if let Some(since) = since {
            clauses.push(format!("lastmodified >= \"{}\"", since.format("%Y-%m-%d %H:%M")));
        }
        format!("{} order by lastmodified asc", clauses.join(" and "))
    }

    /// A `_links.next` as a path under the base: Data Center may repeat the context path.
    fn next_path(&self, body: &Value) -> Option<String> {
        let next = body["_links"]["next"].as_str()?;
        let context = body["_links"]["context"].as_str().unwrap_or_default();
        let base_path = self.http.base().path().trim_end_matches('/');
        let path = match next.strip_prefix(context) {
            Some(rest) if !context.is_empty() && context == base_path && rest.starts_with('/') => {
                rest
            }
            _ => next,
        };
        Some(path.to_string())
    }

    fn to_doc(&self, links_base: Option<&str>, r: &Value) -> Result<SourceDoc, ConnectorError> {
        let id = match &r["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(ConnectorError::Protocol("a search result has no id".into())),
        };
        let updated = r["version"]["when"]
            .as_str()
            .and_then(|w| DateTime::parse_from_rfc3339(w).ok())
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(|| {
                ConnectorError::Protocol(format!("content {id} has no readable version.when"))
            })?;
        let base = links_base.unwrap_or(self.http.base_str()).trim_end_matches('/');
        let url = match r["_links"]["webui"].as_str() {
            Some(webui) => format!("{base}{webui}"),
            None => format!("{base}/pages/viewpage.action?pageId={id}"),
        };
        let author = r["version"]["by"]["displayName"]
            .as_str()
            .or_else(|| r["history"]["createdBy"]["displayName"].as_str())
            .map(str::to_string);
        let mut labels: Vec<String> = r["metadata"]["labels"]["results"]
            .as_array()
            .map(|ls| ls.iter().filter_map(|l| l["name"].as_str()).map(str::to_string).collect())
            .unwrap_or_default();
        if let Some(key) = r["space"]["key"].as_str() {
            labels.push(format!("space:{key}"));
        }
        Ok(SourceDoc {
            external_id: id,
            title: r["title"].as_str().unwrap_or_default().to_string(),
            url,
            author,
            updated_at: updated,
            doc_type: r["type"].as_str().unwrap_or("page").to_string(),
            labels,
            body: DocBody::Html(r["body"]["storage"]["value"].as_str().unwrap_or_default().into()),
        })
    }
}

/// A CQL string literal.
fn cql_string(s: &str) -> String {
    format!("\"{}\"", s.trim().replace('\\', "\\\\").replace('"', "\\\""))
}

/// The cursor's time: an RFC 3339 timestamp written by `begin()`.
fn parse_cursor(cursor: &str) -> Result<DateTime<Utc>, ConnectorError> {
    DateTime::parse_from_rfc3339(cursor).map(|d| d.with_timezone(&Utc)).map_err(|e| {
        ConnectorError::Protocol(format!("the stored cursor {cursor:?} is not a timestamp: {e}"))
    })
}

/// The cursor for a sync starting now: five minutes early, for clock skew between us and the
/// source and for edits committed while the previous page was read.
pub(super) fn cursor_now() -> String {
    (Utc::now() - ChronoDuration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[async_trait]
impl Connector for Confluence {
    async fn test_connection(&self) -> Result<String, ConnectorError> {
        if self.config.spaces.is_empty() {
            let me = self.http.get_json("rest/api/user/current").await?;
            let name = me["displayName"].as_str().or_else(|| me["username"].as_str());
            return Ok(format!("Connected as {}; all readable spaces", name.unwrap_or("?")));
        }
        let mut pairs: Vec<(&str, &str)> =
            self.config.spaces.iter().map(|k| ("spaceKey", k.trim())).collect();
        let limit = self.config.spaces.len().to_string();
        pairs.push(("limit", &limit));
        let found = self.http.get_json(&format!("rest/api/space?{}", query(&pairs))).await?;
        let results = found["results"].as_array().cloned().unwrap_or_default();
        let mut named = Vec::new();
        let mut missing = Vec::new();
        for key in &self.config.spaces {
            let key = key.trim();
            match results.iter().find(|s| s["key"].as_str() == Some(key)) {
                Some(s) => named.push(format!("{key} ({})", s["name"].as_str().unwrap_or(key))),
                None => missing.push(key.to_string()),
            }
        }
        if !missing.is_empty() {
            return Err(ConnectorError::Config {
                field: "spaces".into(),
                message: format!("not found or not readable: {}", missing.join(", ")),
            });
        }
        Ok(format!("Connected; spaces {}", named.join(", ")))
    }

    async fn begin(&self) -> Result<String, ConnectorError> {
        Ok(cursor_now())
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<FetchPage, ConnectorError> {
        let first_page = req.checkpoint.is_none();
        let path = match &req.checkpoint {
            Some(next) => next.clone(),
            None => {
                let since = req.cursor.as_deref().map(parse_cursor).transpose()?;
                let limit = self.config.page_size.to_string();
                let q = query(&[("cql", &self.cql(since)), ("expand", EXPAND), ("limit", &limit)]);
                format!("rest/api/content/search?{q}")
            }
        };
        let body = self.http.get_json(&path).await?;
        let results = body["results"]
            .as_array()
            .ok_or_else(|| ConnectorError::Protocol("the search answer has no results".into()))?;
        let links_base = body["_links"]["base"].as_str();
        let docs = results.iter().map(|r| self.to_doc(links_base, r)).collect::<Result<_, _>>()?;
        Ok(FetchPage {
            docs,
            deleted: Vec::new(),
            next: self.next_path(&body),
            total: if first_page { body["totalSize"].as_i64() } else { None },
        })
    }

    async fn list_ids(&self) -> Result<Option<Vec<String>>, ConnectorError> {
        let q = query(&[("cql", &self.cql(None)), ("limit", LIST_IDS_LIMIT)]);
        let mut path = format!("rest/api/content/search?{q}");
        let mut ids = Vec::new();
        loop {
            let body = self.http.get_json(&path).await?;
            for r in body["results"].as_array().into_iter().flatten() {
                match &r["id"] {
                    Value::String(s) => ids.push(s.clone()),
                    Value::Number(n) => ids.push(n.to_string()),
                    _ => {}
                }
            }
            match self.next_path(&body) {
                Some(next) => path = next,
                None => return Ok(Some(ids)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(spaces: &[&str], blogposts: bool) -> Confluence {
        let config = ConfluenceConfig {
            base_url: "https://acme.atlassian.net/wiki".into(),
            deployment: Deployment::Cloud,
            spaces: spaces.iter().map(|s| s.to_string()).collect(),
            include_blogposts: blogposts,
            page_size: 25,
        };
        Confluence::new(config, Auth::None, HttpOptions::default())
            .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn cql_lists_spaces_types_and_the_minute_cursor() {
        let since = DateTime::parse_from_rfc3339("2026-11-30T10:15:59Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(
            connector(&["ENG", "OPS"], true).cql(Some(since)),
            "space in (\"ENG\",\"OPS\") and type in (page, blogpost) and \
             lastmodified >= \"2026-11-30 10:15\" order by lastmodified asc"
        );
        assert_eq!(connector(&[], false).cql(None), "type in (page) order by lastmodified asc");
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: ConfluenceConfig = serde_json::from_str(r#"{"base_url":"https://c.example"}"#)
            .unwrap_or_else(|_| unreachable!());
        assert_eq!((c.deployment, c.include_blogposts, c.page_size), (Deployment::Cloud, true, 25));
        assert!(
            serde_json::from_str::<ConfluenceConfig>(r#"{"base_url":"x","spcaes":[]}"#).is_err()
        );
    }
}
