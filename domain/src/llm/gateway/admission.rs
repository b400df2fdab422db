//! Admission: per-user, per-feature rate limits on calls and tokens, and the prompt's token
//! count that sizes a reservation.

use super::*;

impl Gateway {
    /// Counts the call against the caller's per-feature request limit and checks the token
    /// limit (tokens are counted when calls settle).
    pub(super) async fn admit(&self, caller: &Caller) -> Result<(), AppError> {
        let limits = &self.inner.settings.rate_limits;
        let limit = limits.features.get(&caller.feature).copied().unwrap_or(limits.default);
        let key = format!("{}:{}", caller.user_id, caller.feature);
        if limit.requests_per_minute > 0
            && let Err(wait) = self.inner.requests.hit_max(&key, limit.requests_per_minute).await
        {
            return Err(AppError::RateLimited {
                message: crate::tr!(
                    "You reached the limit of %{limit} requests per minute for %{feature}. Try again in %{secs} s.",
                    limit = limit.requests_per_minute,
                    feature = caller.feature,
                    secs = wait.secs()
                ),
                retry_after_secs: wait.secs(),
            });
        }
        if limit.tokens_per_minute > 0
            && let Err(wait) = self.inner.tokens.check_max(&key, limit.tokens_per_minute).await
        {
            return Err(AppError::RateLimited {
                message: crate::tr!(
                    "You reached the limit of %{limit} tokens per minute for %{feature}. Try again in %{secs} s.",
                    limit = limit.tokens_per_minute,
                    feature = caller.feature,
                    secs = wait.secs()
                ),
                retry_after_secs: wait.secs(),
            });
        }
        Ok(())
    }

    /// Prompt tokens of `messages` to `model`: the reservation's bound and the billing
    /// estimate (long prompts are counted on the blocking pool).
    pub(super) async fn count_prompt(&self, model: &str, messages: &[Message]) -> (u64, u64) {
        let count = |model: &str, messages: &[Message]| {
            (tokens::prompt_bound(model, messages), tokens::prompt_estimate(model, messages))
        };
        let bytes: usize = messages.iter().map(|m| m.content.len()).sum();
        if bytes < 16 * 1024 {
            return count(model, messages);
        }
        let (model_owned, messages_owned) = (model.to_string(), messages.to_vec());
        match tokio::task::spawn_blocking(move || count(&model_owned, &messages_owned)).await {
            Ok(counts) => counts,
            Err(_) => (bytes as u64 + 8 * messages.len() as u64, bytes as u64),
        }
    }
}
