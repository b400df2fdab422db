use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
}

impl Message {
    /// A message.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into() }
    }
}

/// A chat call, provider-neutral.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The provider's model name.
    pub model: String,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Upper bound on output tokens (also what a budget reserves for).
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: Option<f32>,
}

/// Tokens a call used (a wire type: the chat API and its stream carry it).
pub use model::Usage;

/// A finished chat call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The generated text.
    pub text: String,
    /// Tokens used, as the provider reported them.
    pub usage: Usage,
    /// Why generation stopped (`stop`, `length`, `end_turn` …).
    pub finish_reason: Option<String>,
}

/// One event of a streamed chat call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StreamEvent {
    /// More text.
    Delta(String),
    /// Token usage so far (providers report it at the start, the end, or both; the last one
    /// seen is the total).
    Usage(Usage),
    /// Generation ended normally.
    Done {
        /// Why.
        finish_reason: Option<String>,
    },
    /// What the call cost (the gateway adds it after `Done`; providers never send it).
    Billed {
        /// Cost, nano-dollars (0 for a cache hit).
        cost_nanos: i64,
        /// The tokens billed.
        usage: Usage,
    },
}

/// Vectors for a batch of texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embeddings {
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Input tokens billed.
    pub input_tokens: u64,
}

/// A rough token count for text a provider did not count (≈ 4 characters per token), used only
/// to price output of a stream that broke before the provider reported usage.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}
