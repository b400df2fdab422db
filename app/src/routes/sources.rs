//! `/sources`: the knowledge sources the user can see — add one (files for everyone; Confluence,
//! Jira and GitLab for admins) with a connection test, upload files, sync now with live progress
//! (processed / total, rate, ETA, errors), and each source's run history with its log.

use crate::api::sources::{
    CreateSource, DeleteSource, SyncSource, TestSource, list_sources, list_sync_runs,
};
use crate::components::form::{ErrorBanner, LoadError, ValidationList};
use crate::components::live::use_live_events;
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
        let uploads: RwSignal<HashMap<i64, Result<String, String>>> = RwSignal::new(HashMap::new());
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
            <Title text="Sources" />
            <section class="page">
                <h1>"Knowledge sources"</h1>
                <p class="muted">"What search, RFCs and code docs draw on. Each source syncs in the background; changes since the last sync are fetched, unchanged documents cost nothing."</p>
                <AddSource create test />
                <Transition fallback=|| view! { <p class="loading">"Loading sources…"</p> }>
                    {move || Suspend::new(async move {
                        match sources.await {
                            Ok(list) if list.is_empty() => view! { <p class="muted" id="no-sources">"No sources yet. Add one above."</p> }.into_any(),
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
    view! {
        <div class="card">
            <h2>"Add a source"</h2>
            <form class="stack" id="add-source" on:submit=move |ev| { ev.prevent_default(); create.dispatch(CreateSource { form: form() }); }>
                <div class="grid-2">
                    <label>"Name" <input id="source-name" required maxlength="80" bind:value=name /></label>
                    <label>"Kind"
                        <select id="source-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                            <option value="files">"Uploaded files"</option>
                            <option value="confluence">"Confluence"</option>
                            <option value="jira">"Jira"</option>
                            <option value="gitlab">"GitLab"</option>
                        </select>
                    </label>
                    <label>"Who sees it"
                        <select id="source-visibility" on:change=move |ev| visibility.set(event_target_value(&ev))>
                            <option value="owner">"Only me"</option>
                            <option value="members">"Me and listed people"</option>
                            <option value="everyone">"Everyone (admins)"</option>
                        </select>
                    </label>
                    <label>"People (e-mails, comma-separated)" <input id="source-members" bind:value=members /></label>
                </div>
                <Show when=is_connector>
                    <div class="grid-2">
                        <label>"Base URL" <input id="source-base-url" type="url" placeholder="https://acme.atlassian.net/wiki" bind:value=base_url /></label>
                        <Show when=move || kind.get() != "gitlab">
                            <label>"Deployment"
                                <select id="source-deployment" on:change=move |ev| deployment.set(event_target_value(&ev))>
                                    <option value="cloud">"Cloud"</option>
                                    <option value="data_center">"Data Center / Server"</option>
                                </select>
                            </label>
                            <label>"Account e-mail (Cloud)" <input id="source-email" type="email" bind:value=email /></label>
                        </Show>
                        <label>{move || match kind.get().as_str() { "confluence" => "Space keys", "jira" => "Project keys", _ => "Projects (group/name)" }}
                            <input id="source-keys" placeholder="ENG, OPS" bind:value=keys />
                        </label>
                        <Show when=move || kind.get() == "jira">
                            <label>"JQL filter (optional)" <input id="source-jql" bind:value=jql /></label>
                        </Show>
                        <label>"API token" <input id="source-secret" type="password" autocomplete="off" bind:value=secret /></label>
                        <label>"Schedule (cron, optional)" <input id="source-schedule" placeholder="0 */30 * * * *" bind:value=schedule /></label>
                    </div>
                </Show>
                <div class="row">
                    <Show when=is_connector>
                        <button type="button" class="btn" id="test-source" disabled=move || test.pending().get()
                            on:click=move |_| { test.dispatch(TestSource { id: None, form: form() }); }>"Test connection"</button>
                    </Show>
                    <button type="submit" class="btn btn-primary" id="create-source" disabled=move || create.pending().get()>"Add source"</button>
                </div>
                {move || tested().map(|m| view! { <p class="banner banner-ok" role="status" id="test-result">{m}</p> })}
                <ValidationList error />
                <ErrorBanner error />
            </form>
        </div>
    }
}

#[component]
fn SourceCard(
    source: Source,
    progress: RwSignal<HashMap<i64, SyncProgress>>,
    uploads: RwSignal<HashMap<i64, Result<String, String>>>,
    sync: ServerAction<SyncSource>,
    delete: ServerAction<DeleteSource>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let id = source.id;
    let live = move || progress.with(|m| m.get(&id).cloned());
    let status = {
        let stored = source.last_status.clone().unwrap_or_else(|| "never synced".into());
        move || live().map(|p| p.status).unwrap_or_else(|| stored.clone())
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
                    m.insert(id, Ok("Uploading…".into()));
                });
                let r = upload_file(id, el).await;
                uploads.update(|m| {
                    m.insert(id, r);
                });
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (input, uploads);
    };
    let kind = source.kind;
    let vis = match source.visibility {
        model::Visibility::Everyone => "everyone".to_string(),
        model::Visibility::Members => format!("owner and {}", source.members.join(", ")),
        model::Visibility::Owner => format!("only {}", source.owner_email),
    };
    view! {
        <article class="card source" data-source-id=id.to_string() data-status=status.clone()>
            <header class="row">
                <h3>{source.name.clone()}</h3>
                <span class="badge">{kind.label()}</span>
                <span class="badge source-status" data-status=status.clone()>{status.clone()}</span>
            </header>
            <p class="muted">
                {format!("{} documents · {} chunks · seen by {vis}", source.documents, source.chunks)}
                {source.last_sync_at.map(|t| format!(" · last sync {}", t.format("%Y-%m-%d %H:%M:%S UTC")))}
                {source.schedule.clone().map(|s| format!(" · schedule {s}"))}
            </p>
            {source.last_error.clone().filter(|_| source.last_status.as_deref() != Some("succeeded")).map(|e| view! { <p class="field-error">{e}</p> })}
            {move || live().filter(|p| p.status == "running").map(|p| {
                let total = p.counts.total.unwrap_or(0).max(p.counts.processed);
                let percent = if total > 0 { p.counts.processed * 100 / total } else { 0 };
                view! {
                    <div class="sync-progress" role="status">
                        <progress class="progress" max="100" value=percent.to_string() aria-label=format!("Sync progress of {id}")></progress>
                        <span class="muted">{format!(
                            "{} / {} · {:.1} docs/s{} · {} errors",
                            p.counts.processed,
                            p.counts.total.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
                            p.rate,
                            p.eta_secs.map(|e| format!(" · ETA {e:.0} s")).unwrap_or_default(),
                            p.counts.errors,
                        )}</span>
                    </div>
                }
            })}
            <div class="row">
                <Show when=move || kind == SourceKind::Files && source.can_manage>
                    <input type="file" node_ref=input class="upload-input" aria-label="File to upload"
                        accept=".md,.markdown,.txt,.html,.htm,.pdf,.docx" />
                    <button type="button" class="btn btn-small upload-button" on:click=on_upload>"Upload"</button>
                </Show>
                <Show when=move || source.can_manage>
                    <button type="button" class="btn btn-small sync-now" on:click=move |_| { sync.dispatch(SyncSource { id }); }>"Sync now"</button>
                </Show>
                <button type="button" class="btn btn-small show-runs" on:click=move |_| show_runs.update(|s| *s = !*s)>
                    {move || if show_runs.get() { "Hide history" } else { "History" }}
                </button>
                <Show when=move || source.can_manage>
                    <button type="button" class="btn btn-small btn-danger" on:click=move |_| { delete.dispatch(DeleteSource { id }); }>"Delete"</button>
                </Show>
            </div>
            {move || uploads.with(|m| m.get(&id).cloned()).map(|r| match r {
                Ok(m) => view! { <p class="banner banner-ok upload-result" role="status">{m}</p> }.into_any(),
                Err(m) => view! { <p class="banner banner-error upload-result" role="alert">{m}</p> }.into_any(),
            })}
            <Show when=move || show_runs.get()>
                <Suspense fallback=|| view! { <p class="loading">"Loading history…"</p> }>
                    {move || Suspend::new(async move {
                        match runs.await {
                            Ok(list) if list.is_empty() => view! { <p class="muted">"No syncs yet."</p> }.into_any(),
                            Ok(list) => view! { <RunList runs=list /> }.into_any(),
                            Err(e) => view! { <p class="field-error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </Show>
        </article>
    }
}

#[component]
fn RunList(runs: Vec<SyncRun>) -> impl IntoView {
    view! {
        <table class="table runs">
            <thead><tr><th>"Started"</th><th>"Trigger"</th><th>"Status"</th><th>"Counts"</th><th>"Log"</th></tr></thead>
            <tbody>
                {runs.into_iter().map(|r| {
                    let c = r.counts;
                    view! {
                        <tr data-run-status=r.status.clone()>
                            <td>{r.started_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                            <td>{r.trigger.clone()}</td>
                            <td><span class="badge">{r.status.clone()}</span></td>
                            <td>{format!("{} processed: {} added, {} updated, {} unchanged, {} deleted, {} errors", c.processed, c.added, c.updated, c.unchanged, c.deleted, c.errors)}</td>
                            <td><details><summary>{format!("{} lines", r.log.len())}</summary><pre class="log">{r.log.join("\n")}</pre></details></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Uploads the input's file to the source through the REST endpoint (multipart, session cookie).
#[cfg(feature = "hydrate")]
async fn upload_file(source_id: i64, input: web_sys::HtmlInputElement) -> Result<String, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let js = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let file = input.files().and_then(|f| f.get(0)).ok_or("choose a file first")?;
    let form = web_sys::FormData::new().map_err(js)?;
    form.append_with_blob_and_filename("file", &file, &file.name()).map_err(js)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    init.set_body(&form);
    let url = format!("/api/v1/sources/{source_id}/files");
    let request = web_sys::Request::new_with_str_and_init(&url, &init).map_err(js)?;
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| "the server could not be reached".to_string())?
        .dyn_into()
        .map_err(js)?;
    let text = JsFuture::from(response.text().map_err(js)?).await.map_err(js)?;
    let text = text.as_string().unwrap_or_default();
    if !response.ok() {
        let v = serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default();
        let detail = v["error"]["errors"][0]["message"].as_str().or(v["error"]["message"].as_str());
        return Err(detail
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server answered {}", response.status())));
    }
    input.set_value("");
    Ok(format!("Uploaded {}; indexing…", file.name()))
}
