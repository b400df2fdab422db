//! Form helpers.

use leptos::prelude::*;
use model::error::AppError;

/// The message for `field` from the last error, under its input.
#[component]
pub fn FieldError(
    /// The last result's error, if any.
    #[prop(into)]
    error: Signal<Option<AppError>>,
    /// The field's name.
    field: &'static str,
) -> impl IntoView {
    let message = move || error.get().and_then(|e| e.field_message(field));
    view! {
        <Show when=move || message().is_some()>
            <p class="field-error" role="alert" data-field=field>{message}</p>
        </Show>
    }
}

/// Why a list or panel could not load: the one pattern every page uses for a failed resource.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    let text = crate::l10n::error_text(crate::i18n::use_i18n().get_locale_untracked(), &error);
    view! { <p class="banner banner-error">{text}</p> }
}

/// Set in the browser once the first page has hydrated (`app::mark_hydrated`).
pub static HYDRATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The fields and buttons of a form that only works with the page's code loaded: disabled until
/// the page hydrates, saying why meanwhile (and for good when scripts are off). The form around
/// it posts, so nothing typed can end up in a URL whatever happens.
#[component]
pub fn FormGate(children: Children) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    // Rendered after the first hydration (a client-side navigation), it is ready at once.
    let ready = RwSignal::new(HYDRATED.load(std::sync::atomic::Ordering::Relaxed));
    // Effects run in the browser only, after hydration.
    Effect::new(move |_| ready.set(true));
    view! {
        <fieldset class="form-gate" disabled=move || !ready.get()>
            {children()}
            <Show when=move || !ready.get()>
                <p class="muted form-wait" role="status">{crate::i18n::td_string!(lang, form_wait)}</p>
            </Show>
        </fieldset>
    }
}

/// A banner for errors that belong to no single field.
#[component]
pub fn ErrorBanner(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let message = move || match error.get() {
        Some(AppError::Validation { .. }) | None => None,
        Some(e) => Some(crate::l10n::error_text(lang, &e)),
    };
    view! {
        <Show when=move || message().is_some()>
            <div class="banner banner-error" role="alert">{message}</div>
        </Show>
    }
}

/// Every field message of the last validation error, for forms whose field names are built
/// at run time (`routes.<feature>`).
#[component]
pub fn ValidationList(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let items = move || match error.get() {
        Some(AppError::Validation { errors }) => errors,
        _ => Vec::new(),
    };
    view! {
        <For each=items key=|e| (e.field.clone(), e.message.clone()) let:e>
            <p class="field-error" role="alert" data-field=e.field.clone()>{e.message.clone()}</p>
        </For>
    }
}
