//! Which language a request is answered in, and the words the server itself writes in it.
//!
//! The language: the account's stored preference, else the language cookie (the switch's choice,
//! which sign-in sets from the account), else the best of `Accept-Language`, else English. The
//! HTTP layer scopes it over each request ([`scope`], then [`prefer`] once the caller is known);
//! outside a request (jobs, the CLI) it is English.
//!
//! The words: [`tr!`](crate::tr) looks a message up by its English text (the gettext model, with
//! rust-i18n's compile-time catalog `domain/locales/messages.json`), so English needs no entry,
//! a message without a translation stays readable English, and `%{name}` fills in values. The test
//! `every_message_has_a_russian_translation` reads every `tr!` in the sources and fails on one
//! missing from the catalog (and on a catalog entry no code uses).

use std::cell::Cell;

use http::{HeaderMap, HeaderValue};
use model::Lang;
use model::error::{AppError, FieldError};

mod catalog {
    rust_i18n::i18n!("locales", fallback = "en");

    pub(super) fn translate<'a>(lang: &str, message: &'a str) -> std::borrow::Cow<'a, str> {
        // A message without a translation is its own English text.
        _rust_i18n_try_translate(lang, message).unwrap_or(std::borrow::Cow::Borrowed(message))
    }
}

tokio::task_local! {
    static LANG: Cell<Lang>;
}

/// Runs `fut` answering in `lang` (the HTTP layer wraps every request in this).
pub async fn scope<F: std::future::Future>(lang: Lang, fut: F) -> F::Output {
    LANG.scope(Cell::new(lang), fut).await
}

/// `inner`, polled in `lang`: a response stream is polled after its request's scope has ended
/// (Server-Sent Events), and what it says late (a failure mid-stream) is still in the reader's
/// language.
pub fn scope_stream<S>(lang: Lang, inner: S) -> impl futures::Stream<Item = S::Item> + Send
where
    S: futures::Stream + Send + 'static,
{
    let mut inner = Box::pin(inner);
    futures::stream::poll_fn(move |cx| {
        LANG.sync_scope(Cell::new(lang), || inner.as_mut().poll_next(cx))
    })
}

/// Switches the current request to `lang` (the caller's stored preference, once known).
pub fn prefer(lang: Lang) {
    let _ = LANG.try_with(|l| l.set(lang));
}

static FALLBACK: std::sync::OnceLock<fn() -> Option<Lang>> = std::sync::OnceLock::new();

/// Where the language comes from in tasks the HTTP layer's scope does not reach: the page
/// renderer runs resources (and the server fns they call) in tasks of its own, which know their
/// request through Leptos' context instead. Set once at start-up.
pub fn set_fallback(find: fn() -> Option<Lang>) {
    let _ = FALLBACK.set(find);
}

/// The language of the request being served; English outside one.
pub fn lang() -> Lang {
    LANG.try_with(Cell::get)
        .ok()
        .or_else(|| FALLBACK.get().and_then(|find| find()))
        .unwrap_or(Lang::En)
}

/// `message` (its English text) in `lang`, with `%{name}` replaced by the matching value.
pub fn translate(lang: Lang, message: &str, names: &[&str], values: &[String]) -> String {
    let text = catalog::translate(lang.as_str(), message);
    if names.is_empty() {
        text.into_owned()
    } else {
        rust_i18n::replace_patterns(&text, names, values)
    }
}

/// A message in the current request's language: `tr!("E-mail is required.")`,
/// `tr!("days must be between %{min} and %{max}", min = 1, max = 366)`.
#[macro_export]
macro_rules! tr {
    ($message:literal) => {
        $crate::i18n::translate($crate::i18n::lang(), $message, &[], &[])
    };
    ($message:literal, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::i18n::translate(
            $crate::i18n::lang(),
            $message,
            &[$(stringify!($name)),+],
            &[$(($value).to_string()),+],
        )
    };
}

/// The language cookie, shared with the UI (readable by scripts: the language switch writes it).
pub const LANG_COOKIE: &str = "bp_lang";

/// `err` with every sentence in `lang`: messages written in English elsewhere (the shared
/// validators of `model`) are looked up by their text; a message already in `lang` is kept.
pub fn localized(err: AppError, lang: Lang) -> AppError {
    if lang == Lang::En {
        return err;
    }
    let t = |m: String| translate(lang, &m, &[], &[]);
    match err {
        AppError::Validation { errors } => AppError::Validation {
            errors: errors.into_iter().map(|e| FieldError { message: t(e.message), ..e }).collect(),
        },
        AppError::BadRequest { message } => AppError::BadRequest { message: t(message) },
        AppError::Unauthorized { message } => AppError::Unauthorized { message: t(message) },
        AppError::Forbidden { message } => AppError::Forbidden { message: t(message) },
        AppError::Conflict { message } => AppError::Conflict { message: t(message) },
        AppError::Unavailable { message } => AppError::Unavailable { message: t(message) },
        other => other,
    }
}

/// `err` in the current request's language (for errors made by `model`'s shared validators).
pub fn here(err: AppError) -> AppError {
    localized(err, lang())
}

/// The one readable sentence of `err` in `lang` (the `message` of a REST error body).
pub fn error_message(err: &AppError, lang: Lang) -> String {
    if lang == Lang::En {
        return err.to_string();
    }
    let tr = |m: &str, names: &[&str], values: &[String]| translate(lang, m, names, values);
    match err {
        AppError::Validation { errors } => {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, translate(lang, &e.message, &[], &[])))
                .collect();
            tr("invalid input: %{errors}", &["errors"], &[parts.join("; ")])
        }
        AppError::NotFound { what } => {
            tr("not found: %{what}", &["what"], &[translate(lang, what, &[], &[])])
        }
        AppError::PayloadTooLarge { limit_bytes } => tr(
            "the request body is larger than %{limit} bytes",
            &["limit"],
            &[limit_bytes.to_string()],
        ),
        AppError::Internal { request_id } => {
            tr("internal error (request %{id})", &["id"], std::slice::from_ref(request_id))
        }
        AppError::BadRequest { message }
        | AppError::Unauthorized { message }
        | AppError::Forbidden { message }
        | AppError::Conflict { message }
        | AppError::RateLimited { message, .. }
        | AppError::BudgetExceeded { message, .. }
        | AppError::Unavailable { message } => translate(lang, message, &[], &[]),
    }
}

/// The language to answer this request in.
pub fn request_lang(headers: &HeaderMap) -> Lang {
    requested_lang(headers).unwrap_or(Lang::En)
}

/// The language the request asks for, if it asks (a client that says nothing gets English
/// without having chosen it).
pub fn requested_lang(headers: &HeaderMap) -> Option<Lang> {
    crate::auth::read_cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .or_else(|| accept_language(headers))
}

/// The account's chosen language where it decides: a client without the language cookie (API
/// clients); a browser's cookie, which sign-in sets from the account, stays in charge.
pub fn account_lang(headers: &HeaderMap, chosen: Option<Lang>) -> Option<Lang> {
    match crate::auth::read_cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
        Some(_) => None,
        None => chosen,
    }
}

/// The most preferred language of `Accept-Language` that Blueprint speaks (`q=0` means "not
/// this one").
pub fn accept_language(headers: &HeaderMap) -> Option<Lang> {
    let header = headers.get(http::header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    accept_language::parse_with_quality(header)
        .into_iter()
        .filter(|(_, q)| *q > 0.0)
        .find_map(|(tag, _)| Lang::parse(&tag))
}

/// `Set-Cookie` for the language: a year, the whole site, `Lax`, not `HttpOnly`.
pub fn lang_cookie(lang: Lang, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
        lang.as_str()
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_cookie_wins_then_the_header_then_english() {
        let ru_browser = ("accept-language", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7");
        assert_eq!(request_lang(&headers(&[ru_browser])), Lang::Ru);
        assert_eq!(request_lang(&headers(&[ru_browser, ("cookie", "bp_lang=en")])), Lang::En);
        assert_eq!(request_lang(&headers(&[("cookie", "a=b; bp_lang=ru")])), Lang::Ru);
        assert_eq!(request_lang(&headers(&[])), Lang::En);
        assert_eq!(request_lang(&headers(&[("cookie", "bp_lang=de")])), Lang::En);
        assert_eq!(requested_lang(&headers(&[])), None);
    }

    /// The catalog: English text → Russian.
    fn catalog() -> std::collections::BTreeMap<String, String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/locales/messages.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        json.as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.as_str() != "_version")
            .map(|(k, v)| (k.clone(), v["ru"].as_str().unwrap_or_default().to_string()))
            .collect()
    }

    /// Every `.rs` file under `dir`.
    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                // The code only: no tests, no comments.
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
                let code: Vec<&str> =
                    code.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
                out.push((path.display().to_string(), code.join("\n")));
            }
        }
    }

    /// The string literal that starts `text` (after blanks), unescaped.
    fn literal(text: &str) -> Option<String> {
        let rest = text.trim_start().strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        None
    }

    /// The first literal argument of every call of `call` (`tr!(`, `not_found(` …).
    fn literals_after(call: &str, files: &[(String, String)]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (path, text) in files {
            for (at, _) in text.match_indices(call) {
                // `include_str!(` is not `tr!(`.
                let glued =
                    text[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
                if glued {
                    continue;
                }
                if let Some(lit) = literal(&text[at + call.len()..]) {
                    out.push((path.clone(), lit));
                }
            }
        }
        out
    }

    fn placeholders(text: &str) -> std::collections::BTreeSet<&str> {
        text.match_indices("%{")
            .filter_map(|(at, _)| text[at + 2..].split_once('}').map(|(name, _)| name))
            .collect()
    }

    /// Every message the server writes has a Russian translation with the same placeholders,
    /// and every catalog entry is still used. Messages: each `tr!` in the server's crates, the
    /// nouns of `not_found`, the sentences [`error_message`] frames, and whatever `model`'s
    /// shared validators say (made to say it here, so a changed sentence cannot slip by).
    #[test]
    fn every_message_has_a_russian_translation() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["domain/src", "server/src", "app/src"] {
            sources(&root.join(dir), &mut files);
        }
        let mut used: Vec<(String, String)> = literals_after("tr!(", &files);
        used.extend(literals_after("not_found(", &files));
        let this_file: Vec<_> =
            files.iter().filter(|(p, _)| p.ends_with("domain/src/i18n.rs")).cloned().collect();
        used.extend(literals_after("tr(", &this_file));
        let long = "x".repeat(300);
        let model_says = [
            model::Email::parse("").unwrap_err(),
            model::Email::parse(&format!("{long}@example.com")).unwrap_err(),
            model::Email::parse("ann.example.com").unwrap_err(),
            model::Email::parse("ann@localhost").unwrap_err(),
            model::Password::parse("short", None).unwrap_err(),
            model::Password::parse(&long, None).unwrap_err(),
            model::Password::parse(
                "ann@example.com",
                Some(&model::Email::parse("ann@example.com").unwrap()),
            )
            .unwrap_err(),
            model::DisplayName::parse(" ").unwrap_err(),
            model::DisplayName::parse(&long).unwrap_err(),
            model::DisplayName::parse("Ann\u{202e}").unwrap_err(),
        ];
        used.extend(model_says.into_iter().map(|e| ("model".to_string(), e.message)));

        let catalog = catalog();
        let mut problems = Vec::new();
        for (path, message) in &used {
            match catalog.get(message) {
                None => problems.push(format!("{path}: no Russian for {message:?}")),
                Some(ru) if ru.trim().is_empty() => {
                    problems.push(format!("{path}: empty Russian for {message:?}"))
                }
                Some(ru) if placeholders(ru) != placeholders(message) => {
                    problems.push(format!("{path}: placeholders differ in {ru:?}"))
                }
                Some(_) => {}
            }
        }
        for key in catalog.keys() {
            if !used.iter().any(|(_, m)| m == key) {
                problems.push(format!("unused catalog entry {key:?}"));
            }
        }
        assert!(used.len() > 150, "the scan found only {} messages", used.len());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// Error sentences the server makes without `tr!`: the listed constructors, called with a
    /// bare string literal. Each is a sentence a Russian user would get in English.
    #[test]
    fn no_error_message_is_left_untranslated() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["domain/src", "server/src"] {
            sources(&root.join(dir), &mut files);
        }
        let mut found = Vec::new();
        for (path, text) in &files {
            for call in ["AppError::unauthorized(", "AppError::forbidden(", "message: \""] {
                for (at, _) in text.match_indices(call) {
                    let rest = &text[at + call.len()..];
                    if call.ends_with('"') || literal(rest).is_some() {
                        found.push(format!("{path}: {}", &rest[..rest.len().min(60)]));
                    }
                }
            }
        }
        assert!(found.is_empty(), "untranslated:\n{}", found.join("\n"));
    }

    #[test]
    fn a_message_reads_in_the_requests_language() {
        let ru = translate(
            Lang::Ru,
            "Too many sign-in attempts. Try again in %{secs} s.",
            &["secs"],
            &["7".into()],
        );
        assert_eq!(ru, "Слишком много попыток входа. Повторите через 7 с.");
        let en = translate(
            Lang::En,
            "Too many sign-in attempts. Try again in %{secs} s.",
            &["secs"],
            &["7".into()],
        );
        assert_eq!(en, "Too many sign-in attempts. Try again in 7 s.");
        assert_eq!(translate(Lang::Ru, "no such sentence", &[], &[]), "no such sentence");
        let err = AppError::not_found("source");
        assert_eq!(error_message(&err, Lang::Ru), "не найдено: источник");
        assert_eq!(error_message(&err, Lang::En), "source not found");
    }

    #[tokio::test]
    async fn the_scope_sets_the_language_and_the_account_overrides_it() {
        assert_eq!(lang(), Lang::En);
        let seen = scope(Lang::Ru, async {
            let first = lang();
            prefer(Lang::En);
            (first, lang())
        })
        .await;
        assert_eq!(seen, (Lang::Ru, Lang::En));
        prefer(Lang::Ru);
        assert_eq!(lang(), Lang::En, "outside a request nothing changes");
    }

    #[test]
    fn quality_orders_and_zero_refuses() {
        let h = |v| headers(&[("accept-language", v)]);
        assert_eq!(accept_language(&h("de-DE, ru;q=0.5, en;q=0.4")), Some(Lang::Ru));
        assert_eq!(accept_language(&h("en;q=0.2, ru;q=0.9")), Some(Lang::Ru));
        assert_eq!(accept_language(&h("ru;q=0, en;q=0.1")), Some(Lang::En));
        assert_eq!(accept_language(&h("fr, de")), None);
        assert_eq!(accept_language(&h("*")), None);
        assert_eq!(accept_language(&h(",,;;q=")), None);
    }
}
