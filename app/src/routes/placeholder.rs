//! Areas whose features are not built yet: each says so plainly.

use crate::i18n::{Locale, td_string};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};

fn coming(title: fn(Locale) -> &'static str, what: fn(Locale) -> &'static str) -> AnyView {
    let lang = crate::l10n::use_lang();
    view! {
        <Title text=move || title(lang) />
        <section class="page">
            <h1>{move || title(lang)}</h1>
            <div class="card notice" role="status">
                <span class="badge">{td_string!(lang, placeholder.not_built)}</span>
                <p>{move || what(lang)}</p>
            </div>
        </section>
    }
    .into_any()
}

/// `/code-docs`.
pub struct CodeDocsRoute;

#[lazy_route]
impl LazyRoute for CodeDocsRoute {
    fn data() -> Self {
        CodeDocsRoute
    }
    fn view(_this: Self) -> AnyView {
        coming(|l| td_string!(l, nav.code_docs), |l| td_string!(l, placeholder.code_docs))
    }
}
