//! Which language a request is answered in: the language cookie (the user's choice, which sign-in
//! sets from the account), else the best of `Accept-Language`, else English.

use http::{HeaderMap, HeaderValue};
use model::Lang;

/// The language cookie, shared with the UI (readable by scripts: the language switch writes it).
pub const LANG_COOKIE: &str = "bp_lang";

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
