//! Accounts and sessions. A sign-in starts a refresh-token *family*; each refresh rotates the
//! token within it. A token presented again after its grace period means it was copied: the
//! whole family is revoked.

use crate::auth::{
    self, ACCESS_COOKIE, API_TOKEN_PREFIX, AuthOutcome, Credential, Principal, REFRESH_COOKIE,
    REFRESH_TOKEN_PREFIX, TokenError,
};
use crate::cache::CacheKey;
use crate::state::AppState;
use crate::store::{NewAuditEntry, NewUserRow, RefreshTokenRecord, StoreError};
use chrono::Utc;
use http::{HeaderMap, HeaderValue};
use model::error::AppError;
use model::{CurrentUser, Email, Lang, NewAccount, Scopes, SignInForm, User};
use std::time::Duration;

const USER_CACHE_TTL: Duration = Duration::from_secs(60);
/// How long an instance trusts "this session is not revoked" without asking the store again.
/// Sign-out and reuse detection invalidate it at once on every instance (through Redis).
const SESSION_CACHE_TTL: Duration = Duration::from_secs(60);

fn session_key(user_id: i64, family: &str) -> CacheKey {
    CacheKey::user("session", user_id, family.to_string())
}

/// Refuses an access token whose sign-in (refresh family) was revoked since it was issued.
async fn ensure_session_live(state: &AppState, user_id: i64, family: &str) -> Result<(), AppError> {
    let store = state.store.clone();
    let fam = family.to_string();
    let revoked = state
        .cache
        .get_or_load(&session_key(user_id, family), SESSION_CACHE_TTL, || async move {
            Ok(store.refresh_family_revoked(&fam).await?)
        })
        .await?;
    if revoked {
        return Err(AppError::unauthorized(crate::tr!("this session was signed out or revoked")));
    }
    Ok(())
}

/// Revokes a sign-in and ends its access tokens on every instance.
async fn revoke_family(state: &AppState, user_id: i64, family: &str) -> Result<u64, AppError> {
    let revoked = state.store.revoke_refresh_family(family, Utc::now()).await?;
    // Drop every instance's copy, then record the answer, so a lookup racing with this one
    // finds "revoked" rather than loading its stale "live" again.
    let key = session_key(user_id, family);
    state.cache.invalidate(&key).await;
    state.cache.put(&key, true, SESSION_CACHE_TTL).await;
    Ok(revoked)
}

/// A started or continued session: tokens plus who it is for.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user: CurrentUser,
    /// Access JWT.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub access_ttl_s: i64,
    /// The new refresh token, if one was issued (not on a benign concurrent refresh).
    pub refresh_token: Option<String>,
    /// Its lifetime in seconds.
    pub refresh_ttl_s: i64,
    /// The account's language, if it has one: the browser switches to it on sign-in.
    pub lang: Option<Lang>,
}

impl Session {
    /// `Set-Cookie` headers carrying this session (and the account's language).
    pub fn cookies(&self, secure: bool) -> Vec<HeaderValue> {
        let mut out = auth::session_cookies(
            &self.access_token,
            self.access_ttl_s,
            self.refresh_token.as_deref().map(|r| (r, self.refresh_ttl_s)),
            secure,
        );
        out.extend(self.lang.and_then(|l| crate::i18n::lang_cookie(l, secure)));
        out
    }
}

/// Keeps the user's language (`en`, `ru`) on their account.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn set_language(state: &AppState, user: &Principal, tag: &str) -> Result<Lang, AppError> {
    let lang = Lang::parse(tag)
        .ok_or_else(|| AppError::invalid("lang", "one_of", crate::tr!("lang must be en or ru")))?;
    state.store.set_user_locale(user.user_id, Some(lang)).await?;
    forget_user(state, user.user_id).await;
    Ok(lang)
}

fn ttl_s(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(30))
}

/// The user, from cache or store (without the password hash).
#[tracing::instrument(skip_all, fields(user.id = user_id))]
pub async fn load_user(state: &AppState, user_id: i64) -> Result<User, AppError> {
    let store = state.store.clone();
    state
        .cache
        .get_or_load(&CacheKey::user("user", user_id, "profile"), USER_CACHE_TTL, || async move {
            match store.get_user(user_id).await {
                Ok(r) => Ok(r.user),
                Err(StoreError::NotFound) => {
                    Err(AppError::unauthorized(crate::tr!("this account no longer exists")))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
}

/// Drops the cached user everywhere (after a change to scopes, status, password).
#[tracing::instrument(skip_all, fields(user.id = user_id))]
pub async fn forget_user(state: &AppState, user_id: i64) {
    state.cache.invalidate(&CacheKey::user("user", user_id, "profile")).await;
}

async fn start_session(state: &AppState, user: &User) -> Result<Session, AppError> {
    let now = Utc::now();
    let family = uuid::Uuid::new_v4().to_string();
    let refresh = auth::new_secret(REFRESH_TOKEN_PREFIX);
    state
        .store
        .insert_refresh_token(RefreshTokenRecord {
            token_hash: auth::sha256_hex(&refresh),
            family_id: family.clone(),
            user_id: user.id,
            created_at: now,
            expires_at: now + chrono_dur(state.auth.refresh_ttl),
            used_at: None,
            revoked_at: None,
        })
        .await?;
    let (access, access_ttl_s) =
        state.jwt.issue(user.id, &user.scopes, &family, state.auth.access_ttl)?;
    Ok(Session {
        user: CurrentUser {
            id: user.id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            scopes: user.scopes.clone(),
        },
        access_token: access,
        access_ttl_s,
        refresh_token: Some(refresh),
        refresh_ttl_s: ttl_s(state.auth.refresh_ttl),
        lang: user.locale,
    })
}

/// Creates an account and signs it in. The first account ever becomes admin.
#[tracing::instrument(skip_all)]
pub async fn register(
    state: &AppState,
    new: NewAccount,
    lang: Option<Lang>,
    client_ip: &str,
) -> Result<Session, AppError> {
    if !state.auth.allow_registration && state.store.count_users().await? > 0 {
        return Err(AppError::forbidden(crate::tr!(
            "registration is closed; ask an admin for an account"
        )));
    }
    state.limits.register_ip.hit(client_ip).await.map_err(|r| AppError::RateLimited {
        message: crate::tr!(
            "Too many accounts were created from this address. Try again in %{secs} s.",
            secs = r.secs()
        ),
        retry_after_secs: r.secs(),
    })?;
    let password_hash = auth::hash_password(&new.password).await?;
    let row = NewUserRow {
        email: new.email.as_str().to_string(),
        display_name: new.display_name.as_str().to_string(),
        password_hash,
        scopes: state.auth.default_scopes.clone(),
        first_user_scopes: Some(Scopes::all()),
        created_at: Utc::now(),
    };
    let mut user = match state.store.create_user(row).await {
        Ok(u) => u,
        Err(StoreError::Conflict { .. }) => {
            return Err(AppError::Conflict {
                message: crate::tr!("an account with this e-mail already exists"),
            });
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user.id = user.id, "account registered");
    // The language the account was created in (if the client named one) is its language until
    // the user picks another; without one the account follows each browser.
    if let Some(lang) = lang {
        state.store.set_user_locale(user.id, Some(lang)).await?;
        user.locale = Some(lang);
    }
    state.store.touch_user_login(user.id, Utc::now()).await?;
    start_session(state, &user).await
}

/// Creates an admin, or makes an existing account admin (command line; audited).
#[tracing::instrument(skip_all)]
pub async fn create_admin(state: &AppState, new: NewAccount) -> Result<User, AppError> {
    let now = Utc::now();
    let audit = |action: &str, target: String| NewAuditEntry {
        at: now,
        actor_id: None,
        actor_email: Some("command line".into()),
        action: action.to_string(),
        target,
        detail: serde_json::json!({ "email": new.email.as_str() }).to_string(),
    };
    match state.store.get_user_by_email(new.email.as_str()).await {
        Ok(existing) => {
            let user = state
                .store
                .set_user_scopes(
                    existing.user.id,
                    &Scopes::all(),
                    audit("user.made_admin", format!("user:{}", existing.user.id)),
                )
                .await?;
            let hash = auth::hash_password(&new.password).await?;
            state.store.set_user_password(user.id, &hash, now).await?;
            forget_user(state, user.id).await;
            Ok(user)
        }
        Err(StoreError::NotFound) => {
            let password_hash = auth::hash_password(&new.password).await?;
            let user = state
                .store
                .create_user(NewUserRow {
                    email: new.email.as_str().to_string(),
                    display_name: new.display_name.as_str().to_string(),
                    password_hash,
                    scopes: Scopes::all(),
                    first_user_scopes: None,
                    created_at: now,
                })
                .await?;
            state
                .store
                .insert_audit(audit("user.created_admin", format!("user:{}", user.id)))
                .await?;
            Ok(user)
        }
        Err(e) => Err(e.into()),
    }
}

/// The wait before checking a password for an account that has seen `failures` failed sign-ins
/// (from any client) in the window: none up to `allowed`, then 250 ms doubling up to 8 s.
pub fn sign_in_delay(failures: u32, allowed: u32) -> Duration {
    const MAX_DELAY: Duration = Duration::from_secs(8);
    let Some(over) = failures.checked_sub(allowed) else {
        return Duration::ZERO;
    };
    let factor = 1u32.checked_shl(over.min(16)).unwrap_or(u32::MAX);
    (Duration::from_millis(250).saturating_mul(factor)).min(MAX_DELAY)
}

/// Checks e-mail and password and starts a session. Guessing is limited per client IP and per
/// (account, client): that client is locked out for the window. Failures at an account from all
/// clients only slow every attempt at it down (`sign_in_delay`), so nobody can lock the owner out
/// by failing on purpose. Unknown, wrong and deactivated all answer the same.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    state: &AppState,
    form: SignInForm,
    client_ip: &str,
) -> Result<Session, AppError> {
    let limited = |r: crate::ratelimit::RetryAfter| AppError::RateLimited {
        message: crate::tr!("Too many sign-in attempts. Try again in %{secs} s.", secs = r.secs()),
        retry_after_secs: r.secs(),
    };
    state.limits.login_ip.hit(client_ip).await.map_err(limited)?;
    let email = Email::parse(&form.email)
        .map_err(|e| crate::i18n::here(AppError::Validation { errors: vec![e] }))?;
    if form.password.is_empty() {
        return Err(AppError::invalid("password", "required", crate::tr!("Password is required.")));
    }
    let pair = format!("{}|{client_ip}", email.as_str());
    state.limits.login_account.check(&pair).await.map_err(limited)?;
    let failures = state.limits.login_delay.current(email.as_str()).await;
    let delay = sign_in_delay(failures, state.limits.login_account.limit().max);
    if !delay.is_zero() {
        metrics::counter!("auth_sign_in_delayed_total").increment(1);
        tokio::time::sleep(delay).await;
    }
    let record = match state.store.get_user_by_email(email.as_str()).await {
        Ok(r) => Some(r),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let ok =
        auth::verify_password(record.as_ref().map(|r| r.password_hash.clone()), &form.password)
            .await;
    let Some(record) = record.filter(|r| ok && r.user.active) else {
        let _ = state.limits.login_account.hit(&pair).await;
        state.limits.login_delay.add(email.as_str(), 1).await;
        metrics::counter!("auth_sign_in_total", "outcome" => "failed").increment(1);
        return Err(AppError::unauthorized(crate::tr!("wrong e-mail or password")));
    };
    state.limits.login_account.reset(&pair).await;
    state.store.touch_user_login(record.user.id, Utc::now()).await?;
    metrics::counter!("auth_sign_in_total", "outcome" => "ok").increment(1);
    start_session(state, &record.user).await
}

/// Exchanges a refresh token for a new access token and (normally) a new refresh token.
#[tracing::instrument(skip_all)]
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<Session, AppError> {
    let now = Utc::now();
    let hash = auth::sha256_hex(refresh_token);
    let record = match state.store.get_refresh_token(&hash).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => {
            return Err(AppError::unauthorized(crate::tr!("refresh token is not valid")));
        }
        Err(e) => return Err(e.into()),
    };
    if record.revoked_at.is_some() {
        return Err(AppError::unauthorized(crate::tr!("this session was signed out or revoked")));
    }
    if record.expires_at <= now {
        return Err(AppError::unauthorized(crate::tr!("this session has expired; sign in again")));
    }
    let user = load_user(state, record.user_id).await?;
    if !user.active {
        return Err(AppError::unauthorized(crate::tr!("this account has been deactivated")));
    }
    let grace = chrono_dur(state.auth.refresh_reuse_grace);
    let mut new_refresh = None;
    if let Some(used_at) = record.used_at {
        if now - used_at > grace {
            let revoked = revoke_family(state, record.user_id, &record.family_id).await?;
            tracing::warn!(
                user.id = record.user_id,
                revoked,
                "refresh token reuse detected; family revoked"
            );
            metrics::counter!("auth_refresh_reuse_total").increment(1);
            return Err(AppError::unauthorized(crate::tr!(
                "this refresh token was already used; every session from that sign-in was revoked"
            )));
        }
    } else {
        let next = auth::new_secret(REFRESH_TOKEN_PREFIX);
        let rotated = state
            .store
            .rotate_refresh_token(
                &hash,
                now,
                RefreshTokenRecord {
                    token_hash: auth::sha256_hex(&next),
                    family_id: record.family_id.clone(),
                    user_id: record.user_id,
                    created_at: now,
                    expires_at: now + chrono_dur(state.auth.refresh_ttl),
                    used_at: None,
                    revoked_at: None,
                },
            )
            .await?;
        // Lost a race with a concurrent refresh of the same token: that one rotated it.
        if rotated {
            new_refresh = Some(next);
        }
    }
    let (access, access_ttl_s) =
        state.jwt.issue(user.id, &user.scopes, &record.family_id, state.auth.access_ttl)?;
    Ok(Session {
        user: CurrentUser {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            scopes: user.scopes,
        },
        access_token: access,
        access_ttl_s,
        refresh_token: new_refresh,
        refresh_ttl_s: ttl_s(state.auth.refresh_ttl),
        // A refresh keeps whatever language this browser shows now.
        lang: None,
    })
}

/// Ends the session: revokes the refresh family of the given token or credential.
#[tracing::instrument(skip_all)]
pub async fn sign_out(
    state: &AppState,
    refresh_token: Option<&str>,
    principal: Option<&Principal>,
) -> Result<(), AppError> {
    let mut family = match refresh_token {
        Some(t) => state
            .store
            .get_refresh_token(&auth::sha256_hex(t))
            .await
            .ok()
            .map(|r| (r.user_id, r.family_id)),
        None => None,
    };
    if family.is_none() {
        family = principal.and_then(|p| match &p.credential {
            Credential::Cookie { family } | Credential::Bearer { family } => {
                Some((p.user_id, family.clone()))
            }
            Credential::ApiToken { .. } => None,
        });
    }
    if let Some((user_id, family)) = family {
        revoke_family(state, user_id, &family).await?;
    }
    Ok(())
}

/// The result of resolving a request's credentials.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Who is calling.
    pub outcome: AuthOutcome,
    /// Cookies to set on the response (a silently refreshed session, or a cleared one).
    pub set_cookies: Vec<HeaderValue>,
}

async fn principal_for(
    state: &AppState,
    user_id: i64,
    token_scopes: &Scopes,
    credential: Credential,
) -> Result<Principal, AppError> {
    let user = load_user(state, user_id).await?;
    if !user.active {
        return Err(AppError::unauthorized(crate::tr!("this account has been deactivated")));
    }
    if let Credential::Cookie { family } | Credential::Bearer { family } = &credential {
        ensure_session_live(state, user_id, family).await?;
    }
    Ok(Principal {
        user_id,
        email: user.email,
        display_name: user.display_name,
        scopes: token_scopes.intersect(&user.scopes),
        credential,
        lang: user.locale,
    })
}

fn parse_user_id(sub: &str) -> Result<i64, AppError> {
    sub.parse().map_err(|_| AppError::unauthorized(crate::tr!("access token is not valid")))
}

/// Resolves `Authorization` or the session cookies into a principal. A bearer credential that
/// fails is a rejection (401 on protected routes); a stale cookie session is refreshed silently
/// or cleared.
#[tracing::instrument(skip_all)]
pub async fn resolve(state: &AppState, headers: &HeaderMap) -> Resolved {
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let outcome = match resolve_bearer(state, value).await {
            Ok(p) => AuthOutcome { principal: Some(p), rejection: None },
            Err(e) => AuthOutcome { principal: None, rejection: Some(e) },
        };
        return Resolved { outcome, set_cookies: Vec::new() };
    }
    let access = auth::read_cookie(headers, ACCESS_COOKIE);
    let refresh_cookie = auth::read_cookie(headers, REFRESH_COOKIE);
    if access.is_none() && refresh_cookie.is_none() {
        return Resolved::default();
    }
    if let Some(token) = access
        && let Ok(claims) = state.jwt.verify(token)
        && let Ok(user_id) = parse_user_id(&claims.sub)
    {
        let scopes = Scopes::from_csv(&claims.scp);
        match principal_for(state, user_id, &scopes, Credential::Cookie { family: claims.fam })
            .await
        {
            Ok(p) => {
                return Resolved {
                    outcome: AuthOutcome { principal: Some(p), rejection: None },
                    set_cookies: Vec::new(),
                };
            }
            Err(e) => {
                return Resolved {
                    outcome: AuthOutcome { principal: None, rejection: Some(e) },
                    set_cookies: auth::clear_session_cookies(state.auth.secure_cookies),
                };
            }
        }
    }
    let Some(refresh_token) = refresh_cookie else {
        return Resolved {
            outcome: AuthOutcome::default(),
            set_cookies: auth::clear_session_cookies(state.auth.secure_cookies),
        };
    };
    match refresh(state, refresh_token).await {
        Ok(session) => {
            let claims_family =
                state.jwt.verify(&session.access_token).map(|c| c.fam).unwrap_or_default();
            let principal = Principal {
                user_id: session.user.id,
                email: session.user.email.clone(),
                display_name: session.user.display_name.clone(),
                scopes: session.user.scopes.clone(),
                credential: Credential::Cookie { family: claims_family },
                lang: session.lang,
            };
            Resolved {
                outcome: AuthOutcome { principal: Some(principal), rejection: None },
                set_cookies: session.cookies(state.auth.secure_cookies),
            }
        }
        Err(_) => Resolved {
            outcome: AuthOutcome::default(),
            set_cookies: auth::clear_session_cookies(state.auth.secure_cookies),
        },
    }
}

async fn resolve_bearer(state: &AppState, value: &HeaderValue) -> Result<Principal, AppError> {
    let raw = value
        .to_str()
        .map_err(|_| AppError::unauthorized(crate::tr!("Authorization header is not valid")))?;
    let Some(token) = raw.strip_prefix("Bearer ").map(str::trim) else {
        return Err(AppError::unauthorized(crate::tr!("Authorization must use the Bearer scheme")));
    };
    if token.starts_with(API_TOKEN_PREFIX) {
        let now = Utc::now();
        let record = match state.store.get_api_token_by_hash(&auth::sha256_hex(token)).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => {
                return Err(AppError::unauthorized(crate::tr!("API token is not valid")));
            }
            Err(e) => return Err(e.into()),
        };
        if record.info.revoked_at.is_some() {
            return Err(AppError::unauthorized(crate::tr!("API token was revoked")));
        }
        if record.info.expires_at <= now {
            return Err(AppError::unauthorized(crate::tr!("API token has expired")));
        }
        let stale =
            record.info.last_used_at.is_none_or(|t| now - t > chrono::Duration::seconds(60));
        if stale {
            state.store.touch_api_token(record.info.id, now).await?;
        }
        return principal_for(
            state,
            record.user_id,
            &record.info.scopes,
            Credential::ApiToken { id: record.info.id },
        )
        .await;
    }
    match state.jwt.verify(token) {
        Ok(claims) => {
            let user_id = parse_user_id(&claims.sub)?;
            principal_for(
                state,
                user_id,
                &Scopes::from_csv(&claims.scp),
                Credential::Bearer { family: claims.fam },
            )
            .await
        }
        Err(TokenError::Expired) => {
            Err(AppError::unauthorized(crate::tr!("access token has expired; refresh it")))
        }
        Err(TokenError::Invalid) => {
            Err(AppError::unauthorized(crate::tr!("access token is not valid")))
        }
    }
}
