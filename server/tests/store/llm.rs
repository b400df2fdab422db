//! The contract of the gateway's persistence: prices, budgets with atomic reservations under
//! concurrency, settlement with the ledger in one transaction, alerts once per period.

use chrono::Utc;
use domain::store::{
    BudgetCheck, BudgetOp, BudgetOpResult, BudgetRow, BudgetSpend, DynStore, NewAuditEntry,
    NewLlmCall, NewReservation, PriceRow, ProviderRow,
};
use std::sync::Arc;
use tokio::sync::Barrier;

fn audit(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor_email: None,
        action: action.into(),
        target: "test".into(),
        detail: "{}".into(),
    }
}

fn call(cost: i64) -> NewLlmCall {
    NewLlmCall {
        at: Utc::now(),
        user_id: None,
        feature: "test".into(),
        provider: "p".into(),
        model: "m".into(),
        input_tokens: 10,
        output_tokens: 5,
        cached_input_tokens: 0,
        cost_nanos: cost,
        latency_ms: 12,
        outcome: "ok".into(),
        streamed: true,
        price_known: true,
        error: None,
        request_id: Some("req-1".into()),
        usage_estimated: false,
        rfc_id: None,
    }
}

fn hold() -> NewReservation {
    NewReservation {
        owner: "instance-a".into(),
        expires_at: Utc::now() + chrono::Duration::minutes(2),
        at: Utc::now(),
        user_id: None,
        feature: "test".into(),
        provider: "p".into(),
        model: "m".into(),
        prompt_tokens: 10,
        input_per_mtok: 1_000_000,
        streamed: true,
        price_known: true,
        request_id: None,
        rfc_id: Some(42),
    }
}

pub async fn prices_are_seeded_and_editable_with_an_audit_entry(store: DynStore) {
    let prices = store.list_prices().await.unwrap();
    let mini = prices.iter().find(|p| p.model == "gpt-4o-mini*").expect("seeded");
    assert_eq!((mini.input_per_mtok, mini.output_per_mtok), (150_000_000, 600_000_000));
    assert!(prices.iter().any(|p| p.model == "llama*" && p.input_per_mtok == 0));

    let row = PriceRow {
        model: "house-model".into(),
        input_per_mtok: 7,
        output_per_mtok: 9,
        cached_input_per_mtok: 1,
        quality: Some(70),
        updated_at: 5,
    };
    store.upsert_price(&row, None, audit("price.set")).await.unwrap();
    let again = PriceRow { input_per_mtok: 8, ..row.clone() };
    store.upsert_price(&again, None, audit("price.set")).await.unwrap();
    let prices = store.list_prices().await.unwrap();
    assert_eq!(prices.iter().find(|p| p.model == "house-model"), Some(&again));
    let (entries, _) = store.list_audit(10, 0).await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.action == "price.set").count(), 2);

    let budget = BudgetRow {
        scope: "global".into(),
        period: "monthly".into(),
        limit_nanos: 10,
        updated_at: 1,
    };
    store.set_budget(&budget, None, audit("budget.set")).await.unwrap();
    let raised = BudgetRow { limit_nanos: 20, ..budget };
    store.set_budget(&raised, None, audit("budget.set")).await.unwrap();
    assert_eq!(store.list_budgets().await.unwrap(), vec![raised]);
}

pub async fn concurrent_reservations_never_overshoot_and_refusals_name_the_budget(store: DynStore) {
    let period = 1_000;
    let checks = vec![
        BudgetCheck { scope: "global".into(), period_start: period, limit_nanos: 1_000 },
        BudgetCheck { scope: "user:7".into(), period_start: period, limit_nanos: 500 },
    ];
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (store, checks, barrier) = (store.clone(), checks.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.reserve_budget(&checks, 100, &hold()).await.unwrap()
        }));
    }
    let mut granted = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => granted.push(id),
            Err(refusal) => {
                assert_eq!(refusal.scope, "user:7", "the tighter budget refuses");
                assert_eq!(refusal.limit_nanos, 500);
                assert!(refusal.spend.spent_nanos + refusal.spend.reserved_nanos + 100 > 500);
            }
        }
    }
    assert_eq!(granted.len(), 5, "exactly as many as fit");
    let far = Utc::now() + chrono::Duration::days(1);
    let open = store.expired_reservations(far, 100).await.unwrap();
    assert_eq!(open.len(), 5, "refused reservations leave no hold behind");
    assert!(open.iter().all(|r| r.hold.owner == "instance-a" && r.amount_nanos == 100));
    assert_eq!(open[0].keys().len(), 2);
    let user = store.budget_spend("user:7", period).await.unwrap();
    let global = store.budget_spend("global", period).await.unwrap();
    assert_eq!((user.reserved_nanos, global.reserved_nanos), (500, 500));
    // A refused reservation left nothing behind on the budget that had room.

    // Settling releases the reservation and adds the real cost, with the ledger row.
    let keys = vec![("global".to_string(), period), ("user:7".to_string(), period)];
    for reservation in granted {
        let (id, spends) =
            store.settle_budget(Some(reservation), &keys, 100, &call(60)).await.unwrap();
        assert!(id > 0);
        assert_eq!(spends.len(), 2);
    }
    let user = store.budget_spend("user:7", period).await.unwrap();
    assert_eq!((user.spent_nanos, user.reserved_nanos), (300, 0));
    assert!(store.expired_reservations(far, 100).await.unwrap().is_empty(), "holds are gone");
    let (rows, total) =
        store.list_llm_calls(None, Utc::now() - chrono::Duration::hours(1), 2, 0).await.unwrap();
    assert_eq!((rows.len(), total), (2, 5));
    assert_eq!(
        (rows[0].cost_nanos, rows[0].outcome.as_str(), rows[0].request_id.as_deref()),
        (60, "ok", Some("req-1"))
    );
    // A new period starts empty.
    assert_eq!(store.budget_spend("user:7", period + 1).await.unwrap().spent_nanos, 0);
}

/// Reservations and settlements in one transaction, each decided as if it ran alone in order:
/// a settlement's release makes room for the reservation after it, and a refusal names the
/// budget with what the earlier operations left.
pub async fn a_batch_decides_each_operation_as_if_it_ran_alone(store: DynStore) {
    let period = 2_000;
    let checks = vec![
        BudgetCheck { scope: "global".into(), period_start: period, limit_nanos: 10_000 },
        BudgetCheck { scope: "user:9".into(), period_start: period, limit_nanos: 450 },
    ];
    let reserve = || BudgetOp::Reserve { checks: checks.clone(), amount: 100, hold: hold() };
    let results = store.budget_batch(&(0..6).map(|_| reserve()).collect::<Vec<_>>()).await;
    let mut ids = Vec::new();
    for (i, r) in results.unwrap().into_iter().enumerate() {
        match r {
            BudgetOpResult::Reserved(Ok(id)) if i < 4 => ids.push(id),
            BudgetOpResult::Reserved(Err(refusal)) if i >= 4 => {
                assert_eq!(refusal.scope, "user:9");
                assert_eq!(refusal.spend, BudgetSpend { spent_nanos: 0, reserved_nanos: 400 });
            }
            other => panic!("operation {i}: {other:?}"),
        }
    }
    let keys = vec![("global".to_string(), period), ("user:9".to_string(), period)];
    let settle = BudgetOp::Settle {
        reservation: Some(ids[0]),
        keys: keys.clone(),
        reserved: 100,
        call: call(30),
    };
    let results = store.budget_batch(&[settle, reserve(), reserve()]).await.unwrap();
    let BudgetOpResult::Settled(call_id, spends) = &results[0] else { panic!("{results:?}") };
    assert!(*call_id > 0);
    assert_eq!(spends[1], BudgetSpend { spent_nanos: 30, reserved_nanos: 300 });
    assert!(matches!(results[1], BudgetOpResult::Reserved(Ok(_))), "30 + 300 + 100 fits 450");
    assert!(matches!(results[2], BudgetOpResult::Reserved(Err(_))), "30 + 400 + 100 does not");
    for scope in ["global", "user:9"] {
        let spend = store.budget_spend(scope, period).await.unwrap();
        assert_eq!((spend.spent_nanos, spend.reserved_nanos), (30, 400), "{scope}");
    }
    let far = Utc::now() + chrono::Duration::days(1);
    assert_eq!(store.expired_reservations(far, 100).await.unwrap().len(), 4);
    let (rows, total) =
        store.list_llm_calls(None, Utc::now() - chrono::Duration::hours(1), 10, 0).await.unwrap();
    assert_eq!((total, rows[0].cost_nanos), (1, 30));
}

/// A hold whose owner stopped renewing it: one reaper claims it (not two, not before it
/// expires), and the owner's late settlement takes the orphaned row over.
pub async fn a_reaped_hold_is_claimed_once_and_a_late_settlement_moves_only_the_difference(
    store: DynStore,
) {
    let period = 3_000;
    let checks =
        vec![BudgetCheck { scope: "user:11".into(), period_start: period, limit_nanos: 1_000 }];
    let now = Utc::now();
    let lapsed = NewReservation { expires_at: now - chrono::Duration::seconds(1), ..hold() };
    let id = store.reserve_budget(&checks, 500, &lapsed).await.unwrap().unwrap();
    let live = store.reserve_budget(&checks, 100, &hold()).await.unwrap().unwrap();
    let expired = store.expired_reservations(now, 10).await.unwrap();
    assert_eq!(expired.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id], "only the lapsed one");
    assert_eq!(expired[0].hold.rfc_id, Some(42), "the RFC a hold was made for is kept");
    let orphan = NewLlmCall { outcome: "orphaned".into(), usage_estimated: true, ..call(40) };
    let (row_id, spends) =
        store.reap_reservation(&expired[0], &orphan, now).await.unwrap().expect("claimed");
    assert_eq!(spends[0], BudgetSpend { spent_nanos: 40, reserved_nanos: 100 });
    assert!(store.reap_reservation(&expired[0], &orphan, now).await.unwrap().is_none(), "once");
    assert!(store.expired_reservations(now, 10).await.unwrap().is_empty());
    // The renewed one is not the reaper's.
    let later = now + chrono::Duration::minutes(5);
    assert_eq!(store.renew_reservations("instance-a", &[id, live], later).await.unwrap(), 1);
    assert_eq!(store.renew_reservations("instance-b", &[live], later).await.unwrap(), 0);
    let keys = vec![("user:11".to_string(), period)];
    let (same, spends) = store.settle_budget(Some(id), &keys, 500, &call(70)).await.unwrap();
    assert_eq!(same, row_id, "the late settlement takes the orphaned row over");
    assert_eq!(spends[0], BudgetSpend { spent_nanos: 70, reserved_nanos: 100 });
    let (_, spends) = store.settle_budget(Some(live), &keys, 100, &call(5)).await.unwrap();
    assert_eq!(spends[0], BudgetSpend { spent_nanos: 75, reserved_nanos: 0 });
    let (rows, total) =
        store.list_llm_calls(None, Utc::now() - chrono::Duration::hours(1), 10, 0).await.unwrap();
    assert_eq!(total, 2);
    assert!(rows.iter().all(|r| r.outcome == "ok" && !r.usage_estimated));
}

pub async fn budget_alerts_are_claimed_once_per_threshold_and_period(store: DynStore) {
    let now = Utc::now();
    assert!(store.claim_budget_alert("user:1", 100, 80, now).await.unwrap());
    assert!(!store.claim_budget_alert("user:1", 100, 80, now).await.unwrap());
    assert!(store.claim_budget_alert("user:1", 100, 95, now).await.unwrap());
    assert!(store.claim_budget_alert("user:1", 200, 80, now).await.unwrap(), "next period");
    assert!(store.claim_budget_alert("global", 100, 80, now).await.unwrap(), "other budget");
}

pub async fn providers_and_settings_round_trip_with_audit_entries(store: DynStore) {
    let row = ProviderRow {
        name: "local".into(),
        kind: "ollama".into(),
        base_url: "http://127.0.0.1:11434".into(),
        api_key_enc: Some("v1:sealed".into()),
        private: true,
        azure: false,
        timeout_secs: 30,
        max_retries: 1,
        enabled: true,
        updated_at: 3,
    };
    store.upsert_llm_provider(&row, None, audit("llm.provider.save")).await.unwrap();
    let changed = ProviderRow { enabled: false, api_key_enc: None, ..row.clone() };
    store.upsert_llm_provider(&changed, None, audit("llm.provider.save")).await.unwrap();
    assert_eq!(store.list_llm_providers().await.unwrap(), vec![changed]);
    assert!(store.delete_llm_provider("local", audit("llm.provider.delete")).await.unwrap());
    assert!(!store.delete_llm_provider("local", audit("llm.provider.delete")).await.unwrap());
    assert!(store.list_llm_providers().await.unwrap().is_empty());

    store
        .put_llm_setting("routing", "{\"strategy\":\"cost\"}", None, audit("llm.routing.save"))
        .await
        .unwrap();
    store
        .put_llm_setting("routing", "{\"strategy\":\"quality\"}", None, audit("llm.routing.save"))
        .await
        .unwrap();
    assert_eq!(
        store.list_llm_settings().await.unwrap(),
        vec![("routing".to_string(), "{\"strategy\":\"quality\"}".to_string())]
    );
    let (entries, _) = store.list_audit(20, 0).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "llm.provider.save").count(), 2);
    assert_eq!(
        actions.iter().filter(|a| **a == "llm.provider.delete").count(),
        1,
        "a miss is not audited"
    );
    assert_eq!(actions.iter().filter(|a| **a == "llm.routing.save").count(), 2);
}

pub async fn usage_buckets_unpriced_models_and_period_spends_aggregate(store: DynStore) {
    let hour = 3_600_000i64;
    let base = (Utc::now().timestamp_millis() / hour - 5) * hour;
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
    let mut rows = vec![
        NewLlmCall {
            at: at(base + 10),
            feature: "rfc.draft".into(),
            model: "a".into(),
            ..call(100)
        },
        NewLlmCall {
            at: at(base + 20),
            feature: "rfc.draft".into(),
            model: "a".into(),
            ..call(50)
        },
        NewLlmCall { at: at(base + hour), feature: "search".into(), model: "b".into(), ..call(7) },
    ];
    rows.push(NewLlmCall {
        at: at(base + hour + 5),
        feature: "search".into(),
        model: "b".into(),
        outcome: "cache_hit".into(),
        input_tokens: 0,
        output_tokens: 0,
        ..call(0)
    });
    rows.push(NewLlmCall {
        at: at(base + 2 * hour),
        model: "mystery".into(),
        price_known: false,
        ..call(9)
    });
    for r in &rows {
        store.settle_budget(None, &[("user:1".into(), base)], 0, r).await.unwrap();
    }
    let buckets = store.usage_buckets(None, at(base), at(base + 3 * hour)).await.unwrap();
    let draft = buckets.iter().find(|b| b.feature == "rfc.draft").unwrap();
    assert_eq!((draft.hour, draft.calls, draft.tokens, draft.cost_nanos), (base, 2, 30, 150));
    let search = buckets.iter().find(|b| b.feature == "search").unwrap();
    assert_eq!(
        (search.hour, search.calls, search.cache_hits, search.cost_nanos),
        (base + hour, 2, 1, 7)
    );
    assert_eq!(buckets.len(), 3);
    assert!(store.usage_buckets(Some(99), at(base), at(base + 3 * hour)).await.unwrap().is_empty());

    let unpriced = store.unpriced_models(at(base)).await.unwrap();
    assert_eq!(unpriced.len(), 1);
    assert_eq!((unpriced[0].model.as_str(), unpriced[0].calls), ("mystery", 1));

    let spends = store.spends_in_periods(&[base, base + 1]).await.unwrap();
    assert_eq!(spends.len(), 1);
    assert_eq!((spends[0].0.as_str(), spends[0].1, spends[0].2.spent_nanos), ("user:1", base, 166));
}
