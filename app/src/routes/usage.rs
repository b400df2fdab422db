//! `/usage`: the caller's budgets (spend against limit with bands, reset time, projection),
//! refreshed live when a budget alert arrives, and their recent model calls with export links.

use crate::api::llm_admin::my_usage_summary;
use crate::api::usage::{TryPrompt, model_ready, my_budgets, my_calls};
use crate::components::chart::SpendSummary;
use crate::components::form::{ErrorBanner, FieldError, FormGate, LoadError};
use crate::components::live::use_live_events;
use crate::components::table::{Pager, human_ms};
use crate::i18n::td_string;
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{BudgetBand, BudgetStatus, LlmCall, Page, UsageSummary};

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
        // Without a model provider the form says so and who can fix it, instead of offering
        // an Ask that can only fail.
        let ready = Resource::new(|| (), |_| model_ready());
        // Decided once the page runs: the answer is not part of the server-rendered page, and
        // hydration would not change a button's `disabled` to match it.
        let mounted = RwSignal::new(false);
        Effect::new(move |_| mounted.set(true));
        let no_model = move || mounted.get() && matches!(ready.get(), Some(Ok(false)));
        let session = crate::components::session::use_session();
        let is_admin = move || session.has(model::Scope::Admin);
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
        let lang = crate::l10n::use_lang();
        view! {
            <Title text=td_string!(lang, usage.title) />
            <section class="page">
                <h1>{td_string!(lang, usage.title)}</h1>
                <Transition fallback=move || view! { <p class="loading">{td_string!(lang, usage.loading_budgets)}</p> }>
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
                    <h2>{move || td_string!(lang, usage.spend_days, days = DAYS)}</h2>
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, usage.loading_spend)}</p> }>
                        {move || Suspend::new(async move {
                            match summary.await {
                                Ok(s) => view! { <SpendSummary summary=s /> }.into_any(),
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <div class="card" id="try-prompt">
                    <h2>{td_string!(lang, usage.try_prompt)}</h2>
                    <p class="muted">{td_string!(lang, usage.try_text)}</p>
                    <Transition fallback=|| ()>
                        <Show when=no_model>
                            <p class="banner banner-warning" id="no-model" role="status">
                                {move || if is_admin() { td_string!(lang, dashboard.step_model_text) } else { td_string!(lang, dashboard.step_model_member) }}
                            </p>
                        </Show>
                    </Transition>
                    <form method="post" on:submit=submit><FormGate>
                        <label for="prompt">{td_string!(lang, usage.prompt)}</label>
                        <textarea id="prompt" rows="3" bind:value=prompt></textarea>
                        <FieldError error field="prompt" />
                        <button type="submit" class="btn btn-primary" id="ask" disabled=move || ask.pending().get() || no_model()>
                            {move || if ask.pending().get() { td_string!(lang, usage.asking) } else { td_string!(lang, usage.ask) }}
                        </button>
                    </FormGate></form>
                    <ErrorBanner error />
                    {move || answer().map(|a| {
                        let l = lang;
                        let meta = td_string!(lang,
                            usage.answer_meta,
                            provider = a.provider.clone(),
                            model = a.model.clone(),
                            input = l10n::number(l, a.input_tokens),
                            output = l10n::number(l, a.output_tokens),
                            cost = l10n::usd(l, a.cost_nanos)
                        );
                        view! {
                            <div class="answer" id="answer">
                                <p>{a.text}</p>
                                <p class="muted">{meta}</p>
                            </div>
                        }
                    })}
                </div>
                <div class="card">
                    <div class="card-head">
                        <h2>{move || td_string!(lang, usage.calls_days, days = DAYS)}</h2>
                        <span class="muted">
                            {td_string!(lang, usage.export)} " "
                            <a href=format!("/api/v1/usage/export?days={DAYS}&format=csv") rel="external" download="">"CSV"</a>
                            " · "
                            <a href=format!("/api/v1/usage/export?days={DAYS}&format=json") rel="external" download="">"JSON"</a>
                        </span>
                    </div>
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, usage.loading_calls)}</p> }>
                        {move || Suspend::new(async move {
                            match calls.await {
                                Ok(page) if page.items.is_empty() => view! { <p class="muted">{td_string!(lang, usage.no_calls)}</p> }.into_any(),
                                Ok(page) => {
                                    let total = page.total;
                                    view! {
                                        <table class="table" id="calls-table">
                                            <thead><tr>
                                                <th>{td_string!(lang, usage.when)}</th>
                                                <th>{td_string!(lang, usage.feature)}</th>
                                                <th>{td_string!(lang, usage.model)}</th>
                                                <th>{td_string!(lang, usage.tokens)}</th>
                                                <th>{td_string!(lang, usage.cost)}</th>
                                                <th>{td_string!(lang, usage.time)}</th>
                                                <th>{td_string!(lang, usage.outcome)}</th>
                                            </tr></thead>
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
    let lang = crate::l10n::use_lang();
    let global = budget.budget.is_global();
    let period = budget.period.clone();
    let title = move || l10n::budget_title(lang, global, &period);
    let band = budget.band;
    let label = move || {
        let l = lang;
        match band {
            BudgetBand::Active => td_string!(l, usage.band_active),
            BudgetBand::Warning => td_string!(l, usage.band_warning),
            BudgetBand::Critical => td_string!(l, usage.band_critical),
            BudgetBand::Exceeded => td_string!(l, usage.band_exceeded),
        }
    };
    let percent = budget.percent.clamp(0, 100);
    let b = budget.clone();
    let figures = move || {
        let l = lang;
        let held = (b.reserved_nanos > 0).then(|| {
            format!(" · {}", td_string!(lang, usage.held, amount = l10n::usd(l, b.reserved_nanos)))
        });
        (
            l10n::usd(l, b.spent_nanos),
            format!(" {} ", td_string!(l, usage.of)),
            l10n::usd(l, b.limit_nanos),
            format!(" ({} %)", b.percent),
            held,
        )
    };
    let resets_at = budget.resets_at;
    let projected = budget.projected_nanos;
    view! {
        <div class="card budget" data-budget=budget.budget.key() data-band=band.as_str()>
            <div class="card-head">
                <h2>{title}</h2>
                <span class="badge band" data-band=band.as_str()>{label}</span>
            </div>
            <p class="budget-figures">
                {move || {
                    let (spent, of, limit, percent, held) = figures();
                    view! { <strong>{spent}</strong> {of} {limit} {percent} {held} }
                }}
            </p>
            <progress class="progress budget-bar" data-band=band.as_str() max="100" value=percent.to_string() aria-label=td_string!(lang, usage.budget_used)></progress>
            <p class="muted">{move || td_string!(lang, usage.resets, at = l10n::date_time(lang, resets_at))}</p>
            {budget.projected_over.then(|| view! {
                <p class="banner banner-warning projection" role="status">
                    {move || td_string!(lang, usage.projection, amount = l10n::usd(lang, projected))}
                </p>
            })}
        </div>
    }
}

#[component]
fn CallRow(call: LlmCall) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let (at, streamed, cost, latency) = (call.at, call.streamed, call.cost_nanos, call.latency_ms);
    let (input, output) = (call.input_tokens + call.cached_input_tokens, call.output_tokens);
    view! {
        <tr data-call-id=call.id.to_string()>
            <td>{move || l10n::date_time(lang, at)}</td>
            <td><code>{call.feature.clone()}</code></td>
            <td>
                {call.model.clone()}
                <br />
                <span class="muted">{call.provider.clone()}{move || streamed.then(|| format!(" · {}", td_string!(lang, usage.streamed)))}</span>
            </td>
            <td>
                {move || { let l = lang; format!("{} / {}", l10n::number(l, input), l10n::number(l, output)) }}
                {call.usage_estimated.then(|| view! { <span class="badge" title=td_string!(lang, usage.estimated_title)>{td_string!(lang, usage.estimated)}</span> })}
            </td>
            <td>
                {move || l10n::usd(lang, cost)}
                {(!call.price_known).then(|| view! { <span class="badge" title=td_string!(lang, usage.default_price_title)>{td_string!(lang, usage.default_price)}</span> })}
            </td>
            <td>{move || human_ms(lang, latency)}</td>
            <td><span class="badge outcome" data-outcome=call.outcome.clone()>{call.outcome.clone()}</span></td>
        </tr>
    }
}
