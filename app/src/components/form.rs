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
    view! { <p class="banner banner-error">{error.to_string()}</p> }
}

/// A banner for errors that belong to no single field.
#[component]
pub fn ErrorBanner(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let message = move || match error.get() {
        Some(AppError::Validation { .. }) | None => None,
        Some(e) => Some(e.to_string()),
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
