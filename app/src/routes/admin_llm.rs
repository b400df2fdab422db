//! `/admin/llm`: the AI gateway for admins — providers with their health (keys write-only),
//! the routing strategy, per-feature routes and private pins, every user's spend with the top
//! spenders, the price table with models that have no price, and the team's spend.

use crate::api::llm_admin::{
    DeleteLlmProvider, ProbeLlmProvider, SaveLlmProvider, SaveLlmRouting, get_llm_routing,
    get_spend_overview, list_llm_providers, team_usage_summary, unpriced_models,
};
use crate::api::usage::{SetPrice, list_prices};
use crate::components::chart::SpendSummary;
use crate::components::form::{ErrorBanner, FieldError, LoadError, ValidationList};
use crate::components::session::use_session;
use crate::components::shell::{AdminTabs, scope_refused};
use crate::components::table::Pager;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::{
    ModelPrice, ProviderInfo, ProviderInput, RoutingView, Scope, Strategy, UserSpend, usd,
};
use std::collections::BTreeMap;

const PAGE: i64 = 20;

/// The AI gateway admin page.
pub struct AdminLlmRoute;

#[lazy_route]
impl LazyRoute for AdminLlmRoute {
    fn data() -> Self {
        AdminLlmRoute
    }

    fn view(_this: Self) -> AnyView {
        let session = use_session();
        if !session.has(Scope::Admin) {
            return scope_refused("AI gateway", Scope::Admin);
        }
        view! {
            <Title text="AI gateway" />
            <section class="page">
                <h1>"Admin"</h1>
                <AdminTabs current="/admin/llm" />
                <ConsoleCard />
                <ProvidersCard />
                <RoutingCard />
                <SpendCard />
                <PricesCard />
                <TeamUsageCard />
            </section>
        }
        .into_any()
    }
}

fn provider_form_reset(f: &ProviderForm) {
    f.name.set(String::new());
    f.kind.set("openai".into());
    f.base_url.set(String::new());
    f.api_key.set(String::new());
    f.private.set(false);
    f.enabled.set(true);
    f.timeout.set("60".into());
    f.retries.set("2".into());
}

#[derive(Clone, Copy)]
struct ProviderForm {
    name: RwSignal<String>,
    kind: RwSignal<String>,
    base_url: RwSignal<String>,
    api_key: RwSignal<String>,
    private: RwSignal<bool>,
    enabled: RwSignal<bool>,
    timeout: RwSignal<String>,
    retries: RwSignal<String>,
}

/// Output tokens a console prompt may use.
const CONSOLE_MAX_TOKENS: u32 = 300;

/// Streams a prompt through the gateway like any client would (budgeted, rate-limited, in the
/// ledger) and shows the answer as it arrives, then what it cost.
#[component]
fn ConsoleCard() -> impl IntoView {
    let feature = RwSignal::new(String::from("console"));
    let prompt = RwSignal::new(String::new());
    let output = RwSignal::new(String::new());
    let cost = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let running = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if running.get_untracked() {
            return;
        }
        output.set(String::new());
        cost.set(None);
        error.set(None);
        running.set(true);
        let body = serde_json::json!({
            "feature": feature.get_untracked().trim(),
            "stream": true,
            "max_tokens": CONSOLE_MAX_TOKENS,
            "messages": [{ "role": "user", "content": prompt.get_untracked() }],
        })
        .to_string();
        leptos::task::spawn_local(async move {
            let result = crate::components::sse::post_sse("/api/v1/llm/chat", body, move |ev| {
                match model::ChatStreamEvent::parse(&ev.event, &ev.data) {
                    Ok(model::ChatStreamEvent::Delta { text }) => {
                        output.update(|o| o.push_str(&text));
                    }
                    Ok(model::ChatStreamEvent::Cost { cost_nanos, usage }) => {
                        cost.set(Some(format!(
                            "{} · {} in / {} out",
                            usd(cost_nanos),
                            usage.prompt_tokens(),
                            usage.output_tokens,
                        )));
                    }
                    Ok(model::ChatStreamEvent::Error { error: e }) => {
                        error.set(Some(e.to_string()))
                    }
                    Ok(_) => {}
                    Err(e) => error.set(Some(format!("the stream could not be read: {e}"))),
                }
            })
            .await;
            if let Err(e) = result {
                error.set(Some(e));
            }
            running.set(false);
        });
    };
    view! {
        <div class="card" id="llm-console">
            <h2>"Try a prompt (streamed)"</h2>
            <p class="muted">"Goes through routing, limits, the cache and your budget like any call, and lands in the ledger."</p>
            <form on:submit=submit>
                <label for="console-feature">"Feature"</label>
                <input id="console-feature" type="text" bind:value=feature />
                <label for="console-prompt">"Prompt"</label>
                <textarea id="console-prompt" rows="3" bind:value=prompt></textarea>
                <button type="submit" class="btn btn-primary" id="console-send" disabled=move || running.get()>
                    {move || if running.get() { "Streaming…" } else { "Send" }}
                </button>
            </form>
            {move || error.get().map(|e| view! { <div class="banner banner-error" role="alert">{e}</div> })}
            <Show when=move || !output.get().is_empty()>
                <div class="answer" id="console-output"><p>{move || output.get()}</p></div>
            </Show>
            {move || cost.get().map(|c| view! { <p class="muted" id="console-cost">{format!("Cost: {c}")}</p> })}
        </div>
    }
}

#[component]
fn ProvidersCard() -> impl IntoView {
    let save = ServerAction::<SaveLlmProvider>::new();
    let delete = ServerAction::<DeleteLlmProvider>::new();
    let probe = ServerAction::<ProbeLlmProvider>::new();
    let providers = Resource::new(
        move || (save.version().get(), delete.version().get(), probe.version().get()),
        |_| list_llm_providers(),
    );
    let form = ProviderForm {
        name: RwSignal::new(String::new()),
        kind: RwSignal::new("openai".into()),
        base_url: RwSignal::new(String::new()),
        api_key: RwSignal::new(String::new()),
        private: RwSignal::new(false),
        enabled: RwSignal::new(true),
        timeout: RwSignal::new("60".into()),
        retries: RwSignal::new("2".into()),
    };
    let error = Signal::derive(move || {
        save.value()
            .get()
            .and_then(Result::err)
            .or_else(|| delete.value().get().and_then(Result::err))
            .or_else(|| probe.value().get().and_then(Result::err))
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let key = form.api_key.get_untracked();
        save.dispatch(SaveLlmProvider {
            provider: ProviderInput {
                name: form.name.get_untracked(),
                kind: form.kind.get_untracked(),
                base_url: form.base_url.get_untracked(),
                api_key: (!key.is_empty()).then_some(key),
                private: form.private.get_untracked(),
                azure: false,
                enabled: form.enabled.get_untracked(),
                timeout_secs: form.timeout.get_untracked().trim().parse().unwrap_or(0),
                max_retries: form.retries.get_untracked().trim().parse().unwrap_or(-1),
            },
        });
    };
    Effect::new(move |_| {
        if save.value().get().is_some_and(|r| r.is_ok()) {
            provider_form_reset(&form);
        }
    });
    view! {
        <div class="card" id="llm-providers">
            <h2>"Providers"</h2>
            <p class="muted">"Configured providers come from the settings file; providers added here keep their API key sealed with the deployment's secret key and never show it again."</p>
            {move || probe.value().get().and_then(Result::ok).map(|h| view! {
                <p class=if h.ok { "banner banner-ok" } else { "banner banner-error" } role="status" id="probe-result">
                    {if h.ok {
                        format!("{} answered in {} ms.", h.name, h.latency_ms.unwrap_or(0))
                    } else {
                        format!("{} failed: {}", h.name, h.error.unwrap_or_default())
                    }}
                </p>
            })}
            <Transition fallback=|| view! { <p class="loading">"Loading providers…"</p> }>
                {move || Suspend::new(async move {
                    match providers.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No provider yet: add one below."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="table" id="providers-table">
                                <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Base URL"</th><th>"Key"</th><th>"Private"</th><th>"State"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|p| view! { <ProviderRowView p form probe delete /> }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                })}
            </Transition>
            <h3>"Add or change a provider"</h3>
            <form class="inline-form" on:submit=submit id="provider-form">
                <label for="provider-name">"Name"</label>
                <input id="provider-name" type="text" bind:value=form.name />
                <label for="provider-kind">"Kind"</label>
                <select id="provider-kind" on:change=move |ev| form.kind.set(event_target_value(&ev)) prop:value=move || form.kind.get()>
                    <option value="openai">"OpenAI-compatible"</option>
                    <option value="anthropic">"Anthropic"</option>
                    <option value="ollama">"Ollama"</option>
                </select>
                <label for="provider-url">"Base URL"</label>
                <input id="provider-url" type="url" placeholder="https://api.openai.com/v1" bind:value=form.base_url />
                <label for="provider-key">"API key"</label>
                <input id="provider-key" type="password" autocomplete="off" placeholder="unchanged if empty" bind:value=form.api_key />
                <label><input type="checkbox" id="provider-private" prop:checked=move || form.private.get() on:change=move |ev| form.private.set(event_target_checked(&ev)) />" private (own hardware)"</label>
                <label><input type="checkbox" id="provider-enabled" prop:checked=move || form.enabled.get() on:change=move |ev| form.enabled.set(event_target_checked(&ev)) />" enabled"</label>
                <label for="provider-timeout">"Timeout (s)"</label>
                <input id="provider-timeout" type="number" min="1" max="3600" bind:value=form.timeout />
                <label for="provider-retries">"Retries"</label>
                <input id="provider-retries" type="number" min="0" max="10" bind:value=form.retries />
                <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>"Save provider"</button>
            </form>
            {["name", "kind", "base_url", "api_key", "timeout_secs", "max_retries"].into_iter().map(|f| view! { <FieldError error field=f /> }).collect_view()}
            <ErrorBanner error />
        </div>
    }
}

#[component]
fn ProviderRowView(
    p: ProviderInfo,
    form: ProviderForm,
    probe: ServerAction<ProbeLlmProvider>,
    delete: ServerAction<DeleteLlmProvider>,
) -> impl IntoView {
    let admin = p.source == "admin";
    let name = p.name.clone();
    let (probe_name, delete_name) = (name.clone(), name.clone());
    let edit = p.clone();
    let state = match (&p.problem, p.breaker.as_str()) {
        (Some(problem), _) => format!("not in use: {problem}"),
        (None, "open") => "circuit open".to_string(),
        (None, "half_open") => "probing".to_string(),
        (None, _) => "ready".to_string(),
    };
    view! {
        <tr data-provider=name.clone()>
            <td><strong>{name.clone()}</strong><br /><span class="muted">{p.source.clone()}</span></td>
            <td>{p.kind.clone()}</td>
            <td><code>{p.base_url.clone()}</code></td>
            <td>{if p.has_key { "set" } else { "–" }}</td>
            <td>{if p.private { "yes" } else { "no" }}</td>
            <td class=if p.problem.is_some() || p.breaker == "open" { "health-bad" } else { "health-ok" }>{state}</td>
            <td>
                <button type="button" class="btn btn-small" on:click=move |_| { probe.dispatch(ProbeLlmProvider { name: probe_name.clone() }); }>"Probe"</button>
                {admin.then(|| view! {
                    <button type="button" class="btn btn-small" on:click=move |_| {
                        form.name.set(edit.name.clone());
                        form.kind.set(edit.kind.clone());
                        form.base_url.set(edit.base_url.clone());
                        form.api_key.set(String::new());
                        form.private.set(edit.private);
                        form.enabled.set(edit.enabled);
                        form.timeout.set(edit.timeout_secs.to_string());
                        form.retries.set(edit.max_retries.to_string());
                    }>"Edit"</button>
                    <button type="button" class="btn btn-small" on:click=move |_| { delete.dispatch(DeleteLlmProvider { name: delete_name.clone() }); }>"Delete"</button>
                })}
            </td>
        </tr>
    }
}

#[component]
fn RoutingCard() -> impl IntoView {
    let save = ServerAction::<SaveLlmRouting>::new();
    let routing = Resource::new(move || save.version().get(), |_| get_llm_routing());
    view! {
        <div class="card" id="llm-routing">
            <h2>"Routing"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading routing…"</p> }>
                {move || Suspend::new(async move {
                    match routing.await {
                        Ok(view_) => view! { <RoutingForm routing=view_ save /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

/// `feature = provider:model, provider:model` per line ↔ the routes map.
fn routes_text(routing: &RoutingView) -> String {
    routing
        .routes
        .iter()
        .filter(|r| r.source == "admin")
        .map(|r| format!("{} = {}", r.feature, r.targets.join(", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_routes(text: &str) -> BTreeMap<String, Vec<String>> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(f, t)| {
            (
                f.trim().to_string(),
                t.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
            )
        })
        .collect()
}

fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n']).map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

#[component]
fn RoutingForm(routing: RoutingView, save: ServerAction<SaveLlmRouting>) -> impl IntoView {
    let strategy = RwSignal::new(routing.strategy.as_str().to_string());
    let routes = RwSignal::new(routes_text(&routing));
    let features = RwSignal::new(routing.private_features.join(", "));
    let users = RwSignal::new(routing.private_users.join(", "));
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let help = move || Strategy::parse(&strategy.get()).map(Strategy::describe).unwrap_or_default();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(SaveLlmRouting {
            strategy: strategy.get_untracked(),
            routes: parse_routes(&routes.get_untracked()),
            private_features: split_list(&features.get_untracked()),
            private_users: split_list(&users.get_untracked()),
        });
    };
    view! {
        <table class="table" id="routes-table">
            <thead><tr><th>"Feature"</th><th>"Route (first choice first)"</th><th>"From"</th><th>"Private only"</th></tr></thead>
            <tbody>
                {routing.routes.iter().map(|r| view! {
                    <tr data-feature=r.feature.clone()>
                        <td><code>{r.feature.clone()}</code></td>
                        <td>{r.targets.join(" → ")}</td>
                        <td>{r.source.clone()}</td>
                        <td>{if r.private { "yes" } else { "" }}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <form on:submit=submit id="routing-form">
            <label for="routing-strategy">"Strategy"</label>
            <select id="routing-strategy" on:change=move |ev| strategy.set(event_target_value(&ev)) prop:value=move || strategy.get()>
                {Strategy::ALL.into_iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
            </select>
            <p class="muted strategy-help">{help}{format!(" (configured default: {})", routing.config_strategy.as_str())}</p>
            <label for="routing-routes">"Routes set here (one per line: feature = provider:model, provider:model)"</label>
            <textarea id="routing-routes" class="route-editor" rows="4" bind:value=routes></textarea>
            <label for="routing-private-features">"Features pinned to private providers (comma-separated)"</label>
            <input id="routing-private-features" type="text" bind:value=features />
            <label for="routing-private-users">"Users pinned to private providers (e-mails, comma-separated)"</label>
            <input id="routing-private-users" type="text" bind:value=users />
            <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>"Save routing"</button>
        </form>
        <ValidationList error />
        <ErrorBanner error />
        {move || save.value().get().and_then(Result::ok).map(|v| view! {
            <p class="banner banner-ok" role="status" id="routing-saved">{format!("Saved: strategy {}.", v.strategy.as_str())}</p>
        })}
    }
}

#[component]
fn SpendCard() -> impl IntoView {
    let q = RwSignal::new(String::new());
    let min = RwSignal::new(0i64);
    let offset = RwSignal::new(0i64);
    let spend = Resource::new(
        move || (q.get(), min.get(), offset.get()),
        |(q, min, offset)| get_spend_overview(q, min, PAGE, offset),
    );
    view! {
        <div class="card" id="llm-spend">
            <h2>"Spend this period"</h2>
            <div class="inline-form">
                <label for="spend-q">"User"</label>
                <input id="spend-q" type="search" placeholder="e-mail or name" prop:value=move || q.get()
                    on:change=move |ev| { offset.set(0); q.set(event_target_value(&ev)); } />
                <label for="spend-min">"At least"</label>
                <select id="spend-min" on:change=move |ev| { offset.set(0); min.set(event_target_value(&ev).parse().unwrap_or(0)); }>
                    <option value="0">"any spend"</option>
                    <option value="80">"80 % (warning)"</option>
                    <option value="95">"95 % (critical)"</option>
                    <option value="100">"100 % (exceeded)"</option>
                </select>
            </div>
            <Transition fallback=|| view! { <p class="loading">"Loading spend…"</p> }>
                {move || Suspend::new(async move {
                    match spend.await {
                        Ok(o) => {
                            let total = o.total;
                            view! {
                                <p class="muted" id="over-warning">{format!("{} user(s) at or above 80 % of their budget.", o.over_warning)}</p>
                                {(!o.top.is_empty()).then(|| view! {
                                    <h3>"Top spenders"</h3>
                                    <ol class="top-spenders" id="top-spenders">
                                        {o.top.iter().map(|u| view! { <li>{format!("{} — {} of {}", u.email, usd(u.spent_nanos), usd(u.limit_nanos))}</li> }).collect_view()}
                                    </ol>
                                })}
                                <table class="table" id="spend-table">
                                    <thead><tr><th>"User"</th><th>"Spent"</th><th>"Budget"</th><th>"Used"</th><th>"Resets"</th></tr></thead>
                                    <tbody>{o.users.into_iter().map(|u| view! { <SpendRow u /> }).collect_view()}</tbody>
                                </table>
                                <Pager offset total page=PAGE />
                            }.into_any()
                        }
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn SpendRow(u: UserSpend) -> impl IntoView {
    let band = u.band.as_str();
    view! {
        <tr data-user-email=u.email.clone() data-band=band>
            <td><strong>{u.display_name.clone()}</strong><br /><span class="muted">{u.email.clone()}</span></td>
            <td>{usd(u.spent_nanos)}{(u.reserved_nanos > 0).then(|| format!(" (+{} held)", usd(u.reserved_nanos)))}</td>
            <td>{format!("{} {}", usd(u.limit_nanos), u.period)}{u.custom.then_some(" · set by an admin")}</td>
            <td><span class="badge band" data-band=band>{format!("{} %", u.percent)}</span></td>
            <td>{u.resets_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
        </tr>
    }
}

#[component]
fn PricesCard() -> impl IntoView {
    let set = ServerAction::<SetPrice>::new();
    let prices = Resource::new(move || set.version().get(), |_| list_prices());
    let unpriced = Resource::new(move || set.version().get(), |_| unpriced_models());
    let model = RwSignal::new(String::new());
    let input = RwSignal::new(String::new());
    let output = RwSignal::new(String::new());
    let cached = RwSignal::new(String::new());
    let quality = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let error = Signal::derive(move || set.value().get().and_then(Result::err));
    let num = |s: RwSignal<String>| s.get_untracked().trim().parse::<f64>().unwrap_or(-1.0);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set.dispatch(SetPrice {
            price: ModelPrice {
                model: model.get_untracked(),
                input_usd_per_mtok: num(input),
                output_usd_per_mtok: num(output),
                cached_input_usd_per_mtok: num(cached),
                quality: quality.get_untracked().trim().parse().ok(),
            },
            reason: reason.get_untracked(),
        });
    };
    let fill = move |p: &ModelPrice| {
        model.set(p.model.clone());
        input.set(p.input_usd_per_mtok.to_string());
        output.set(p.output_usd_per_mtok.to_string());
        cached.set(p.cached_input_usd_per_mtok.to_string());
        quality.set(p.quality.map(|q| q.to_string()).unwrap_or_default());
    };
    view! {
        <div class="card" id="llm-prices">
            <h2>"Prices (USD per million tokens)"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match unpriced.await {
                        Ok(list) if !list.is_empty() => view! {
                            <div class="banner banner-warning" role="status" id="unpriced">
                                <p>"Billed at the default price (not in the table) in the last 30 days:"</p>
                                <ul>{list.into_iter().map(|m| {
                                    let name = m.model.clone();
                                    view! {
                                        <li data-model=m.model.clone()>
                                            <code>{m.model.clone()}</code>
                                            {format!(" — {} call(s), last {} ", m.calls, m.last_at.format("%Y-%m-%d %H:%M"))}
                                            <button type="button" class="btn btn-small" on:click=move |_| model.set(name.clone())>"Price it"</button>
                                        </li>
                                    }
                                }).collect_view()}</ul>
                            </div>
                        }.into_any(),
                        _ => ().into_any(),
                    }
                })}
            </Transition>
            <Transition fallback=|| view! { <p class="loading">"Loading prices…"</p> }>
                {move || Suspend::new(async move {
                    match prices.await {
                        Ok(list) => view! {
                            <table class="table" id="prices-table">
                                <thead><tr><th>"Model"</th><th>"Input"</th><th>"Output"</th><th>"Cached input"</th><th>"Quality"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|p| {
                                    let row = p.clone();
                                    view! {
                                        <tr data-model=p.model.clone()>
                                            <td><code>{p.model.clone()}</code></td>
                                            <td>{format!("{:.3}", p.input_usd_per_mtok)}</td>
                                            <td>{format!("{:.3}", p.output_usd_per_mtok)}</td>
                                            <td>{format!("{:.3}", p.cached_input_usd_per_mtok)}</td>
                                            <td>{p.quality.map(|q| q.to_string()).unwrap_or_else(|| "–".into())}</td>
                                            <td><button type="button" class="btn btn-small" on:click=move |_| fill(&row)>"Edit"</button></td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                })}
            </Transition>
            <form class="inline-form" on:submit=submit id="price-form">
                <label for="price-model">"Model (or prefix*)"</label>
                <input id="price-model" type="text" bind:value=model />
                <label for="price-input">"Input"</label>
                <input id="price-input" type="number" min="0" step="0.001" bind:value=input />
                <label for="price-output">"Output"</label>
                <input id="price-output" type="number" min="0" step="0.001" bind:value=output />
                <label for="price-cached">"Cached input"</label>
                <input id="price-cached" type="number" min="0" step="0.001" bind:value=cached />
                <label for="price-quality">"Quality (0–100)"</label>
                <input id="price-quality" type="number" min="0" max="100" bind:value=quality />
                <label for="price-reason">"Reason"</label>
                <input id="price-reason" type="text" bind:value=reason />
                <button type="submit" class="btn btn-primary" disabled=move || set.pending().get()>"Save price"</button>
            </form>
            {["model", "input_usd_per_mtok", "output_usd_per_mtok", "cached_input_usd_per_mtok", "quality", "reason"].into_iter().map(|f| view! { <FieldError error field=f /> }).collect_view()}
            <ErrorBanner error />
        </div>
    }
}

#[component]
fn TeamUsageCard() -> impl IntoView {
    let summary = Resource::new(|| (), |_| team_usage_summary(30));
    view! {
        <div class="card" id="team-usage">
            <h2>"Team spend, last 30 days"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading spend…"</p> }>
                {move || Suspend::new(async move {
                    match summary.await {
                        Ok(s) => view! { <SpendSummary summary=s team=true /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_text_round_trips() {
        let parsed = parse_routes(
            "rfc.draft = claude:claude-sonnet-4, openai:gpt-4.1\n\nbad line\nconsole=local:llama3",
        );
        assert_eq!(parsed["rfc.draft"], vec!["claude:claude-sonnet-4", "openai:gpt-4.1"]);
        assert_eq!(parsed["console"], vec!["local:llama3"]);
        assert_eq!(parsed.len(), 2);
        assert_eq!(split_list("a@x.io, b@x.io,\n"), vec!["a@x.io", "b@x.io"]);
    }
}
