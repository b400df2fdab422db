//! Connectors: each source's real REST API behind one `Connector` trait. A sync asks for pages of
//! changed documents after an opaque cursor, resuming from an opaque checkpoint; `list_ids`
//! enumerates what still exists (and is still visible to the credentials) so deletions and
//! permission changes can be pruned. Connectors never touch the store or the index.
//!
//! HTTP hygiene for every connector (`http.rs`): base URLs are admin-supplied, http(s) only,
//! without credentials; link-local and cloud-metadata addresses are refused, also after DNS
//! resolution; redirects are not followed; 429 and 503 are retried honouring `Retry-After`;
//! secrets go only in headers and are redacted from errors.

pub mod confluence;
pub mod gitlab;
pub mod http;
pub mod jira;

use super::FetchPage;
use async_trait::async_trait;
use std::time::Duration;

/// Why a connector call failed.
#[derive(Debug)]
pub enum ConnectorError {
    /// 401/403: the credentials are wrong or lack permission.
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// What the source said, secrets redacted, shortened.
        message: String,
    },
    /// 429 (or 503 with Retry-After) after the retries ran out.
    RateLimited {
        /// How long the source asked us to wait.
        retry_after: Duration,
    },
    /// Any other HTTP error status.
    Http {
        /// HTTP status.
        status: u16,
        /// What the source said, secrets redacted, shortened.
        message: String,
    },
    /// Connect failures, timeouts, connections dropped mid-body.
    Network(String),
    /// The source answered something we could not read.
    Protocol(String),
    /// The configuration is unusable (bad URL, blocked address, missing project).
    Config {
        /// The configuration field (`base_url`, `spaces` …).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// In the reader's language (`tr!`); what the source said stays as it said it.
impl std::fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            ConnectorError::Unauthorized { status, message } => crate::tr!(
                "the source refused the credentials (%{status}): %{message}",
                status = status,
                message = message
            ),
            ConnectorError::RateLimited { retry_after } => crate::tr!(
                "the source is rate limiting requests; retry after %{secs} s",
                secs = retry_after.as_millis().div_ceil(1000).max(1)
            ),
            ConnectorError::Http { status, message } => crate::tr!(
                "the source answered %{status}: %{message}",
                status = status,
                message = message
            ),
            ConnectorError::Network(cause) => {
                crate::tr!("could not reach the source: %{cause}", cause = cause)
            }
            ConnectorError::Protocol(cause) => {
                crate::tr!("unexpected answer from the source: %{cause}", cause = cause)
            }
            ConnectorError::Config { field, message } => format!("{field}: {message}"),
        };
        f.write_str(&text)
    }
}

impl std::error::Error for ConnectorError {}

impl ConnectorError {
    /// Whether another attempt later may succeed (network, rate limits, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectorError::Network(_) | ConnectorError::RateLimited { .. } => true,
            ConnectorError::Http { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }
}

/// What a sync asks for: changes after `cursor`, continuing at `checkpoint` within this sync.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    /// The cursor the previous completed sync returned (None: full sync).
    pub cursor: Option<String>,
    /// Where this sync stopped last time it ran (None: from the start).
    pub checkpoint: Option<String>,
}

/// One source's API.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Checks the URL and credentials with one cheap call; says what it found ("Connected as
    /// ada@example.com; spaces ENG, OPS").
    async fn test_connection(&self) -> Result<String, ConnectorError>;
    /// The cursor to store once this sync completes (taken *before* the first page, so changes
    /// made during the sync are fetched again next time rather than missed).
    async fn begin(&self) -> Result<String, ConnectorError>;
    /// One page of documents changed since `req.cursor`, from `req.checkpoint`.
    async fn fetch(&self, req: &FetchRequest) -> Result<FetchPage, ConnectorError>;
    /// Every external id that currently exists and is readable, for pruning. None when the
    /// source cannot enumerate cheaply (then nothing is pruned).
    async fn list_ids(&self) -> Result<Option<Vec<String>>, ConnectorError>;
}

/// Builds the connector a source's settings describe. `config` is the source's JSON settings;
/// Atlassian Cloud sources also carry `email` there (the account the API token belongs to).
/// Errors name the offending field (`config.base_url`, `secret` …).
pub fn build(
    kind: model::SourceKind,
    config: &serde_json::Value,
    secret: Option<secrecy::SecretString>,
    urls: crate::outbound::UrlPolicy,
) -> Result<Box<dyn Connector>, ConnectorError> {
    use model::SourceKind;
    let mut config = config.clone();
    let email = config
        .as_object_mut()
        .and_then(|o| o.remove("email"))
        .and_then(|e| e.as_str().map(|s| s.trim().to_string()))
        .filter(|e| !e.is_empty());
    let atlassian_auth =
        |deployment: confluence::Deployment| -> Result<http::Auth, ConnectorError> {
            let token = secret.clone().ok_or_else(|| ConnectorError::Config {
                field: "secret".into(),
                message: crate::tr!(
                    "an API token (Cloud) or personal access token (Data Center) is required"
                ),
            })?;
            Ok(match deployment {
                confluence::Deployment::Cloud => http::Auth::Basic {
                    user: email.clone().ok_or_else(|| ConnectorError::Config {
                        field: "config.email".into(),
                        message: crate::tr!(
                            "Atlassian Cloud needs the e-mail of the token's account"
                        ),
                    })?,
                    token,
                },
                confluence::Deployment::DataCenter => http::Auth::Bearer(token),
            })
        };
    let options = http::HttpOptions { urls, ..http::HttpOptions::default() };
    Ok(match kind {
        SourceKind::Confluence => {
            let c: confluence::ConfluenceConfig = parse(config)?;
            let auth = atlassian_auth(c.deployment)?;
            Box::new(confluence::Confluence::new(c, auth, options).map_err(prefixed)?)
        }
        SourceKind::Jira => {
            let c: jira::JiraConfig = parse(config)?;
            let auth = atlassian_auth(c.deployment)?;
            Box::new(jira::Jira::new(c, auth, options).map_err(prefixed)?)
        }
        SourceKind::Gitlab => {
            let c: gitlab::GitlabConfig = parse(config)?;
            let token = secret.ok_or_else(|| ConnectorError::Config {
                field: "secret".into(),
                message: crate::tr!("a GitLab access token is required"),
            })?;
            Box::new(gitlab::Gitlab::new(c, token, options).map_err(prefixed)?)
        }
        SourceKind::Files => {
            return Err(ConnectorError::Config {
                field: "kind".into(),
                message: crate::tr!("file sources have no connector"),
            });
        }
    })
}

fn parse<T: serde::de::DeserializeOwned>(config: serde_json::Value) -> Result<T, ConnectorError> {
    serde_json::from_value(config).map_err(|e| {
        let text = e.to_string();
        // serde names the field between backticks: "missing field `base_url`".
        let field = text.split('`').nth(1).unwrap_or("").to_string();
        ConnectorError::Config {
            field: if field.is_empty() { "config".into() } else { format!("config.{field}") },
            message: text,
        }
    })
}

fn prefixed(e: ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::Config { field, message } if !field.starts_with("config") => {
            ConnectorError::Config { field: format!("config.{field}"), message }
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Lang;

    #[tokio::test]
    async fn failures_read_in_the_readers_language_keeping_what_the_source_said() {
        let refused =
            || ConnectorError::Unauthorized { status: 401, message: "Bad credentials".into() };
        let limited = || ConnectorError::RateLimited { retry_after: Duration::from_millis(200) };
        let ru =
            crate::i18n::scope(Lang::Ru, async { (refused().to_string(), limited().to_string()) })
                .await;
        assert_eq!(ru.0, "источник отклонил учётные данные (401): Bad credentials");
        assert_eq!(ru.1, "источник ограничивает частоту запросов; повторите через 1 с");
        let en = crate::i18n::scope(Lang::En, async { refused().to_string() }).await;
        assert_eq!(en, "the source refused the credentials (401): Bad credentials");
    }
}
