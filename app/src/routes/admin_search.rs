//! `/admin/search`: search analytics for admins — query volume, latency p50/p95, zero-result
//! rate and the top zero-result queries, click-through by position — and the index: size,
//! embedder (and why vector search is off, if it is), freshness per source, and a rebuild button.

use crate::api::search::{RebuildSearchIndex, get_search_analytics};
use crate::components::form::{ErrorBanner, LoadError};
use crate::components::session::use_session;
use crate::components::shell::{AdminTabs, scope_refused};
use crate::i18n::td_string;
use crate::l10n;
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
            return scope_refused(|l| td_string!(l, admin_search.title), Scope::Admin);
        }
        let this = AdminSearchData::load();
        let AdminSearchData { days, analytics, rebuild } = this;
        let error = Signal::derive(move || rebuild.value().get().and_then(Result::err));
        let lang = crate::l10n::use_lang();
        view! {
            <Title text=td_string!(lang, admin_search.title) />
            <section class="page">
                <h1>{td_string!(lang, admin.title)}</h1>
                <AdminTabs current="/admin/search" />
                <div class="row">
                    <label>{td_string!(lang, admin_search.period)} " "
                        <select id="analytics-days" on:change=move |ev| days.set(event_target_value(&ev).parse().unwrap_or(7))>
                            <option value="7">{td_string!(lang, admin_search.days_7)}</option>
                            <option value="30">{td_string!(lang, admin_search.days_30)}</option>
                            <option value="90">{td_string!(lang, admin_search.days_90)}</option>
                        </select>
                    </label>
                    <button type="button" class="btn" id="rebuild-index" disabled=move || rebuild.pending().get()
                        on:click=move |_| { rebuild.dispatch(RebuildSearchIndex {}); }>{td_string!(lang, admin_search.rebuild)}</button>
                    {move || rebuild.value().get().and_then(Result::ok).map(|n| view! { <span class="muted">{move || crate::plural!(lang, admin_search.rebuilt, count = n)}</span> })}
                </div>
                <ErrorBanner error />
                <Transition fallback=move || view! { <p class="loading">{td_string!(lang, admin_search.loading)}</p> }>
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
    let lang = crate::l10n::use_lang();
    let mb = move |b: i64| {
        td_string!(lang, admin_search.mb, n = l10n::decimal(lang, b as f64 / 1_048_576.0, 1))
    };
    let pct = move |r: f64| format!("{} %", l10n::decimal(lang, r * 100.0, 1));
    let (p50, p95) = (a.latency_p50_ms, a.latency_p95_ms);
    let (zero_rate, click_rate) = (a.zero_result_rate, a.click_through_rate);
    let (vectors, dims, vector_bytes, text_bytes) =
        (i.vectors, i.dimensions, i.vector_bytes, i.text_index_bytes);
    let embedder = i.embedder.clone();
    let (rebuilt_at, rebuild_ms) = (i.rebuilt_at, i.rebuild_ms.unwrap_or(0.0));
    view! {
        <div class="grid-2">
            <div class="card" id="search-stats">
                <h2>{td_string!(lang, admin_search.searches)}</h2>
                <dl class="kv">
                    <dt>{td_string!(lang, admin_search.queries)}</dt><dd id="stat-queries">{a.queries}</dd>
                    <dt>{td_string!(lang, admin_search.latency)}</dt><dd>{move || { let l = lang; format!("{} / {}", l10n::decimal(l, p50, 1), td_string!(l, units.ms, n = l10n::decimal(l, p95, 1))) }}</dd>
                    <dt>{td_string!(lang, admin_search.zero)}</dt><dd>{move || pct(zero_rate)}</dd>
                    <dt>{td_string!(lang, admin_search.with_click)}</dt><dd>{move || pct(click_rate)}</dd>
                </dl>
                <h3>{td_string!(lang, admin_search.per_day)}</h3>
                <ul class="plain">{a.volume.into_iter().map(|(d, n)| view! { <li>{format!("{d}: {n}")}</li> }).collect_view()}</ul>
                <h3>{td_string!(lang, admin_search.clicks_by_position)}</h3>
                <ul class="plain">{a.clicks_by_position.into_iter().map(|(p, n)| view! { <li>{format!("#{p}: {n}")}</li> }).collect_view()}</ul>
            </div>
            <div class="card" id="index-stats">
                <h2>{td_string!(lang, admin_search.index)}</h2>
                <dl class="kv">
                    <dt>{td_string!(lang, admin_search.docs_chunks)}</dt><dd>{format!("{} / {}", l10n::number(lang, i.documents), l10n::number(lang, i.chunks))}</dd>
                    <dt>{td_string!(lang, admin_search.vectors)}</dt><dd>{move || td_string!(lang, admin_search.vectors_value, n = vectors, dims, size = mb(vector_bytes))}</dd>
                    <dt>{td_string!(lang, admin_search.full_text)}</dt><dd>{move || mb(text_bytes)}</dd>
                    <dt>{td_string!(lang, admin_search.embedder)}</dt><dd id="embedder">{move || embedder.clone().unwrap_or_else(|| td_string!(lang, admin_search.no_embedder).to_string())}</dd>
                    <dt>{td_string!(lang, admin_search.last_rebuild)}</dt><dd>{move || rebuilt_at.map(|t| { let l = lang; format!("{} ({})", l10n::date_time(l, t), td_string!(l, units.ms, n = l10n::decimal(l, rebuild_ms, 0))) }).unwrap_or_default()}</dd>
                </dl>
                {i.pending_embedder.clone().map(|model| view! { <p class="banner" role="status" id="pending-embedder">{move || td_string!(lang, admin_search.pending_embedder, model = model.clone())}</p> })}
                {i.embedder_problem.clone().map(|problem| view! { <p class="banner banner-error" role="alert">{move || td_string!(lang, admin_search.vector_problem, problem = problem.clone())}</p> })}
            </div>
        </div>
        <div class="card">
            <h2>{td_string!(lang, admin_search.top_without_results)}</h2>
            {if a.top_zero_result.is_empty() {
                view! { <p class="muted">{td_string!(lang, admin_search.none)}</p> }.into_any()
            } else {
                view! { <table class="table" id="zero-results"><thead><tr><th>{td_string!(lang, admin_search.query)}</th><th>{td_string!(lang, admin_search.times)}</th></tr></thead><tbody>
                    {a.top_zero_result.into_iter().map(|(q, n)| view! { <tr><td>{q}</td><td>{n}</td></tr> }).collect_view()}
                </tbody></table> }.into_any()
            }}
        </div>
        <div class="card">
            <h2>{td_string!(lang, admin_search.freshness)}</h2>
            <div class="table-scroll">
            <table class="table" id="freshness"><thead><tr>
                <th>{td_string!(lang, admin_search.source)}</th>
                <th>{td_string!(lang, admin_search.documents)}</th>
                <th>{td_string!(lang, admin_search.chunks)}</th>
                <th>{td_string!(lang, admin_search.last_sync)}</th>
                <th>{td_string!(lang, admin_search.newest)}</th>
            </tr></thead><tbody>
                {a.sources.into_iter().map(|s| {
                    let (last, status, newest) = (s.last_sync_at, s.last_status.clone().unwrap_or_default(), s.newest_document_at);
                    view! { <tr>
                        <td>{format!("{} ({})", s.name, s.kind.label())}</td><td>{s.documents}</td><td>{s.chunks}</td>
                        <td>{move || last.map(|t| format!("{} · {}", l10n::date_time(lang, t), status)).unwrap_or_else(|| td_string!(lang, admin_search.never).to_string())}</td>
                        <td>{move || newest.map(|t| l10n::date_time(lang, t)).unwrap_or_default()}</td>
                    </tr> }
                }).collect_view()}
            </tbody></table>
            </div>
        </div>
    }
}
