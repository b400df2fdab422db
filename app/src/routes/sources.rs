//! `/sources`: the knowledge sources the user can see — add one (files for everyone; Confluence,
//! Jira and GitLab for admins) with a connection test, upload files, sync now with live progress
//! (processed / total, rate, ETA, errors), and each source's run history with its log.

use crate::api::sources::{
    CreateSource, DeleteSource, SyncSource, TestSource, list_sources, list_sync_runs,
};
use crate::components::form::{ErrorBanner, FormGate, LoadError, ValidationList};
use crate::components::live::use_live_events;
use crate::i18n::{Locale, td_string};
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{LivePayload, Source, SourceForm, SourceKind, SyncProgress, SyncRun};
use std::collections::HashMap;

/// The sources page.
pub struct SourcesRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct SourcesData {
    sources: Resource<Result<Vec<Source>, AppError>>,
    create: ServerAction<CreateSource>,
    test: ServerAction<TestSource>,
    sync: ServerAction<SyncSource>,
    delete: ServerAction<DeleteSource>,
    reload: RwSignal<u32>,
}

impl SourcesData {
    fn load() -> Self {
        let create = ServerAction::<CreateSource>::new();
        let test = ServerAction::<TestSource>::new();
        let sync = ServerAction::<SyncSource>::new();
        let delete = ServerAction::<DeleteSource>::new();
        let reload = RwSignal::new(0u32);
        let sources = Resource::new(
            move || {
                (create.version().get(), sync.version().get(), delete.version().get(), reload.get())
            },
            |_| list_sources(),
        );
        SourcesData { sources, create, test, sync, delete, reload }
    }
}

#[lazy_route]
impl LazyRoute for SourcesRoute {
    fn data() -> Self {
        SourcesRoute
    }

    fn view(_this: Self) -> AnyView {
        let this = SourcesData::load();
        let SourcesData { sources, create, test, sync, delete, reload } = this;
        let live = use_live_events();
        let progress: RwSignal<HashMap<i64, SyncProgress>> = RwSignal::new(HashMap::new());
        // Upload results per source outlive the cards, which re-render when the list reloads.
        let uploads: RwSignal<HashMap<i64, Upload>> = RwSignal::new(HashMap::new());
        let lang = crate::l10n::use_lang();
        Effect::new(move |_| {
            let Some(event) = live.latest.get() else { return };
            let Some(LivePayload::Sync(p)) = event.payload() else { return };
            let finished = p.status != "running";
            progress.update(|m| {
                m.insert(p.source_id, p);
            });
            if finished {
                reload.update(|v| *v += 1);
            }
        });
        view! {
            <Title text=td_string!(lang, sources.title) />
            <section class="page">
                <h1>{td_string!(lang, sources.heading)}</h1>
                <p class="muted">{td_string!(lang, sources.intro)}</p>
                <AddSource create test />
                <Transition fallback=move || view! { <p class="loading">{td_string!(lang, sources.loading)}</p> }>
                    {move || Suspend::new(async move {
                        match sources.await {
                            Ok(list) if list.is_empty() => view! { <p class="muted" id="no-sources">{td_string!(lang, sources.none)}</p> }.into_any(),
                            Ok(list) => view! {
                                <div class="sources" id="sources">
                                    {list.into_iter().map(|source| view! { <SourceCard source progress uploads sync delete reload /> }).collect_view()}
                                </div>
                            }.into_any(),
                            Err(e) => view! { <LoadError error=e /> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        }
        .into_any()
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

#[component]
fn AddSource(create: ServerAction<CreateSource>, test: ServerAction<TestSource>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(String::from("files"));
    let visibility = RwSignal::new(String::from("owner"));
    let members = RwSignal::new(String::new());
    let schedule = RwSignal::new(String::new());
    let base_url = RwSignal::new(String::new());
    let deployment = RwSignal::new(String::from("cloud"));
    let email = RwSignal::new(String::new());
    let keys = RwSignal::new(String::new());
    let jql = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let form = move || {
        let k = kind.get_untracked();
        let mut config = serde_json::Map::new();
        if k != "files" {
            config.insert("base_url".into(), base_url.get_untracked().trim().into());
            let list = split_list(&keys.get_untracked());
            match k.as_str() {
                "confluence" => {
                    config.insert("deployment".into(), deployment.get_untracked().into());
                    config.insert("spaces".into(), list.into());
                }
                "jira" => {
                    config.insert("deployment".into(), deployment.get_untracked().into());
                    config.insert("projects".into(), list.into());
                    let j = jql.get_untracked();
                    if !j.trim().is_empty() {
                        config.insert("jql".into(), j.trim().into());
                    }
                }
                _ => {
                    config.insert("projects".into(), list.into());
                }
            }
            let e = email.get_untracked();
            if !e.trim().is_empty() && k != "gitlab" {
                config.insert("email".into(), e.trim().into());
            }
        }
        let s = secret.get_untracked();
        let sched = schedule.get_untracked();
        SourceForm {
            name: name.get_untracked(),
            kind: k,
            config: serde_json::Value::Object(config),
            secret: (!s.is_empty()).then_some(s),
            visibility: visibility.get_untracked(),
            members: split_list(&members.get_untracked()),
            schedule: (!sched.trim().is_empty()).then_some(sched),
            enabled: true,
        }
    };
    let error = Signal::derive(move || {
        create
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| test.value().get().and_then(Result::err))
    });
    let tested = move || test.value().get().and_then(Result::ok);
    Effect::new(move |_| {
        if create.value().get().is_some_and(|r| r.is_ok()) {
            name.set(String::new());
            secret.set(String::new());
        }
    });
    let is_connector = move || kind.get() != "files";
    let lang = crate::l10n::use_lang();
    // Brand names stay as they are in both languages.
    view! {
        <div class="card">
            <h2>{td_string!(lang, sources.add)}</h2>
            <form method="post" class="stack" id="add-source" on:submit=move |ev| { ev.prevent_default(); create.dispatch(CreateSource { form: form() }); }><FormGate>
                <div class="grid-2">
                    <label>{td_string!(lang, sources.name)} <input id="source-name" required maxlength="80" bind:value=name /></label>
                    <label>{td_string!(lang, sources.kind)}
                        <select id="source-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                            <option value="files">{td_string!(lang, sources.kind_files)}</option>
                            <option value="confluence">{SourceKind::Confluence.label()}</option>
                            <option value="jira">{SourceKind::Jira.label()}</option>
                            <option value="gitlab">{SourceKind::Gitlab.label()}</option>
                        </select>
                    </label>
                    <label>{td_string!(lang, sources.who_sees)}
                        <select id="source-visibility" on:change=move |ev| visibility.set(event_target_value(&ev))>
                            <option value="owner">{td_string!(lang, sources.only_me)}</option>
                            <option value="members">{td_string!(lang, sources.me_and_people)}</option>
                            <option value="everyone">{td_string!(lang, sources.everyone)}</option>
                        </select>
                    </label>
                    // The list of people only matters when they are who sees it.
                    <Show when=move || visibility.get() == "members">
                        <label>{td_string!(lang, sources.people)} <input id="source-members" bind:value=members /></label>
                    </Show>
                </div>
                <Show when=is_connector>
                    <div class="grid-2">
                        <label>{td_string!(lang, sources.base_url)} <input id="source-base-url" type="url" placeholder="https://acme.atlassian.net/wiki" bind:value=base_url /></label>
                        <Show when=move || kind.get() != "gitlab">
                            <label>{td_string!(lang, sources.deployment)}
                                <select id="source-deployment" on:change=move |ev| deployment.set(event_target_value(&ev))>
                                    <option value="cloud">{td_string!(lang, sources.cloud)}</option>
                                    <option value="data_center">{td_string!(lang, sources.data_center)}</option>
                                </select>
                            </label>
                            <label>{td_string!(lang, sources.account_email)} <input id="source-email" type="email" bind:value=email /></label>
                        </Show>
                        <label>{move || match kind.get().as_str() { "confluence" => td_string!(lang, sources.space_keys), "jira" => td_string!(lang, sources.project_keys), _ => td_string!(lang, sources.gitlab_projects) }}
                            <input id="source-keys" placeholder="ENG, OPS" bind:value=keys />
                        </label>
                        <Show when=move || kind.get() == "jira">
                            <label>{td_string!(lang, sources.jql)} <input id="source-jql" bind:value=jql /></label>
                        </Show>
                        <label>{td_string!(lang, sources.api_token)} <input id="source-secret" type="password" autocomplete="off" bind:value=secret /></label>
                        <label>{td_string!(lang, sources.schedule)} <input id="source-schedule" placeholder="0 */30 * * * *" bind:value=schedule /></label>
                    </div>
                </Show>
                <div class="row">
                    <Show when=is_connector>
                        <button type="button" class="btn" id="test-source" disabled=move || test.pending().get()
                            on:click=move |_| { test.dispatch(TestSource { id: None, form: form() }); }>{td_string!(lang, sources.test)}</button>
                    </Show>
                    <button type="submit" class="btn btn-primary" id="create-source" disabled=move || create.pending().get()>{td_string!(lang, sources.create)}</button>
                </div>
                {move || tested().map(|m| view! { <p class="banner banner-ok" role="status" id="test-result">{m}</p> })}
                <ValidationList error />
                <ErrorBanner error />
            </FormGate></form>
        </div>
    }
}

#[component]
fn SourceCard(
    source: Source,
    progress: RwSignal<HashMap<i64, SyncProgress>>,
    uploads: RwSignal<HashMap<i64, Upload>>,
    sync: ServerAction<SyncSource>,
    delete: ServerAction<DeleteSource>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let id = source.id;
    let lang = crate::l10n::use_lang();
    let live = move || progress.with(|m| m.get(&id).cloned());
    // The machine status (`data-status`, for styles and tests) and its words.
    let status = {
        let stored = source.last_status.clone().unwrap_or_else(|| "never synced".into());
        move || live().map(|p| p.status).unwrap_or_else(|| stored.clone())
    };
    let status_words = {
        let status = status.clone();
        move || sync_status(lang, &status())
    };
    let show_runs = RwSignal::new(false);
    let runs = Resource::new(
        move || (show_runs.get(), reload.get()),
        move |(show, _)| async move { if show { list_sync_runs(id).await } else { Ok(Vec::new()) } },
    );
    let input = NodeRef::<leptos::html::Input>::new();
    let on_upload = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let Some(el) = input.get() else { return };
            leptos::task::spawn_local(async move {
                uploads.update(|m| {
                    m.insert(id, Upload::Sending);
                });
                let r = upload_file(id, el).await;
                // What the sync said before this upload is not about this file.
                progress.update(|m| {
                    m.remove(&id);
                });
                uploads.update(|m| {
                    m.insert(id, r);
                });
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (input, uploads);
    };
    let kind = source.kind;
    let visibility = source.visibility;
    let people = source.members.join(", ");
    let owner = source.owner_email.clone();
    let (documents, chunks) = (source.documents, source.chunks);
    let last_sync_at = source.last_sync_at;
    let schedule = source.schedule.clone();
    let facts = move || {
        let l = lang;
        let mut parts = vec![
            crate::plural!(lang, sources.documents, count = documents),
            crate::plural!(lang, sources.chunks, count = chunks),
            match visibility {
                model::Visibility::Everyone => td_string!(l, sources.seen_everyone).to_string(),
                model::Visibility::Members => {
                    td_string!(lang, sources.seen_members, people = people.clone())
                }
                model::Visibility::Owner => {
                    td_string!(lang, sources.seen_owner, owner = owner.clone())
                }
            },
        ];
        if let Some(at) = last_sync_at {
            parts.push(td_string!(lang, sources.last_sync, at = l10n::date_time(l, at)));
        }
        if let Some(cron) = schedule.clone() {
            parts.push(td_string!(lang, sources.schedule_is, cron));
        }
        parts.join(" · ")
    };
    let name = source.name.clone();
    let upload_message = {
        let status = status.clone();
        move || {
            let upload = uploads.with(|m| m.get(&id).cloned())?;
            let l = lang;
            Some(match upload {
                Upload::Sending => Ok(td_string!(l, sources.uploading).to_string()),
                Upload::Failed(m) => Err(m.message(l)),
                Upload::Sent(name) => match live().map(|_| status()).as_deref() {
                    Some("succeeded") => Ok(td_string!(lang, sources.uploaded_indexed, name)),
                    Some("failed" | "dead" | "cancelled") => {
                        Err(td_string!(lang, sources.uploaded_failed, name))
                    }
                    _ => Ok(td_string!(lang, sources.uploaded_indexing, name)),
                },
            })
        }
    };
    view! {
        <article class="card source" data-source-id=id.to_string() data-status=status.clone()>
            <header class="row">
                <h3>{source.name.clone()}</h3>
                <span class="badge">{move || if kind == SourceKind::Files { td_string!(lang, sources.kind_files) } else { kind.label() }}</span>
                <span class="badge source-status" data-status=status.clone()>{status_words}</span>
            </header>
            <p class="muted">{facts}</p>
            {source.last_error.clone().filter(|_| source.last_status.as_deref() != Some("succeeded")).map(|e| view! { <p class="field-error">{e}</p> })}
            {move || live().filter(|p| p.status == "running").map(|p| {
                let total = p.counts.total.unwrap_or(0).max(p.counts.processed);
                let percent = if total > 0 { p.counts.processed * 100 / total } else { 0 };
                let l = lang;
                let mut line = vec![td_string!(lang,
                    sources.progress,
                    processed = l10n::number(l, p.counts.processed),
                    total = p.counts.total.map(|t| l10n::number(l, t)).unwrap_or_else(|| "?".into()),
                    rate = l10n::decimal(l, p.rate, 1)
                )];
                if let Some(secs) = p.eta_secs {
                    line.push(td_string!(lang, sources.eta, secs = l10n::decimal(l, secs, 0)));
                }
                line.push(crate::plural!(lang, sources.errors, count = p.counts.errors));
                let label = td_string!(lang, sources.progress_label, name = name.clone());
                view! {
                    <div class="sync-progress" role="status">
                        <progress class="progress" max="100" value=percent.to_string() aria-label=label></progress>
                        <span class="muted">{line.join(" · ")}</span>
                    </div>
                }
            })}
            <div class="row">
                <Show when=move || kind == SourceKind::Files && source.can_manage>
                    <input type="file" node_ref=input class="upload-input" aria-label=td_string!(lang, sources.file_to_upload)
                        accept=".md,.markdown,.txt,.html,.htm,.pdf,.docx" />
                    <button type="button" class="btn btn-small upload-button" on:click=on_upload>{td_string!(lang, sources.upload)}</button>
                </Show>
                <Show when=move || source.can_manage>
                    <button type="button" class="btn btn-small sync-now" on:click=move |_| { sync.dispatch(SyncSource { id }); }>{td_string!(lang, sources.sync_now)}</button>
                </Show>
                <button type="button" class="btn btn-small show-runs" on:click=move |_| show_runs.update(|s| *s = !*s)>
                    {move || if show_runs.get() { td_string!(lang, sources.hide_history) } else { td_string!(lang, sources.history) }}
                </button>
                <Show when=move || source.can_manage>
                    <button type="button" class="btn btn-small btn-danger" on:click=move |_| { delete.dispatch(DeleteSource { id }); }>{td_string!(lang, sources.delete)}</button>
                </Show>
            </div>
            {move || upload_message().map(|r| match r {
                Ok(m) => view! { <p class="banner banner-ok upload-result" role="status">{m}</p> }.into_any(),
                Err(m) => view! { <p class="banner banner-error upload-result" role="alert">{m}</p> }.into_any(),
            })}
            <Show when=move || show_runs.get()>
                <Suspense fallback=move || view! { <p class="loading">{td_string!(lang, sources.loading_history)}</p> }>
                    {move || Suspend::new(async move {
                        match runs.await {
                            Ok(list) if list.is_empty() => view! { <p class="muted">{td_string!(lang, sources.no_syncs)}</p> }.into_any(),
                            Ok(list) => view! { <RunList runs=list /> }.into_any(),
                            Err(e) => view! { <p class="field-error">{l10n::error_text(lang, &e)}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </Show>
        </article>
    }
}

#[component]
fn RunList(runs: Vec<SyncRun>) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    view! {
        <table class="table runs">
            <thead><tr>
                <th>{td_string!(lang, sources.started)}</th>
                <th>{td_string!(lang, sources.trigger)}</th>
                <th>{td_string!(lang, sources.status)}</th>
                <th>{td_string!(lang, sources.counts)}</th>
                <th>{td_string!(lang, sources.log)}</th>
            </tr></thead>
            <tbody>
                {runs.into_iter().map(|r| {
                    let c = r.counts;
                    let started = r.started_at;
                    let status = r.status.clone();
                    let lines = r.log.len();
                    view! {
                        <tr data-run-status=r.status.clone()>
                            <td>{move || l10n::date_time(lang, started)}</td>
                            <td>{r.trigger.clone()}</td>
                            <td><span class="badge">{move || sync_status(lang, &status)}</span></td>
                            <td>{move || td_string!(lang, sources.run_counts, processed = l10n::number(lang, c.processed), added = l10n::number(lang, c.added), updated = l10n::number(lang, c.updated), unchanged = l10n::number(lang, c.unchanged), deleted = l10n::number(lang, c.deleted), errors = l10n::number(lang, c.errors))}</td>
                            <td><details><summary>{move || crate::plural!(lang, sources.log_lines, count = lines)}</summary><pre class="log">{r.log.join("\n")}</pre></details></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Uploads the input's file to the source through the REST endpoint (multipart, session cookie).
#[cfg(feature = "hydrate")]
async fn upload_file(source_id: i64, input: web_sys::HtmlInputElement) -> Upload {
    match send_file(source_id, input).await {
        Ok(name) => Upload::Sent(name),
        Err(e) => Upload::Failed(e),
    }
}

#[cfg(feature = "hydrate")]
async fn send_file(
    source_id: i64,
    input: web_sys::HtmlInputElement,
) -> Result<String, UploadError> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let js = |e: wasm_bindgen::JsValue| UploadError::Server(format!("{e:?}"));
    let file = input.files().and_then(|f| f.get(0)).ok_or(UploadError::NoFile)?;
    let form = web_sys::FormData::new().map_err(js)?;
    form.append_with_blob_and_filename("file", &file, &file.name()).map_err(js)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    init.set_body(&form);
    let url = format!("/api/v1/sources/{source_id}/files");
    let request = web_sys::Request::new_with_str_and_init(&url, &init).map_err(js)?;
    let window = web_sys::window().ok_or(UploadError::Unreachable)?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| UploadError::Unreachable)?
        .dyn_into()
        .map_err(js)?;
    let text = JsFuture::from(response.text().map_err(js)?).await.map_err(js)?;
    let text = text.as_string().unwrap_or_default();
    if !response.ok() {
        let v = serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default();
        let detail = v["error"]["errors"][0]["message"].as_str().or(v["error"]["message"].as_str());
        return Err(match detail {
            Some(d) => UploadError::Server(d.to_string()),
            None => UploadError::Status(response.status()),
        });
    }
    input.set_value("");
    Ok(file.name())
}

/// An upload's state on its source's card (made in the browser only).
#[derive(Clone)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Upload {
    Sending,
    /// Sent (the file's name); the sync that indexes it is on its way.
    Sent(String),
    Failed(UploadError),
}

#[derive(Clone)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum UploadError {
    NoFile,
    Unreachable,
    Status(u16),
    /// The server's own words (field errors are not translated yet).
    Server(String),
}

impl UploadError {
    fn message(&self, l: Locale) -> String {
        match self {
            UploadError::NoFile => td_string!(l, sources.choose_file).to_string(),
            UploadError::Unreachable => td_string!(l, sources.unreachable).to_string(),
            UploadError::Status(status) => td_string!(l, sources.server_answered, status = *status),
            UploadError::Server(m) => m.clone(),
        }
    }
}

/// A sync's status in words (`never synced`, `succeeded`, `running` …).
fn sync_status(l: Locale, status: &str) -> String {
    match status {
        "never synced" => td_string!(l, sources.never_synced),
        "running" => td_string!(l, job_state.running),
        "succeeded" => td_string!(l, job_state.succeeded),
        "cancelled" => td_string!(l, job_state.cancelled),
        "failed" | "dead" => td_string!(l, sources.status_failed),
        other => return other.to_string(),
    }
    .to_string()
}
