//! Ollama's native API: `POST /api/chat` (newline-delimited JSON when streaming; the last line
//! has `done: true` with `prompt_eval_count` and `eval_count`), `POST /api/embed`,
//! `GET /api/tags` for health.

use super::breaker::BreakerState;
use super::error::LlmError;
use super::http::ProviderHttp;
use super::provider::{
    ChatStream, Provider, ProviderConfig, ProviderKind, drive, ndjson_lines, read_usage,
};
use super::types::{ChatRequest, ChatResponse, Embeddings, StreamEvent, Usage, estimate_tokens};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The Ollama provider.
pub struct Ollama {
    http: ProviderHttp,
    base: String,
    private: bool,
}

impl Ollama {
    pub(crate) fn new(http: ProviderHttp, base: String, config: &ProviderConfig) -> Self {
        Self { http, base, private: config.private }
    }

    fn body(req: &ChatRequest, stream: bool) -> Value {
        let mut options = json!({ "num_predict": req.max_tokens });
        if let Some(t) = req.temperature {
            options["temperature"] = json!(t);
        }
        json!({
            "model": req.model,
            "messages": req.messages.iter().map(|m| json!({ "role": m.role.as_str(), "content": m.content })).collect::<Vec<_>>(),
            "stream": stream,
            "options": options,
        })
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.http.key() {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<reqwest::Response, LlmError> {
        let url = format!("{}{path}", self.base);
        self.http.send(|c| self.auth(c.post(&url)).json(&body)).await
    }
}

/// Ollama's counts on the final message. It leaves `prompt_eval_count` out when the prompt came
/// from its cache; then no usage is reported and the gateway bills its estimate.
#[derive(Deserialize)]
struct WireUsage {
    prompt_eval_count: u64,
    eval_count: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Usage {
        Usage {
            input_tokens: u.prompt_eval_count,
            output_tokens: u.eval_count,
            cached_input_tokens: 0,
        }
    }
}

/// The usage of a final message (its counts sit beside the message itself).
fn usage(provider: &str, v: &Value) -> Option<Usage> {
    read_usage::<WireUsage>(provider, Some(v.clone())).map(Usage::from)
}

/// A chat answer or stream line.
#[derive(Deserialize)]
struct ChatLine {
    #[serde(default)]
    message: Option<LineMessage>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct LineMessage {
    #[serde(default)]
    content: Option<String>,
}

/// An embeddings answer.
#[derive(Deserialize)]
struct EmbedAnswer {
    embeddings: Vec<Vec<f32>>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
}

#[async_trait]
impl Provider for Ollama {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Ollama
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
        let res = self.post("/api/chat", Self::body(req, false)).await?;
        let v: Value = self.http.json(res).await.inspect_err(|_| self.http.failed())?;
        let line = serde_json::from_value::<ChatLine>(v.clone()).ok();
        let Some((text, done_reason)) =
            line.and_then(|l| l.message.and_then(|m| m.content).map(|text| (text, l.done_reason)))
        else {
            self.http.failed();
            return Err(self.http.protocol(format!(
                "no message.content in the answer ({})",
                super::http::error_message(&v.to_string())
            )));
        };
        self.http.succeeded();
        Ok(ChatResponse {
            text,
            usage: usage(self.name(), &v).unwrap_or_default(),
            finish_reason: done_reason,
        })
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let res = self.post("/api/chat", Self::body(req, true)).await?;
        let http = self.http.clone();
        Ok(drive(self.http.clone(), ndjson_lines(&self.http, res), move |line| {
            let v: Value = serde_json::from_str(&line).map_err(|e| http.protocol(e))?;
            let parsed: ChatLine =
                serde_json::from_value(v.clone()).map_err(|e| http.protocol(e))?;
            if let Some(message) = parsed.error {
                return Err(LlmError::Upstream {
                    provider: http.provider.clone(),
                    status: 200,
                    message,
                });
            }
            let mut out = Vec::new();
            if let Some(t) = parsed.message.and_then(|m| m.content).filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Delta(t));
            }
            if parsed.done == Some(true) {
                out.extend(usage(&http.provider, &v).map(StreamEvent::Usage));
                out.push(StreamEvent::Done { finish_reason: parsed.done_reason });
            }
            Ok(out)
        }))
    }

    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError> {
        let res = self.post("/api/embed", json!({ "model": model, "input": inputs })).await?;
        let v: Value = self.http.json(res).await?;
        let answer: EmbedAnswer = serde_json::from_value(v)
            .map_err(|_| self.http.protocol("no embeddings array in the answer"))?;
        let vectors = answer.embeddings;
        if vectors.len() != inputs.len() || vectors.iter().any(Vec::is_empty) {
            return Err(self.http.protocol(format!(
                "expected {} embeddings, got {}",
                inputs.len(),
                vectors.len()
            )));
        }
        self.http.succeeded();
        // Unreported usage is estimated from the inputs, never taken as zero.
        let input_tokens = answer
            .prompt_eval_count
            .unwrap_or_else(|| inputs.iter().map(|t| estimate_tokens(t)).sum());
        Ok(Embeddings { vectors, input_tokens })
    }

    async fn probe(&self) -> Result<Duration, LlmError> {
        let started = Instant::now();
        let url = format!("{}/api/tags", self.base);
        let res = self.http.send(|c| self.auth(c.get(&url))).await?;
        let _: Value = self.http.json(res).await?;
        self.http.succeeded();
        Ok(started.elapsed())
    }
}
