//! Housekeeping on every instance: renewing the holds of live calls and reaping expired
//! holds of any instance as `orphaned` calls.

use super::*;

impl Gateway {
    /// Runs for the life of the process: every quarter of the reservation lease, renews this
    /// instance's open reservations and settles any instance's expired ones (`reap_expired`).
    /// The first pass runs at once, so a restart reclaims what a crash left as soon as it
    /// expires.
    pub fn start_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        let gateway = self.clone();
        let every = (self.inner.settings.reservation_lease / 4).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = gateway.renew_reservations().await {
                    tracing::warn!(error = %e, "could not renew this instance's LLM reservations");
                }
                if let Err(e) = gateway.reap_expired().await {
                    tracing::warn!(error = %e, "could not reap expired LLM reservations");
                }
            }
        })
    }

    /// Moves the expiry of the holds of the calls this instance is serving a lease ahead.
    pub async fn renew_reservations(&self) -> Result<u64, AppError> {
        let mut ids: Vec<i64> = match self.inner.live.lock() {
            Ok(live) => live.iter().copied().collect(),
            Err(_) => Vec::new(),
        };
        ids.sort_unstable();
        let until = Utc::now() + self.inner.settings.reservation_lease;
        Ok(self.inner.store.renew_reservations(&self.inner.owner, &ids, until).await?)
    }

    /// Settles every expired reservation (its instance died, or lost the database for longer
    /// than the lease) as an `orphaned` call: the prompt we counted is billed at the input
    /// price — the provider received it; what it generated is unknown — the rest of the hold
    /// is released, and the row says the usage is estimated. Returns how many were reaped.
    pub async fn reap_expired(&self) -> Result<usize, AppError> {
        let mut reaped = 0;
        loop {
            let now = Utc::now();
            let rows = self.inner.store.expired_reservations(now, 100).await?;
            let batch = rows.len();
            for row in rows {
                let call = orphaned_call(&row, now);
                if self.inner.store.reap_reservation(&row, &call, now).await?.is_some() {
                    reaped += 1;
                    metrics::counter!("llm_calls_total", "provider" => call.provider.clone(), "outcome" => "orphaned").increment(1);
                    tracing::warn!(reservation = row.id, owner = %row.hold.owner, user_id = ?row.hold.user_id,
                        cost_nanos = call.cost_nanos, released_nanos = row.amount_nanos,
                        "settled an LLM call whose instance stopped serving it");
                    let keys = row.keys();
                    self.forget_spend(&keys).await;
                }
            }
            if batch < 100 {
                return Ok(reaped);
            }
        }
    }
}

/// The ledger row of a call whose instance stopped serving it.
pub(super) fn orphaned_call(row: &ReservationRow, now: DateTime<Utc>) -> NewLlmCall {
    let hold = &row.hold;
    let price = Price { input_per_mtok: hold.input_per_mtok, ..Price::default() };
    let prompt = u64::try_from(hold.prompt_tokens).unwrap_or(0);
    let cost = price.cost(&Usage { input_tokens: prompt, ..Usage::default() });
    let at = hold.at;
    NewLlmCall {
        at,
        user_id: hold.user_id,
        feature: hold.feature.clone(),
        provider: hold.provider.clone(),
        model: hold.model.clone(),
        input_tokens: hold.prompt_tokens,
        output_tokens: 0,
        cached_input_tokens: 0,
        cost_nanos: cost,
        latency_ms: (now - at).num_milliseconds().max(0),
        outcome: "orphaned".into(),
        streamed: hold.streamed,
        price_known: hold.price_known,
        error: Some(format!(
            "the instance serving this call ({}) stopped before settling it; the prompt is billed, \
             the output is unknown",
            hold.owner
        )),
        request_id: hold.request_id.clone(),
        usage_estimated: true,
        rfc_id: hold.rfc_id,
    }
}
