//! Connectors against local servers speaking Confluence's, Jira's and GitLab's REST APIs
//! (wiremock with the real response shapes), plus a raw TCP front that cuts a body short:
//! pagination, incremental filters, deletions, 401 redaction, `Retry-After`, resuming from a
//! checkpoint after a dropped connection, and the base-URL and redirect guards.

// A test fails by panicking; clippy.toml's allow-*-in-tests only covers #[test] fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::knowledge;

use base64::Engine as _;
use domain::outbound::UrlPolicy;
use knowledge::connectors::confluence::{Confluence, ConfluenceConfig, Deployment};
use knowledge::connectors::gitlab::{Gitlab, GitlabConfig};
use knowledge::connectors::http::{Auth, HttpOptions, RetryPolicy, SourceHttp, validate_base_url};
use knowledge::connectors::jira::{Jira, JiraConfig};
use knowledge::connectors::{Connector, ConnectorError, FetchRequest};
use knowledge::{Block, DocBody, FetchPage, SourceDoc};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{any, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tok-SECRET-4f9a2c77";
const EMAIL: &str = "ada@example.com";

// ---------------------------------------------------------------------------------------------
// Shared helpers

fn options() -> HttpOptions {
    HttpOptions {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(10),
            max_wait: Duration::from_secs(60),
        },
        urls: UrlPolicy::PRIVATE_TOO,
        ..HttpOptions::default()
    }
}

fn basic() -> String {
    let pair = format!("{EMAIL}:{TOKEN}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// Every page of a sync from `start`: the pages and the checkpoint each was fetched with.
async fn drain(
    c: &dyn Connector,
    cursor: Option<&str>,
    start: Option<String>,
) -> Result<Vec<(Option<String>, FetchPage)>, (Vec<(Option<String>, FetchPage)>, ConnectorError)> {
    let mut pages = Vec::new();
    let mut checkpoint = start;
    loop {
        let req =
            FetchRequest { cursor: cursor.map(str::to_string), checkpoint: checkpoint.clone() };
        match c.fetch(&req).await {
            Ok(page) => {
                let next = page.next.clone();
                pages.push((checkpoint, page));
                match next {
                    Some(n) => checkpoint = Some(n),
                    None => return Ok(pages),
                }
            }
            Err(e) => return Err((pages, e)),
        }
        assert!(pages.len() < 50, "the sync does not end");
    }
}

fn ids(pages: &[(Option<String>, FetchPage)]) -> Vec<String> {
    pages.iter().flat_map(|(_, p)| p.docs.iter().map(|d| d.external_id.clone())).collect()
}

fn doc<'a>(pages: &'a [(Option<String>, FetchPage)], id: &str) -> &'a SourceDoc {
    pages
        .iter()
        .flat_map(|(_, p)| &p.docs)
        .find(|d| d.external_id == id)
        .unwrap_or_else(|| panic!("no document {id}"))
}

fn assert_unique(ids: &[String]) {
    let set: HashSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "duplicates in {ids:?}");
}

async fn hits(server: &MockServer, p: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.path() == p).count()
}

/// A 401 whose body echoes the credential (`basic`: also Basic's base64 pair), as some
/// proxies do.
async fn mount_401(server: &MockServer, basic_auth: bool) {
    let sent = if basic_auth { basic() } else { TOKEN.to_string() };
    let echo = format!("{{\"message\":\"Client must be authenticated. Got {TOKEN} / {sent}\"}}");
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401).set_body_string(echo))
        .mount(server)
        .await;
}

fn assert_unauthorized_redacted(result: Result<impl std::fmt::Debug, ConnectorError>) {
    let err = result.expect_err("a 401 must fail");
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, ConnectorError::Unauthorized { status: 401, .. }), "{shown}");
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"));
    assert!(!shown.contains(&pair), "basic credential leaked: {shown}");
    assert!(shown.contains("***"), "{shown}");
}

/// A front for `upstream` that, while `cut` is set, answers requests whose path and query
/// contain `needle` with headers promising 5000 bytes, a few bytes, and a closed socket.
/// Everything else is forwarded to `upstream` (with its credential headers).
struct Cutter {
    uri: String,
    cut: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
}

async fn cutter(upstream: String, needle: &'static str) -> Cutter {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let cut = Arc::new(AtomicBool::new(true));
    let cuts = Arc::new(AtomicUsize::new(0));
    let (cut2, cuts2) = (cut.clone(), cuts.clone());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (cut, cuts, client, upstream) =
                (cut2.clone(), cuts2.clone(), client.clone(), upstream.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                if cut.load(Ordering::SeqCst) && target.contains(needle) {
                    cuts.fetch_add(1, Ordering::SeqCst);
                    let partial = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                                   Content-Length: 5000\r\n\r\n{\"results\":[{\"id\":\"9";
                    let _ = sock.write_all(partial.as_bytes()).await;
                    let _ = sock.shutdown().await;
                    return;
                }
                let mut req = client.get(format!("{upstream}{target}"));
                for line in head.lines().skip(1) {
                    if let Some((k, v)) = line.split_once(':') {
                        let k = k.trim().to_ascii_lowercase();
                        if k == "authorization" || k == "private-token" {
                            req = req.header(k, v.trim());
                        }
                    }
                }
                let res = req.send().await.unwrap();
                let status = res.status();
                let mut out = format!("HTTP/1.1 {} {}\r\n", status.as_u16(), "X");
                for (k, v) in res.headers() {
                    if ["content-type", "link", "x-next-page", "retry-after"].contains(&k.as_str())
                    {
                        out.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
                    }
                }
                let body = res.bytes().await.unwrap();
                out.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ));
                let _ = sock.write_all(out.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Cutter { uri, cut, cuts }
}

/// Fetches once against a source that answers 429 `Retry-After: 1` first: the call succeeds
/// after at least a second, with exactly two requests to `rate_limited_path`.
async fn assert_waits_for_retry_after<F, Fut, T>(
    server: &MockServer,
    rate_limited_path: &str,
    call: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, ConnectorError>>,
    T: std::fmt::Debug,
{
    let started = Instant::now();
    let result = call().await;
    assert!(result.is_ok(), "{result:?}");
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(hits(server, rate_limited_path).await, 2);
}

fn rate_limit(seconds: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", seconds)
        .set_body_json(json!({ "message": "Rate limit exceeded" }))
}

async fn assert_rate_limited_at_once<F, Fut, T>(server: &MockServer, p: &str, call: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, ConnectorError>>,
    T: std::fmt::Debug,
{
    let started = Instant::now();
    let err = call().await.expect_err("an hour's Retry-After must not be waited out");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    match err {
        ConnectorError::RateLimited { retry_after } => {
            assert_eq!(retry_after, Duration::from_secs(3600));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(hits(server, p).await, 1);
}

// ---------------------------------------------------------------------------------------------
// HTTP hygiene

#[test]
fn base_url_validation_refuses_metadata_userinfo_and_other_schemes() {
    for bad in [
        "http://169.254.169.254/",
        "http://user:pw@host/",
        "ftp://x",
        "http://metadata.google.internal",
        "http://metadata/computeMetadata/v1/",
        "http://[fe80::1]/",
        "http://0.0.0.0:8080/",
        "https://wiki.example/?space=ENG",
        "not a url",
    ] {
        match validate_base_url(bad, UrlPolicy::PRIVATE_TOO) {
            Err(ConnectorError::Config { field, .. }) => assert_eq!(field, "base_url", "{bad}"),
            other => panic!("{bad} was not refused: {other:?}"),
        }
    }
}

#[test]
fn base_url_validation_allows_private_hosts_only_when_allowed_and_adds_the_trailing_slash() {
    let url = validate_base_url("https://acme.atlassian.net/wiki", UrlPolicy::PUBLIC).unwrap();
    assert_eq!(url.as_str(), "https://acme.atlassian.net/wiki/");
    for private in ["http://127.0.0.1:8090", "http://10.0.0.7/confluence/", "http://localhost/"] {
        assert!(validate_base_url(private, UrlPolicy::PRIVATE_TOO).is_ok(), "{private}");
        assert!(validate_base_url(private, UrlPolicy::PUBLIC).is_err(), "{private}");
    }
    assert!(validate_base_url("http://gitlab.internal", UrlPolicy::PUBLIC).is_ok());
}

#[test]
fn connectors_refuse_a_metadata_base_url_naming_the_field() {
    let config = ConfluenceConfig {
        base_url: "http://169.254.169.254/latest".into(),
        deployment: Deployment::DataCenter,
        spaces: vec!["ENG".into()],
        include_blogposts: true,
        page_size: 25,
    };
    let err = Confluence::new(config, Auth::Bearer(TOKEN.into()), options()).unwrap_err();
    assert!(matches!(err, ConnectorError::Config { ref field, .. } if field == "base_url"));
}

#[tokio::test]
async fn redirects_are_not_followed_and_name_the_target_host() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "stolen": true })))
        .mount(&elsewhere)
        .await;
    Mock::given(path("/rest/api/space"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/collect", elsewhere.uri()).as_str()),
        )
        .mount(&server)
        .await;
    let http = SourceHttp::new(&server.uri(), Auth::Bearer(TOKEN.into()), options()).unwrap();
    let err = http.get_json("rest/api/space").await.unwrap_err();
    match &err {
        ConnectorError::Http { status: 302, message } => assert!(message.contains("127.0.0.1")),
        other => panic!("expected Http 302, got {other:?}"),
    }
    assert!(elsewhere.received_requests().await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn an_absolute_next_link_to_another_host_is_refused() {
    let server = MockServer::start().await;
    Mock::given(path("/wiki/rest/api/content/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(confluence_results(
            &format!("{}/wiki", server.uri()),
            vec![confluence_page("1", "One", "ENG", "2026-11-30T10:00:00.000Z", "page")],
            Some("http://evil.example/wiki/rest/api/content/search?cursor=x"),
            None,
        )))
        .mount(&server)
        .await;
    let c = confluence_cloud(&format!("{}/wiki", server.uri()), 2);
    let first = c.fetch(&FetchRequest::default()).await.unwrap();
    let req = FetchRequest { cursor: None, checkpoint: first.next };
    let err = c.fetch(&req).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Config { ref field, .. } if field == "base_url"),
        "{err}"
    );
    assert_eq!(hits(&server, "/wiki/rest/api/content/search").await, 1);
}

#[tokio::test]
async fn gateway_errors_are_retried_with_backoff() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v4/user"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(path("/api/v4/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "username": "ada" })))
        .mount(&server)
        .await;
    let http = SourceHttp::new(&server.uri(), Auth::PrivateToken(TOKEN.into()), options()).unwrap();
    let me = http.get_json("/api/v4/user").await.unwrap();
    assert_eq!(me["username"], "ada");
    assert_eq!(hits(&server, "/api/v4/user").await, 3);
}

// ---------------------------------------------------------------------------------------------
// Confluence

const CONFLUENCE_EXPAND: &str = "body.storage,version,history,metadata.labels,space";
const FULL_CQL: &str =
    "space in (\"ENG\",\"OPS\") and type in (page, blogpost) order by lastmodified asc";

fn confluence_cloud(base: &str, page_size: u32) -> Confluence {
    let config = ConfluenceConfig {
        base_url: base.into(),
        deployment: Deployment::Cloud,
        spaces: vec!["ENG".into(), "OPS".into()],
        include_blogposts: true,
        page_size,
    };
    let auth = Auth::Basic { user: EMAIL.into(), token: TOKEN.into() };
    Confluence::new(config, auth, options()).unwrap()
}

/// One search result as Confluence returns it with our expansions.
fn confluence_page(id: &str, title: &str, space: &str, when: &str, kind: &str) -> Value {
    let slug = title.replace(' ', "+");
    let storage = format!(
        "<h2>{title}</h2><p>Steps for <strong>{space}</strong>.</p>\
         <ac:structured-macro ac:name=\"code\"><ac:plain-text-body>\
         <![CDATA[make deploy]]></ac:plain-text-body></ac:structured-macro>"
    );
    json!({
        "id": id, "type": kind, "status": "current", "title": title,
        "space": {
            "id": 98305, "key": space, "name": "Engineering", "type": "global", "status": "current",
            "_expandable": { "settings": format!("/rest/api/space/{space}/settings"),
                             "metadata": "", "operations": "", "lookAndFeel": "", "identifiers": "",
                             "permissions": "", "icon": "", "description": "", "theme": "",
                             "history": "", "homepage": "/rest/api/content/65601" },
            "_links": { "webui": format!("/spaces/{space}"),
                        "self": format!("https://acme.atlassian.net/wiki/rest/api/space/{space}") }
        },
        "history": {
            "latest": true,
            "createdBy": { "type": "known", "accountId": "557058:f3c1e0a2", "accountType": "atlassian",
                           "email": "", "publicName": "Ada", "displayName": "Ada Lovelace",
                           "isExternalCollaborator": false,
                           "_expandable": { "operations": "", "personalSpace": "" } },
            "createdDate": "2026-01-10T09:00:00.000Z",
            "_expandable": { "lastUpdated": "", "previousVersion": "", "contributors": "", "nextVersion": "" },
            "_links": { "self": format!("https://acme.atlassian.net/wiki/rest/api/content/{id}/history") }
        },
        "version": {
            "by": { "type": "known", "accountId": "557058:aa02", "accountType": "atlassian",
                    "email": "", "publicName": "Grace", "displayName": "Grace Hopper",
                    "isExternalCollaborator": false },
            "when": when, "friendlyWhen": "yesterday at 10:15", "message": "", "number": 7,
            "minorEdit": false, "syncRev": "0.confluence$content$98311.12", "syncRevSource": "synchrony",
            "confRev": "confluence$content$98311.13", "contentTypeModified": false,
            "_expandable": { "collaborators": "", "content": format!("/rest/api/content/{id}") },
            "_links": { "self": format!("https://acme.atlassian.net/wiki/rest/api/content/{id}/version/7") }
        },
        "body": {
            "storage": {
                "value": storage,
                "representation": "storage", "embeddedContent": [],
                "_expandable": { "content": format!("/rest/api/content/{id}") }
            },
            "_expandable": { "editor": "", "atlas_doc_format": "", "view": "", "export_view": "",
                             "styled_view": "", "dynamic": "", "editor2": "", "anonymous_export_view": "" }
        },
        "metadata": {
            "labels": {
                "results": [{ "prefix": "global", "name": "runbook", "id": "1001", "label": "runbook" }],
                "start": 0, "limit": 200, "size": 1,
                "_links": { "next": null, "self": format!("https://acme.atlassian.net/wiki/rest/api/content/{id}/label") }
            },
            "_expandable": { "currentuser": "", "comments": "", "simple": "", "properties": "",
                             "frontend": "", "likes": "" }
        },
        "extensions": { "position": 12 },
        "_expandable": { "childTypes": "", "container": format!("/rest/api/space/{space}"),
                         "operations": "", "schedulePublishDate": "", "children": format!("/rest/api/content/{id}/child"),
                         "restrictions": format!("/rest/api/content/{id}/restriction/byOperation"),
                         "schedulePublishInfo": "", "ancestors": "", "descendants": format!("/rest/api/content/{id}/descendant") },
        "_links": { "webui": format!("/spaces/{space}/pages/{id}/{slug}"),
                    "editui": format!("/pages/resumedraft.action?draftId={id}"),
                    "edituiv2": format!("/spaces/{space}/pages/edit-v2/{id}"),
                    "self": format!("https://acme.atlassian.net/wiki/rest/api/content/{id}"),
                    "tinyui": "/x/J4AB" }
    })
}

/// A search answer; `base` is `_links.base` (the wiki's root, context path included).
fn confluence_results(
    base: &str,
    results: Vec<Value>,
    next: Option<&str>,
    total: Option<i64>,
) -> Value {
    let context = url::Url::parse(base).unwrap().path().trim_end_matches('/').to_string();
    let mut links = json!({ "base": base, "context": context,
                            "self": format!("{base}/rest/api/content/search?cql=...") });
    if let Some(next) = next {
        links["next"] = json!(next);
    }
    let mut body = json!({
        "results": results.clone(), "start": 0, "limit": results.len(), "size": results.len(),
        "cqlQuery": FULL_CQL, "searchDuration": 42, "_links": links
    });
    if let Some(total) = total {
        body["totalSize"] = json!(total);
    }
    body
}

fn cloud_next(cursor: &str) -> String {
    format!(
        "/rest/api/content/search?next=true&cursor={cursor}&expand={}&limit=2&start=2&cql={}",
        urlencode(CONFLUENCE_EXPAND),
        urlencode(FULL_CQL)
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Three Cloud search pages: two pages, two pages, one blog post. Page 2 and 3 are reached
/// by the cursors in `_links.next`.
async fn mount_confluence_cloud_pages(server: &MockServer, base: &str) {
    let p = "/wiki/rest/api/content/search";
    let when = |m: u32| format!("2026-11-2{m}T10:15:30.000Z");
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("authorization", basic().as_str()))
        .and(query_param("cql", FULL_CQL))
        .and(query_param("expand", CONFLUENCE_EXPAND))
        .and(query_param("limit", "2"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(confluence_results(
            base,
            vec![
                confluence_page("98311", "Deploy runbook", "ENG", &when(1), "page"),
                confluence_page("98312", "On-call rota", "OPS", &when(2), "page"),
            ],
            Some(&cloud_next("c2")),
            Some(5),
        )))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(p))
        .and(query_param("cursor", "c2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(confluence_results(
            base,
            vec![
                confluence_page("98313", "Incident review", "OPS", &when(3), "page"),
                confluence_page("98314", "Service map", "ENG", &when(4), "page"),
            ],
            Some(&cloud_next("c3")),
            None,
        )))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(p))
        .and(query_param("cursor", "c3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(confluence_results(
            base,
            vec![confluence_page("131075", "Q4 release notes", "ENG", &when(5), "blogpost")],
            None,
            None,
        )))
        .mount(server)
        .await;
}

#[tokio::test]
async fn confluence_cloud_sync_follows_next_links_over_three_pages() {
    let server = MockServer::start().await;
    let base = format!("{}/wiki", server.uri());
    mount_confluence_cloud_pages(&server, &base).await;
    let c = confluence_cloud(&base, 2);
    let pages = drain(&c, None, None).await.unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(ids(&pages), ["98311", "98312", "98313", "98314", "131075"]);
    assert_eq!(pages[0].1.total, Some(5));
    let d = doc(&pages, "98311");
    assert_eq!(d.title, "Deploy runbook");
    assert_eq!(d.url, format!("{base}/spaces/ENG/pages/98311/Deploy+runbook"));
    assert_eq!(d.author.as_deref(), Some("Grace Hopper"));
    assert_eq!(d.updated_at.to_rfc3339(), "2026-11-21T10:15:30+00:00");
    assert_eq!(d.doc_type, "page");
    assert_eq!(d.labels, ["runbook", "space:ENG"]);
    assert!(matches!(&d.body, DocBody::Html(h) if h.contains("<strong>ENG</strong>")));
    assert_eq!(doc(&pages, "131075").doc_type, "blogpost");
    assert_eq!(hits(&server, "/wiki/rest/api/content/search").await, 3);
}

#[tokio::test]
async fn confluence_data_center_pages_by_start_under_a_context_path() {
    let server = MockServer::start().await;
    // `localhost`, so the name goes through the guarded resolver.
    let port = url::Url::parse(&server.uri()).unwrap().port().unwrap();
    let base = format!("http://localhost:{port}/confluence");
    let p = "/confluence/rest/api/content/search";
    for (start, ids, next) in [
        ("0", ["65601", "65602"].as_slice(), Some("2")),
        ("2", ["65603", "65604"].as_slice(), Some("4")),
        ("4", ["65605"].as_slice(), None),
    ] {
        let results = ids
            .iter()
            .map(|id| confluence_page(id, "Page", "ENG", "2026-11-30T11:15:30.000+01:00", "page"))
            .collect();
        let next = next.map(|n| {
            format!("/rest/api/content/search?cql={}&limit=2&start={n}", urlencode(FULL_CQL))
        });
        let mut m = Mock::given(method("GET"))
            .and(path(p))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()));
        m = if start == "0" {
            m.and(query_param_is_missing("start"))
        } else {
            m.and(query_param("start", start))
        };
        m.respond_with(ResponseTemplate::new(200).set_body_json(confluence_results(
            &base,
            results,
            next.as_deref(),
            (start == "0").then_some(5),
        )))
        .expect(1)
        .mount(&server)
        .await;
    }
    let config = ConfluenceConfig {
        base_url: base.clone(),
        deployment: Deployment::DataCenter,
        spaces: vec!["ENG".into(), "OPS".into()],
        include_blogposts: true,
        page_size: 2,
    };
    let c = Confluence::new(config, Auth::Bearer(TOKEN.into()), options()).unwrap();
    let pages = drain(&c, None, None).await.unwrap();
    assert_eq!(ids(&pages), ["65601", "65602", "65603", "65604", "65605"]);
    let d = doc(&pages, "65603");
    assert_eq!(d.url, format!("{base}/spaces/ENG/pages/65603/Page"));
    assert_eq!(d.updated_at.to_rfc3339(), "2026-11-30T10:15:30+00:00");
}

#[tokio::test]
async fn confluence_incremental_sync_filters_on_lastmodified_after_the_cursor() {
    let server = MockServer::start().await;
    let base = format!("{}/wiki", server.uri());
    let cql = "space in (\"ENG\",\"OPS\") and type in (page, blogpost) and \
               lastmodified >= \"2026-11-30 10:10\" order by lastmodified asc";
    Mock::given(path("/wiki/rest/api/content/search"))
        .and(query_param("cql", cql))
        .respond_with(ResponseTemplate::new(200).set_body_json(confluence_results(
            &base,
            vec![confluence_page(
                "98312",
                "On-call rota",
                "OPS",
                "2026-11-30T10:40:00.000Z",
                "page",
            )],
            None,
            Some(1),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let c = confluence_cloud(&base, 2);
    let pages = drain(&c, Some("2026-11-30T10:10:00Z"), None).await.unwrap();
    assert_eq!(ids(&pages), ["98312"]);

    let cursor = c.begin().await.unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(&cursor).unwrap();
    let skew = chrono::Utc::now().signed_duration_since(at);
    assert!(skew >= chrono::Duration::minutes(5) && skew < chrono::Duration::minutes(6), "{skew}");
}

#[tokio::test]
async fn confluence_list_ids_omits_a_deleted_page() {
    let server = MockServer::start().await;
    let base = format!("{}/wiki", server.uri());
    let p = "/wiki/rest/api/content/search";
    let bare = |id: &str| {
        json!({ "id": id, "type": "page", "status": "current", "title": "T",
        "_expandable": { "container": "/rest/api/space/ENG", "body": "", "version": "", "space": "" },
        "_links": { "webui": format!("/spaces/ENG/pages/{id}") } })
    };
    Mock::given(path(p))
        .and(query_param("cql", FULL_CQL))
        .and(query_param("limit", "200"))
        .and(query_param_is_missing("expand"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(confluence_results(
            &base,
            vec![bare("98311"), bare("98313")],
            Some(&format!(
                "/rest/api/content/search?next=true&cursor=ids2&limit=200&cql={}",
                urlencode(FULL_CQL)
            )),
            None,
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(p))
        .and(query_param("cursor", "ids2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(confluence_results(
            &base,
            vec![bare("98314"), bare("131075")],
            None,
            None,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let c = confluence_cloud(&base, 2);
    let ids = c.list_ids().await.unwrap().unwrap();
    assert_eq!(ids, ["98311", "98313", "98314", "131075"]);
    assert!(!ids.contains(&"98312".to_string()));
}

#[tokio::test]
async fn confluence_test_connection_names_spaces_and_reports_a_missing_one() {
    let server = MockServer::start().await;
    let base = format!("{}/wiki", server.uri());
    let space = |key: &str, name: &str| {
        json!({ "id": 98305, "key": key, "name": name,
        "type": "global", "status": "current", "_links": { "webui": format!("/spaces/{key}") } })
    };
    Mock::given(path("/wiki/rest/api/space"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [space("ENG", "Engineering"), space("OPS", "Operations")],
            "start": 0, "limit": 2, "size": 2, "_links": { "base": base, "context": "/wiki" } })))
        .mount(&server)
        .await;
    let message = confluence_cloud(&base, 2).test_connection().await.unwrap();
    assert_eq!(message, "Connected; spaces ENG (Engineering), OPS (Operations)");
    let requests = server.received_requests().await.unwrap();
    let keys: Vec<String> = requests[0]
        .url
        .query_pairs()
        .filter(|(k, _)| k == "spaceKey")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(keys, ["ENG", "OPS"]);

    let config = ConfluenceConfig {
        base_url: base.clone(),
        deployment: Deployment::Cloud,
        spaces: vec!["ENG".into(), "GONE".into()],
        include_blogposts: false,
        page_size: 2,
    };
    let auth = Auth::Basic { user: EMAIL.into(), token: TOKEN.into() };
    let err =
        Confluence::new(config, auth, options()).unwrap().test_connection().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Config { field, message } if field == "spaces" && message.contains("GONE")),
        "{err}"
    );
}

#[tokio::test]
async fn confluence_401_is_unauthorized_without_the_token() {
    let server = MockServer::start().await;
    mount_401(&server, true).await;
    let c = confluence_cloud(&format!("{}/wiki", server.uri()), 2);
    assert_unauthorized_redacted(c.fetch(&FetchRequest::default()).await);
    assert_unauthorized_redacted(c.test_connection().await);
}

#[tokio::test]
async fn confluence_waits_out_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    let base = format!("{}/wiki", server.uri());
    Mock::given(path("/wiki/rest/api/content/search"))
        .respond_with(rate_limit("1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_confluence_cloud_pages(&server, &base).await;
    let c = confluence_cloud(&base, 2);
    assert_waits_for_retry_after(&server, "/wiki/rest/api/content/search", || async {
        c.fetch(&FetchRequest::default()).await
    })
    .await;
}

#[tokio::test]
async fn confluence_an_hour_of_retry_after_is_rate_limited_at_once() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(rate_limit("3600")).mount(&server).await;
    let c = confluence_cloud(&format!("{}/wiki", server.uri()), 2);
    assert_rate_limited_at_once(&server, "/wiki/rest/api/content/search", || async {
        c.fetch(&FetchRequest::default()).await
    })
    .await;
}

#[tokio::test]
async fn confluence_body_cut_short_is_network_and_the_checkpoint_resumes() {
    let server = MockServer::start().await;
    let front = cutter(server.uri(), "cursor=c3").await;
    let base = format!("{}/wiki", front.uri);
    mount_confluence_cloud_pages(&server, &base).await;
    let c = confluence_cloud(&base, 2);
    let (done, err) = drain(&c, None, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Network(_)), "{err:?}");
    assert!(front.cuts.load(Ordering::SeqCst) >= 1);
    assert_eq!(ids(&done), ["98311", "98312", "98313", "98314"]);

    front.cut.store(false, Ordering::SeqCst);
    let resume = done.last().unwrap().1.next.clone();
    assert!(resume.is_some());
    let rest = drain(&c, None, resume).await.unwrap();
    let mut all = ids(&done);
    all.extend(ids(&rest));
    assert_eq!(all, ["98311", "98312", "98313", "98314", "131075"]);
    assert_unique(&all);
}

// ---------------------------------------------------------------------------------------------
// Jira

const JIRA_FIELDS: &str =
    "summary,description,comment,status,assignee,reporter,labels,updated,issuetype,components";
const FULL_JQL: &str = "project in (\"ENG\",\"OPS\") ORDER BY updated ASC";

fn jira(base: &str, deployment: Deployment, page_size: u32) -> Jira {
    let config = JiraConfig {
        base_url: base.into(),
        deployment,
        projects: vec!["ENG".into(), "OPS".into()],
        jql: None,
        page_size,
    };
    let auth = match deployment {
        Deployment::Cloud => Auth::Basic { user: EMAIL.into(), token: TOKEN.into() },
        Deployment::DataCenter => Auth::Bearer(TOKEN.into()),
    };
    Jira::new(config, auth, options()).unwrap()
}

fn person(name: &str) -> Value {
    json!({ "self": "https://acme.atlassian.net/rest/api/3/user?accountId=5b10a2", "accountId": "5b10a2",
            "avatarUrls": { "48x48": "https://avatar.example/48.png" }, "displayName": name,
            "active": true, "timeZone": "Europe/Berlin", "accountType": "atlassian" })
}

/// An issue with `expand=renderedFields`, as Cloud v3 returns it (ADF raw bodies).
fn jira_issue(key: &str, summary: &str, updated: &str) -> Value {
    let id = key.split('-').nth(1).unwrap();
    let adf = |text: &str| {
        json!({ "type": "doc", "version": 1, "content": [
        { "type": "paragraph", "content": [{ "type": "text", "text": text }] }] })
    };
    json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": format!("100{id}"), "self": format!("https://acme.atlassian.net/rest/api/3/issue/100{id}"),
        "key": key,
        "renderedFields": {
            "summary": null, "updated": "30/Nov/26 10:15 AM",
            "description": format!("<p>{summary}: the <b>deploy</b> step fails.</p>\n<ul><li>restart &amp; retry</li></ul>"),
            "comment": { "comments": [
                { "self": "…/comment/20001", "id": "20001", "author": person("Grace Hopper"),
                  "body": "<p>Reproduced on <tt>main</tt>.</p>", "created": "30/Nov/26 9:00 AM",
                  "updated": "30/Nov/26 9:00 AM", "jsdPublic": true } ],
              "maxResults": 1, "total": 1, "startAt": 0 }
        },
        "fields": {
            "summary": summary,
            "issuetype": { "self": "…/issuetype/10004", "id": "10004", "name": "Bug", "subtask": false },
            "components": [{ "self": "…/component/10000", "id": "10000", "name": "deploy" }],
            "description": adf(&format!("{summary}: the deploy step fails.")),
            "reporter": person("Ada Lovelace"),
            "assignee": person("Grace Hopper"),
            "labels": ["backend", "p1"],
            "status": { "self": "…/status/3", "name": "In Progress", "id": "3",
                        "statusCategory": { "id": 4, "key": "indeterminate", "name": "In Progress" } },
            "updated": updated,
            "comment": { "comments": [
                { "self": "…/comment/20001", "id": "20001", "author": person("Grace Hopper"),
                  "body": adf("Reproduced on main."), "updateAuthor": person("Grace Hopper"),
                  "created": "2026-11-30T09:00:00.000+0000", "updated": "2026-11-30T09:00:00.000+0000",
                  "jsdPublic": true } ],
              "self": "…/comment", "maxResults": 1, "total": 1, "startAt": 0 }
        }
    })
}

async fn mount_jira_cloud_pages(server: &MockServer) {
    let p = "/rest/api/3/search/jql";
    let pages: [(Option<&str>, &[&str], Option<&str>); 3] = [
        (None, &["ENG-101", "ENG-102"], Some("t2")),
        (Some("t2"), &["OPS-7", "ENG-103"], Some("t3")),
        (Some("t3"), &["OPS-9"], None),
    ];
    for (i, (token, keys, next)) in pages.into_iter().enumerate() {
        let issues: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(j, k)| {
                jira_issue(k, "Deploy fails", &format!("2026-11-30T1{i}:0{j}:30.000+0000"))
            })
            .collect();
        let mut body = json!({ "issues": issues, "isLast": next.is_none() });
        if let Some(n) = next {
            body["nextPageToken"] = json!(n);
        }
        let mut m = Mock::given(method("GET"))
            .and(path(p))
            .and(header("authorization", basic().as_str()))
            .and(query_param("jql", FULL_JQL))
            .and(query_param("fields", JIRA_FIELDS))
            .and(query_param("expand", "renderedFields"))
            .and(query_param("maxResults", "2"));
        m = match token {
            Some(t) => m.and(query_param("nextPageToken", t)),
            None => m.and(query_param_is_missing("nextPageToken")),
        };
        m.respond_with(ResponseTemplate::new(200).set_body_json(body)).mount(server).await;
    }
}

#[tokio::test]
async fn jira_cloud_sync_pages_by_next_page_token_and_maps_issues() {
    let server = MockServer::start().await;
    mount_jira_cloud_pages(&server).await;
    let c = jira(&server.uri(), Deployment::Cloud, 2);
    let pages = drain(&c, None, None).await.unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(ids(&pages), ["ENG-101", "ENG-102", "OPS-7", "ENG-103", "OPS-9"]);
    assert_eq!(pages[1].0.as_deref(), Some("t2"));
    let d = doc(&pages, "OPS-7");
    assert_eq!(d.title, "OPS-7: Deploy fails");
    assert_eq!(d.url, format!("{}/browse/OPS-7", server.uri()));
    assert_eq!(d.author.as_deref(), Some("Grace Hopper"));
    assert_eq!(d.updated_at.to_rfc3339(), "2026-11-30T11:00:30+00:00");
    assert_eq!(d.doc_type, "issue");
    assert_eq!(
        d.labels,
        ["backend", "p1", "deploy", "status:In Progress", "type:Bug", "project:OPS"]
    );
    let DocBody::Blocks(blocks) = &d.body else { panic!("{:?}", d.body) };
    assert_eq!(
        blocks[..2],
        [
            Block::Paragraph { text: "Deploy fails: the deploy step fails.".into() },
            Block::Paragraph { text: "restart & retry".into() },
        ]
    );
    match &blocks[2] {
        Block::Comment { author, at, text } => {
            assert_eq!(author.as_deref(), Some("Grace Hopper"));
            assert_eq!(at.unwrap().to_rfc3339(), "2026-11-30T09:00:00+00:00");
            assert_eq!(text, "Reproduced on main.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(blocks.len(), 3);
}

#[tokio::test]
async fn jira_cloud_adf_bodies_are_read_when_nothing_is_rendered() {
    let server = MockServer::start().await;
    let mut issue = jira_issue("ENG-7", "Flaky test", "2026-11-30T10:00:00.000+0000");
    issue.as_object_mut().unwrap().remove("renderedFields");
    Mock::given(path("/rest/api/3/search/jql"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "issues": [issue], "isLast": true })),
        )
        .mount(&server)
        .await;
    let pages = drain(&jira(&server.uri(), Deployment::Cloud, 2), None, None).await.unwrap();
    let DocBody::Blocks(blocks) = &doc(&pages, "ENG-7").body else { panic!() };
    let texts: Vec<&str> = blocks.iter().map(Block::text).collect();
    assert_eq!(texts, ["Flaky test: the deploy step fails.", "Reproduced on main."]);
}

#[tokio::test]
async fn jira_data_center_sync_pages_by_start_at_with_a_total() {
    let server = MockServer::start().await;
    for (start, keys) in
        [("0", ["ENG-1", "ENG-2"].as_slice()), ("2", &["ENG-3", "OPS-1"]), ("4", &["OPS-2"])]
    {
        let issues: Vec<Value> = keys
            .iter()
            .map(|k| {
                let mut i = jira_issue(k, "Upgrade", "2026-11-30T10:15:30.000+0100");
                // v2 raw bodies are wiki markup strings.
                i["fields"]["description"] = json!("Upgrade: the deploy step fails.");
                i
            })
            .collect();
        Mock::given(method("GET"))
            .and(path("/jira/rest/api/2/search"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(query_param("jql", FULL_JQL))
            .and(query_param("startAt", start))
            .and(query_param("maxResults", "2"))
            .and(query_param("expand", "renderedFields"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "expand": "schema,names", "startAt": start.parse::<i64>().unwrap(),
                "maxResults": 2, "total": 5, "issues": issues })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let base = format!("{}/jira", server.uri());
    let pages = drain(&jira(&base, Deployment::DataCenter, 2), None, None).await.unwrap();
    assert_eq!(ids(&pages), ["ENG-1", "ENG-2", "ENG-3", "OPS-1", "OPS-2"]);
    assert_eq!(pages[0].1.total, Some(5));
    assert_eq!(pages[2].0.as_deref(), Some("4"));
    let d = doc(&pages, "ENG-3");
    assert_eq!(d.url, format!("{base}/browse/ENG-3"));
    assert_eq!(d.updated_at.to_rfc3339(), "2026-11-30T09:15:30+00:00");
}

#[tokio::test]
async fn jira_incremental_sync_adds_the_updated_clause() {
    let server = MockServer::start().await;
    let jql =
        "project in (\"ENG\",\"OPS\") AND updated >= \"2026-11-30 10:10\" ORDER BY updated ASC";
    Mock::given(path("/rest/api/3/search/jql"))
        .and(query_param("jql", jql))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": [jira_issue("ENG-102", "Changed", "2026-11-30T10:30:00.000+0000")],
            "isLast": true })))
        .expect(1)
        .mount(&server)
        .await;
    let c = jira(&server.uri(), Deployment::Cloud, 2);
    let pages = drain(&c, Some("2026-11-30T10:10:00Z"), None).await.unwrap();
    assert_eq!(ids(&pages), ["ENG-102"]);
}

#[tokio::test]
async fn jira_list_ids_omits_a_deleted_issue() {
    let server = MockServer::start().await;
    let key = |k: &str| json!({ "id": "10001", "self": "…", "key": k });
    Mock::given(path("/rest/api/3/search/jql"))
        .and(query_param("jql", FULL_JQL))
        .and(query_param("fields", "key"))
        .and(query_param_is_missing("nextPageToken"))
        .and(query_param_is_missing("expand"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": [key("ENG-101"), key("OPS-7")], "nextPageToken": "k2", "isLast": false })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/rest/api/3/search/jql"))
        .and(query_param("nextPageToken", "k2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": [key("ENG-103")], "isLast": true })))
        .expect(1)
        .mount(&server)
        .await;
    let ids = jira(&server.uri(), Deployment::Cloud, 2).list_ids().await.unwrap().unwrap();
    assert_eq!(ids, ["ENG-101", "OPS-7", "ENG-103"]);
    assert!(!ids.contains(&"ENG-102".to_string()));
}

#[tokio::test]
async fn jira_test_connection_checks_each_project() {
    let server = MockServer::start().await;
    Mock::given(path("/rest/api/2/myself"))
        .respond_with(ResponseTemplate::new(200).set_body_json(person("Ada Lovelace")))
        .mount(&server)
        .await;
    Mock::given(path("/rest/api/2/project/ENG"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "id": "10000", "key": "ENG", "name": "Engineering", "projectTypeKey": "software" }),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/rest/api/2/project/OPS"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errorMessages": ["No project could be found with key 'OPS'."], "errors": {} })))
        .mount(&server)
        .await;
    let err = jira(&server.uri(), Deployment::DataCenter, 2).test_connection().await.unwrap_err();
    assert!(matches!(&err, ConnectorError::Config { field, .. } if field == "projects"), "{err}");
}

#[tokio::test]
async fn jira_401_is_unauthorized_without_the_token() {
    let server = MockServer::start().await;
    mount_401(&server, true).await;
    let c = jira(&server.uri(), Deployment::Cloud, 2);
    assert_unauthorized_redacted(c.fetch(&FetchRequest::default()).await);
    assert_unauthorized_redacted(c.list_ids().await);
}

#[tokio::test]
async fn jira_waits_out_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path("/rest/api/3/search/jql"))
        .respond_with(rate_limit("1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_jira_cloud_pages(&server).await;
    let c = jira(&server.uri(), Deployment::Cloud, 2);
    assert_waits_for_retry_after(&server, "/rest/api/3/search/jql", || async {
        c.fetch(&FetchRequest::default()).await
    })
    .await;
}

#[tokio::test]
async fn jira_an_hour_of_retry_after_is_rate_limited_at_once() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(rate_limit("3600")).mount(&server).await;
    let c = jira(&server.uri(), Deployment::Cloud, 2);
    assert_rate_limited_at_once(&server, "/rest/api/3/search/jql", || async {
        c.fetch(&FetchRequest::default()).await
    })
    .await;
}

#[tokio::test]
async fn jira_body_cut_short_is_network_and_the_checkpoint_resumes() {
    let server = MockServer::start().await;
    mount_jira_cloud_pages(&server).await;
    let front = cutter(server.uri(), "nextPageToken=t3").await;
    let c = jira(&front.uri, Deployment::Cloud, 2);
    let (done, err) = drain(&c, None, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Network(_)), "{err:?}");
    assert_eq!(ids(&done), ["ENG-101", "ENG-102", "OPS-7", "ENG-103"]);

    front.cut.store(false, Ordering::SeqCst);
    let resume = done.last().unwrap().1.next.clone();
    assert_eq!(resume.as_deref(), Some("t3"));
    let rest = drain(&c, None, resume).await.unwrap();
    let mut all = ids(&done);
    all.extend(ids(&rest));
    assert_eq!(all, ["ENG-101", "ENG-102", "OPS-7", "ENG-103", "OPS-9"]);
    assert_unique(&all);
}

// ---------------------------------------------------------------------------------------------
// GitLab

const PROJECT: &str = "/api/v4/projects/group%2Fdocs";
const HEAD: &str = "8f1c0b5e2d7a4c3b9e6f0a1d2c3b4a5968778695";
const OLD: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5";

fn gitlab(base: &str) -> Gitlab {
    let config: GitlabConfig = serde_json::from_value(json!({
        "base_url": base,
        "projects": ["group/docs"],
        "max_file_bytes": 1000,
    }))
    .unwrap();
    Gitlab::new(config, TOKEN.into(), options()).unwrap()
}

fn tree_entry(path: &str, kind: &str) -> Value {
    let name = path.rsplit('/').next().unwrap();
    json!({ "id": "a1e8f8d745cc87e3a9248358d9352bb7f9a0aeba", "name": name, "type": kind,
            "path": path, "mode": if kind == "tree" { "040000" } else { "100644" } })
}

fn gl_note(id: i64, body: &str, system: bool) -> Value {
    json!({ "id": id, "type": null, "body": body, "attachment": null,
            "author": { "id": 1, "username": "grace", "name": "Grace Hopper", "state": "active",
                        "avatar_url": "https://gitlab.example/uploads/g.png", "web_url": "https://gitlab.example/grace" },
            "created_at": "2026-11-30T09:00:00.000Z", "updated_at": "2026-11-30T09:00:00.000Z",
            "system": system, "noteable_id": 377, "noteable_type": "Issue", "project_id": 5,
            "resolvable": false, "confidential": false, "internal": false, "noteable_iid": 7,
            "commands_changes": {} })
}

fn gl_issue(base: &str, iid: i64, title: &str, updated: &str) -> Value {
    json!({ "id": 1000 + iid, "iid": iid, "project_id": 5, "title": title,
            "description": "The deploy job fails.\n\nSteps:\n1. push\n2. wait",
            "state": "opened", "created_at": "2026-11-01T08:00:00.000Z", "updated_at": updated,
            "closed_at": null, "closed_by": null, "labels": ["bug", "ci"], "milestone": null,
            "assignees": [], "author": { "id": 2, "username": "ada", "name": "Ada Lovelace", "state": "active" },
            "type": "ISSUE", "assignee": null, "user_notes_count": 1, "merge_requests_count": 0,
            "upvotes": 0, "downvotes": 0, "due_date": null, "confidential": false,
            "discussion_locked": null, "issue_type": "issue",
            "web_url": format!("{base}/group/docs/-/issues/{iid}"),
            "time_stats": { "time_estimate": 0, "total_time_spent": 0 },
            "task_completion_status": { "count": 0, "completed_count": 0 },
            "references": { "short": format!("#{iid}"), "relative": format!("#{iid}"), "full": format!("group/docs#{iid}") },
            "severity": "UNKNOWN", "moved_to_id": null, "service_desk_reply_to": null })
}

fn gl_mr(base: &str, iid: i64, title: &str) -> Value {
    json!({ "id": 2000 + iid, "iid": iid, "project_id": 5, "title": title,
            "description": "Adds the deploy guide.", "state": "merged",
            "created_at": "2026-11-20T08:00:00.000Z", "updated_at": "2026-11-29T08:00:00.000Z",
            "merged_at": "2026-11-29T08:00:00.000Z", "target_branch": "main", "source_branch": "guide",
            "author": { "id": 2, "username": "ada", "name": "Ada Lovelace" }, "labels": ["docs"],
            "draft": false, "work_in_progress": false, "merge_status": "can_be_merged",
            "sha": HEAD, "squash": false, "web_url": format!("{base}/group/docs/-/merge_requests/{iid}"),
            "references": { "short": format!("!{iid}"), "full": format!("group/docs!{iid}") } })
}

/// The project, its head commit, three keyset tree pages (Link headers point at `base`), the
/// raw files, two wiki pages, issues over three `X-Next-Page` pages with notes, one MR.
async fn mount_gitlab(server: &MockServer, base: &str) {
    Mock::given(path(PROJECT))
        .and(header("private-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 5, "description": "Team docs", "name": "docs", "name_with_namespace": "Group / docs",
            "path": "docs", "path_with_namespace": "group/docs", "default_branch": "main",
            "web_url": format!("{base}/group/docs"), "issues_enabled": true,
            "merge_requests_enabled": true, "wiki_enabled": true, "wiki_access_level": "enabled",
            "last_activity_at": "2026-11-30T08:00:00.000Z", "visibility": "internal" })))
        .mount(server)
        .await;
    Mock::given(path(format!("{PROJECT}/repository/commits/main")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": HEAD, "short_id": &HEAD[..8], "title": "Update guide",
            "author_name": "Ada Lovelace", "authored_date": "2026-11-30T07:59:00.000+00:00",
            "committed_date": "2026-11-30T08:00:00.000+00:00", "parent_ids": [OLD],
            "web_url": format!("{base}/group/docs/-/commit/{HEAD}") })))
        .mount(server)
        .await;
    let tree = format!("{PROJECT}/repository/tree");
    let link = |token: &str| {
        format!(
            "<{base}{PROJECT}/repository/tree?id=5&page_token={token}&pagination=keyset&per_page=100&recursive=true&ref={HEAD}>; rel=\"next\""
        )
    };
    let pages: [(Option<&str>, Vec<Value>, Option<&str>); 3] = [
        (
            None,
            vec![
                tree_entry("docs", "tree"),
                tree_entry("README.md", "blob"),
                tree_entry("src/main.rs", "blob"),
            ],
            Some("t2"),
        ),
        (
            Some("t2"),
            vec![tree_entry("docs/guide.md", "blob"), tree_entry("docs/api.yaml", "blob")],
            Some("t3"),
        ),
        (
            Some("t3"),
            vec![
                tree_entry("docs/big.md", "blob"),
                tree_entry("docs/logo.png", "blob"),
                tree_entry("notes.txt", "blob"),
            ],
            None,
        ),
    ];
    for (token, entries, next) in pages {
        let mut m = Mock::given(path(tree.as_str()))
            .and(query_param("recursive", "true"))
            .and(query_param("pagination", "keyset"))
            .and(query_param("per_page", "100"))
            .and(query_param("ref", HEAD));
        m = match token {
            Some(t) => m.and(query_param("page_token", t)),
            None => m.and(query_param_is_missing("page_token")),
        };
        let mut res = ResponseTemplate::new(200).set_body_json(entries);
        if let Some(n) = next {
            res = res.insert_header("link", link(n).as_str());
        }
        m.respond_with(res).mount(server).await;
    }
    let files: [(&str, ResponseTemplate); 7] = [
        ("README.md", ResponseTemplate::new(200).set_body_string("# Docs\n\nStart here.")),
        ("src/main.rs", ResponseTemplate::new(200).set_body_string("fn main() {}")),
        ("docs/guide.md", ResponseTemplate::new(200).set_body_string("# Guide\n\nDeploy.")),
        ("docs/api.yaml", ResponseTemplate::new(200).set_body_string("openapi: 3.1.0\n")),
        ("docs/big.md", ResponseTemplate::new(200).set_body_string("x".repeat(2000))),
        ("docs/logo.png", ResponseTemplate::new(200).set_body_bytes(vec![0x89, b'P', 0xff, 0])),
        ("notes.txt", ResponseTemplate::new(200).set_body_string("plain notes")),
    ];
    for (file, res) in files {
        let encoded = file.replace('/', "%2F");
        Mock::given(path(format!("{PROJECT}/repository/files/{encoded}/raw")))
            .and(query_param("ref", HEAD))
            .respond_with(res.insert_header("x-gitlab-file-path", file))
            .mount(server)
            .await;
    }
    Mock::given(path(format!("{PROJECT}/wikis")))
        .and(query_param("with_content", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "format": "markdown", "slug": "home", "title": "Home", "content": "Welcome", "encoding": "UTF-8" },
            { "format": "markdown", "slug": "how-to/deploy", "title": "Deploy", "content": "Run it", "encoding": "UTF-8" }
        ])))
        .mount(server)
        .await;
    for (page, iids, next) in [("1", [7], "2"), ("2", [8], "3"), ("3", [9], "")] {
        let issues: Vec<Value> = iids
            .iter()
            .map(|iid| gl_issue(base, *iid, "Deploy job fails", "2026-11-30T08:30:00.000Z"))
            .collect();
        Mock::given(path(format!("{PROJECT}/issues")))
            .and(query_param("page", page))
            .and(query_param("per_page", "100"))
            .and(query_param("order_by", "updated_at"))
            .and(query_param("sort", "asc"))
            .and(query_param_is_missing("updated_after"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(issues)
                    .insert_header("x-next-page", next)
                    .insert_header("x-page", page)
                    .insert_header("x-per-page", "100"),
            )
            .mount(server)
            .await;
    }
    for kind in ["issues/7", "issues/8", "issues/9", "merge_requests/3"] {
        Mock::given(path(format!("{PROJECT}/{kind}/notes")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([
                        gl_note(301, "changed the description", true),
                        gl_note(302, "Fixed by !3.", false)
                    ]))
                    .insert_header("x-next-page", ""),
            )
            .mount(server)
            .await;
    }
    Mock::given(path(format!("{PROJECT}/merge_requests")))
        .and(query_param("page", "1"))
        .and(query_param_is_missing("updated_after"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([gl_mr(base, 3, "Deploy guide")]))
                .insert_header("x-next-page", ""),
        )
        .mount(server)
        .await;
}

const GITLAB_FIRST_SYNC: [&str; 10] = [
    "group/docs:README.md",
    "group/docs:docs/guide.md",
    "group/docs:docs/api.yaml",
    "group/docs:notes.txt",
    "group/docs:wiki:home",
    "group/docs:wiki:how-to/deploy",
    "group/docs:issue:7",
    "group/docs:issue:8",
    "group/docs:issue:9",
    "group/docs:mr:3",
];

#[tokio::test]
async fn gitlab_first_sync_walks_tree_pages_then_wiki_issues_and_merge_requests() {
    let server = MockServer::start().await;
    mount_gitlab(&server, &server.uri()).await;
    let c = gitlab(&server.uri());
    let pages = drain(&c, None, None).await.unwrap();
    let got = ids(&pages);
    assert_eq!(got, GITLAB_FIRST_SYNC);
    assert_unique(&got);
    assert!(pages.iter().all(|(_, p)| p.deleted.is_empty()));
    // Three tree pages were walked (the third holds notes.txt).
    assert_eq!(hits(&server, &format!("{PROJECT}/repository/tree")).await, 3);

    let readme = doc(&pages, "group/docs:README.md");
    assert_eq!(readme.url, format!("{}/group/docs/-/blob/main/README.md", server.uri()));
    assert_eq!(readme.doc_type, "file");
    assert_eq!(readme.body, DocBody::Markdown("# Docs\n\nStart here.".into()));
    assert_eq!(readme.updated_at.to_rfc3339(), "2026-11-30T08:00:00+00:00");
    assert_eq!(readme.author, None);
    let api = doc(&pages, "group/docs:docs/api.yaml");
    assert_eq!(api.doc_type, "code");
    assert_eq!(
        api.body,
        DocBody::Text { text: "openapi: 3.1.0\n".into(), lang: Some("yaml".into()) }
    );
    let notes = doc(&pages, "group/docs:notes.txt");
    assert_eq!(notes.body, DocBody::Text { text: "plain notes".into(), lang: None });
    let wiki = doc(&pages, "group/docs:wiki:how-to/deploy");
    assert_eq!(wiki.doc_type, "wiki");
    assert_eq!(wiki.body, DocBody::Markdown("Run it".into()));

    let issue = doc(&pages, "group/docs:issue:7");
    assert_eq!(issue.title, "#7: Deploy job fails");
    assert_eq!(issue.doc_type, "issue");
    assert_eq!(issue.url, format!("{}/group/docs/-/issues/7", server.uri()));
    assert_eq!(issue.labels, ["bug", "ci", "state:opened", "project:group/docs"]);
    let DocBody::Blocks(blocks) = &issue.body else { panic!("{:?}", issue.body) };
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    assert_eq!(blocks[0], Block::Paragraph { text: "The deploy job fails.".into() });
    assert!(matches!(&blocks[2], Block::Comment { author: Some(a), text, .. }
        if a == "Grace Hopper" && text == "Fixed by !3."));
    let mr = doc(&pages, "group/docs:mr:3");
    assert_eq!(mr.doc_type, "merge_request");
    assert!(mr.labels.contains(&"state:merged".to_string()));
}

#[tokio::test]
async fn gitlab_incremental_sync_compares_commits_and_reports_deleted_files() {
    let server = MockServer::start().await;
    let base = server.uri();
    mount_gitlab(&server, &base).await;
    let diff = |old: &str, new: &str, flags: (bool, bool, bool)| {
        json!({
        "old_path": old, "new_path": new, "a_mode": "100644", "b_mode": "100644",
        "new_file": flags.0, "renamed_file": flags.1, "deleted_file": flags.2,
        "generated_file": false, "diff": "@@ -1 +1 @@\n-old\n+new\n" })
    };
    Mock::given(path(format!("{PROJECT}/repository/compare")))
        .and(query_param("from", OLD))
        .and(query_param("to", HEAD))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "commit": { "id": HEAD, "committed_date": "2026-11-30T08:00:00.000+00:00" },
            "commits": [{ "id": HEAD, "title": "Update guide" }],
            "diffs": [
                diff("docs/guide.md", "docs/guide.md", (false, false, false)),
                diff("docs/old.md", "docs/old.md", (false, false, true)),
                diff("docs/draft.md", "README.md", (false, true, false)),
                diff("src/lib.rs", "src/lib.rs", (true, false, false))
            ],
            "compare_timeout": false, "compare_same_ref": false,
            "web_url": format!("{base}/group/docs/-/compare/{OLD}...{HEAD}") })))
        .expect(1)
        .mount(&server)
        .await;
    let since = "2026-11-30T08:10:00+00:00";
    Mock::given(path(format!("{PROJECT}/issues")))
        .and(query_param("updated_after", since))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([gl_issue(
                    &base,
                    8,
                    "Deploy job fails",
                    "2026-11-30T09:00:00Z"
                )]))
                .insert_header("x-next-page", ""),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(format!("{PROJECT}/merge_requests")))
        .and(query_param("updated_after", since))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([])).insert_header("x-next-page", ""),
        )
        .expect(1)
        .mount(&server)
        .await;
    let cursor = json!({ "projects": { "group/docs": { "sha": OLD, "updated_after": since } } });
    let pages = drain(&gitlab(&base), Some(&cursor.to_string()), None).await.unwrap();
    let got = ids(&pages);
    assert_eq!(
        got,
        [
            "group/docs:docs/guide.md",
            "group/docs:README.md",
            "group/docs:wiki:home",
            "group/docs:wiki:how-to/deploy",
            "group/docs:issue:8"
        ]
    );
    let deleted: Vec<String> = pages.iter().flat_map(|(_, p)| p.deleted.clone()).collect();
    assert_eq!(deleted, ["group/docs:docs/old.md", "group/docs:docs/draft.md"]);
    assert_eq!(hits(&server, &format!("{PROJECT}/repository/tree")).await, 0);
}

#[tokio::test]
async fn gitlab_unchanged_head_fetches_no_files_and_begin_records_it() {
    let server = MockServer::start().await;
    mount_gitlab(&server, &server.uri()).await;
    let c = gitlab(&server.uri());
    let cursor = c.begin().await.unwrap();
    let v: Value = serde_json::from_str(&cursor).unwrap();
    assert_eq!(v["projects"]["group/docs"]["sha"], HEAD);
    assert!(v["projects"]["group/docs"]["updated_after"].is_string());

    let cursor = json!({ "projects": { "group/docs":
        { "sha": HEAD, "updated_after": "2026-12-01T00:00:00Z" } } });
    Mock::given(path(format!("{PROJECT}/issues")))
        .and(query_param("updated_after", "2026-12-01T00:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(path(format!("{PROJECT}/merge_requests")))
        .and(query_param("updated_after", "2026-12-01T00:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let pages = drain(&c, Some(&cursor.to_string()), None).await.unwrap();
    assert_eq!(ids(&pages), ["group/docs:wiki:home", "group/docs:wiki:how-to/deploy"]);
    assert_eq!(hits(&server, &format!("{PROJECT}/repository/tree")).await, 0);
    assert_eq!(hits(&server, &format!("{PROJECT}/repository/compare")).await, 0);
}

#[tokio::test]
async fn gitlab_list_ids_lists_tree_wiki_issues_and_merge_requests() {
    let server = MockServer::start().await;
    mount_gitlab(&server, &server.uri()).await;
    Mock::given(path(format!("{PROJECT}/wikis")))
        .and(query_param_is_missing("with_content"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "format": "markdown", "slug": "home", "title": "Home", "encoding": "UTF-8" }])))
        .mount(&server)
        .await;
    for (page, iid, next) in [("1", 7, "2"), ("2", 9, "")] {
        Mock::given(path(format!("{PROJECT}/issues")))
            .and(query_param("page", page))
            .and(query_param_is_missing("order_by"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([gl_issue(
                        &server.uri(),
                        iid,
                        "x",
                        "2026-11-30T08:30:00Z"
                    )]))
                    .insert_header("x-next-page", next),
            )
            .mount(&server)
            .await;
    }
    let ids = gitlab(&server.uri()).list_ids().await.unwrap().unwrap();
    assert_eq!(
        ids,
        [
            "group/docs:README.md",
            "group/docs:docs/guide.md",
            "group/docs:docs/api.yaml",
            "group/docs:docs/big.md",
            "group/docs:docs/logo.png",
            "group/docs:notes.txt",
            "group/docs:wiki:home",
            "group/docs:issue:7",
            "group/docs:issue:9",
            "group/docs:mr:3",
        ]
    );
    // The wiki page removed since the first sync is gone, so pruning drops it.
    assert!(!ids.contains(&"group/docs:wiki:how-to/deploy".to_string()));
}

#[tokio::test]
async fn gitlab_test_connection_names_user_and_projects() {
    let server = MockServer::start().await;
    mount_gitlab(&server, &server.uri()).await;
    Mock::given(path("/api/v4/user"))
        .and(header("private-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "id": 2, "username": "ada", "name": "Ada Lovelace", "state": "active" }),
        ))
        .mount(&server)
        .await;
    let message = gitlab(&server.uri()).test_connection().await.unwrap();
    assert_eq!(message, "Connected as @ada; projects group/docs");
}

#[tokio::test]
async fn gitlab_401_is_unauthorized_without_the_token() {
    let server = MockServer::start().await;
    mount_401(&server, false).await;
    let c = gitlab(&server.uri());
    assert_unauthorized_redacted(c.fetch(&FetchRequest::default()).await);
    assert_unauthorized_redacted(c.test_connection().await);
}

#[tokio::test]
async fn gitlab_waits_out_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path(PROJECT)).respond_with(rate_limit("1")).up_to_n_times(1).mount(&server).await;
    mount_gitlab(&server, &server.uri()).await;
    let c = gitlab(&server.uri());
    assert_waits_for_retry_after(&server, PROJECT, || c.begin()).await;
}

#[tokio::test]
async fn gitlab_an_hour_of_retry_after_is_rate_limited_at_once() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(rate_limit("3600")).mount(&server).await;
    let c = gitlab(&server.uri());
    assert_rate_limited_at_once(&server, PROJECT, || async {
        c.fetch(&FetchRequest::default()).await
    })
    .await;
}

#[tokio::test]
async fn gitlab_body_cut_short_is_network_and_the_checkpoint_resumes() {
    let server = MockServer::start().await;
    let front = cutter(server.uri(), "page_token=t3").await;
    mount_gitlab(&server, &front.uri).await;
    let c = gitlab(&front.uri);
    let (done, err) = drain(&c, None, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Network(_)), "{err:?}");
    assert_eq!(ids(&done), GITLAB_FIRST_SYNC[..3]);

    front.cut.store(false, Ordering::SeqCst);
    let resume = done.last().unwrap().1.next.clone().unwrap();
    let checkpoint: Value = serde_json::from_str(&resume).unwrap();
    assert_eq!(checkpoint["phase"], "tree");
    assert!(checkpoint["page"].as_str().unwrap().contains("page_token=t3"));
    let rest = drain(&c, None, Some(resume)).await.unwrap();
    let mut all = ids(&done);
    all.extend(ids(&rest));
    assert_eq!(all, GITLAB_FIRST_SYNC);
    assert_unique(&all);
}
