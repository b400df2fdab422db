//! Areas whose features are not built yet: each says so plainly.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};

fn coming(title: &'static str, what: &'static str) -> AnyView {
    view! {
        <Title text=title />
        <section class="page">
            <h1>{title}</h1>
            <div class="card notice" role="status">
                <span class="badge">"Not built yet"</span>
                <p>{what}</p>
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
        coming("RFCs", "RFC generation with grounded citations is not built yet.")
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
        coming("Code Docs", "Documentation generated from your code is not built yet.")
    }
}
