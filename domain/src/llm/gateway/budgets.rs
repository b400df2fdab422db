//! Budgets: the batch writer that reserves and settles in group commits, budget lines and
//! their spend (through the cache), reservations and refusals that name the budget.

use super::*;

impl Gateway {
    pub(super) fn spend_key(scope: &str, period_start: i64) -> CacheKey {
        match BudgetScope::parse(scope) {
            Some(BudgetScope::User(user)) => {
                CacheKey::user("budget_spend", user, period_start.to_string())
            }
            Some(BudgetScope::Global) | None => {
                CacheKey::global("budget_spend", format!("{scope}:{period_start}"))
            }
        }
    }

    /// A budget's spend in a period, through the cache when there is one.
    pub async fn spend(&self, scope: &str, period_start: i64) -> Result<BudgetSpend, AppError> {
        let store = self.inner.store.clone();
        let load = || async move { Ok(store.budget_spend(scope, period_start).await?) };
        match &self.inner.cache {
            Some(cache) => {
                cache.get_or_load(&Self::spend_key(scope, period_start), SPEND_TTL, load).await
            }
            None => load().await,
        }
    }

    pub(super) async fn forget_spend(&self, keys: &[(String, i64)]) {
        if let Some(cache) = &self.inner.cache {
            for (scope, start) in keys {
                cache.invalidate(&Self::spend_key(scope, *start)).await;
            }
        }
    }

    /// The configured budget rows, through the cache when there is one.
    pub(super) async fn budget_rows(&self) -> Result<Vec<BudgetRow>, AppError> {
        let store = self.inner.store.clone();
        let load = || async move { Ok(store.list_budgets().await?) };
        match &self.inner.cache {
            Some(cache) => {
                cache.get_or_load(&CacheKey::global("budgets", "all"), SPEND_TTL, load).await
            }
            None => load().await,
        }
    }

    /// Drops cached budget rows (after an admin edit).
    pub async fn invalidate_budgets(&self) {
        if let Some(cache) = &self.inner.cache {
            cache.invalidate(&CacheKey::global("budgets", "all")).await;
        }
    }

    /// The budgets a user's calls count against, in this period: the global one (if any) and
    /// the user's (an admin's override, else the default).
    pub async fn budgets(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<BudgetLine>, AppError> {
        let rows = self.budget_rows().await?;
        let mut out = Vec::new();
        let global_key = BudgetScope::Global.key();
        if let Some(global) = self.line(&rows, &global_key, self.inner.settings.global_budget, now)
        {
            out.push(global);
        }
        out.extend(self.user_line(&rows, user_id, now).map(|(line, _)| line));
        Ok(out)
    }

    /// Each user's own budget in its current period, and whether an admin set it.
    pub async fn user_budgets(
        &self,
        user_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, BudgetLine, bool)>, AppError> {
        let rows = self.budget_rows().await?;
        Ok(user_ids
            .iter()
            .filter_map(|id| {
                self.user_line(&rows, *id, now).map(|(line, custom)| (*id, line, custom))
            })
            .collect())
    }

    pub(super) fn user_line(
        &self,
        rows: &[BudgetRow],
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Option<(BudgetLine, bool)> {
        let scope = BudgetScope::User(user_id).key();
        let custom = rows.iter().any(|r| r.scope == scope);
        self.line(rows, &scope, Some(self.inner.settings.default_user_budget), now)
            .map(|line| (line, custom))
    }

    pub(super) fn line(
        &self,
        rows: &[BudgetRow],
        scope: &str,
        fallback: Option<Limit>,
        now: DateTime<Utc>,
    ) -> Option<BudgetLine> {
        let limit = rows
            .iter()
            .find(|r| r.scope == scope)
            .and_then(|r| {
                Period::parse(&r.period).map(|period| Limit { nanos: r.limit_nanos, period })
            })
            .or(fallback)?;
        let (start, end) = limit.period.bounds(self.inner.settings.timezone, now);
        Some((
            BudgetCheck {
                scope: scope.to_string(),
                period_start: start.timestamp_millis(),
                limit_nanos: limit.nanos,
            },
            limit.period,
            end,
        ))
    }

    pub(super) async fn reserve(
        &self,
        caller: &Caller,
        req: &ChatRequest,
        table: &PriceTable,
        provider: &str,
        streamed: bool,
    ) -> Result<Reserved, AppError> {
        let (price, price_known) = table.lookup(&req.model);
        // The most the provider can count for this prompt (its real tokenizer, or one token per
        // byte where the tokenizer is not public) plus the most it may generate.
        let (bound, prompt) = self.count_prompt(&req.model, &req.messages).await;
        let worst = Usage {
            input_tokens: bound,
            output_tokens: u64::from(req.max_tokens),
            cached_input_tokens: 0,
        };
        let amount = price.cost(&worst);
        let budgets = self.budgets(caller.user_id, Utc::now()).await?;
        let checks: Vec<BudgetCheck> = budgets.iter().map(|(c, _, _)| c.clone()).collect();
        let keys: Vec<(String, i64)> =
            checks.iter().map(|c| (c.scope.clone(), c.period_start)).collect();
        let now = Utc::now();
        let hold = NewReservation {
            owner: self.inner.owner.clone(),
            expires_at: now + self.inner.settings.reservation_lease,
            at: now,
            user_id: Some(caller.user_id),
            feature: caller.feature.clone(),
            provider: provider.to_string(),
            model: req.model.clone(),
            prompt_tokens: i64::try_from(prompt).unwrap_or(i64::MAX),
            input_per_mtok: price.input_per_mtok,
            streamed,
            price_known,
            request_id: caller.request_id.clone(),
            rfc_id: caller.rfc_id,
        };
        let reserved = match self.budget_op(BudgetOp::Reserve { checks, amount, hold }).await? {
            BudgetOpResult::Reserved(r) => r,
            BudgetOpResult::Settled(..) => return Err(out_of_step()),
        };
        if reserved.is_ok() {
            self.forget_spend(&keys).await;
        }
        let id = match reserved {
            Ok(id) => id,
            Err(refusal) => return Err(self.refusal(refusal, amount, &budgets)),
        };
        if let Ok(mut live) = self.inner.live.lock() {
            live.insert(id);
        }
        Ok(Reserved {
            id: Some(id),
            keys,
            amount,
            prompt_tokens: prompt,
            price,
            price_known,
            live: Some(self.inner.live.clone()),
        })
    }

    /// Runs one budget operation in the writer's next batch.
    pub(super) async fn budget_op(&self, op: BudgetOp) -> Result<BudgetOpResult, AppError> {
        let writer =
            self.inner.writer.get_or_init(|| spawn_budget_writer(self.inner.store.clone()));
        let (reply, result) = tokio::sync::oneshot::channel();
        writer.send((op, reply)).map_err(|_| out_of_step())?;
        // The writer's own refusals are written outside any request: in the caller's words here.
        result.await.map_err(|_| out_of_step())?.map_err(crate::i18n::here)
    }

    pub(super) fn refusal(
        &self,
        refusal: crate::store::BudgetRefusal,
        amount: i64,
        budgets: &[BudgetLine],
    ) -> AppError {
        let Some((_, period, resets_at)) =
            budgets.iter().find(|(c, _, _)| c.scope == refusal.scope).cloned()
        else {
            return AppError::Unavailable { message: crate::tr!("budget changed; try again") };
        };
        {
            let global = BudgetScope::parse(&refusal.scope).is_some_and(BudgetScope::is_global);
            let budget = match (global, period) {
                (true, crate::llm::budget::Period::Daily) => crate::tr!("the team's daily budget"),
                (true, crate::llm::budget::Period::Weekly) => {
                    crate::tr!("the team's weekly budget")
                }
                (true, crate::llm::budget::Period::Monthly) => {
                    crate::tr!("the team's monthly budget")
                }
                (false, crate::llm::budget::Period::Daily) => crate::tr!("your daily budget"),
                (false, crate::llm::budget::Period::Weekly) => crate::tr!("your weekly budget"),
                (false, crate::llm::budget::Period::Monthly) => crate::tr!("your monthly budget"),
            };
            metrics::counter!("llm_budget_refusals_total", "budget" => if global { "global" } else { "user" }).increment(1);
            AppError::BudgetExceeded {
                message: crate::tr!(
                    "This call could cost up to %{cost}, more than is left of %{budget} of %{limit}: %{spent} spent, %{held} held by calls in progress. It resets at %{resets} (%{zone}).",
                    cost = usd(amount),
                    budget = budget,
                    limit = usd(refusal.limit_nanos),
                    spent = usd(refusal.spend.spent_nanos),
                    held = usd(refusal.spend.reserved_nanos),
                    resets = resets_at
                        .with_timezone(&self.inner.settings.timezone)
                        .format("%Y-%m-%d %H:%M"),
                    zone = self.inner.settings.timezone.name(),
                ),
                budget: refusal.scope,
                period: period.as_str().into(),
                limit_nanos: refusal.limit_nanos,
                spent_nanos: refusal.spend.spent_nanos,
                reserved_nanos: refusal.spend.reserved_nanos,
                reservation_nanos: amount,
                resets_at,
            }
        }
    }
}

/// Runs queued budget operations in batches: whatever queued while the previous transaction
/// ran goes into the next one (group commit), so under load the hot `global` row is written
/// once per batch, and alone a call waits for nothing. A batch that fails as a whole is retried
/// one operation at a time, so one bad operation cannot fail the others.
pub(super) fn spawn_budget_writer(
    store: DynStore,
) -> tokio::sync::mpsc::UnboundedSender<BudgetJob> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BudgetJob>();
    tokio::spawn(async move {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            let (ops, replies): (Vec<BudgetOp>, Vec<_>) = jobs.drain(..).unzip();
            metrics::histogram!("llm_budget_batch_size").record(ops.len() as f64);
            match store.budget_batch(&ops).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                }
                Err(crate::store::StoreError::Other(e))
                    if e.is::<crate::store::CommitUnknown>() =>
                {
                    // It may have committed: running the operations again could bill twice.
                    // Reservations fail (the caller retries); a settlement's hold, no longer
                    // renewed, is reaped if the commit did not take effect.
                    tracing::error!(error = %e, operations = ops.len(), "a budget batch's commit failed");
                    for reply in replies {
                        let _ = reply.send(Err(out_of_step()));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, operations = ops.len(), "a budget batch failed; running its operations one by one");
                    for (op, reply) in ops.into_iter().zip(replies) {
                        let _ = reply.send(budget_op_alone(&store, op).await);
                    }
                }
            }
        }
    });
    tx
}

pub(super) async fn budget_op_alone(
    store: &DynStore,
    op: BudgetOp,
) -> Result<BudgetOpResult, AppError> {
    Ok(match op {
        BudgetOp::Reserve { checks, amount, hold } => {
            BudgetOpResult::Reserved(store.reserve_budget(&checks, amount, &hold).await?)
        }
        BudgetOp::Settle { reservation, keys, reserved, call } => {
            let (id, spends) = store.settle_budget(reservation, &keys, reserved, &call).await?;
            BudgetOpResult::Settled(id, spends)
        }
    })
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let (Some(live), Some(id)) = (&self.live, self.id)
            && let Ok(mut live) = live.lock()
        {
            live.remove(&id);
        }
    }
}
