//! Credentials and the request's principal.
//!
//! Passwords are hashed with argon2id. Access tokens are short-lived HS256 JWTs (any other
//! algorithm, `none` included, is refused). Refresh tokens and personal API tokens are random
//! secrets of which only the SHA-256 is stored. The HTTP layer resolves each request's
//! credentials into an `AuthOutcome` extension; server fns and routes call `require_scope`.

use crate::errors::internal;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use model::error::AppError;
use model::{CurrentUser, Password, Scope, Scopes};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::Duration;

/// Cookie holding the access JWT.
pub const ACCESS_COOKIE: &str = "bp_at";
/// Cookie holding the refresh token.
pub const REFRESH_COOKIE: &str = "bp_rt";
/// Prefix of personal API tokens.
pub const API_TOKEN_PREFIX: &str = "bp_pat_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "bp_rt_";
const ISSUER: &str = "blueprint";

/// Hashes a password with argon2id on the blocking pool.
pub async fn hash_password(password: &Password) -> Result<String, AppError> {
    let plain = password.expose().to_string();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(plain.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| internal(format!("hashing task: {e}")))?
}

/// Checks a password against a stored hash (or against a dummy hash when `stored` is None,
/// so that unknown e-mails take as long as wrong passwords).
pub async fn verify_password(stored: Option<String>, plain: &str) -> bool {
    let plain = plain.to_string();
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        match PasswordHash::new(&stored) {
            Ok(parsed) => Argon2::default().verify_password(plain.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        }
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::encode_b64(b"blueprint-dummy!").ok();
        salt.and_then(|s| {
            Argon2::default().hash_password(b"not a password", &s).ok().map(|h| h.to_string())
        })
        .unwrap_or_default()
    })
}

/// A fresh random secret with a recognisable prefix (256 bits, base64url).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Hex SHA-256, the stored form of refresh and API tokens.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Issuer, always `blueprint`.
    pub iss: String,
    /// Issued at (s).
    pub iat: i64,
    /// Expires at (s).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// Scopes, comma-separated.
    pub scp: String,
    /// Refresh-token family (the sign-in this token descends from).
    pub fam: String,
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// It was valid once.
    Expired,
    /// Bad signature, wrong algorithm, malformed.
    Invalid,
}

/// HS256 keys.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// Keys from a shared secret (at least 32 bytes).
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Issues an access token; returns it with its lifetime in seconds.
    pub fn issue(
        &self,
        user_id: i64,
        scopes: &Scopes,
        family: &str,
        ttl: Duration,
    ) -> Result<(String, i64), AppError> {
        let now = chrono::Utc::now().timestamp();
        let ttl_s = i64::try_from(ttl.as_secs()).unwrap_or(900);
        let claims = AccessClaims {
            sub: user_id.to_string(),
            iss: ISSUER.to_string(),
            iat: now,
            exp: now + ttl_s,
            jti: uuid::Uuid::new_v4().to_string(),
            scp: scopes.to_csv(),
            fam: family.to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| internal(format!("jwt encode: {e}")))?;
        Ok((token, ttl_s))
    }

    /// Verifies signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        match jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(TokenError::Expired)
            }
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

/// How the request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Browser session cookie (a JWT descending from refresh family `family`).
    Cookie {
        /// Refresh-token family.
        family: String,
    },
    /// `Authorization: Bearer <jwt>`.
    Bearer {
        /// Refresh-token family.
        family: String,
    },
    /// `Authorization: Bearer bp_pat_…`.
    ApiToken {
        /// Token id.
        id: i64,
    },
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id.
    pub user_id: i64,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Effective scopes: the credential's scopes that the user still holds.
    pub scopes: Scopes,
    /// The credential used.
    pub credential: Credential,
    /// The language the account chose (Settings or the top-bar switch), if it chose.
    pub lang: Option<model::Lang>,
}

impl Principal {
    /// Refuses unless the principal holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(AppError::forbidden(crate::tr!("this needs the '%{scope}' scope", scope = scope)))
        }
    }

    /// The UI's view of the caller.
    pub fn to_current_user(&self) -> CurrentUser {
        CurrentUser {
            id: self.user_id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// What the HTTP layer found out about a request's credentials; a request extension.
#[derive(Debug, Clone, Default)]
pub struct AuthOutcome {
    /// Who is calling, if anyone.
    pub principal: Option<Principal>,
    /// Why presented credentials were refused (a bearer token that is expired, tampered …).
    pub rejection: Option<AppError>,
}

impl AuthOutcome {
    /// The principal, or the 401 explaining why there is none.
    pub fn require_user(&self) -> Result<Principal, AppError> {
        match (&self.principal, &self.rejection) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err(AppError::unauthorized(crate::tr!("sign in first"))),
        }
    }

    /// The principal if it holds `scope`.
    pub fn require_scope(&self, scope: Scope) -> Result<Principal, AppError> {
        let p = self.require_user()?;
        p.require(scope)?;
        Ok(p)
    }
}

fn cookie(
    name: &str,
    value: &str,
    max_age: i64,
    path: &str,
    same_site: &str,
    secure: bool,
) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .ok()
}

/// `Set-Cookie` values that start or continue a browser session.
pub fn session_cookies(
    access: &str,
    access_ttl_s: i64,
    refresh: Option<(&str, i64)>,
    secure: bool,
) -> Vec<HeaderValue> {
    let mut out = Vec::new();
    out.extend(cookie(ACCESS_COOKIE, access, access_ttl_s, "/", "Lax", secure));
    if let Some((refresh, ttl)) = refresh {
        out.extend(cookie(REFRESH_COOKIE, refresh, ttl, "/", "Lax", secure));
    }
    out
}

/// `Set-Cookie` values that end a browser session.
pub fn clear_session_cookies(secure: bool) -> Vec<HeaderValue> {
    [ACCESS_COOKIE, REFRESH_COOKIE]
        .iter()
        .filter_map(|n| cookie(n, "", 0, "/", "Lax", secure))
        .collect()
}

/// A cookie's value from a `Cookie` header.
pub fn read_cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let (token, ttl) = keys().issue(7, &Scopes::all(), "fam", Duration::from_secs(60)).unwrap();
        let claims = keys().verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), ttl, claims.fam.as_str()), ("7", 60, "fam"));
    }

    #[test]
    fn rejects_token_signed_with_another_key() {
        let (token, _) = keys().issue(7, &Scopes::all(), "f", Duration::from_secs(60)).unwrap();
        let other = JwtKeys::new(b"another-secret-another-secret-!!");
        assert_eq!(other.verify(&token).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn rejects_alg_none_token() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            format!(r#"{{"sub":"1","iss":"blueprint","exp":{},"iat":0,"jti":"x","scp":"admin","fam":"f"}}"#,
                chrono::Utc::now().timestamp() + 600).as_bytes(),
        );
        assert_eq!(keys().verify(&format!("{header}.{claims}.")).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn reads_cookie_among_others() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, HeaderValue::from_static("a=1; bp_at=tok; b=2"));
        assert_eq!(read_cookie(&h, ACCESS_COOKIE), Some("tok"));
    }

    #[tokio::test]
    async fn password_hash_is_argon2id_and_verifies() {
        let pw = Password::parse("correct horse battery", None).unwrap();
        let hash = hash_password(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(hash.clone()), "correct horse battery").await);
        assert!(!verify_password(Some(hash), "wrong horse battery").await);
    }
}

/// The client's IP as the HTTP layer determined it; a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);
