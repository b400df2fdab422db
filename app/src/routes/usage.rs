//! `/usage`: the caller's budgets (spend against limit with bands, reset time, projection),
//! refreshed live when a budget alert arrives, and their recent model calls with export links.

use crate::api::llm_admin::my_usage_summary;
use crate::api::usage::{TryPrompt, my_budgets, my_calls};
use crate::components::chart::SpendSummary;
use crate::components::form::{ErrorBanner, FieldError, LoadError};
use crate::components::live::use_live_events;
use crate::components::table::{Pager, human_ms};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{BudgetBand, BudgetStatus, LlmCall, Page, UsageSummary, usd};

const PAGE: i64 = 20;
const DAYS: i64 = 30;

/// The usage page.
pub struct UsageRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct UsageData {
    budgets: Resource<Result<Vec<BudgetStatus>, AppError>>,
    calls: Resource<Result<Page<LlmCall>, AppError>>,
    summary: Resource<Result<UsageSummary, AppError>>,
    offset: RwSignal<i64>,
    reload: RwSignal<u32>,
    ask: ServerAction<TryPrompt>,
}

impl UsageData {
    fn load() -> Self {
        let offset = RwSignal::new(0i64);
        let reload = RwSignal::new(0u32);
        let ask = ServerAction::<TryPrompt>::new();
        let budgets = Resource::new(move || (reload.get(), ask.version().get()), |_| my_budgets());
        let calls = Resource::new(
            move || (offset.get(), reload.get(), ask.version().get()),
            |(o, _, _)| my_calls(DAYS, PAGE, o),
        );
        let summary =
            Resource::new(move || (reload.get(), ask.version().get()), |_| my_usage_summary(DAYS));
        UsageData { budgets, calls, summary, offset, reload, ask }
    }
}

#[lazy_route]
impl LazyRoute for UsageRoute {
    fn data() -> Self {
        UsageRoute
    }

    fn view(_this: Self) -> AnyView {
        let this = UsageData::load();
        let UsageData { budgets, calls, summary, offset, reload, ask } = this;
        let prompt = RwSignal::new(String::new());
        let error = Signal::derive(move || ask.value().get().and_then(Result::err));
        let answer = move || ask.value().get().and_then(Result::ok);
        let submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            ask.dispatch(TryPrompt { prompt: prompt.get_untracked() });
        };
        let live = use_live_events();
        Effect::new(move |_| {
            if live.latest.get().is_some_and(|e| e.topic == model::LiveTopic::Budget.as_str()) {
                reload.update(|r| *r += 1);
            }
        });
        view! {
            <Title text="Usage & Budget" />
            <section class="page">
                <h1>"Usage & Budget"</h1>
                <Transition fallback=|| view! { <p class="loading">"Loading budgets…"</p> }>
                    {move || Suspend::new(async move {
                        match budgets.await {
                            Ok(list) => view! {
                                <div class="budgets" id="budgets">
                                    {list.into_iter().map(|b| view! { <BudgetCard budget=b /> }).collect_view()}
                                </div>
                            }.into_any(),
                            Err(e) => view! { <LoadError error=e /> }.into_any(),
                        }
                    })}
                </Transition>
                <div class="card" id="spend-summary">
                    <h2>{format!("Spend, last {DAYS} days")}</h2>
                    <Transition fallback=|| view! { <p class="loading">"Loading spend…"</p> }>
                        {move || Suspend::new(async move {
                            match summary.await {
                                Ok(s) => view! { <SpendSummary summary=s /> }.into_any(),
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <div class="card" id="try-prompt">
                    <h2>"Try a prompt"</h2>
                    <p class="muted">"Asks the console's model. Every call counts against your budget."</p>
                    <form on:submit=submit>
                        <label for="prompt">"Prompt"</label>
                        <textarea id="prompt" rows="3" bind:value=prompt></textarea>
                        <FieldError error field="prompt" />
                        <button type="submit" class="btn btn-primary" id="ask" disabled=move || ask.pending().get()>
                            {move || if ask.pending().get() { "Asking…" } else { "Ask" }}
                        </button>
                    </form>
                    <ErrorBanner error />
                    {move || answer().map(|a| view! {
                        <div class="answer" id="answer">
                            <p>{a.text}</p>
                            <p class="muted">{format!("{} · {} · {} in / {} out · {}", a.provider, a.model, a.input_tokens, a.output_tokens, usd(a.cost_nanos))}</p>
                        </div>
                    })}
                </div>
                <div class="card">
                    <div class="card-head">
                        <h2>{format!("Model calls, last {DAYS} days")}</h2>
                        <span class="muted">
                            "Export: "
                            <a href=format!("/api/v1/usage/export?days={DAYS}&format=csv") rel="external" download="">"CSV"</a>
                            " · "
                            <a href=format!("/api/v1/usage/export?days={DAYS}&format=json") rel="external" download="">"JSON"</a>
                        </span>
                    </div>
                    <Transition fallback=|| view! { <p class="loading">"Loading calls…"</p> }>
                        {move || Suspend::new(async move {
                            match calls.await {
                                Ok(page) if page.items.is_empty() => view! { <p class="muted">"No model calls yet."</p> }.into_any(),
                                Ok(page) => {
                                    let total = page.total;
                                    view! {
                                        <table class="table" id="calls-table">
                                            <thead><tr><th>"When"</th><th>"Feature"</th><th>"Model"</th><th>"Tokens in / out"</th><th>"Cost"</th><th>"Time"</th><th>"Outcome"</th></tr></thead>
                                            <tbody>{page.items.into_iter().map(|c| view! { <CallRow call=c /> }).collect_view()}</tbody>
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
fn BudgetCard(budget: BudgetStatus) -> impl IntoView {
    let title = if budget.budget.is_global() {
        format!("Team {} budget", budget.period)
    } else {
        format!("Your {} budget", budget.period)
    };
    let band = budget.band;
    let label = match band {
        BudgetBand::Active => "active",
        BudgetBand::Warning => "warning: 80 % used",
        BudgetBand::Critical => "critical: 95 % used",
        BudgetBand::Exceeded => "exceeded",
    };
    let percent = budget.percent.clamp(0, 100);
    view! {
        <div class="card budget" data-budget=budget.budget.key() data-band=band.as_str()>
            <div class="card-head">
                <h2>{title}</h2>
                <span class="badge band" data-band=band.as_str()>{label}</span>
            </div>
            <p class="budget-figures">
                <strong>{usd(budget.spent_nanos)}</strong>
                " of "
                {usd(budget.limit_nanos)}
                {format!(" ({}%)", budget.percent)}
                {(budget.reserved_nanos > 0).then(|| format!(" · {} held by calls in progress", usd(budget.reserved_nanos)))}
            </p>
            <progress class="progress budget-bar" data-band=band.as_str() max="100" value=percent.to_string() aria-label="Budget used"></progress>
            <p class="muted">{format!("Resets {}", budget.resets_at.format("%Y-%m-%d %H:%M UTC"))}</p>
            {budget.projected_over.then(|| view! {
                <p class="banner banner-warning projection" role="status">
                    {format!("At this pace you will spend about {} by the reset, more than the limit.", usd(budget.projected_nanos))}
                </p>
            })}
        </div>
    }
}

#[component]
fn CallRow(call: LlmCall) -> impl IntoView {
    view! {
        <tr data-call-id=call.id.to_string()>
            <td>{call.at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
            <td><code>{call.feature.clone()}</code></td>
            <td>
                {call.model.clone()}
                <br />
                <span class="muted">{call.provider.clone()}{call.streamed.then_some(" · streamed")}</span>
            </td>
            <td>
                {format!("{} / {}", call.input_tokens + call.cached_input_tokens, call.output_tokens)}
                {call.usage_estimated.then(|| view! { <span class="badge" title="The provider reported no usage for this call; these token counts are Blueprint's estimate.">"estimated"</span> })}
            </td>
            <td>
                {usd(call.cost_nanos)}
                {(!call.price_known).then(|| view! { <span class="badge" title="This model is not in the price table; the default price was used.">"default price"</span> })}
            </td>
            <td>{human_ms(call.latency_ms)}</td>
            <td><span class="badge outcome" data-outcome=call.outcome.clone()>{call.outcome.clone()}</span></td>
        </tr>
    }
}
