//! `/admin/templates`: the RFC templates for admins. Every template with whether the wizard
//! offers it (a switch), copying one under a new key, and editing a copy's sections, guidance
//! and questions as TOML, the way the built-in ones are written; the server checks it and names
//! the field and line of every problem. Rendered by the studio's lazy route, so the template
//! type is decoded by one WASM module only.

use crate::api::rfcs::{
    CopyRfcTemplate, SaveRfcTemplate, SetRfcTemplateEnabled, admin_rfc_templates, rfc_template_toml,
};
use crate::components::form::{ErrorBanner, FormGate, LoadError, ValidationList};
use crate::components::session::use_session;
use crate::i18n::{Locale, td_string};
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use model::error::AppError;
use model::{CopyTemplateInput, Scope};

/// The page.
pub fn templates_admin() -> AnyView {
    let lang = l10n::use_lang();
    // Checked first: a member gets the refusal without firing requests they may not make.
    // (Written here rather than with the admin pages' helpers: sharing them would pull the
    // admin pages' code into the studio's module.)
    if !use_session().has(Scope::Admin) {
        let scope = Scope::Admin.as_str();
        return view! {
            <Title text=td_string!(lang, rfc_templates.title) />
            <section class="page">
                <h1>{td_string!(lang, rfc_templates.title)}</h1>
                <div class="banner banner-error" role="alert">{td_string!(lang, shell.needs_scope, scope)}</div>
            </section>
        }
        .into_any();
    }
    let toggle = ServerAction::<SetRfcTemplateEnabled>::new();
    let copy = ServerAction::<CopyRfcTemplate>::new();
    let save = ServerAction::<SaveRfcTemplate>::new();
    let list = Resource::new(
        move || (toggle.version().get(), copy.version().get(), save.version().get()),
        |_| admin_rfc_templates(),
    );
    // The template a copy is being made of, and the copy's key.
    let copying = RwSignal::new(None::<String>);
    let new_key = RwSignal::new(String::new());
    // The copy being edited, and its TOML.
    let editing = RwSignal::new(None::<String>);
    let text = RwSignal::new(String::new());
    let loaded = Resource::new(
        move || editing.get(),
        |key| async move {
            match key {
                Some(key) => rfc_template_toml(key).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // The editor holds the loaded template's text only: nothing while it loads or if it failed,
    // so Save cannot store one template's text under another's key.
    Effect::new(move |_| match loaded.get() {
        Some(Ok(Some(toml))) => text.set(toml),
        _ => text.set(String::new()),
    });
    let load_error = Signal::derive(move || loaded.get().and_then(Result::err));
    Effect::new(move |_| {
        if let Some(Ok(key)) = copy.value().get() {
            copying.set(None);
            new_key.set(String::new());
            editing.set(Some(key));
        }
    });
    let error = Signal::derive(move || {
        let e = |v: Option<Result<_, AppError>>| v.and_then(Result::err);
        e(toggle.value().get()).or_else(|| e(copy.value().get().map(|r| r.map(|_| ()))))
    });
    let save_error = Signal::derive(move || save.value().get().and_then(Result::err));
    let saved = move || matches!(save.value().get(), Some(Ok(())));
    let submit_copy = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(from) = copying.get_untracked() else { return };
        copy.dispatch(CopyRfcTemplate {
            from,
            input: CopyTemplateInput { key: new_key.get_untracked(), name_en: None, name_ru: None },
        });
    };
    let submit_save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(key) = editing.get_untracked() else { return };
        save.dispatch(SaveRfcTemplate { key, definition: text.get_untracked() });
    };
    view! {
        <Title text=td_string!(lang, rfc_templates.title) />
        <section class="page">
            <h1>{td_string!(lang, rfc_templates.title)}</h1>
            <p><a href="/admin">{td_string!(lang, admin.title)}</a></p>
            <p class="muted">{td_string!(lang, rfc_templates.intro)}</p>
            <ErrorBanner error />
            <ValidationList error />
            <div class="card">
                <Transition fallback=move || view! { <p class="loading">{td_string!(lang, rfcs.loading)}</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Ok(templates) => view! {
                                <table class="table" id="templates-table">
                                    <thead><tr>
                                        <th>{td_string!(lang, rfc_templates.name)}</th>
                                        <th>{td_string!(lang, rfc_templates.key)}</th>
                                        <th>{td_string!(lang, rfc_templates.sections)}</th>
                                        <th>{td_string!(lang, rfc_templates.offered)}</th>
                                        <th><span class="visually-hidden">{td_string!(lang, rfc_templates.actions)}</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {templates.into_iter().map(|t| {
                                            let name = if lang == Locale::ru { t.name_ru.clone() } else { t.name_en.clone() };
                                            let key = t.key.clone();
                                            let (k1, k2, k3) = (key.clone(), key.clone(), key.clone());
                                            let enabled = t.enabled;
                                            let kind = if t.builtin { td_string!(lang, rfc_templates.builtin) } else { td_string!(lang, rfc_templates.copy_kind) };
                                            view! {
                                                <tr data-template=key.clone()>
                                                    <td>{name}" "<span class="badge">{kind}</span></td>
                                                    <td class="nowrap"><code>{key.clone()}</code></td>
                                                    <td>{t.sections.len()}" / "{t.questions.len()}</td>
                                                    <td>
                                                        <label class="nowrap">
                                                            <input type="checkbox" class="template-enabled" checked=enabled
                                                                disabled=move || toggle.pending().get()
                                                                on:change=move |_| { toggle.dispatch(SetRfcTemplateEnabled { key: k1.clone(), enabled: !enabled }); } />
                                                            " "{if enabled { td_string!(lang, rfc_templates.on) } else { td_string!(lang, rfc_templates.off) }}
                                                        </label>
                                                    </td>
                                                    <td class="nowrap">
                                                        <button type="button" class="btn template-copy"
                                                            on:click=move |_| { copying.set(Some(k2.clone())); editing.set(None); }>
                                                            {td_string!(lang, rfc_templates.copy)}
                                                        </button>
                                                        {(!t.builtin).then(move || view! {
                                                            " "
                                                            <button type="button" class="btn template-edit"
                                                                on:click=move |_| { editing.set(Some(k3.clone())); copying.set(None); }>
                                                                {td_string!(lang, rfc_templates.edit)}
                                                            </button>
                                                        })}
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
            <Show when=move || copying.get().is_some()>
                <form method="post" class="card stack" id="template-copy-form" on:submit=submit_copy><FormGate>
                    <h2>{move || format!("{} {}", td_string!(lang, rfc_templates.copy_of), copying.get().unwrap_or_default())}</h2>
                    <label for="template-key">{td_string!(lang, rfc_templates.new_key)}</label>
                    <input id="template-key" type="text" maxlength="40" required bind:value=new_key />
                    <p class="hint">{td_string!(lang, rfc_templates.key_hint)}</p>
                    <div class="row">
                        <button type="submit" class="btn btn-primary" id="template-copy-submit" disabled=move || copy.pending().get()>
                            {td_string!(lang, rfc_templates.make_copy)}
                        </button>
                        <button type="button" class="btn" on:click=move |_| copying.set(None)>{td_string!(lang, rfc_templates.cancel)}</button>
                    </div>
                </FormGate></form>
            </Show>
            <Show when=move || editing.get().is_some()>
                <form method="post" class="card stack" id="template-editor" on:submit=submit_save><FormGate>
                    <h2>{move || format!("{} {}", td_string!(lang, rfc_templates.editing), editing.get().unwrap_or_default())}</h2>
                    <p class="hint">{td_string!(lang, rfc_templates.toml_hint)}</p>
                    <label for="template-toml" class="visually-hidden">{td_string!(lang, rfc_templates.definition)}</label>
                    <textarea id="template-toml" class="template-toml" rows="28" spellcheck="false" bind:value=text></textarea>
                    <ErrorBanner error=load_error />
                    <ValidationList error=save_error />
                    <ErrorBanner error=save_error />
                    <Show when=saved>
                        <p class="banner banner-ok" role="status" id="template-saved">{td_string!(lang, rfc_templates.saved)}</p>
                    </Show>
                    <div class="row">
                        <button type="submit" class="btn btn-primary" id="template-save" disabled=move || save.pending().get() || text.with(String::is_empty)>
                            {td_string!(lang, rfc_templates.save)}
                        </button>
                        <button type="button" class="btn" on:click=move |_| editing.set(None)>{td_string!(lang, rfc_templates.close)}</button>
                    </div>
                </FormGate></form>
            </Show>
        </section>
    }
    .into_any()
}
