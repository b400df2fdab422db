use std::time::Duration;

/// Why a provider call failed. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// 429 after the retries allowed (or a `Retry-After` too long to wait for).
    #[error("{provider} is rate limiting us{}", retry_hint(.retry_after))]
    RateLimited {
        /// Provider name.
        provider: String,
        /// What the provider asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The provider answered with an error status.
    #[error("{provider} answered {status}: {message}")]
    Upstream {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
        /// The provider's error message.
        message: String,
    },
    /// No answer within the timeout.
    #[error("{provider} did not answer within {timeout:?}")]
    Timeout {
        /// Provider name.
        provider: String,
        /// The limit.
        timeout: Duration,
    },
    /// The connection could not be made or broke before any output.
    #[error("could not reach {provider}: {message}")]
    Connect {
        /// Provider name.
        provider: String,
        /// Cause.
        message: String,
    },
    /// The answer was not what the protocol says.
    #[error("{provider} sent an answer we could not read: {message}")]
    Protocol {
        /// Provider name.
        provider: String,
        /// What was wrong.
        message: String,
    },
    /// A stream broke after output had started; it is not retried (the output so far was
    /// delivered and is paid for).
    #[error("{provider} stopped mid-answer: {message}")]
    Interrupted {
        /// Provider name.
        provider: String,
        /// Cause.
        message: String,
    },
    /// The circuit breaker is open after repeated failures.
    #[error("{provider} is failing; not calling it for another {retry_in:?}")]
    CircuitOpen {
        /// Provider name.
        provider: String,
        /// Until the next probe.
        retry_in: Duration,
    },
    /// The provider's protocol has no such operation.
    #[error("{provider} does not support {what}")]
    Unsupported {
        /// Provider name.
        provider: String,
        /// The operation.
        what: &'static str,
    },
}

fn retry_hint(after: &Option<Duration>) -> String {
    after
        .map(|d| crate::tr!("; retry after %{secs} s", secs = d.as_secs().max(1)))
        .unwrap_or_default()
}

impl LlmError {
    /// Whether another provider might succeed where this one failed (for fallback): outages,
    /// limits and timeouts, not a request the provider refused as invalid.
    pub fn should_fall_back(&self) -> bool {
        match self {
            LlmError::RateLimited { .. }
            | LlmError::Timeout { .. }
            | LlmError::Connect { .. }
            | LlmError::CircuitOpen { .. }
            | LlmError::Protocol { .. }
            | LlmError::Unsupported { .. } => true,
            LlmError::Upstream { status, .. } => *status >= 500 || *status == 404,
            LlmError::Interrupted { .. } => false,
        }
    }

    /// Whether this failure says the provider is unhealthy (counts against its breaker).
    pub fn is_provider_failure(&self) -> bool {
        match self {
            LlmError::RateLimited { .. }
            | LlmError::Timeout { .. }
            | LlmError::Connect { .. }
            | LlmError::Interrupted { .. }
            | LlmError::Protocol { .. } => true,
            LlmError::Upstream { status, .. } => *status >= 500,
            LlmError::CircuitOpen { .. } | LlmError::Unsupported { .. } => false,
        }
    }

    /// What a client may read about this failure: the provider's name and what went wrong, never
    /// the provider's own text (which can echo the request, internal hosts or key fragments).
    /// The whole error goes to the log instead.
    pub fn public_message(&self) -> String {
        match self {
            LlmError::RateLimited { provider, retry_after } => {
                crate::tr!("%{provider} is rate limiting requests", provider = provider)
                    + &retry_hint(retry_after)
            }
            LlmError::Upstream { provider, status, .. } => crate::tr!(
                "%{provider} answered with status %{status}",
                provider = provider,
                status = status
            ),
            LlmError::Timeout { provider, .. } => {
                crate::tr!("%{provider} did not answer in time", provider = provider)
            }
            LlmError::Connect { provider, .. } => {
                crate::tr!("could not reach %{provider}", provider = provider)
            }
            LlmError::Protocol { provider, .. } => {
                crate::tr!("%{provider} sent an answer that could not be read", provider = provider)
            }
            LlmError::Interrupted { provider, .. } => {
                crate::tr!("%{provider} stopped mid-answer", provider = provider)
            }
            LlmError::CircuitOpen { provider, retry_in } => crate::tr!(
                "%{provider} is failing; try again in %{secs} s",
                provider = provider,
                secs = retry_in.as_secs().max(1)
            ),
            LlmError::Unsupported { provider, what } => {
                crate::tr!("%{provider} does not support %{what}", provider = provider, what = what)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_message_never_carries_the_providers_text() {
        let e = LlmError::Upstream {
            provider: "openai".into(),
            status: 401,
            message: "Incorrect API key provided: sk-abc***xyz".into(),
        };
        assert_eq!(e.public_message(), "openai answered with status 401");
        let e = LlmError::Connect {
            provider: "local".into(),
            message: "10.0.0.7:11434 refused".into(),
        };
        assert!(!e.public_message().contains("10.0.0.7"));
    }
}
