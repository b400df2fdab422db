//! Ollama's native API: `POST /api/chat` (newline-delimited JSON when streaming; the last line
//! has `done: true` with `prompt_eval_count` and `eval_count`), `POST /api/embed`,
//! `GET /api/tags` for health.

use super::breaker::BreakerState;
use super::error::LlmError;
use super::http::ProviderHttp;
use super::provider::{ChatStream, Provider, ProviderConfig, ProviderKind, drive, ndjson_lines};
use super::types::{ChatRequest, ChatResponse, Embeddings, StreamEvent, Usage};
use async_trait::async_trait;
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

fn usage(v: &Value) -> Usage {
    Usage {
        input_tokens: v["prompt_eval_count"].as_u64().unwrap_or(0),
        output_tokens: v["eval_count"].as_u64().unwrap_or(0),
        cached_input_tokens: 0,
    }
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
        let Some(text) = v["message"]["content"].as_str() else {
            self.http.failed();
            return Err(self.http.protocol(format!(
                "no message.content in the answer ({})",
                super::http::error_message(&v.to_string())
            )));
        };
        self.http.succeeded();
        Ok(ChatResponse {
            text: text.to_string(),
            usage: usage(&v),
            finish_reason: v["done_reason"].as_str().map(str::to_string),
        })
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let res = self.post("/api/chat", Self::body(req, true)).await?;
        let http = self.http.clone();
        Ok(drive(self.http.clone(), ndjson_lines(&self.http, res), move |line| {
            let v: Value = serde_json::from_str(&line).map_err(|e| http.protocol(e))?;
            if let Some(message) = v["error"].as_str() {
                return Err(LlmError::Upstream {
                    provider: http.provider.clone(),
                    status: 200,
                    message: message.to_string(),
                });
            }
            let mut out = Vec::new();
            if let Some(t) = v["message"]["content"].as_str().filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Delta(t.to_string()));
            }
            if v["done"].as_bool() == Some(true) {
                out.push(StreamEvent::Usage(usage(&v)));
                out.push(StreamEvent::Done {
                    finish_reason: v["done_reason"].as_str().map(str::to_string),
                });
            }
            Ok(out)
        }))
    }

    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError> {
        let res = self.post("/api/embed", json!({ "model": model, "input": inputs })).await?;
        let v: Value = self.http.json(res).await?;
        let vectors: Vec<Vec<f32>> = v["embeddings"]
            .as_array()
            .ok_or_else(|| self.http.protocol("no embeddings array in the answer"))?
            .iter()
            .map(|row| {
                row.as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).map(|x| x as f32).collect())
                    .unwrap_or_default()
            })
            .collect();
        if vectors.len() != inputs.len() || vectors.iter().any(Vec::is_empty) {
            return Err(self.http.protocol(format!(
                "expected {} embeddings, got {}",
                inputs.len(),
                vectors.len()
            )));
        }
        self.http.succeeded();
        Ok(Embeddings { vectors, input_tokens: v["prompt_eval_count"].as_u64().unwrap_or(0) })
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
