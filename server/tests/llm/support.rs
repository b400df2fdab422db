//! Helpers: provider construction, SSE bodies, and a TCP server that cuts a stream short.

use domain::llm::{
    BreakerConfig, ChatRequest, ChatStream, LlmError, Message, Provider, ProviderConfig,
    ProviderKind, RetryPolicy, Role, StreamEvent, Usage, build_provider,
};
use futures::StreamExt;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const KEY: &str = "sk-test-secret-key-123";

/// A provider of `kind` at `base`, with fast retries and a breaker that opens after 3.
pub fn provider(kind: ProviderKind, base: &str) -> Arc<dyn Provider> {
    provider_with(kind, base, |_| {})
}

pub fn provider_with(
    kind: ProviderKind,
    base: &str,
    configure: impl FnOnce(&mut ProviderConfig),
) -> Arc<dyn Provider> {
    let mut config = ProviderConfig::new("test", kind, base);
    config.api_key = Some(SecretString::from(KEY));
    config.timeout = Duration::from_secs(2);
    config.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(3),
    };
    config.breaker = BreakerConfig { failure_threshold: 3, cooldown: Duration::from_millis(300) };
    configure(&mut config);
    build_provider(config).expect("provider builds")
}

pub fn request() -> ChatRequest {
    ChatRequest {
        model: "m-1".into(),
        messages: vec![
            Message::new(Role::System, "Be brief."),
            Message::new(Role::User, "Say hello."),
        ],
        max_tokens: 64,
        temperature: Some(0.2),
    }
}

/// Everything a stream yielded: the text, the last usage, whether `Done` came, the error.
#[derive(Debug, Default)]
pub struct Collected {
    pub text: String,
    pub usage: Option<Usage>,
    pub done: bool,
    pub finish: Option<String>,
    pub error: Option<LlmError>,
}

pub async fn collect(mut stream: ChatStream) -> Collected {
    let mut out = Collected::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::Delta(t)) => out.text.push_str(&t),
            Ok(StreamEvent::Usage(u)) => out.usage = Some(u),
            Ok(StreamEvent::Done { finish_reason }) => {
                out.done = true;
                out.finish = finish_reason;
            }
            Ok(StreamEvent::Billed { .. }) => panic!("providers never bill"),
            Err(e) => {
                assert!(out.error.is_none(), "nothing may follow an error");
                out.error = Some(e);
            }
        }
    }
    out
}

/// An SSE body from `(event, data)` pairs (event may be empty).
pub fn sse(events: &[(&str, String)]) -> String {
    events
        .iter()
        .map(|(event, data)| {
            if event.is_empty() {
                format!("data: {data}\n\n")
            } else {
                format!("event: {event}\ndata: {data}\n\n")
            }
        })
        .collect()
}

/// A one-shot HTTP server that answers the first request with a streaming 200 whose body is
/// `partial`, then drops the connection without finishing. Returns its base URL and a counter
/// of requests served.
pub async fn cut_stream_server(
    content_type: &'static str,
    partial: String,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let served = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let partial = partial.clone();
            tokio::spawn(async move {
                // Read the request head and body (enough for our small JSON requests).
                let mut buf = vec![0u8; 65536];
                let _ = tokio::time::timeout(Duration::from_millis(300), sock.read(&mut buf)).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n"
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let chunk = format!("{:x}\r\n{partial}\r\n", partial.len());
                let _ = sock.write_all(chunk.as_bytes()).await;
                let _ = sock.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                // Drop without the terminating chunk: the client sees the body break.
            });
        }
    });
    (format!("http://{addr}"), count)
}
