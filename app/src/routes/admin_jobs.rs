//! `/admin/jobs`: the job queue for admins — depth, age and throughput per kind, refreshed
//! every few seconds, and every user's jobs by state and kind, with dead letters retried or
//! discarded (both audited).

use crate::api::jobs::{AdminRetryJob, CancelJob, DiscardJob, admin_list_jobs, get_queue_overview};
use crate::components::form::{ErrorBanner, LoadError};
use crate::components::session::use_session;
use crate::components::shell::{AdminTabs, scope_refused};
use crate::components::table::{Pager, human_ms};
use crate::i18n::td_string;
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{Job, JobState, Page, QueueOverview, Scope};
use std::time::Duration;

const PAGE: i64 = 20;
const REFRESH: Duration = Duration::from_secs(5);

/// The admin queue page.
pub struct AdminJobsRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct AdminJobsData {
    state_filter: RwSignal<String>,
    kind_filter: RwSignal<String>,
    offset: RwSignal<i64>,
    tick: RwSignal<u32>,
    overview: Resource<Result<QueueOverview, AppError>>,
    jobs: Resource<Result<Page<Job>, AppError>>,
    retry: ServerAction<AdminRetryJob>,
    discard: ServerAction<DiscardJob>,
    cancel: ServerAction<CancelJob>,
}

impl AdminJobsData {
    fn load() -> Self {
        let state_filter = RwSignal::new(String::from("dead"));
        let kind_filter = RwSignal::new(String::new());
        let offset = RwSignal::new(0i64);
        let tick = RwSignal::new(0u32);
        let retry = ServerAction::<AdminRetryJob>::new();
        let discard = ServerAction::<DiscardJob>::new();
        let cancel = ServerAction::<CancelJob>::new();
        let changed = move || {
            (retry.version().get(), discard.version().get(), cancel.version().get(), tick.get())
        };
        let overview = Resource::new(changed, |_| get_queue_overview());
        let jobs = Resource::new(
            move || (state_filter.get(), kind_filter.get(), offset.get(), changed()),
            |(state, kind, offset, _)| {
                let state = (!state.is_empty()).then_some(state);
                let kind = (!kind.is_empty()).then_some(kind);
                admin_list_jobs(state, kind, PAGE, offset)
            },
        );
        AdminJobsData {
            state_filter,
            kind_filter,
            offset,
            tick,
            overview,
            jobs,
            retry,
            discard,
            cancel,
        }
    }
}

#[lazy_route]
impl LazyRoute for AdminJobsRoute {
    fn data() -> Self {
        AdminJobsRoute
    }

    fn view(_this: Self) -> AnyView {
        // Checked first: a member gets the refusal without firing requests they may not make.
        let session = use_session();
        if !session.has(Scope::Admin) {
            return scope_refused(|l| td_string!(l, shell.admin_jobs), Scope::Admin);
        }
        let this = AdminJobsData::load();
        let AdminJobsData {
            state_filter,
            kind_filter,
            offset,
            tick,
            overview,
            jobs,
            retry,
            discard,
            cancel,
        } = this;
        // Effects only run in the browser: refresh the numbers while the page is open.
        Effect::new(move |_| {
            if let Ok(handle) =
                set_interval_with_handle(move || tick.update(|t| *t = t.wrapping_add(1)), REFRESH)
            {
                on_cleanup(move || handle.clear());
            }
        });
        let error = Signal::derive(move || {
            retry
                .value()
                .get()
                .and_then(Result::err)
                .or_else(|| discard.value().get().and_then(Result::err))
                .or_else(|| cancel.value().get().and_then(Result::err))
        });
        let lang = crate::l10n::use_lang();
        view! {
            <Title text=td_string!(lang, shell.admin_jobs) />
            <section class="page">
                <h1>{td_string!(lang, admin.title)}</h1>
                <AdminTabs current="/admin/jobs" />
                <div class="card">
                    <h2>{td_string!(lang, admin_jobs.queue)}</h2>
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, admin_jobs.loading_queue)}</p> }>
                        {move || Suspend::new(async move {
                            match overview.await {
                                Ok(o) => view! { <Overview overview=o kind_filter offset /> }.into_any(),
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <div class="card">
                    <h2>{td_string!(lang, admin_jobs.jobs)}</h2>
                    <div class="inline-form">
                        <label for="job-state-filter">{td_string!(lang, admin_jobs.state)}</label>
                        <select id="job-state-filter" on:change=move |ev| { offset.set(0); state_filter.set(event_target_value(&ev)); } prop:value=move || state_filter.get()>
                            <option value="">{td_string!(lang, admin_jobs.all)}</option>
                            {JobState::ALL.into_iter().map(|s| view! { <option value=s.as_str()>{move || l10n::job_state(lang, s)}</option> }).collect_view()}
                        </select>
                        <label for="job-kind-filter">{td_string!(lang, admin_jobs.kind)}</label>
                        <input id="job-kind-filter" type="search" placeholder=td_string!(lang, admin_jobs.any_kind) prop:value=move || kind_filter.get()
                            on:change=move |ev| { offset.set(0); kind_filter.set(event_target_value(&ev).trim().to_string()); } />
                    </div>
                    <ErrorBanner error />
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, admin_jobs.loading)}</p> }>
                        {move || Suspend::new(async move {
                            match jobs.await {
                                Ok(page) if page.items.is_empty() => view! { <p class="muted" id="admin-jobs-empty">{td_string!(lang, admin_jobs.none_match)}</p> }.into_any(),
                                Ok(page) => {
                                    let total = page.total;
                                    view! {
                                        <div class="table-scroll">
                                        <table class="table" id="admin-jobs-table">
                                            <thead><tr>
                                                <th>{td_string!(lang, admin_jobs.job)}</th>
                                                <th>{td_string!(lang, admin_jobs.state)}</th>
                                                <th>{td_string!(lang, admin_jobs.owner)}</th>
                                                <th>{td_string!(lang, admin_jobs.attempts)}</th>
                                                <th>{td_string!(lang, admin_jobs.last_error)}</th>
                                                <th><span class="visually-hidden">{td_string!(lang, admin_jobs.actions)}</span></th>
                                            </tr></thead>
                                            <tbody>
                                                {page.items.into_iter().map(|job| view! { <AdminJobRow job retry discard cancel /> }).collect_view()}
                                            </tbody>
                                        </table>
                                        </div>
                                        <Pager offset total page=PAGE />
                                    }.into_any()
                                }
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
            </section>
        }
        .into_any()
    }
}

#[component]
fn Overview(
    overview: QueueOverview,
    kind_filter: RwSignal<String>,
    offset: RwSignal<i64>,
) -> impl IntoView {
    let sum = |f: fn(&model::KindQueue) -> i64| overview.kinds.iter().map(f).sum::<i64>();
    let (queued, running, dead) = (sum(|k| k.queued), sum(|k| k.running), sum(|k| k.dead));
    let per_min = overview.throughput_per_min();
    let window_min = overview.window_secs / 60;
    let oldest = overview.kinds.iter().filter_map(|k| k.oldest_waiting_ms).max();
    let lang = crate::l10n::use_lang();
    let opt = move |v: Option<i64>| v.map(|ms| human_ms(lang, ms)).unwrap_or_else(|| "–".into());
    view! {
        <div class="stats" id="queue-stats">
            <div class="stat"><span class="stat-value" data-stat="queued">{queued}</span><span class="muted">{td_string!(lang, admin_jobs.queued)}</span></div>
            <div class="stat"><span class="stat-value" data-stat="running">{running}</span><span class="muted">{td_string!(lang, admin_jobs.running)}</span></div>
            <div class="stat"><span class="stat-value" data-stat="dead">{dead}</span><span class="muted">{td_string!(lang, admin_jobs.dead_letters)}</span></div>
            <div class="stat"><span class="stat-value" data-stat="throughput">{move || l10n::decimal(lang, per_min, 1)}</span><span class="muted">{move || td_string!(lang, admin_jobs.done_per_min, min = window_min)}</span></div>
            <div class="stat"><span class="stat-value" data-stat="oldest">{move || opt(oldest)}</span><span class="muted">{td_string!(lang, admin_jobs.oldest_waiting)}</span></div>
        </div>
        {if overview.kinds.is_empty() {
            view! { <p class="muted">{td_string!(lang, admin_jobs.none)}</p> }.into_any()
        } else {
            view! {
                <div class="table-scroll">
                <table class="table" id="queue-table">
                    <thead><tr>
                        <th>{td_string!(lang, admin_jobs.kind)}</th>
                        <th>{td_string!(lang, admin_jobs.col_queued)}</th>
                        <th>{td_string!(lang, admin_jobs.col_running)}</th>
                        <th>{td_string!(lang, admin_jobs.col_dead)}</th>
                        <th>{td_string!(lang, admin_jobs.col_oldest)}</th>
                        <th>{td_string!(lang, admin_jobs.col_longest)}</th>
                        <th>{move || td_string!(lang, admin_jobs.col_done, min = window_min)}</th>
                        <th>{td_string!(lang, admin_jobs.col_died)}</th>
                        <th>{td_string!(lang, admin_jobs.col_cancelled)}</th>
                        <th>{td_string!(lang, admin_jobs.col_avg)}</th>
                    </tr></thead>
                    <tbody>
                        {overview.kinds.iter().map(|k| {
                            let kind = k.kind.clone();
                            let (oldest, longest, avg) = (k.oldest_waiting_ms, k.longest_running_ms, k.avg_run_ms);
                            view! {
                                <tr data-kind=k.kind.clone()>
                                    <td><button type="button" class="link" title=td_string!(lang, admin_jobs.show_kind) on:click=move |_| { offset.set(0); kind_filter.set(kind.clone()); }><code>{k.kind.clone()}</code></button></td>
                                    <td data-col="queued">{k.queued}</td>
                                    <td data-col="running">{k.running}</td>
                                    <td data-col="dead">{k.dead}</td>
                                    <td>{move || opt(oldest)}</td>
                                    <td>{move || opt(longest)}</td>
                                    <td data-col="succeeded">{k.succeeded_recent}</td>
                                    <td>{k.dead_recent}</td>
                                    <td>{k.cancelled_recent}</td>
                                    <td>{move || opt(avg)}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        }}
    }
}

#[component]
fn AdminJobRow(
    job: Job,
    retry: ServerAction<AdminRetryJob>,
    discard: ServerAction<DiscardJob>,
    cancel: ServerAction<CancelJob>,
) -> impl IntoView {
    let id = job.id;
    let lang = crate::l10n::use_lang();
    let when = job.finished_at.or(job.started_at).unwrap_or(job.created_at);
    let (state, owner) = (job.state, job.owner_id);
    view! {
        <tr data-job-id=id.to_string()>
            <td>
                <code>{job.kind.clone()}</code>
                " #" {id}
                <br />
                <span class="muted">{move || l10n::date_time(lang, when)}</span>
            </td>
            <td><span class="badge job-state" data-state=job.state.as_str()>{move || l10n::job_state(lang, state)}</span></td>
            <td>{move || owner.map(|id| td_string!(lang, admin_jobs.user, id)).unwrap_or_else(|| td_string!(lang, admin_jobs.system).to_string())}</td>
            <td>{format!("{} / {}", job.attempts, job.max_attempts)}</td>
            <td class="error-cell">{job.last_error.clone().map(|e| view! { <code>{e}</code> })}</td>
            <td class="actions">
                {match job.state {
                    JobState::Dead => view! {
                        <button type="button" class="btn btn-small" on:click=move |_| { retry.dispatch(AdminRetryJob { id }); }>{td_string!(lang, admin_jobs.retry)}</button>
                        <button type="button" class="btn btn-small btn-danger" on:click=move |_| { discard.dispatch(DiscardJob { id }); }>{td_string!(lang, admin_jobs.discard)}</button>
                    }.into_any(),
                    JobState::Cancelled => view! {
                        <button type="button" class="btn btn-small" on:click=move |_| { retry.dispatch(AdminRetryJob { id }); }>{td_string!(lang, admin_jobs.retry)}</button>
                    }.into_any(),
                    JobState::Queued | JobState::Running => view! {
                        <button type="button" class="btn btn-small" on:click=move |_| { cancel.dispatch(CancelJob { id }); }>{td_string!(lang, admin_jobs.cancel)}</button>
                    }.into_any(),
                    JobState::Succeeded => ().into_any(),
                }}
            </td>
        </tr>
    }
}
