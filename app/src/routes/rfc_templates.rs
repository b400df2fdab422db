//! `/admin/templates`: the RFC templates for admins. Every template with whether the wizard
//! offers it (a switch), copying one under a new key, and editing a copy's sections, guidance
//! and questions as TOML, the way the built-in ones are written; the server checks it and names
//! the field and line of every problem. Rendered by the admin page's lazy route (`AdminRoute`),
//! so only admins download it, and no route is added: every route added makes the splitter cut
//! the shared code into more chunks, which every other page then pays for. It reads listings
//! and TOML text, so it shares no decoded type with the studio.

use crate::api::rfcs::{
    CopyRfcTemplate, SaveRfcTemplate, SetRfcTemplateEnabled, admin_rfc_templates, rfc_template_toml,
};
use crate::components::form::{ErrorBanner, FormGate, LoadError, ValidationList};
use crate::components::shell::AdminTabs;
use crate::i18n::{Locale, td_string};
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use model::CopyTemplateInput;
use model::error::AppError;

/// The page, for admins (the admin route checked the scope).
pub fn templates_admin() -> AnyView {
    let lang = l10n::use_lang();
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
    // A save's outcome is shown with the template it was for, not with the next one opened.
    let saved_key = RwSignal::new(None::<String>);
    let this_one = move || saved_key.get().is_some() && saved_key.get() == editing.get();
    let save_error =
        Signal::derive(move || save.value().get().and_then(Result::err).filter(|_| this_one()));
    let saved = move || this_one() && matches!(save.value().get(), Some(Ok(())));
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
        saved_key.set(Some(key.clone()));
        save.dispatch(SaveRfcTemplate { key, definition: text.get_untracked() });
    };
    view! {
        <Title text=td_string!(lang, rfc_templates.title) />
        <section class="page">
            <h1>{td_string!(lang, admin.title)}</h1>
            <AdminTabs current="/admin/templates" />
            <h2>{td_string!(lang, rfc_templates.title)}</h2>
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
                                                    <td>{t.sections}" / "{t.questions}</td>
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
                    <h3>{move || format!("{} {}", td_string!(lang, rfc_templates.copy_of), copying.get().unwrap_or_default())}</h3>
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
                    <h3>{move || format!("{} {}", td_string!(lang, rfc_templates.editing), editing.get().unwrap_or_default())}</h3>
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
