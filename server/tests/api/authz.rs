//! The authorization matrix, generated from the route table. Every REST route (read from the
//! router sources: `startup/router.rs` and the `routes::*` routers it mounts) and every registered server
//! fn (`server_fn_paths()`) must have a rule in `RULES`; a route without one, or a rule for a
//! route that is gone, fails the test. Each route is then called by every principal: anonymous,
//! a member, an admin, and an API token of each single scope. A principal the rule refuses must
//! get 401 (anonymous) or 403; one it admits must get neither. A second test checks that another
//! member's sources and jobs answer 404 (or 403), never 200.

use crate::helpers::{PASSWORD, TestApp, Tokens, email, expect_status, spawn_app, spawn_app_with};
use model::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Who may call a route, as its handler or server fn checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in principal, whatever its scopes (`require_user`).
    User,
    /// A principal holding this scope (`require_scope`).
    Scope(Scope),
    /// A principal holding both scopes (the route checks one, the service the other).
    Both(Scope, Scope),
    /// `/api/{*fn_name}`: answers only registered server fns (each checked on its own below);
    /// any other name is a 404 for everyone.
    ServerFnDispatch,
}

const BASIC: Access = Access::Scope(Scope::Basic);
const SEARCH: Access = Access::Scope(Scope::Search);
const GENERATE: Access = Access::Scope(Scope::Generate);
const ADMIN: Access = Access::Scope(Scope::Admin);
/// Writing an RFC from what the knowledge holds: `generate`, and `search` to read it.
const GENERATE_SEARCH: Access = Access::Both(Scope::Generate, Scope::Search);

/// What a request carries.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// Nothing (GET, DELETE).
    None,
    /// This JSON, as `application/json`.
    Json(&'static str),
    /// A new account (`{"form": …}` when `wrap`): unique e-mail each time.
    Register { wrap: bool },
    /// The sign-in account's e-mail and password (`{"form": …}` when `wrap`).
    SignIn { wrap: bool },
    /// `{"refresh_token": …}`, the next token of a chain kept by the test.
    Refresh,
    /// A multipart form without a file part (the upload route).
    Multipart,
    /// A WebSocket handshake instead of a plain request.
    WebSocket,
}

/// One route (or server fn) and its rule.
#[derive(Debug, Clone, Copy)]
struct Rule {
    method: &'static str,
    /// As in the router, with its `{placeholders}`; server fns as `/api/<endpoint>`.
    path: &'static str,
    access: Access,
    body: Body,
    /// Ends the caller's session: session principals sign in again for this one call.
    ends_session: bool,
}

const fn rest(method: &'static str, path: &'static str, access: Access, body: Body) -> Rule {
    Rule { method, path, access, body, ends_session: false }
}

const fn get(path: &'static str, access: Access) -> Rule {
    rest("GET", path, access, Body::None)
}

const fn sfn(path: &'static str, access: Access, body: &'static str) -> Rule {
    Rule { method: "POST", path, access, body: Body::Json(body), ends_session: false }
}

impl Rule {
    const fn ends_session(self) -> Rule {
        Rule { ends_session: true, ..self }
    }

    const fn with_body(self, body: Body) -> Rule {
        Rule { body, ..self }
    }
}

/// A files-source form any `search` principal may submit.
macro_rules! source_form {
    () => {
        concat!(
            r#"{"name":"authz","kind":"files","config":{},"secret":null,"#,
            r#""visibility":"owner","members":[],"schedule":null,"enabled":true}"#,
        )
    };
}

/// A budget whose period is refused only after the scope check.
macro_rules! bad_budget {
    () => {
        r#""limit_usd":1.0,"period":"authz-bogus","reason":"authz matrix""#
    };
}

/// A price whose model name is refused only after the scope check.
macro_rules! bad_price {
    () => {
        concat!(
            r#"{"model":"","input_usd_per_mtok":1.0,"output_usd_per_mtok":1.0,"#,
            r#""cached_input_usd_per_mtok":1.0"#,
        )
    };
}

const EMPTY: Body = Body::Json("{}");

/// Every route and server fn with the rule its handler enforces. Write bodies that pass
/// deserialization (extractors run before the handler's scope check) and, for admin writes,
/// fail validation after it, so the matrix changes nothing.
const RULES: &[Rule] = &[
    // --- server/src/startup/router.rs
    get("/health/live", Access::Public),
    get("/health/ready", Access::Public),
    // Public while `server.metrics_token` is unset (as here); with it, its own bearer token.
    get("/metrics", Access::Public),
    get("/ws", BASIC).with_body(Body::WebSocket),
    get("/api/{*fn_name}", Access::ServerFnDispatch),
    rest("POST", "/api/{*fn_name}", Access::ServerFnDispatch, EMPTY),
    // --- routes/rest.rs
    rest("POST", "/api/v1/auth/register", Access::Public, Body::Register { wrap: false }),
    rest("POST", "/api/v1/auth/login", Access::Public, Body::SignIn { wrap: false }),
    rest("POST", "/api/v1/auth/refresh", Access::Public, Body::Refresh),
    // Without a refresh token in the body it needs a signed-in caller.
    rest("POST", "/api/v1/auth/logout", Access::User, EMPTY).ends_session(),
    get("/api/v1/me", BASIC),
    get("/api/v1/tokens", BASIC),
    rest(
        "POST",
        "/api/v1/tokens",
        BASIC,
        Body::Json(r#"{"name":"authz","expires_in_days":1,"scopes":[]}"#),
    ),
    rest("DELETE", "/api/v1/tokens/{id}", BASIC, Body::None),
    get("/api/v1/admin/users", ADMIN),
    rest("PATCH", "/api/v1/admin/users/{id}", ADMIN, Body::Json(r#"{"active":true}"#)),
    get("/api/v1/admin/audit", ADMIN),
    get("/api/v1/admin/queue", ADMIN),
    get("/api/v1/admin/jobs", ADMIN),
    rest("DELETE", "/api/v1/admin/jobs/{id}", ADMIN, Body::None),
    rest("POST", "/api/v1/admin/jobs/{id}/retry", ADMIN, EMPTY),
    get("/api/v1/jobs", BASIC),
    rest("POST", "/api/v1/jobs/demo", BASIC, Body::Json(r#"{"steps":1,"step_ms":1}"#)),
    rest("POST", "/api/v1/jobs/{id}/cancel", BASIC, EMPTY),
    rest("POST", "/api/v1/jobs/{id}/retry", BASIC, EMPTY),
    // --- routes/llm.rs
    rest("POST", "/api/v1/llm/chat", GENERATE, Body::Json(r#"{"messages":[]}"#)),
    get("/api/v1/budget", BASIC),
    get("/api/v1/usage", BASIC),
    get("/api/v1/usage/export", BASIC),
    get("/api/v1/usage/summary", BASIC),
    rest(
        "PUT",
        "/api/v1/admin/budgets/global",
        ADMIN,
        Body::Json(concat!("{", bad_budget!(), "}")),
    ),
    rest(
        "PUT",
        "/api/v1/admin/budgets/users/{id}",
        ADMIN,
        Body::Json(concat!("{", bad_budget!(), "}")),
    ),
    get("/api/v1/admin/prices", ADMIN),
    rest(
        "PUT",
        "/api/v1/admin/prices",
        ADMIN,
        Body::Json(concat!(bad_price!(), r#","reason":"authz matrix"}"#)),
    ),
    get("/api/v1/admin/llm/usage", ADMIN),
    get("/api/v1/admin/llm/providers", ADMIN),
    rest(
        "PUT",
        "/api/v1/admin/llm/providers/{name}",
        ADMIN,
        Body::Json(r#"{"kind":"authz-bogus","base_url":"http://127.0.0.1:9"}"#),
    ),
    rest("DELETE", "/api/v1/admin/llm/providers/{name}", ADMIN, Body::None),
    rest("POST", "/api/v1/admin/llm/providers/{name}/probe", ADMIN, EMPTY),
    get("/api/v1/admin/llm/routing", ADMIN),
    rest(
        "PUT",
        "/api/v1/admin/llm/routing",
        ADMIN,
        Body::Json(
            r#"{"strategy":"authz-bogus","routes":{},"private_features":[],"private_users":[]}"#,
        ),
    ),
    get("/api/v1/admin/llm/spend", ADMIN),
    get("/api/v1/admin/llm/unpriced", ADMIN),
    // --- routes/notifications.rs
    get("/api/v1/notifications", BASIC),
    rest("POST", "/api/v1/notifications/read-all", BASIC, EMPTY),
    rest("POST", "/api/v1/notifications/{id}/read", BASIC, EMPTY),
    // --- routes/rfcs.rs (reading others' RFCs answers 404; the bodies fail validation)
    get("/api/v1/rfc-templates", BASIC),
    get("/api/v1/admin/rfc-templates", ADMIN),
    rest(
        "PUT",
        "/api/v1/admin/rfc-templates/{key}",
        ADMIN,
        Body::Json(
            r#"{"name_en":"","name_ru":"","summary_en":"","summary_ru":"","sections":[],"questions":[]}"#,
        ),
    ),
    rest("POST", "/api/v1/admin/rfc-templates/{key}/copy", ADMIN, Body::Json(r#"{"key":"x"}"#)),
    rest(
        "PUT",
        "/api/v1/admin/rfc-templates/{key}/enabled",
        ADMIN,
        Body::Json(r#"{"enabled":true}"#),
    ),
    get("/api/v1/rfcs", BASIC),
    rest(
        "POST",
        "/api/v1/rfcs",
        GENERATE,
        Body::Json(
            r#"{"task_type":"new_feature","template":"feature","title":"","description":"","language":"en"}"#,
        ),
    ),
    get("/api/v1/rfcs/{id}", BASIC),
    rest("POST", "/api/v1/rfcs/{id}/questions", GENERATE, EMPTY),
    rest("PUT", "/api/v1/rfcs/{id}/questions/{question_id}", GENERATE, EMPTY),
    get("/api/v1/rfcs/{id}/quality", BASIC),
    rest("POST", "/api/v1/rfcs/{id}/review", GENERATE, EMPTY),
    rest("POST", "/api/v1/rfcs/{id}/ground", GENERATE_SEARCH, EMPTY),
    rest(
        "POST",
        "/api/v1/rfcs/{id}/sources",
        GENERATE_SEARCH,
        Body::Json(r#"{"document_id":1,"chunk_id":1}"#),
    ),
    get("/api/v1/rfcs/{id}/sources/search", GENERATE_SEARCH),
    rest(
        "PUT",
        "/api/v1/rfcs/{id}/sources/{source_id}",
        GENERATE,
        Body::Json(r#"{"removed":true}"#),
    ),
    rest("POST", "/api/v1/rfcs/{id}/draft", GENERATE, EMPTY),
    rest("POST", "/api/v1/rfcs/{id}/sections", GENERATE, Body::Json(r#"{"heading":""}"#)),
    rest("PUT", "/api/v1/rfcs/{id}/sections/{section_id}", GENERATE, Body::Json(r#"{"body":""}"#)),
    rest("DELETE", "/api/v1/rfcs/{id}/sections/{section_id}", GENERATE, Body::None),
    rest(
        "POST",
        "/api/v1/rfcs/{id}/sections/{section_id}/move",
        GENERATE,
        Body::Json(r#"{"position":0}"#),
    ),
    rest(
        "POST",
        "/api/v1/rfcs/{id}/sections/{section_id}/proposal",
        GENERATE,
        Body::Json(r#"{"accept":false}"#),
    ),
    rest(
        "POST",
        "/api/v1/rfcs/{id}/sections/{section_id}/regenerate",
        GENERATE,
        Body::Json(r#"{"instruction":"shorter"}"#),
    ),
    // --- routes/knowledge.rs (connector kinds and `everyone` visibility also need admin, checked
    // by the service after the route's `search`)
    get("/api/v1/search", SEARCH),
    rest("POST", "/api/v1/search", SEARCH, Body::Json(r#"{"q":"authz"}"#)),
    get("/api/v1/search/history", SEARCH),
    rest(
        "POST",
        "/api/v1/search/clicks",
        SEARCH,
        Body::Json(r#"{"query_id":999999,"position":0,"document_id":999999}"#),
    ),
    get("/api/v1/documents/{id}/similar", SEARCH),
    get("/api/v1/sources", SEARCH),
    rest("POST", "/api/v1/sources", SEARCH, Body::Json(source_form!())),
    rest("POST", "/api/v1/sources/test", SEARCH, Body::Json(source_form!())),
    get("/api/v1/sources/{id}", SEARCH),
    rest("PUT", "/api/v1/sources/{id}", SEARCH, Body::Json(source_form!())),
    rest("DELETE", "/api/v1/sources/{id}", SEARCH, Body::None),
    rest("POST", "/api/v1/sources/{id}/test", SEARCH, Body::Json(source_form!())),
    rest("POST", "/api/v1/sources/{id}/sync", SEARCH, EMPTY),
    get("/api/v1/sources/{id}/runs", SEARCH),
    get("/api/v1/sources/{id}/files", SEARCH),
    rest("POST", "/api/v1/sources/{id}/files", SEARCH, Body::Multipart),
    get("/api/v1/sources/{id}/files/{file_id}", SEARCH),
    rest("DELETE", "/api/v1/sources/{id}/files/{file_id}", SEARCH, Body::None),
    get("/api/v1/admin/search/analytics", ADMIN),
    get("/api/v1/admin/search/stats", ADMIN),
    rest("POST", "/api/v1/admin/search/reindex", ADMIN, EMPTY),
    // --- server fns: app/src/api/auth.rs
    Rule {
        method: "POST",
        path: "/api/register",
        access: Access::Public,
        body: Body::Register { wrap: true },
        ends_session: false,
    },
    Rule {
        method: "POST",
        path: "/api/sign_in",
        access: Access::Public,
        body: Body::SignIn { wrap: true },
        ends_session: false,
    },
    sfn("/api/sign_out", Access::Public, "{}").ends_session(),
    sfn("/api/current_user", Access::Public, "{}"),
    sfn("/api/set_language", BASIC, r#"{"lang":"ru"}"#),
    // --- app/src/api/dashboard.rs
    sfn("/api/dashboard", BASIC, "{}"),
    sfn("/api/model_ready", BASIC, "{}"),
    // --- app/src/api/tokens.rs
    sfn("/api/list_api_tokens", BASIC, "{}"),
    sfn("/api/create_api_token", BASIC, r#"{"form":{"name":"authz","expires_in_days":1}}"#),
    sfn("/api/revoke_api_token", BASIC, r#"{"id":999999}"#),
    // --- app/src/api/jobs.rs
    sfn("/api/list_my_jobs", BASIC, r#"{"limit":10,"offset":0}"#),
    sfn("/api/start_demo_job", BASIC, r#"{"steps":1,"step_ms":1}"#),
    sfn("/api/cancel_job", BASIC, r#"{"id":999999}"#),
    sfn("/api/retry_job", BASIC, r#"{"id":999999}"#),
    sfn("/api/queue_overview", ADMIN, "{}"),
    sfn("/api/admin_list_jobs", ADMIN, r#"{"state":null,"kind":null,"limit":10,"offset":0}"#),
    sfn("/api/admin_retry_job", ADMIN, r#"{"id":999999}"#),
    sfn("/api/discard_job", ADMIN, r#"{"id":999999}"#),
    // --- app/src/api/admin.rs
    sfn("/api/list_users", ADMIN, r#"{"query":"","limit":10,"offset":0}"#),
    sfn("/api/set_user_scopes", ADMIN, r#"{"user_id":999999,"scopes":["basic"]}"#),
    sfn("/api/set_user_active", ADMIN, r#"{"user_id":999999,"active":true}"#),
    sfn("/api/list_audit", ADMIN, r#"{"limit":10,"offset":0}"#),
    // --- app/src/api/notifications.rs
    sfn("/api/list_notifications", BASIC, r#"{"limit":10,"offset":0}"#),
    sfn("/api/unread_notifications", BASIC, "{}"),
    sfn("/api/mark_notification_read", BASIC, r#"{"id":999999}"#),
    sfn("/api/mark_all_notifications_read", BASIC, "{}"),
    // --- app/src/api/search.rs
    sfn("/api/search", SEARCH, r#"{"req":{"q":"authz"}}"#),
    sfn("/api/more_like_this", SEARCH, r#"{"document_id":999999,"limit":5}"#),
    sfn(
        "/api/record_search_click",
        SEARCH,
        r#"{"query_id":999999,"position":0,"document_id":999999}"#,
    ),
    sfn("/api/search_history", SEARCH, r#"{"limit":5}"#),
    sfn("/api/search_analytics", ADMIN, r#"{"days":7}"#),
    sfn("/api/rebuild_search_index", ADMIN, "{}"),
    // --- app/src/api/rfcs.rs
    sfn("/api/list_rfcs", BASIC, r#"{"limit":10,"offset":0}"#),
    sfn("/api/list_rfc_templates", BASIC, "{}"),
    sfn("/api/admin_rfc_templates", ADMIN, "{}"),
    sfn("/api/copy_rfc_template", ADMIN, r#"{"from":"x","input":{"key":"x"}}"#),
    sfn("/api/rfc_template_toml", ADMIN, r#"{"key":"x"}"#),
    sfn("/api/save_rfc_template", ADMIN, r#"{"key":"x","definition":"x"}"#),
    sfn("/api/set_rfc_template_enabled", ADMIN, r#"{"key":"x","enabled":true}"#),
    sfn(
        "/api/create_rfc",
        GENERATE,
        r#"{"input":{"task_type":"new_feature","template":"feature","title":"","description":"","language":"en"}}"#,
    ),
    sfn("/api/get_rfc", BASIC, r#"{"id":999999}"#),
    sfn(
        "/api/answer_rfc_question",
        GENERATE,
        r#"{"id":999999,"question_id":1,"input":{"skip":true}}"#,
    ),
    sfn("/api/ask_rfc_questions", GENERATE, r#"{"id":999999}"#),
    sfn("/api/ground_rfc", GENERATE_SEARCH, r#"{"id":999999}"#),
    sfn("/api/search_rfc_sources", GENERATE_SEARCH, r#"{"id":999999,"q":"x"}"#),
    sfn("/api/add_rfc_source", GENERATE_SEARCH, r#"{"id":999999,"document_id":1,"chunk_id":1}"#),
    sfn("/api/set_rfc_source_removed", GENERATE, r#"{"id":999999,"source_id":1,"removed":true}"#),
    sfn("/api/draft_rfc", GENERATE, r#"{"id":999999}"#),
    sfn("/api/edit_rfc_section", GENERATE, r#"{"id":999999,"section_id":1,"input":{"body":"x"}}"#),
    sfn("/api/add_rfc_section", GENERATE, r#"{"id":999999,"input":{"heading":"x"}}"#),
    sfn(
        "/api/move_rfc_section",
        GENERATE,
        r#"{"id":999999,"section_id":1,"input":{"position":0}}"#,
    ),
    sfn("/api/delete_rfc_section", GENERATE, r#"{"id":999999,"section_id":1}"#),
    sfn(
        "/api/regenerate_rfc_section",
        GENERATE,
        r#"{"id":999999,"section_id":1,"input":{"instruction":"x"}}"#,
    ),
    sfn("/api/settle_rfc_proposal", GENERATE, r#"{"id":999999,"section_id":1,"accept":true}"#),
    sfn("/api/rfc_quality", BASIC, r#"{"id":999999}"#),
    sfn("/api/review_rfc", GENERATE, r#"{"id":999999}"#),
    sfn("/api/render_markdown", BASIC, r#"{"texts":["**x**"]}"#),
    // --- app/src/api/sources.rs
    sfn("/api/list_sources", SEARCH, "{}"),
    sfn("/api/create_source", SEARCH, concat!(r#"{"form":"#, source_form!(), "}")),
    sfn("/api/update_source", SEARCH, concat!(r#"{"id":999999,"form":"#, source_form!(), "}")),
    sfn("/api/delete_source", SEARCH, r#"{"id":999999}"#),
    sfn("/api/test_source", SEARCH, concat!(r#"{"id":null,"form":"#, source_form!(), "}")),
    sfn("/api/sync_source", SEARCH, r#"{"id":999999}"#),
    sfn("/api/list_sync_runs", SEARCH, r#"{"id":999999}"#),
    sfn("/api/list_source_files", SEARCH, r#"{"id":999999}"#),
    sfn("/api/delete_source_file", SEARCH, r#"{"id":999999,"file_id":999999}"#),
    // --- app/src/api/usage.rs
    sfn("/api/my_budgets", BASIC, "{}"),
    sfn("/api/my_calls", BASIC, r#"{"days":7,"limit":10,"offset":0}"#),
    sfn("/api/set_budget", ADMIN, concat!(r#"{"user_email":null,"#, bad_budget!(), "}")),
    sfn("/api/try_prompt", GENERATE, r#"{"prompt":""}"#),
    sfn("/api/list_prices", ADMIN, "{}"),
    sfn("/api/set_price", ADMIN, concat!(r#"{"price":"#, bad_price!(), r#"},"reason":"authz"}"#)),
    // --- app/src/api/llm_admin.rs
    sfn("/api/my_usage_summary", BASIC, r#"{"days":7}"#),
    sfn("/api/team_usage_summary", ADMIN, r#"{"days":7}"#),
    sfn("/api/list_llm_providers", ADMIN, "{}"),
    sfn(
        "/api/save_llm_provider",
        ADMIN,
        concat!(
            r#"{"provider":{"name":"authz-missing","kind":"authz-bogus","#,
            r#""base_url":"http://127.0.0.1:9","api_key":null,"private":false,"azure":false,"#,
            r#""enabled":true,"timeout_secs":10,"max_retries":0}}"#,
        ),
    ),
    sfn("/api/delete_llm_provider", ADMIN, r#"{"name":"authz-missing"}"#),
    sfn("/api/probe_llm_provider", ADMIN, r#"{"name":"authz-missing"}"#),
    sfn("/api/get_llm_routing", ADMIN, "{}"),
    sfn(
        "/api/save_llm_routing",
        ADMIN,
        r#"{"strategy":"authz-bogus","routes":{},"private_features":[],"private_users":[]}"#,
    ),
    sfn("/api/spend_overview", ADMIN, r#"{"q":"","min_percent":0,"limit":10,"offset":0}"#),
    sfn("/api/unpriced_models", ADMIN, "{}"),
];

// ---------------------------------------------------------------------------------------------
// The route table, read from the router sources.

/// A source file with comments removed (`text`), and the same with the insides of string and
/// char literals blanked (`code`, for finding structure); indices agree.
struct Src {
    text: Vec<char>,
    code: Vec<char>,
}

impl Src {
    fn read(path: &str) -> Src {
        let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let b: Vec<char> = raw.chars().collect();
        let (mut text, mut code) = (Vec::with_capacity(b.len()), Vec::with_capacity(b.len()));
        let mut push = |c: char, literal: bool| {
            text.push(c);
            code.push(if literal { ' ' } else { c });
        };
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let next = b.get(i + 1).copied();
            if c == '/' && next == Some('/') {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            } else if c == '/' && next == Some('*') {
                i += 2;
                while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            } else if c == 'r'
                && matches!(next, Some('"' | '#'))
                && !i.checked_sub(1).is_some_and(|j| b[j].is_ascii_alphanumeric() || b[j] == '_')
            {
                // A raw string: r"…", r#"…"#.
                let hashes = b[i + 1..].iter().take_while(|&&ch| ch == '#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&'"') {
                    push(c, false);
                    i += 1;
                    continue;
                }
                let closing: Vec<char> =
                    std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                let end =
                    (open + 1..b.len()).find(|&j| b[j..].starts_with(&closing)).unwrap_or(b.len());
                for &ch in &b[i..=open] {
                    push(ch, false);
                }
                for &ch in &b[open + 1..end] {
                    push(ch, true);
                }
                for &ch in b.get(end..end + closing.len()).unwrap_or_default() {
                    push(ch, false);
                }
                i = end + closing.len();
            } else if c == '"' {
                push(c, false);
                i += 1;
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\\' && i + 1 < b.len() {
                        push(b[i], true);
                        i += 1;
                    }
                    push(b[i], true);
                    i += 1;
                }
                if i < b.len() {
                    push('"', false);
                    i += 1;
                }
            } else if c == '\'' && (next == Some('\\') || b.get(i + 2) == Some(&'\'')) {
                // A char literal ('x', '\n', '\''); a lifetime has no closing quote.
                let end = if next == Some('\\') {
                    (i + 3..b.len()).find(|&j| b[j] == '\'').unwrap_or(b.len() - 1)
                } else {
                    i + 2
                };
                push('\'', false);
                for &ch in &b[i + 1..end] {
                    push(ch, true);
                }
                push('\'', false);
                i = end + 1;
            } else {
                push(c, false);
                i += 1;
            }
        }
        Src { text, code }
    }

    /// Start indices of `pat` in the code.
    fn find_all(&self, pat: &str, from: usize, to: usize) -> Vec<usize> {
        let p: Vec<char> = pat.chars().collect();
        (from..to.saturating_sub(p.len() - 1))
            .filter(|&i| self.code[i..i + p.len()] == p[..])
            .collect()
    }

    /// The index of the bracket closing the one at `open`.
    fn close_of(&self, open: usize) -> usize {
        let (o, c) = match self.code[open] {
            '(' => ('(', ')'),
            '{' => ('{', '}'),
            '[' => ('[', ']'),
            other => panic!("not a bracket: {other}"),
        };
        let mut depth = 0usize;
        for (i, &ch) in self.code.iter().enumerate().skip(open) {
            if ch == o {
                depth += 1;
            } else if ch == c {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
        }
        panic!("unbalanced {o} at {open}")
    }

    /// The string literal starting at the first non-space character at or after `at`, with the
    /// index after its closing quote; None when something else comes first.
    fn literal_at(&self, at: usize) -> Option<(String, usize)> {
        let start = (at..self.code.len()).find(|&i| !self.code[i].is_whitespace())?;
        if self.code[start] != '"' {
            return None;
        }
        let end = (start + 1..self.code.len()).find(|&i| self.code[i] == '"')?;
        Some((self.text[start + 1..end].iter().collect(), end + 1))
    }

    /// Identifiers directly followed by `(` in `from..to`, with the paren's index.
    fn calls(&self, from: usize, to: usize) -> Vec<(String, usize)> {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut out = Vec::new();
        let mut i = from;
        while i < to {
            if ident(self.code[i]) && (i == 0 || !ident(self.code[i - 1])) {
                let start = i;
                while i < to && ident(self.code[i]) {
                    i += 1;
                }
                if self.code.get(i) == Some(&'(') {
                    out.push((self.code[start..i].iter().collect(), i));
                }
            } else {
                i += 1;
            }
        }
        out
    }

    /// The body (between its braces) of `fn name`.
    fn fn_body(&self, name: &str, file: &str) -> (usize, usize) {
        let at = self
            .find_all(&format!("fn {name}("), 0, self.code.len())
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{file}: no fn {name}"));
        let params = self.close_of(at + 3 + name.len());
        let open = (params..self.code.len())
            .find(|&i| self.code[i] == '{')
            .unwrap_or_else(|| panic!("{file}: fn {name} has no body"));
        (open + 1, self.close_of(open))
    }

    /// `.route("path", get(h).post(h2)…)` calls in `from..to`: (METHOD, prefix + path).
    fn routes(&self, from: usize, to: usize, prefix: &str, file: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for at in self.find_all(".route(", from, to) {
            let open = at + ".route".len();
            let close = self.close_of(open);
            let Some((path, after)) = self.literal_at(open + 1) else {
                panic!("{file}: a .route( whose path is not a string literal; extend authz.rs")
            };
            let mut methods = Vec::new();
            for (name, _) in self.calls(after, close) {
                match name.as_str() {
                    "get" | "post" | "put" | "patch" | "delete" | "head" | "options" => {
                        methods.push(name.to_uppercase());
                    }
                    other => panic!(
                        "{file}: route {path} uses `{other}(…)`, which authz.rs cannot read; \
                         extend its parser"
                    ),
                }
            }
            assert!(!methods.is_empty(), "{file}: route {path} has no method authz.rs can read");
            for m in methods {
                out.push((m, format!("{prefix}{path}")));
            }
        }
        out
    }
}

fn src_path(rel: &str) -> String {
    format!("{}/src/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// Every (METHOD, path) the HTTP router serves besides Leptos pages and server fns: the routes
/// in `startup::router` and in each `routes::<module>::<fn>()` router it mounts (with the
/// `.nest` prefix it is mounted under).
fn rest_routes() -> BTreeSet<(String, String)> {
    let startup = Src::read(&src_path("startup/router.rs"));
    let (from, to) = startup.fn_body("router", "startup/router.rs");
    let mut out: BTreeSet<(String, String)> =
        startup.routes(from, to, "", "startup/router.rs").into_iter().collect();
    let nests: Vec<(usize, usize, String)> = startup
        .find_all(".nest(", from, to)
        .into_iter()
        .map(|at| {
            let open = at + ".nest".len();
            let (prefix, _) = startup
                .literal_at(open + 1)
                .unwrap_or_else(|| panic!("startup/router.rs: a .nest( without a literal prefix"));
            (open, startup.close_of(open), prefix)
        })
        .collect();
    let mut mounted = 0;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for at in startup.find_all("routes::", from, to) {
        if ident(startup.code[at - 1]) {
            continue;
        }
        let after: String = startup.code[at + "routes::".len()..to].iter().collect();
        let Some((module, tail)) = after.split_once("::") else { continue };
        let func: String = tail.chars().take_while(|&c| ident(c)).collect();
        if !module.chars().all(ident) || !tail[func.len()..].starts_with('(') {
            // A handler (`routes::ws::upgrade`), not a router.
            continue;
        }
        let prefix = nests
            .iter()
            .find(|(open, close, _)| (*open..*close).contains(&at))
            .map_or("", |(_, _, p)| p.as_str());
        let file = format!("routes/{module}.rs");
        let path = if std::path::Path::new(&src_path(&file)).exists() {
            src_path(&file)
        } else {
            src_path(&format!("routes/{module}/mod.rs"))
        };
        let src = Src::read(&path);
        let (f, t) = src.fn_body(&func, &file);
        for unsupported in [".nest(", ".merge(", ".route_service(", ".nest_service(", ".fallback("]
        {
            assert!(
                src.find_all(unsupported, f, t).is_empty(),
                "{file}: fn {func} uses {unsupported}…), which authz.rs does not follow; extend it"
            );
        }
        out.extend(src.routes(f, t, prefix, &file));
        mounted += 1;
    }
    assert!(mounted > 0, "startup.rs mounts no routes::… router; is the parser still right?");
    out
}

/// Every registered server fn as (METHOD, path).
fn server_fns() -> BTreeSet<(String, String)> {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (method.to_string(), path.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Principals and requests.

#[derive(Debug, Clone)]
enum Cred {
    Anonymous,
    /// A session (JWT bearer) of this account.
    Session {
        email: String,
        access: String,
    },
    /// A personal API token.
    Token(String),
}

#[derive(Debug, Clone)]
struct Principal {
    name: String,
    cred: Cred,
    scopes: Vec<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Admitted,
    Unauthorized,
    Forbidden,
    NotFound,
}

fn expectation(access: Access, p: &Principal) -> Expect {
    let anonymous = matches!(p.cred, Cred::Anonymous);
    match access {
        Access::Public => Expect::Admitted,
        Access::ServerFnDispatch => Expect::NotFound,
        Access::User if anonymous => Expect::Unauthorized,
        Access::User => Expect::Admitted,
        Access::Scope(_) if anonymous => Expect::Unauthorized,
        Access::Scope(s) if p.scopes.contains(&s) => Expect::Admitted,
        Access::Scope(_) => Expect::Forbidden,
        Access::Both(..) if anonymous => Expect::Unauthorized,
        Access::Both(a, b) if p.scopes.contains(&a) && p.scopes.contains(&b) => Expect::Admitted,
        Access::Both(..) => Expect::Forbidden,
    }
}

/// What the matrix needs between requests.
struct Ctx {
    /// The account `SignIn` bodies use.
    sign_in_email: String,
    /// The next refresh token of the chain `Refresh` bodies use.
    refresh: String,
    /// Sign-ins made for `ends_session` routes.
    fresh_sessions: usize,
}

/// Path parameters: a name that is nobody's, or an id that is nothing's (every handler checks
/// the scope before loading the object).
fn fill(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{name}" => "authz-missing",
            "{*fn_name}" => "authz_no_such_fn",
            s if s.starts_with('{') => "999999",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

const BOUNDARY: &str = "authzboundary";

async fn send(app: &TestApp, rule: &Rule, p: &Principal, ctx: &mut Ctx) -> (u16, String) {
    let bearer = match &p.cred {
        Cred::Anonymous => None,
        Cred::Token(t) => Some(t.clone()),
        Cred::Session { email, .. } if rule.ends_session => {
            ctx.fresh_sessions += 1;
            Some(app.login(email).await.access)
        }
        Cred::Session { access, .. } => Some(access.clone()),
    };
    let path = fill(rule.path);
    if let Body::WebSocket = rule.body {
        let mut req = format!("ws://127.0.0.1:{}{path}", app.port).into_client_request().unwrap();
        if let Some(t) = &bearer {
            req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        return match tokio_tungstenite::connect_async(req).await {
            Ok((socket, res)) => {
                drop(socket);
                (res.status().as_u16(), String::new())
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => (
                res.status().as_u16(),
                String::from_utf8_lossy(res.body().as_deref().unwrap_or_default()).into(),
            ),
            Err(e) => panic!("{} {path} as {}: {e}", rule.method, p.name),
        };
    }
    let method = Method::from_bytes(rule.method.as_bytes()).expect("method");
    let mut req = app.api.request(method, app.url(&path));
    if let Some(t) = &bearer {
        req = req.bearer_auth(t);
    }
    let account = |wrap: bool, v: Value| if wrap { json!({ "form": v }) } else { v };
    req = match rule.body {
        Body::None | Body::WebSocket => req,
        Body::Json(text) => req
            .header("content-type", "application/json")
            .body(serde_json::from_str::<Value>(text).expect("rule body is JSON").to_string()),
        Body::Register { wrap } => req.json(&account(
            wrap,
            json!({ "email": email("authz"), "password": PASSWORD, "display_name": "Authz" }),
        )),
        Body::SignIn { wrap } => {
            req.json(&account(wrap, json!({ "email": ctx.sign_in_email, "password": PASSWORD })))
        }
        Body::Refresh => req.json(&json!({ "refresh_token": ctx.refresh })),
        Body::Multipart => req
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(format!("--{BOUNDARY}--\r\n")),
    };
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    if let (Body::Refresh, 200) = (rule.body, status) {
        let v: Value = serde_json::from_str(&text).expect("refresh answer");
        ctx.refresh = v["refresh_token"].as_str().expect("refresh_token").to_string();
    }
    (status, text)
}

async fn session(app: &TestApp, name: &str, address: String, tokens: Tokens) -> Principal {
    let me = expect_status(app.me(&tokens.access).await, StatusCode::OK).await;
    let scopes = me["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .map(|s| Scope::parse(s.as_str().expect("scope name")).expect("known scope"))
        .collect();
    let cred = Cred::Session { email: address, access: tokens.access };
    Principal { name: name.into(), cred, scopes }
}

fn short(text: &str) -> String {
    text.chars().take(160).collect()
}

#[tokio::test]
async fn every_route_and_server_fn_enforces_its_rule_for_every_principal() {
    let started = Instant::now();
    // The matrix signs in again for each sign-out call; the per-address limit is not under test.
    let app = spawn_app_with(|s| s.auth.login_max_per_ip = 100_000).await;

    // The first account is the admin.
    let admin_email = email("authz-admin");
    let admin_tokens = app.register(&admin_email).await;
    let member_email = email("authz-member");
    let member_tokens = app.register(&member_email).await;
    let admin = session(&app, "admin", admin_email, admin_tokens.clone()).await;
    let member = session(&app, "member", member_email, member_tokens).await;
    assert!(admin.scopes.contains(&Scope::Admin), "the first account is not admin: {admin:?}");
    assert!(!member.scopes.contains(&Scope::Admin), "a second account is admin: {member:?}");
    let sign_in_email = email("authz-signin");
    app.register(&sign_in_email).await;
    let refresh = app.register(&email("authz-refresh")).await.refresh;
    let mut ctx = Ctx { sign_in_email, refresh, fresh_sessions: 0 };

    let mut principals = vec![
        Principal { name: "anonymous".into(), cred: Cred::Anonymous, scopes: vec![] },
        member,
        admin,
    ];
    for scope in Scope::ALL {
        let (_, secret) = app.create_api_token(&admin_tokens.access, &[scope.as_str()]).await;
        principals.push(Principal {
            name: format!("token:{scope}"),
            cred: Cred::Token(secret),
            scopes: vec![scope],
        });
    }

    // The route table against the rules: each route has exactly one rule, each rule a route.
    let routes = rest_routes();
    let fns = server_fns();
    assert!(!fns.is_empty(), "no server fns registered: is the app crate linked?");
    let mut rules: BTreeMap<(String, String), &Rule> = BTreeMap::new();
    for rule in RULES {
        let key = (rule.method.to_string(), rule.path.to_string());
        assert!(rules.insert(key, rule).is_none(), "{} {} has two rules", rule.method, rule.path);
    }
    let mut table_errors = Vec::new();
    for (method, path) in routes.iter().chain(&fns) {
        if !rules.contains_key(&(method.clone(), path.clone())) {
            let what =
                if fns.contains(&(method.clone(), path.clone())) { "server fn" } else { "route" };
            table_errors
                .push(format!("{what} {method} {path} has no authorization rule in authz.rs"));
        }
    }
    for (method, path) in rules.keys() {
        let key = (method.clone(), path.clone());
        if !routes.contains(&key) && !fns.contains(&key) {
            table_errors
                .push(format!("authz.rs has a rule for {method} {path}, which no longer exists"));
        }
    }
    assert!(
        table_errors.is_empty(),
        "route table and rules disagree:\n{}",
        table_errors.join("\n")
    );

    // The matrix.
    let mut failures = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut checked = 0;
    for rule in RULES {
        for p in &principals {
            let want = expectation(rule.access, p);
            let (status, text) = send(&app, rule, p, &mut ctx).await;
            *statuses.entry(status).or_default() += 1;
            checked += 1;
            let ok = match want {
                Expect::Admitted => status != 401 && status != 403,
                Expect::Unauthorized => status == 401,
                Expect::Forbidden => status == 403,
                Expect::NotFound => status == 404,
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {}: expected {want:?} ({:?}), got {status}: {}",
                    rule.method,
                    rule.path,
                    p.name,
                    rule.access,
                    short(&text)
                ));
            }
        }
    }
    let names: Vec<&str> = principals.iter().map(|p| p.name.as_str()).collect();
    eprintln!(
        "authz matrix: {} REST routes + {} server fns = {} rules x {} principals ({}) = {checked} \
         requests in {:.1?} ({} fresh sign-ins); statuses {statuses:?}",
        routes.len(),
        fns.len(),
        RULES.len(),
        principals.len(),
        names.join(", "),
        started.elapsed(),
        ctx.fresh_sessions,
    );
    assert!(
        failures.is_empty(),
        "{} authorization failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Another member's objects.

#[tokio::test]
async fn another_members_sources_and_jobs_are_not_reachable() {
    let started = Instant::now();
    let app = spawn_app().await;
    let admin = app.register(&email("authz-admin")).await;
    let a = app.register(&email("authz-a")).await;
    let b = app.register(&email("authz-b")).await;
    let form: Value = serde_json::from_str(source_form!()).unwrap();
    let mut a_form = form.clone();
    a_form["name"] = json!("A");
    let res = app.post_bearer("/api/v1/sources", &a.access, &a_form).await;
    let source = expect_status(res, StatusCode::CREATED).await["id"].as_i64().expect("source id");
    // Long enough to still be queued or running while B tries it.
    let res = app
        .post_bearer("/api/v1/jobs/demo", &a.access, &json!({ "steps": 100, "step_ms": 100 }))
        .await;
    let job = expect_status(res, StatusCode::ACCEPTED).await["id"].as_i64().expect("job id");
    let mut b_form = form.clone();
    b_form["name"] = json!("B");
    // The connection test reads a stored source (for its secret) only for connector kinds.
    let mut connector_form = b_form.clone();
    connector_form["kind"] = json!("confluence");
    let upload = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nwritten by B\r\n--{BOUNDARY}--\r\n"
    );

    let s = format!("/api/v1/sources/{source}");
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, s.clone(), None),
        (Method::PUT, s.clone(), Some(b_form.clone())),
        (Method::DELETE, s.clone(), None),
        (Method::GET, format!("{s}/runs"), None),
        (Method::GET, format!("{s}/files"), None),
        (Method::POST, format!("{s}/sync"), Some(json!({}))),
        (Method::POST, format!("{s}/test"), Some(connector_form.clone())),
        (Method::GET, format!("{s}/files/1"), None),
        (Method::DELETE, format!("{s}/files/1"), None),
        (Method::POST, format!("/api/v1/jobs/{job}/cancel"), Some(json!({}))),
        (Method::POST, format!("/api/v1/jobs/{job}/retry"), Some(json!({}))),
        (Method::POST, "/api/update_source".into(), Some(json!({ "id": source, "form": b_form }))),
        (Method::POST, "/api/delete_source".into(), Some(json!({ "id": source }))),
        (Method::POST, "/api/sync_source".into(), Some(json!({ "id": source }))),
        (Method::POST, "/api/list_sync_runs".into(), Some(json!({ "id": source }))),
        (Method::POST, "/api/list_source_files".into(), Some(json!({ "id": source }))),
        (
            Method::POST,
            "/api/delete_source_file".into(),
            Some(json!({ "id": source, "file_id": 1 })),
        ),
        (
            Method::POST,
            "/api/test_source".into(),
            Some(json!({ "id": source, "form": connector_form })),
        ),
        (Method::POST, "/api/cancel_job".into(), Some(json!({ "id": job }))),
        (Method::POST, "/api/retry_job".into(), Some(json!({ "id": job }))),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, body) in &attempts {
        let mut req = app.api.request(method.clone(), app.url(path)).bearer_auth(&b.access);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        checked += 1;
        if status != StatusCode::NOT_FOUND && status != StatusCode::FORBIDDEN {
            failures.push(format!("{method} {path} as member B: got {status}: {}", short(&text)));
        }
    }
    // With a files form the connection test never loads the source: B's answer for A's source
    // must be the one for a source that does not exist (no existence oracle, nothing of A's).
    let missing = 999_999;
    for (path, mine, other) in [
        (
            "/api/v1/sources/{id}/test".to_string(),
            (format!("{s}/test"), b_form.clone()),
            (format!("/api/v1/sources/{missing}/test"), b_form.clone()),
        ),
        (
            "/api/test_source".to_string(),
            ("/api/test_source".to_string(), json!({ "id": source, "form": b_form })),
            ("/api/test_source".to_string(), json!({ "id": missing, "form": b_form })),
        ),
    ] {
        let mut answers = Vec::new();
        for (url, body) in [mine, other] {
            let res = app.post_bearer(&url, &b.access, &body).await;
            answers.push((res.status(), res.text().await.unwrap_or_default()));
            checked += 1;
        }
        if answers[0] != answers[1] {
            failures.push(format!(
                "POST {path} (files form) as member B tells A's source from a missing one: \
                 {answers:?}"
            ));
        }
    }
    // The upload route, with a real file part.
    let res = app
        .api
        .post(app.url(&format!("{s}/files")))
        .bearer_auth(&b.access)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(upload)
        .send()
        .await
        .expect("upload");
    checked += 1;
    let status = res.status();
    if status != StatusCode::NOT_FOUND && status != StatusCode::FORBIDDEN {
        let text = res.text().await.unwrap_or_default();
        failures
            .push(format!("POST {s}/files (upload) as member B: got {status}: {}", short(&text)));
    }
    // B's lists do not show A's source or job.
    let listed =
        expect_status(app.get_bearer("/api/v1/sources", &b.access).await, StatusCode::OK).await;
    if listed.as_array().expect("sources").iter().any(|x| x["id"] == json!(source)) {
        failures.push("GET /api/v1/sources as member B lists A's source".into());
    }
    let jobs = expect_status(app.get_bearer("/api/v1/jobs", &b.access).await, StatusCode::OK).await;
    if jobs["items"].as_array().expect("jobs").iter().any(|x| x["id"] == json!(job)) {
        failures.push("GET /api/v1/jobs as member B lists A's job".into());
    }
    checked += 2;
    assert!(failures.is_empty(), "member B reached member A's objects:\n{}", failures.join("\n"));

    // Nothing B tried took effect: A's source is there, unchanged, and the job not cancelled.
    let mine = expect_status(app.get_bearer(&s, &a.access).await, StatusCode::OK).await;
    assert_eq!(mine["name"], "A", "{mine}");
    let jobs = expect_status(app.get_bearer("/api/v1/jobs", &a.access).await, StatusCode::OK).await;
    let a_job = jobs["items"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|x| x["id"] == json!(job))
        .cloned()
        .expect("A's job");
    assert_eq!(a_job["cancel_requested"], false, "{a_job}");
    assert_ne!(a_job["state"], "cancelled", "{a_job}");
    // The admin, by contrast, sees it (the 404s above are about B, not a broken id).
    expect_status(app.get_bearer(&s, &admin.access).await, StatusCode::OK).await;
    eprintln!(
        "authz other-member: {checked} requests by member B on member A's source and job, none \
         reached them, in {:.1?}",
        started.elapsed()
    );
}
