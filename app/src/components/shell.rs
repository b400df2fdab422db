//! The app frame for signed-in pages: top bar with navigation, the notification bell, account
//! menu and theme, and the guard that sends visitors to sign-in (and back afterwards).

use crate::api::auth::sign_out;
use crate::api::notifications::unread_notifications;
use crate::components::live::use_live_events;
use crate::components::session::{encode_next, is_auth_page, use_session};
use crate::components::theme::ThemeToggle;
use crate::i18n::{Locale, td_string};
use leptos::prelude::*;
use leptos_i18n::Locale as _;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;
use model::error::AppError;
use model::{CurrentUser, LiveTopic, Scope};

/// Renders the frame for signed-in users, or redirects visitors to `/signin?next=…`.
#[component]
pub fn Protected() -> impl IntoView {
    let session = use_session();
    let location = use_location();
    let lang = crate::l10n::use_lang();
    view! {
        <Suspense fallback=move || view! { <p class="loading">{td_string!(lang, loading)}</p> }>
            {move || Suspend::new(async move {
                match session.user.await {
                    Ok(Some(user)) => view! { <AppFrame user /> }.into_any(),
                    _ => {
                        let here = format!(
                            "{}{}",
                            location.pathname.get_untracked(),
                            location.search.get_untracked().trim().strip_prefix('?').map(|s| format!("?{s}")).unwrap_or_default(),
                        );
                        // While navigating away to /signin this frame may still be up, with the
                        // location already there: "come back to /signin" is no place to go.
                        let path = if is_auth_page(&here) {
                            "/signin".to_string()
                        } else {
                            format!("/signin?next={}", encode_next(&here))
                        };
                        view! { <Redirect path /> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn AppFrame(user: CurrentUser) -> impl IntoView {
    let is_admin = user.scopes.contains(Scope::Admin);
    let lang = crate::l10n::use_lang();
    // Below 720 px the navigation folds behind a Menu button; following a link folds it again.
    let nav_open = RwSignal::new(false);
    let fold = move |_| nav_open.set(false);
    focus_heading_on_navigation();
    view! {
        <a class="skip-link" href="#main" on:click=skip_to_main>{td_string!(lang, skip_to_content)}</a>
        <div class="frame">
            <header class="topbar">
                <A href="/" attr:class="brand">"Blueprint"</A>
                <button
                    type="button"
                    class="btn btn-ghost nav-toggle"
                    id="nav-toggle"
                    aria-controls="main-nav"
                    aria-expanded=move || nav_open.get().to_string()
                    on:click=move |_| nav_open.update(|o| *o = !*o)
                >
                    {td_string!(lang, nav.open_menu)}
                </button>
                <nav
                    class="nav"
                    id="main-nav"
                    aria-label=td_string!(lang, nav.main)
                    data-open=move || nav_open.get().to_string()
                    on:click=fold
                >
                    <A href="/" exact=true>{td_string!(lang, nav.dashboard)}</A>
                    <A href="/search">{td_string!(lang, nav.search)}</A>
                    <A href="/sources">{td_string!(lang, nav.sources)}</A>
                    <A href="/rfcs">{td_string!(lang, nav.rfcs)}</A>
                    <A href="/code-docs">{td_string!(lang, nav.code_docs)}</A>
                    <A href="/usage">{td_string!(lang, nav.usage)}</A>
                    <A href="/jobs">{td_string!(lang, nav.jobs)}</A>
                    <Show when=move || is_admin>
                        <A href="/admin">{td_string!(lang, nav.admin)}</A>
                    </Show>
                    <A href="/settings">{td_string!(lang, nav.settings)}</A>
                </nav>
                <div class="topbar-end">
                    <LiveStatus />
                    <NotificationBell />
                    <LanguageSwitch signed_in=true />
                    <ThemeToggle />
                    <AccountMenu user />
                </div>
            </header>
            <main class="content" id="main" tabindex="-1">
                <Outlet />
            </main>
        </div>
    }
}

/// After a client-side navigation, focus goes to the new page's heading, so a keyboard or
/// screen-reader user starts on the new page instead of on `<body>`. The URL changes before the
/// new page replaces the old one (its chunk loads in between): the old heading is remembered and
/// only a different one is focused; `<main>` if none comes. The first render keeps the browser's
/// own focus.
fn focus_heading_on_navigation() {
    let location = use_location();
    Effect::new(move |previous: Option<String>| {
        let path = location.pathname.get();
        if previous.as_ref().is_some_and(|p| *p != path) {
            focus_heading(current_heading(), 60);
        }
        path
    });
}

#[cfg(feature = "hydrate")]
fn current_heading() -> Option<web_sys::Element> {
    document().query_selector("#main h1").ok().flatten()
}

#[cfg(feature = "hydrate")]
fn focus_heading(old: Option<web_sys::Element>, tries: u32) {
    use wasm_bindgen::JsCast;
    let heading = current_heading().filter(|h| old.as_ref() != Some(h));
    match heading.and_then(|h| h.dyn_into::<web_sys::HtmlElement>().ok()) {
        Some(h) => {
            let _ = h.set_attribute("tabindex", "-1");
            let _ = h.focus();
        }
        None if tries > 0 => {
            set_timeout(
                move || focus_heading(old, tries - 1),
                std::time::Duration::from_millis(50),
            );
        }
        None => focus_main(),
    }
}

#[cfg(feature = "hydrate")]
fn focus_main() {
    use wasm_bindgen::JsCast;
    if let Some(main) =
        document().get_element_by_id("main").and_then(|m| m.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = main.focus();
    }
}

/// The skip link moves focus, not only the scroll position (the router would otherwise take the
/// `#main` click for a navigation). Without WASM the plain link does the same.
fn skip_to_main(ev: leptos::ev::MouseEvent) {
    ev.prevent_default();
    #[cfg(feature = "hydrate")]
    focus_main();
}

#[cfg(not(feature = "hydrate"))]
fn current_heading() -> Option<()> {
    None
}

#[cfg(not(feature = "hydrate"))]
fn focus_heading(_old: Option<()>, _tries: u32) {}

/// Switches the page's language: the cookie first (the server renders the next page from it),
/// then, for a signed-in user, the account (so another browser signs in to the same language),
/// then a reload. Pages render their words once, in one language, instead of keeping a signal
/// per string: ~400 reactive closures cost more WASM than both languages' words.
///
/// Returns false when the reader chose to stay: the page shows something it cannot show again
/// (a new token's secret), which the reload would lose, and they declined to switch.
pub fn switch_language(next: Locale, signed_in: bool) -> bool {
    use std::cell::Cell;
    thread_local! {
        // One switch at a time: a second click while the account is being saved would race it
        // (the first reload abandons the second request, which may land later and win).
        static SWITCHING: Cell<bool> = const { Cell::new(false) };
    }
    if SWITCHING.with(Cell::get) {
        return true;
    }
    let current = match next {
        Locale::en => Locale::ru,
        Locale::ru => Locale::en,
    };
    if !may_reload(current) {
        return false;
    }
    SWITCHING.with(|s| s.set(true));
    crate::app::write_lang_cookie(next);
    leptos::task::spawn_local(async move {
        if signed_in && let Err(e) = crate::api::auth::set_language(next.as_str().to_string()).await
        {
            leptos::logging::warn!("the language was not saved on the account: {e}");
        }
        reload();
    });
    true
}

/// Whether reloading now loses nothing, or the reader (asked in the page's language) agrees to
/// lose what is shown only once (an element with class `secret`: a new token).
#[cfg(feature = "hydrate")]
fn may_reload(lang: Locale) -> bool {
    let shown_once = document().query_selector(".secret").ok().flatten().is_some();
    !shown_once
        || window()
            .confirm_with_message(td_string!(lang, lang.switch_loses_secret))
            .unwrap_or(false)
}

#[cfg(not(feature = "hydrate"))]
fn may_reload(_lang: Locale) -> bool {
    true
}

#[cfg(feature = "hydrate")]
fn reload() {
    let _ = window().location().reload();
}

#[cfg(not(feature = "hydrate"))]
fn reload() {}

/// Switches between English and Russian. The choice is kept in the language cookie and, for a
/// signed-in user, on the account (so another browser signs in to the same language).
#[component]
pub fn LanguageSwitch(signed_in: bool) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let switch = move |_| {
        let next = match lang {
            Locale::en => Locale::ru,
            Locale::ru => Locale::en,
        };
        switch_language(next, signed_in);
    };
    view! {
        <button
            type="button"
            class="btn btn-ghost lang-switch"
            id="lang-switch"
            on:click=switch
            lang=move || match lang { Locale::en => "ru", Locale::ru => "en" }
            title=td_string!(lang, lang.switch_to_title)
        >
            {td_string!(lang, lang.switch_to)}
        </button>
    }
}

/// A dot that shows whether live updates are connected.
#[component]
fn LiveStatus() -> impl IntoView {
    let live = use_live_events();
    let lang = crate::l10n::use_lang();
    view! {
        <span
            id="live-status"
            class="live-dot"
            data-connected=move || live.connected.get().to_string()
            title=move || if live.connected.get() { td_string!(lang, shell.live_connected) } else { td_string!(lang, shell.live_reconnecting) }
            role="status"
            aria-label=move || if live.connected.get() { td_string!(lang, shell.live_connected) } else { td_string!(lang, shell.live_offline) }
        ></span>
    }
}

/// The unread count behind the bell.
#[derive(Clone, Copy)]
pub struct Unread {
    count: Resource<Result<i64, AppError>>,
    /// Bumped to read the count again.
    changed: RwSignal<u32>,
}

/// Creates the unread count; called once by `App`, right after the session and before the
/// router. Resources are matched between server and browser by the order they are created, and
/// a page creates its own inside its lazy view (after its chunk has loaded in the browser):
/// creating this one up front keeps the order the same on both sides. Visitors read 0 without
/// a request.
pub fn provide_unread() {
    let session = use_session();
    let changed = RwSignal::new(0u32);
    let count = Resource::new(
        move || (changed.get(), session.version()),
        move |_| async move {
            match session.user.await {
                Ok(Some(_)) => unread_notifications().await,
                _ => Ok(0),
            }
        },
    );
    provide_context(Unread { count, changed });
}

fn use_unread() -> Unread {
    use_context::<Unread>().unwrap_or_else(|| {
        let changed = RwSignal::new(0u32);
        Unread { count: Resource::new(move || changed.get(), |_| unread_notifications()), changed }
    })
}

/// The bell: how many notifications are unread, refreshed whenever the `notification` live
/// topic says something changed; it leads to `/notifications`.
#[component]
fn NotificationBell() -> impl IntoView {
    let live = use_live_events();
    let Unread { count: unread, changed } = use_unread();
    let lang = crate::l10n::use_lang();
    Effect::new(move |_| {
        if live.latest.get().is_some_and(|e| e.topic == LiveTopic::Notification.as_str()) {
            changed.update(|c| *c += 1);
        }
    });
    let bell = move |count: i64| {
        let label = match count {
            0 => td_string!(lang, shell.notifications).to_string(),
            n => td_string!(lang, shell.notifications_unread, count = crate::l10n::number(lang, n)),
        };
        view! {
            <A href="/notifications" attr:id="notification-bell" attr:class="bell" attr:aria-label=label.clone() attr:title=label>
                <svg class="bell-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                    <path d="M12 22a2.4 2.4 0 0 0 2.4-2.2H9.6A2.4 2.4 0 0 0 12 22zm7-5.5V11a7 7 0 0 0-5.4-6.8V3.4a1.6 1.6 0 0 0-3.2 0v.8A7 7 0 0 0 5 11v5.5l-2 2v1h18v-1z"></path>
                </svg>
                {(count > 0).then(|| view! {
                    <span class="bell-count" id="unread-badge">{if count > 99 { "99+".to_string() } else { count.to_string() }}</span>
                })}
            </A>
        }
    };
    view! {
        <Transition fallback=move || bell(0)>
            {move || Suspend::new(async move { bell(unread.await.unwrap_or(0)) })}
        </Transition>
    }
}

#[component]
fn AccountMenu(user: CurrentUser) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let open = RwSignal::new(false);
    let signing_out = RwSignal::new(false);
    // The server's error, worded in the language shown when it is displayed.
    let failed = RwSignal::new(None::<String>);
    let button = NodeRef::<leptos::html::Button>::new();
    let menu = NodeRef::<leptos::html::Div>::new();
    // Which item opening the menu focuses: the first, or the last after ArrowUp on the button.
    let start = RwSignal::new(Move::First);
    // Only once the server ended the session, a full page load, not a client-side navigation:
    // it drops everything this tab holds about the user (resources, live events), and no frame
    // still up can redirect with the old page as `next`. If the server did not answer, the user
    // is still signed in and is told so, on a shared machine above all.
    let do_sign_out = move |_| {
        signing_out.set(true);
        failed.set(None);
        leptos::task::spawn_local(async move {
            let gone = match sign_out().await {
                Ok(()) => window().location().set_href("/signin").is_ok(),
                Err(e) => {
                    failed.set(Some(e.to_string()));
                    false
                }
            };
            if !gone {
                signing_out.set(false);
            }
        });
    };
    // A menu as WAI-ARIA describes it: opening moves focus to its first item, arrows move
    // between items, Home/End jump, Escape and Tab close it and Escape returns to the button.
    let close = move |refocus: bool| {
        open.set(false);
        if refocus && let Some(b) = button.get_untracked() {
            let _ = b.focus();
        }
    };
    Effect::new(move |_| {
        if open.get() && menu.get().is_some() {
            focus_menu_item(menu, start.get_untracked());
        }
    });
    let on_menu_key = move |ev: leptos::ev::KeyboardEvent| {
        let step = match ev.key().as_str() {
            "Escape" => {
                ev.prevent_default();
                close(true);
                return;
            }
            "Tab" => {
                open.set(false);
                return;
            }
            "ArrowDown" => Move::Next,
            "ArrowUp" => Move::Previous,
            "Home" => Move::First,
            "End" => Move::Last,
            _ => return,
        };
        ev.prevent_default();
        focus_menu_item(menu, step);
    };
    let on_button_key = move |ev: leptos::ev::KeyboardEvent| {
        let from = match ev.key().as_str() {
            "ArrowDown" => Move::First,
            "ArrowUp" => Move::Last,
            _ => return,
        };
        ev.prevent_default();
        start.set(from);
        open.set(true);
    };
    let initial = user.display_name.chars().next().unwrap_or('?').to_uppercase().to_string();
    view! {
        <div class="account">
            <button
                type="button"
                class="avatar"
                id="account-menu"
                node_ref=button
                aria-haspopup="menu"
                aria-controls="account-menu-items"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| {
                    start.set(Move::First);
                    open.update(|o| *o = !*o);
                }
                on:keydown=on_button_key
                title=user.email.clone()
            >
                {initial}
            </button>
            <Show when=move || open.get()>
                <div class="menu" role="menu" id="account-menu-items" node_ref=menu on:keydown=on_menu_key aria-labelledby="account-menu">
                    <div class="menu-head" role="none">
                        <strong>{user.display_name.clone()}</strong>
                        <span class="muted">{user.email.clone()}</span>
                    </div>
                    <A href="/settings" attr:role="menuitem" attr:tabindex="-1" on:click=move |_| open.set(false)>{td_string!(lang, nav.settings)}</A>
                    <button type="button" role="menuitem" tabindex="-1" id="sign-out" on:click=do_sign_out disabled=move || signing_out.get()>
                        {td_string!(lang, shell.sign_out)}
                    </button>
                </div>
            </Show>
            {move || failed.get().map(|error| view! {
                <p class="field-error menu-error" role="alert">{move || td_string!(lang, shell.still_signed_in, error = error.clone())}</p>
            })}
        </div>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Move {
    First,
    Last,
    Next,
    Previous,
}

#[cfg(feature = "hydrate")]
fn focus_menu_item(menu: NodeRef<leptos::html::Div>, step: Move) {
    use wasm_bindgen::JsCast;
    let Some(menu) = menu.get_untracked() else {
        return;
    };
    let Ok(list) = menu.query_selector_all("[role=menuitem]") else {
        return;
    };
    let items: Vec<web_sys::HtmlElement> = (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    if items.is_empty() {
        return;
    }
    let active = document().active_element();
    let current = items
        .iter()
        .position(|i| active.as_ref().is_some_and(|a| a == i.as_ref() as &web_sys::Element));
    let last = items.len() - 1;
    let target = match (step, current) {
        (Move::First, _) | (Move::Next, None) => 0,
        (Move::Last, _) | (Move::Previous, None) => last,
        (Move::Next, Some(i)) => {
            if i == last {
                0
            } else {
                i + 1
            }
        }
        (Move::Previous, Some(i)) => {
            if i == 0 {
                last
            } else {
                i - 1
            }
        }
    };
    let _ = items[target].focus();
}

#[cfg(not(feature = "hydrate"))]
fn focus_menu_item(_menu: NodeRef<leptos::html::Div>, _step: Move) {}

/// The page a signed-in user without `scope` sees instead of `title`'s content.
pub fn scope_refused(title: fn(Locale) -> &'static str, scope: Scope) -> AnyView {
    let lang = crate::l10n::use_lang();
    let scope = scope.as_str();
    view! {
        <leptos_meta::Title text=move || title(lang) />
        <section class="page">
            <h1>{move || title(lang)}</h1>
            <div class="banner banner-error" role="alert">
                {move || td_string!(lang, shell.needs_scope, scope)}
            </div>
        </section>
    }
    .into_any()
}

/// The tabs between the admin pages; `current` is the path of the page showing them.
#[component]
pub fn AdminTabs(current: &'static str) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let tab = move |href: &'static str, label: fn(Locale) -> &'static str| {
        view! {
            <a href=href aria-current=(href == current).then_some("page")>
                {move || label(lang)}
            </a>
        }
    };
    view! {
        <nav class="tabs" aria-label=td_string!(lang, shell.admin_sections)>
            {tab("/admin", |l| crate::i18n::td_string!(l, shell.admin_users))}
            {tab("/admin/jobs", |l| crate::i18n::td_string!(l, shell.admin_jobs))}
            {tab("/admin/llm", |l| crate::i18n::td_string!(l, shell.admin_llm))}
            {tab("/admin/search", |l| crate::i18n::td_string!(l, shell.admin_search))}
            {tab("/admin/templates", |l| crate::i18n::td_string!(l, shell.admin_templates))}
        </nav>
    }
}
