//! `[smtp]`: outgoing e-mail.

use super::*;

/// Outgoing e-mail through an SMTP server. Nothing is sent while `host` is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// SMTP server host name or IP address, without scheme or port; empty turns e-mail off.
    pub host: String,
    /// Server port (587 for STARTTLS submission, 465 for TLS, 25 for a plain relay).
    pub port: u16,
    /// `starttls` (upgrade before sending anything; refused if the server cannot), `tls`
    /// (TLS from the first byte), or `none` (no encryption: a relay on this host, tests).
    #[serde(with = "named")]
    pub security: Security,
    /// User name for SMTP AUTH; empty means no AUTH.
    pub username: String,
    /// Password for SMTP AUTH; secret.
    pub password: Secret,
    /// Sender mailbox: `address` or `Name <address>`.
    pub from: String,
    /// Longest wait for the connection and for each reply of the server.
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: Security::StartTls,
            username: String::new(),
            password: Secret::default(),
            from: "Blueprint <blueprint@localhost>".into(),
            timeout_secs: 15,
        }
    }
}

impl SmtpSettings {
    /// Whether e-mail is on.
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }
}

impl Settings {
    pub(super) fn validate_smtp(&self) -> Result<(), ConfigError> {
        use domain::mail::parse_mailbox;
        let m = &self.smtp;
        let security = m.security;
        if let Err(e) = parse_mailbox(&m.from) {
            return Err(bad("smtp.from", e));
        }
        if !(1..=600).contains(&m.timeout_secs) {
            return Err(bad("smtp.timeout_secs", "must be between 1 and 600"));
        }
        if m.password.0.is_some() && m.username.trim().is_empty() {
            return Err(bad("smtp.password", "is set but smtp.username is empty"));
        }
        let host = m.host.trim();
        if host.is_empty() {
            return Ok(());
        }
        let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>();
        let name_ok = host.len() <= 253
            && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if ip.is_err() && !name_ok {
            return Err(bad(
                "smtp.host",
                "must be a host name or IP address, without scheme, credentials or port",
            ));
        }
        if m.port == 0 {
            return Err(bad("smtp.port", "must be between 1 and 65535"));
        }
        let local = host == "localhost" || ip.is_ok_and(|ip| ip.is_loopback());
        if security == Security::None && !m.username.trim().is_empty() && !local {
            return Err(bad(
                "smtp.username",
                "would be sent unencrypted with security = \"none\"; use starttls or tls \
                 (credentials over a plain connection are only allowed to this host)",
            ));
        }
        Ok(())
    }
}
