//! Theme: follows the system until the user picks light or dark; the choice is kept in a
//! cookie so the server renders the right theme without a flash.

use crate::i18n::td_string;
use leptos::prelude::*;

/// Cycles system → light → dark.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(String::from("system"));
    Effect::new(move |_| {
        if let Some(el) = document().document_element() {
            theme.set(el.get_attribute("data-theme").unwrap_or_else(|| "system".into()));
        }
    });
    let cycle = move |_| {
        let next = match theme.get_untracked().as_str() {
            "system" => "light",
            "light" => "dark",
            _ => "system",
        };
        apply_theme(next);
        theme.set(next.to_string());
    };
    let lang = crate::l10n::use_lang();
    let label = move || match theme.get().as_str() {
        "light" => td_string!(lang, theme.light),
        "dark" => td_string!(lang, theme.dark),
        _ => td_string!(lang, theme.system),
    };
    view! {
        <button type="button" class="btn btn-ghost" id="theme-toggle" on:click=cycle data-theme-choice=move || theme.get()>
            {label}
        </button>
    }
}

#[cfg(feature = "hydrate")]
fn apply_theme(choice: &str) {
    use wasm_bindgen::JsCast;
    let doc = document();
    if let Some(el) = doc.document_element() {
        let _ = if choice == "system" {
            el.remove_attribute("data-theme")
        } else {
            el.set_attribute("data-theme", choice)
        };
    }
    if let Ok(html) = doc.dyn_into::<web_sys::HtmlDocument>() {
        let cookie = if choice == "system" {
            format!("{}=; Path=/; Max-Age=0; SameSite=Lax", crate::app::THEME_COOKIE)
        } else {
            format!("{}={choice}; Path=/; Max-Age=31536000; SameSite=Lax", crate::app::THEME_COOKIE)
        };
        let _ = html.set_cookie(&cookie);
    }
}

#[cfg(not(feature = "hydrate"))]
fn apply_theme(_choice: &str) {}
