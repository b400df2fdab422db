//! Turns store and infrastructure errors into `AppError` once, logging the cause of anything
//! internal with the request id so that clients see the id and never the cause.

use crate::error::AppError;
use crate::server::store::StoreError;

tokio::task_local! {
    /// The id of the request being served (set by the HTTP layer).
    pub static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".to_string())
}

/// Logs `cause` and returns the opaque internal error.
pub fn internal(cause: impl std::fmt::Display) -> AppError {
    let request_id = current_request_id();
    tracing::error!(request.id = %request_id, error = %cause, "internal error");
    AppError::Internal { request_id }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::not_found("record"),
            StoreError::Conflict { constraint } => AppError::Conflict {
                message: format!("conflicts with existing data ({constraint})"),
            },
            StoreError::Other(cause) => internal(format!("{cause:#}")),
        }
    }
}

/// Headers an error carries besides its status: `Retry-After` for 429, `WWW-Authenticate` for 401.
pub fn error_headers(err: &AppError, headers: &mut http::HeaderMap) {
    match err {
        AppError::RateLimited { retry_after_secs, .. } => {
            if let Ok(v) = http::HeaderValue::from_str(&retry_after_secs.to_string()) {
                headers.insert(http::header::RETRY_AFTER, v);
            }
        }
        AppError::Unauthorized { .. } => {
            headers
                .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
}

/// The JSON body of an error: its fields plus a readable `message`.
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
        res
    }
}
