//! `/admin/jobs`: the job queue for admins — depth, age and throughput per kind, refreshed
//! every few seconds, and every user's jobs by state and kind, with dead letters retried or
//! discarded (both audited).

use crate::api::jobs::{AdminRetryJob, CancelJob, DiscardJob, admin_list_jobs, get_queue_overview};
use crate::components::form::{ErrorBanner, LoadError};
use crate::components::session::use_session;
use crate::components::shell::{AdminTabs, scope_refused};
use crate::components::table::{Pager, human_ms};
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
            return scope_refused("Job queue", Scope::Admin);
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
        view! {
            <Title text="Job queue" />
            <section class="page">
                <h1>"Admin"</h1>
                <AdminTabs current="/admin/jobs" />
                <div class="card">
                    <h2>"Queue"</h2>
                    <Transition fallback=|| view! { <p class="loading">"Loading the queue…"</p> }>
                        {move || Suspend::new(async move {
                            match overview.await {
                                Ok(o) => view! { <Overview overview=o kind_filter offset /> }.into_any(),
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <div class="card">
                    <h2>"Jobs"</h2>
                    <div class="inline-form">
                        <label for="job-state-filter">"State"</label>
                        <select id="job-state-filter" on:change=move |ev| { offset.set(0); state_filter.set(event_target_value(&ev)); } prop:value=move || state_filter.get()>
                            <option value="">"all"</option>
                            {JobState::ALL.into_iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                        </select>
                        <label for="job-kind-filter">"Kind"</label>
                        <input id="job-kind-filter" type="search" placeholder="any kind" prop:value=move || kind_filter.get()
                            on:change=move |ev| { offset.set(0); kind_filter.set(event_target_value(&ev).trim().to_string()); } />
                    </div>
                    <ErrorBanner error />
                    <Transition fallback=|| view! { <p class="loading">"Loading jobs…"</p> }>
                        {move || Suspend::new(async move {
                            match jobs.await {
                                Ok(page) if page.items.is_empty() => view! { <p class="muted" id="admin-jobs-empty">"No jobs match."</p> }.into_any(),
                                Ok(page) => {
                                    let total = page.total;
                                    view! {
                                        <table class="table" id="admin-jobs-table">
                                            <thead><tr><th>"Job"</th><th>"State"</th><th>"Owner"</th><th>"Attempts"</th><th>"Last error"</th><th></th></tr></thead>
                                            <tbody>
                                                {page.items.into_iter().map(|job| view! { <AdminJobRow job retry discard cancel /> }).collect_view()}
                                            </tbody>
                                        </table>
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
    let opt = |v: Option<i64>| v.map(human_ms).unwrap_or_else(|| "–".into());
    view! {
        <div class="stats" id="queue-stats">
            <div class="stat"><span class="stat-value" data-stat="queued">{queued}</span><span class="muted">"queued"</span></div>
            <div class="stat"><span class="stat-value" data-stat="running">{running}</span><span class="muted">"running"</span></div>
            <div class="stat"><span class="stat-value" data-stat="dead">{dead}</span><span class="muted">"dead letters"</span></div>
            <div class="stat"><span class="stat-value" data-stat="throughput">{format!("{per_min:.1}")}</span><span class="muted">{format!("done / min (last {window_min} min)")}</span></div>
            <div class="stat"><span class="stat-value" data-stat="oldest">{opt(oldest)}</span><span class="muted">"oldest waiting"</span></div>
        </div>
        {if overview.kinds.is_empty() {
            view! { <p class="muted">"No jobs yet."</p> }.into_any()
        } else {
            view! {
                <table class="table" id="queue-table">
                    <thead><tr>
                        <th>"Kind"</th><th>"Queued"</th><th>"Running"</th><th>"Dead"</th><th>"Oldest waiting"</th>
                        <th>"Longest running"</th><th>{format!("Done ({window_min} min)")}</th><th>"Died"</th><th>"Cancelled"</th><th>"Avg run"</th>
                    </tr></thead>
                    <tbody>
                        {overview.kinds.iter().map(|k| {
                            let kind = k.kind.clone();
                            view! {
                                <tr data-kind=k.kind.clone()>
                                    <td><button type="button" class="link" title="Show this kind's jobs" on:click=move |_| { offset.set(0); kind_filter.set(kind.clone()); }><code>{k.kind.clone()}</code></button></td>
                                    <td data-col="queued">{k.queued}</td>
                                    <td data-col="running">{k.running}</td>
                                    <td data-col="dead">{k.dead}</td>
                                    <td>{opt(k.oldest_waiting_ms)}</td>
                                    <td>{opt(k.longest_running_ms)}</td>
                                    <td data-col="succeeded">{k.succeeded_recent}</td>
                                    <td>{k.dead_recent}</td>
                                    <td>{k.cancelled_recent}</td>
                                    <td>{opt(k.avg_run_ms)}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
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
    let when = job.finished_at.or(job.started_at).unwrap_or(job.created_at);
    view! {
        <tr data-job-id=id.to_string()>
            <td>
                <code>{job.kind.clone()}</code>
                " #" {id}
                <br />
                <span class="muted">{when.format("%Y-%m-%d %H:%M:%S").to_string()}</span>
            </td>
            <td><span class="badge job-state" data-state=job.state.as_str()>{job.state.as_str()}</span></td>
            <td>{job.owner_id.map(|o| format!("user {o}")).unwrap_or_else(|| "system".into())}</td>
            <td>{format!("{} / {}", job.attempts, job.max_attempts)}</td>
            <td class="error-cell">{job.last_error.clone().map(|e| view! { <code>{e}</code> })}</td>
            <td class="actions">
                {match job.state {
                    JobState::Dead => view! {
                        <button type="button" class="btn btn-small" on:click=move |_| { retry.dispatch(AdminRetryJob { id }); }>"Retry"</button>
                        <button type="button" class="btn btn-small btn-danger" on:click=move |_| { discard.dispatch(DiscardJob { id }); }>"Discard"</button>
                    }.into_any(),
                    JobState::Cancelled => view! {
                        <button type="button" class="btn btn-small" on:click=move |_| { retry.dispatch(AdminRetryJob { id }); }>"Retry"</button>
                    }.into_any(),
                    JobState::Queued | JobState::Running => view! {
                        <button type="button" class="btn btn-small" on:click=move |_| { cancel.dispatch(CancelJob { id }); }>"Cancel"</button>
                    }.into_any(),
                    JobState::Succeeded => ().into_any(),
                }}
            </td>
        </tr>
    }
}
