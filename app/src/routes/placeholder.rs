//! Areas whose features are not built yet: each says so plainly.

use crate::i18n::{Locale, t, td_string, use_i18n};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};

fn coming(title: fn(Locale) -> &'static str, what: fn(Locale) -> &'static str) -> AnyView {
    let i18n = use_i18n();
    view! {
        <Title text=move || title(i18n.get_locale()) />
        <section class="page">
            <h1>{move || title(i18n.get_locale())}</h1>
            <div class="card notice" role="status">
                <span class="badge">{t!(i18n, placeholder.not_built)}</span>
                <p>{move || what(i18n.get_locale())}</p>
            </div>
        </section>
    }
    .into_any()
}

/// `/rfcs`.
pub struct RfcsRoute;

#[lazy_route]
impl LazyRoute for RfcsRoute {
    fn data() -> Self {
        RfcsRoute
    }
    fn view(_this: Self) -> AnyView {
        coming(|l| td_string!(l, nav.rfcs), |l| td_string!(l, placeholder.rfcs))
    }
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
