//! The contract of the gateway's persistence: prices, budgets with atomic reservations under
//! concurrency, settlement with the ledger in one transaction, alerts once per period.

use app::server::store::{
    BudgetCheck, BudgetRow, DynStore, NewAuditEntry, NewLlmCall, PriceRow, ProviderRow,
};
use chrono::Utc;
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
            store.reserve_budget(&checks, 100).await.unwrap()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => granted += 1,
            Err(refusal) => {
                assert_eq!(refusal.scope, "user:7", "the tighter budget refuses");
                assert_eq!(refusal.limit_nanos, 500);
                assert!(refusal.spend.spent_nanos + refusal.spend.reserved_nanos + 100 > 500);
            }
        }
    }
    assert_eq!(granted, 5, "exactly as many as fit");
    let user = store.budget_spend("user:7", period).await.unwrap();
    let global = store.budget_spend("global", period).await.unwrap();
    assert_eq!((user.reserved_nanos, global.reserved_nanos), (500, 500));
    // A refused reservation left nothing behind on the budget that had room.

    // Settling releases the reservation and adds the real cost, with the ledger row.
    let keys = vec![("global".to_string(), period), ("user:7".to_string(), period)];
    for _ in 0..5 {
        let (id, spends) = store.settle_budget(&keys, 100, &call(60)).await.unwrap();
        assert!(id > 0);
        assert_eq!(spends.len(), 2);
    }
    let user = store.budget_spend("user:7", period).await.unwrap();
    assert_eq!((user.spent_nanos, user.reserved_nanos), (300, 0));
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
        store.settle_budget(&[("user:1".into(), base)], 0, r).await.unwrap();
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
