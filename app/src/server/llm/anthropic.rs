//! Anthropic Messages (`POST /v1/messages`, `anthropic-version: 2023-06-01`). System messages
//! go in the top-level `system` field. Streams report input tokens in `message_start` and the
//! output total in `message_delta`.

use super::breaker::BreakerState;
use super::error::LlmError;
use super::http::ProviderHttp;
use super::provider::{ChatStream, Provider, ProviderConfig, ProviderKind, drive, sse_frames};
use super::types::{ChatRequest, ChatResponse, Embeddings, Role, StreamEvent, Usage};
use async_trait::async_trait;
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
fn usage(v: &Value) -> Usage {
    Usage {
        input_tokens: v["input_tokens"].as_u64().unwrap_or(0)
            + v["cache_creation_input_tokens"].as_u64().unwrap_or(0),
        output_tokens: v["output_tokens"].as_u64().unwrap_or(0),
        cached_input_tokens: v["cache_read_input_tokens"].as_u64().unwrap_or(0),
    }
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
        let Some(blocks) = v["content"].as_array() else {
            self.http.failed();
            return Err(self.http.protocol("no content array in the answer"));
        };
        let text: String = blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect();
        self.http.succeeded();
        Ok(ChatResponse {
            text,
            usage: usage(&v["usage"]),
            finish_reason: v["stop_reason"].as_str().map(str::to_string),
        })
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let res = self.send_messages(Self::body(req, true)).await?;
        let http = self.http.clone();
        let mut total = Usage::default();
        let mut finish: Option<String> = None;
        Ok(drive(self.http.clone(), sse_frames(&self.http, res), move |event| {
            let kind = event.event.as_str();
            if kind == "ping" || event.data.trim().is_empty() {
                return Ok(Vec::new());
            }
            let v: Value = serde_json::from_str(&event.data).map_err(|e| http.protocol(e))?;
            let kind = if kind.is_empty() || kind == "message" {
                v["type"].as_str().unwrap_or("")
            } else {
                kind
            };
            Ok(match kind {
                "message_start" => {
                    total = usage(&v["message"]["usage"]);
                    vec![StreamEvent::Usage(total)]
                }
                "content_block_delta" => match v["delta"]["text"].as_str() {
                    Some(t) if !t.is_empty() => vec![StreamEvent::Delta(t.to_string())],
                    _ => Vec::new(),
                },
                "message_delta" => {
                    if let Some(out) = v["usage"]["output_tokens"].as_u64() {
                        total.output_tokens = out;
                    }
                    if let Some(reason) = v["delta"]["stop_reason"].as_str() {
                        finish = Some(reason.to_string());
                    }
                    vec![StreamEvent::Usage(total)]
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
