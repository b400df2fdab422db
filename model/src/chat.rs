//! The chat API's wire format: token usage and the events of a streamed answer, shared by the
//! server that writes them and the browser that reads them.

use crate::error::AppError;
use serde::{Deserialize, Serialize};

/// Tokens a call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens billed at the input price (cached ones excluded).
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache.
    pub cached_input_tokens: u64,
}

impl Usage {
    /// Whether any token was counted.
    pub fn is_empty(&self) -> bool {
        self.input_tokens == 0 && self.output_tokens == 0 && self.cached_input_tokens == 0
    }

    /// Every prompt token, cached or not.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.cached_input_tokens)
    }
}

/// One Server-Sent Event of a streamed chat answer (`POST /api/v1/llm/chat` with
/// `"stream": true`). The SSE event's name is [`ChatStreamEvent::name`] and its data the
/// variant's fields as JSON: `delta {text}`, `usage {input_tokens, output_tokens,
/// cached_input_tokens}`, `done {finish_reason}`, `cost {cost_nanos, usage}`, `error {error}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ChatStreamEvent {
    /// More text.
    Delta {
        /// The new text.
        text: String,
    },
    /// Token usage so far, as the provider reported it.
    Usage(Usage),
    /// Generation ended normally.
    Done {
        /// Why it stopped (`stop`, `length`, `end_turn` …).
        finish_reason: Option<String>,
    },
    /// What the call cost, after `done`.
    Cost {
        /// Nano-dollars (0 for a cache hit).
        cost_nanos: i64,
        /// The tokens billed.
        usage: Usage,
    },
    /// The stream failed after it started.
    Error {
        /// What went wrong, as every other API error.
        error: AppError,
    },
}

impl ChatStreamEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            ChatStreamEvent::Delta { .. } => "delta",
            ChatStreamEvent::Usage(_) => "usage",
            ChatStreamEvent::Done { .. } => "done",
            ChatStreamEvent::Cost { .. } => "cost",
            ChatStreamEvent::Error { .. } => "error",
        }
    }

    /// The SSE data: the variant's fields as JSON.
    pub fn data(&self) -> serde_json::Value {
        serde_json::to_value(self)
            .ok()
            .and_then(|mut v| v.get_mut("data").map(serde_json::Value::take))
            .unwrap_or_default()
    }

    /// Reads one event back from its SSE name and data; an unknown name or malformed data is
    /// an error, never a silently empty event.
    pub fn parse(name: &str, data: &str) -> Result<Self, serde_json::Error> {
        let data: serde_json::Value = serde_json::from_str(data)?;
        serde_json::from_value(serde_json::json!({ "event": name, "data": data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_their_wire_format_and_read_back() {
        let usage = Usage { input_tokens: 3, output_tokens: 5, cached_input_tokens: 1 };
        let cases = [
            (ChatStreamEvent::Delta { text: "Hi".into() }, "delta", r#"{"text":"Hi"}"#),
            (
                ChatStreamEvent::Usage(usage),
                "usage",
                r#"{"cached_input_tokens":1,"input_tokens":3,"output_tokens":5}"#,
            ),
            (
                ChatStreamEvent::Done { finish_reason: Some("stop".into()) },
                "done",
                r#"{"finish_reason":"stop"}"#,
            ),
            (
                ChatStreamEvent::Cost { cost_nanos: 42, usage },
                "cost",
                r#"{"cost_nanos":42,"usage":{"cached_input_tokens":1,"input_tokens":3,"output_tokens":5}}"#,
            ),
        ];
        for (event, name, data) in cases {
            assert_eq!(event.name(), name);
            let expected: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(event.data(), expected);
            assert_eq!(ChatStreamEvent::parse(name, data).unwrap(), event);
        }
        let err = ChatStreamEvent::Error {
            error: AppError::Unavailable { message: "openai stopped mid-answer".into() },
        };
        assert_eq!(ChatStreamEvent::parse("error", &err.data().to_string()).unwrap(), err);
        assert!(ChatStreamEvent::parse("gossip", "{}").is_err());
        assert!(ChatStreamEvent::parse("cost", r#"{"usage":{}}"#).is_err());
    }
}
