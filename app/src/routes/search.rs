//! `/search`: knowledge search as you type (debounced), filters with counts, highlighted
//! snippets, links to the originals, more like this, pages, history and "did you mean".

use crate::api::search::{more_like_this, record_search_click, search_history, search_knowledge};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{
    FacetValue, SearchFilters, SearchHistoryEntry, SearchHit, SearchMode, SearchRequest,
    SearchResponse,
};

const PAGE: i64 = 10;

/// The search page.
pub struct SearchRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct SearchData {
    q: RwSignal<String>,
    debounced: RwSignal<String>,
    mode: RwSignal<SearchMode>,
    filters: RwSignal<SearchFilters>,
    offset: RwSignal<i64>,
    results: Resource<Result<Option<SearchResponse>, AppError>>,
    history: Resource<Result<Vec<SearchHistoryEntry>, AppError>>,
}

impl SearchData {
    fn load() -> Self {
        let initial = use_query_map().with_untracked(|m| m.get("q")).unwrap_or_default();
        let q = RwSignal::new(initial.clone());
        let debounced = RwSignal::new(initial);
        let mode = RwSignal::new(SearchMode::Hybrid);
        let filters = RwSignal::new(SearchFilters::default());
        let offset = RwSignal::new(0_i64);
        let results = Resource::new(
            move || (debounced.get(), filters.get(), mode.get(), offset.get()),
            |(q, filters, mode, offset)| async move {
                if q.trim().is_empty() {
                    return Ok(None);
                }
                let req =
                    SearchRequest { q, filters, mode, limit: Some(PAGE), offset: Some(offset) };
                search_knowledge(req).await.map(Some)
            },
        );
        let history = Resource::new(move || debounced.get().is_empty(), |_| search_history(8));
        SearchData { q, debounced, mode, filters, offset, results, history }
    }
}

#[lazy_route]
impl LazyRoute for SearchRoute {
    fn data() -> Self {
        SearchRoute
    }

    fn view(_this: Self) -> AnyView {
        let this = SearchData::load();
        let SearchData { q, debounced, mode, filters, offset, results, history } = this;
        let pending: StoredValue<Option<leptos::prelude::TimeoutHandle>> = StoredValue::new(None);
        let on_input = move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            q.set(value.clone());
            if let Some(h) = pending.get_value() {
                h.clear();
            }
            let handle = set_timeout_with_handle(
                move || {
                    offset.set(0);
                    debounced.set(value.clone());
                },
                std::time::Duration::from_millis(250),
            )
            .ok();
            pending.set_value(handle);
        };
        let run_now = move |text: String| {
            q.set(text.clone());
            offset.set(0);
            debounced.set(text);
        };
        let similar = Action::new(|doc: &i64| {
            let doc = *doc;
            async move { (doc, more_like_this(doc, 5).await) }
        });
        view! {
            <Title text="Search" />
            <section class="page search-page">
                <h1>"Search"</h1>
                <form class="search-bar" role="search" on:submit=move |ev| { ev.prevent_default(); run_now(q.get_untracked()); }>
                    <input id="search-input" type="search" placeholder="Search pages, issues, files… (English or Russian)"
                        aria-label="Search" autocomplete="off" prop:value=move || q.get() on:input=on_input />
                    <select id="search-mode" aria-label="Ranking" on:change=move |ev| {
                        mode.set(match event_target_value(&ev).as_str() {
                            "keyword" => SearchMode::Keyword,
                            "vector" => SearchMode::Vector,
                            _ => SearchMode::Hybrid,
                        });
                    }>
                        <option value="hybrid">"Words + meaning"</option>
                        <option value="keyword">"Words only"</option>
                        <option value="vector">"Meaning only"</option>
                    </select>
                </form>
                <Transition fallback=|| view! { <p class="loading">"Searching…"</p> }>
                    {move || Suspend::new(async move {
                        match results.await {
                            Ok(None) => view! { <History history run_now /> }.into_any(),
                            Ok(Some(resp)) => view! { <Results resp filters offset similar run_now /> }.into_any(),
                            Err(e) => view! { <p class="banner banner-error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        }
        .into_any()
    }
}

#[component]
fn History(
    history: Resource<Result<Vec<SearchHistoryEntry>, AppError>>,
    run_now: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="card">
            <h2>"Recent searches"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(items) if items.is_empty() => view! { <p class="muted">"Type to search everything your team has shared with you."</p> }.into_any(),
                        Ok(items) => view! {
                            <ul class="history" id="search-history">
                                {items.into_iter().map(|h| {
                                    let text = h.q.clone();
                                    view! { <li><button type="button" class="link" on:click=move |_| run_now(text.clone())>{h.q.clone()}</button>
                                        <span class="muted">{format!(" · {} results", h.results)}</span></li> }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="muted">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn Results(
    resp: SearchResponse,
    filters: RwSignal<SearchFilters>,
    offset: RwSignal<i64>,
    similar: Action<i64, (i64, Result<SearchResponse, AppError>)>,
    run_now: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let total = resp.total;
    let shown_from = resp.offset + 1;
    let shown_to = resp.offset + resp.hits.len() as i64;
    let query_id = resp.query_id;
    let facets = resp.facets.clone();
    let has_prev = resp.offset > 0;
    let has_next = resp.offset + resp.limit < total;
    let summary = format!(
        "{total} results · {:.0} ms{}",
        resp.took_ms,
        if resp.cached { " · cached" } else { "" }
    );
    view! {
        <div class="search-layout">
            <aside class="facets" aria-label="Filters">
                <FacetGroup title="Source" values=facets.sources.clone() filters />
                <FacetGroup title="Type" values=facets.types.clone() filters />
                <FacetGroup title="Language" values=facets.languages.clone() filters />
                <FacetGroup title="Author" values=facets.authors.clone() filters />
                <FacetGroup title="Label" values=facets.labels.clone() filters />
                <UpdatedFacet values=facets.updated.clone() filters />
                <Show when=move || !filters.with(SearchFilters::is_empty)>
                    <button type="button" class="btn btn-small" id="clear-filters" on:click=move |_| filters.set(SearchFilters::default())>"Clear filters"</button>
                </Show>
            </aside>
            <div class="results">
                <p class="muted" id="search-summary" data-mode=format!("{:?}", resp.mode).to_lowercase()>{summary}</p>
                {resp.notice.clone().map(|n| view! { <p class="banner" role="status">{n}</p> })}
                {(total == 0).then(|| {
                    let suggestions = resp.suggestions.clone();
                    view! {
                        <div class="card" id="no-results">
                            <p>{format!("Nothing matched “{}”.", resp.q)}</p>
                            {(!suggestions.is_empty()).then(|| view! {
                                <p>"Try: " {suggestions.into_iter().map(|s| {
                                    let (text, clear) = match s.strip_suffix(" (without filters)") {
                                        Some(t) => (t.to_string(), true),
                                        None => (s.clone(), false),
                                    };
                                    view! { <button type="button" class="link suggestion" on:click=move |_| { if clear { filters.set(SearchFilters::default()); } run_now(text.clone()); }>{s.clone()}</button> " " }
                                }).collect_view()}</p>
                            })}
                        </div>
                    }
                })}
                <ol class="hits" id="search-results" start=shown_from.to_string()>
                    {resp.hits.into_iter().enumerate().map(|(i, hit)| {
                        let position = shown_from + i as i64;
                        view! { <Hit hit position query_id similar /> }
                    }).collect_view()}
                </ol>
                <Show when=move || has_prev || has_next>
                    <nav class="pager" aria-label="Result pages">
                        <button type="button" class="btn btn-small" disabled=!has_prev on:click=move |_| offset.update(|o| *o = (*o - PAGE).max(0))>"Previous"</button>
                        <span class="muted">{format!("{shown_from}–{shown_to} of {total}")}</span>
                        <button type="button" class="btn btn-small" id="next-page" disabled=!has_next on:click=move |_| offset.update(|o| *o += PAGE)>"Next"</button>
                    </nav>
                </Show>
            </div>
        </div>
    }
}

#[component]
fn FacetGroup(
    title: &'static str,
    values: Vec<FacetValue>,
    filters: RwSignal<SearchFilters>,
) -> impl IntoView {
    if values.is_empty() {
        return ().into_any();
    }
    let is_source = title == "Source";
    view! {
        <fieldset class="facet">
            <legend>{title}</legend>
            {values.into_iter().map(|v| {
                let value = v.value.clone();
                let value_for_check = value.clone();
                let checked = move || filters.with(|f| {
                    if is_source {
                        value_for_check.parse::<i64>().is_ok_and(|id| f.sources.contains(&id))
                    } else {
                        facet_list(f, title).contains(&value_for_check)
                    }
                });
                let toggle = move |_| {
                    let value = value.clone();
                    filters.update(|f| {
                        if is_source {
                            if let Ok(id) = value.parse::<i64>() {
                                if let Some(i) = f.sources.iter().position(|s| *s == id) { f.sources.remove(i); } else { f.sources.push(id); }
                            }
                        } else {
                            let list = facet_list_mut(f, title);
                            if let Some(i) = list.iter().position(|s| *s == value) { list.remove(i); } else { list.push(value); }
                        }
                    });
                };
                view! {
                    <label class="facet-value">
                        <input type="checkbox" prop:checked=checked on:change=toggle data-facet=title data-value=v.value.clone() />
                        {v.label.clone()}
                        <span class="count">{v.count}</span>
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
    .into_any()
}

/// Milliseconds since the epoch, from the browser's clock in the browser.
fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        chrono::Utc::now().timestamp_millis()
    }
}

/// "Updated within": any time, the past week, month or year, with cumulative counts.
#[component]
fn UpdatedFacet(values: Vec<FacetValue>, filters: RwSignal<SearchFilters>) -> impl IntoView {
    let count = |key: &str| values.iter().find(|v| v.value == key).map_or(0, |v| v.count);
    let week = count("7d");
    let month = week + count("30d");
    let year = month + count("365d");
    let any = year + count("older");
    if any == 0 && filters.with_untracked(|f| f.updated_after.is_none()) {
        return ().into_any();
    }
    let choice = move || {
        filters.with(|f| {
            f.updated_after.map_or(0, |t| {
                let days = (now_ms() - t.timestamp_millis()) as f64 / 86_400_000.0;
                [7, 30, 365]
                    .into_iter()
                    .min_by_key(|d| ((days - *d as f64).abs() * 10.0) as i64)
                    .unwrap_or(0)
            })
        })
    };
    let pick = move |days: i64| {
        filters.update(|f| {
            f.updated_after = (days > 0)
                .then(|| chrono::DateTime::from_timestamp_millis(now_ms() - days * 86_400_000))
                .flatten();
        });
    };
    view! {
        <fieldset class="facet">
            <legend>"Updated"</legend>
            {[(0_i64, "Any time", any), (7, "Past week", week), (30, "Past month", month), (365, "Past year", year)]
                .into_iter()
                .map(|(days, label, n)| view! {
                    <label class="facet-value">
                        <input type="radio" name="updated" prop:checked=move || choice() == days on:change=move |_| pick(days) data-facet="Updated" data-value=days.to_string() />
                        {label}
                        <span class="count">{n}</span>
                    </label>
                })
                .collect_view()}
        </fieldset>
    }
    .into_any()
}

fn facet_list<'a>(f: &'a SearchFilters, title: &str) -> &'a Vec<String> {
    match title {
        "Type" => &f.types,
        "Language" => &f.languages,
        "Author" => &f.authors,
        _ => &f.labels,
    }
}

fn facet_list_mut<'a>(f: &'a mut SearchFilters, title: &str) -> &'a mut Vec<String> {
    match title {
        "Type" => &mut f.types,
        "Language" => &mut f.languages,
        "Author" => &mut f.authors,
        _ => &mut f.labels,
    }
}

#[component]
fn Hit(
    hit: SearchHit,
    position: i64,
    query_id: Option<i64>,
    similar: Action<i64, (i64, Result<SearchResponse, AppError>)>,
) -> impl IntoView {
    let doc = hit.document_id;
    let on_open = move |_| {
        if let Some(query_id) = query_id {
            leptos::task::spawn_local(async move {
                let _ = record_search_click(query_id, position, doc).await;
            });
        }
    };
    let meta = format!(
        "{} · {}{}{} · updated {}",
        hit.source_name,
        hit.doc_type,
        hit.author.as_ref().map(|a| format!(" · {a}")).unwrap_or_default(),
        hit.language.as_ref().map(|l| format!(" · {l}")).unwrap_or_default(),
        hit.updated_at.format("%Y-%m-%d"),
    );
    let why = match (hit.keyword_rank, hit.vector_rank) {
        (Some(k), Some(v)) => format!("words #{k}, meaning #{v}"),
        (Some(k), None) => format!("words #{k}"),
        (None, Some(v)) => format!("meaning #{v}"),
        (None, None) => String::new(),
    };
    let similar_here = move || similar.value().get().filter(|(d, _)| *d == doc).map(|(_, r)| r);
    view! {
        <li class="hit" data-document-id=doc.to_string()>
            <a class="hit-title" href=hit.url.clone() target="_blank" rel="noopener noreferrer" on:click=on_open>{hit.title.clone()}</a>
            <div class="muted hit-meta">{meta}</div>
            {(!hit.heading.is_empty()).then(|| view! { <div class="hit-heading">{hit.heading.clone()}</div> })}
            <p class="snippet">
                {hit.snippet.into_iter().map(|p| if p.hit {
                    view! { <mark>{p.text}</mark> }.into_any()
                } else {
                    view! { <span>{p.text}</span> }.into_any()
                }).collect_view()}
            </p>
            <div class="hit-actions">
                <span class="muted score" title=why.clone()>{format!("score {:.4}", hit.score)}</span>
                <button type="button" class="link more-like-this" on:click=move |_| { similar.dispatch(doc); }>"More like this"</button>
            </div>
            {move || similar_here().map(|r| match r {
                Ok(resp) if resp.hits.is_empty() => view! { <p class="muted">"Nothing similar."</p> }.into_any(),
                Ok(resp) => view! {
                    <ul class="similar">
                        {resp.hits.into_iter().map(|h| view! { <li><a href=h.url target="_blank" rel="noopener noreferrer">{h.title}</a> <span class="muted">{h.source_name}</span></li> }).collect_view()}
                    </ul>
                }.into_any(),
                Err(e) => view! { <p class="field-error">{e.to_string()}</p> }.into_any(),
            })}
        </li>
    }
}
