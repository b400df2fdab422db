//! The HTTP client every connector shares: one admin-configured base URL, one credential, GET
//! only. It owns the hygiene rules: base URLs pass the one outbound guard (`server::outbound`:
//! http(s) without credentials, query or fragment; link-local and metadata addresses never,
//! private ones only when allowed; checked in the URL and again at DNS resolution, so a name
//! cannot be rebound); answers capped in size; no redirects; no proxy (a proxy would resolve names past the
//! guard); 429/503 retried honouring `Retry-After`, 502/504 and network failures with jittered
//! backoff; the credential only in headers and redacted from every error.
//!
//! It must not know any source's API: paths and queries come from the connectors.

use super::ConnectorError;
use crate::outbound::{GuardedResolver, UrlPolicy, check_url};
use base64::Engine as _;
use rand::Rng;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER,
};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use url::Url;

/// How much of an error page is read for its message.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// How much of an error body goes into an error message.
const MESSAGE_CHARS: usize = 300;

/// How a source wants to be authenticated.
pub enum Auth {
    /// No credentials (public instances).
    None,
    /// HTTP Basic: Atlassian Cloud's e-mail + API token.
    Basic {
        /// The user (Atlassian Cloud: the account's e-mail).
        user: String,
        /// The API token or password.
        token: SecretString,
    },
    /// `Authorization: Bearer …`: Confluence/Jira Data Center personal access tokens.
    Bearer(SecretString),
    /// GitLab's `PRIVATE-TOKEN` header (personal, project or group access tokens).
    PrivateToken(SecretString),
}

impl Auth {
    /// The header carrying the credential, marked sensitive so it is never logged.
    fn header(&self) -> Result<Option<(HeaderName, HeaderValue)>, ConnectorError> {
        let (name, value) = match self {
            Auth::None => return Ok(None),
            Auth::Basic { user, token } => {
                let pair = format!("{user}:{}", token.expose_secret());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                (AUTHORIZATION, format!("Basic {encoded}"))
            }
            Auth::Bearer(token) => (AUTHORIZATION, format!("Bearer {}", token.expose_secret())),
            Auth::PrivateToken(token) => {
                (HeaderName::from_static("private-token"), token.expose_secret().to_string())
            }
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| ConnectorError::Config {
            field: "token".into(),
            message: crate::tr!("the credential contains characters not allowed in an HTTP header"),
        })?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }

    /// Every form in which the secret could be echoed back (raw, and Basic's base64 pair).
    fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Auth::None => {}
            Auth::Basic { user, token } => {
                let pair = format!("{user}:{}", token.expose_secret());
                out.push(base64::engine::general_purpose::STANDARD.encode(&pair));
                out.push(pair);
                out.push(token.expose_secret().to_string());
            }
            Auth::Bearer(token) | Auth::PrivateToken(token) => {
                out.push(token.expose_secret().to_string());
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }
}

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first backoff retry; it doubles each time, jittered down to half.
    pub base_delay: Duration,
    /// Longest single wait; a `Retry-After` asking for more is returned as `RateLimited` at once.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The jittered backoff before retry number `retry` (0-based).
    fn backoff(&self, retry: u32) -> Duration {
        let full = self.base_delay.saturating_mul(1u32 << retry.min(16)).min(self.max_wait);
        let half = full / 2;
        half + (full - half).mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// Client settings a connector is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// Limit for one whole request, body included.
    pub timeout: Duration,
    /// Retries for rate limits, gateway errors and network failures.
    pub retry: RetryPolicy,
    /// Which addresses the source may be at (`security.allow_private_urls`).
    pub urls: UrlPolicy,
    /// The largest answer read; a larger one is an error, not gigabytes in memory.
    pub max_body_bytes: u64,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            urls: UrlPolicy::PUBLIC,
            max_body_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A successful (2xx) answer, read whole.
#[derive(Debug, Clone)]
pub struct SourceResponse {
    /// The response headers (`Link`, `X-Next-Page` …).
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl SourceResponse {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ConnectorError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ConnectorError::Protocol(format!("the body is not JSON: {e}")))
    }

    /// The `rel="next"` target of an RFC 8288 `Link` header (GitLab's keyset pagination).
    pub fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        link.split(',').find_map(|part| {
            let (target, params) = part.split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_string())
        })
    }
}

/// One source's HTTP client: the validated base URL, the credential, retries.
pub struct SourceHttp {
    client: reqwest::Client,
    base: Url,
    auth_header: Option<(HeaderName, HeaderValue)>,
    secrets: Vec<String>,
    retry: RetryPolicy,
    max_body_bytes: u64,
}

impl std::fmt::Debug for SourceHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceHttp").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl SourceHttp {
    /// A client for the source at `base_url` (validated by [`validate_base_url`]).
    pub fn new(base_url: &str, auth: Auth, options: HttpOptions) -> Result<Self, ConnectorError> {
        let base = validate_base_url(base_url, options.urls)?;
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver::shared(options.urls))
            .user_agent(concat!("blueprint/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Config {
                field: "base_url".into(),
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            client,
            base,
            auth_header: auth.header()?,
            secrets: auth.secrets(),
            retry: options.retry,
            max_body_bytes: options.max_body_bytes,
        })
    }

    /// The base URL, always ending in `/`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The base URL without its trailing slash, for building links (`{base}/browse/KEY`).
    pub fn base_str(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `path_and_query` resolved against the base: relative paths (with or without a leading
    /// `/`) go under the base's context path; absolute URLs must share the base's origin.
    pub fn url(&self, path_and_query: &str) -> Result<Url, ConnectorError> {
        if path_and_query.starts_with("http://") || path_and_query.starts_with("https://") {
            let url = Url::parse(path_and_query).map_err(|e| ConnectorError::Config {
                field: "base_url".into(),
                message: format!("the source returned an unusable link: {e}"),
            })?;
            let same_origin = url.scheme() == self.base.scheme()
                && url.host_str() == self.base.host_str()
                && url.port_or_known_default() == self.base.port_or_known_default();
            if !same_origin {
                return Err(ConnectorError::Config {
                    field: "base_url".into(),
                    message: format!(
                        "the source linked to {}, outside {}; not followed",
                        url.host_str().unwrap_or("another host"),
                        self.base_str()
                    ),
                });
            }
            return Ok(url);
        }
        self.base.join(path_and_query.trim_start_matches('/')).map_err(|e| {
            ConnectorError::Protocol(format!("cannot build a URL from {path_and_query:?}: {e}"))
        })
    }

    /// GETs `path_and_query` and parses the answer as JSON.
    pub async fn get_json(
        &self,
        path_and_query: &str,
    ) -> Result<serde_json::Value, ConnectorError> {
        self.get(path_and_query).await?.json()
    }

    /// GETs `path_and_query` as UTF-8 text (invalid sequences replaced).
    pub async fn get_text(&self, path_and_query: &str) -> Result<String, ConnectorError> {
        let res = self.get(path_and_query).await?;
        Ok(String::from_utf8_lossy(&res.body).into_owned())
    }

    /// GETs `path_and_query` as raw bytes.
    pub async fn get_bytes(&self, path_and_query: &str) -> Result<Vec<u8>, ConnectorError> {
        Ok(self.get(path_and_query).await?.body)
    }

    /// GETs `path_and_query` as bytes unless the body exceeds `limit` (then `None`, without
    /// reading more than `limit` bytes).
    pub async fn get_bytes_limited(
        &self,
        path_and_query: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        Ok(self.send(path_and_query, Some(limit)).await?.map(|r| r.body))
    }

    /// GETs `path_and_query`, retrying per the policy; any non-2xx answer is an error.
    pub async fn get(&self, path_and_query: &str) -> Result<SourceResponse, ConnectorError> {
        self.send(path_and_query, None)
            .await?
            .ok_or_else(|| ConnectorError::Protocol("the answer exceeded the size limit".into()))
    }

    async fn send(
        &self,
        path_and_query: &str,
        limit: Option<u64>,
    ) -> Result<Option<SourceResponse>, ConnectorError> {
        let url = self.url(path_and_query)?;
        let mut retry = 0u32;
        loop {
            let (error, wait) = match self.attempt(&url, limit).await {
                Attempt::Done(res) => return Ok(res),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry(e, wait) => (e, wait),
            };
            let delay = match wait {
                Some(after) if after > self.retry.max_wait => {
                    return Err(ConnectorError::RateLimited { retry_after: after });
                }
                Some(after) => after,
                None => self.retry.backoff(retry),
            };
            if retry >= self.retry.max_retries {
                return Err(match (error, wait) {
                    (ConnectorError::Http { status: 503, .. }, Some(after)) => {
                        ConnectorError::RateLimited { retry_after: after }
                    }
                    (e, _) => e,
                });
            }
            tracing::info!(
                source.host = self.base.host_str().unwrap_or_default(),
                error = %error,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "retrying source request"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn attempt(&self, url: &Url, limit: Option<u64>) -> Attempt {
        let mut req = self.client.get(url.clone());
        if let Some((name, value)) = &self.auth_header {
            req = req.header(name, value);
        }
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) => return Attempt::Retry(self.network(&e), None),
        };
        let status = res.status().as_u16();
        if res.status().is_success() {
            return match self.read_body(res, limit).await {
                Ok(body) => Attempt::Done(body),
                // Too large stays too large: not worth another attempt.
                Err(e @ ConnectorError::Protocol(_)) => Attempt::Fatal(e),
                Err(e) => Attempt::Retry(e, None),
            };
        }
        if res.status().is_redirection() {
            let target = res
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "an unnamed location".into());
            return Attempt::Fatal(ConnectorError::Http {
                status,
                message: format!(
                    "the source redirects to {target}; redirects are not followed, \
                     configure the final address as base_url"
                ),
            });
        }
        let retry_after = retry_after(res.headers());
        let mut res = res;
        // An error page is read only as far as a message needs.
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > ERROR_BODY_BYTES {
                break;
            }
        }
        let message = self.message(&body);
        match status {
            401 | 403 => Attempt::Fatal(ConnectorError::Unauthorized { status, message }),
            429 => Attempt::Retry(
                ConnectorError::RateLimited {
                    retry_after: retry_after.unwrap_or(self.retry.base_delay),
                },
                retry_after,
            ),
            503 => Attempt::Retry(ConnectorError::Http { status, message }, retry_after),
            502 | 504 => Attempt::Retry(ConnectorError::Http { status, message }, None),
            _ => Attempt::Fatal(ConnectorError::Http { status, message }),
        }
    }

    /// Reads a 2xx body whole; `None` when it is larger than `limit`.
    async fn read_body(
        &self,
        mut res: reqwest::Response,
        limit: Option<u64>,
    ) -> Result<Option<SourceResponse>, ConnectorError> {
        let headers = res.headers().clone();
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // With a caller's limit a larger body is skipped (`None`); otherwise the client's cap
        // makes it an error.
        let cap = limit.unwrap_or(self.max_body_bytes);
        let too_large = || {
            if limit.is_some() {
                Ok(None)
            } else {
                Err(ConnectorError::Protocol(format!(
                    "the source's answer is larger than {} MiB; not read",
                    self.max_body_bytes / (1024 * 1024)
                )))
            }
        };
        if declared.is_some_and(|d| d > cap) {
            return too_large();
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| self.network(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > cap {
                return too_large();
            }
        }
        Ok(Some(SourceResponse { headers, body }))
    }

    /// A transport failure as `Network`, with reqwest's cause chain (URL included, secrets not).
    fn network(&self, e: &reqwest::Error) -> ConnectorError {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        ConnectorError::Network(self.redact(&message))
    }

    /// An error body shortened to 300 characters, secrets redacted.
    fn message(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        // Redact before shortening so a secret cut in half cannot survive.
        let text = self.redact(text.trim());
        let short: String = text.chars().take(MESSAGE_CHARS).collect();
        if short.is_empty() { "no details".into() } else { short }
    }

    /// Replaces every form of the secret with `***`.
    fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }
}

enum Attempt {
    Done(Option<SourceResponse>),
    Retry(ConnectorError, Option<Duration>),
    Fatal(ConnectorError),
}

/// `pairs` as an encoded query string (`a=1&b=x+y`), for `path?{query}`.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}

/// Checks an admin-supplied base URL with the one outbound guard (`server::outbound`); the
/// path gets a trailing `/`.
pub fn validate_base_url(raw: &str, policy: UrlPolicy) -> Result<Url, ConnectorError> {
    check_url(raw, policy)
        .map_err(|e| ConnectorError::Config { field: "base_url".into(), message: e.message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next_is_found_among_others() {
        let mut headers = HeaderMap::new();
        let link = "<https://g.example/api/v4/x?page=1>; rel=\"first\", \
                    <https://g.example/api/v4/x?id_after=42>; rel=\"next\"";
        headers.insert("link", HeaderValue::from_static(link));
        let res = SourceResponse { headers, body: Vec::new() };
        assert_eq!(res.next_link().as_deref(), Some("https://g.example/api/v4/x?id_after=42"));
    }

    #[test]
    fn secrets_are_redacted_in_every_form() {
        let auth = Auth::Basic { user: "ada@example.com".into(), token: "s3cr3t-tok".into() };
        let encoded =
            base64::engine::general_purpose::STANDARD.encode("ada@example.com:s3cr3t-tok");
        let http = SourceHttp::new("https://x.example", auth, HttpOptions::default())
            .unwrap_or_else(|_| unreachable!());
        let msg = http.message(format!("bad s3cr3t-tok / Basic {encoded}").as_bytes());
        assert!(!msg.contains("s3cr3t") && !msg.contains(&encoded), "{msg}");
    }
}
