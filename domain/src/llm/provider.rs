use super::breaker::{Breaker, BreakerConfig, BreakerState};
use super::error::LlmError;
use super::http::{ProviderHttp, RetryPolicy};
use super::types::{ChatRequest, ChatResponse, Embeddings, StreamEvent};
use crate::outbound::{UrlPolicy, check_url};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Why a stream that stopped without its end marker failed: for the log and the ledger, which
/// stay English (the reader gets `LlmError::public_message`).
const STREAM_ENDED: &str = "the stream ended before the answer was complete";

/// A streamed answer: deltas, usage, then `Done` — or an error, after which nothing follows.
pub type ChatStream = BoxStream<'static, Result<StreamEvent, LlmError>>;

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// `POST {base}/chat/completions`, `/embeddings` (base usually ends in `/v1`).
    #[serde(rename = "openai")]
    OpenAi,
    /// `POST {base}/v1/messages`.
    Anthropic,
    /// `POST {base}/api/chat`, `/api/embed`.
    Ollama,
}

/// How to reach one provider. Built from admin configuration only, never from a request.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Unique name (`openai`, `claude`, `local` …), shown in the ledger and admin views.
    pub name: String,
    /// Wire protocol.
    pub kind: ProviderKind,
    /// `https://api.openai.com/v1`, `https://api.anthropic.com`, `http://127.0.0.1:11434` …
    pub base_url: String,
    /// Secret key, if the provider needs one.
    pub api_key: Option<SecretString>,
    /// Longest wait for response headers, and between two chunks of a stream.
    pub timeout: Duration,
    /// Retries before output.
    pub retry: RetryPolicy,
    /// Circuit breaker.
    pub breaker: BreakerConfig,
    /// Runs on our own hardware (Ollama): features and users can be pinned to it.
    pub private: bool,
    /// OpenAI-compatible only: send the key as `api-key` (Azure OpenAI) instead of a bearer token.
    pub azure_api_key_header: bool,
    /// Which addresses the base URL may reach, checked in the URL and at every DNS resolution.
    /// Configured providers are the operator's and may be private; admin-added ones follow
    /// `security.allow_private_urls`.
    pub urls: UrlPolicy,
}

impl ProviderConfig {
    /// A config with default timeout (60 s), retries and breaker.
    pub fn new(name: impl Into<String>, kind: ProviderKind, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            base_url: base_url.into(),
            api_key: None,
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            private: kind == ProviderKind::Ollama,
            azure_api_key_header: false,
            urls: UrlPolicy::PRIVATE_TOO,
        }
    }
}

/// One LLM provider.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Its configured name.
    fn name(&self) -> &str;
    /// Its protocol.
    fn kind(&self) -> ProviderKind;
    /// Its base URL (shown to admins; it carries no credentials).
    fn base_url(&self) -> &str;
    /// Whether it runs on our own hardware.
    fn is_private(&self) -> bool;
    /// Its circuit breaker's state.
    fn breaker_state(&self) -> BreakerState;
    /// A whole answer.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError>;
    /// An answer as it is generated, with token usage.
    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError>;
    /// Vectors for `inputs`.
    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError>;
    /// A cheap authenticated request (list models); Ok with its latency when healthy.
    async fn probe(&self) -> Result<Duration, LlmError>;
}

/// Builds the provider a config describes. The base URL must be http(s) without credentials.
pub fn build_provider(config: ProviderConfig) -> Result<Arc<dyn Provider>, LlmError> {
    let bad = |message: String| LlmError::Protocol { provider: config.name.clone(), message };
    let url =
        check_url(&config.base_url, config.urls).map_err(|e| bad(format!("base_url: {e}")))?;
    let base = url.as_str().trim_end_matches('/').to_string();
    let http = ProviderHttp::new(
        &config.name,
        config.api_key.clone(),
        config.timeout,
        config.retry,
        Breaker::new(config.breaker),
        config.urls,
    )?;
    Ok(match config.kind {
        ProviderKind::OpenAi => Arc::new(super::openai::OpenAi::new(http, base, &config)),
        ProviderKind::Anthropic => Arc::new(super::anthropic::Anthropic::new(http, base, &config)),
        ProviderKind::Ollama => Arc::new(super::ollama::Ollama::new(http, base, &config)),
    })
}

/// Turns a response body into a stream of protocol frames (SSE events or NDJSON lines are
/// parsed by `parse`), enforcing the idle timeout between chunks and the stream's rules:
/// an error after the first delta is `Interrupted` (never retried); a body that ends without
/// `Done` is an error; the breaker hears how it ended.
pub(crate) fn drive<S, T, P>(http: ProviderHttp, frames: S, parse: P) -> ChatStream
where
    S: Stream<Item = Result<T, LlmError>> + Send + 'static,
    T: Send + 'static,
    P: FnMut(T) -> Result<Vec<StreamEvent>, LlmError> + Send + 'static,
{
    struct State<S, P> {
        frames: std::pin::Pin<Box<S>>,
        parse: P,
        http: ProviderHttp,
        queue: VecDeque<StreamEvent>,
        started: bool,
        finished: bool,
    }
    let state = State {
        frames: Box::pin(frames),
        parse,
        http,
        queue: VecDeque::new(),
        started: false,
        finished: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(event) = st.queue.pop_front() {
                if matches!(event, StreamEvent::Done { .. }) {
                    st.finished = true;
                    st.queue.clear();
                    st.http.succeeded();
                }
                if matches!(event, StreamEvent::Delta(_)) {
                    st.started = true;
                }
                return Some((Ok(event), st));
            }
            if st.finished {
                return None;
            }
            let next = tokio::time::timeout(st.http.timeout, st.frames.next()).await;
            let failure = match next {
                Ok(Some(Ok(frame))) => match (st.parse)(frame) {
                    Ok(events) => {
                        st.queue.extend(events);
                        continue;
                    }
                    Err(e) => e,
                },
                Ok(Some(Err(e))) => e,
                Ok(None) => LlmError::Protocol {
                    provider: st.http.provider.clone(),
                    message: STREAM_ENDED.into(),
                },
                Err(_) => LlmError::Timeout {
                    provider: st.http.provider.clone(),
                    timeout: st.http.timeout,
                },
            };
            st.finished = true;
            st.http.failed();
            let error = if st.started {
                LlmError::Interrupted {
                    provider: st.http.provider.clone(),
                    message: failure.to_string(),
                }
            } else {
                failure
            };
            return Some((Err(error), st));
        }
    })
    .boxed()
}

/// The SSE events of a response body, with transport errors mapped.
pub(crate) fn sse_frames(
    http: &ProviderHttp,
    res: reqwest::Response,
) -> impl Stream<Item = Result<eventsource_stream::Event, LlmError>> + Send + 'static {
    use eventsource_stream::Eventsource;
    let http = http.clone();
    res.bytes_stream().eventsource().map(move |r| {
        r.map_err(|e| match e {
            eventsource_stream::EventStreamError::Transport(t) => http.transport_error(&t),
            other => http.protocol(other),
        })
    })
}

/// The lines of a newline-delimited JSON body (Ollama), with transport errors mapped.
pub(crate) fn ndjson_lines(
    http: &ProviderHttp,
    res: reqwest::Response,
) -> impl Stream<Item = Result<String, LlmError>> + Send + 'static {
    let http = http.clone();
    let bytes = res.bytes_stream();
    futures::stream::unfold((bytes, Vec::<u8>::new(), false), move |(mut bytes, mut buf, done)| {
        let http = http.clone();
        async move {
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&line).trim().to_string();
                    if line.is_empty() {
                        continue;
                    }
                    return Some((Ok(line), (bytes, buf, done)));
                }
                if done {
                    let rest = String::from_utf8_lossy(&buf).trim().to_string();
                    buf.clear();
                    return (!rest.is_empty()).then_some((Ok(rest), (bytes, buf, true)));
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        return Some((Err(http.transport_error(&e)), (bytes, buf, true)));
                    }
                    None => {
                        return {
                            let rest = String::from_utf8_lossy(&buf).trim().to_string();
                            buf.clear();
                            (!rest.is_empty()).then_some((Ok(rest), (bytes, buf, true)))
                        };
                    }
                }
            }
        }
    })
}

/// Reads a provider's usage object into its wire struct. Absent (`None` or `null`) means the
/// provider reported nothing; one that does not read as the protocol says is logged. Either way
/// the answer is `None`, and the gateway bills its estimate (marked as such), never zeros.
pub(crate) fn read_usage<T: serde::de::DeserializeOwned>(
    provider: &str,
    usage: Option<serde_json::Value>,
) -> Option<T> {
    let usage = usage.filter(|v| !v.is_null())?;
    match serde_json::from_value(usage) {
        Ok(usage) => Some(usage),
        Err(e) => {
            tracing::warn!(provider, error = %e, "the provider's usage could not be read; the call is billed at our estimate");
            None
        }
    }
}
