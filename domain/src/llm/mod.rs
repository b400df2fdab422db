//! The LLM gateway's provider layer: one `Provider` interface spoken over each vendor's real wire
//! protocol — OpenAI-compatible chat completions (OpenAI, Azure-style, vLLM, LM Studio …),
//! Anthropic Messages and Ollama's native chat — with and without streaming, plus embeddings
//! where the protocol has them.
//!
//! Every provider shares `http.rs` (timeouts; retries with backoff and jitter on 429, 5xx and
//! connection failures that honour `Retry-After`; never a retry once output has started) and a
//! `breaker.rs` circuit breaker. Base URLs and keys come from admin configuration only.

/// Anthropic Messages API.
pub mod anthropic;
/// Circuit breaker per provider.
pub mod breaker;
/// Budget periods in a time zone.
pub mod budget;
/// What can go wrong talking to a provider.
pub mod error;
/// Routing with fallback, budgets, settlement and the ledger.
pub mod gateway;
/// Request sending with retries.
pub mod http;
/// Ollama's native API.
pub mod ollama;
/// OpenAI-compatible chat completions and embeddings.
pub mod openai;
/// Prices and costs.
pub mod pricing;
/// The provider interface, its configuration, and construction by kind.
pub mod provider;
/// Routes, pins and strategies; admin providers built from their rows.
pub mod routing;
/// Token counts: real tokenizers where public, a per-byte bound elsewhere.
pub mod tokens;
/// Requests, responses, stream events, token usage.
pub mod types;

pub use breaker::{Breaker, BreakerConfig};
pub use budget::Period;
pub use error::LlmError;
pub use gateway::{
    AlertSink, AnswerCacheSettings, BudgetAlert, Caller, FeatureLimit, Gateway, GatewaySettings,
    Limit, RateLimits, Receipt, RoutingSnapshot, Target,
};
pub use http::RetryPolicy;
pub use pricing::{Price, PriceTable};
pub use provider::{ChatStream, Provider, ProviderConfig, ProviderKind, build_provider};
pub use routing::RoutingDefaults;
pub use types::{ChatRequest, ChatResponse, Embeddings, Message, Role, StreamEvent, Usage};
