//! What a server fn reads from the Leptos request context: the application state and the
//! caller. The only place where server fns touch Leptos' context for server-side values.

use domain::auth::{AuthOutcome, Principal};
use domain::errors::internal;
use domain::state::AppState;
use leptos::prelude::use_context;
use model::Scope;
use model::error::AppError;

/// The state, from Leptos context (server fns and SSR).
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| internal("AppState is not in the Leptos context"))
}

/// The current request's auth outcome, from Leptos context.
pub fn auth_outcome() -> AuthOutcome {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<AuthOutcome>().cloned())
        .unwrap_or_default()
}

/// The language of the request being rendered (the account's choice, else the language cookie,
/// else `Accept-Language`), for server code the page renderer runs in tasks of its own.
pub fn request_lang() -> Option<model::Lang> {
    let parts = use_context::<http::request::Parts>()?;
    let chosen = parts
        .extensions
        .get::<AuthOutcome>()
        .and_then(|a| a.principal.as_ref())
        .and_then(|p| p.lang);
    Some(
        domain::i18n::account_lang(&parts.headers, chosen)
            .unwrap_or_else(|| domain::i18n::request_lang(&parts.headers)),
    )
}

/// The signed-in caller, if they hold `scope`.
pub fn require_scope(scope: Scope) -> Result<Principal, AppError> {
    auth_outcome().require_scope(scope)
}
