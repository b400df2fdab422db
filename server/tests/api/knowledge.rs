//! Knowledge over HTTP against a spawned application whose job workers run the syncs in
//! process: file sources (upload, sync, search with highlights, download, refused uploads),
//! who sees what (search and its cache, more-like-this, sources, runs, files), admin analytics,
//! search input rules, and a Confluence source against a local server speaking Confluence
//! Cloud's REST API (test, first sync over two result pages, incremental sync with pruning,
//! a failed page resumed from the checkpoint), and an index change reaching a second instance
//! through Redis. The main flows run on SQLite and on PostgreSQL (`knowledge::sqlite::…`,
//! `knowledge::postgres::…`).

use crate::helpers::{TestApp, email, expect_error, expect_status, spawn_app_with};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use server::config::Settings;
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const RUNBOOK_PDF: &[u8] = include_bytes!("../../../extract/testdata/runbook.pdf");
const ONBOARDING_DOCX: &[u8] = include_bytes!("../../../extract/testdata/onboarding.docx");
const PNG_AS_PDF: &[u8] = include_bytes!("../../../extract/testdata/screenshot-renamed.pdf");

/// A Markdown file with a phrase found nowhere else.
const NOTES_MD: &str = "# Lab notes\n\n## Calibration\n\nThe zebrafish protocol requires \
                        calibrated pipettes before every run.\n\n```sh\nmake calibrate\n```\n";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Polls `check` every 100 ms until it returns `Some`, failing the test after `limit`.
pub(crate) async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A multipart body with one part named `file`; returns the content type and the body.
fn multipart(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("bp-test-{}", uuid::Uuid::new_v4().simple());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
         filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads one file to a files source as a browser's form would.
pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    source_id: i64,
    name: &str,
    bytes: &[u8],
) -> Response {
    upload_at(&app.api, &app.address, token, source_id, name, bytes).await
}

/// [`upload`] to the instance at `address`.
async fn upload_at(
    client: &reqwest::Client,
    address: &str,
    token: &str,
    source_id: i64,
    name: &str,
    bytes: &[u8],
) -> Response {
    let (content_type, body) = multipart(name, bytes);
    client
        .post(format!("{address}/api/v1/sources/{source_id}/files"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request")
}

fn source_form(name: &str, visibility: &str, members: &[&str]) -> Value {
    json!({ "name": name, "kind": "files", "config": {}, "secret": null,
            "visibility": visibility, "members": members, "schedule": null, "enabled": true })
}

pub(crate) async fn create_files_source(app: &TestApp, token: &str, name: &str) -> i64 {
    let res = app.post_bearer("/api/v1/sources", token, &source_form(name, "owner", &[])).await;
    let body = expect_status(res, StatusCode::CREATED).await;
    assert_eq!(
        (body["kind"].as_str(), body["visibility"].as_str()),
        (Some("files"), Some("owner"))
    );
    assert_eq!(body["can_manage"], true);
    body["id"].as_i64().expect("source id")
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    expect_status(app.get_bearer(path, token).await, StatusCode::OK).await
}

/// Waits (≤ `limit`) until the source has `runs` runs, none running, and `documents` documents;
/// fails at once on a failed run. Returns the runs, newest first.
pub(crate) async fn wait_for_runs(
    app: &TestApp,
    token: &str,
    source_id: i64,
    runs: usize,
    documents: i64,
    limit: Duration,
) -> Vec<Value> {
    eventually(limit, &format!("{runs} finished runs of source {source_id}"), || async move {
        let list = get_json(app, token, &format!("/api/v1/sources/{source_id}/runs")).await;
        let list = list.as_array().expect("runs").clone();
        if let Some(bad) = list.iter().find(|r| r["status"] == "failed") {
            panic!("a sync failed: {bad}");
        }
        let source = get_json(app, token, &format!("/api/v1/sources/{source_id}")).await;
        let done = list.len() == runs && list.iter().all(|r| r["status"] != "running");
        (done && source["documents"] == documents).then_some(list)
    })
    .await
}

/// `GET /api/v1/search` with these query parameters, unchecked.
async fn search_raw(app: &TestApp, token: &str, params: &[(&str, &str)]) -> Response {
    app.api
        .get(app.url("/api/v1/search"))
        .bearer_auth(token)
        .query(params)
        .send()
        .await
        .expect("request")
}

/// A search that must succeed; `searches` counts the searches recorded for analytics.
async fn search(app: &TestApp, token: &str, q: &str, searches: &Cell<i64>) -> Value {
    searches.set(searches.get() + 1);
    expect_status(search_raw(app, token, &[("q", q)]).await, StatusCode::OK).await
}

/// Searches (≤ 20 s) until `done` holds for the answer; the index is kept current in the
/// background, so a fresh document shows up shortly after its sync.
async fn search_until(
    app: &TestApp,
    token: &str,
    q: &str,
    searches: &Cell<i64>,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let res = search(app, token, q, searches).await;
        if done(&res) {
            return res;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{what} for {q:?}; last: {res}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Searches until `title` ranks first.
async fn search_top(
    app: &TestApp,
    token: &str,
    q: &str,
    title: &str,
    searches: &Cell<i64>,
) -> Value {
    let what = format!("expected {title:?} first");
    search_until(app, token, q, searches, &what, |res| {
        titles(res).first().map(String::as_str) == Some(title)
    })
    .await
}

/// Searches until `title` is no longer among the results.
async fn search_without(
    app: &TestApp,
    token: &str,
    q: &str,
    title: &str,
    searches: &Cell<i64>,
) -> Value {
    let what = format!("expected {title:?} gone");
    search_until(app, token, q, searches, &what, |res| !titles(res).iter().any(|t| t == title))
        .await
}

fn titles(res: &Value) -> Vec<String> {
    res["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The highlighted parts of a hit's snippet, lower-cased.
fn highlighted(hit: &Value) -> Vec<String> {
    hit["snippet"]
        .as_array()
        .expect("snippet")
        .iter()
        .filter(|p| p["hit"] == true)
        .map(|p| p["text"].as_str().unwrap_or_default().to_lowercase())
        .collect()
}

async fn assert_validation(res: Response, field: &str, rule: &str) {
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], field, "{err}");
    assert_eq!(err["errors"][0]["rule"], rule, "{err}");
}

/// An admin (the first account) and two ordinary users, with access tokens.
async fn admin_and_two_users(app: &TestApp) -> (String, (String, String), (String, String)) {
    let admin = app.register(&email("admin")).await.access;
    let (a, b) = (email("ann"), email("bob"));
    let a_token = app.register(&a).await.access;
    let b_token = app.register(&b).await.access;
    (admin, (a, a_token), (b, b_token))
}

// ---------------------------------------------------------------------------------------------
// File sources

pub(crate) async fn uploaded_files_are_synced_found_with_highlights_and_downloaded(app: TestApp) {
    let app = &app;
    let (_admin, _, (_, user)) = admin_and_two_users(app).await;
    let searches = Cell::new(0);
    let source = create_files_source(app, &user, "Lab notebook").await;

    let uploads: [(&str, &[u8]); 3] = [
        ("lab-notes.md", NOTES_MD.as_bytes()),
        ("runbook.pdf", RUNBOOK_PDF),
        ("onboarding.docx", ONBOARDING_DOCX),
    ];
    let mut files = Vec::new();
    for (i, (name, bytes)) in uploads.iter().enumerate() {
        let file =
            expect_status(upload(app, &user, source, name, bytes).await, StatusCode::CREATED).await;
        assert_eq!(
            (file["name"].as_str(), file["source_id"].as_i64()),
            (Some(*name), Some(source))
        );
        assert_eq!(file["size"].as_i64(), Some(bytes.len() as i64));
        files.push(file);
        let n = i + 1;
        let runs = wait_for_runs(app, &user, source, n, n as i64, Duration::from_secs(20)).await;
        let last = &runs[0];
        assert_eq!(
            (last["status"].as_str(), last["trigger"].as_str()),
            (Some("succeeded"), Some("upload"))
        );
        assert_eq!(last["counts"]["added"], 1, "only the new file is indexed: {last}");
        assert_eq!(last["counts"]["unchanged"], i as i64, "earlier files are skipped: {last}");
        assert_eq!(last["counts"]["errors"], 0, "{last}");
    }
    let formats: Vec<&str> = files.iter().map(|f| f["format"].as_str().unwrap_or("")).collect();
    assert_eq!(formats, ["markdown", "pdf", "docx"], "formats are sniffed from the content");
    let listed = get_json(app, &user, &format!("/api/v1/sources/{source}/files")).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    let s = get_json(app, &user, &format!("/api/v1/sources/{source}")).await;
    assert_eq!(s["documents"], 3);
    assert!(s["chunks"].as_i64().unwrap() >= 3, "{s}");
    assert_eq!(s["last_status"], "succeeded");

    let res = search_top(app, &user, "zebrafish protocol", "Lab notes", &searches).await;
    let hit = &res["hits"][0];
    assert_eq!(hit["source_id"].as_i64(), Some(source));
    assert_eq!(
        (hit["source_kind"].as_str(), hit["doc_type"].as_str()),
        (Some("files"), Some("file"))
    );
    assert_eq!(hit["title"], "Lab notes", "the first heading names a Markdown file");
    let marked = highlighted(hit);
    assert!(marked.iter().any(|t| t.contains("zebrafish")), "no highlighted hit: {hit}");
    assert!(res["query_id"].as_i64().is_some());
    let url = hit["url"].as_str().expect("url");
    assert_eq!(url, format!("/api/v1/sources/{source}/files/{}", files[0]["id"]));
    let download = app.get_bearer(url, &user).await;
    assert_eq!(download.status(), StatusCode::OK);
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment") && disposition.contains("lab-notes.md"));
    assert_eq!(download.bytes().await.unwrap().as_ref(), NOTES_MD.as_bytes());

    // Files are told apart by their download URL: a PDF's title may be its file name.
    let file_url = |i: usize| format!("/api/v1/sources/{source}/files/{}", files[i]["id"]);
    let top_is = |url: String| move |res: &Value| res["hits"][0]["url"] == url.as_str();
    let q = "billing service deployed Tuesday";
    let res = search_until(app, &user, q, &searches, "the PDF first", top_is(file_url(1))).await;
    let hit = &res["hits"][0];
    assert!(hit["labels"].as_array().unwrap().contains(&json!("format:pdf")), "{hit}");
    assert!(highlighted(hit).iter().any(|t| t.contains("billing")), "{hit}");
    let download = app.get_bearer(hit["url"].as_str().unwrap(), &user).await;
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert_eq!(download.bytes().await.unwrap().as_ref(), RUNBOOK_PDF);

    let q = "toolchain rustup";
    let res = search_until(app, &user, q, &searches, "the DOCX first", top_is(file_url(2))).await;
    assert!(res["hits"][0]["labels"].as_array().unwrap().contains(&json!("format:docx")));
    let download = app.get_bearer(res["hits"][0]["url"].as_str().unwrap(), &user).await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), ONBOARDING_DOCX);

    // A deleted file leaves the index after the sync its deletion starts.
    let id = files[0]["id"].as_i64().unwrap();
    let res = app.delete_bearer(&format!("/api/v1/sources/{source}/files/{id}"), &user).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let runs = wait_for_runs(app, &user, source, 4, 2, Duration::from_secs(20)).await;
    assert_eq!(runs[0]["counts"]["deleted"], 1, "{}", runs[0]);
    search_without(app, &user, "zebrafish protocol", "Lab notes", &searches).await;
    let gone = app.get_bearer(url, &user).await;
    expect_error(gone, StatusCode::NOT_FOUND, "not_found").await;
}

/// A folder dropped on the page is one sync (or two, if the burst straddles a window's end), not
/// one per file. The window is an hour here so the count cannot depend on the machine's speed.
#[tokio::test]
async fn a_burst_of_uploads_is_one_sync() {
    let app = spawn_app_with(|s: &mut Settings| s.knowledge.upload_sync_delay_ms = 3_600_000).await;
    let app = &app;
    let (_admin, _, (_, user)) = admin_and_two_users(app).await;
    let source = create_files_source(app, &user, "Dropped folder").await;
    for i in 0..12 {
        let text = format!("# Note {i}\n\nThe {i}th note of the burst.\n");
        expect_status(
            upload(app, &user, source, &format!("note-{i}.md"), text.as_bytes()).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let filter = domain::store::JobFilter {
        kind: Some(domain::service::sync::SYNC_SOURCE.to_string()),
        ..Default::default()
    };
    let (jobs, total) = app.state.store.list_jobs(&filter, 100, 0).await.expect("jobs");
    assert!((1..=2).contains(&total), "12 uploads queued {total} syncs: {jobs:?}");
    // Each waits for its window to close, so it sees every file uploaded in it.
    assert!(jobs.iter().all(|j| j.run_after > j.created_at), "{jobs:?}");
    let files = get_json(app, &user, &format!("/api/v1/sources/{source}/files")).await;
    assert_eq!(files.as_array().map(Vec::len), Some(12));
}

#[tokio::test]
async fn refused_uploads_name_the_file_and_store_nothing() {
    let app = spawn_app_with(|s: &mut Settings| s.knowledge.max_upload_bytes = 8192).await;
    let (_admin, _, (_, user)) = admin_and_two_users(&app).await;
    let source = create_files_source(&app, &user, "Scans").await;
    assert!(RUNBOOK_PDF.len() > 8192, "the truncated PDF below must be a real cut");

    let long_md = format!("# Big\n\n{}", "All work and no play. ".repeat(600));
    let cases: [(&str, &[u8], &str); 4] = [
        ("screenshot.pdf", PNG_AS_PDF, "type"),
        ("empty.md", b"", "empty"),
        ("big.md", long_md.as_bytes(), "max_size"),
        ("runbook.pdf", &RUNBOOK_PDF[..6000], "malformed"),
    ];
    for (name, bytes, rule) in cases {
        let res = upload(&app, &user, source, name, bytes).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name} must be refused");
        assert_validation(res, "file", rule).await;
        let files = get_json(&app, &user, &format!("/api/v1/sources/{source}/files")).await;
        assert_eq!(files, json!([]), "nothing is stored after {name}");
    }
    // Far beyond the limit, past the upload route's body limit (limit + 64 KiB for the
    // multipart framing): refused before the handler reads it, like any oversized body.
    let huge = vec![b'a'; 512 * 1024];
    let res = upload(&app, &user, source, "huge.txt", &huge).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "payload_too_large",
        "a JSON error, like every route: {body}"
    );
    let files = get_json(&app, &user, &format!("/api/v1/sources/{source}/files")).await;
    assert_eq!(files, json!([]));
    let runs = get_json(&app, &user, &format!("/api/v1/sources/{source}/runs")).await;
    assert_eq!(runs, json!([]), "a refused upload starts no sync");

    // A part with another name is not a file.
    let (content_type, body) = multipart("notes.md", NOTES_MD.as_bytes());
    let body = String::from_utf8(body).unwrap().replace("name=\"file\"", "name=\"attachment\"");
    let res = app
        .api
        .post(app.url(&format!("/api/v1/sources/{source}/files")))
        .bearer_auth(&user)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_validation(res, "file", "required").await;

    // The whole runbook (12.9 kB) is over the limit too; a small file is accepted.
    let whole = upload(&app, &user, source, "runbook.pdf", RUNBOOK_PDF).await;
    assert_validation(whole, "file", "max_size").await;
    let ok = upload(&app, &user, source, "notes.md", NOTES_MD.as_bytes()).await;
    expect_status(ok, StatusCode::CREATED).await;
    let files = get_json(&app, &user, &format!("/api/v1/sources/{source}/files")).await;
    assert_eq!(files.as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Visibility and analytics

pub(crate) async fn owner_only_sources_stay_invisible_until_shared_with_members(app: TestApp) {
    let app = &app;
    let (admin, (_, ann), (bob_email, bob)) = admin_and_two_users(app).await;
    let searches = Cell::new(0);
    let source = create_files_source(app, &ann, "Ann's private notes").await;
    let file = expect_status(
        upload(app, &ann, source, "lab-notes.md", NOTES_MD.as_bytes()).await,
        StatusCode::CREATED,
    )
    .await;
    wait_for_runs(app, &ann, source, 1, 1, Duration::from_secs(20)).await;
    let q = "zebrafish protocol";
    let found = search_top(app, &ann, q, "Lab notes", &searches).await;
    let doc = found["hits"][0]["document_id"].as_i64().unwrap();
    let again = search(app, &ann, q, &searches).await;
    assert_eq!((again["cached"].as_bool(), again["total"].as_i64()), (Some(true), Some(1)));
    let similar = get_json(app, &ann, &format!("/api/v1/documents/{doc}/similar")).await;
    assert!(similar["hits"].as_array().is_some(), "the owner may ask for similar documents");

    // Bob: not in search (also not from the cache, nor by naming the source), nor any path.
    for _ in 0..2 {
        let res = search(app, &bob, q, &searches).await;
        assert_eq!(
            (res["total"].as_i64(), res["hits"].as_array().map(Vec::len)),
            (Some(0), Some(0))
        );
    }
    let named = search_raw(app, &bob, &[("q", q), ("source", &source.to_string())]).await;
    searches.set(searches.get() + 1);
    assert_eq!(expect_status(named, StatusCode::OK).await["total"], 0);
    let file_url = format!("/api/v1/sources/{source}/files/{}", file["id"]);
    for path in [
        format!("/api/v1/documents/{doc}/similar"),
        format!("/api/v1/sources/{source}"),
        format!("/api/v1/sources/{source}/runs"),
        format!("/api/v1/sources/{source}/files"),
        file_url.clone(),
    ] {
        let res = app.get_bearer(&path, &bob).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let listed = get_json(app, &bob, "/api/v1/sources").await;
    assert!(listed.as_array().unwrap().iter().all(|s| s["id"] != source), "{listed}");
    let res = app.post_bearer(&format!("/api/v1/sources/{source}/sync"), &bob, &json!({})).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.delete_bearer(&format!("/api/v1/sources/{source}"), &bob).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let upload_res = upload(app, &bob, source, "mine.md", b"# Mine\n\nsneaky").await;
    expect_error(upload_res, StatusCode::NOT_FOUND, "not_found").await;

    // Rules for non-admins.
    let res = app
        .put_bearer(
            &format!("/api/v1/sources/{source}"),
            &ann,
            &source_form("Ann's private notes", "everyone", &[]),
        )
        .await;
    assert_validation(res, "visibility", "admin_only").await;
    let confluence = json!({ "name": "Wiki", "kind": "confluence",
        "config": { "base_url": "http://127.0.0.1:9", "deployment": "cloud", "spaces": ["ENG"],
                    "email": "bot@example.com" },
        "secret": "token-123", "visibility": "owner", "members": [], "schedule": null,
        "enabled": true });
    let res = app.post_bearer("/api/v1/sources", &ann, &confluence).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Shared with Bob as a member: he finds it and may read, but not manage it.
    let res = app
        .put_bearer(
            &format!("/api/v1/sources/{source}"),
            &ann,
            &source_form("Ann's private notes", "members", &[&bob_email]),
        )
        .await;
    let updated = expect_status(res, StatusCode::OK).await;
    assert_eq!(updated["members"], json!([bob_email]));
    let res = search(app, &bob, q, &searches).await;
    assert_eq!(res["total"], 1, "{res}");
    assert_eq!(res["hits"][0]["document_id"].as_i64(), Some(doc));
    let seen = get_json(app, &bob, &format!("/api/v1/sources/{source}")).await;
    assert_eq!(seen["can_manage"], false);
    let download = app.get_bearer(&file_url, &bob).await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await.unwrap().as_ref(), NOTES_MD.as_bytes());
    expect_status(
        app.get_bearer(&format!("/api/v1/documents/{doc}/similar"), &bob).await,
        StatusCode::OK,
    )
    .await;
    let res = app.post_bearer(&format!("/api/v1/sources/{source}/sync"), &bob, &json!({})).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Analytics: admins only, every recorded search counted.
    let res = app.get_bearer("/api/v1/admin/search/analytics", &bob).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let stats = get_json(app, &admin, "/api/v1/admin/search/analytics").await;
    assert_eq!(stats["queries"].as_i64(), Some(searches.get()), "{stats}");
    let (p50, p95) =
        (stats["latency_p50_ms"].as_f64().unwrap(), stats["latency_p95_ms"].as_f64().unwrap());
    assert!(p50 > 0.0 && p95 >= p50, "p50 {p50} p95 {p95}");
    let volume: i64 =
        stats["volume"].as_array().unwrap().iter().map(|d| d[1].as_i64().unwrap()).sum();
    assert_eq!(volume, searches.get());
    let zero = stats["top_zero_result"].as_array().unwrap();
    let zero_for_q = zero.iter().find(|z| z[0] == q).map(|z| z[1].as_i64().unwrap());
    assert!(zero_for_q.is_some_and(|n| n >= 3), "Bob's three empty searches: {stats}");
    assert!(stats["zero_result_rate"].as_f64().unwrap() > 0.0);
    let ours = stats["sources"].as_array().unwrap().iter().find(|s| s["source_id"] == source);
    assert_eq!(ours.map(|s| s["documents"].clone()), Some(json!(1)), "{stats}");
}

#[tokio::test]
async fn search_input_rules_name_the_field() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.register(&email("admin")).await.access;
    let long = "x".repeat(10_001);
    assert_validation(search_raw(&app, &user, &[("q", &long)]).await, "q", "max_length").await;
    assert_validation(
        search_raw(&app, &user, &[("q", "deploy"), ("limit", "0")]).await,
        "limit",
        "range",
    )
    .await;
    let res = app.post_bearer("/api/v1/search", &user, &json!({ "q": long })).await;
    assert_validation(res, "q", "max_length").await;
    // 10 000 characters (a pasted stack trace) are fine, and refused searches are not recorded.
    let ok = search_raw(&app, &user, &[("q", &"x".repeat(10_000))]).await;
    assert_eq!(expect_status(ok, StatusCode::OK).await["total"], 0);
    let history = get_json(&app, &user, "/api/v1/search/history").await;
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    let res = app.get_bearer("/api/v1/search?q=a", "not-a-token").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// Confluence

const SECRET: &str = "token-123";
const BOT: &str = "bot@example.com";

#[derive(Clone)]
struct Page {
    id: &'static str,
    title: &'static str,
    body: &'static str,
}

const PAGES: [Page; 3] = [
    Page {
        id: "98311",
        title: "Deploy runbook",
        body: "Blue-green deploys switch the load balancer after the smoke tests pass.",
    },
    Page {
        id: "98312",
        title: "On-call rota",
        body: "The pager rotates every Monday; escalate to the walrus desk after 15 minutes.",
    },
    Page {
        id: "98313",
        title: "Incident review",
        body: "The postmortem found that the flamingo cache expired during failover.",
    },
];

/// What the mock Confluence serves: its pages (the first two on result page one, the rest on
/// result page two) and whether result page two answers 500.
struct Wiki {
    base: String,
    pages: Mutex<Vec<Page>>,
    broken: AtomicBool,
}

fn page_json(base: &str, p: &Page) -> Value {
    let slug = p.title.replace(' ', "+");
    json!({
        "id": p.id, "type": "page", "status": "current", "title": p.title,
        "space": { "id": 98305, "key": "ENG", "name": "Engineering", "type": "global",
                   "status": "current", "_links": { "webui": "/spaces/ENG" } },
        "history": { "latest": true, "createdDate": "2026-01-10T09:00:00.000Z",
                     "createdBy": { "type": "known", "accountId": "557058:f3c1e0a2",
                                    "displayName": "Ada Lovelace" } },
        "version": { "by": { "type": "known", "accountId": "557058:aa02",
                             "displayName": "Grace Hopper" },
                     "when": "2026-11-21T10:15:30.000Z", "number": 7, "minorEdit": false },
        "body": { "storage": { "value": format!("<h2>{}</h2><p>{}</p>", p.title, p.body),
                               "representation": "storage", "embeddedContent": [] } },
        "metadata": { "labels": { "results": [{ "prefix": "global", "name": "runbook",
                                                "id": "1001", "label": "runbook" }],
                                  "start": 0, "limit": 200, "size": 1 } },
        "_links": { "webui": format!("/spaces/ENG/pages/{}/{slug}", p.id),
                    "self": format!("{base}/rest/api/content/{}", p.id), "tinyui": "/x/J4AB" }
    })
}

fn results(base: &str, results: Vec<Value>, next: Option<String>, total: Option<usize>) -> Value {
    let mut links = json!({ "base": base, "context": "/wiki",
                            "self": format!("{base}/rest/api/content/search") });
    if let Some(next) = next {
        links["next"] = json!(next);
    }
    let mut body = json!({ "results": results, "start": 0, "limit": 25, "size": results.len(),
                           "searchDuration": 42, "_links": links });
    if let Some(total) = total {
        body["totalSize"] = json!(total);
    }
    body
}

impl Respond for Wiki {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{BOT}:{SECRET}"));
        let auth = req.headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(format!("Basic {basic}").as_str()) {
            return ResponseTemplate::new(401)
                .set_body_json(json!({ "message": "Client must be authenticated" }));
        }
        let param = |name: &str| {
            req.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
        };
        match req.url.path() {
            "/wiki/rest/api/space" if param("spaceKey").as_deref() == Some("ENG") => {
                ResponseTemplate::new(200).set_body_json(json!({
                    "results": [{ "id": 98305, "key": "ENG", "name": "Engineering",
                                  "type": "global", "status": "current" }],
                    "start": 0, "limit": 1, "size": 1, "_links": { "base": self.base }
                }))
            }
            "/wiki/rest/api/content/search" => {
                let pages = self.pages.lock().unwrap().clone();
                let base = &self.base;
                if param("expand").is_none() && param("cursor").is_none() {
                    // Listing ids for pruning.
                    let ids = pages
                        .iter()
                        .map(|p| json!({ "id": p.id, "type": "page", "title": p.title }))
                        .collect();
                    return ResponseTemplate::new(200)
                        .set_body_json(results(base, ids, None, None));
                }
                match param("cursor").as_deref() {
                    None => {
                        let first = pages.iter().take(2).map(|p| page_json(base, p)).collect();
                        let next = (pages.len() > 2).then(|| {
                            "/rest/api/content/search?next=true&cursor=c2&limit=25&start=2"
                                .to_string()
                        });
                        ResponseTemplate::new(200).set_body_json(results(
                            base,
                            first,
                            next,
                            Some(pages.len()),
                        ))
                    }
                    Some("c2") if self.broken.load(Ordering::SeqCst) => ResponseTemplate::new(500)
                        .set_body_json(json!({ "message": "Internal server error" })),
                    Some("c2") => {
                        let rest = pages.iter().skip(2).map(|p| page_json(base, p)).collect();
                        ResponseTemplate::new(200).set_body_json(results(base, rest, None, None))
                    }
                    Some(_) => ResponseTemplate::new(400),
                }
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

/// A mock Confluence Cloud site at `<server>/wiki`.
async fn confluence(broken: bool) -> (MockServer, Arc<Wiki>) {
    let server = MockServer::start().await;
    let wiki = Arc::new(Wiki {
        base: format!("{}/wiki", server.uri()),
        pages: Mutex::new(PAGES.to_vec()),
        broken: AtomicBool::new(broken),
    });
    Mock::given(any()).respond_with(SharedWiki(wiki.clone())).mount(&server).await;
    (server, wiki)
}

struct SharedWiki(Arc<Wiki>);

impl Respond for SharedWiki {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.respond(req)
    }
}

fn confluence_form(base: &str) -> Value {
    json!({ "name": "Engineering wiki", "kind": "confluence",
            "config": { "base_url": base, "deployment": "cloud", "spaces": ["ENG"], "email": BOT },
            "secret": SECRET, "visibility": "everyone", "members": [], "schedule": null,
            "enabled": true })
}

/// Requests the mock got for result page one of a sync (not the id listing).
async fn first_page_requests(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/wiki/rest/api/content/search")
        .filter(|r| {
            let q: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
            q.iter().any(|(k, _)| k == "expand") && !q.iter().any(|(k, _)| k == "cursor")
        })
        .map(|r| r.url.to_string())
        .collect()
}

pub(crate) async fn confluence_source_syncs_two_result_pages_prunes_and_never_shows_its_secret(
    app: TestApp,
) {
    let app = &app;
    let (server, wiki) = confluence(false).await;
    let admin = app.register(&email("admin")).await.access;
    let admin = admin.as_str();
    let searches = Cell::new(0);

    let tested = app.post_bearer("/api/v1/sources/test", admin, &confluence_form(&wiki.base)).await;
    let tested = expect_status(tested, StatusCode::OK).await;
    let message = tested["message"].as_str().unwrap();
    assert!(message.contains("Connected") && message.contains("ENG"), "{message}");

    let created = app.post_bearer("/api/v1/sources", admin, &confluence_form(&wiki.base)).await;
    let created = expect_status(created, StatusCode::CREATED).await;
    let source = created["id"].as_i64().unwrap();
    assert_eq!(created["has_secret"], true);
    assert!(!created.to_string().contains(SECRET), "{created}");

    let runs = wait_for_runs(app, admin, source, 1, 3, Duration::from_secs(20)).await;
    let run = &runs[0];
    assert_eq!(
        (run["status"].as_str(), run["trigger"].as_str()),
        (Some("succeeded"), Some("create"))
    );
    assert_eq!(run["counts"]["added"], 3, "{run}");
    assert_eq!(run["counts"]["processed"], 3, "{run}");
    assert_eq!(run["counts"]["total"], 3, "{run}");
    assert_eq!(first_page_requests(&server).await.len(), 1);

    let res = search_top(app, admin, "flamingo cache", "Incident review", &searches).await;
    let hit = &res["hits"][0];
    assert_eq!(hit["title"], "Incident review", "found on result page two");
    assert_eq!(hit["url"], format!("{}/spaces/ENG/pages/98313/Incident+review", wiki.base));
    assert_eq!(
        (hit["source_kind"].as_str(), hit["doc_type"].as_str()),
        (Some("confluence"), Some("page"))
    );
    assert_eq!(hit["author"], "Grace Hopper");
    assert!(hit["labels"].as_array().unwrap().contains(&json!("space:ENG")), "{hit}");
    assert!(highlighted(hit).iter().any(|t| t.contains("flamingo")), "{hit}");

    // The credential is write-only: not in listings, the audit log, or the database in clear.
    let listing = app.get_bearer("/api/v1/sources", admin).await.text().await.unwrap();
    assert!(listing.contains("Engineering wiki") && !listing.contains(SECRET), "{listing}");
    let one = app.get_bearer(&format!("/api/v1/sources/{source}"), admin).await;
    assert!(!one.text().await.unwrap().contains(SECRET));
    let audit = app.get_bearer("/api/v1/admin/audit?limit=100", admin).await.text().await.unwrap();
    assert!(audit.contains("source.create") && !audit.contains(SECRET), "{audit}");
    let stored = app.state.store.get_source(source).await.unwrap();
    assert!(stored.secret.as_deref().is_some_and(|s| !s.contains(SECRET)), "sealed at rest");

    // The on-call page disappears from the site: the next sync prunes it.
    wiki.pages.lock().unwrap().retain(|p| p.id != "98312");
    let job = app.post_bearer(&format!("/api/v1/sources/{source}/sync"), admin, &json!({})).await;
    expect_status(job, StatusCode::ACCEPTED).await;
    let runs = wait_for_runs(app, admin, source, 2, 2, Duration::from_secs(20)).await;
    let run = &runs[0];
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["counts"]["unchanged"], 2, "unchanged pages are skipped by hash: {run}");
    assert_eq!(run["counts"]["deleted"], 1, "{run}");
    assert_eq!(
        (run["counts"]["added"].as_i64(), run["counts"]["updated"].as_i64()),
        (Some(0), Some(0))
    );
    let requests = first_page_requests(&server).await;
    assert_eq!(requests.len(), 2);
    let cql = url::Url::parse(&requests[1])
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "cql")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(cql.contains("lastmodified >="), "the second sync is incremental: {cql}");
    search_without(app, admin, "walrus desk", "On-call rota", &searches).await;
    let still = search(app, admin, "flamingo cache", &searches).await;
    assert_eq!(titles(&still).first().map(String::as_str), Some("Incident review"));
    let sources = get_json(app, admin, "/api/v1/sources").await;
    assert_eq!(sources[0]["documents"], 2);
}

pub(crate) async fn confluence_sync_failing_on_page_two_resumes_from_the_checkpoint(app: TestApp) {
    let app = &app;
    let (server, wiki) = confluence(true).await;
    let admin = app.register(&email("admin")).await.access;
    let admin = admin.as_str();
    let searches = Cell::new(0);
    let created = app.post_bearer("/api/v1/sources", admin, &confluence_form(&wiki.base)).await;
    let source = expect_status(created, StatusCode::CREATED).await["id"].as_i64().unwrap();

    // Result page two answers 500 through the connector's own retries: the attempt fails,
    // keeping page one's documents, the checkpoint, and the run open for the next attempt.
    let failed = eventually(Duration::from_secs(45), "the first attempt to fail", || async move {
        let s = get_json(app, admin, &format!("/api/v1/sources/{source}")).await;
        (s["last_status"] == "failed").then_some(s)
    })
    .await;
    assert_eq!(failed["documents"], 2, "page one was stored: {failed}");
    assert!(failed["last_error"].as_str().is_some_and(|e| e.contains("500")), "{failed}");
    assert!(!failed.to_string().contains(SECRET));
    let checkpoint = app.state.store.get_source(source).await.unwrap().checkpoint;
    assert!(checkpoint.as_deref().is_some_and(|c| c.contains("cursor=c2")), "{checkpoint:?}");
    let runs = get_json(app, admin, &format!("/api/v1/sources/{source}/runs")).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
    assert_eq!(runs[0]["status"], "running", "a transient failure keeps the run for the retry");

    wiki.broken.store(false, Ordering::SeqCst);
    let runs = wait_for_runs(app, admin, source, 1, 3, Duration::from_secs(45)).await;
    let run = &runs[0];
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["added"], 3, "each page counted once: {run}");
    assert_eq!(run["counts"]["errors"], 0, "{run}");
    let log = run["log"].as_array().unwrap();
    assert!(
        log.iter().any(|l| l.as_str().unwrap().contains("resuming from the checkpoint")),
        "{run}"
    );
    assert_eq!(first_page_requests(&server).await.len(), 1, "page one is not fetched again");

    let sources = get_json(app, admin, "/api/v1/sources").await;
    assert_eq!(sources[0]["documents"], 3, "no duplicates: {sources}");
    assert_eq!(sources[0]["last_status"], "succeeded");
    let res = search_top(app, admin, "flamingo cache", "Incident review", &searches).await;
    let mut all = titles(&res);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), titles(&res).len(), "no document twice: {res}");
    let stored = app.state.store.get_source(source).await.unwrap();
    assert_eq!(stored.checkpoint, None, "success clears the checkpoint");
    assert!(stored.cursor.is_some());
}

// ---------------------------------------------------------------------------------------------
// Two instances

/// A document synced on one instance is found on another within moments: the second instance's
/// index is woken through Redis (its own poll is set to ten minutes) and applies the store's
/// index log.
#[tokio::test]
async fn an_index_change_reaches_another_instance_through_redis() {
    use crate::common::TestDb;
    use server::config::{Secret, SecretUrl};
    use server::startup::Application;

    let db = TestDb::postgres().await;
    let key = domain::secrets::SecretBox::generate_key();
    let mut addresses = Vec::new();
    for workers in [true, false] {
        let mut settings = crate::helpers::test_settings(db.url());
        settings.redis.url = Some(SecretUrl::new("redis://127.0.0.1:6379"));
        settings.secrets.key = Secret(Some(key.clone().into()));
        settings.jobs.workers = workers;
        settings.knowledge.poll_interval_ms = 600_000;
        settings.validate().unwrap();
        let app = Application::build(settings).await.unwrap();
        addresses.push(format!("http://127.0.0.1:{}", app.port()));
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        assert!(state.redis.as_ref().unwrap().wait_connected(Duration::from_secs(5)).await);
    }
    // Let both subscriptions start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let client = reqwest::Client::new();
    let register = json!({ "email": email("twin"), "password": crate::helpers::PASSWORD,
                           "display_name": "Twin" });
    let res = client
        .post(format!("{}/api/v1/auth/register", addresses[0]))
        .json(&register)
        .send()
        .await
        .unwrap();
    let token =
        expect_status(res, StatusCode::CREATED).await["access_token"].as_str().unwrap().to_string();
    let res = client
        .post(format!("{}/api/v1/sources", addresses[0]))
        .bearer_auth(&token)
        .json(&source_form("Twin notes", "owner", &[]))
        .send()
        .await
        .unwrap();
    let source = expect_status(res, StatusCode::CREATED).await["id"].as_i64().unwrap();
    // A word of its own, so no other test's cached answer (Redis is shared) can match.
    let word = format!("okapi{}", uuid::Uuid::new_v4().simple());
    let text = format!("# Twin notes\n\nThe {word} migration finished on Friday.\n");
    let res = upload_at(&client, &addresses[0], &token, source, "twin.md", text.as_bytes()).await;
    expect_status(res, StatusCode::CREATED).await;

    let started = Instant::now();
    let found = eventually(Duration::from_secs(15), "the other instance to find it", || {
        let (client, token, word, address) = (&client, &token, &word, &addresses[1]);
        async move {
            let res = client
                .get(format!("{address}/api/v1/search"))
                .bearer_auth(token)
                .query(&[("q", word.as_str())])
                .send()
                .await
                .unwrap();
            let res = expect_status(res, StatusCode::OK).await;
            (res["hits"][0]["title"] == "Twin notes").then_some(res)
        }
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(found["hits"][0]["source_id"].as_i64(), Some(source));
    assert!(
        found["hits"][0]["snippet"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["hit"] == true && p["text"].as_str().unwrap().contains(&word)),
        "{found}"
    );
}

/// An OpenAI-compatible `/v1/embeddings` that answers every input with a bag of its hashed
/// words (32 dimensions), and counts the texts it embedded.
struct HashedWords(Arc<std::sync::atomic::AtomicUsize>);

impl Respond for HashedWords {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let inputs: Vec<String> = match &body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap_or_default().into()).collect(),
            _ => Vec::new(),
        };
        self.0.fetch_add(inputs.len(), Ordering::SeqCst);
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let mut v = vec![0.0_f32; 32];
                for word in text.split_whitespace() {
                    let h = word
                        .to_lowercase()
                        .bytes()
                        .fold(7_u32, |h, b| h.wrapping_mul(31) ^ u32::from(b));
                    v[(h % 32) as usize] += 1.0;
                }
                json!({ "object": "embedding", "index": i, "embedding": v })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "data": data, "model": "words-32",
            "usage": { "prompt_tokens": inputs.len(), "total_tokens": inputs.len() }
        }))
    }
}

/// Changing `knowledge.embedder` on a filled index: the instances that start with the new
/// model keep serving the compiled-in one (vector search stays whole) while the
/// `knowledge.embed` job makes the new vectors with progress; then every instance — the one
/// that ran the job at once, another without job workers on its next look — serves the new
/// model from a rebuilt index.
#[tokio::test]
async fn a_new_embedding_model_serves_once_its_job_has_made_every_vector() {
    use crate::common::TestDb;
    use server::config::Secret;
    use server::startup::Application;

    let db = TestDb::postgres().await;
    let key = domain::secrets::SecretBox::generate_key();
    let provider = MockServer::start().await;
    let embedded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Mock::given(wiremock::matchers::path("/v1/embeddings"))
        .respond_with(HashedWords(embedded.clone()))
        .mount(&provider)
        .await;
    let start = |embedder: &str, workers: bool| {
        let mut settings = crate::helpers::test_settings(db.url());
        settings.secrets.key = Secret(Some(key.clone().into()));
        settings.jobs.workers = workers;
        settings.knowledge.poll_interval_ms = 100;
        if embedder == "openai" {
            settings.knowledge.embedder = "openai".into();
            settings.knowledge.embedder_base_url = format!("{}/v1", provider.uri());
            settings.knowledge.embedder_model = "words-32".into();
        }
        settings.validate().unwrap();
        async move {
            let app = Application::build(settings).await.unwrap();
            let address = format!("http://127.0.0.1:{}", app.port());
            tokio::spawn(app.run_until_stopped(std::future::pending()));
            address
        }
    };
    let client = reqwest::Client::new();
    let get = |address: &str, path: &str, token: &str| {
        let req = client.get(format!("{address}{path}")).bearer_auth(token.to_string());
        async move { expect_status(req.send().await.unwrap(), StatusCode::OK).await }
    };

    // Instance A, the compiled-in model: an admin's source with three documents.
    let a = start("default", true).await;
    let register = json!({ "email": email("switch"), "password": crate::helpers::PASSWORD,
                           "display_name": "Admin" });
    let res =
        client.post(format!("{a}/api/v1/auth/register")).json(&register).send().await.unwrap();
    let token =
        expect_status(res, StatusCode::CREATED).await["access_token"].as_str().unwrap().to_string();
    let res = client
        .post(format!("{a}/api/v1/sources"))
        .bearer_auth(&token)
        .json(&source_form("Runbooks", "owner", &[]))
        .send()
        .await
        .unwrap();
    let source = expect_status(res, StatusCode::CREATED).await["id"].as_i64().unwrap();
    let files = [
        ("deploy.md", "# Deploy\n\nRestart the deploy pipeline from the release page.\n"),
        ("oncall.md", "# Дежурство\n\nДежурный перезапускает конвейер развёртывания.\n"),
        ("notes.md", NOTES_MD),
    ];
    for (name, text) in files {
        let res = upload_at(&client, &a, &token, source, name, text.as_bytes()).await;
        expect_status(res, StatusCode::CREATED).await;
    }
    let stats = eventually(Duration::from_secs(30), "three documents with vectors", || {
        let get = &get;
        let (a, token) = (&a, &token);
        async move {
            let s = get(a, "/api/v1/admin/search/stats", token).await;
            (s["documents"] == 3 && s["vectors"] == s["chunks"]).then_some(s)
        }
    })
    .await;
    let static_model = stats["embedder"].as_str().unwrap().to_string();
    let chunks = stats["chunks"].as_i64().unwrap();
    assert!(stats["pending_embedder"].is_null(), "{stats}");

    // Instance B, configured for the provider's model, runs no jobs: the compiled-in model
    // serves it, whole, and the new model is pending.
    let b = start("openai", false).await;
    let stats = eventually(Duration::from_secs(30), "B's index", || {
        let get = &get;
        let (b, token) = (&b, &token);
        async move {
            let s = get(b, "/api/v1/admin/search/stats", token).await;
            (s["documents"] == 3).then_some(s)
        }
    })
    .await;
    assert_eq!(stats["embedder"], json!(static_model), "{stats}");
    assert_eq!(stats["pending_embedder"], "embeddings:words-32", "{stats}");
    assert_eq!(stats["vectors"], stats["chunks"], "vector search stays whole: {stats}");
    let hits = get(&b, "/api/v1/search?q=zebrafish%20pipettes&mode=vector", &token).await;
    assert_eq!(hits["hits"][0]["title"], "Lab notes", "{hits}");
    let jobs = get(&b, "/api/v1/admin/jobs?kind=knowledge.embed", &token).await;
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(1), "one job, queued: {jobs}");
    assert_eq!(embedded.load(Ordering::SeqCst), 0, "no vectors made without job workers");

    // Instance C, the same configuration with job workers: it runs the job and switches; B
    // follows on its next look at the store.
    let c = start("openai", true).await;
    let job = eventually(Duration::from_secs(30), "the embedding job to succeed", || {
        let get = &get;
        let (c, token) = (&c, &token);
        async move {
            let jobs = get(c, "/api/v1/admin/jobs?kind=knowledge.embed", token).await;
            let job = jobs["items"][0].clone();
            assert_ne!(job["state"], "dead", "{job}");
            (job["state"] == "succeeded").then_some(job)
        }
    })
    .await;
    assert_eq!(job["progress"]["total"].as_i64(), Some(chunks), "{job}");
    assert_eq!(job["progress"]["done"].as_i64(), Some(chunks), "{job}");
    for address in [&c, &b] {
        let stats = eventually(Duration::from_secs(30), "the new model to serve", || {
            let get = &get;
            let token = &token;
            async move {
                let s = get(address, "/api/v1/admin/search/stats", token).await;
                (s["embedder"] == "embeddings:words-32").then_some(s)
            }
        })
        .await;
        assert!(stats["pending_embedder"].is_null(), "{stats}");
        assert_eq!(
            (stats["vectors"].clone(), stats["dimensions"].clone()),
            (stats["chunks"].clone(), json!(32)),
            "{stats}"
        );
        let hits = get(address, "/api/v1/search?q=zebrafish%20pipettes&mode=vector", &token).await;
        assert_eq!(hits["hits"][0]["title"], "Lab notes", "{hits}");
    }
    // Every chunk text once, plus the queries.
    assert!(embedded.load(Ordering::SeqCst) >= chunks as usize);
}
