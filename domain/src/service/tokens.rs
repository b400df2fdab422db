//! Personal API tokens: created with a name, an expiry and scopes no wider than the owner's;
//! the secret is shown once and only its hash is stored.

use crate::auth::{self, API_TOKEN_PREFIX, Principal};
use crate::state::AppState;
use crate::store::{NewApiTokenRow, StoreError};
use chrono::Utc;
use model::error::{AppError, FieldError};
use model::{ApiTokenInfo, CreatedApiToken, NewApiTokenForm, Scopes};

/// Longest allowed lifetime.
pub const MAX_DAYS: i64 = 365;

/// Creates a token for the caller.
#[tracing::instrument(skip_all)]
pub async fn create(
    state: &AppState,
    principal: &Principal,
    form: NewApiTokenForm,
) -> Result<CreatedApiToken, AppError> {
    let mut errors = Vec::new();
    let name = form.name.trim().to_string();
    if name.is_empty() {
        errors.push(FieldError::new("name", "required", crate::tr!("Name is required.")));
    } else if name.chars().count() > 80 {
        errors.push(FieldError::new(
            "name",
            "max_length",
            crate::tr!("Name must be at most 80 characters."),
        ));
    } else if model::has_unsafe_chars(&name) {
        errors.push(FieldError::new(
            "name",
            "format",
            crate::tr!("Name must not contain control or text-direction characters."),
        ));
    }
    if !(1..=MAX_DAYS).contains(&form.expires_in_days) {
        errors.push(FieldError::new(
            "expires_in_days",
            "range",
            crate::tr!("Expiry must be between 1 and %{MAX_DAYS} days.", MAX_DAYS = MAX_DAYS),
        ));
    }
    let scopes = match Scopes::parse_names(&form.scopes) {
        Ok(s) if s.is_empty() => principal.scopes.clone(),
        Ok(s) => {
            if s.intersect(&principal.scopes) != s {
                errors.push(FieldError::new(
                    "scopes",
                    "subset",
                    crate::tr!("A token cannot have scopes you do not have."),
                ));
            }
            s
        }
        Err(msg) => {
            errors.push(FieldError::new("scopes", "known", msg));
            Scopes::default()
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation { errors });
    }
    let now = Utc::now();
    let secret = auth::new_secret(API_TOKEN_PREFIX);
    let info = state
        .store
        .insert_api_token(NewApiTokenRow {
            user_id: principal.user_id,
            name,
            token_hash: auth::sha256_hex(&secret),
            scopes,
            created_at: now,
            expires_at: now + chrono::Duration::days(form.expires_in_days),
        })
        .await?;
    tracing::info!(user.id = principal.user_id, token.id = info.id, "API token created");
    Ok(CreatedApiToken { info, token: secret })
}

/// The caller's tokens.
#[tracing::instrument(skip_all)]
pub async fn list(state: &AppState, principal: &Principal) -> Result<Vec<ApiTokenInfo>, AppError> {
    Ok(state.store.list_api_tokens(principal.user_id).await?)
}

/// Revokes one of the caller's tokens.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn revoke(state: &AppState, principal: &Principal, id: i64) -> Result<(), AppError> {
    match state.store.revoke_api_token(principal.user_id, id, Utc::now()).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(AppError::not_found("API token")),
        Err(e) => Err(e.into()),
    }
}
