//! The AI gateway page's money cards: every user's spend this period with the top spenders, the
//! price table with models that have no price, and the team's spend over 30 days.

use crate::api::llm_admin::{get_spend_overview, team_usage_summary, unpriced_models};
use crate::api::usage::{SetPrice, list_prices};
use crate::components::chart::SpendSummary;
use crate::components::form::{ErrorBanner, FieldError, FormGate, LoadError};
use crate::components::table::Pager;
use crate::i18n::td_string;
use crate::l10n;
use leptos::prelude::*;
use model::{ModelPrice, UserSpend};

const PAGE: i64 = 20;

#[component]
pub(super) fn SpendCard() -> impl IntoView {
    let q = RwSignal::new(String::new());
    let min = RwSignal::new(0i64);
    let offset = RwSignal::new(0i64);
    let lang = crate::l10n::use_lang();
    let spend = Resource::new(
        move || (q.get(), min.get(), offset.get()),
        |(q, min, offset)| get_spend_overview(q, min, PAGE, offset),
    );
    view! {
        <div class="card" id="llm-spend">
            <h2>{td_string!(lang, llm.spend)}</h2>
            <div class="inline-form">
                <label for="spend-q">{td_string!(lang, llm.user)}</label>
                <input id="spend-q" type="search" placeholder=td_string!(lang, llm.user_placeholder) prop:value=move || q.get()
                    on:change=move |ev| { offset.set(0); q.set(event_target_value(&ev)); } />
                <label for="spend-min">{td_string!(lang, llm.at_least)}</label>
                <select id="spend-min" on:change=move |ev| { offset.set(0); min.set(event_target_value(&ev).parse().unwrap_or(0)); }>
                    <option value="0">{td_string!(lang, llm.any_spend)}</option>
                    <option value="80">{td_string!(lang, llm.min_80)}</option>
                    <option value="95">{td_string!(lang, llm.min_95)}</option>
                    <option value="100">{td_string!(lang, llm.min_100)}</option>
                </select>
            </div>
            <Transition fallback=move || view! { <p class="loading">{td_string!(lang, llm.loading_spend)}</p> }>
                {move || Suspend::new(async move {
                    match spend.await {
                        Ok(o) => {
                            let total = o.total;
                            let over = o.over_warning;
                            view! {
                                <p class="muted" id="over-warning">{move || crate::plural!(lang, llm.over_warning, count = over)}</p>
                                {(!o.top.is_empty()).then(|| view! {
                                    <h3>{td_string!(lang, llm.top_spenders)}</h3>
                                    <ol class="top-spenders" id="top-spenders">
                                        {o.top.iter().map(|u| {
                                            let (email, spent, limit) = (u.email.clone(), u.spent_nanos, u.limit_nanos);
                                            view! { <li>{move || { let l = lang; td_string!(lang, llm.top_line, email = email.clone(), spent = l10n::usd(l, spent), limit = l10n::usd(l, limit)) }}</li> }
                                        }).collect_view()}
                                    </ol>
                                })}
                                <div class="table-scroll">
                                <table class="table" id="spend-table">
                                    <thead><tr>
                                        <th>{td_string!(lang, llm.user)}</th>
                                        <th>{td_string!(lang, llm.spent)}</th>
                                        <th>{td_string!(lang, llm.budget)}</th>
                                        <th>{td_string!(lang, llm.used)}</th>
                                        <th>{td_string!(lang, llm.resets)}</th>
                                    </tr></thead>
                                    <tbody>{o.users.into_iter().map(|u| view! { <SpendRow u /> }).collect_view()}</tbody>
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
    }
}

#[component]
fn SpendRow(u: UserSpend) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let band = u.band.as_str();
    let (spent, reserved, limit, resets) =
        (u.spent_nanos, u.reserved_nanos, u.limit_nanos, u.resets_at);
    let (period, custom) = (u.period.clone(), u.custom);
    view! {
        <tr data-user-email=u.email.clone() data-band=band>
            <td><strong>{u.display_name.clone()}</strong><br /><span class="muted">{u.email.clone()}</span></td>
            <td>{move || {
                let l = lang;
                let held = (reserved > 0).then(|| format!(" {}", td_string!(lang, llm.held, amount = l10n::usd(l, reserved))));
                format!("{}{}", l10n::usd(l, spent), held.unwrap_or_default())
            }}</td>
            <td>{move || {
                let l = lang;
                let by_admin = if custom { format!(" · {}", td_string!(lang, llm.set_by_admin)) } else { String::new() };
                format!("{} {}{by_admin}", l10n::usd(l, limit), l10n::period_words(l, &period))
            }}</td>
            <td><span class="badge band" data-band=band>{format!("{} %", u.percent)}</span></td>
            <td class="nowrap">{move || l10n::date_time(lang, resets)}</td>
        </tr>
    }
}

#[component]
pub(super) fn PricesCard() -> impl IntoView {
    let set = ServerAction::<SetPrice>::new();
    let prices = Resource::new(move || set.version().get(), |_| list_prices());
    let unpriced = Resource::new(move || set.version().get(), |_| unpriced_models());
    let model = RwSignal::new(String::new());
    let input = RwSignal::new(String::new());
    let output = RwSignal::new(String::new());
    let cached = RwSignal::new(String::new());
    let quality = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let lang = crate::l10n::use_lang();
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
            <h2>{td_string!(lang, llm.prices)}</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match unpriced.await {
                        Ok(list) if !list.is_empty() => view! {
                            <div class="banner banner-warning" role="status" id="unpriced">
                                <p>{td_string!(lang, llm.unpriced)}</p>
                                <ul>{list.into_iter().map(|m| {
                                    let name = m.model.clone();
                                    let (calls, last) = (m.calls, m.last_at);
                                    view! {
                                        <li data-model=m.model.clone()>
                                            <code>{m.model.clone()}</code>
                                            " " {move || crate::plural!(lang, llm.unpriced_line, count = calls, at = l10n::date_time(lang, last))} " "
                                            <button type="button" class="btn btn-small" on:click=move |_| model.set(name.clone())>{td_string!(lang, llm.price_it)}</button>
                                        </li>
                                    }
                                }).collect_view()}</ul>
                            </div>
                        }.into_any(),
                        _ => ().into_any(),
                    }
                })}
            </Transition>
            <Transition fallback=move || view! { <p class="loading">{td_string!(lang, llm.loading_prices)}</p> }>
                {move || Suspend::new(async move {
                    match prices.await {
                        Ok(list) => view! {
                            <div class="table-scroll">
                            <table class="table" id="prices-table">
                                <thead><tr>
                                    <th>{td_string!(lang, llm.model)}</th>
                                    <th>{td_string!(lang, llm.input)}</th>
                                    <th>{td_string!(lang, llm.output)}</th>
                                    <th>{td_string!(lang, llm.cached_input)}</th>
                                    <th>{td_string!(lang, llm.quality)}</th>
                                    <th><span class="visually-hidden">{td_string!(lang, llm.actions)}</span></th>
                                </tr></thead>
                                <tbody>{list.into_iter().map(|p| {
                                    let row = p.clone();
                                    let (input, output, cached) = (p.input_usd_per_mtok, p.output_usd_per_mtok, p.cached_input_usd_per_mtok);
                                    let money = move |v: f64| l10n::decimal(lang, v, 3);
                                    view! {
                                        <tr data-model=p.model.clone()>
                                            <td><code>{p.model.clone()}</code></td>
                                            <td>{move || money(input)}</td>
                                            <td>{move || money(output)}</td>
                                            <td>{move || money(cached)}</td>
                                            <td>{p.quality.map(|q| q.to_string()).unwrap_or_else(|| "–".into())}</td>
                                            <td><button type="button" class="btn btn-small" on:click=move |_| fill(&row)>{td_string!(lang, llm.edit)}</button></td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                })}
            </Transition>
            <form method="post" class="inline-form" on:submit=submit id="price-form"><FormGate>
                <label for="price-model">{td_string!(lang, llm.model_prefix)}</label>
                <input id="price-model" type="text" bind:value=model />
                <label for="price-input">{td_string!(lang, llm.input)}</label>
                <input id="price-input" type="number" min="0" step="0.001" bind:value=input />
                <label for="price-output">{td_string!(lang, llm.output)}</label>
                <input id="price-output" type="number" min="0" step="0.001" bind:value=output />
                <label for="price-cached">{td_string!(lang, llm.cached_input)}</label>
                <input id="price-cached" type="number" min="0" step="0.001" bind:value=cached />
                <label for="price-quality">{td_string!(lang, llm.quality_range)}</label>
                <input id="price-quality" type="number" min="0" max="100" bind:value=quality />
                <label for="price-reason">{td_string!(lang, llm.reason)}</label>
                <input id="price-reason" type="text" bind:value=reason />
                <button type="submit" class="btn btn-primary" disabled=move || set.pending().get()>{td_string!(lang, llm.save_price)}</button>
            </FormGate></form>
            {["model", "input_usd_per_mtok", "output_usd_per_mtok", "cached_input_usd_per_mtok", "quality", "reason"].into_iter().map(|f| view! { <FieldError error field=f /> }).collect_view()}
            <ErrorBanner error />
        </div>
    }
}

#[component]
pub(super) fn TeamUsageCard() -> impl IntoView {
    let summary = Resource::new(|| (), |_| team_usage_summary(30));
    let lang = crate::l10n::use_lang();
    view! {
        <div class="card" id="team-usage">
            <h2>{td_string!(lang, llm.team_spend)}</h2>
            <Transition fallback=move || view! { <p class="loading">{td_string!(lang, llm.loading_spend)}</p> }>
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
