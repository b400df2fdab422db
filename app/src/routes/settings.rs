//! `/settings`: who you are, and your personal API tokens.

use crate::api::tokens::{CreateApiToken, RevokeApiToken, list_api_tokens};
use crate::components::form::{ErrorBanner, FieldError, LoadError};
use crate::components::session::use_session;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::{ApiTokenInfo, NewApiTokenForm};

/// The settings page.
pub struct SettingsRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct SettingsData {
    tokens: Resource<Result<Vec<ApiTokenInfo>, model::error::AppError>>,
    create: ServerAction<CreateApiToken>,
    revoke: ServerAction<RevokeApiToken>,
}

impl SettingsData {
    fn load() -> Self {
        let create = ServerAction::<CreateApiToken>::new();
        let revoke = ServerAction::<RevokeApiToken>::new();
        let tokens = Resource::new(
            move || (create.version().get(), revoke.version().get()),
            |_| list_api_tokens(),
        );
        SettingsData { tokens, create, revoke }
    }
}

#[lazy_route]
impl LazyRoute for SettingsRoute {
    fn data() -> Self {
        SettingsRoute
    }

    fn view(_this: Self) -> AnyView {
        let this = SettingsData::load();
        let SettingsData { tokens, create, revoke } = this;
        let session = use_session();
        let name = RwSignal::new(String::new());
        let days = RwSignal::new(String::from("30"));
        let error = Signal::derive(move || create.value().get().and_then(Result::err));
        let created = move || create.value().get().and_then(Result::ok);
        let submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let expires_in_days = days.get_untracked().trim().parse::<i64>().unwrap_or(0);
            create.dispatch(CreateApiToken {
                form: NewApiTokenForm {
                    name: name.get_untracked(),
                    expires_in_days,
                    scopes: Vec::new(),
                },
            });
        };
        let me = session.current();
        view! {
            <Title text="Settings" />
            <section class="page">
                <h1>"Settings"</h1>
                <div class="card">
                    <h2>"Profile"</h2>
                    <dl class="facts">
                        <dt>"Name"</dt><dd>{me.as_ref().map(|u| u.display_name.clone())}</dd>
                        <dt>"E-mail"</dt><dd>{me.as_ref().map(|u| u.email.clone())}</dd>
                        <dt>"Scopes"</dt><dd>{me.as_ref().map(|u| u.scopes.to_csv().replace(',', ", "))}</dd>
                    </dl>
                </div>
                <div class="card">
                    <h2>"API tokens"</h2>
                    <p class="muted">"For scripts and API clients: send " <code>"Authorization: Bearer <token>"</code> "."</p>
                    <form class="inline-form" on:submit=submit>
                        <label for="token-name">"Name"</label>
                        <input id="token-name" bind:value=name placeholder="ci-bot" />
                        <label for="token-days">"Expires in (days)"</label>
                        <input id="token-days" type="number" min="1" max="365" bind:value=days />
                        <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>"Create token"</button>
                    </form>
                    <FieldError error field="name" />
                    <FieldError error field="expires_in_days" />
                    <ErrorBanner error />
                    {move || created().map(|c| view! {
                        <div class="banner banner-ok" role="status">
                            <p>"Copy this token now; it will not be shown again:"</p>
                            <code id="new-token" class="secret">{c.token}</code>
                        </div>
                    })}
                    <Transition fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
                        {move || Suspend::new(async move {
                            match tokens.await {
                                Ok(list) if list.is_empty() => view! { <p class="muted">"No tokens yet."</p> }.into_any(),
                                Ok(list) => view! {
                                    <table class="table">
                                        <thead><tr><th>"Name"</th><th>"Scopes"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
                                        <tbody>
                                            {list.into_iter().map(|t| {
                                                let id = t.id;
                                                let revoked = t.revoked_at.is_some();
                                                view! {
                                                    <tr>
                                                        <td>{t.name}</td>
                                                        <td>{t.scopes.to_csv()}</td>
                                                        <td>{t.expires_at.format("%Y-%m-%d").to_string()}</td>
                                                        <td>{t.last_used_at.map(|d| d.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "never".into())}</td>
                                                        <td>
                                                            {if revoked {
                                                                view! { <span class="badge">"revoked"</span> }.into_any()
                                                            } else {
                                                                view! { <button type="button" class="btn btn-small" on:click=move |_| { revoke.dispatch(RevokeApiToken { id }); }>"Revoke"</button> }.into_any()
                                                            }}
                                                        </td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any(),
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
            </section>
        }
        .into_any()
    }
}
