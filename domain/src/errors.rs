//! Turns store and infrastructure errors into `AppError` once, logging the cause of anything
//! internal with the request id so that clients see the id and never the cause.

use crate::store::StoreError;
use model::error::AppError;

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
            // The constraint's name says how the schema is built: it goes to the log only.
            StoreError::Conflict { constraint } => {
                tracing::info!(
                    request.id = %current_request_id(), constraint = %constraint, "write refused by a constraint"
                );
                AppError::Conflict { message: crate::tr!("this conflicts with existing data") }
            }
            StoreError::Other(cause) => internal(format!("{cause:#}")),
        }
    }
}
