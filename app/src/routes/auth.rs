//! `/signin` and `/register`. After success the user goes where they were headed (`next=`,
//! local paths only).

use crate::api::auth::{Register, SignIn};
use crate::components::form::{ErrorBanner, FieldError};
use crate::components::session::{safe_next, use_session};
use crate::components::shell::LanguageSwitch;
use crate::i18n::td_string;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{RegisterForm, SignInForm};

fn last_error<T, V>(value: V) -> Signal<Option<AppError>>
where
    T: Clone + Send + Sync + 'static,
    V: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || value.get().and_then(Result::err))
}

/// False until the page is hydrated: the forms cannot submit before their handlers exist (a
/// plain form submission would carry the password somewhere it should not go).
fn hydrated() -> ReadSignal<bool> {
    let (ready, set_ready) = signal(false);
    Effect::new(move |_| set_ready.set(true));
    ready
}

fn reload_session_on_success<T, V>(value: V)
where
    T: Clone + Send + Sync + 'static,
    V: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    let session = use_session();
    let lang = crate::l10n::use_lang();
    let query = use_query_map();
    Effect::new(move |_| {
        if matches!(value.get(), Some(Ok(_))) {
            // Sign-in sets the language cookie from the account. Pages render in one language,
            // so another one means loading the next page afresh.
            match cookie_language() {
                Some(chosen) if chosen != lang => {
                    go_to(&safe_next(query.get_untracked().get("next")));
                }
                _ => session.reload(),
            }
        }
    });
}

/// The language cookie's value, as the browser holds it now.
#[cfg(feature = "hydrate")]
fn cookie_language() -> Option<crate::i18n::Locale> {
    use std::str::FromStr;
    use wasm_bindgen::JsCast;
    let cookies = document().dyn_into::<web_sys::HtmlDocument>().ok()?.cookie().ok()?;
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == crate::app::LANG_COOKIE)
        .and_then(|(_, v)| crate::i18n::Locale::from_str(v).ok())
}

#[cfg(not(feature = "hydrate"))]
fn cookie_language() -> Option<crate::i18n::Locale> {
    None
}

#[cfg(feature = "hydrate")]
fn go_to(path: &str) {
    // Replace: Back should not return to the sign-in form the user just left.
    let _ = window().location().replace(path);
}

#[cfg(not(feature = "hydrate"))]
fn go_to(_path: &str) {}

/// Until the page is interactive the submit button is disabled; this says why (and disappears
/// once it is not).
#[component]
fn NeedsScript(ready: ReadSignal<bool>) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    view! {
        <Show when=move || !ready.get()>
            <p class="hint" id="needs-script">{td_string!(lang, auth.needs_script)}</p>
        </Show>
    }
}

/// Sends a signed-in visitor of sign-in or registration where they were headed (the dashboard by
/// default) instead of showing them the form again. This is also how a successful sign-in moves
/// on: the action reloads the session, and the user appearing in it navigates. An effect, not a
/// `<Suspense>` with a `<Redirect>`, which would add ~8 KiB to both pages' chunks.
fn leave_if_signed_in() {
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();
    Effect::new(move |_| {
        if matches!(session.user.get(), Some(Ok(Some(_)))) {
            let next = safe_next(query.get_untracked().get("next"));
            navigate(&next, NavigateOptions { replace: true, ..Default::default() });
        }
    });
}

/// The sign-in page.
pub struct SignInRoute;

#[lazy_route]
impl LazyRoute for SignInRoute {
    fn data() -> Self {
        SignInRoute
    }

    fn view(_this: Self) -> AnyView {
        let action = ServerAction::<SignIn>::new();
        let email = RwSignal::new(String::new());
        let password = RwSignal::new(String::new());
        let error = last_error(action.value());
        let ready = hydrated();
        let lang = crate::l10n::use_lang();
        reload_session_on_success(action.value());
        leave_if_signed_in();
        let query = use_query_map();
        let register_href = move || match query.get().get("next") {
            Some(n) => format!("/register?next={}", crate::components::session::encode_next(&n)),
            None => "/register".to_string(),
        };
        let submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            action.dispatch(SignIn {
                form: SignInForm {
                    email: email.get_untracked(),
                    password: password.get_untracked(),
                },
            });
        };
        view! {
            <Title text=td_string!(lang, auth.sign_in_title) />
            <main class="center-page" id="main">
                <div class="auth-lang"><LanguageSwitch signed_in=false /></div>
                <form class="card narrow auth-form" method="post" on:submit=submit>
                    <h1>{td_string!(lang, auth.sign_in_heading)}</h1>
                    <ErrorBanner error />
                    <label for="email">{td_string!(lang, auth.email)}</label>
                    <input id="email" name="email" type="email" autocomplete="username" required bind:value=email />
                    <FieldError error field="email" />
                    <label for="password">{td_string!(lang, auth.password)}</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required bind:value=password />
                    <FieldError error field="password" />
                    <button type="submit" class="btn btn-primary" disabled=move || !ready.get() || action.pending().get()>
                        {move || if action.pending().get() { td_string!(lang, auth.signing_in) } else { td_string!(lang, auth.sign_in) }}
                    </button>
                    <NeedsScript ready />
                    <p class="muted">{td_string!(lang, auth.no_account)} " " <a href=register_href>{td_string!(lang, auth.create_link)}</a></p>
                </form>
            </main>
        }
        .into_any()
    }
}

/// The registration page.
pub struct RegisterRoute;

#[lazy_route]
impl LazyRoute for RegisterRoute {
    fn data() -> Self {
        RegisterRoute
    }

    fn view(_this: Self) -> AnyView {
        let action = ServerAction::<Register>::new();
        let email = RwSignal::new(String::new());
        let name = RwSignal::new(String::new());
        let password = RwSignal::new(String::new());
        let error = last_error(action.value());
        let ready = hydrated();
        let lang = crate::l10n::use_lang();
        reload_session_on_success(action.value());
        leave_if_signed_in();
        let submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            action.dispatch(Register {
                form: RegisterForm {
                    email: email.get_untracked(),
                    password: password.get_untracked(),
                    display_name: name.get_untracked(),
                },
            });
        };
        view! {
            <Title text=td_string!(lang, auth.register_title) />
            <main class="center-page" id="main">
                <div class="auth-lang"><LanguageSwitch signed_in=false /></div>
                <form class="card narrow auth-form" method="post" on:submit=submit>
                    <h1>{td_string!(lang, auth.register_heading)}</h1>
                    <p class="muted">{td_string!(lang, auth.first_admin)}</p>
                    <ErrorBanner error />
                    <label for="display_name">{td_string!(lang, auth.name)}</label>
                    <input id="display_name" name="display_name" autocomplete="name" required bind:value=name />
                    <FieldError error field="display_name" />
                    <label for="email">{td_string!(lang, auth.email)}</label>
                    <input id="email" name="email" type="email" autocomplete="username" required bind:value=email />
                    <FieldError error field="email" />
                    <label for="password">{td_string!(lang, auth.password)}</label>
                    <input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" bind:value=password />
                    <p class="hint">{td_string!(lang, auth.password_hint)}</p>
                    <FieldError error field="password" />
                    <button type="submit" class="btn btn-primary" disabled=move || !ready.get() || action.pending().get()>
                        {move || if action.pending().get() { td_string!(lang, auth.creating) } else { td_string!(lang, auth.create_account) }}
                    </button>
                    <NeedsScript ready />
                    <p class="muted">{td_string!(lang, auth.have_account)} " " <A href="/signin">{td_string!(lang, auth.sign_in)}</A></p>
                </form>
            </main>
        }
        .into_any()
    }
}
