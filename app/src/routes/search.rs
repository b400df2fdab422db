//! `/search`: knowledge search as you type (debounced), filters with counts, highlighted
//! snippets, links to the originals, more like this, pages, history and "did you mean".

use crate::api::search::{more_like_this, record_search_click, search_history, search_knowledge};
use crate::i18n::{Locale, td_string};
use crate::l10n;
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
        let lang = crate::l10n::use_lang();
        view! {
            <Title text=td_string!(lang, search.title) />
            <section class="page search-page">
                <h1>{td_string!(lang, search.title)}</h1>
                <form class="search-bar" role="search" method="get" action="/search" on:submit=move |ev| { ev.prevent_default(); run_now(q.get_untracked()); }>
                    <input id="search-input" name="q" value=q.get_untracked() type="search" placeholder=td_string!(lang, search.placeholder)
                        aria-label=td_string!(lang, search.title) autocomplete="off" prop:value=move || q.get() on:input=on_input />
                    <select id="search-mode" aria-label=td_string!(lang, search.ranking) on:change=move |ev| {
                        mode.set(match event_target_value(&ev).as_str() {
                            "keyword" => SearchMode::Keyword,
                            "vector" => SearchMode::Vector,
                            _ => SearchMode::Hybrid,
                        });
                    }>
                        <option value="hybrid">{td_string!(lang, search.hybrid)}</option>
                        <option value="keyword">{td_string!(lang, search.keyword)}</option>
                        <option value="vector">{td_string!(lang, search.vector)}</option>
                    </select>
                </form>
                <Transition fallback=move || view! { <p class="loading">{td_string!(lang, search.searching)}</p> }>
                    {move || Suspend::new(async move {
                        match results.await {
                            Ok(None) => view! { <History history run_now /> }.into_any(),
                            Ok(Some(resp)) => view! { <Results resp filters offset similar run_now /> }.into_any(),
                            Err(e) => view! { <p class="banner banner-error" role="alert">{l10n::error_text(lang, &e)}</p> }.into_any(),
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
    let lang = crate::l10n::use_lang();
    view! {
        <div class="card">
            <h2>{td_string!(lang, search.recent)}</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(items) if items.is_empty() => view! { <p class="muted">{td_string!(lang, search.empty_history)}</p> }.into_any(),
                        Ok(items) => view! {
                            <ul class="history" id="search-history">
                                {items.into_iter().map(|h| {
                                    let text = h.q.clone();
                                    let n = h.results;
                                    view! { <li><button type="button" class="link" on:click=move |_| run_now(text.clone())>{h.q.clone()}</button>
                                        <span class="muted">" · " {move || crate::plural!(lang, search.results, count = n)}</span></li> }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="muted">{l10n::error_text(lang, &e)}</p> }.into_any(),
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
    let lang = crate::l10n::use_lang();
    let took = resp.took_ms;
    let cached = resp.cached;
    let summary = move || {
        let l = lang;
        let mut parts = vec![
            crate::plural!(lang, search.results, count = total),
            td_string!(lang, search.took, ms = l10n::decimal(l, took, 0)),
        ];
        if cached {
            parts.push(td_string!(l, search.cached).to_string());
        }
        parts.join(" · ")
    };
    let q = resp.q.clone();
    view! {
        // Filters beside the results; on a narrow screen CSS moves the results above them.
        <div class="search-layout">
            <aside class="facets" aria-label=td_string!(lang, search.filters)>
                <FacetGroup facet=Facet::Source values=facets.sources.clone() filters />
                <FacetGroup facet=Facet::Type values=facets.types.clone() filters />
                <FacetGroup facet=Facet::Language values=facets.languages.clone() filters />
                <FacetGroup facet=Facet::Author values=facets.authors.clone() filters />
                <FacetGroup facet=Facet::Label values=facets.labels.clone() filters />
                <UpdatedFacet values=facets.updated.clone() filters />
                <Show when=move || !filters.with(SearchFilters::is_empty)>
                    <button type="button" class="btn btn-small" id="clear-filters" on:click=move |_| filters.set(SearchFilters::default())>{td_string!(lang, search.clear_filters)}</button>
                </Show>
            </aside>
            <div class="results">
                <p class="muted" id="search-summary" data-mode=format!("{:?}", resp.mode).to_lowercase()>{summary}</p>
                {resp.notice.clone().map(|n| view! { <p class="banner" role="status">{n}</p> })}
                {(total == 0).then(|| {
                    let suggestions = resp.suggestions.clone();
                    view! {
                        <div class="card" id="no-results">
                            <p>{move || td_string!(lang, search.nothing_matched, q = q.clone())}</p>
                            {(!suggestions.is_empty()).then(|| view! {
                                <p>{td_string!(lang, search.try_these)} " " {suggestions.into_iter().map(|s| {
                                    // The server marks the "same words, no filters" suggestion with this
                                    // machine suffix; the reader sees it in their language.
                                    let (text, clear) = match s.strip_suffix(" (without filters)") {
                                        Some(t) => (t.to_string(), true),
                                        None => (s.clone(), false),
                                    };
                                    let label = if clear {
                                        td_string!(lang, search.without_filters, q = text.clone()).to_string()
                                    } else {
                                        text.clone()
                                    };
                                    view! { <button type="button" class="link suggestion" on:click=move |_| { if clear { filters.set(SearchFilters::default()); } run_now(text.clone()); }>{label}</button> " " }
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
                    <nav class="pager" aria-label=td_string!(lang, search.result_pages)>
                        <button type="button" class="btn btn-small" disabled=!has_prev on:click=move |_| offset.update(|o| *o = (*o - PAGE).max(0))>{td_string!(lang, search.previous)}</button>
                        <span class="muted">{move || {
                            let l = lang;
                            td_string!(lang, search.range, from = l10n::number(l, shown_from), to = l10n::number(l, shown_to), total = l10n::number(l, total))
                        }}</span>
                        <button type="button" class="btn btn-small" id="next-page" disabled=!has_next on:click=move |_| offset.update(|o| *o += PAGE)>{td_string!(lang, search.next)}</button>
                    </nav>
                </Show>
            </div>
        </div>
    }
}

/// A filter group; `key()` names it in markup (`data-facet`), which tests and styles use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Facet {
    Source,
    Type,
    Language,
    Author,
    Label,
}

impl Facet {
    fn key(self) -> &'static str {
        match self {
            Facet::Source => "Source",
            Facet::Type => "Type",
            Facet::Language => "Language",
            Facet::Author => "Author",
            Facet::Label => "Label",
        }
    }

    fn label(self, l: Locale) -> &'static str {
        match self {
            Facet::Source => td_string!(l, search.facet_source),
            Facet::Type => td_string!(l, search.facet_type),
            Facet::Language => td_string!(l, search.facet_language),
            Facet::Author => td_string!(l, search.facet_author),
            Facet::Label => td_string!(l, search.facet_label),
        }
    }
}

#[component]
fn FacetGroup(
    facet: Facet,
    values: Vec<FacetValue>,
    filters: RwSignal<SearchFilters>,
) -> impl IntoView {
    if values.is_empty() {
        return ().into_any();
    }
    let lang = crate::l10n::use_lang();
    let is_source = facet == Facet::Source;
    let title = facet.key();
    view! {
        <fieldset class="facet">
            <legend>{move || facet.label(lang)}</legend>
            {values.into_iter().map(|v| {
                let value = v.value.clone();
                let value_for_check = value.clone();
                let checked = move || filters.with(|f| {
                    if is_source {
                        value_for_check.parse::<i64>().is_ok_and(|id| f.sources.contains(&id))
                    } else {
                        facet_list(f, facet).contains(&value_for_check)
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
                            let list = facet_list_mut(f, facet);
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
                let days =
                    (l10n::now().timestamp_millis() - t.timestamp_millis()) as f64 / 86_400_000.0;
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
                .then(|| {
                    chrono::DateTime::from_timestamp_millis(
                        l10n::now().timestamp_millis() - days * 86_400_000,
                    )
                })
                .flatten();
        });
    };
    let lang = crate::l10n::use_lang();
    type Label = fn(Locale) -> &'static str;
    let options: [(i64, Label, i64); 4] = [
        (0, |l| td_string!(l, search.any_time), any),
        (7, |l| td_string!(l, search.past_week), week),
        (30, |l| td_string!(l, search.past_month), month),
        (365, |l| td_string!(l, search.past_year), year),
    ];
    view! {
        <fieldset class="facet">
            <legend>{td_string!(lang, search.facet_updated)}</legend>
            {options
                .into_iter()
                .map(|(days, label, n)| view! {
                    <label class="facet-value">
                        <input type="radio" name="updated" prop:checked=move || choice() == days on:change=move |_| pick(days) data-facet="Updated" data-value=days.to_string() />
                        {move || label(lang)}
                        <span class="count">{n}</span>
                    </label>
                })
                .collect_view()}
        </fieldset>
    }
    .into_any()
}

fn facet_list(f: &SearchFilters, facet: Facet) -> &Vec<String> {
    match facet {
        Facet::Type => &f.types,
        Facet::Language => &f.languages,
        Facet::Author => &f.authors,
        Facet::Source | Facet::Label => &f.labels,
    }
}

fn facet_list_mut(f: &mut SearchFilters, facet: Facet) -> &mut Vec<String> {
    match facet {
        Facet::Type => &mut f.types,
        Facet::Language => &mut f.languages,
        Facet::Author => &mut f.authors,
        Facet::Source | Facet::Label => &mut f.labels,
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
    let lang = crate::l10n::use_lang();
    let meta_head = format!(
        "{} · {}{}{}",
        hit.source_name,
        hit.doc_type,
        hit.author.as_ref().map(|a| format!(" · {a}")).unwrap_or_default(),
        hit.language.as_ref().map(|l| format!(" · {l}")).unwrap_or_default(),
    );
    let updated_at = hit.updated_at;
    let meta = move || {
        let date = l10n::date(lang, updated_at);
        format!("{meta_head} · {}", td_string!(lang, search.updated, date))
    };
    let (keyword_rank, vector_rank) = (hit.keyword_rank, hit.vector_rank);
    let why = move || match (keyword_rank, vector_rank) {
        (Some(k), Some(v)) => td_string!(lang, search.why_both, k, v),
        (Some(k), None) => td_string!(lang, search.why_words, k),
        (None, Some(v)) => td_string!(lang, search.why_meaning, v),
        (None, None) => String::new(),
    };
    let score = hit.score;
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
                <span class="muted score" title=why>{move || td_string!(lang, search.score, score = l10n::decimal(lang, score, 4))}</span>
                <button type="button" class="link more-like-this" on:click=move |_| { similar.dispatch(doc); }>{td_string!(lang, search.more_like_this)}</button>
            </div>
            {move || similar_here().map(|r| match r {
                Ok(resp) if resp.hits.is_empty() => view! { <p class="muted">{td_string!(lang, search.nothing_similar)}</p> }.into_any(),
                Ok(resp) => view! {
                    <ul class="similar">
                        {resp.hits.into_iter().map(|h| view! { <li><a href=h.url target="_blank" rel="noopener noreferrer">{h.title}</a> <span class="muted">{h.source_name}</span></li> }).collect_view()}
                    </ul>
                }.into_any(),
                Err(e) => view! { <p class="field-error">{l10n::error_text(lang, &e)}</p> }.into_any(),
            })}
        </li>
    }
}
