use super::breaker::Breaker;
use super::error::LlmError;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// How failed requests are retried (only before any output has been received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry; it doubles each time, jittered down to half.
    pub base_delay: Duration,
    /// Longest wait, for backoff and for `Retry-After` alike; a provider asking for longer gets
    /// no retry (the caller falls back or reports the limit).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (0-based), with jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let full = self.base_delay.saturating_mul(1u32 << retry.min(16)).min(self.max_delay);
        let half = full / 2;
        half + (full - half).mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// An HTTP client bound to one provider: its name for errors, its key for redaction, its
/// timeout, retry policy and circuit breaker.
#[derive(Clone)]
pub struct ProviderHttp {
    pub(crate) client: reqwest::Client,
    pub(crate) provider: String,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) breaker: Breaker,
    key: Option<SecretString>,
}

impl ProviderHttp {
    /// A client for `provider` (connect timeout 10 s or less; no redirects, so a configured
    /// URL cannot be bounced elsewhere).
    pub fn new(
        provider: &str,
        key: Option<SecretString>,
        timeout: Duration,
        retry: RetryPolicy,
        breaker: Breaker,
        urls: crate::outbound::UrlPolicy,
    ) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(crate::outbound::GuardedResolver::shared(urls))
            .user_agent(concat!("blueprint/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Connect { provider: provider.into(), message: e.to_string() })?;
        Ok(Self { client, provider: provider.into(), timeout, retry, breaker, key })
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Replaces the key wherever it appears (some proxies echo request headers in errors).
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) if !k.expose_secret().is_empty() => text.replace(k.expose_secret(), "***"),
            _ => text.to_string(),
        }
    }

    /// The key, for the provider's auth header.
    pub(crate) fn key(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.expose_secret()).filter(|k| !k.is_empty())
    }

    /// Sends the request `build` makes until the provider answers 2xx, retrying 429, 5xx,
    /// timeouts and connection failures per the policy. Each attempt must get its response
    /// headers within the timeout. The breaker is consulted first and told the outcome.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LlmError> {
        self.breaker.allow(&self.provider)?;
        let result = self.send_retrying(build).await;
        match &result {
            Ok(_) => {}
            Err(e) if e.is_provider_failure() => self.breaker.record_failure(),
            // A request the provider refused as invalid still shows it is up.
            Err(_) => self.breaker.record_success(),
        }
        result
    }

    async fn send_retrying(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LlmError> {
        let mut retry = 0u32;
        loop {
            let attempt = tokio::time::timeout(self.timeout, build(&self.client).send()).await;
            let (error, wait) = match attempt {
                Err(_) => (
                    LlmError::Timeout { provider: self.provider.clone(), timeout: self.timeout },
                    None,
                ),
                Ok(Err(e)) => (self.transport_error(&e), None),
                Ok(Ok(res)) if res.status().is_success() => return Ok(res),
                Ok(Ok(res)) => {
                    let status = res.status().as_u16();
                    let retry_after = retry_after(res.headers());
                    let body =
                        tokio::time::timeout(self.timeout, read_capped(res, ERROR_BODY_BYTES))
                            .await;
                    let body = body.ok().and_then(Result::ok).unwrap_or_default();
                    let message = self.redact(&error_message(&String::from_utf8_lossy(&body)));
                    if status == 429 {
                        (
                            LlmError::RateLimited { provider: self.provider.clone(), retry_after },
                            retry_after,
                        )
                    } else {
                        let e =
                            LlmError::Upstream { provider: self.provider.clone(), status, message };
                        // 408 and 5xx (529: Anthropic overloaded) may pass on a retry; other 4xx won't.
                        if status != 408 && status < 500 {
                            return Err(e);
                        }
                        (e, retry_after)
                    }
                }
            };
            if retry >= self.retry.max_retries {
                return Err(error);
            }
            let delay = match wait {
                Some(after) if after > self.retry.max_delay => return Err(error),
                Some(after) => after,
                None => self.retry.backoff(retry),
            };
            tracing::info!(provider = %self.provider, error = %error, delay_ms = delay.as_millis() as u64, "retrying LLM request");
            metrics::counter!("llm_retries_total", "provider" => self.provider.clone())
                .increment(1);
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    pub(crate) fn transport_error(&self, e: &reqwest::Error) -> LlmError {
        if e.is_timeout() {
            return LlmError::Timeout { provider: self.provider.clone(), timeout: self.timeout };
        }
        // reqwest's messages name the URL (never the key, which is in a header); keep the cause.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        // The provider was reached and started answering; the body broke or was not readable.
        if e.is_body() || e.is_decode() {
            return LlmError::Protocol {
                provider: self.provider.clone(),
                message: format!("the answer was cut off: {}", self.redact(&message)),
            };
        }
        LlmError::Connect { provider: self.provider.clone(), message: self.redact(&message) }
    }

    /// Reads a whole JSON body (at most `MAX_ANSWER_BYTES`) within the timeout.
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        res: reqwest::Response,
    ) -> Result<T, LlmError> {
        let bytes =
            match tokio::time::timeout(self.timeout, read_capped(res, MAX_ANSWER_BYTES)).await {
                Err(_) => {
                    return Err(LlmError::Timeout {
                        provider: self.provider.clone(),
                        timeout: self.timeout,
                    });
                }
                Ok(Err(e)) => return Err(self.transport_error(&e)),
                Ok(Ok(b)) => b,
            };
        serde_json::from_slice(&bytes).map_err(|e| self.protocol(e))
    }

    pub(crate) fn protocol(&self, e: impl std::fmt::Display) -> LlmError {
        LlmError::Protocol { provider: self.provider.clone(), message: e.to_string() }
    }

    /// Records a call that got through (its body or stream was read to the end).
    pub(crate) fn succeeded(&self) {
        self.breaker.record_success();
    }

    /// Records a failure that happened after the headers (a broken stream, a bad body).
    pub(crate) fn failed(&self) {
        self.breaker.record_failure();
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}

/// The message of a provider's error body: `error.message` (OpenAI, Anthropic), `error`
/// (Ollama), or the start of the text.
pub fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        if let Some(m) = v["error"]["message"].as_str() {
            return m.to_string();
        }
        if let Some(m) = v["error"].as_str() {
            return m.to_string();
        }
        if let Some(m) = v["message"].as_str() {
            return m.to_string();
        }
    }
    let text: String = body.chars().take(300).collect();
    if text.trim().is_empty() { "no details".into() } else { text }
}

/// The largest non-streamed answer read from a provider (a chat answer or a batch of embeddings).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// How much of an error body is read for its message.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// The body, stopping with an error past `cap` bytes (a misbehaving server cannot fill memory).
async fn read_capped(mut res: reqwest::Response, cap: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert(reqwest::header::RETRY_AFTER, later.parse().unwrap_or_else(|_| unreachable!()));
        let d = retry_after(&h).unwrap_or_default();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
    }

    #[test]
    fn error_messages_come_from_each_vendor_shape() {
        assert_eq!(error_message(r#"{"error":{"message":"bad model","type":"x"}}"#), "bad model");
        assert_eq!(error_message(r#"{"error":"model not found"}"#), "model not found");
        assert_eq!(error_message("<html>gateway</html>"), "<html>gateway</html>");
        assert_eq!(error_message(""), "no details");
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        let b1 = p.backoff(1);
        assert!(b1 >= Duration::from_millis(100) && b1 <= Duration::from_millis(200), "{b1:?}");
        assert!(p.backoff(6) <= Duration::from_millis(350));
    }
}
