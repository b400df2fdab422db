//! The session context: one blocking resource with the current user, refetched after sign-in
//! and sign-out. Blocking, so the server knows before it streams whether to redirect.

use crate::api::auth::get_current_user;
use leptos::prelude::*;
use model::error::AppError;
use model::{CurrentUser, Scope};

/// The current user, shared by every page.
#[derive(Clone, Copy)]
pub struct Session {
    /// Resolves to the user, or None for visitors.
    pub user: Resource<Result<Option<CurrentUser>, AppError>>,
    version: RwSignal<u32>,
}

impl Session {
    /// Re-reads the user (after signing in or out).
    pub fn reload(&self) {
        self.version.update(|v| *v += 1);
    }

    /// How many times the user was re-read (tracked), for resources that follow the session.
    pub fn version(&self) -> u32 {
        self.version.get()
    }

    /// The user if already loaded (for event handlers).
    pub fn current(&self) -> Option<CurrentUser> {
        self.user.get_untracked().and_then(Result::ok).flatten()
    }

    /// Whether the loaded user holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.current().is_some_and(|u| u.scopes.contains(scope))
    }
}

/// Creates the session context; called once by `App`.
pub fn provide_session() {
    let version = RwSignal::new(0u32);
    let user = Resource::new_blocking(move || version.get(), |_| get_current_user());
    provide_context(Session { user, version });
}

/// The session context.
pub fn use_session() -> Session {
    use_context::<Session>().unwrap_or_else(|| {
        let version = RwSignal::new(0u32);
        Session {
            user: Resource::new_blocking(move || version.get(), |_| get_current_user()),
            version,
        }
    })
}

/// Percent-encodes a path for a `next=` query parameter.
pub fn encode_next(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A `next=` target that is safe to follow: a local path, never another origin.
///
/// Browsers drop tabs and line breaks from URLs and read `\\` as `/`, so `/\t/evil.example`
/// would become `//evil.example` (another origin): a target with any control, space or backslash
/// character is refused outright, as is anything not starting with exactly one `/`.
pub fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace())
                // `/..//evil.example` normalises to `//evil.example`.
                && !n
                    .split(['?', '#'])
                    .next()
                    .unwrap_or_default()
                    .split('/')
                    .any(|seg| seg == "." || seg == ".." || seg.eq_ignore_ascii_case("%2e")
                        || seg.to_ascii_lowercase().contains("%2e"))
                && !is_auth_page(&n) =>
        {
            n
        }
        _ => "/".to_string(),
    }
}

/// Sign-in and registration: never a page to come back to after signing in (that would show
/// the form again to someone who is signed in).
pub fn is_auth_page(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    path.eq_ignore_ascii_case("/signin") || path.eq_ignore_ascii_case("/register")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_never_an_auth_page() {
        for auth in ["/signin", "/signin?next=/signin", "/register", "/SignIn/", "/register#x"] {
            assert_eq!(safe_next(Some(auth.into())), "/", "{auth}");
        }
        assert_eq!(safe_next(Some("/signin-help".into())), "/signin-help");
    }

    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(safe_next(Some("//evil.example".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/");
        assert_eq!(safe_next(Some("/admin?x=1".into())), "/admin?x=1");
        assert_eq!(safe_next(Some("/search?q=a..b".into())), "/search?q=a..b");
        // What a browser would turn into `//evil.example/`.
        for hostile in [
            "/\t/evil.example/",
            "/\n/evil.example",
            "/\\evil.example",
            "/ /evil",
            "/\u{2028}/x",
            "/..//evil.example",
            "/.//evil.example",
            "/%2e%2e//evil.example",
        ] {
            assert_eq!(safe_next(Some(hostile.into())), "/", "{hostile:?}");
        }
    }

    #[test]
    fn encodes_query_characters() {
        assert_eq!(encode_next("/admin?q=a b"), "/admin%3Fq%3Da%20b");
    }
}
