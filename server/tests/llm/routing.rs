//! Routing, the response cache, rate limits and admin providers, through a real store (SQLite
//! and PostgreSQL) and wiremock providers: strategies switched at run time, private pins,
//! cache hits recorded at $0, 429 naming the limit, a provider added at run time whose key is
//! sealed in the database and opened to call it.

use crate::common::TestDb;
use crate::gateway::{caller, messages, open, openai_server, settings, target, user};
use crate::support::provider_with;
use chrono::Utc;
use domain::cache::{Cache, CacheConfig};
use domain::llm::{
    AnswerCacheSettings, Caller, FeatureLimit, Gateway, GatewaySettings, ProviderKind, StreamEvent,
    Target,
};
use domain::secrets::SecretBox;
use domain::store::{DynStore, NewAuditEntry, PriceRow, ProviderRow};
use futures::StreamExt;
use model::error::AppError;
use model::{RoutingSettings, Strategy};
use secrecy::SecretString;
use std::time::Duration;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

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

fn cache() -> Cache {
    Cache::new(CacheConfig { max_entries: 1000, l1_max_ttl: Duration::from_secs(30) }, None)
}

async fn price(store: &DynStore, model: &str, per_mtok: i64, quality: i32) {
    let row = PriceRow {
        model: model.into(),
        input_per_mtok: per_mtok,
        output_per_mtok: per_mtok,
        cached_input_per_mtok: 0,
        quality: Some(quality),
        updated_at: 0,
    };
    store.upsert_price(&row, None, audit("price.set")).await.unwrap();
}

async fn answered_by(gateway: &Gateway, who: &Caller) -> String {
    gateway.chat(who, messages(), 50).await.unwrap().1.provider
}

pub(crate) async fn strategies_switch_at_run_time(db: TestDb) {
    let store = open(&db).await;
    let uid = user(&store).await;
    price(&store, "dear-1", 10_000_000_000, 90).await;
    price(&store, "cheap-1", 100_000_000, 60).await;
    let (a, b) = (openai_server(14, 3).await, openai_server(14, 3).await);
    let pa =
        provider_with(ProviderKind::OpenAi, &format!("{}/v1", a.uri()), |c| c.name = "a".into());
    let pb =
        provider_with(ProviderKind::OpenAi, &format!("{}/v1", b.uri()), |c| c.name = "b".into());
    let route = vec![
        Target { provider: "a".into(), model: "dear-1".into() },
        Target { provider: "b".into(), model: "cheap-1".into() },
    ];
    let gateway =
        Gateway::new(store.clone(), None, None, None, vec![pa, pb], settings(1_000_000_000, route));
    let who = caller(uid);
    assert_eq!(answered_by(&gateway, &who).await, "a", "priority: the route's first choice");

    for (strategy, expected) in [(Strategy::Cost, "b"), (Strategy::Quality, "a")] {
        let doc = RoutingSettings { strategy: Some(strategy), ..RoutingSettings::default() };
        store
            .put_llm_setting(
                "routing",
                &serde_json::to_string(&doc).unwrap(),
                None,
                audit("llm.routing.save"),
            )
            .await
            .unwrap();
        gateway.reload();
        assert_eq!(answered_by(&gateway, &who).await, expected, "{strategy:?}");
        assert_eq!(gateway.routing().await.unwrap().strategy, strategy);
    }

    let doc =
        RoutingSettings { strategy: Some(Strategy::RoundRobin), ..RoutingSettings::default() };
    store
        .put_llm_setting(
            "routing",
            &serde_json::to_string(&doc).unwrap(),
            None,
            audit("llm.routing.save"),
        )
        .await
        .unwrap();
    gateway.reload();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(answered_by(&gateway, &who).await);
    }
    assert_eq!(seen, vec!["a", "b", "a", "b"], "round robin takes turns");

    // An admin route for one feature replaces the configured one.
    let mut doc =
        RoutingSettings { strategy: Some(Strategy::Priority), ..RoutingSettings::default() };
    doc.routes.insert("console".into(), vec!["b:cheap-1".into()]);
    store
        .put_llm_setting(
            "routing",
            &serde_json::to_string(&doc).unwrap(),
            None,
            audit("llm.routing.save"),
        )
        .await
        .unwrap();
    gateway.reload();
    assert_eq!(answered_by(&gateway, &who).await, "b");
    let snapshot = gateway.routing().await.unwrap();
    let console = snapshot.routes.iter().find(|r| r.feature == "console").unwrap();
    assert_eq!(
        (console.source.as_str(), console.targets.clone()),
        ("admin", vec!["b:cheap-1".to_string()])
    );
}

#[tokio::test]
async fn pinned_features_and_users_only_reach_private_providers() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let (uid, pinned_user) = (user(&store).await, user(&store).await);
    let public = openai_server(14, 3).await;
    let local = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "model": "llama3", "message": { "role": "assistant", "content": "local answer" },
            "done": true, "done_reason": "stop", "prompt_eval_count": 14, "eval_count": 2
        })))
        .mount(&local)
        .await;
    let pp = provider_with(ProviderKind::OpenAi, &format!("{}/v1", public.uri()), |c| {
        c.name = "cloud".into();
        c.private = false;
    });
    let pl = provider_with(ProviderKind::Ollama, &local.uri(), |c| {
        c.name = "local".into();
        c.private = true;
    });
    let mut s = settings(1_000_000_000, vec![target("cloud")]);
    s.routes.insert(
        "private".into(),
        vec![Target { provider: "local".into(), model: "llama3".into() }],
    );
    s.private_features = vec!["secret.docs".into()];
    let gateway = Gateway::new(store.clone(), None, None, None, vec![pp, pl], s);

    assert_eq!(answered_by(&gateway, &caller(uid)).await, "cloud");
    let secret =
        Caller { user_id: uid, feature: "secret.docs".into(), request_id: None, rfc_id: None };
    let (answer, receipt) = gateway.chat(&secret, messages(), 50).await.unwrap();
    assert_eq!((answer.text.as_str(), receipt.provider.as_str()), ("local answer", "local"));

    let doc = RoutingSettings { private_users: vec![pinned_user], ..RoutingSettings::default() };
    store
        .put_llm_setting(
            "routing",
            &serde_json::to_string(&doc).unwrap(),
            None,
            audit("llm.routing.save"),
        )
        .await
        .unwrap();
    gateway.reload();
    assert_eq!(answered_by(&gateway, &caller(pinned_user)).await, "local");
    assert_eq!(answered_by(&gateway, &caller(uid)).await, "cloud");
    assert_eq!(
        public.received_requests().await.unwrap().len(),
        2,
        "pinned calls never reach the cloud"
    );

    // Pinned with no private provider anywhere: refused, never sent to a public one.
    let mut s = settings(1_000_000_000, vec![target("cloud")]);
    s.private_features = vec!["secret.docs".into()];
    let cloud_only = provider_with(ProviderKind::OpenAi, &format!("{}/v1", public.uri()), |c| {
        c.name = "cloud".into();
        c.private = false;
    });
    let strict = Gateway::new(store.clone(), None, None, None, vec![cloud_only], s);
    let err = strict.chat(&secret, messages(), 50).await.unwrap_err();
    assert_eq!(err.status(), 503);
    assert!(err.to_string().contains("private providers"), "{err}");
    assert_eq!(public.received_requests().await.unwrap().len(), 2);
}

fn with_cache(mut s: GatewaySettings, shared: &[&str]) -> GatewaySettings {
    s.answer_cache = AnswerCacheSettings {
        ttl: Duration::from_secs(600),
        shared_features: shared.iter().map(ToString::to_string).collect(),
        disabled_features: vec!["console".into()],
    };
    s
}

pub(crate) async fn cache_hits_cost_nothing(db: TestDb) {
    let store = open(&db).await;
    let (u1, u2) = (user(&store).await, user(&store).await);
    let server = openai_server(14, 3).await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
    let s = with_cache(settings(1_000_000_000, vec![target("test")]), &["rfc.questions"]);
    let gateway = Gateway::new(store.clone(), None, Some(cache()), None, vec![p], s);
    let ask = |user_id: i64, feature: &str| Caller {
        user_id,
        feature: feature.into(),
        request_id: None,
        rfc_id: None,
    };

    let (first, paid) = gateway.chat(&ask(u1, "rfc.draft"), messages(), 50).await.unwrap();
    assert_eq!(paid.cost_nanos, 17 * 1_000);
    let (again, hit) = gateway.chat(&ask(u1, "rfc.draft"), messages(), 50).await.unwrap();
    assert_eq!((again.text, hit.cost_nanos, hit.usage.is_empty()), (first.text.clone(), 0, true));
    // Per-user scope: another user's identical request is a miss.
    let (_, other) = gateway.chat(&ask(u2, "rfc.draft"), messages(), 50).await.unwrap();
    assert!(other.cost_nanos > 0);
    // Shared scope: one user's answer serves the next.
    gateway.chat(&ask(u1, "rfc.questions"), messages(), 50).await.unwrap();
    let (_, shared) = gateway.chat(&ask(u2, "rfc.questions"), messages(), 50).await.unwrap();
    assert_eq!(shared.cost_nanos, 0);
    // A stream is served from the cache too, as one delta.
    let mut stream = gateway.chat_stream(&ask(u1, "rfc.draft"), messages(), 50).await.unwrap();
    let mut text = String::new();
    while let Some(e) = stream.next().await {
        if let StreamEvent::Delta(t) = e.unwrap() {
            text.push_str(&t);
        }
    }
    assert_eq!(text, first.text);
    // Disabled features always ask the provider.
    gateway.chat(&caller(u1), messages(), 50).await.unwrap();
    let (_, console) = gateway.chat(&caller(u1), messages(), 50).await.unwrap();
    assert!(console.cost_nanos > 0);

    assert_eq!(server.received_requests().await.unwrap().len(), 5, "hits never reach the provider");
    let since = Utc::now() - chrono::Duration::hours(1);
    let (rows, _) = store.list_llm_calls(Some(u1), since, 50, 0).await.unwrap();
    let hits: Vec<_> = rows.iter().filter(|r| r.outcome == "cache_hit").collect();
    assert_eq!(hits.len(), 2, "{rows:?}");
    assert!(hits.iter().all(|r| r.cost_nanos == 0 && r.input_tokens == 0 && r.output_tokens == 0));
    let spent: i64 = rows.iter().map(|r| r.cost_nanos).sum();
    let (start, _) = domain::llm::Period::Daily.bounds("Asia/Tokyo".parse().unwrap(), Utc::now());
    let budget = store.budget_spend(&format!("user:{u1}"), start.timestamp_millis()).await.unwrap();
    assert_eq!(budget.spent_nanos, spent, "hits add nothing to the budget");
}

#[tokio::test]
async fn per_feature_rate_limits_answer_429_with_retry_after() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let uid = user(&store).await;
    let server = openai_server(14, 3).await;
    let p = provider_with(ProviderKind::OpenAi, &format!("{}/v1", server.uri()), |_| {});
    let mut s = settings(1_000_000_000, vec![target("test")]);
    s.rate_limits.default = FeatureLimit { requests_per_minute: 2, tokens_per_minute: 0 };
    s.rate_limits
        .features
        .insert("rfc.draft".into(), FeatureLimit { requests_per_minute: 0, tokens_per_minute: 30 });
    let gateway = Gateway::new(store.clone(), None, None, None, vec![p], s);
    let who = caller(uid);
    gateway.chat(&who, messages(), 50).await.unwrap();
    gateway.chat(&who, messages(), 50).await.unwrap();
    let err = gateway.chat(&who, messages(), 50).await.unwrap_err();
    let AppError::RateLimited { message, retry_after_secs } = &err else { panic!("{err:?}") };
    assert!((1..=60).contains(retry_after_secs), "{retry_after_secs}");
    assert!(message.contains("2 requests per minute for console"), "{message}");
    assert_eq!(err.status(), 429);

    // Tokens: 17 per call, so the second call still starts (17 < 30) and the third is refused.
    let draft =
        Caller { user_id: uid, feature: "rfc.draft".into(), request_id: None, rfc_id: None };
    gateway.chat(&draft, messages(), 50).await.unwrap();
    gateway.chat(&draft, messages(), 50).await.unwrap();
    let err = gateway.chat(&draft, messages(), 50).await.unwrap_err();
    assert!(err.to_string().contains("30 tokens per minute for rfc.draft"), "{err}");
    // Limits are per user.
    let other = user(&store).await;
    gateway.chat(&caller(other), messages(), 50).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 5);
}

async fn an_admin_provider_key_is_sealed_and_opened(db: TestDb) {
    let store = open(&db).await;
    let uid = user(&store).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer sk-admin-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "via admin" }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 14, "completion_tokens": 2 }
        })))
        .mount(&server)
        .await;
    let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let sealed = secrets.seal(&SecretString::from("sk-admin-secret")).unwrap();
    let row = ProviderRow {
        name: "added".into(),
        kind: "openai".into(),
        base_url: format!("{}/v1", server.uri()),
        api_key_enc: Some(sealed),
        private: false,
        azure: false,
        timeout_secs: 5,
        max_retries: 0,
        enabled: true,
        updated_at: 0,
    };
    store.upsert_llm_provider(&row, None, audit("llm.provider.save")).await.unwrap();
    let stored = store.list_llm_providers().await.unwrap();
    assert!(!serde_json::to_string(&stored).unwrap().contains("sk-admin-secret"), "sealed at rest");

    let mut s = settings(1_000_000_000, vec![target("added")]);
    s.secrets = Some(secrets);
    let gateway = Gateway::new(store.clone(), None, None, None, vec![], s);
    let (answer, receipt) = gateway.chat(&caller(uid), messages(), 50).await.unwrap();
    assert_eq!((answer.text.as_str(), receipt.provider.as_str()), ("via admin", "added"));

    // Opened with another key, the provider is reported and not used.
    let mut s = settings(1_000_000_000, vec![target("added")]);
    s.secrets = Some(SecretBox::from_base64(&SecretBox::generate_key()).unwrap());
    let wrong = Gateway::new(store.clone(), None, None, None, vec![], s);
    assert_eq!(wrong.chat(&caller(uid), messages(), 50).await.unwrap_err().status(), 503);
    let snapshot = wrong.routing().await.unwrap();
    assert!(snapshot.problems["added"].contains("cannot be opened"), "{:?}", snapshot.problems);

    // Disabled, it is not used either.
    store
        .upsert_llm_provider(
            &ProviderRow { enabled: false, ..row },
            None,
            audit("llm.provider.save"),
        )
        .await
        .unwrap();
    gateway.reload();
    assert_eq!(gateway.chat(&caller(uid), messages(), 50).await.unwrap_err().status(), 503);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_admin_provider_key_is_sealed_and_opened_on_sqlite() {
    an_admin_provider_key_is_sealed_and_opened(TestDb::sqlite()).await;
}

#[tokio::test]
async fn an_admin_provider_key_is_sealed_and_opened_on_postgres() {
    an_admin_provider_key_is_sealed_and_opened(TestDb::postgres().await).await;
}

#[tokio::test]
async fn with_no_provider_the_caller_is_told_who_can_fix_it_and_where() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let uid = user(&store).await;
    // No route at all, and a route whose provider does not exist: the same plain answer,
    // naming who can fix it and where, never the feature's internal name.
    let mut s = settings(1_000_000_000, vec![]);
    s.routes.clear();
    let gateway = Gateway::new(store.clone(), None, None, None, vec![], s);
    let mut dangling = settings(1_000_000_000, vec![target("gone")]);
    dangling.routes.insert("console".into(), vec![target("gone")]);
    let dangling = Gateway::new(store.clone(), None, None, None, vec![], dangling);
    for gateway in [&gateway, &dangling] {
        let who =
            Caller { user_id: uid, feature: "console".into(), request_id: None, rfc_id: None };
        match gateway.chat(&who, messages(), 50).await {
            Err(AppError::Unavailable { message }) => {
                assert!(message.contains("An admin can add a provider"), "{message}");
                assert!(message.contains("/admin/llm"), "{message}");
                assert!(!message.contains("console"), "{message}");
            }
            Err(e) => panic!("expected Unavailable, got {e:?}"),
            Ok(_) => panic!("answered without a provider"),
        }
    }
}
