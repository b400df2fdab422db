//! Secrets at rest: API keys and connector credentials are sealed with XChaCha20-Poly1305
//! under the deployment's secret key before they reach the database. The key itself is never
//! stored there: it comes from `secrets.key` (config or `BLUEPRINT_SECRETS__KEY`) or from a key
//! file beside the database, created on first start (mode 0600).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// Version prefix of a sealed value.
const PREFIX: &str = "v1:";

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The key is not 32 bytes of base64.
    #[error("the secret key must be 32 bytes, base64-encoded")]
    BadKey,
    /// The stored value is not one we sealed.
    #[error("the stored secret is not in the sealed format")]
    Malformed,
    /// The value was sealed under another key, or altered.
    #[error("the stored secret cannot be opened with this deployment's secret key")]
    WrongKey,
}

/// Seals and opens secrets with the deployment key. Prints as `SecretBox(***)`.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A box over a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretError::BadKey)?;
        Ok(Self { cipher })
    }

    /// A fresh random key, base64-encoded (for a new key file).
    pub fn generate_key() -> String {
        STANDARD.encode(rand::random::<[u8; 32]>())
    }

    /// `v1:` + base64(nonce ‖ ciphertext); a new random nonce every time.
    pub fn seal(&self, plain: &SecretString) -> Result<String, SecretError> {
        let nonce: [u8; 24] = rand::random();
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), plain.expose_secret().as_bytes())
            .map_err(|_| SecretError::Malformed)?;
        let mut out = Vec::with_capacity(24 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// The plain text of a sealed value.
    pub fn open(&self, sealed: &str) -> Result<SecretString, SecretError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
        let bytes = STANDARD.decode(body).map_err(|_| SecretError::Malformed)?;
        if bytes.len() < 24 + 16 {
            return Err(SecretError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SecretError::Malformed)?;
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| SecretError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_other_keys_and_tampering() {
        let key = SecretBox::generate_key();
        let sb = SecretBox::from_base64(&key).unwrap();
        let secret = SecretString::from("sk-live-123");
        let a = sb.seal(&secret).unwrap();
        let b = sb.seal(&secret).unwrap();
        assert_ne!(a, b, "a fresh nonce every time");
        assert!(!a.contains("sk-live"));
        assert_eq!(sb.open(&a).unwrap().expose_secret(), "sk-live-123");

        let other = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        assert_eq!(other.open(&a).unwrap_err(), SecretError::WrongKey);

        let mut raw = STANDARD.decode(a.strip_prefix(PREFIX).unwrap()).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("{PREFIX}{}", STANDARD.encode(raw));
        assert_eq!(sb.open(&tampered).unwrap_err(), SecretError::WrongKey);
        assert_eq!(sb.open("plain").unwrap_err(), SecretError::Malformed);
        assert_eq!(SecretBox::from_base64("c2hvcnQ=").unwrap_err(), SecretError::BadKey);
        assert_eq!(format!("{sb:?}"), "SecretBox(***)");
    }
}
