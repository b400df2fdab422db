//! `/admin/llm`: the AI gateway for admins — providers with their health (keys write-only),
//! the routing strategy, per-feature routes and private pins, every user's spend with the top
//! spenders, the price table with models that have no price, and the team's spend.

use crate::api::llm_admin::{
    DeleteLlmProvider, ProbeLlmProvider, SaveLlmProvider, SaveLlmRouting, get_llm_routing,
    list_llm_providers,
};
use crate::components::form::{ErrorBanner, FieldError, FormGate, LoadError, ValidationList};
use crate::components::session::use_session;
use crate::components::shell::{AdminTabs, scope_refused};
use crate::i18n::{Locale, td_string};
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::{ProviderInfo, ProviderInput, RoutingView, Scope, Strategy};
use spend::{PricesCard, SpendCard, TeamUsageCard};
use std::collections::BTreeMap;

/// Spend, prices and the team's usage.
mod spend;

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
            return scope_refused(|l| td_string!(l, shell.admin_llm), Scope::Admin);
        }
        let lang = crate::l10n::use_lang();
        view! {
            <Title text=td_string!(lang, shell.admin_llm) />
            <section class="page">
                <h1>{td_string!(lang, admin.title)}</h1>
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
    let lang = crate::l10n::use_lang();
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
                        let l = lang;
                        cost.set(Some(td_string!(
                            l,
                            llm.cost_line,
                            cost = l10n::usd(l, cost_nanos),
                            input = l10n::number(
                                l,
                                i64::try_from(usage.prompt_tokens()).unwrap_or(i64::MAX)
                            ),
                            output = l10n::number(
                                l,
                                i64::try_from(usage.output_tokens).unwrap_or(i64::MAX)
                            )
                        )));
                    }
                    Ok(model::ChatStreamEvent::Error { error: e }) => {
                        error.set(Some(e.to_string()))
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let l = lang;
                        error.set(Some(td_string!(l, llm.stream_unreadable, error = e.to_string())))
                    }
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
            <h2>{td_string!(lang, llm.console)}</h2>
            <p class="muted">{td_string!(lang, llm.console_text)}</p>
            <form method="post" on:submit=submit><FormGate>
                <label for="console-feature">{td_string!(lang, llm.feature)}</label>
                <input id="console-feature" type="text" bind:value=feature />
                <label for="console-prompt">{td_string!(lang, llm.prompt)}</label>
                <textarea id="console-prompt" rows="3" bind:value=prompt></textarea>
                <button type="submit" class="btn btn-primary" id="console-send" disabled=move || running.get()>
                    {move || if running.get() { td_string!(lang, llm.streaming) } else { td_string!(lang, llm.send) }}
                </button>
            </FormGate></form>
            {move || error.get().map(|e| view! { <div class="banner banner-error" role="alert">{e}</div> })}
            <Show when=move || !output.get().is_empty()>
                <div class="answer" id="console-output"><p>{move || output.get()}</p></div>
            </Show>
            {move || cost.get().map(|line| view! { <p class="muted" id="console-cost">{move || td_string!(lang, llm.cost, line = line.clone())}</p> })}
        </div>
    }
}

#[component]
fn ProvidersCard() -> impl IntoView {
    let lang = crate::l10n::use_lang();
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
            <h2>{td_string!(lang, llm.providers)}</h2>
            <p class="muted">{td_string!(lang, llm.providers_text)}</p>
            {move || probe.value().get().and_then(Result::ok).map(|h| {
                let text = if h.ok {
                    td_string!(lang, llm.probe_ok, name = h.name.clone(), ms = h.latency_ms.unwrap_or(0))
                } else {
                    td_string!(lang, llm.probe_failed, name = h.name.clone(), error = h.error.clone().unwrap_or_default())
                };
                view! {
                    <p class=if h.ok { "banner banner-ok" } else { "banner banner-error" } role="status" id="probe-result">{text}</p>
                }
            })}
            <Transition fallback=move || view! { <p class="loading">{td_string!(lang, llm.loading_providers)}</p> }>
                {move || Suspend::new(async move {
                    match providers.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">{td_string!(lang, llm.no_providers)}</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-scroll">
                            <table class="table" id="providers-table">
                                <thead><tr>
                                    <th>{td_string!(lang, llm.name)}</th>
                                    <th>{td_string!(lang, llm.kind)}</th>
                                    <th>{td_string!(lang, llm.base_url)}</th>
                                    <th>{td_string!(lang, llm.key)}</th>
                                    <th>{td_string!(lang, llm.private)}</th>
                                    <th>{td_string!(lang, llm.state)}</th>
                                    <th><span class="visually-hidden">{td_string!(lang, llm.actions)}</span></th>
                                </tr></thead>
                                <tbody>{list.into_iter().map(|p| view! { <ProviderRowView p form probe delete /> }).collect_view()}</tbody>
                            </table>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                })}
            </Transition>
            <h3>{td_string!(lang, llm.add_provider)}</h3>
            <form method="post" class="inline-form" on:submit=submit id="provider-form"><FormGate>
                <label for="provider-name">{td_string!(lang, llm.name)}</label>
                <input id="provider-name" type="text" bind:value=form.name />
                <label for="provider-kind">{td_string!(lang, llm.kind)}</label>
                <select id="provider-kind" on:change=move |ev| form.kind.set(event_target_value(&ev)) prop:value=move || form.kind.get()>
                    <option value="openai">{td_string!(lang, llm.openai)}</option>
                    <option value="anthropic">{"Anthropic"}</option>
                    <option value="ollama">{"Ollama"}</option>
                </select>
                <label for="provider-url">{td_string!(lang, llm.base_url)}</label>
                <input id="provider-url" type="url" placeholder="https://api.openai.com/v1" bind:value=form.base_url />
                <label for="provider-key">{td_string!(lang, llm.api_key)}</label>
                <input id="provider-key" type="password" autocomplete="off" placeholder=td_string!(lang, llm.key_unchanged) bind:value=form.api_key />
                <label><input type="checkbox" id="provider-private" prop:checked=move || form.private.get() on:change=move |ev| form.private.set(event_target_checked(&ev)) />" " {td_string!(lang, llm.private_box)}</label>
                <label><input type="checkbox" id="provider-enabled" prop:checked=move || form.enabled.get() on:change=move |ev| form.enabled.set(event_target_checked(&ev)) />" " {td_string!(lang, llm.enabled_box)}</label>
                <label for="provider-timeout">{td_string!(lang, llm.timeout)}</label>
                <input id="provider-timeout" type="number" min="1" max="3600" bind:value=form.timeout />
                <label for="provider-retries">{td_string!(lang, llm.retries)}</label>
                <input id="provider-retries" type="number" min="0" max="10" bind:value=form.retries />
                <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>{td_string!(lang, llm.save_provider)}</button>
            </FormGate></form>
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
    let lang = crate::l10n::use_lang();
    let admin = p.source == "admin";
    let name = p.name.clone();
    let (probe_name, delete_name) = (name.clone(), name.clone());
    let edit = p.clone();
    let (problem, breaker) = (p.problem.clone(), p.breaker.clone());
    let state = move || match (&problem, breaker.as_str()) {
        (Some(problem), _) => td_string!(lang, llm.not_in_use, problem = problem.clone()),
        (None, "open") => td_string!(lang, llm.circuit_open).to_string(),
        (None, "half_open") => td_string!(lang, llm.probing).to_string(),
        (None, _) => td_string!(lang, llm.ready).to_string(),
    };
    let (has_key, private) = (p.has_key, p.private);
    view! {
        <tr data-provider=name.clone()>
            <td><strong>{name.clone()}</strong><br /><span class="muted">{p.source.clone()}</span></td>
            <td>{p.kind.clone()}</td>
            <td><code>{p.base_url.clone()}</code></td>
            <td>{move || if has_key { td_string!(lang, llm.key_set) } else { "–" }}</td>
            <td>{move || if private { td_string!(lang, llm.yes) } else { td_string!(lang, llm.no) }}</td>
            <td class=if p.problem.is_some() || p.breaker == "open" { "health-bad" } else { "health-ok" }>{state}</td>
            <td>
                <button type="button" class="btn btn-small" on:click=move |_| { probe.dispatch(ProbeLlmProvider { name: probe_name.clone() }); }>{td_string!(lang, llm.probe)}</button>
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
                    }>{td_string!(lang, llm.edit)}</button>
                    <button type="button" class="btn btn-small" on:click=move |_| { delete.dispatch(DeleteLlmProvider { name: delete_name.clone() }); }>{td_string!(lang, llm.delete)}</button>
                })}
            </td>
        </tr>
    }
}

#[component]
fn RoutingCard() -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let save = ServerAction::<SaveLlmRouting>::new();
    let routing = Resource::new(move || save.version().get(), |_| get_llm_routing());
    view! {
        <div class="card" id="llm-routing">
            <h2>{td_string!(lang, llm.routing)}</h2>
            <Transition fallback=move || view! { <p class="loading">{td_string!(lang, llm.loading_routing)}</p> }>
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

/// What a routing strategy does, in words.
fn describe(l: Locale, s: Strategy) -> &'static str {
    match s {
        Strategy::Priority => td_string!(l, llm.strategy_priority),
        Strategy::Cost => td_string!(l, llm.strategy_cost),
        Strategy::Quality => td_string!(l, llm.strategy_quality),
        Strategy::Balanced => td_string!(l, llm.strategy_balanced),
        Strategy::RoundRobin => td_string!(l, llm.strategy_round_robin),
    }
}

#[component]
fn RoutingForm(routing: RoutingView, save: ServerAction<SaveLlmRouting>) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let strategy = RwSignal::new(routing.strategy.as_str().to_string());
    let routes = RwSignal::new(routes_text(&routing));
    let features = RwSignal::new(routing.private_features.join(", "));
    let users = RwSignal::new(routing.private_users.join(", "));
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let configured = routing.config_strategy.as_str();
    let help = move || {
        let l = lang;
        let what = Strategy::parse(&strategy.get()).map(|s| describe(l, s)).unwrap_or_default();
        format!("{what} {}", td_string!(l, llm.configured_default, strategy = configured))
    };
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
        <div class="table-scroll">
        <table class="table" id="routes-table">
            <thead><tr>
                <th>{td_string!(lang, llm.feature)}</th>
                <th>{td_string!(lang, llm.route)}</th>
                <th>{td_string!(lang, llm.from)}</th>
                <th>{td_string!(lang, llm.private_only)}</th>
            </tr></thead>
            <tbody>
                {routing.routes.iter().map(|r| {
                    let private = r.private;
                    view! {
                        <tr data-feature=r.feature.clone()>
                            <td><code>{r.feature.clone()}</code></td>
                            <td>{r.targets.join(" → ")}</td>
                            <td>{r.source.clone()}</td>
                            <td>{move || if private { td_string!(lang, llm.yes) } else { "" }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
        <form method="post" on:submit=submit id="routing-form"><FormGate>
            <label for="routing-strategy">{td_string!(lang, llm.strategy)}</label>
            <select id="routing-strategy" on:change=move |ev| strategy.set(event_target_value(&ev)) prop:value=move || strategy.get()>
                {Strategy::ALL.into_iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
            </select>
            <p class="muted strategy-help">{help}</p>
            <label for="routing-routes">{td_string!(lang, llm.routes_label)}</label>
            <textarea id="routing-routes" class="route-editor" rows="4" bind:value=routes></textarea>
            <label for="routing-private-features">{td_string!(lang, llm.private_features)}</label>
            <input id="routing-private-features" type="text" bind:value=features />
            <label for="routing-private-users">{td_string!(lang, llm.private_users)}</label>
            <input id="routing-private-users" type="text" bind:value=users />
            <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>{td_string!(lang, llm.save_routing)}</button>
        </FormGate></form>
        <ValidationList error />
        <ErrorBanner error />
        {move || save.value().get().and_then(Result::ok).map(|v| {
            let strategy = v.strategy.as_str();
            view! { <p class="banner banner-ok" role="status" id="routing-saved">{move || td_string!(lang, llm.routing_saved, strategy)}</p> }
        })}
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
