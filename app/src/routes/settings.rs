//! `/settings`: who you are, and your personal API tokens.

use crate::api::tokens::{CreateApiToken, RevokeApiToken, list_api_tokens};
use crate::components::form::{ErrorBanner, FieldError, FormGate, LoadError};
use crate::components::session::use_session;
use crate::i18n::{Locale, td_string};
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
        let lang = crate::l10n::use_lang();
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
            <Title text=td_string!(lang, settings.title) />
            <section class="page">
                <h1>{td_string!(lang, settings.title)}</h1>
                <div class="card">
                    <h2>{td_string!(lang, settings.profile)}</h2>
                    <dl class="facts">
                        <dt>{td_string!(lang, settings.name)}</dt><dd>{me.as_ref().map(|u| u.display_name.clone())}</dd>
                        <dt>{td_string!(lang, settings.email)}</dt><dd>{me.as_ref().map(|u| u.email.clone())}</dd>
                        <dt>{td_string!(lang, settings.scopes)}</dt><dd>{me.as_ref().map(|u| u.scopes.to_csv().replace(',', ", "))}</dd>
                    </dl>
                </div>
                <LanguageCard />
                <div class="card">
                    <h2>{td_string!(lang, settings.tokens)}</h2>
                    <p class="muted">{td_string!(lang, settings.tokens_text)} " " <code>"Authorization: Bearer <token>"</code> "."</p>
                    <form method="post" class="inline-form" on:submit=submit><FormGate>
                        <label for="token-name">{td_string!(lang, settings.name)}</label>
                        <input id="token-name" bind:value=name placeholder="ci-bot" />
                        <label for="token-days">{td_string!(lang, settings.expires_in)}</label>
                        <input id="token-days" type="number" min="1" max="365" bind:value=days />
                        <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>{td_string!(lang, settings.create)}</button>
                    </FormGate></form>
                    <FieldError error field="name" />
                    <FieldError error field="expires_in_days" />
                    <ErrorBanner error />
                    {move || created().map(|c| view! {
                        <div class="banner banner-ok" role="status">
                            <p>{td_string!(lang, settings.copy_now)}</p>
                            <code id="new-token" class="secret">{c.token}</code>
                        </div>
                    })}
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, settings.loading)}</p> }>
                        {move || Suspend::new(async move {
                            match tokens.await {
                                Ok(list) if list.is_empty() => view! { <p class="muted">{td_string!(lang, settings.none)}</p> }.into_any(),
                                Ok(list) => view! {
                                    <div class="table-scroll">
                                    <table class="table" id="tokens-table">
                                        <thead><tr>
                                            <th>{td_string!(lang, settings.name)}</th>
                                            <th>{td_string!(lang, settings.scopes)}</th>
                                            <th>{td_string!(lang, settings.expires)}</th>
                                            <th>{td_string!(lang, settings.last_used)}</th>
                                            <th><span class="visually-hidden">{td_string!(lang, settings.actions)}</span></th>
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
                                                        <td>{move || l10n::date(lang, expires)}</td>
                                                        <td>{move || used.map(|d| l10n::date_time(lang, d)).unwrap_or_else(|| td_string!(lang, settings.never).to_string())}</td>
                                                        <td>
                                                            {if revoked {
                                                                view! { <span class="badge">{td_string!(lang, settings.revoked)}</span> }.into_any()
                                                            } else {
                                                                view! { <button type="button" class="btn btn-small" on:click=move |_| { revoked_id.set(Some(id)); revoke.dispatch(RevokeApiToken { id }); }>{td_string!(lang, settings.revoke)}</button> }.into_any()
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
    let lang = crate::l10n::use_lang();
    let choose = move |ev: leptos::ev::Event| {
        let next = match event_target_value(&ev).as_str() {
            "ru" => Locale::ru,
            _ => Locale::en,
        };
        if !crate::components::shell::switch_language(next, true) {
            // Staying: the list shows the page's language again.
            #[cfg(feature = "hydrate")]
            {
                use wasm_bindgen::JsCast;
                if let Some(select) =
                    ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
                {
                    select.set_value(lang.as_str());
                }
            }
        }
    };
    view! {
        <div class="card">
            <h2><label for="language">{td_string!(lang, settings.language)}</label></h2>
            <p class="muted">{td_string!(lang, settings.language_text)}</p>
            <select id="language" on:change=choose prop:value=move || lang.as_str()>
                <option value="en" lang="en" selected=lang == Locale::en>{td_string!(lang, lang.en)}</option>
                <option value="ru" lang="ru" selected=lang == Locale::ru>{td_string!(lang, lang.ru)}</option>
            </select>
        </div>
    }
}
