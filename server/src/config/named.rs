//! Settings held as real types but written as names (`Europe/Berlin`, `monthly`, `openai` …):
//! parsed once while loading, so a bad name stops start-up with its key and the rule, and
//! nothing downstream parses them again. Fields use `#[serde(with = "named")]`.

use super::*;
use serde::de::Error as _;

/// A type a setting names.
pub trait Named: Sized {
    /// The rule a bad name broke.
    const RULE: &'static str;
    /// The name written in files and variables.
    fn name(&self) -> String;
    /// The value a name means (trimmed; case-insensitive where the names are).
    fn from_name(name: &str) -> Option<Self>;
}

/// Writes the value's name.
pub fn serialize<T: Named, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.name())
}

/// Reads a name into its value, or fails with the rule.
pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let name = String::deserialize(d)?;
    T::from_name(&name).ok_or_else(|| D::Error::custom(T::RULE))
}

impl Named for Tz {
    const RULE: &'static str = "must be an IANA time zone such as Europe/Berlin";
    fn name(&self) -> String {
        Tz::name(*self).to_string()
    }
    fn from_name(name: &str) -> Option<Self> {
        name.trim().parse().ok()
    }
}

impl Named for Period {
    const RULE: &'static str = "must be daily, weekly or monthly";
    fn name(&self) -> String {
        self.as_str().to_string()
    }
    fn from_name(name: &str) -> Option<Self> {
        Period::parse(name)
    }
}

impl Named for Strategy {
    const RULE: &'static str = "must be priority, cost, quality, balanced or round_robin";
    fn name(&self) -> String {
        self.as_str().to_string()
    }
    fn from_name(name: &str) -> Option<Self> {
        Strategy::parse(name.trim())
    }
}

impl Named for Security {
    const RULE: &'static str = "must be starttls, tls or none";
    fn name(&self) -> String {
        self.as_str().to_string()
    }
    fn from_name(name: &str) -> Option<Self> {
        Security::parse(name)
    }
}

impl Named for ProviderKind {
    const RULE: &'static str = "must be openai, anthropic or ollama";
    fn name(&self) -> String {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
        }
        .to_string()
    }
    fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "openai" => Some(ProviderKind::OpenAi),
            "anthropic" => Some(ProviderKind::Anthropic),
            "ollama" => Some(ProviderKind::Ollama),
            _ => None,
        }
    }
}
