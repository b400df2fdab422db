//! Spawns the real application on a random port, zero2prod style, with a throw-away database.

use crate::common::TestDb;
use domain::state::AppState;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use server::config::{SecretUrl, Settings};
use server::startup::Application;

/// A running application and what tests need to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The bound port.
    pub port: u16,
    /// An API-style client: no cookie store.
    pub api: reqwest::Client,
    /// The application's state, to look into the store directly.
    pub state: AppState,
    /// Keeps the database until the test ends.
    _db: TestDb,
}

/// A token pair as the REST API returns it.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    fn from_json(v: &Value) -> Self {
        let access = v["access_token"].as_str().expect("access_token in the answer").to_string();
        let refresh = v["refresh_token"].as_str().expect("refresh_token in the answer").to_string();
        assert_eq!(v["token_type"], "Bearer");
        assert!(v["expires_in"].as_i64().expect("expires_in") > 0);
        Tokens { access, refresh }
    }
}

/// The password every test account uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// The application on a fresh SQLite file.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The application with default settings on the test's database.
impl crate::common::Fixture for TestApp {
    async fn set_up(db: TestDb) -> (Self, Option<TestDb>) {
        (spawn_on(db, |_| {}).await, None)
    }
}

/// The application on a fresh SQLite file, with settings adjusted by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(TestDb::sqlite(), configure).await
}

/// The application on a fresh PostgreSQL database.
pub async fn spawn_app_pg() -> TestApp {
    spawn_app_pg_with(|_| {}).await
}

/// The application on a fresh PostgreSQL database, with settings adjusted by `configure`.
pub async fn spawn_app_pg_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(TestDb::postgres().await, configure).await
}

/// Settings every test instance starts from: a free port, the database, a deployment key from
/// the harness (never a key file written relative to the working directory), the real
/// extraction worker, and local servers allowed as sources and providers.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::default();
    settings.server.addr = "127.0.0.1:0".parse().expect("address");
    settings.database.url = SecretUrl::new(database_url.to_string());
    settings.redis.url = None;
    settings.secrets.key =
        server::config::Secret(Some(domain::secrets::SecretBox::generate_key().into()));
    settings.knowledge.extract_worker = env!("CARGO_BIN_EXE_blueprint").into();
    // Local servers stand in for Confluence and the LLM providers; `security` tests the refusal.
    settings.security.allow_private_urls = true;
    // Tests register many accounts from 127.0.0.1; `security::registration_is_limited_per_address`
    // checks the limit itself.
    settings.auth.register_max_per_ip = 10_000;
    // Uploads wait this long for the rest of their burst before their sync starts;
    // `knowledge::a_burst_of_uploads_is_one_sync` sets a long window to count the syncs.
    settings.knowledge.upload_sync_delay_ms = 200;
    settings
}

pub(crate) async fn spawn_on(db: TestDb, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(db.url());
    configure(&mut settings);
    settings.validate().expect("test settings are valid");

    let application = Application::build(settings).await.expect("the application builds");
    let port = application.port();
    let state = application.state.clone();
    tokio::spawn(application.run_until_stopped(std::future::pending()));

    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        api: reqwest::Client::builder().build().expect("client"),
        state,
        _db: db,
    }
}

/// A client that keeps cookies, like a browser.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().expect("client")
}

/// Asserts the status and returns the JSON body, printing the body on mismatch.
pub async fn expect_status(res: Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A unique e-mail address.
pub fn email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    /// The full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POST with a JSON body, no credentials.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.api.post(self.url(path)).json(body).send().await.expect("request")
    }

    /// GET with a bearer token.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.api.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    /// POST with a JSON body and a bearer token.
    pub async fn post_bearer(&self, path: &str, token: &str, body: &Value) -> Response {
        self.api.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    /// PATCH with a JSON body and a bearer token.
    pub async fn patch_bearer(&self, path: &str, token: &str, body: &Value) -> Response {
        self.api.patch(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    /// `POST /api/v1/auth/register`, without checking the answer.
    pub async fn register_raw(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({ "email": email, "password": password, "display_name": "Test User" }),
        )
        .await
    }

    /// Registers an account; expects 201 and returns its tokens.
    pub async fn register(&self, email: &str) -> Tokens {
        let res = self.register_raw(email, PASSWORD).await;
        Tokens::from_json(&expect_status(res, StatusCode::CREATED).await)
    }

    /// `POST /api/v1/auth/login`, without checking the answer.
    pub async fn login_raw(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/v1/auth/login", &json!({ "email": email, "password": password })).await
    }

    /// Signs in; expects 200 and returns the tokens.
    pub async fn login(&self, email: &str) -> Tokens {
        let res = self.login_raw(email, PASSWORD).await;
        Tokens::from_json(&expect_status(res, StatusCode::OK).await)
    }

    /// `POST /api/v1/auth/refresh`, without checking the answer.
    pub async fn refresh_raw(&self, refresh_token: &str) -> Response {
        self.post_json("/api/v1/auth/refresh", &json!({ "refresh_token": refresh_token })).await
    }

    /// Refreshes; expects 200 and returns the new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Tokens {
        let res = self.refresh_raw(refresh_token).await;
        Tokens::from_json(&expect_status(res, StatusCode::OK).await)
    }

    /// `GET /api/v1/me` with a bearer token.
    pub async fn me(&self, token: &str) -> Response {
        self.get_bearer("/api/v1/me", token).await
    }

    /// The user id behind an access token.
    pub async fn user_id(&self, token: &str) -> i64 {
        expect_status(self.me(token).await, StatusCode::OK).await["id"].as_i64().expect("id")
    }

    /// An admin (the first account) and an ordinary user, with their tokens.
    pub async fn admin_and_member(&self) -> (Tokens, Tokens) {
        let admin = self.register(&email("admin")).await;
        let member = self.register(&email("member")).await;
        (admin, member)
    }

    /// Creates a personal API token; returns (id, secret).
    pub async fn create_api_token(&self, bearer: &str, scopes: &[&str]) -> (i64, String) {
        let res = self
            .post_bearer(
                "/api/v1/tokens",
                bearer,
                &json!({ "name": "test", "expires_in_days": 30, "scopes": scopes }),
            )
            .await;
        let body = expect_status(res, StatusCode::CREATED).await;
        let id = body["info"]["id"].as_i64().expect("token id");
        let secret = body["token"].as_str().expect("token secret").to_string();
        (id, secret)
    }

    /// Number of users in the store.
    pub async fn user_count(&self) -> i64 {
        self.state.store.count_users().await.expect("count users")
    }
}

/// Asserts a response is a JSON error with this status and code; returns the error object.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_status(res, status).await;
    assert_eq!(body["error"]["code"], code, "error body: {body}");
    body["error"].clone()
}

impl TestApp {
    /// PUT with a JSON body and a bearer token.
    pub async fn put_bearer(&self, path: &str, token: &str, body: &Value) -> Response {
        self.api.put(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    /// DELETE with a bearer token.
    pub async fn delete_bearer(&self, path: &str, token: &str) -> Response {
        self.api.delete(self.url(path)).bearer_auth(token).send().await.expect("request")
    }
}
