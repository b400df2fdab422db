//! The HTML shell and the whole route table. Every page is a lazy route, so its code is a
//! separate WASM chunk fetched on first navigation.

use crate::components::session::provide_session;
use crate::components::shell::{Protected, provide_unread};
use crate::i18n::{I18nContextProvider, Locale};
use crate::routes::{
    admin::AdminRoute,
    admin_jobs::AdminJobsRoute,
    admin_llm::AdminLlmRoute,
    admin_search::AdminSearchRoute,
    auth::{RegisterRoute, SignInRoute},
    dashboard::DashboardRoute,
    jobs::JobsRoute,
    not_found::NotFound,
    notifications::NotificationsRoute,
    placeholder::CodeDocsRoute,
    rfcs::RfcsRoute,
    search::SearchRoute,
    settings::SettingsRoute,
    sources::SourcesRoute,
    usage::UsageRoute,
};
use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    Lazy,
    components::{ParentRoute, Route, Router, Routes},
    path,
};

/// Language cookie: `en` or `ru`, written by the language switch, by sign-in (the account's
/// preference) and, on a first visit, from `Accept-Language`.
pub const LANG_COOKIE: &str = "bp_lang";

/// Theme cookie: `light`, `dark` or absent (follow the system).
pub const THEME_COOKIE: &str = "bp_theme";

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let theme = server_theme();
    set_page_csp();
    view! {
        <!DOCTYPE html>
        <html data-theme=theme>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.ico" />
                <leptos_meta::HashedStylesheet options=options.clone() id="leptos" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[cfg(feature = "ssr")]
fn server_theme() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    domain::auth::read_cookie(&parts.headers, THEME_COOKIE)
        .filter(|t| *t == "light" || *t == "dark")
        .map(str::to_string)
}

/// A per-response CSP: scripts only from this origin or with this response's nonce, WASM allowed.
#[cfg(feature = "ssr")]
fn set_page_csp() {
    let (Some(nonce), Some(res)) =
        (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    );
    if let Ok(v) = http::HeaderValue::from_str(&csp) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
    }
}

#[cfg(not(feature = "ssr"))]
fn set_page_csp() {}

#[cfg(not(feature = "ssr"))]
fn server_theme() -> Option<String> {
    None
}

/// Marks `<body data-hydrated="true">` once the page is interactive (the browser entry point
/// calls it after hydration, lazy routes included), for end-to-end tests and people.
pub fn mark_hydrated() {
    crate::components::form::HYDRATED.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

/// The application: session context, router and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_session();
    provide_unread();

    // The language cookie is ours, not leptos_i18n's (whose cookie support brings the `cookie`
    // and `time` crates, ~45 KB of WASM): see `LanguageCookie`.
    view! {
        <I18nContextProvider enable_cookie=false set_dir_attr_on_html=false>
        <LanguageCookie />
        <Title formatter=title_format />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/signin") view={Lazy::<SignInRoute>::new()} />
                <Route path=path!("/register") view={Lazy::<RegisterRoute>::new()} />
                <ParentRoute path=path!("") view=Protected>
                    <Route path=path!("") view={Lazy::<DashboardRoute>::new()} />
                    <Route path=path!("/search") view={Lazy::<SearchRoute>::new()} />
                    <Route path=path!("/sources") view={Lazy::<SourcesRoute>::new()} />
                    <Route path=path!("/rfcs") view={Lazy::<RfcsRoute>::new()} />
                    <Route path=path!("/rfcs/new") view={Lazy::<RfcsRoute>::new()} />
                    <Route path=path!("/rfcs/:id") view={Lazy::<RfcsRoute>::new()} />
                    <Route path=path!("/code-docs") view={Lazy::<CodeDocsRoute>::new()} />
                    <Route path=path!("/usage") view={Lazy::<UsageRoute>::new()} />
                    <Route path=path!("/jobs") view={Lazy::<JobsRoute>::new()} />
                    <Route path=path!("/admin") view={Lazy::<AdminRoute>::new()} />
                    <Route path=path!("/admin/jobs") view={Lazy::<AdminJobsRoute>::new()} />
                    <Route path=path!("/admin/llm") view={Lazy::<AdminLlmRoute>::new()} />
                    <Route path=path!("/admin/search") view={Lazy::<AdminSearchRoute>::new()} />
                    <Route path=path!("/admin/templates") view={Lazy::<AdminRoute>::new()} />
                    <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()} />
                    <Route path=path!("/notifications") view={Lazy::<NotificationsRoute>::new()} />
                </ParentRoute>
            </Routes>
        </Router>
        </I18nContextProvider>
    }
}

/// The language cookie, both ways. On the server the request's language (the cookie, else the
/// signed-in account's choice, else `Accept-Language`: `api::context::request_lang`) overrides
/// the `Accept-Language` choice leptos_i18n made (the provider renders `<html lang>` after its children, so the page and its
/// `lang` agree). In the browser the context starts from `<html lang>`, and every change,
/// the first render included, is written back to the cookie for a year.
#[component]
fn LanguageCookie() -> impl IntoView {
    let i18n = crate::i18n::use_i18n();
    #[cfg(feature = "ssr")]
    if let Some(lang) = crate::api::context::request_lang()
        .and_then(|l| <Locale as std::str::FromStr>::from_str(l.as_str()).ok())
    {
        i18n.set_locale_untracked(lang);
    }
    Effect::new(move |_| write_lang_cookie(i18n.get_locale()));
}

#[cfg(feature = "hydrate")]
pub fn write_lang_cookie(lang: Locale) {
    use leptos_i18n::Locale as _;
    use wasm_bindgen::JsCast;
    if let Ok(html) = document().dyn_into::<web_sys::HtmlDocument>() {
        let cookie =
            format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.as_str());
        let _ = html.set_cookie(&cookie);
    }
}

#[cfg(not(feature = "hydrate"))]
pub fn write_lang_cookie(_lang: Locale) {}

fn title_format(t: String) -> String {
    if t.is_empty() { "Blueprint".to_string() } else { format!("{t} · Blueprint") }
}
