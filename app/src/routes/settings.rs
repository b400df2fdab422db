//! `/settings`: who you are, and your personal API tokens.

use crate::api::tokens::{CreateApiToken, RevokeApiToken, list_api_tokens};
use crate::components::form::{ErrorBanner, FieldError, FormGate, LoadError};
use crate::components::session::use_session;
use crate::i18n::{Locale, t, t_string, use_i18n};
use crate::l10n;
use leptos::prelude::*;
use leptos_i18n::Locale as _;
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
        // The new secret is shown once, and not at all once that token is revoked.
        let revoked_id = RwSignal::new(None::<i64>);
        let created = move || {
            create
                .value()
                .get()
                .and_then(Result::ok)
                .filter(|c| revoked_id.get() != Some(c.info.id))
        };
        let i18n = use_i18n();
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
            <Title text=move || t_string!(i18n, settings.title) />
            <section class="page">
                <h1>{t!(i18n, settings.title)}</h1>
                <div class="card">
                    <h2>{t!(i18n, settings.profile)}</h2>
                    <dl class="facts">
                        <dt>{t!(i18n, settings.name)}</dt><dd>{me.as_ref().map(|u| u.display_name.clone())}</dd>
                        <dt>{t!(i18n, settings.email)}</dt><dd>{me.as_ref().map(|u| u.email.clone())}</dd>
                        <dt>{t!(i18n, settings.scopes)}</dt><dd>{me.as_ref().map(|u| u.scopes.to_csv().replace(',', ", "))}</dd>
                    </dl>
                </div>
                <LanguageCard />
                <div class="card">
                    <h2>{t!(i18n, settings.tokens)}</h2>
                    <p class="muted">{t!(i18n, settings.tokens_text)} " " <code>"Authorization: Bearer <token>"</code> "."</p>
                    <form method="post" class="inline-form" on:submit=submit><FormGate>
                        <label for="token-name">{t!(i18n, settings.name)}</label>
                        <input id="token-name" bind:value=name placeholder="ci-bot" />
                        <label for="token-days">{t!(i18n, settings.expires_in)}</label>
                        <input id="token-days" type="number" min="1" max="365" bind:value=days />
                        <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>{t!(i18n, settings.create)}</button>
                    </FormGate></form>
                    <FieldError error field="name" />
                    <FieldError error field="expires_in_days" />
                    <ErrorBanner error />
                    {move || created().map(|c| view! {
                        <div class="banner banner-ok" role="status">
                            <p>{t!(i18n, settings.copy_now)}</p>
                            <code id="new-token" class="secret">{c.token}</code>
                        </div>
                    })}
                    <Transition fallback=move || view! { <p class="loading">{t!(i18n, settings.loading)}</p> }>
                        {move || Suspend::new(async move {
                            match tokens.await {
                                Ok(list) if list.is_empty() => view! { <p class="muted">{t!(i18n, settings.none)}</p> }.into_any(),
                                Ok(list) => view! {
                                    <div class="table-scroll">
                                    <table class="table" id="tokens-table">
                                        <thead><tr>
                                            <th>{t!(i18n, settings.name)}</th>
                                            <th>{t!(i18n, settings.scopes)}</th>
                                            <th>{t!(i18n, settings.expires)}</th>
                                            <th>{t!(i18n, settings.last_used)}</th>
                                            <th><span class="visually-hidden">{t!(i18n, settings.actions)}</span></th>
                                        </tr></thead>
                                        <tbody>
                                            {list.into_iter().map(|t| {
                                                let id = t.id;
                                                let revoked = t.revoked_at.is_some();
                                                let (expires, used) = (t.expires_at, t.last_used_at);
                                                view! {
                                                    <tr data-token-id=id.to_string()>
                                                        <td>{t.name}</td>
                                                        <td>{t.scopes.to_csv().replace(',', ", ")}</td>
                                                        <td>{move || l10n::date(i18n.get_locale(), expires)}</td>
                                                        <td>{move || used.map(|d| l10n::date_time(i18n.get_locale(), d)).unwrap_or_else(|| t_string!(i18n, settings.never).to_string())}</td>
                                                        <td>
                                                            {if revoked {
                                                                view! { <span class="badge">{t!(i18n, settings.revoked)}</span> }.into_any()
                                                            } else {
                                                                view! { <button type="button" class="btn btn-small" on:click=move |_| { revoked_id.set(Some(id)); revoke.dispatch(RevokeApiToken { id }); }>{t!(i18n, settings.revoke)}</button> }.into_any()
                                                            }}
                                                        </td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    </div>
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

/// The language, kept on the account (the top bar's switch does the same in one click).
#[component]
fn LanguageCard() -> impl IntoView {
    let i18n = use_i18n();
    let choose = move |ev: leptos::ev::Event| {
        let next = match event_target_value(&ev).as_str() {
            "ru" => Locale::ru,
            _ => Locale::en,
        };
        i18n.set_locale(next);
        crate::components::shell::save_language(next);
    };
    view! {
        <div class="card">
            <h2><label for="language">{t!(i18n, settings.language)}</label></h2>
            <p class="muted">{t!(i18n, settings.language_text)}</p>
            <select id="language" on:change=choose prop:value=move || i18n.get_locale().as_str()>
                <option value="en" lang="en">{t!(i18n, lang.en)}</option>
                <option value="ru" lang="ru">{t!(i18n, lang.ru)}</option>
            </select>
        </div>
    }
}
