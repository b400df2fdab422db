//! Routing a call: the runtime routing (configuration overridden by admins' rows, re-read every\n//! few seconds), the price table, and the ordered hops of a feature's route.

use super::*;

impl Gateway {
    /// Reads admin providers and routing again on the next call (after an edit).
    pub fn reload(&self) {
        if let Ok(mut rt) = self.inner.runtime.lock()
            && let Some((at, _)) = rt.as_mut()
        {
            *at = Instant::now() - RUNTIME_TTL - Duration::from_secs(1);
        }
    }

    pub(super) async fn runtime(&self) -> Result<Arc<Runtime>, AppError> {
        let fresh = |slot: &Option<(Instant, Arc<Runtime>)>| {
            slot.as_ref().filter(|(at, _)| at.elapsed() < RUNTIME_TTL).map(|(_, rt)| rt.clone())
        };
        if let Ok(slot) = self.inner.runtime.lock()
            && let Some(rt) = fresh(&slot)
        {
            return Ok(rt);
        }
        let _one = self.inner.reload.lock().await;
        let previous = match self.inner.runtime.lock() {
            Ok(slot) => {
                if let Some(rt) = fresh(&slot) {
                    return Ok(rt);
                }
                slot.as_ref().map(|(_, rt)| rt.clone())
            }
            Err(_) => None,
        };
        let rows = self.inner.store.list_llm_providers().await?;
        let settings = self.inner.store.list_llm_settings().await?;
        let fingerprint = serde_json::to_string(&(&rows, &settings)).unwrap_or_default();
        let rt = match previous {
            Some(prev) if prev.fingerprint == fingerprint => prev,
            prev => Arc::new(Runtime::build(
                &self.inner.defaults,
                &self.inner.providers,
                rows,
                &settings,
                self.inner.settings.secrets.as_ref(),
                prev.as_deref(),
                fingerprint,
            )),
        };
        if let Ok(mut slot) = self.inner.runtime.lock() {
            *slot = Some((Instant::now(), rt.clone()));
        }
        Ok(rt)
    }

    /// Drops the cached price table (after an edit).
    pub fn invalidate_prices(&self) {
        if let Ok(mut p) = self.inner.prices.lock() {
            *p = None;
        }
    }

    pub(super) async fn prices(&self) -> Result<PriceTable, AppError> {
        if let Ok(guard) = self.inner.prices.lock()
            && let Some((at, table)) = guard.as_ref()
            && at.elapsed() < PRICES_TTL
        {
            return Ok(table.clone());
        }
        let rows = self.inner.store.list_prices().await?;
        let table = PriceTable::new(rows, self.inner.settings.default_price);
        if let Ok(mut guard) = self.inner.prices.lock() {
            *guard = Some((Instant::now(), table.clone()));
        }
        Ok(table)
    }

    /// The candidates for a call, in the order to try them: the feature's route (an admin's,
    /// else the configured one, else `default`), only private providers when the feature or
    /// user is pinned (falling back to the `private` route), ordered by the strategy.
    pub(super) async fn route(
        &self,
        caller: &Caller,
        table: &PriceTable,
    ) -> Result<Vec<Hop>, AppError> {
        let rt = self.runtime().await?;
        let feature = caller.feature.as_str();
        let unavailable = |message: String| AppError::Unavailable { message };
        // Said to whoever made the call, who may not be an admin: what is missing and who can
        // fix it where, not the feature's internal name.
        let no_provider = || {
            unavailable(crate::tr!(
                "No AI model is set up for this yet. An admin can add a provider and a route under Admin → AI gateway (/admin/llm)."
            ))
        };
        let (targets, _) =
            rt.routes.get(feature).or_else(|| rt.routes.get("default")).ok_or_else(no_provider)?;
        let resolve = |targets: &[Target]| -> Vec<Hop> {
            targets
                .iter()
                .filter_map(|t| rt.providers.get(&t.provider).map(|p| (p.clone(), t.model.clone())))
                .collect()
        };
        let mut hops = resolve(targets);
        let pinned =
            rt.private_features.contains(feature) || rt.private_users.contains(&caller.user_id);
        if pinned {
            hops.retain(|(p, _)| p.is_private());
            if hops.is_empty()
                && let Some((private, _)) = rt.routes.get("private")
            {
                hops = resolve(private);
                hops.retain(|(p, _)| p.is_private());
            }
            if hops.is_empty() {
                return Err(unavailable(crate::tr!(
                    "This may only use private providers (self-hosted models), and none is set up for it. An admin can add one under Admin → AI gateway (/admin/llm)."
                )));
            }
        }
        if hops.is_empty() {
            return Err(no_provider());
        }
        let facts: Vec<CandidateFacts> = hops
            .iter()
            .map(|(p, m)| {
                CandidateFacts::of(
                    table,
                    m,
                    p.breaker_state() != crate::llm::breaker::BreakerState::Open,
                )
            })
            .collect();
        let turn = if rt.strategy == Strategy::RoundRobin {
            let mut turns = self
                .inner
                .turns
                .lock()
                .map_err(|_| unavailable("routing state is unavailable".into()))?;
            let t = turns.entry(feature.to_string()).or_insert(0);
            *t = t.wrapping_add(1);
            *t - 1
        } else {
            0
        };
        let order = crate::llm::routing::order(rt.strategy, &facts, turn);
        Ok(order.into_iter().map(|i| hops[i].clone()).collect())
    }
}
