//! Uploads built to hurt the server: a PDF whose form draws itself (unbounded recursion, which
//! once aborted the whole process), a PDF of compressed zeros (gigabytes when inflated), a fan-out
//! of forms drawing forms (2^n operations from a few kilobytes). Each is refused with a 422 naming
//! `file` and the limit it hit, nothing is stored, and the server keeps serving — the same file
//! uploaded by several users at once included.

use crate::helpers::{TestApp, email, expect_status, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;

/// A PDF from object bodies (numbered from 1; object 1 is the catalog), with a correct xref.
fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\nendstream");
    body
}

const FONT: &str = "/Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >>";

/// Catalog, pages, one page whose content stream (object 4) is `content` and whose resources are
/// `resources`; `more` are objects 5, 6 …
fn one_page(resources: &str, content: Vec<u8>, more: Vec<Vec<u8>>) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << {resources} >> \
             /Contents 4 0 R >>"
        )
        .into_bytes(),
        content,
    ];
    objects.extend(more);
    pdf(&objects)
}

/// A form XObject (object 5) that draws itself: unbounded recursion in a naive reader.
fn self_drawing_form() -> Vec<u8> {
    let form = stream(
        &format!(
            "/Type /XObject /Subtype /Form /BBox [0 0 100 100] /Resources << /XObject << /X1 5 0 R >> {FONT} >>"
        ),
        b"BT /F1 12 Tf 10 10 Td (loop) Tj ET /X1 Do",
    );
    one_page(&format!("/XObject << /X1 5 0 R >> {FONT}"), stream("", b"/X1 Do"), vec![form])
}

/// Forms 5..5+levels, each drawing the next one twice: 2^levels draws of a line of text.
fn fan_out(levels: usize) -> Vec<u8> {
    let mut more = Vec::new();
    for i in 0..levels {
        let obj = 5 + i;
        let (resources, content) = if i + 1 == levels {
            (FONT.to_string(), b"BT /F1 12 Tf 10 10 Td (leaf text) Tj ET".to_vec())
        } else {
            (format!("/XObject << /N {} 0 R >> {FONT}", obj + 1), b"/N Do /N Do".to_vec())
        };
        more.push(stream(
            &format!(
                "/Type /XObject /Subtype /Form /BBox [0 0 100 100] /Resources << {resources} >>"
            ),
            &content,
        ));
    }
    one_page(&format!("/XObject << /N 5 0 R >> {FONT}"), stream("", b"/N Do"), more)
}

/// A page whose content stream inflates from a few hundred KiB to `inflated` bytes of zeros.
fn deflate_bomb(inflated: usize) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(zeros.len());
        encoder.write_all(&zeros[..n]).unwrap();
        left -= n;
    }
    let data = encoder.finish().unwrap();
    one_page(FONT, stream("/Filter /FlateDecode", &data), Vec::new())
}

async fn files_source(app: &TestApp, token: &str) -> i64 {
    let form = json!({ "name": "Uploads", "kind": "files", "config": {}, "secret": null,
                       "visibility": "owner", "members": [], "schedule": null, "enabled": true });
    let res = app.post_bearer("/api/v1/sources", token, &form).await;
    expect_status(res, StatusCode::CREATED).await["id"].as_i64().unwrap()
}

async fn upload(
    app: &TestApp,
    token: &str,
    source: i64,
    name: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let res = crate::knowledge::upload(app, token, source, name, bytes).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The refusal's rule for `file`, after checking it is a 422 naming the file.
fn refused_rule(status: StatusCode, body: &Value, name: &str) -> String {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "body: {body}");
    let e = &body["error"]["errors"][0];
    assert_eq!(e["field"], "file", "body: {body}");
    assert!(e["message"].as_str().unwrap_or_default().contains(name), "names the file: {body}");
    e["rule"].as_str().unwrap_or_default().to_string()
}

async fn stored_files(app: &TestApp, token: &str, source: i64) -> usize {
    let res = app.get_bearer(&format!("/api/v1/sources/{source}/files"), token).await;
    expect_status(res, StatusCode::OK).await.as_array().map_or(0, Vec::len)
}

async fn still_serving(app: &TestApp, token: &str) {
    let res = app.me(token).await;
    assert_eq!(res.status(), StatusCode::OK, "the server still answers");
}

async fn hostile_app() -> TestApp {
    spawn_app_with(|s| {
        // Tight limits keep the test short; the defaults are larger.
        s.knowledge.extract_memory_mib = 512;
        s.knowledge.extract_cpu_secs = 3;
        s.knowledge.extract_timeout_secs = 10;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_whose_form_draws_itself_is_refused_and_the_server_lives() {
    let app = hostile_app().await;
    let user = app.register(&email("pdf")).await.access;
    let source = files_source(&app, &user).await;
    let bomb = self_drawing_form();
    assert!(bomb.len() < 1024, "a small file: {} bytes", bomb.len());

    // Several at once: each worker dies alone.
    let uploads = (0..4).map(|i| {
        let (app, user, bomb) = (&app, &user, &bomb);
        async move { upload(app, user, source, &format!("loop-{i}.pdf"), bomb).await }
    });
    for (i, (status, body)) in futures::future::join_all(uploads).await.into_iter().enumerate() {
        let rule = refused_rule(status, &body, &format!("loop-{i}.pdf"));
        assert!(
            ["malformed", "time_limit", "memory_limit"].contains(&rule.as_str()),
            "refused by a limit, got {rule}: {body}"
        );
    }
    still_serving(&app, &user).await;
    assert_eq!(stored_files(&app, &user, source).await, 0, "nothing half-stored");

    // A good file after the bad ones goes through.
    let good = b"# Runbook\n\nRestart the ingestion service with care.\n";
    let (status, body) = upload(&app, &user, source, "runbook.md", good).await;
    assert_eq!(status, StatusCode::CREATED, "body: {body}");
    assert_eq!(stored_files(&app, &user, source).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_of_compressed_zeros_hits_the_memory_limit() {
    let app = hostile_app().await;
    let user = app.register(&email("zeros")).await.access;
    let source = files_source(&app, &user).await;
    let bomb = deflate_bomb(1536 * 1024 * 1024);
    assert!(bomb.len() < 2 * 1024 * 1024, "compressed to {} bytes", bomb.len());
    let (status, body) = upload(&app, &user, source, "zeros.pdf", &bomb).await;
    let rule = refused_rule(status, &body, "zeros.pdf");
    assert_eq!(rule, "memory_limit", "body: {body}");
    assert!(body.to_string().contains("512 MiB"), "names the limit: {body}");
    still_serving(&app, &user).await;
    assert_eq!(stored_files(&app, &user, source).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_of_forms_hits_the_time_limit() {
    let app = hostile_app().await;
    let user = app.register(&email("fan")).await.access;
    let source = files_source(&app, &user).await;
    let bomb = fan_out(40);
    assert!(bomb.len() < 16 * 1024, "a small file: {} bytes", bomb.len());
    let (status, body) = upload(&app, &user, source, "fan.pdf", &bomb).await;
    let rule = refused_rule(status, &body, "fan.pdf");
    assert_eq!(rule, "time_limit", "body: {body}");
    still_serving(&app, &user).await;
    assert_eq!(stored_files(&app, &user, source).await, 0);
}
