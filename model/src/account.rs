//! Accounts: who a user is, how they sign in, and their API tokens.

use super::Scopes;
use crate::error::{AppError, FieldError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A normalised e-mail address (trimmed, lower-cased, one `@`, a dotted domain).
///
/// Deserializing goes through [`Email::parse`] too, so no `Email` ever holds an unchecked value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl TryFrom<String> for Email {
    type Error = FieldError;

    fn try_from(raw: String) -> Result<Self, FieldError> {
        Email::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

/// Whether text holds a character that has no place in a name, an address or a label: control
/// characters (NUL included), bidirectional overrides and isolates (which make a name display
/// as something else, "Trojan Source"), and the byte-order mark.
pub fn has_unsafe_chars(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{FEFF}')
    })
}

impl Email {
    /// Validates and normalises an address.
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(FieldError::new("email", "required", "E-mail is required."));
        }
        if s.len() > 254 {
            return Err(FieldError::new(
                "email",
                "max_length",
                "E-mail must be at most 254 characters.",
            ));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(FieldError::new("email", "format", "E-mail must contain '@'."));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@');
        if local.is_empty()
            || !domain_ok
            || s.chars().any(char::is_whitespace)
            || has_unsafe_chars(&s)
        {
            return Err(FieldError::new(
                "email",
                "format",
                "E-mail must look like name@example.com.",
            ));
        }
        Ok(Email(s))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that follows the rules: 8 to 256 characters, not the e-mail address. Deserializing
/// checks the length rules through [`Password::parse`] (the e-mail rule needs the address).
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Password(String);

impl TryFrom<String> for Password {
    type Error = FieldError;

    fn try_from(raw: String) -> Result<Self, FieldError> {
        Password::parse(&raw, None)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Minimum length in characters.
    pub const MIN_CHARS: usize = 8;
    /// Maximum length in characters (argon2 input stays bounded).
    pub const MAX_CHARS: usize = 256;

    /// Checks the rules for a new password.
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Password, FieldError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(FieldError::new(
                "password",
                "min_length",
                format!("Password must be at least {} characters.", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(FieldError::new(
                "password",
                "max_length",
                format!("Password must be at most {} characters.", Self::MAX_CHARS),
            ));
        }
        if let Some(email) = email {
            let lower = raw.trim().to_lowercase();
            let local = email.as_str().split('@').next().unwrap_or_default();
            if lower == email.as_str() || lower == local {
                return Err(FieldError::new(
                    "password",
                    "not_email",
                    "Password must not be your e-mail address.",
                ));
            }
        }
        Ok(Password(raw.to_string()))
    }

    /// The secret itself; only the hasher should call this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to 80 characters after trimming; deserializing goes through `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl TryFrom<String> for DisplayName {
    type Error = FieldError;

    fn try_from(raw: String) -> Result<Self, FieldError> {
        DisplayName::parse(&raw)
    }
}

impl From<DisplayName> for String {
    fn from(name: DisplayName) -> String {
        name.0
    }
}

impl DisplayName {
    /// Validates a display name.
    pub fn parse(raw: &str) -> Result<DisplayName, FieldError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldError::new("display_name", "required", "Name is required."));
        }
        if s.chars().count() > 80 {
            return Err(FieldError::new(
                "display_name",
                "max_length",
                "Name must be at most 80 characters.",
            ));
        }
        if has_unsafe_chars(s) {
            return Err(FieldError::new(
                "display_name",
                "format",
                "Name must not contain control or text-direction characters.",
            ));
        }
        Ok(DisplayName(s.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the registration form sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterForm {
    /// E-mail address.
    pub email: String,
    /// Chosen password.
    pub password: String,
    /// Name shown in the UI.
    pub display_name: String,
}

/// A registration whose fields passed every rule.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Normalised address.
    pub email: Email,
    /// Checked password.
    pub password: Password,
    /// Checked name.
    pub display_name: DisplayName,
}

impl TryFrom<RegisterForm> for NewAccount {
    type Error = AppError;

    fn try_from(form: RegisterForm) -> Result<Self, AppError> {
        let mut errors = Vec::new();
        let email = Email::parse(&form.email).map_err(|e| errors.push(e)).ok();
        let password =
            Password::parse(&form.password, email.as_ref()).map_err(|e| errors.push(e)).ok();
        let display_name = DisplayName::parse(&form.display_name).map_err(|e| errors.push(e)).ok();
        match (email, password, display_name) {
            (Some(email), Some(password), Some(display_name)) if errors.is_empty() => {
                Ok(NewAccount { email, password, display_name })
            }
            _ => Err(AppError::Validation { errors }),
        }
    }
}

/// What the sign-in form sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInForm {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// The signed-in user as the UI sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    /// User id.
    pub id: i64,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// What the current credentials allow (a token may carry fewer scopes than its user).
    pub scopes: Scopes,
}

/// A user as admins see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// User id.
    pub id: i64,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Granted scopes.
    pub scopes: Scopes,
    /// False once deactivated: every credential stops working.
    pub active: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// The language they chose (or registered in); `None`: the browser's.
    #[serde(default)]
    pub locale: Option<Lang>,
}

/// A language Blueprint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English, the default.
    En,
    /// Russian.
    Ru,
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ru];

    /// The BCP 47 tag: `en`, `ru`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// `en` or `ru` (any case, region ignored: `ru-RU` is Russian).
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.as_str() == primary)
    }
}

/// Tokens returned to API clients that sign in or refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use token to get the next pair.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
}

/// What a client sends to create a personal API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewApiTokenForm {
    /// A name to recognise the token by.
    pub name: String,
    /// Days until it expires (1 to 365).
    pub expires_in_days: i64,
    /// Scopes the token carries; must be a subset of the user's. Empty means all of the user's.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A personal API token as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenInfo {
    /// Token id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Scopes,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
    /// Last time it authenticated a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly created API token: the secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedApiToken {
    /// The stored description.
    pub info: ApiTokenInfo,
    /// The secret, `bp_pat_…`; only its hash is kept.
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_email_case_and_space() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
    }

    #[test]
    fn deserializing_goes_through_parse() {
        let email: Email = serde_json::from_str("\" Ann@Example.COM \"").unwrap();
        assert_eq!(email.as_str(), "ann@example.com");
        let err = serde_json::from_str::<Email>("\"ann.example.com\"").unwrap_err();
        assert!(err.to_string().contains("E-mail must contain '@'."), "{err}");
        assert!(serde_json::from_str::<Password>("\"short\"").is_err());
        assert!(serde_json::from_str::<Password>("\"long enough\"").is_ok());
        assert!(serde_json::from_str::<DisplayName>("\"  \"").is_err());
        let name: DisplayName = serde_json::from_str("\" Ann \"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"Ann\"");
    }

    #[test]
    fn rejects_email_without_at() {
        assert_eq!(Email::parse("ann.example.com").unwrap_err().rule, "format");
    }

    #[test]
    fn rejects_short_password() {
        assert_eq!(Password::parse("short", None).unwrap_err().rule, "min_length");
    }

    #[test]
    fn rejects_password_equal_to_email() {
        let email = Email::parse("ann@example.com").unwrap();
        assert_eq!(Password::parse("Ann@Example.com", Some(&email)).unwrap_err().rule, "not_email");
    }

    #[test]
    fn registration_reports_every_broken_field() {
        let form =
            RegisterForm { email: "x".into(), password: "1".into(), display_name: " ".into() };
        let AppError::Validation { errors } = NewAccount::try_from(form).unwrap_err() else {
            panic!("expected validation error");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["email", "password", "display_name"]);
    }
}
