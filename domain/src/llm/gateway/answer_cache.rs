//! The answer cache: identical requests answered again without a provider call (per user, or
//! shared for configured features).

use super::*;

impl Gateway {
    /// Where `req`'s answer is kept for `caller`, if answers of this feature are reused.
    pub(super) fn answer_key(
        &self,
        caller: &Caller,
        provider: &str,
        req: &ChatRequest,
    ) -> Option<CacheKey> {
        use sha2::{Digest, Sha256};
        let c = &self.inner.settings.answer_cache;
        // An RFC's calls ask for new text each time (a regeneration, another round of
        // questions): they are never answered from the cache.
        if c.ttl.is_zero()
            || caller.rfc_id.is_some()
            || self.inner.cache.is_none()
            || c.disabled_features.contains(&caller.feature)
        {
            return None;
        }
        let bytes = serde_json::to_vec(&(provider, req)).ok()?;
        let id = format!("{}:{}", caller.feature, hex::encode(Sha256::digest(bytes)));
        Some(if c.shared_features.contains(&caller.feature) {
            CacheKey::global("llm_answer", id)
        } else {
            CacheKey::user("llm_answer", caller.user_id, id)
        })
    }

    /// The first candidate whose answer to this request is cached: recorded in the ledger at
    /// $0 as a hit.
    pub(super) async fn cached_answer(
        &self,
        caller: &Caller,
        hops: &[Hop],
        messages: &[Message],
        max_tokens: u32,
        streamed: bool,
    ) -> Result<Option<(ChatResponse, Receipt)>, AppError> {
        let Some(cache) = &self.inner.cache else { return Ok(None) };
        let ttl = self.inner.settings.answer_cache.ttl;
        for (provider, model) in hops {
            let req = request(model, messages, max_tokens);
            let Some(key) = self.answer_key(caller, provider.name(), &req) else { return Ok(None) };
            if let Some(hit) = cache.get::<CachedAnswer>(&key, ttl).await {
                let attempt = Attempt {
                    caller,
                    provider: provider.name(),
                    model,
                    started: (Utc::now(), Instant::now()),
                    streamed,
                    price_known: true,
                };
                let row = attempt.row(Usage::default(), 0, "cache_hit", None);
                let none = Reserved {
                    id: None,
                    keys: Vec::new(),
                    amount: 0,
                    prompt_tokens: 0,
                    price: Price {
                        input_per_mtok: 0,
                        output_per_mtok: 0,
                        cached_input_per_mtok: 0,
                    },
                    price_known: true,
                    live: None,
                };
                let call_id = self.settle(caller, &none, row).await?;
                metrics::counter!("llm_answer_cache_hits_total").increment(1);
                let receipt = Receipt {
                    call_id,
                    provider: provider.name().into(),
                    model: model.clone(),
                    cost_nanos: 0,
                    usage: Usage::default(),
                };
                let answer = ChatResponse {
                    text: hit.text,
                    usage: Usage::default(),
                    finish_reason: hit.finish_reason,
                };
                return Ok(Some((answer, receipt)));
            }
        }
        Ok(None)
    }

    /// Keeps a whole answer for reuse.
    pub(super) async fn remember(
        &self,
        key: Option<CacheKey>,
        text: &str,
        finish_reason: Option<String>,
    ) {
        if let (Some(cache), Some(key)) = (&self.inner.cache, key) {
            let answer = CachedAnswer { text: text.to_string(), finish_reason };
            cache.put(&key, answer, self.inner.settings.answer_cache.ttl).await;
        }
    }
}
