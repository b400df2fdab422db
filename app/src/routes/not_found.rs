//! The 404 page, with a real 404 status on the server.

use crate::i18n::td_string;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// Shown for any URL no route matches.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    let lang = crate::l10n::use_lang();
    view! {
        <Title text=td_string!(lang, not_found.title) />
        <main class="center-page" id="main">
            <div class="card narrow">
                <h1>{td_string!(lang, not_found.heading)}</h1>
                <p class="muted">{td_string!(lang, not_found.text)}</p>
                <A href="/" attr:class="btn btn-primary">{td_string!(lang, not_found.home)}</A>
            </div>
        </main>
    }
}
