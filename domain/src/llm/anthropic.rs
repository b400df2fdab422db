//! Anthropic Messages (`POST /v1/messages`, `anthropic-version: 2023-06-01`). System messages
//! go in the top-level `system` field. Streams report input tokens in `message_start` and the
//! output total in `message_delta`.

use super::breaker::BreakerState;
use super::error::LlmError;
use super::http::ProviderHttp;
use super::provider::{
    ChatStream, Provider, ProviderConfig, ProviderKind, drive, read_usage, sse_frames,
};
use super::types::{ChatRequest, ChatResponse, Embeddings, Role, StreamEvent, Usage};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const VERSION: &str = "2023-06-01";

/// The Anthropic provider.
pub struct Anthropic {
    http: ProviderHttp,
    base: String,
    private: bool,
}

impl Anthropic {
    pub(crate) fn new(http: ProviderHttp, base: String, config: &ProviderConfig) -> Self {
        Self { http, base, private: config.private }
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let req = req.header("anthropic-version", VERSION);
        match self.http.key() {
            Some(key) => req.header("x-api-key", key),
            None => req,
        }
    }

    fn body(req: &ChatRequest, stream: bool) -> Value {
        let system: Vec<&str> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        let messages: Vec<Value> = req
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| json!({ "role": m.role.as_str(), "content": m.content }))
            .collect();
        let mut body = json!({
            "model": req.model,
            "max_tokens": req.max_tokens,
            "messages": messages,
            "stream": stream,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        body
    }

    async fn send_messages(&self, body: Value) -> Result<reqwest::Response, LlmError> {
        let url = format!("{}/v1/messages", self.base);
        self.http.send(|c| self.auth(c.post(&url)).json(&body)).await
    }
}

/// Anthropic's usage object: cache reads are separate from `input_tokens`; cache writes are
/// billed as input.
#[derive(Deserialize)]
struct WireUsage {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Usage {
        Usage {
            input_tokens: u.input_tokens + u.cache_creation_input_tokens.unwrap_or(0),
            output_tokens: u.output_tokens,
            cached_input_tokens: u.cache_read_input_tokens.unwrap_or(0),
        }
    }
}

/// `message_delta`'s usage: the output so far.
#[derive(Deserialize)]
struct DeltaUsage {
    output_tokens: u64,
}

/// A whole answer (`POST /v1/messages`).
#[derive(Deserialize)]
struct MessageAnswer {
    content: Vec<Block>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

/// The data of one stream event; which fields are present depends on its type.
#[derive(Deserialize)]
struct StreamData {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    message: Option<StreamMessage>,
    #[serde(default)]
    delta: Option<StreamDelta>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct StreamMessage {
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct StreamDelta {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    stop_reason: Option<String>,
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn base_url(&self) -> &str {
        &self.base
    }

    fn is_private(&self) -> bool {
        self.private
    }

    fn breaker_state(&self) -> BreakerState {
        self.http.breaker.state()
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let res = self.send_messages(Self::body(req, false)).await?;
        let v: Value = self.http.json(res).await.inspect_err(|_| self.http.failed())?;
        let Ok(answer) = serde_json::from_value::<MessageAnswer>(v) else {
            self.http.failed();
            return Err(self.http.protocol("no content array in the answer"));
        };
        let text: String = answer
            .content
            .into_iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text)
            .collect();
        self.http.succeeded();
        Ok(ChatResponse {
            text,
            usage: read_usage::<WireUsage>(self.name(), answer.usage)
                .map(Usage::from)
                .unwrap_or_default(),
            finish_reason: answer.stop_reason,
        })
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let res = self.send_messages(Self::body(req, true)).await?;
        let http = self.http.clone();
        // The input side comes only with `message_start`; without it no usage is reported at
        // all, so the gateway estimates the call instead of billing zero input tokens.
        let mut total: Option<Usage> = None;
        let mut finish: Option<String> = None;
        Ok(drive(self.http.clone(), sse_frames(&self.http, res), move |event| {
            let kind = event.event.as_str();
            if kind == "ping" || event.data.trim().is_empty() {
                return Ok(Vec::new());
            }
            let data: StreamData =
                serde_json::from_str(&event.data).map_err(|e| http.protocol(e))?;
            let kind = if kind.is_empty() || kind == "message" {
                data.kind.as_deref().unwrap_or("")
            } else {
                kind
            };
            Ok(match kind {
                "message_start" => {
                    let usage = data.message.and_then(|m| m.usage);
                    total = read_usage::<WireUsage>(&http.provider, usage).map(Usage::from);
                    total.map(StreamEvent::Usage).into_iter().collect()
                }
                "content_block_delta" => match data.delta.and_then(|d| d.text) {
                    Some(t) if !t.is_empty() => vec![StreamEvent::Delta(t)],
                    _ => Vec::new(),
                },
                "message_delta" => {
                    if let (Some(total), Some(out)) =
                        (total.as_mut(), read_usage::<DeltaUsage>(&http.provider, data.usage))
                    {
                        total.output_tokens = out.output_tokens;
                    }
                    if let Some(reason) = data.delta.and_then(|d| d.stop_reason) {
                        finish = Some(reason);
                    }
                    total.map(StreamEvent::Usage).into_iter().collect()
                }
                "message_stop" => vec![StreamEvent::Done { finish_reason: finish.take() }],
                "error" => {
                    return Err(LlmError::Upstream {
                        provider: http.provider.clone(),
                        status: 200,
                        message: super::http::error_message(&event.data),
                    });
                }
                _ => Vec::new(),
            })
        }))
    }

    async fn embed(&self, _model: &str, _inputs: &[String]) -> Result<Embeddings, LlmError> {
        Err(LlmError::Unsupported { provider: self.http.provider.clone(), what: "embeddings" })
    }

    async fn probe(&self) -> Result<Duration, LlmError> {
        let started = Instant::now();
        let url = format!("{}/v1/models", self.base);
        let res = self.http.send(|c| self.auth(c.get(&url))).await?;
        let _: Value = self.http.json(res).await?;
        self.http.succeeded();
        Ok(started.elapsed())
    }
}
