//! The 404 page, with a real 404 status on the server.

use crate::i18n::{t, t_string, use_i18n};
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
    let i18n = use_i18n();
    view! {
        <Title text=move || t_string!(i18n, not_found.title) />
        <main class="center-page" id="main">
            <div class="card narrow">
                <h1>{t!(i18n, not_found.heading)}</h1>
                <p class="muted">{t!(i18n, not_found.text)}</p>
                <A href="/" attr:class="btn btn-primary">{t!(i18n, not_found.home)}</A>
            </div>
        </main>
    }
}
