//! The RFC studio with a model, over HTTP, against a local OpenAI-compatible server that answers
//! like a real one: questions as JSON (the first reply malformed), an outline, sections streamed
//! slowly as SSE with `[S#]` citations (one to a source never retrieved), a stream cut in the
//! middle, a section cut at the token limit, usage on every call. It checks what the author
//! sees: questions repaired or replaced, sections growing on the socket, the cut resumed, only
//! live citations kept (the rest counted), every call in the ledger under the RFC, a budget
//! stopping the draft and the draft resuming once the budget allows it, cancelling, and a
//! regenerated section waiting as a proposal.

use crate::helpers::{
    TestApp, Tokens, email, expect_error, expect_status, spawn_app_pg_with, spawn_app_with,
};
use crate::knowledge::eventually;
use crate::rfcs::upload_notes;
use crate::ws::{Socket, connect, expect_hello, next_frame};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use model::{RfcDraftEvent, SectionState, WsFrame};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How the local model behaves.
#[derive(Default)]
struct Script {
    /// Questions calls answered so far.
    questions: AtomicUsize,
    /// Questions calls that get prose instead of JSON (from the first).
    malformed_questions: usize,
    /// Questions calls whose data held sources.
    questions_with_sources: AtomicUsize,
    /// Streamed calls made so far.
    streams: AtomicUsize,
    /// The streamed call (1-based) that is cut in the middle (0: none).
    cut_stream: usize,
    /// Delay between streamed chunks.
    chunk_delay: Duration,
    /// Output tokens reported per section.
    section_tokens: u64,
    /// Review calls answered so far.
    reviews: AtomicUsize,
    /// Review calls that get a reply missing an aspect (from the first).
    malformed_reviews: usize,
}

fn chat_answer(text: &str, completion_tokens: u64) -> Response {
    axum::Json(json!({
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 100, "completion_tokens": completion_tokens }
    }))
    .into_response()
}

const GOOD_QUESTIONS: &str = "Here you go:\n```json\n{\"questions\": [\
    {\"kind\": \"single\", \"text\": \"Which clients upload large files?\", \"why\": \"Scope.\", \"options\": [\"web\", \"mobile\", \"cli\"], \"section\": \"guide\"},\
    {\"kind\": \"number\", \"text\": \"How many retries at most?\", \"why\": \"Limits.\", \"placeholder\": \"3\", \"section\": \"reference\"},\
    {\"kind\": \"boolean\", \"text\": \"Must parked uploads resume after a restart?\", \"section\": \"reference\"},\
    {\"kind\": \"text\", \"text\": \"Who owns the dead-letter queue?\", \"section\": \"unresolved\"}\
]}\n```";

const GOOD_REVIEW: &str = "```json\n{\"notes\": [\
    {\"aspect\": \"risks\", \"rating\": 2, \"note\": \"Drawbacks do not say how parked uploads are cleaned up.\"},\
    {\"aspect\": \"clarity\", \"rating\": 4, \"note\": \"The summary says what changes and why.\"},\
    {\"aspect\": \"alternatives\", \"rating\": 3, \"note\": \"Compare with resumable uploads.\"}\
]}\n```";

fn sse(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

async fn completions(State(script): State<Arc<Script>>, body: axum::Json<Value>) -> Response {
    let system = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
    let user: Value = serde_json::from_str(body["messages"][1]["content"].as_str().unwrap_or("{}"))
        .unwrap_or_default();
    if body["stream"] != true {
        if system.contains("clarifying questions") {
            let n = script.questions.fetch_add(1, Ordering::SeqCst) + 1;
            if user["sources"].as_array().is_some_and(|s| !s.is_empty()) {
                script.questions_with_sources.fetch_add(1, Ordering::SeqCst);
            }
            if n <= script.malformed_questions {
                return chat_answer("Sorry, I would rather chat about this in prose.", 20);
            }
            return chat_answer(GOOD_QUESTIONS, 200);
        }
        if system.contains("review an RFC draft") {
            let n = script.reviews.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(user["sections"].as_array().is_some_and(|s| !s.is_empty()), "{user}");
            if n <= script.malformed_reviews {
                return chat_answer(
                    r#"{"notes": [{"aspect": "clarity", "rating": 4, "note": "Clear."}]}"#,
                    30,
                );
            }
            return chat_answer(GOOD_REVIEW, 150);
        }
        let outline = json!({ "sections": [
            { "key": "summary", "points": ["Retry failed uploads with backoff"] },
            { "key": "drawbacks", "points": ["Parked uploads cost storage"] },
        ]});
        return chat_answer(&format!("Outline:\n{outline}"), 100);
    }
    let n = script.streams.fetch_add(1, Ordering::SeqCst) + 1;
    let heading = user["section"]["heading"].as_str().unwrap_or_default().to_string();
    let (pieces, finish): (Vec<String>, &str) = if user.get("instruction").is_some() {
        (vec!["Shorter: ".into(), "uploads retry three times [S1].".into()], "stop")
    } else if heading == "Drawbacks" {
        (
            vec!["Parked uploads cost money [S1]. ".into(), "Users wait longer than they".into()],
            "length",
        )
    } else {
        (
            vec![
                format!("## {heading}\n\n"),
                "The upload service retries ".into(),
                "a failed chunk three times [S1] ".into(),
                "and parks it afterwards [S99]. ".into(),
                "The bill for unfinished uploads ".into(),
                "grows every month [S2].".into(),
            ],
            "stop",
        )
    };
    let mut frames: Vec<Result<Bytes, std::io::Error>> = pieces
        .iter()
        .map(|p| Ok(sse(&json!({ "choices": [{ "index": 0, "delta": { "content": p }, "finish_reason": null }] }))))
        .collect();
    if n == script.cut_stream {
        frames.truncate(2);
        frames.push(Err(std::io::Error::other("connection reset by the model")));
    } else {
        frames.push(Ok(sse(
            &json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": finish }] }),
        )));
        frames.push(Ok(sse(&json!({ "choices": [], "usage": { "prompt_tokens": 100, "completion_tokens": script.section_tokens } }))));
        frames.push(Ok(Bytes::from("data: [DONE]\n\n")));
    }
    let delay = script.chunk_delay;
    let stream = futures::stream::iter(frames).then(move |f| async move {
        tokio::time::sleep(delay).await;
        f
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// The local model's base URL.
async fn model_server(script: Script) -> String {
    model_server_shared(Arc::new(script)).await
}

/// The local model's base URL, the script kept by the caller to read its counters.
async fn model_server_shared(script: Arc<Script>) -> String {
    let app =
        axum::Router::new().route("/v1/chat/completions", post(completions)).with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1")
}

fn with_model(base: String, budget_usd: f64) -> impl FnOnce(&mut server::config::Settings) {
    move |s| {
        s.llm.providers.push(server::config::ProviderSettings {
            name: "local".into(),
            kind: domain::llm::ProviderKind::OpenAi,
            base_url: base,
            api_key: server::config::Secret(Some("sk-test".to_string().into())),
            timeout_secs: 10,
            max_retries: 0,
            private: None,
            azure: false,
        });
        s.llm.routes.insert(
            "default".into(),
            vec![domain::llm::Target::parse("local:gpt-4o-mini").unwrap()],
        );
        s.llm.user_budget_usd = budget_usd;
        s.llm.user_budget_period = domain::llm::Period::Daily;
    }
}

fn wizard() -> Value {
    json!({
        "task_type": "new_feature",
        "template": "feature",
        "title": "Retries for failed uploads",
        "description": "Uploads over flaky networks fail and users start again from zero; retry them with backoff.",
        "language": "en",
    })
}

/// An RFC grounded on the runbook and the cost note, its questions answered or skipped.
async fn grounded_rfc(app: &TestApp, user: &Tokens) -> i64 {
    let token = user.access.as_str();
    upload_notes(app, token).await;
    // The notes are searchable before the RFC starts, so its first questions can see them.
    eventually(Duration::from_secs(30), "search to find the notes", || async {
        let found = app.get_bearer("/api/v1/search?q=failed%20uploads%20retry", token).await;
        let found = expect_status(found, StatusCode::OK).await;
        (!found["hits"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    let rfc =
        expect_status(app.post_bearer("/api/v1/rfcs", token, &wizard()).await, StatusCode::CREATED)
            .await;
    let id = rfc["summary"]["id"].as_i64().unwrap();
    for q in rfc["questions"].as_array().unwrap() {
        let path = format!("/api/v1/rfcs/{id}/questions/{}", q["id"]);
        expect_status(app.put_bearer(&path, token, &json!({"skip": true})).await, StatusCode::OK)
            .await;
    }
    eventually(Duration::from_secs(30), "grounding to find both notes", || async {
        let res = app.post_bearer(&format!("/api/v1/rfcs/{id}/ground"), token, &json!({})).await;
        let body = expect_status(res, StatusCode::OK).await;
        (body["sources"].as_array().unwrap().len() >= 2).then_some(())
    })
    .await;
    id
}

async fn rfc(app: &TestApp, token: &str, id: i64) -> Value {
    expect_status(app.get_bearer(&format!("/api/v1/rfcs/{id}"), token).await, StatusCode::OK).await
}

/// Waits until the job is in one of `states`.
async fn job_ends(app: &TestApp, _token: &str, id: i64, states: &[&str]) -> Value {
    eventually(Duration::from_secs(90), "the draft job to end", || async {
        let j = serde_json::to_value(app.state.store.get_job(id).await.unwrap()).unwrap();
        states.contains(&j["state"].as_str().unwrap()).then_some(j)
    })
    .await
}

/// The draft events on the socket until `until` says stop (or nothing comes for 30 s).
async fn draft_events(
    socket: &mut Socket,
    until: impl Fn(&RfcDraftEvent) -> bool,
) -> Vec<RfcDraftEvent> {
    let mut out = Vec::new();
    while let Some(frame) = next_frame(socket, Duration::from_secs(30)).await {
        if let WsFrame::Event(e) = frame
            && let Some(d) = e.rfc_draft()
        {
            let stop = until(&d);
            out.push(d);
            if stop {
                break;
            }
        }
    }
    out
}

/// The ledger's total, once it equals the RFC's cost (settlements are written by spawned
/// tasks, so the last one may land a moment after the job ends). Every call in these tests is
/// made for the one RFC, so equality means every row carries it.
async fn ledger_matches_rfc(app: &TestApp, token: &str, id: i64) -> i64 {
    let store = &app.state.store;
    eventually(Duration::from_secs(10), "the RFC's cost to be its ledger rows", || async {
        let since = chrono::Utc::now() - chrono::Duration::hours(1);
        let (rows, _) = store.list_llm_calls(None, since, 500, 0).await.unwrap();
        let total: i64 = rows.iter().map(|r| r.cost_nanos).sum();
        let shown = rfc(app, token, id).await["cost_nanos"].as_i64().unwrap();
        (total > 0 && total == shown).then_some(total)
    })
    .await
}

async fn the_draft_streams_resumes_after_a_cut_and_keeps_only_live_citations(
    app: TestApp,
    script: Arc<Script>,
) {
    let app = &app;
    let (_admin, member) = app.admin_and_member().await;
    let token = member.access.as_str();
    let id = grounded_rfc(app, &member).await;

    // The model's first reply was prose; the retry's questions were repaired and kept.
    let r = rfc(app, token, id).await;
    let qs = r["questions"].as_array().unwrap();
    assert_eq!(qs.len(), 4, "{qs:?}");
    assert!(qs.iter().all(|q| q["origin"] == "model"));
    assert_eq!(qs[0]["kind"], "single_choice");
    assert_eq!(qs[2]["kind"], "yes_no");
    assert!(r["readiness"].as_array().unwrap().is_empty(), "answered and grounded: {r}");
    let questions_cost = r["cost_nanos"].as_i64().unwrap();
    assert!(questions_cost > 0, "the questions calls are the RFC's");
    assert!(
        script.questions_with_sources.load(Ordering::SeqCst) >= 1,
        "the first round saw what the knowledge holds"
    );

    let mut socket = connect(app.port, token, None).await;
    expect_hello(&mut socket).await;
    let started = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    let started = expect_status(started, StatusCode::ACCEPTED).await;
    assert_eq!(started["summary"]["status"], "drafting");
    let job_id = started["draft_job_id"].as_i64().unwrap();

    // While it runs, sections are not changed by hand and no second draft starts.
    let again = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    expect_error(again, StatusCode::CONFLICT, "conflict").await;

    let events =
        draft_events(&mut socket, |d| d.state == SectionState::Done && d.index == d.total).await;
    let done = job_ends(app, token, job_id, &["succeeded", "dead"]).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2, "the cut stream cost one attempt: {done}");

    // Sections grew on the socket while they were written.
    let first = events.iter().find(|e| e.state == SectionState::Writing).unwrap().section_id;
    let growing: Vec<usize> = events
        .iter()
        .filter(|e| e.section_id == first && e.state == SectionState::Writing)
        .map(|e| e.text.len())
        .collect();
    assert!(growing.len() >= 2 && growing.windows(2).all(|w| w[0] < w[1]), "{growing:?}");
    let finished: Vec<&RfcDraftEvent> =
        events.iter().filter(|e| e.state == SectionState::Done).collect();
    assert!(finished.windows(2).all(|w| w[0].cost_nanos <= w[1].cost_nanos));
    assert!(finished.iter().all(|e| e.total == 9));
    assert!(events.iter().any(|e| e.state == SectionState::Failed), "the cut section failed once");

    // What was stored: the template's sections, only live citations, the rest counted.
    let r = rfc(app, token, id).await;
    assert_eq!(r["summary"]["status"], "draft");
    let sections = r["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 9);
    let mut dropped = 0;
    for s in sections {
        assert_eq!(s["state"], "done", "{s}");
        let body = s["body"].as_str().unwrap();
        assert!(!body.contains("[S99]") && !body.contains("## "), "{body}");
        assert!(!body.contains("Drawbacks\n"), "the heading is not repeated: {body}");
        for c in s["citations"].as_array().unwrap() {
            assert!([1, 2].contains(&c.as_i64().unwrap()));
        }
        dropped += s["dropped_citations"].as_i64().unwrap();
    }
    assert!(dropped >= 7, "each written section dropped [S99]: {dropped}");
    let drawbacks = sections.iter().find(|s| s["template_key"] == "drawbacks").unwrap();
    assert_eq!(
        drawbacks["body"], "Parked uploads cost money [S1].",
        "cut at the limit: whole sentences"
    );
    assert_eq!(drawbacks["provenance"], "ai");

    // Every call is in the ledger under the RFC, and the RFC's cost is their sum.
    let cost = ledger_matches_rfc(app, token, id).await;
    assert!(cost > questions_cost);

    // Write one section again: a proposal beside the old text until it is accepted.
    let summary = sections.iter().find(|s| s["template_key"] == "summary").unwrap();
    let path = format!("/api/v1/rfcs/{id}/sections/{}", summary["id"]);
    let bad =
        app.post_bearer(&format!("{path}/regenerate"), token, &json!({"instruction": " "})).await;
    let err = expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "instruction");
    let regen = app
        .post_bearer(&format!("{path}/regenerate"), token, &json!({"instruction": "shorter"}))
        .await;
    let regen = expect_status(regen, StatusCode::ACCEPTED).await;
    let regen_job = regen["draft_job_id"].as_i64().unwrap();
    assert_ne!(regen_job, job_id);
    assert_eq!(
        regen["summary"]["status"], "draft",
        "a regeneration does not make it a draft in progress"
    );
    job_ends(app, token, regen_job, &["succeeded"]).await;
    let r = rfc(app, token, id).await;
    let now = r["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == summary["id"])
        .unwrap()
        .clone();
    assert_eq!(now["body"], summary["body"], "the old text stays until the proposal is accepted");
    assert_eq!(now["proposed_body"], "Shorter: uploads retry three times [S1].");
    assert_eq!(now["proposed_instruction"], "shorter");
    let accepted =
        app.post_bearer(&format!("{path}/proposal"), token, &json!({"accept": true})).await;
    let accepted = expect_status(accepted, StatusCode::OK).await;
    assert_eq!(accepted["body"], "Shorter: uploads retry three times [S1].");
    assert_eq!(accepted["proposed_body"], Value::Null);
    assert_eq!(accepted["citations"], json!([1]));
    let cost = ledger_matches_rfc(app, token, id).await;

    // The model's review: the first reply misses two aspects and is asked for again; the notes
    // sit beside the unchanged score, are billed to the RFC, and go stale when it changes.
    let quality = format!("/api/v1/rfcs/{id}/quality");
    let before = expect_status(app.get_bearer(&quality, token).await, StatusCode::OK).await;
    assert!(before.get("review").is_none(), "{before}");
    // A pipeline's token may write (review) without reading (`basic`): it gets the report.
    let (_, generate_only) = app.create_api_token(token, &["generate"]).await;
    let review =
        app.post_bearer(&format!("/api/v1/rfcs/{id}/review"), &generate_only, &json!({})).await;
    let reviewed = expect_status(review, StatusCode::OK).await;
    assert_eq!(reviewed["structure_score"], before["structure_score"]);
    let notes = reviewed["review"]["notes"].as_array().unwrap();
    let aspects: Vec<&str> = notes.iter().map(|n| n["aspect"].as_str().unwrap()).collect();
    assert_eq!(aspects, ["clarity", "risks", "alternatives"]);
    assert_eq!(notes[1]["rating"], 2);
    assert_eq!(reviewed["review"]["stale"], false);
    assert!(ledger_matches_rfc(app, token, id).await > cost, "both review calls are billed");
    let stored = expect_status(app.get_bearer(&quality, token).await, StatusCode::OK).await;
    assert_eq!(stored["review"], reviewed["review"]);
    let edited = app.put_bearer(&path, token, &json!({"body": "Uploads retry [S1]."})).await;
    expect_status(edited, StatusCode::OK).await;
    let after = expect_status(app.get_bearer(&quality, token).await, StatusCode::OK).await;
    assert_eq!(after["review"]["stale"], true, "{after}");
    assert_eq!(after["review"]["notes"], reviewed["review"]["notes"]);

    // A draft whose sections are all written is changed section by section.
    let again = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    expect_error(again, StatusCode::CONFLICT, "conflict").await;
}

async fn sqlite_app(script: Script, budget_usd: f64) -> TestApp {
    spawn_app_with(with_model(model_server(script).await, budget_usd)).await
}

fn drafting_script() -> Script {
    Script {
        malformed_questions: 1,
        malformed_reviews: 1,
        cut_stream: 3,
        chunk_delay: Duration::from_millis(100),
        section_tokens: 300,
        ..Script::default()
    }
}

#[tokio::test]
async fn the_draft_streams_resumes_after_a_cut_and_keeps_only_live_citations_sqlite() {
    let script = Arc::new(drafting_script());
    let base = model_server_shared(script.clone()).await;
    let app = spawn_app_with(with_model(base, 10.0)).await;
    the_draft_streams_resumes_after_a_cut_and_keeps_only_live_citations(app, script).await;
}

#[tokio::test]
async fn the_draft_streams_resumes_after_a_cut_and_keeps_only_live_citations_postgres() {
    let script = Arc::new(drafting_script());
    let base = model_server_shared(script.clone()).await;
    let app = spawn_app_pg_with(with_model(base, 10.0)).await;
    the_draft_streams_resumes_after_a_cut_and_keeps_only_live_citations(app, script).await;
}

/// gpt-4o-mini ($0.15 / $0.60 per M tokens): a section reserves its prompt and 1,800 output
/// tokens (about $0.0013) and costs 100 + 1,000 tokens ($0.000615). A $0.003 day admits the
/// outline and a few sections, then refuses one.
#[tokio::test]
async fn a_budget_stops_the_draft_keeping_what_was_written_and_drafting_again_resumes() {
    let script = Script {
        chunk_delay: Duration::from_millis(5),
        section_tokens: 1_000,
        ..Script::default()
    };
    let app = sqlite_app(script, 0.003).await;
    let app = &app;
    let (admin, member) = app.admin_and_member().await;
    let token = member.access.as_str();
    let id = grounded_rfc(app, &member).await;
    let started = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    let job_id =
        expect_status(started, StatusCode::ACCEPTED).await["draft_job_id"].as_i64().unwrap();
    let dead = job_ends(app, token, job_id, &["succeeded", "dead"]).await;
    assert_eq!(dead["state"], "dead", "{dead}");
    assert_eq!(dead["attempts"], 1, "a budget refusal is not retried");
    assert!(dead["last_error"].as_str().unwrap().contains("budget"), "{dead}");
    let r = rfc(app, token, id).await;
    assert_eq!(r["summary"]["status"], "draft");
    let kept: Vec<Value> = r["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "done" && s["provenance"] == "ai")
        .cloned()
        .collect();
    let total = r["sections"].as_array().unwrap().len();
    assert!(!kept.is_empty() && kept.len() < total, "{} of {total} written", kept.len());
    assert!(r["sections"].as_array().unwrap().iter().all(|s| s["state"] != "writing"));
    // Section changes are allowed again once the job is over; the rest waits for the budget.
    let uid = app.user_id(token).await;
    let raised = app
        .put_bearer(
            &format!("/api/v1/admin/budgets/users/{uid}"),
            &admin.access,
            &json!({"limit_usd": 5.0, "period": "daily", "reason": "finish the RFC"}),
        )
        .await;
    expect_status(raised, StatusCode::OK).await;
    let resumed = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    let job_id =
        expect_status(resumed, StatusCode::ACCEPTED).await["draft_job_id"].as_i64().unwrap();
    job_ends(app, token, job_id, &["succeeded"]).await;
    let r = rfc(app, token, id).await;
    let sections = r["sections"].as_array().unwrap();
    assert_eq!(sections.len(), total);
    assert!(sections.iter().all(|s| s["state"] == "done"), "{sections:?}");
    for k in &kept {
        let same = sections.iter().find(|s| s["id"] == k["id"]).unwrap();
        assert_eq!(
            (&same["body"], &same["updated_at"]),
            (&k["body"], &k["updated_at"]),
            "kept sections are not written again"
        );
    }
    ledger_matches_rfc(app, token, id).await;
}

/// Questions: a reply that cannot be read twice gives the template's questions with a notice;
/// rounds stop at three; a cancelled draft job ends drafting and drafting again resumes.
#[tokio::test]
async fn unusable_questions_fall_back_and_a_cancelled_draft_can_be_resumed() {
    let script = Script {
        malformed_questions: 2,
        chunk_delay: Duration::from_millis(400),
        section_tokens: 50,
        ..Script::default()
    };
    let app = sqlite_app(script, 10.0).await;
    let app = &app;
    let member = app.register(&email("rfc-model")).await;
    let token = member.access.as_str();
    let created = app.post_bearer("/api/v1/rfcs", token, &wizard()).await;
    let created = expect_status(created, StatusCode::CREATED).await;
    let id = created["summary"]["id"].as_i64().unwrap();
    assert!(created["notice"].as_str().unwrap().contains("template's questions"), "{created}");
    let qs = created["questions"].as_array().unwrap();
    assert!(!qs.is_empty() && qs.iter().all(|q| q["origin"] == "template"));
    assert!(!created["readiness"].as_array().unwrap().is_empty(), "nothing answered yet");

    // The next rounds come from the model (it answers JSON from the third call on).
    let round = app.post_bearer(&format!("/api/v1/rfcs/{id}/questions"), token, &json!({})).await;
    let round = expect_status(round, StatusCode::OK).await;
    assert_eq!(round["question_rounds"], 2);
    assert!(round.get("notice").is_none(), "{round}");
    let model_qs: Vec<&Value> =
        round["questions"].as_array().unwrap().iter().filter(|q| q["round"] == 2).collect();
    assert_eq!(model_qs.len(), 4);
    assert!(model_qs.iter().all(|q| q["origin"] == "model"));
    let third = app.post_bearer(&format!("/api/v1/rfcs/{id}/questions"), token, &json!({})).await;
    let third = expect_status(third, StatusCode::OK).await;
    assert_eq!(third["question_rounds"], 3);
    assert_eq!(
        third["questions"].as_array().unwrap().len(),
        qs.len() + 4,
        "the model asked the same questions again; none are added: {third}"
    );
    assert!(third["notice"].as_str().is_some());
    let fourth = app.post_bearer(&format!("/api/v1/rfcs/{id}/questions"), token, &json!({})).await;
    expect_error(fourth, StatusCode::CONFLICT, "conflict").await;

    // Cancel the draft job while a section streams (slowly), then resume.
    let mut socket = connect(app.port, token, None).await;
    expect_hello(&mut socket).await;
    let started = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    let job_id =
        expect_status(started, StatusCode::ACCEPTED).await["draft_job_id"].as_i64().unwrap();
    draft_events(&mut socket, |d| d.state == SectionState::Writing).await;
    let edit = app
        .put_bearer(&format!("/api/v1/rfcs/{id}/sections/1"), token, &json!({"body": "mine"}))
        .await;
    assert_eq!(edit.status(), StatusCode::CONFLICT, "no edits while the job writes");
    let cancel = app.post_bearer(&format!("/api/v1/jobs/{job_id}/cancel"), token, &json!({})).await;
    assert!(cancel.status().is_success(), "{}", cancel.status());
    job_ends(app, token, job_id, &["cancelled"]).await;
    let r = eventually(Duration::from_secs(10), "drafting to end", || async {
        let r = rfc(app, token, id).await;
        (r["summary"]["status"] == "draft").then_some(r)
    })
    .await;
    let sections = r["sections"].as_array().unwrap();
    assert!(sections.iter().any(|s| s["state"] != "done"), "cancelled before the end");
    assert!(sections.iter().all(|s| s["state"] != "writing"), "{sections:?}");
    let resumed = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    let job_id =
        expect_status(resumed, StatusCode::ACCEPTED).await["draft_job_id"].as_i64().unwrap();
    job_ends(app, token, job_id, &["succeeded"]).await;
    let r = rfc(app, token, id).await;
    // No source was found for this RFC: sections that need facts are open questions.
    let reference = r["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["template_key"] == "reference")
        .unwrap();
    assert_eq!(reference["provenance"], "template", "{reference}");
    assert!(reference["body"].as_str().unwrap().starts_with("_No source"), "{reference}");
    assert!(r["sections"].as_array().unwrap().iter().all(|s| s["state"] == "done"));
    ledger_matches_rfc(app, token, id).await;
}
