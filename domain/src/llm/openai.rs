//! OpenAI-compatible chat completions: OpenAI, Azure OpenAI (`api-key` header), vLLM, LM Studio,
//! llama.cpp server … Streams ask for usage (`stream_options.include_usage`), which arrives in a
//! final chunk with no choices.

use super::breaker::BreakerState;
use super::error::LlmError;
use super::http::ProviderHttp;
use super::provider::{
    ChatStream, Provider, ProviderConfig, ProviderKind, drive, read_usage, sse_frames,
};
use super::types::{ChatRequest, ChatResponse, Embeddings, StreamEvent, Usage, estimate_tokens};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An OpenAI-compatible provider.
pub struct OpenAi {
    http: ProviderHttp,
    base: String,
    private: bool,
    azure: bool,
}

impl OpenAi {
    pub(crate) fn new(http: ProviderHttp, base: String, config: &ProviderConfig) -> Self {
        Self { http, base, private: config.private, azure: config.azure_api_key_header }
    }

    fn post(
        &self,
        path: &str,
        body: Value,
    ) -> impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + '_ {
        let url = format!("{}{path}", self.base);
        move |client| self.auth(client.post(&url)).json(&body)
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.http.key() {
            Some(key) if self.azure => req.header("api-key", key),
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    fn body(req: &ChatRequest, stream: bool) -> Value {
        let mut body = json!({
            "model": req.model,
            "messages": req.messages.iter().map(|m| json!({ "role": m.role.as_str(), "content": m.content })).collect::<Vec<_>>(),
            "max_tokens": req.max_tokens,
            "stream": stream,
        });
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if stream {
            body["stream_options"] = json!({ "include_usage": true });
        }
        body
    }
}

/// OpenAI's usage object: cached prompt tokens are part of `prompt_tokens`.
#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Usage {
        let cached =
            u.prompt_tokens_details.and_then(|d| d.cached_tokens).unwrap_or(0).min(u.prompt_tokens);
        Usage {
            input_tokens: u.prompt_tokens - cached,
            output_tokens: u.completion_tokens,
            cached_input_tokens: cached,
        }
    }
}

/// A whole answer (`POST /chat/completions`).
#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Option<Vec<CompletionChoice>>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    #[serde(default)]
    message: Option<CompletionMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<String>,
}

/// One chunk of a stream; the last one carries `usage` and no choices.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<CompletionMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// An embeddings answer.
#[derive(Deserialize)]
struct EmbeddingList {
    data: Vec<EmbeddingRow>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct EmbeddingRow {
    #[serde(default)]
    index: Option<u64>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
}

#[async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::OpenAi
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
        let res = self.http.send(self.post("/chat/completions", Self::body(req, false))).await?;
        let v: Value = self.http.json(res).await.inspect_err(|_| self.http.failed())?;
        let answer: Option<Completion> = serde_json::from_value(v).ok();
        let Some((choice, usage)) = answer.and_then(|a| {
            let usage = a.usage;
            a.choices.unwrap_or_default().into_iter().next().map(|c| (c, usage))
        }) else {
            self.http.failed();
            return Err(self.http.protocol("no choices[0].message.content in the answer"));
        };
        let Some(text) = choice.message.and_then(|m| m.content) else {
            self.http.failed();
            return Err(self.http.protocol("no choices[0].message.content in the answer"));
        };
        self.http.succeeded();
        Ok(ChatResponse {
            text,
            usage: read_usage::<WireUsage>(self.name(), usage).map(Usage::from).unwrap_or_default(),
            finish_reason: choice.finish_reason,
        })
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let res = self.http.send(self.post("/chat/completions", Self::body(req, true))).await?;
        let http = self.http.clone();
        let mut finish: Option<String> = None;
        Ok(drive(self.http.clone(), sse_frames(&self.http, res), move |event| {
            let data = event.data.trim();
            if data == "[DONE]" {
                return Ok(vec![StreamEvent::Done { finish_reason: finish.take() }]);
            }
            if data.is_empty() {
                return Ok(Vec::new());
            }
            let chunk: Chunk = serde_json::from_str(data).map_err(|e| http.protocol(e))?;
            if chunk.error.is_some() {
                return Err(LlmError::Upstream {
                    provider: http.provider.clone(),
                    status: 200,
                    message: super::http::error_message(data),
                });
            }
            let mut out = Vec::new();
            if let Some(choice) = chunk.choices.unwrap_or_default().into_iter().next() {
                if let Some(text) = choice.delta.and_then(|d| d.content).filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Delta(text));
                }
                if let Some(reason) = choice.finish_reason {
                    finish = Some(reason);
                }
            }
            if let Some(usage) = read_usage::<WireUsage>(&http.provider, chunk.usage) {
                out.push(StreamEvent::Usage(usage.into()));
            }
            Ok(out)
        }))
    }

    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError> {
        let res = self
            .http
            .send(self.post("/embeddings", json!({ "model": model, "input": inputs })))
            .await?;
        let v: Value = self.http.json(res).await?;
        let list: EmbeddingList = serde_json::from_value(v)
            .map_err(|e| self.http.protocol(format!("not an embeddings answer: {e}")))?;
        let usage = list.usage;
        let mut rows: Vec<(u64, Vec<f32>)> = list
            .data
            .into_iter()
            .enumerate()
            .map(|(i, row)| (row.index.unwrap_or(i as u64), row.embedding))
            .collect();
        rows.sort_by_key(|(i, _)| *i);
        if rows.len() != inputs.len() || rows.iter().any(|(_, v)| v.is_empty()) {
            return Err(self.http.protocol(format!(
                "expected {} embeddings, got {}",
                inputs.len(),
                rows.len()
            )));
        }
        self.http.succeeded();
        Ok(Embeddings {
            vectors: rows.into_iter().map(|(_, v)| v).collect(),
            // Unreported usage is estimated from the inputs, never taken as zero.
            input_tokens: read_usage::<EmbeddingUsage>(self.name(), usage).map_or_else(
                || inputs.iter().map(|t| estimate_tokens(t)).sum(),
                |u| u.prompt_tokens,
            ),
        })
    }

    async fn probe(&self) -> Result<Duration, LlmError> {
        let started = Instant::now();
        let url = format!("{}/models", self.base);
        let res = self.http.send(|c| self.auth(c.get(&url))).await?;
        let _: Value = self.http.json(res).await?;
        self.http.succeeded();
        Ok(started.elapsed())
    }
}
