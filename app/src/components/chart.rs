//! Spend charts: bars per day drawn as SVG (no script, nothing inline the CSP would block) and
//! tables of spend per feature or model with each row's share of the total.

use crate::i18n::td_string;
use crate::l10n;
use leptos::prelude::*;
use model::{SpendShare, UsageSummary};

const WIDTH: i64 = 600;
const HEIGHT: i64 = 120;

/// Spend per day as bars, with the total, the peak day and the time zone days follow.
#[component]
pub fn SpendChart(summary: UsageSummary) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    let days = summary.days;
    let total: i64 = days.iter().map(|d| d.cost_nanos).sum();
    let calls: i64 = days.iter().map(|d| d.calls).sum();
    let peak = days.iter().max_by_key(|d| d.cost_nanos).cloned();
    let max = peak.as_ref().map_or(0, |d| d.cost_nanos).max(1);
    let n = i64::try_from(days.len()).unwrap_or(1).max(1);
    let slot = WIDTH / n;
    let bar = (slot - 2).max(1);
    let first = days.first().map(|d| d.day.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.day.clone()).unwrap_or_default();
    let bars = days
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let i = i64::try_from(i).unwrap_or(0);
            let h = if d.cost_nanos > 0 {
                ((i128::from(d.cost_nanos) * i128::from(HEIGHT - 4)) / i128::from(max)).max(2)
            } else {
                0
            };
            let h = i64::try_from(h).unwrap_or(HEIGHT);
            view! {
                <rect class="bar" x=(i * slot + 1).to_string() y=(HEIGHT - h).to_string()
                    width=bar.to_string() height=h.to_string()
                    data-day=d.day.clone() data-cost=d.cost_nanos.to_string() data-calls=d.calls.to_string()>
                </rect>
            }
        })
        .collect_view();
    let in_calls = move || {
        crate::plural!(lang, chart.in_calls, count = calls, amount = l10n::usd(lang, total))
    };
    let timezone = summary.timezone;
    let peak_words = move || {
        peak.clone().filter(|p| p.cost_nanos > 0).map(|p| {
            let amount = l10n::usd(lang, p.cost_nanos);
            format!(" · {}", td_string!(lang, chart.peak, amount, day = p.day))
        })
    };
    view! {
        <figure class="chart" id="spend-chart">
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" role="img"
                aria-label=move || td_string!(lang, chart.spend_per_day, summary = in_calls())>
                <line class="axis" x1="0" y1=HEIGHT.to_string() x2=WIDTH.to_string() y2=HEIGHT.to_string()></line>
                {bars}
            </svg>
            <figcaption class="chart-caption">
                <span>{first}</span>
                <span class="muted">
                    {in_calls}
                    {peak_words}
                    " · "
                    {move || td_string!(lang, chart.days_in, tz = timezone.clone())}
                </span>
                <span>{last}</span>
            </figcaption>
        </figure>
    }
}

/// Calls, cache hits, tokens and cost per feature or model, costliest first.
#[component]
pub fn ShareTable(
    /// What the rows are: by model (`true`) or by feature.
    by_model: bool,
    /// The rows.
    rows: Vec<SpendShare>,
    /// Element id.
    id: &'static str,
) -> impl IntoView {
    let lang = crate::l10n::use_lang();
    if rows.is_empty() {
        return view! { <p class="muted">{td_string!(lang, chart.nothing)}</p> }.into_any();
    }
    let total: i64 = rows.iter().map(|r| r.cost_nanos).sum::<i64>().max(1);
    view! {
        <table class="table" id=id>
            <thead><tr>
                <th>{move || if by_model { td_string!(lang, chart.model) } else { td_string!(lang, chart.feature) }}</th>
                <th>{td_string!(lang, chart.calls)}</th>
                <th>{td_string!(lang, chart.cache_hits)}</th>
                <th>{td_string!(lang, chart.tokens)}</th>
                <th>{td_string!(lang, chart.cost)}</th>
                <th>{td_string!(lang, chart.share)}</th>
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let share = r.cost_nanos.saturating_mul(100) / total;
                    let (calls, hits, tokens, cost) = (r.calls, r.cache_hits, r.tokens, r.cost_nanos);
                    let num = move |n: i64| l10n::number(lang, n);
                    view! {
                        <tr data-name=r.name.clone()>
                            <td><code>{r.name.clone()}</code></td>
                            <td>{move || num(calls)}</td>
                            <td>{move || num(hits)}</td>
                            <td>{move || num(tokens)}</td>
                            <td>{move || l10n::usd(lang, cost)}</td>
                            <td><progress class="progress share" max="100" value=share.to_string() aria-label=td_string!(lang, chart.share_of_cost)></progress></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// The spend chart above the tables by feature and by model (ids `by-…`, or `team-by-…` for
/// the whole team's).
#[component]
pub fn SpendSummary(summary: UsageSummary, #[prop(optional)] team: bool) -> impl IntoView {
    let (features, models) = (summary.by_feature.clone(), summary.by_model.clone());
    let (feature_id, model_id) =
        if team { ("team-by-feature", "team-by-model") } else { ("by-feature", "by-model") };
    let lang = crate::l10n::use_lang();
    view! {
        <SpendChart summary />
        <div class="grid-2">
            <div><h3>{td_string!(lang, chart.by_feature)}</h3><ShareTable by_model=false rows=features id=feature_id /></div>
            <div><h3>{td_string!(lang, chart.by_model)}</h3><ShareTable by_model=true rows=models id=model_id /></div>
        </div>
    }
}
