//! OpenAI-compatible chat completions: OpenAI, Azure OpenAI (`api-key` header), vLLM, LM Studio,
//! llama.cpp server … Streams ask for usage (`stream_options.include_usage`), which arrives in a
//! final chunk with no choices.

use super::breaker::BreakerState;
use super::error::LlmError;
use super::http::ProviderHttp;
use super::provider::{ChatStream, Provider, ProviderConfig, ProviderKind, drive, sse_frames};
use super::types::{ChatRequest, ChatResponse, Embeddings, StreamEvent, Usage};
use async_trait::async_trait;
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
fn usage(v: &Value) -> Usage {
    let prompt = v["prompt_tokens"].as_u64().unwrap_or(0);
    let cached = v["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0).min(prompt);
    Usage {
        input_tokens: prompt - cached,
        output_tokens: v["completion_tokens"].as_u64().unwrap_or(0),
        cached_input_tokens: cached,
    }
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
        let choice = &v["choices"][0];
        let Some(text) = choice["message"]["content"].as_str() else {
            self.http.failed();
            return Err(self.http.protocol("no choices[0].message.content in the answer"));
        };
        self.http.succeeded();
        Ok(ChatResponse {
            text: text.to_string(),
            usage: usage(&v["usage"]),
            finish_reason: choice["finish_reason"].as_str().map(str::to_string),
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
            let v: Value = serde_json::from_str(data).map_err(|e| http.protocol(e))?;
            if v.get("error").is_some() {
                return Err(LlmError::Upstream {
                    provider: http.provider.clone(),
                    status: 200,
                    message: super::http::error_message(data),
                });
            }
            let mut out = Vec::new();
            if let Some(choice) = v["choices"].get(0) {
                if let Some(text) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Delta(text.to_string()));
                }
                if let Some(reason) = choice["finish_reason"].as_str() {
                    finish = Some(reason.to_string());
                }
            }
            if v["usage"].is_object() {
                out.push(StreamEvent::Usage(usage(&v["usage"])));
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
        let mut rows: Vec<(u64, Vec<f32>)> = v["data"]
            .as_array()
            .ok_or_else(|| self.http.protocol("no data array in the embeddings answer"))?
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let vector = row["embedding"].as_array().map(|a| {
                    a.iter().filter_map(Value::as_f64).map(|x| x as f32).collect::<Vec<f32>>()
                });
                (row["index"].as_u64().unwrap_or(i as u64), vector.unwrap_or_default())
            })
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
            input_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
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
