//! Account server fns. Sessions travel in HttpOnly cookies set on the response.

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, auth_outcome};
#[cfg(feature = "ssr")]
use domain::{auth as server_auth, service::accounts};
use leptos::prelude::*;
use model::error::AppError;
use model::{CurrentUser, RegisterForm, SignInForm};
use server_fn::codec::Json;

#[cfg(feature = "ssr")]
fn set_cookies(cookies: Vec<http::HeaderValue>) {
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        for c in cookies {
            res.append_header(http::header::SET_COOKIE, c);
        }
    }
}

#[cfg(feature = "ssr")]
fn client_ip() -> String {
    use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<domain::auth::ClientIp>().map(|ip| ip.0.clone()))
        .unwrap_or_else(|| "unknown".into())
}

/// Creates an account and signs it in; the first account becomes admin.
#[server(prefix = "/api", endpoint = "register", input = Json)]
pub async fn register(form: RegisterForm) -> Result<CurrentUser, AppError> {
    let state = app_state()?;
    let lang = use_context::<http::request::Parts>()
        .and_then(|p| domain::i18n::requested_lang(&p.headers));
    let session = accounts::register(
        &state,
        form.try_into().map_err(domain::i18n::here)?,
        lang,
        &client_ip(),
    )
    .await?;
    set_cookies(session.cookies(state.auth.secure_cookies));
    Ok(session.user)
}

/// Checks e-mail and password and starts a browser session.
#[server(prefix = "/api", endpoint = "sign_in", input = Json)]
pub async fn sign_in(form: SignInForm) -> Result<CurrentUser, AppError> {
    let state = app_state()?;
    let session = accounts::sign_in(&state, form, &client_ip()).await?;
    set_cookies(session.cookies(state.auth.secure_cookies));
    Ok(session.user)
}

/// Ends the browser session and revokes its refresh tokens.
#[server(prefix = "/api", endpoint = "sign_out", input = Json)]
pub async fn sign_out() -> Result<(), AppError> {
    let state = app_state()?;
    let parts = use_context::<http::request::Parts>();
    let refresh = parts
        .as_ref()
        .and_then(|p| server_auth::read_cookie(&p.headers, server_auth::REFRESH_COOKIE));
    accounts::sign_out(&state, refresh, auth_outcome().principal.as_ref()).await?;
    set_cookies(server_auth::clear_session_cookies(state.auth.secure_cookies));
    Ok(())
}

/// Keeps the caller's language (`en`, `ru`) on their account; the browser holds it in the
/// language cookie already, and sign-in elsewhere brings it along.
#[server(prefix = "/api", endpoint = "set_language", input = Json)]
pub async fn set_language(lang: String) -> Result<(), AppError> {
    let state = app_state()?;
    let user = crate::api::context::require_scope(model::Scope::Basic)?;
    accounts::set_language(&state, &user, &lang).await.map(|_| ())
}

/// The signed-in user, or None for visitors.
#[server(prefix = "/api", endpoint = "current_user", input = Json)]
pub async fn get_current_user() -> Result<Option<CurrentUser>, AppError> {
    Ok(auth_outcome().principal.map(|p| p.to_current_user()))
}
