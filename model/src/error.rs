//! `AppError`: the one error that crosses the wire, for server functions and the REST API alike.
//! Every variant maps to one HTTP status; internal causes are logged where they are converted and
//! never echoed to clients.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// One rule that one input field broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name as the client sent it (`email`, `password` …).
    pub field: String,
    /// A stable machine-readable rule name (`required`, `min_length`, `format` …).
    pub rule: String,
    /// A sentence a person can read.
    pub message: String,
}

impl FieldError {
    /// Builds a field error from its three parts.
    pub fn new(field: &str, rule: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_string(), rule: rule.to_string(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Everything that can go wrong, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum AppError {
    /// 400: the request could not be read (malformed JSON, wrong types, missing body).
    #[error("{message}")]
    BadRequest { message: String },
    /// 422: the request was read but its fields break rules.
    #[error("{}", validation_summary(errors))]
    Validation { errors: Vec<FieldError> },
    /// 401: no valid credentials, or the wrong ones.
    #[error("{message}")]
    Unauthorized { message: String },
    /// 403: signed in, but not allowed to do this.
    #[error("{message}")]
    Forbidden { message: String },
    /// 404: the thing does not exist, or is not visible to the caller.
    #[error("{what} not found")]
    NotFound { what: String },
    /// 409: the request conflicts with existing data.
    #[error("{message}")]
    Conflict { message: String },
    /// 413: the body is larger than the server accepts.
    #[error("request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: i64 },
    /// 429: too many attempts; try again after `retry_after_secs` (the message says when).
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: i64 },
    /// 402: the call would cross a spending budget. Names the budget, its numbers (nano-dollars)
    /// and when it resets.
    #[error("{message}")]
    BudgetExceeded {
        /// A sentence a person can read.
        message: String,
        /// `global` or `user:<id>`.
        budget: String,
        /// `daily`, `weekly` or `monthly`.
        period: String,
        /// The limit per period.
        limit_nanos: i64,
        /// Settled spend this period.
        spent_nanos: i64,
        /// Held by calls in flight.
        reserved_nanos: i64,
        /// What this call needed to reserve (its worst case).
        reservation_nanos: i64,
        /// When the period ends.
        resets_at: chrono::DateTime<chrono::Utc>,
    },
    /// 503: a dependency is down and the request cannot be served right now.
    #[error("{message}")]
    Unavailable { message: String },
    /// 500: something broke on our side; the cause is in the server log under `request_id`.
    #[error("internal error (request {request_id})")]
    Internal { request_id: String },
}

fn validation_summary(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
    format!("invalid input: {}", parts.join("; "))
}

impl AppError {
    /// The HTTP status this error is sent with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest { .. } => 400,
            AppError::Validation { .. } => 422,
            AppError::Unauthorized { .. } => 401,
            AppError::Forbidden { .. } => 403,
            AppError::NotFound { .. } => 404,
            AppError::Conflict { .. } => 409,
            AppError::PayloadTooLarge { .. } => 413,
            AppError::RateLimited { .. } => 429,
            AppError::BudgetExceeded { .. } => 402,
            AppError::Unavailable { .. } => 503,
            AppError::Internal { .. } => 500,
        }
    }

    /// A single-field validation error.
    pub fn invalid(field: &str, rule: &str, message: impl Into<String>) -> Self {
        AppError::Validation { errors: vec![FieldError::new(field, rule, message)] }
    }

    /// 401 with a message.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        AppError::Unauthorized { message: message.into() }
    }

    /// 403 with a message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden { message: message.into() }
    }

    /// 404 for a named thing.
    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound { what: what.into() }
    }

    /// The message of the first error for `field`, for showing beside a form input.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            AppError::Validation { errors } => {
                errors.iter().find(|e| e.field == field).map(|e| e.message.clone())
            }
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) => {
                AppError::BadRequest { message: format!("could not read the request: {msg}") }
            }
            ServerFnErrorErr::MissingArg(field) => {
                AppError::invalid(&field, "required", format!("{field} is required"))
            }
            ServerFnErrorErr::Request(msg) => {
                AppError::Unavailable { message: format!("the server could not be reached: {msg}") }
            }
            // On the server this means the request body could not be decoded: the client's fault.
            // (The browser build gets it for an answer it could not decode, handled below.)
            ServerFnErrorErr::Deserialization(msg) if cfg!(not(target_arch = "wasm32")) => {
                AppError::BadRequest { message: format!("could not read the request: {msg}") }
            }
            ServerFnErrorErr::Response(msg) | ServerFnErrorErr::Deserialization(msg) => {
                AppError::Unavailable {
                    message: format!("the server answered unexpectedly: {msg}"),
                }
            }
            ServerFnErrorErr::UnsupportedRequestMethod(m) => {
                AppError::BadRequest { message: format!("method {m} is not supported here") }
            }
            ServerFnErrorErr::Registration(_)
            | ServerFnErrorErr::ServerError(_)
            | ServerFnErrorErr::MiddlewareError(_)
            | ServerFnErrorErr::Serialization(_) => {
                AppError::Internal { request_id: String::from("unknown") }
            }
        }
    }
}

/// HTTP framing of `AppError` for the server: status, headers and the JSON body. Behind the
/// `axum` feature so that the browser build never links axum.
#[cfg(feature = "axum")]
mod http_framing {
    use super::AppError;

    /// Headers an error carries besides its status: `Retry-After` for 429, `WWW-Authenticate` for 401.
    pub fn error_headers(err: &AppError, headers: &mut http::HeaderMap) {
        match err {
            AppError::RateLimited { retry_after_secs, .. } => {
                if let Ok(v) = http::HeaderValue::from_str(&retry_after_secs.to_string()) {
                    headers.insert(http::header::RETRY_AFTER, v);
                }
            }
            AppError::Unauthorized { .. } => {
                headers.insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
            }
            _ => {}
        }
    }

    /// The JSON body of an error: its fields plus a readable `message` (English; the server
    /// re-renders it in the request's language from the error the response carries).
    pub fn error_body(err: &AppError) -> serde_json::Value {
        let mut v =
            serde_json::to_value(err).unwrap_or_else(|_| serde_json::json!({ "code": "internal" }));
        if let Some(obj) = v.as_object_mut() {
            obj.insert("message".into(), serde_json::Value::String(err.to_string()));
        }
        serde_json::json!({ "error": v })
    }

    impl axum::response::IntoResponse for AppError {
        fn into_response(self) -> axum::response::Response {
            let status = http::StatusCode::from_u16(self.status())
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            let mut res = (status, axum::Json(error_body(&self))).into_response();
            error_headers(&self, res.headers_mut());
            // The error itself rides along, so that a layer that knows the request's language
            // can render the body again in it.
            res.extensions_mut().insert(self);
            res
        }
    }
}
#[cfg(feature = "axum")]
pub use http_framing::{error_body, error_headers};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_error_serialises_with_code_and_field_rule() {
        let err = AppError::invalid("email", "format", "must contain @");
        let json = serde_json::to_value(&err).unwrap_or_default();
        assert_eq!(json["code"], "validation");
        assert_eq!(json["errors"][0]["field"], "email");
        assert_eq!(json["errors"][0]["rule"], "format");
        assert_eq!(err.status(), 422);
    }

    #[test]
    fn malformed_arguments_become_bad_request() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::Args("eof".into()));
        assert_eq!(err.status(), 400);
    }
}
