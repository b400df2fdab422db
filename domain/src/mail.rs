//! Outgoing e-mail over SMTP (lettre on tokio, TLS by rustls). Owns the transport built from
//! the `[smtp]` settings and the split of SMTP failures into "try again later" and "give up".
//! It only sends: who is mailed about what is the services' business, and delivery runs in the
//! background job `email.send` (`jobs/kinds.rs`), never on a request's path. The password is
//! handed to lettre and nowhere else; it is never logged or printed.

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::Duration;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS before anything is sent (refused if the server
    /// cannot upgrade). Usually port 587.
    StartTls,
    /// TLS from the first byte (SMTPS). Usually port 465.
    Tls,
    /// No encryption at all: only for a relay on this host or a test server.
    None,
}

impl Security {
    /// Parses the configured name: `starttls`, `tls` or `none`.
    pub fn parse(name: &str) -> Option<Security> {
        match name.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            "none" => Some(Security::None),
            _ => None,
        }
    }

    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Security::StartTls => "starttls",
            Security::Tls => "tls",
            Security::None => "none",
        }
    }
}

/// Where and how to send.
#[derive(Clone)]
pub struct MailSettings {
    /// SMTP server host name (also the name its TLS certificate must carry).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connection security.
    pub security: Security,
    /// User name for SMTP AUTH; no AUTH when None.
    pub username: Option<String>,
    /// Password for SMTP AUTH.
    pub password: Option<SecretString>,
    /// The sender (`Blueprint <blueprint@example.com>`).
    pub from: Mailbox,
    /// Longest wait for the connection and for each SMTP reply.
    pub timeout: Duration,
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Parses a mailbox: `addr@example.com` or `Name <addr@example.com>`.
pub fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("{text:?} is not an e-mail address or 'Name <address>' ({e})"))
}

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient or the message is unusable; sending it again cannot help.
    #[error("{0}")]
    Invalid(String),
    /// The server refused it for good (a 5xx reply: unknown mailbox, authentication failed …).
    #[error("the SMTP server refused the message: {0}")]
    Refused(String),
    /// Worth another try later: no connection, a timeout, TLS trouble, a 4xx reply.
    #[error("the message could not be delivered yet: {0}")]
    Transient(String),
}

impl MailError {
    /// Whether another attempt cannot succeed.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, MailError::Transient(_))
    }
}

/// Sends e-mail through one SMTP server. Cheap to clone. Each message opens a connection,
/// delivers and quits: alerts are rare, so no connection is held open between them.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("server", &self.server).field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer for `settings`. Connects nothing yet; fails only if TLS cannot be set up for
    /// the host name.
    pub fn new(settings: &MailSettings) -> Result<Mailer, MailError> {
        let host = settings.host.trim();
        let builder = match settings.security {
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| MailError::Invalid(format!("TLS set-up for {host} failed: {e}")))?,
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| MailError::Invalid(format!("TLS set-up for {host} failed: {e}")))?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        if let Some(user) = settings.username.as_deref().filter(|u| !u.is_empty()) {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.to_string(), password));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: settings.from.clone(),
            server: format!("{host}:{} ({})", settings.port, settings.security.as_str()),
        })
    }

    /// The sender address.
    pub fn sender(&self) -> &Mailbox {
        &self.from
    }

    /// Sends a plain-text message to one recipient.
    pub async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), MailError> {
        let to = parse_mailbox(to).map_err(|e| MailError::Invalid(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            // A fresh `<random@this-host>`; spam filters frown on mail without one.
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .map_err(|e| MailError::Invalid(format!("the message could not be built: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Refused(e.to_string())),
            Err(e) => Err(MailError::Transient(format!("{e} (server {})", self.server))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(security: Security) -> MailSettings {
        MailSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security,
            username: Some("mailer".into()),
            password: Some(SecretString::from("hunter2".to_string())),
            from: parse_mailbox("Blueprint <blueprint@localhost>").unwrap(),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn parses_security_names() {
        assert_eq!(Security::parse("STARTTLS"), Some(Security::StartTls));
        assert_eq!(Security::parse("tls"), Some(Security::Tls));
        assert_eq!(Security::parse("none"), Some(Security::None));
        assert_eq!(Security::parse("ssl"), None);
    }

    #[test]
    fn parses_a_mailbox_with_or_without_a_name() {
        let named = parse_mailbox("Blueprint <blueprint@localhost>").unwrap();
        assert_eq!(named.name.as_deref(), Some("Blueprint"));
        assert_eq!(named.email.to_string(), "blueprint@localhost");
        assert!(parse_mailbox("ops@example.com").is_ok());
        assert!(parse_mailbox("not an address").is_err());
        assert!(parse_mailbox("Blueprint <nobody>").is_err());
    }

    #[test]
    fn builds_a_transport_for_every_security_without_connecting() {
        for security in [Security::StartTls, Security::Tls, Security::None] {
            Mailer::new(&settings(security)).unwrap();
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let text = format!("{:?}", settings(Security::StartTls));
        assert!(!text.contains("hunter2") && text.contains("***"), "{text}");
    }

    #[tokio::test]
    async fn an_invalid_recipient_is_permanent_and_sends_nothing() {
        let mailer = Mailer::new(&settings(Security::None)).unwrap();
        let err = mailer.send("not an address", "s", "b").await.unwrap_err();
        assert!(err.is_permanent() && matches!(err, MailError::Invalid(_)), "{err}");
    }
}
