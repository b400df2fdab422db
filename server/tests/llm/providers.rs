use crate::support::*;
use domain::llm::breaker::BreakerState;
use domain::llm::{LlmError, ProviderKind, Usage};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn openai_answer() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "m-1",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hello!" }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25,
                   "prompt_tokens_details": { "cached_tokens": 4 } }
    })
}

fn openai_chunk(content: Option<&str>, finish: Option<&str>) -> String {
    let delta = match content {
        Some(c) => json!({ "content": c }),
        None => json!({}),
    };
    json!({ "id": "c", "object": "chat.completion.chunk", "model": "m-1",
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }], "usage": null })
    .to_string()
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.map(|r| r.len()).unwrap_or(0)
}

#[tokio::test]
async fn openai_chat_reads_text_and_usage_with_cached_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(json!({ "model": "m-1", "max_tokens": 64, "stream": false,
            "messages": [{ "role": "system", "content": "Be brief." }, { "role": "user", "content": "Say hello." }] })))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let answer = p.chat(&request()).await.unwrap();
    assert_eq!(answer.text, "Hello!");
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    assert_eq!(answer.usage, Usage { input_tokens: 16, output_tokens: 5, cached_input_tokens: 4 });
}

#[tokio::test]
async fn openai_stream_takes_usage_from_the_final_chunk() {
    let server = MockServer::start().await;
    let body = sse(&[
        ("", openai_chunk(Some(""), None)),
        ("", openai_chunk(Some("Hel"), None)),
        ("", openai_chunk(Some("lo"), None)),
        ("", openai_chunk(None, Some("stop"))),
        ("", json!({ "id": "c", "choices": [], "usage": { "prompt_tokens": 12, "completion_tokens": 2 } }).to_string()),
        ("", "[DONE]".into()),
    ]);
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(
            json!({ "stream": true, "stream_options": { "include_usage": true } }),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(body),
        )
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let got = collect(p.chat_stream(&request()).await.unwrap()).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.text, "Hello");
    assert!(got.done);
    assert_eq!(got.finish.as_deref(), Some("stop"));
    assert_eq!(
        got.usage,
        Some(Usage { input_tokens: 12, output_tokens: 2, cached_input_tokens: 0 })
    );
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({ "error": { "message": "slow down" } })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer()))
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let started = Instant::now();
    assert_eq!(p.chat(&request()).await.unwrap().text, "Hello!");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After ignored: {:?}",
        started.elapsed()
    );
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_allowed_is_reported_not_waited_for() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let started = Instant::now();
    let err = p.chat(&request()).await.unwrap_err();
    assert_eq!(
        err,
        LlmError::RateLimited {
            provider: "test".into(),
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn a_5xx_is_retried_then_succeeds_and_a_4xx_is_not_and_never_echoes_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer()))
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    assert_eq!(p.chat(&request()).await.unwrap().text, "Hello!");
    assert_eq!(requests(&server).await, 2);

    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({ "error": { "message": format!("Incorrect API key provided: {KEY}") } }),
        ))
        .mount(&refusing)
        .await;
    let p = provider(ProviderKind::OpenAi, &format!("{}/v1", refusing.uri()));
    let err = p.chat(&request()).await.unwrap_err();
    assert!(matches!(err, LlmError::Upstream { status: 401, .. }), "{err:?}");
    assert!(!err.to_string().contains(KEY) && err.to_string().contains("***"), "{err}");
    assert!(!err.should_fall_back());
    assert_eq!(requests(&refusing).await, 1, "a 4xx is not retried");
}

#[tokio::test]
async fn a_stream_cut_mid_answer_is_interrupted_and_not_retried() {
    let partial =
        sse(&[("", openai_chunk(Some("Hello, "), None)), ("", openai_chunk(Some("wor"), None))]);
    let (base, served) = cut_stream_server("text/event-stream", partial).await;
    let p = provider(ProviderKind::OpenAi, &format!("{base}/v1"));
    let got = collect(p.chat_stream(&request()).await.unwrap()).await;
    assert_eq!(got.text, "Hello, wor", "the output before the break is delivered");
    assert!(!got.done);
    assert!(matches!(got.error, Some(LlmError::Interrupted { .. })), "{:?}", got.error);
    assert!(!got.error.unwrap().should_fall_back(), "output started: no fallback either");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(served.load(Ordering::SeqCst), 1, "never retried once output started");
}

#[tokio::test]
async fn an_answer_cut_mid_body_says_so_not_that_the_provider_was_unreachable() {
    let (base, _) =
        cut_stream_server("application/json", r#"{"choices":[{"index":0,"message":"#.into()).await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{base}/v1"), |c| c.retry.max_retries = 0);
    let err = p.chat(&request()).await.unwrap_err();
    assert!(matches!(err, LlmError::Protocol { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("cut off") && !text.contains("could not reach"), "{text}");
    assert!(err.should_fall_back(), "another provider may still answer");
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_answer())
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |c| {
        c.timeout = Duration::from_millis(300);
        c.retry.max_retries = 1;
    });
    let started = Instant::now();
    let err = p.chat(&request()).await.unwrap_err();
    assert!(matches!(err, LlmError::Timeout { .. }), "{err:?}");
    assert!(err.should_fall_back());
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    assert_eq!(requests(&server).await, 2, "a timeout is retried once");
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_and_a_good_probe_closes_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |c| {
        c.retry.max_retries = 0
    });
    for _ in 0..3 {
        assert!(matches!(p.chat(&request()).await, Err(LlmError::Upstream { status: 500, .. })));
    }
    assert_eq!(p.breaker_state(), BreakerState::Open);
    let err = p.chat(&request()).await.unwrap_err();
    assert!(matches!(err, LlmError::CircuitOpen { .. }) && err.should_fall_back(), "{err:?}");
    assert_eq!(requests(&server).await, 3, "an open circuit sends nothing");

    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer()))
        .mount(&server)
        .await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(p.chat(&request()).await.unwrap().text, "Hello!", "the probe goes through");
    assert_eq!(p.breaker_state(), BreakerState::Closed);
    assert!(p.chat(&request()).await.is_ok());
}

#[tokio::test]
async fn openai_embeddings_come_back_in_input_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(body_partial_json(json!({ "model": "e-1", "input": ["a", "b"] })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [
                { "object": "embedding", "index": 1, "embedding": [0.0, 1.0] },
                { "object": "embedding", "index": 0, "embedding": [1.0, 0.0] }
            ],
            "usage": { "prompt_tokens": 2, "total_tokens": 2 }
        })))
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let e = p.embed("e-1", &["a".into(), "b".into()]).await.unwrap();
    assert_eq!(e.vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    assert_eq!(e.input_tokens, 2);
}

#[tokio::test]
async fn azure_style_deployments_send_the_key_as_api_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/openai/deployments/gpt/chat/completions"))
        .and(header("api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let base = format!("{}/openai/deployments/gpt", server.uri());
    let p = provider_with(ProviderKind::OpenAi, &base, |c| c.azure_api_key_header = true);
    assert_eq!(p.chat(&request()).await.unwrap().text, "Hello!");
}

fn anthropic_stream() -> Vec<(&'static str, String)> {
    vec![
        ("message_start", json!({ "type": "message_start", "message": { "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "m-1",
            "usage": { "input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0 } } }).to_string()),
        ("content_block_start", json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }).to_string()),
        ("ping", json!({ "type": "ping" }).to_string()),
        ("content_block_delta", json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Hi" } }).to_string()),
        ("content_block_delta", json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": " there" } }).to_string()),
        ("content_block_stop", json!({ "type": "content_block_stop", "index": 0 }).to_string()),
        ("message_delta", json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": { "output_tokens": 7 } }).to_string()),
        ("message_stop", json!({ "type": "message_stop" }).to_string()),
    ]
}

#[tokio::test]
async fn anthropic_chat_and_stream_speak_messages() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .and(body_partial_json(json!({ "stream": false, "system": "Be brief.", "max_tokens": 64,
            "messages": [{ "role": "user", "content": "Say hello." }] })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m-1",
            "content": [{ "type": "text", "text": "Hi there" }],
            "stop_reason": "end_turn",
            "usage": { "input_tokens": 25, "output_tokens": 7, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 3 }
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(body_partial_json(json!({ "stream": true })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse(&anthropic_stream())),
        )
        .mount(&server)
        .await;
    let p = provider(ProviderKind::Anthropic, &server.uri());
    let answer = p.chat(&request()).await.unwrap();
    assert_eq!(answer.text, "Hi there");
    assert_eq!(answer.usage, Usage { input_tokens: 28, output_tokens: 7, cached_input_tokens: 5 });
    let got = collect(p.chat_stream(&request()).await.unwrap()).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(
        (got.text.as_str(), got.done, got.finish.as_deref()),
        ("Hi there", true, Some("end_turn"))
    );
    assert_eq!(
        got.usage,
        Some(Usage { input_tokens: 25, output_tokens: 7, cached_input_tokens: 5 })
    );
    assert!(p.embed("x", &["a".into()]).await.is_err(), "Messages has no embeddings");
}

#[tokio::test]
async fn anthropic_overloaded_529_is_retried_and_a_cut_stream_keeps_its_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(529).set_body_json(json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse(&anthropic_stream())),
        )
        .mount(&server)
        .await;
    let p = provider(ProviderKind::Anthropic, &server.uri());
    assert_eq!(collect(p.chat_stream(&request()).await.unwrap()).await.text, "Hi there");
    assert_eq!(requests(&server).await, 2);

    let partial = sse(&anthropic_stream()[..4]);
    let (base, served) = cut_stream_server("text/event-stream", partial).await;
    let p = provider(ProviderKind::Anthropic, &base);
    let got = collect(p.chat_stream(&request()).await.unwrap()).await;
    assert_eq!(got.text, "Hi");
    assert!(matches!(got.error, Some(LlmError::Interrupted { .. })), "{:?}", got.error);
    let usage = got.usage.expect("input usage arrived before the break");
    assert_eq!((usage.input_tokens, usage.cached_input_tokens), (25, 5));
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn ollama_chat_stream_and_embeddings_speak_its_native_api() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .and(body_partial_json(
            json!({ "model": "m-1", "stream": false, "options": { "num_predict": 64 } }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "m-1", "created_at": "2026-11-26T10:00:00Z",
            "message": { "role": "assistant", "content": "Hello from llama" },
            "done": true, "done_reason": "stop", "prompt_eval_count": 14, "eval_count": 4
        })))
        .mount(&server)
        .await;
    let lines = [
        json!({ "model": "m-1", "message": { "role": "assistant", "content": "Hel" }, "done": false }),
        json!({ "model": "m-1", "message": { "role": "assistant", "content": "lo" }, "done": false }),
        json!({ "model": "m-1", "message": { "role": "assistant", "content": "" }, "done": true, "done_reason": "stop", "prompt_eval_count": 14, "eval_count": 2 }),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect::<String>();
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .and(body_partial_json(json!({ "stream": true })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-ndjson")
                .set_body_string(lines),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/embed"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "model": "e", "embeddings": [[0.5, 0.5]], "prompt_eval_count": 3 }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "models": [] })))
        .mount(&server)
        .await;
    let p = provider(ProviderKind::Ollama, &server.uri());
    assert!(p.is_private(), "Ollama runs on our own hardware");
    let answer = p.chat(&request()).await.unwrap();
    assert_eq!(
        (answer.text.as_str(), answer.usage.input_tokens, answer.usage.output_tokens),
        ("Hello from llama", 14, 4)
    );
    let got = collect(p.chat_stream(&request()).await.unwrap()).await;
    assert_eq!((got.text.as_str(), got.done), ("Hello", true));
    assert_eq!(
        got.usage,
        Some(Usage { input_tokens: 14, output_tokens: 2, cached_input_tokens: 0 })
    );
    let e = p.embed("e", &["x".into()]).await.unwrap();
    assert_eq!((e.vectors.len(), e.input_tokens), (1, 3));
    assert!(p.probe().await.is_ok());
}

#[tokio::test]
async fn ollama_stream_cut_mid_answer_is_interrupted() {
    let partial = format!(
        "{}\n",
        json!({ "model": "m-1", "message": { "role": "assistant", "content": "partial" }, "done": false })
    );
    let (base, served) = cut_stream_server("application/x-ndjson", partial).await;
    let p = provider(ProviderKind::Ollama, &base);
    let got = collect(p.chat_stream(&request()).await.unwrap()).await;
    assert_eq!(got.text, "partial");
    assert!(matches!(got.error, Some(LlmError::Interrupted { .. })), "{:?}", got.error);
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn base_urls_must_be_plain_http_without_credentials() {
    use domain::llm::{ProviderConfig, build_provider};
    for bad in ["file:///etc/passwd", "http://user:pw@host/v1", "not a url"] {
        let err = build_provider(ProviderConfig::new("x", ProviderKind::OpenAi, bad)).err();
        assert!(err.is_some(), "{bad} accepted");
    }
}
