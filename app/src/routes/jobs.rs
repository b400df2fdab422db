//! `/jobs`: the user's background jobs with live progress (no reload needed), cancel and retry.

use crate::api::jobs::{CancelJob, RetryJob, StartDemoJob, list_my_jobs};
use crate::components::form::{ErrorBanner, FieldError, FormGate, LoadError};
use crate::components::live::use_live_events;
use crate::i18n::td_string;
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{Job, JobEvent, JobEventKind, JobState, Page};
use std::collections::HashMap;

/// The jobs page.
pub struct JobsRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct JobsData {
    jobs: Resource<Result<Page<Job>, AppError>>,
    start: ServerAction<StartDemoJob>,
    cancel: ServerAction<CancelJob>,
    retry: ServerAction<RetryJob>,
    /// Bumped when a live event changes a job's state, to reload the list.
    reload: RwSignal<u32>,
}

impl JobsData {
    fn load() -> Self {
        let start = ServerAction::<StartDemoJob>::new();
        let cancel = ServerAction::<CancelJob>::new();
        let retry = ServerAction::<RetryJob>::new();
        let reload = RwSignal::new(0u32);
        let jobs = Resource::new(
            move || {
                (start.version().get(), cancel.version().get(), retry.version().get(), reload.get())
            },
            |_| list_my_jobs(50, 0),
        );
        JobsData { jobs, start, cancel, retry, reload }
    }
}

#[lazy_route]
impl LazyRoute for JobsRoute {
    fn data() -> Self {
        JobsRoute
    }

    fn view(_this: Self) -> AnyView {
        let this = JobsData::load();
        let JobsData { jobs, start, cancel, retry, reload } = this;
        let live = use_live_events();
        // Latest live view of each job: progress moves without reloading the list.
        let latest: RwSignal<HashMap<i64, JobEvent>> = RwSignal::new(HashMap::new());
        Effect::new(move |_| {
            let Some(event) = live.latest.get() else { return };
            let Some(model::LivePayload::Job(job)) = event.payload() else { return };
            let changes_state = job.event != JobEventKind::Progress;
            latest.update(|m| {
                m.insert(job.job_id, job);
            });
            if changes_state {
                reload.update(|v| *v += 1);
            }
        });
        let steps = RwSignal::new(String::from("10"));
        let error = Signal::derive(move || {
            start
                .value()
                .get()
                .and_then(Result::err)
                .or_else(|| cancel.value().get().and_then(Result::err))
                .or_else(|| retry.value().get().and_then(Result::err))
        });
        let submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let steps = steps.get_untracked().trim().parse::<i64>().unwrap_or(0);
            start.dispatch(StartDemoJob { steps, step_ms: 300 });
        };
        let lang = crate::l10n::use_lang();
        view! {
            <Title text=td_string!(lang, jobs.title) />
            <section class="page">
                <h1>{td_string!(lang, jobs.title)}</h1>
                <div class="card">
                    <h2>{td_string!(lang, jobs.demo)}</h2>
                    <p class="muted">{td_string!(lang, jobs.demo_text)}</p>
                    <form method="post" class="inline-form" on:submit=submit><FormGate>
                        <label for="demo-steps">{td_string!(lang, jobs.steps)}</label>
                        <input id="demo-steps" type="number" min="1" max="10000" bind:value=steps />
                        <button type="submit" class="btn btn-primary" id="start-demo" disabled=move || start.pending().get()>{td_string!(lang, jobs.start)}</button>
                    </FormGate></form>
                    <FieldError error field="steps" />
                    <ErrorBanner error />
                </div>
                <div class="card">
                    <h2>{td_string!(lang, jobs.yours)}</h2>
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, jobs.loading)}</p> }>
                        {move || Suspend::new(async move {
                            match jobs.await {
                                Ok(page) if page.items.is_empty() => view! { <p class="muted">{td_string!(lang, jobs.none)}</p> }.into_any(),
                                Ok(page) => view! {
                                    <table class="table" id="jobs-table">
                                        <thead><tr>
                                            <th>{td_string!(lang, jobs.job)}</th>
                                            <th>{td_string!(lang, jobs.state)}</th>
                                            <th>{td_string!(lang, jobs.progress)}</th>
                                            <th><span class="visually-hidden">{td_string!(lang, jobs.actions)}</span></th>
                                        </tr></thead>
                                        <tbody>
                                            {page.items.into_iter().map(|job| view! { <JobRow job latest cancel retry /> }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any(),
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
fn JobRow(
    job: Job,
    latest: RwSignal<HashMap<i64, JobEvent>>,
    cancel: ServerAction<CancelJob>,
    retry: ServerAction<RetryJob>,
) -> impl IntoView {
    let id = job.id;
    let lang = crate::l10n::use_lang();
    let created = job.created_at;
    let stored_state = job.state;
    let stored_progress = job.progress.clone();
    let live = move || latest.with(|m| m.get(&id).cloned());
    let state = move || live().map(|e| e.state).unwrap_or(stored_state);
    let percent = move || {
        let progress = live().and_then(|e| e.progress).unwrap_or_else(|| stored_progress.clone());
        match state() {
            JobState::Succeeded => 100,
            _ => progress.percent.unwrap_or(0).clamp(0, 100),
        }
    };
    let message = move || {
        live()
            .and_then(|e| e.progress)
            .and_then(|p| p.message)
            .or_else(|| job.progress.message.clone())
    };
    view! {
        <tr data-job-id=id.to_string()>
            <td>
                <strong>{job.kind.clone()}</strong>
                " #" {id}
                <br />
                <span class="muted">{move || l10n::date_time(lang, created)}</span>
            </td>
            <td><span class="badge job-state" data-state=move || state().as_str()>{move || l10n::job_state(lang, state())}</span></td>
            <td class="progress-cell">
                <progress class="progress" max="100" value=move || percent().to_string() aria-label=move || td_string!(lang, jobs.progress_of, id)></progress>
                <span class="muted">{message}</span>
                {job.last_error.clone().map(|e| view! { <p class="field-error">{e}</p> })}
            </td>
            <td>
                {move || match state() {
                    JobState::Queued | JobState::Running => view! {
                        <button type="button" class="btn btn-small" on:click=move |_| { cancel.dispatch(CancelJob { id }); }>{td_string!(lang, jobs.cancel)}</button>
                    }.into_any(),
                    JobState::Dead | JobState::Cancelled => view! {
                        <button type="button" class="btn btn-small" on:click=move |_| { retry.dispatch(RetryJob { id }); }>{td_string!(lang, jobs.retry)}</button>
                    }.into_any(),
                    JobState::Succeeded => ().into_any(),
                }}
            </td>
        </tr>
    }
}
