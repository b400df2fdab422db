//! `/signin` and `/register`. After success the user goes where they were headed (`next=`,
//! local paths only).

use crate::api::auth::{Register, SignIn};
use crate::components::form::{ErrorBanner, FieldError};
use crate::components::session::{safe_next, use_session};
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
    Effect::new(move |_| {
        if matches!(value.get(), Some(Ok(_))) {
            session.reload();
        }
    });
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
            <Title text="Sign in" />
            <main class="center-page">
                <form class="card narrow auth-form" method="post" on:submit=submit>
                    <h1>"Sign in to Blueprint"</h1>
                    <ErrorBanner error />
                    <label for="email">"E-mail"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required bind:value=email />
                    <FieldError error field="email" />
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required bind:value=password />
                    <FieldError error field="password" />
                    <button type="submit" class="btn btn-primary" disabled=move || !ready.get() || action.pending().get()>
                        {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                    <p class="muted">"No account yet? " <a href=register_href>"Create one"</a></p>
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
            <Title text="Create account" />
            <main class="center-page">
                <form class="card narrow auth-form" method="post" on:submit=submit>
                    <h1>"Create your account"</h1>
                    <p class="muted">"The first account on a new installation becomes its admin."</p>
                    <ErrorBanner error />
                    <label for="display_name">"Name"</label>
                    <input id="display_name" name="display_name" autocomplete="name" required bind:value=name />
                    <FieldError error field="display_name" />
                    <label for="email">"E-mail"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required bind:value=email />
                    <FieldError error field="email" />
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" bind:value=password />
                    <p class="hint">"At least 8 characters, and not your e-mail address."</p>
                    <FieldError error field="password" />
                    <button type="submit" class="btn btn-primary" disabled=move || !ready.get() || action.pending().get()>
                        {move || if action.pending().get() { "Creating…" } else { "Create account" }}
                    </button>
                    <p class="muted">"Already have an account? " <A href="/signin">"Sign in"</A></p>
                </form>
            </main>
        }
        .into_any()
    }
}
