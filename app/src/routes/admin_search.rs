//! `/admin/search`: search analytics for admins — query volume, latency p50/p95, zero-result
//! rate and the top zero-result queries, click-through by position — and the index: size,
//! embedder (and why vector search is off, if it is), freshness per source, and a rebuild button.

use crate::api::search::{RebuildSearchIndex, get_search_analytics};
use crate::components::form::{ErrorBanner, LoadError};
use crate::components::session::use_session;
use crate::components::shell::{AdminTabs, scope_refused};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{Scope, SearchAnalytics};

/// The admin search page.
pub struct AdminSearchRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct AdminSearchData {
    days: RwSignal<i64>,
    analytics: Resource<Result<SearchAnalytics, AppError>>,
    rebuild: ServerAction<RebuildSearchIndex>,
}

impl AdminSearchData {
    fn load() -> Self {
        let days = RwSignal::new(7_i64);
        let rebuild = ServerAction::<RebuildSearchIndex>::new();
        let analytics = Resource::new(
            move || (days.get(), rebuild.version().get()),
            |(d, _)| get_search_analytics(d),
        );
        AdminSearchData { days, analytics, rebuild }
    }
}

#[lazy_route]
impl LazyRoute for AdminSearchRoute {
    fn data() -> Self {
        AdminSearchRoute
    }

    fn view(_this: Self) -> AnyView {
        // Checked first: a member gets the refusal without firing requests they may not make.
        let session = use_session();
        if !session.has(Scope::Admin) {
            return scope_refused("Search analytics", Scope::Admin);
        }
        let this = AdminSearchData::load();
        let AdminSearchData { days, analytics, rebuild } = this;
        let error = Signal::derive(move || rebuild.value().get().and_then(Result::err));
        view! {
            <Title text="Search analytics" />
            <section class="page">
                <h1>"Admin"</h1>
                <AdminTabs current="/admin/search" />
                <div class="row">
                    <label>"Period "
                        <select id="analytics-days" on:change=move |ev| days.set(event_target_value(&ev).parse().unwrap_or(7))>
                            <option value="7">"7 days"</option>
                            <option value="30">"30 days"</option>
                            <option value="90">"90 days"</option>
                        </select>
                    </label>
                    <button type="button" class="btn" id="rebuild-index" disabled=move || rebuild.pending().get()
                        on:click=move |_| { rebuild.dispatch(RebuildSearchIndex {}); }>"Rebuild index"</button>
                    {move || rebuild.value().get().and_then(Result::ok).map(|n| view! { <span class="muted">{format!("Rebuilt: {n} documents")}</span> })}
                </div>
                <ErrorBanner error />
                <Transition fallback=|| view! { <p class="loading">"Loading analytics…"</p> }>
                    {move || Suspend::new(async move {
                        match analytics.await {
                            Ok(a) => view! { <Analytics a /> }.into_any(),
                            Err(e) => view! { <LoadError error=e /> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        }
        .into_any()
    }
}

#[component]
fn Analytics(a: SearchAnalytics) -> impl IntoView {
    let i = a.index.clone();
    let mb = |b: i64| format!("{:.1} MB", b as f64 / 1_048_576.0);
    view! {
        <div class="grid-2">
            <div class="card" id="search-stats">
                <h2>"Searches"</h2>
                <dl class="kv">
                    <dt>"Queries"</dt><dd id="stat-queries">{a.queries}</dd>
                    <dt>"Latency p50 / p95"</dt><dd>{format!("{:.1} / {:.1} ms", a.latency_p50_ms, a.latency_p95_ms)}</dd>
                    <dt>"Zero results"</dt><dd>{format!("{:.1} %", a.zero_result_rate * 100.0)}</dd>
                    <dt>"Searches with a click"</dt><dd>{format!("{:.1} %", a.click_through_rate * 100.0)}</dd>
                </dl>
                <h3>"Per day"</h3>
                <ul class="plain">{a.volume.into_iter().map(|(d, n)| view! { <li>{format!("{d}: {n}")}</li> }).collect_view()}</ul>
                <h3>"Clicks by position"</h3>
                <ul class="plain">{a.clicks_by_position.into_iter().map(|(p, n)| view! { <li>{format!("#{p}: {n}")}</li> }).collect_view()}</ul>
            </div>
            <div class="card" id="index-stats">
                <h2>"Index"</h2>
                <dl class="kv">
                    <dt>"Documents / chunks"</dt><dd>{format!("{} / {}", i.documents, i.chunks)}</dd>
                    <dt>"Vectors"</dt><dd>{format!("{} × {} dims ({})", i.vectors, i.dimensions, mb(i.vector_bytes))}</dd>
                    <dt>"Full-text index"</dt><dd>{mb(i.text_index_bytes)}</dd>
                    <dt>"Embedder"</dt><dd id="embedder">{i.embedder.clone().unwrap_or_else(|| "none: keyword search only".into())}</dd>
                    <dt>"Last rebuild"</dt><dd>{i.rebuilt_at.map(|t| format!("{} ({:.0} ms)", t.format("%Y-%m-%d %H:%M:%S"), i.rebuild_ms.unwrap_or(0.0))).unwrap_or_default()}</dd>
                </dl>
                {i.embedder_problem.clone().map(|p| view! { <p class="banner banner-error" role="alert">{format!("Vector search problem: {p}")}</p> })}
            </div>
        </div>
        <div class="card">
            <h2>"Top queries without results"</h2>
            {if a.top_zero_result.is_empty() {
                view! { <p class="muted">"None."</p> }.into_any()
            } else {
                view! { <table class="table" id="zero-results"><thead><tr><th>"Query"</th><th>"Times"</th></tr></thead><tbody>
                    {a.top_zero_result.into_iter().map(|(q, n)| view! { <tr><td>{q}</td><td>{n}</td></tr> }).collect_view()}
                </tbody></table> }.into_any()
            }}
        </div>
        <div class="card">
            <h2>"Freshness per source"</h2>
            <table class="table" id="freshness"><thead><tr><th>"Source"</th><th>"Documents"</th><th>"Chunks"</th><th>"Last sync"</th><th>"Newest document"</th></tr></thead><tbody>
                {a.sources.into_iter().map(|s| view! { <tr>
                    <td>{format!("{} ({})", s.name, s.kind.label())}</td><td>{s.documents}</td><td>{s.chunks}</td>
                    <td>{s.last_sync_at.map(|t| format!("{} · {}", t.format("%Y-%m-%d %H:%M"), s.last_status.clone().unwrap_or_default())).unwrap_or_else(|| "never".into())}</td>
                    <td>{s.newest_document_at.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()}</td>
                </tr> }).collect_view()}
            </tbody></table>
        </div>
    }
}
