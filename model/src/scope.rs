//! Scopes: what a user or a token may do.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One permission. Every server fn and route names the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Use the app at all: own profile, own tokens, dashboard.
    Basic,
    /// Search the knowledge base.
    Search,
    /// Run AI generation (RFCs, code docs).
    Generate,
    /// Administer users, budgets, providers, sources.
    Admin,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 4] = [Scope::Basic, Scope::Search, Scope::Generate, Scope::Admin];

    /// The scope's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Basic => "basic",
            Scope::Search => "search",
            Scope::Generate => "generate",
            Scope::Admin => "admin",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s.trim())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, kept sorted and without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Builds a set from any list.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut v: Vec<Scope> = scopes.into_iter().collect();
        v.sort();
        v.dedup();
        Scopes(v)
    }

    /// Every scope.
    pub fn all() -> Self {
        Scopes::new(Scope::ALL)
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes in order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes both sets hold.
    pub fn intersect(&self, other: &Scopes) -> Scopes {
        Scopes::new(self.iter().filter(|s| other.contains(*s)))
    }

    /// Comma-separated wire form (`basic,search`), as stored.
    pub fn to_csv(&self) -> String {
        self.0.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }

    /// Parses the stored form, ignoring unknown names (a scope removed in a later version).
    pub fn from_csv(s: &str) -> Self {
        Scopes::new(s.split(',').filter_map(Scope::parse))
    }

    /// Parses a client's list strictly: an unknown name is an error naming it.
    pub fn parse_names(names: &[String]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            match Scope::parse(name) {
                Some(s) => out.push(s),
                None => {
                    return Err(format!(
                        "unknown scope '{name}' (known: basic, search, generate, admin)"
                    ));
                }
            }
        }
        Ok(Scopes::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_sorts_and_dedups() {
        let s = Scopes::from_csv("admin,basic,basic,bogus");
        assert_eq!(s.to_csv(), "basic,admin");
    }

    #[test]
    fn rejects_unknown_scope_name() {
        let err = Scopes::parse_names(&["basic".into(), "root".into()]).unwrap_err();
        assert!(err.contains("root"));
    }
}
