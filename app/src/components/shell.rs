//! The app frame for signed-in pages: top bar with navigation, the notification bell, account
//! menu and theme, and the guard that sends visitors to sign-in (and back afterwards).

use crate::api::auth::sign_out;
use crate::api::notifications::unread_notifications;
use crate::components::live::use_live_events;
use crate::components::session::{encode_next, is_auth_page, use_session};
use crate::components::theme::ThemeToggle;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;
use model::error::AppError;
use model::{CurrentUser, LiveTopic, Scope};

/// Renders the frame for signed-in users, or redirects visitors to `/signin?next=…`.
#[component]
pub fn Protected() -> impl IntoView {
    let session = use_session();
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
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
    view! {
        <div class="frame">
            <header class="topbar">
                <A href="/" attr:class="brand">"Blueprint"</A>
                <nav class="nav" aria-label="Main">
                    <A href="/" exact=true>"Dashboard"</A>
                    <A href="/search">"Search"</A>
                    <A href="/sources">"Sources"</A>
                    <A href="/rfcs">"RFCs"</A>
                    <A href="/code-docs">"Code Docs"</A>
                    <A href="/usage">"Usage & Budget"</A>
                    <A href="/jobs">"Jobs"</A>
                    <Show when=move || is_admin>
                        <A href="/admin">"Admin"</A>
                    </Show>
                    <A href="/settings">"Settings"</A>
                </nav>
                <div class="topbar-end">
                    <LiveStatus />
                    <NotificationBell />
                    <ThemeToggle />
                    <AccountMenu user />
                </div>
            </header>
            <main class="content">
                <Outlet />
            </main>
        </div>
    }
}

/// A dot that shows whether live updates are connected.
#[component]
fn LiveStatus() -> impl IntoView {
    let live = use_live_events();
    view! {
        <span
            id="live-status"
            class="live-dot"
            data-connected=move || live.connected.get().to_string()
            title=move || if live.connected.get() { "Live updates connected" } else { "Live updates reconnecting…" }
            role="status"
            aria-label=move || if live.connected.get() { "Live updates connected" } else { "Live updates offline" }
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
    Effect::new(move |_| {
        if live.latest.get().is_some_and(|e| e.topic == LiveTopic::Notification.as_str()) {
            changed.update(|c| *c += 1);
        }
    });
    let bell = move |count: i64| {
        let label = match count {
            0 => "Notifications".to_string(),
            1 => "Notifications: 1 unread".to_string(),
            n => format!("Notifications: {n} unread"),
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
    let open = RwSignal::new(false);
    let signing_out = RwSignal::new(false);
    let failed = RwSignal::new(None::<String>);
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
                    failed.set(Some(format!("You are still signed in ({e}). Try again.")));
                    false
                }
            };
            if !gone {
                signing_out.set(false);
            }
        });
    };
    let initial = user.display_name.chars().next().unwrap_or('?').to_uppercase().to_string();
    view! {
        <div class="account">
            <button
                type="button"
                class="avatar"
                id="account-menu"
                aria-haspopup="menu"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|o| *o = !*o)
                title=user.email.clone()
            >
                {initial}
            </button>
            <Show when=move || open.get()>
                <div class="menu" role="menu">
                    <div class="menu-head">
                        <strong>{user.display_name.clone()}</strong>
                        <span class="muted">{user.email.clone()}</span>
                    </div>
                    <A href="/settings" attr:role="menuitem" on:click=move |_| open.set(false)>"Settings"</A>
                    <button type="button" role="menuitem" id="sign-out" on:click=do_sign_out disabled=move || signing_out.get()>
                        "Sign out"
                    </button>
                    {move || failed.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                </div>
            </Show>
        </div>
    }
}

/// The page a signed-in user without `scope` sees instead of `title`'s content.
pub fn scope_refused(title: &'static str, scope: Scope) -> AnyView {
    view! {
        <leptos_meta::Title text=title />
        <section class="page">
            <h1>{title}</h1>
            <div class="banner banner-error" role="alert">
                {format!("This page needs the '{}' scope.", scope.as_str())}
            </div>
        </section>
    }
    .into_any()
}

/// The tabs between the admin pages; `current` is the path of the page showing them.
#[component]
pub fn AdminTabs(current: &'static str) -> impl IntoView {
    let tab = move |href: &'static str, label: &'static str| {
        view! { <a href=href aria-current=(href == current).then_some("page")>{label}</a> }
    };
    view! {
        <nav class="tabs" aria-label="Admin sections">
            {tab("/admin", "Users & audit")}
            {tab("/admin/jobs", "Job queue")}
            {tab("/admin/llm", "AI gateway")}
            {tab("/admin/search", "Search")}
        </nav>
    }
}
