//! Chat through the gateway for API clients (`POST /api/v1/llm/chat`): the input rules, then
//! one call, budgeted, priced and in the ledger like every other.

use crate::auth::Principal;
use crate::llm::{Caller, ChatResponse, Message, Receipt, Role, StreamEvent};
use crate::state::AppState;
use futures::stream::BoxStream;
use model::Scope;
use model::error::AppError;

/// Largest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 200_000;
/// Most messages in one conversation.
pub const MAX_MESSAGES: usize = 200;
/// Most tokens a caller may ask the model to generate.
pub const MAX_OUTPUT_TOKENS: u32 = 32_768;

/// A chat request as a client sends it.
#[derive(Debug, Clone)]
pub struct ChatInput {
    /// What the call is for (`api`, `rfc.draft` …): budgets and routes are per feature.
    pub feature: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// The most tokens to generate.
    pub max_tokens: u32,
}

/// Checks every rule, naming the field and the rule that broke.
pub fn check(input: &ChatInput) -> Result<(), AppError> {
    let feature_ok = !input.feature.is_empty()
        && input.feature.len() <= 64
        && input
            .feature
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
    if !feature_ok {
        return Err(AppError::invalid(
            "feature",
            "format",
            crate::tr!("feature must be 1-64 characters of a-z, 0-9, '.' and '_'"),
        ));
    }
    if input.messages.is_empty() || input.messages.len() > MAX_MESSAGES {
        return Err(AppError::invalid(
            "messages",
            "length",
            crate::tr!(
                "messages must hold 1 to %{MAX_MESSAGES} messages",
                MAX_MESSAGES = MAX_MESSAGES
            ),
        ));
    }
    if input.messages.iter().any(|m| m.content.chars().count() > MAX_MESSAGE_CHARS) {
        return Err(AppError::invalid(
            "messages",
            "max_length",
            crate::tr!(
                "a message may have at most %{MAX_MESSAGE_CHARS} characters",
                MAX_MESSAGE_CHARS = MAX_MESSAGE_CHARS
            ),
        ));
    }
    if !input.messages.iter().any(|m| m.role == Role::User) {
        return Err(AppError::invalid(
            "messages",
            "user_message",
            crate::tr!("messages must include a user message"),
        ));
    }
    if !(1..=MAX_OUTPUT_TOKENS).contains(&input.max_tokens) {
        return Err(AppError::invalid(
            "max_tokens",
            "range",
            crate::tr!(
                "max_tokens must be between 1 and %{MAX_OUTPUT_TOKENS}",
                MAX_OUTPUT_TOKENS = MAX_OUTPUT_TOKENS
            ),
        ));
    }
    Ok(())
}

fn caller(user: &Principal, input: &ChatInput, request_id: Option<String>) -> Caller {
    Caller { user_id: user.user_id, feature: input.feature.clone(), request_id, rfc_id: None }
}

/// A whole answer and its receipt (scope `generate`).
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn answer(
    state: &AppState,
    user: &Principal,
    input: ChatInput,
    request_id: Option<String>,
) -> Result<(ChatResponse, Receipt), AppError> {
    user.require(Scope::Generate)?;
    check(&input)?;
    let caller = caller(user, &input, request_id);
    state.llm.chat(&caller, input.messages, input.max_tokens).await
}

/// A streamed answer (scope `generate`). Budget refusals and failures before the first token
/// are errors here; later ones arrive in the stream.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn stream(
    state: &AppState,
    user: &Principal,
    input: ChatInput,
    request_id: Option<String>,
) -> Result<BoxStream<'static, Result<StreamEvent, AppError>>, AppError> {
    user.require(Scope::Generate)?;
    check(&input)?;
    let caller = caller(user, &input, request_id);
    state.llm.chat_stream(&caller, input.messages, input.max_tokens).await
}
