//! `/`: where a signed-in user lands. It shows their real state (sources and their sync health,
//! searches, spend against budget, running jobs, recent activity) and, while something is still
//! missing, the first steps in order, each a link. Gaps only an admin can close are named with
//! where to close them for admins, and explained to members.

use crate::api::dashboard::dashboard_overview;
use crate::components::form::LoadError;
use crate::components::live::use_live_events;
use crate::components::session::use_session;
use crate::i18n::{Locale, td_string};
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{FirstStep, Job, JobEventKind, LivePayload, Overview, SourceHealth};

/// The dashboard.
pub struct DashboardRoute;

/// A text in the reader's language.
type Text = fn(Locale) -> &'static str;

struct DashboardData {
    overview: Resource<Result<Overview, AppError>>,
}

impl DashboardData {
    /// Reads the overview again whenever a job of the user changes state (a sync finishing
    /// changes the sources' health too); progress ticks change nothing shown here.
    fn load() -> Self {
        let live = use_live_events();
        let reload = RwSignal::new(0u32);
        Effect::new(move |_| {
            let Some(event) = live.latest.get() else { return };
            if let Some(LivePayload::Job(job)) = event.payload()
                && job.event != JobEventKind::Progress
            {
                reload.update(|v| *v += 1);
            }
        });
        let overview = Resource::new(move || reload.get(), |_| dashboard_overview());
        DashboardData { overview }
    }
}

#[lazy_route]
impl LazyRoute for DashboardRoute {
    fn data() -> Self {
        DashboardRoute
    }

    fn view(_this: Self) -> AnyView {
        let DashboardData { overview } = DashboardData::load();
        let session = use_session();
        let lang = crate::l10n::use_lang();
        let name = move || session.current().map(|u| u.display_name).unwrap_or_default();
        view! {
            <Title text=td_string!(lang, dashboard.title) />
            <section class="page">
                <h1 id="dashboard-title">{move || td_string!(lang, dashboard.welcome, name = name())}</h1>
                <p class="muted">{td_string!(lang, dashboard.tagline)}</p>
                <Transition fallback=move || view! { <p class="loading">{td_string!(lang, loading)}</p> }>
                    {move || Suspend::new(async move {
                        match overview.await {
                            Ok(o) => view! { <State o /> }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        }
                    })}
                </Transition>
                <Areas />
            </section>
        }
        .into_any()
    }
}

#[component]
fn State(o: Overview) -> impl IntoView {
    let steps = o.open_steps();
    let admin = o.is_admin;
    view! {
        {(!steps.is_empty()).then(|| view! { <FirstSteps steps admin /> })}
        <div class="grid dashboard-state">
            <SourcesCard sources=o.sources />
            <SearchesCard searches=o.searches />
            <SpendCard budgets=o.budgets />
            <JobsCard running=o.running_jobs recent=o.recent_jobs />
        </div>
    }
}

#[component]
fn FirstSteps(steps: Vec<FirstStep>, admin: bool) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let item = move |step: FirstStep| {
        let (id, href, title, text): (_, _, Text, Text) = match (step, admin) {
            (FirstStep::AddSource, true) => (
                "step-source",
                "/sources",
                |l| td_string!(l, dashboard.step_source),
                |l| td_string!(l, dashboard.step_source_text),
            ),
            (FirstStep::AddSource, false) => (
                "step-source",
                "/sources",
                |l| td_string!(l, dashboard.step_source),
                |l| td_string!(l, dashboard.step_source_member),
            ),
            (FirstStep::Search, _) => (
                "step-search",
                "/search",
                |l| td_string!(l, dashboard.step_search),
                |l| td_string!(l, dashboard.step_search_text),
            ),
            (FirstStep::ConfigureModel, true) => (
                "step-model",
                "/admin/llm",
                |l| td_string!(l, dashboard.step_model),
                |l| td_string!(l, dashboard.step_model_text),
            ),
            (FirstStep::ConfigureModel, false) => (
                "step-model",
                "",
                |l| td_string!(l, dashboard.step_model),
                |l| td_string!(l, dashboard.step_model_member),
            ),
        };
        view! {
            <li id=id>
                <strong>{move || title(lang)}</strong>
                <p class="muted">{move || text(lang)}</p>
                {(!href.is_empty()).then(|| view! {
                    <A href=href attr:class="btn btn-primary btn-small">{td_string!(lang, dashboard.go)}</A>
                })}
            </li>
        }
    };
    view! {
        <section class="card first-steps" id="first-steps" aria-labelledby="first-steps-title">
            <h2 id="first-steps-title">{td_string!(lang, dashboard.first_steps)}</h2>
            <p class="muted">{td_string!(lang, dashboard.first_steps_intro)}</p>
            <ol class="steps">{steps.into_iter().map(item).collect_view()}</ol>
        </section>
    }
}

#[component]
fn SourcesCard(sources: Vec<SourceHealth>) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let empty = sources.is_empty();
    let row = move |s: SourceHealth| {
        let (class, status): (&str, Text) = if !s.enabled {
            ("badge", |l| td_string!(l, dashboard.source_disabled))
        } else if s.failing() {
            ("badge badge-error", |l| td_string!(l, dashboard.source_failed))
        } else {
            match s.last_status.as_deref() {
                Some("running") => ("badge", |l| td_string!(l, job_state.running)),
                Some("cancelled") => ("badge", |l| td_string!(l, job_state.cancelled)),
                Some(_) => ("badge badge-ok", |l| td_string!(l, dashboard.source_ok)),
                None => ("badge", |l| td_string!(l, dashboard.source_never_synced)),
            }
        };
        let docs = s.documents;
        view! {
            <li>
                <span>{s.name}</span>
                <span class="muted">{move || crate::plural!(lang, dashboard.documents, count = docs)}</span>
                <span class=class>{move || status(lang)}</span>
            </li>
        }
    };
    view! {
        <section class="card" id="dash-sources">
            <h2><A href="/sources">{td_string!(lang, dashboard.sources_heading)}</A></h2>
            {empty.then(|| view! { <p class="muted">{td_string!(lang, dashboard.no_sources)}</p> })}
            <ul class="plain-list">{sources.into_iter().take(6).map(row).collect_view()}</ul>
        </section>
    }
}

#[component]
fn SearchesCard(searches: Vec<model::SearchHistoryEntry>) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let empty = searches.is_empty();
    let now = l10n::now();
    view! {
        <section class="card" id="dash-searches">
            <h2><A href="/search">{td_string!(lang, dashboard.searches_heading)}</A></h2>
            {empty.then(|| view! { <p class="muted">{td_string!(lang, dashboard.no_searches)}</p> })}
            <ul class="plain-list">
                {searches
                    .into_iter()
                    .map(|s| {
                        let href = format!("/search?q={}", crate::components::session::encode_next(&s.q));
                        let at = s.at;
                        view! {
                            <li>
                                <A href=href>{s.q}</A>
                                <span class="muted">{move || l10n::ago(lang, at, now)}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn SpendCard(budgets: Vec<model::BudgetStatus>) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let empty = budgets.is_empty();
    view! {
        <section class="card" id="dash-spend">
            <h2><A href="/usage">{td_string!(lang, dashboard.spend_heading)}</A></h2>
            {empty.then(|| view! { <p class="muted">{td_string!(lang, dashboard.no_budget)}</p> })}
            <ul class="plain-list">
                {budgets
                    .into_iter()
                    .map(|b| {
                        let percent = b.percent;
                        let global = b.budget.is_global();
                        let period = b.period.clone();
                        let title = move || l10n::budget_title(lang, global, &period);
                        let line = move || {
                            let l = lang;
                            td_string!(lang,
                                dashboard.spent_of,
                                spent = l10n::usd(l, b.spent_nanos),
                                limit = l10n::usd(l, b.limit_nanos),
                                percent
                            )
                        };
                        view! {
                            <li>
                                <strong>{title}</strong>
                                <span>{line}</span>
                                <meter min="0" max="100" value=percent.clamp(0, 100) high="80" aria-label=line></meter>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn JobsCard(running: Vec<Job>, recent: Vec<Job>) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let now = l10n::now();
    let no_running = running.is_empty();
    let no_recent = recent.is_empty();
    let row = move |j: Job| {
        let state = j.state;
        let at = j.finished_at.unwrap_or(j.created_at);
        view! {
            <li>
                <span>{j.kind}</span>
                <span class="badge">{move || l10n::job_state(lang, state)}</span>
                <span class="muted">{move || l10n::ago(lang, at, now)}</span>
            </li>
        }
    };
    view! {
        <section class="card" id="dash-jobs">
            <h2><A href="/jobs">{td_string!(lang, dashboard.jobs_heading)}</A></h2>
            {no_running.then(|| view! { <p class="muted">{td_string!(lang, dashboard.no_running_jobs)}</p> })}
            <ul class="plain-list">{running.into_iter().map(row).collect_view()}</ul>
            <h3>{td_string!(lang, dashboard.recent_heading)}</h3>
            {no_recent.then(|| view! { <p class="muted">{td_string!(lang, dashboard.no_activity)}</p> })}
            <ul class="plain-list">{recent.into_iter().map(row).collect_view()}</ul>
        </section>
    }
}

/// The areas of the workbench; `false`: on its way (an honest placeholder page).
#[component]
fn Areas() -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let areas: [(&str, Text, Text, bool); 6] = [
        ("/search", |l| td_string!(l, nav.search), |l| td_string!(l, dashboard.area_search), true),
        (
            "/sources",
            |l| td_string!(l, nav.sources),
            |l| td_string!(l, dashboard.area_sources),
            true,
        ),
        ("/usage", |l| td_string!(l, nav.usage), |l| td_string!(l, dashboard.area_usage), true),
        ("/jobs", |l| td_string!(l, nav.jobs), |l| td_string!(l, dashboard.area_jobs), true),
        ("/rfcs", |l| td_string!(l, nav.rfcs), |l| td_string!(l, dashboard.area_rfcs), true),
        (
            "/code-docs",
            |l| td_string!(l, nav.code_docs),
            |l| td_string!(l, dashboard.area_code_docs),
            false,
        ),
    ];
    view! {
        <h2 class="section-title">{td_string!(lang, dashboard.areas)}</h2>
        <div class="grid">
            {areas
                .into_iter()
                .map(|(href, title, text, built)| {
                    view! {
                        <A href=href attr:class="card tile">
                            <h3>{move || title(lang)}</h3>
                            <p class="muted">{move || text(lang)}</p>
                            {(!built).then(|| view! { <span class="badge">{td_string!(lang, placeholder.not_built)}</span> })}
                        </A>
                    }
                })
                .collect_view()}
        </div>
    }
}
