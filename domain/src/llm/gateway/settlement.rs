//! Settlement: every admitted call settled once to its real cost with its ledger row — whole
//! answers, failed attempts and streams (tracked to the end, cut or abandoned).

use super::*;

impl Gateway {
    /// Releases a reservation, records the call and raises threshold alerts.
    pub(super) async fn settle(
        &self,
        caller: &Caller,
        reserved: &Reserved,
        call: NewLlmCall,
    ) -> Result<i64, AppError> {
        let op = BudgetOp::Settle {
            reservation: reserved.id,
            keys: reserved.keys.clone(),
            reserved: reserved.amount,
            call: call.clone(),
        };
        let (id, spends) = match self.budget_op(op).await? {
            BudgetOpResult::Settled(id, spends) => (id, spends),
            BudgetOpResult::Reserved(_) => return Err(out_of_step()),
        };
        let tokens = call.input_tokens + call.output_tokens + call.cached_input_tokens;
        if tokens > 0 {
            let key = format!("{}:{}", caller.user_id, caller.feature);
            self.inner.tokens.add(&key, u32::try_from(tokens).unwrap_or(u32::MAX)).await;
        }
        metrics::counter!("llm_calls_total", "provider" => call.provider.clone(), "outcome" => call.outcome.clone()).increment(1);
        metrics::counter!("llm_cost_nanos_total", "provider" => call.provider.clone())
            .increment(u64::try_from(call.cost_nanos).unwrap_or(0));
        if reserved.keys.is_empty() {
            // A cache hit: no budget moved, so no threshold can have been crossed.
            return Ok(id);
        }
        // The call is settled; without the budget lines no alert can be judged this time (the
        // next call's settlement judges the same thresholds again).
        let budgets = match self.budgets(caller.user_id, Utc::now()).await {
            Ok(budgets) => budgets,
            Err(e) => {
                tracing::warn!(user.id = caller.user_id, error = %e, "budget alerts skipped: the budgets could not be read");
                return Ok(id);
            }
        };
        for ((scope, period_start), spend) in reserved.keys.iter().zip(spends) {
            let Some((check, period, resets_at)) = budgets
                .iter()
                .find(|(c, _, _)| &c.scope == scope && c.period_start == *period_start)
            else {
                continue;
            };
            if check.limit_nanos <= 0 {
                continue;
            }
            let percent = spend.spent_nanos.saturating_mul(100) / check.limit_nanos;
            for threshold in &self.inner.settings.alert_thresholds {
                if percent < i64::from(*threshold) {
                    continue;
                }
                let claimed = match self
                    .inner
                    .store
                    .claim_budget_alert(scope, *period_start, *threshold, Utc::now())
                    .await
                {
                    Ok(claimed) => claimed,
                    // Unclaimed, so a later settlement in this period tries again.
                    Err(e) => {
                        tracing::warn!(budget = %scope, threshold, error = %e, "budget alert not claimed: the store failed");
                        false
                    }
                };
                let budget = BudgetScope::parse(scope);
                if claimed && budget.is_none() {
                    tracing::error!(budget = %scope, "budget alert dropped: the scope is not global or user:<id>");
                }
                if claimed && let Some(budget) = budget {
                    tracing::info!(budget = %scope, threshold, spent_nanos = spend.spent_nanos, "budget threshold reached");
                    if let Some(sink) = self.inner.alerts.get() {
                        sink.budget_alert(BudgetAlert {
                            budget,
                            user_id: budget.user_id(),
                            period: period.as_str().into(),
                            threshold: *threshold,
                            spent_nanos: spend.spent_nanos,
                            limit_nanos: check.limit_nanos,
                            resets_at: *resets_at,
                        })
                        .await;
                    }
                    if let (Some(events), Some(user)) = (&self.inner.events, budget.user_id()) {
                        let crossed = model::BudgetCrossed {
                            budget,
                            period: period.as_str().into(),
                            threshold: *threshold,
                            spent_nanos: spend.spent_nanos,
                            limit_nanos: check.limit_nanos,
                            resets_at: *resets_at,
                        };
                        events.publish_live(user, &model::LivePayload::Budget(crossed)).await;
                    }
                }
            }
        }
        Ok(id)
    }

    /// Records a failed attempt at $0 (releasing its reservation) and keeps its error; true if
    /// the next provider should be tried.
    pub(super) async fn failed_attempt(
        &self,
        attempt: &Attempt<'_>,
        reserved: &Reserved,
        e: LlmError,
        last_error: &mut Option<LlmError>,
    ) -> Result<bool, AppError> {
        let row = attempt.row(Usage::default(), 0, "error", Some(e.to_string()));
        self.settle(attempt.caller, reserved, row).await?;
        let fall_back = e.should_fall_back();
        if fall_back {
            tracing::warn!(provider = %attempt.provider, error = %e, "LLM call failed; trying the next provider");
        }
        *last_error = Some(e);
        Ok(fall_back)
    }

    /// Waits up to `within` for the settlements of streams that have ended (shutdown: every
    /// call a client saw a cost for gets its ledger row). Returns how many were still pending
    /// when the time ran out.
    pub async fn drain_settlements(&self, within: Duration) -> usize {
        let tracker = &self.inner.settlements;
        tracker.close();
        let pending = tracker.len();
        if pending > 0 {
            tracing::info!(pending, "waiting for LLM call settlements");
        }
        if tokio::time::timeout(within, tracker.wait()).await.is_err() {
            let left = tracker.len();
            tracing::error!(left, "shutdown grace ran out with LLM settlements pending");
            return left;
        }
        tracker.reopen();
        0
    }
}

pub(super) fn tracked(
    stream: BoxStream<'static, Result<StreamEvent, LlmError>>,
    tracker: StreamTracker,
) -> BoxStream<'static, Result<StreamEvent, AppError>> {
    futures::stream::unfold(
        (stream, tracker, Phase::Running),
        |(mut stream, mut tracker, phase)| async move {
            match phase {
                Phase::Over => return None,
                Phase::Bill(cost_nanos, usage) => {
                    let event = StreamEvent::Billed { cost_nanos, usage };
                    return Some((Ok(event), (stream, tracker, Phase::Over)));
                }
                Phase::Running => {}
            }
            match stream.next().await {
                Some(Ok(event)) => {
                    let mut next = Phase::Running;
                    match &event {
                        StreamEvent::Delta(t) => tracker.text_chars.push_str(t),
                        StreamEvent::Usage(u) => tracker.usage = Some(*u),
                        StreamEvent::Done { finish_reason } => {
                            next = match tracker.finish("ok", None, finish_reason.clone()) {
                                Some((cost, usage)) => Phase::Bill(cost, usage),
                                None => Phase::Over,
                            };
                        }
                        StreamEvent::Billed { .. } => {}
                    }
                    Some((Ok(event), (stream, tracker, next)))
                }
                Some(Err(e)) => {
                    let outcome = if matches!(e, LlmError::Interrupted { .. }) {
                        "interrupted"
                    } else {
                        "error"
                    };
                    tracker.finish(outcome, Some(e.to_string()), None);
                    Some((Err(llm_to_app(Some(e))), (stream, tracker, Phase::Over)))
                }
                None => {
                    tracker.finish(
                        "interrupted",
                        Some("the stream ended without completing".into()),
                        None,
                    );
                    None
                }
            }
        },
    )
    .boxed()
}

impl Attempt<'_> {
    pub(super) fn row(
        &self,
        usage: Usage,
        cost: i64,
        outcome: &str,
        error: Option<String>,
    ) -> NewLlmCall {
        self.row_estimated(usage, cost, outcome, error, false)
    }

    /// A ledger row; `estimated`: some token count is ours, not the provider's.
    pub(super) fn row_estimated(
        &self,
        usage: Usage,
        cost: i64,
        outcome: &str,
        error: Option<String>,
        estimated: bool,
    ) -> NewLlmCall {
        let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        NewLlmCall {
            at: self.started.0,
            user_id: Some(self.caller.user_id),
            feature: self.caller.feature.clone(),
            provider: self.provider.to_string(),
            model: self.model.to_string(),
            input_tokens: tokens(usage.input_tokens),
            output_tokens: tokens(usage.output_tokens),
            cached_input_tokens: tokens(usage.cached_input_tokens),
            cost_nanos: cost,
            latency_ms: i64::try_from(self.started.1.elapsed().as_millis()).unwrap_or(i64::MAX),
            outcome: outcome.to_string(),
            streamed: self.streamed,
            price_known: self.price_known,
            error,
            request_id: self.caller.request_id.clone(),
            usage_estimated: estimated,
            rfc_id: self.caller.rfc_id,
        }
    }
}

impl StreamTracker {
    /// The usage to bill. A stream that ended with the provider's usage report is billed exactly
    /// as reported, like the same answer unstreamed — unless the report is implausibly small for
    /// the text (under a quarter of our estimate: a report sent at the start, never updated).
    /// Otherwise (cut off, abandoned, or no report) the provider's last report — or our prompt
    /// estimate if none came — with output estimated from the text seen if the provider had not
    /// counted that much yet.
    /// The second value says whether any count is our estimate (recorded in the ledger).
    pub(super) fn billable(&self, prompt_tokens: u64, completed: bool) -> (Usage, bool) {
        if completed
            && let Some(usage) = self.usage
            && usage.output_tokens.saturating_mul(4) >= estimate_tokens(&self.text_chars)
        {
            return (usage, false);
        }
        let mut estimated = self.usage.is_none();
        let mut usage =
            self.usage.unwrap_or(Usage { input_tokens: prompt_tokens, ..Usage::default() });
        let seen = tokens::estimate(&self.model, &self.text_chars);
        if usage.output_tokens < seen {
            usage.output_tokens = seen;
            estimated = true;
        }
        (usage, estimated)
    }

    /// Settles once (later calls do nothing); returns the cost and tokens billed.
    pub(super) fn finish(
        &mut self,
        outcome: &'static str,
        error: Option<String>,
        finish_reason: Option<String>,
    ) -> Option<(i64, Usage)> {
        let reserved = self.reserved.take()?;
        let keep = (outcome == "ok").then(|| self.answer_key.take()).flatten();
        let text = keep.as_ref().map(|_| self.text_chars.clone());
        let (usage, estimated) = self.billable(reserved.prompt_tokens, outcome == "ok");
        let cost = reserved.price.cost(&usage);
        let attempt = Attempt {
            caller: &self.caller,
            provider: &self.provider,
            model: &self.model,
            started: self.started,
            streamed: true,
            price_known: reserved.price_known,
        };
        let row = attempt.row_estimated(usage, cost, outcome, error, estimated);
        let gateway = self.gateway.clone();
        let caller = self.caller.clone();
        // Also runs from Drop, so it cannot be awaited here; shutdown waits for it instead.
        self.gateway.inner.settlements.spawn(async move {
            if let Err(e) = gateway.settle(&caller, &reserved, row).await {
                tracing::error!(error = %e, "could not settle a streamed LLM call");
            }
            if let Some(text) = text {
                gateway.remember(keep, &text, finish_reason).await;
            }
        });
        Some((cost, usage))
    }
}

impl Drop for StreamTracker {
    fn drop(&mut self) {
        let _ = self.finish("abandoned", Some("the client stopped reading".into()), None);
    }
}
