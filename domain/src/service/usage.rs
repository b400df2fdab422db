//! Spending: a user's budgets and calls (and their export), admins' budget and price edits —
//! each edit with a reason, in the audit log in the same transaction.

use crate::auth::Principal;
use crate::llm::{Gateway, Period};
use crate::service::audit_by;
use crate::service::users::page_bounds;
use crate::state::AppState;
use crate::store::{BudgetRow, PriceRow};
use chrono::Utc;
use model::BudgetScope;
use model::error::AppError;
use model::{BudgetStatus, LlmCall, ModelPrice, Page, PromptAnswer, Scope};

/// Largest budget or price an admin may set, in USD.
const MAX_USD: f64 = 1_000_000.0;

/// The caller's budgets.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn my_budgets(state: &AppState, user: &Principal) -> Result<Vec<BudgetStatus>, AppError> {
    budget_status(&state.llm, user.user_id).await
}

/// A user's budgets as they see them: spend, band, reset time and the projection at the current
/// pace — the view of the gateway's budget lines that the usage page and `/api/v1/budget` show.
#[tracing::instrument(skip_all, fields(user.id = user_id))]
pub async fn budget_status(llm: &Gateway, user_id: i64) -> Result<Vec<BudgetStatus>, AppError> {
    let now = Utc::now();
    let mut out = Vec::new();
    for (check, period, resets_at) in llm.budgets(user_id, now).await? {
        let Some(budget) = BudgetScope::parse(&check.scope) else {
            tracing::error!(budget = %check.scope, "a budget row has a scope that is not global or user:<id>; left out");
            continue;
        };
        let spend = llm.spend(&check.scope, check.period_start).await?;
        let start = crate::store::from_ms(check.period_start);
        let elapsed = (now - start).num_milliseconds().max(1);
        let length = (resets_at - start).num_milliseconds().max(1);
        let projected =
            i64::try_from(i128::from(spend.spent_nanos) * i128::from(length) / i128::from(elapsed))
                .unwrap_or(i64::MAX);
        out.push(model::BudgetStatus {
            budget,
            period: period.as_str().into(),
            limit_nanos: check.limit_nanos,
            spent_nanos: spend.spent_nanos,
            reserved_nanos: spend.reserved_nanos,
            percent: if check.limit_nanos > 0 {
                spend.spent_nanos.saturating_mul(100) / check.limit_nanos
            } else {
                100
            },
            band: model::BudgetBand::of(spend.spent_nanos, check.limit_nanos),
            period_start: start,
            resets_at,
            projected_nanos: projected,
            projected_over: projected > check.limit_nanos,
        });
    }
    Ok(out)
}

/// The caller's calls in the last `days` days, newest first.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn my_calls(
    state: &AppState,
    user: &Principal,
    days: i64,
    limit: i64,
    offset: i64,
) -> Result<Page<LlmCall>, AppError> {
    let (limit, offset) = page_bounds(limit, offset)?;
    if !(1..=366).contains(&days) {
        return Err(AppError::invalid(
            "days",
            "range",
            crate::tr!("days must be between 1 and 366"),
        ));
    }
    let since = Utc::now() - chrono::Duration::days(days);
    let (rows, total) =
        state.store.list_llm_calls(Some(user.user_id), since, limit, offset).await?;
    Ok(Page { items: rows, total, offset, limit })
}

/// Every call of the caller in the last `days` days (at most 100,000), for export.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn export_calls(
    state: &AppState,
    user: &Principal,
    days: i64,
) -> Result<Vec<LlmCall>, AppError> {
    if !(1..=366).contains(&days) {
        return Err(AppError::invalid(
            "days",
            "range",
            crate::tr!("days must be between 1 and 366"),
        ));
    }
    let since = Utc::now() - chrono::Duration::days(days);
    let (rows, _) = state.store.list_llm_calls(Some(user.user_id), since, 100_000, 0).await?;
    Ok(rows)
}

/// Calls as CSV (RFC 4180 quoting), a header row first.
pub fn calls_csv(calls: &[LlmCall]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from(
        "id,at,feature,provider,model,input_tokens,output_tokens,cached_input_tokens,cost_usd,latency_ms,outcome,streamed,price_known,error,request_id\n",
    );
    for c in calls {
        let row = [
            c.id.to_string(),
            c.at.to_rfc3339(),
            quote(&c.feature),
            quote(&c.provider),
            quote(&c.model),
            c.input_tokens.to_string(),
            c.output_tokens.to_string(),
            c.cached_input_tokens.to_string(),
            format!("{:.9}", c.cost_nanos as f64 / 1e9),
            c.latency_ms.to_string(),
            quote(&c.outcome),
            c.streamed.to_string(),
            c.price_known.to_string(),
            quote(c.error.as_deref().unwrap_or("")),
            quote(c.request_id.as_deref().unwrap_or("")),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn check_reason(reason: &str) -> Result<String, AppError> {
    let reason = reason.trim();
    if reason.chars().count() < 3 || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "reason",
            "length",
            crate::tr!("say why in 3 to 500 characters"),
        ));
    }
    Ok(reason.to_string())
}

fn check_usd(field: &str, value: f64) -> Result<i64, AppError> {
    if !value.is_finite() || !(0.0..=MAX_USD).contains(&value) {
        return Err(AppError::invalid(
            field,
            "range",
            crate::tr!(
                "%{field} must be between 0 and %{MAX_USD}",
                field = field,
                MAX_USD = MAX_USD
            ),
        ));
    }
    Ok((value * 1e9).round() as i64)
}

/// Sets the global budget (`user_id` None) or a user's, with a reason (admins; audited).
#[tracing::instrument(skip_all)]
pub async fn set_budget(
    state: &AppState,
    admin: &Principal,
    user_id: Option<i64>,
    limit_usd: f64,
    period: &str,
    reason: &str,
) -> Result<BudgetStatus, AppError> {
    if !admin.scopes.contains(Scope::Admin) {
        return Err(AppError::forbidden(crate::tr!("changing budgets needs the 'admin' scope")));
    }
    let limit_nanos = check_usd("limit_usd", limit_usd)?;
    let period = Period::parse(period).ok_or_else(|| {
        AppError::invalid("period", "one_of", crate::tr!("period must be daily, weekly or monthly"))
    })?;
    let reason = check_reason(reason)?;
    let budget_scope = match user_id {
        Some(id) => {
            state.store.get_user(id).await.map_err(|_| AppError::not_found("user"))?;
            model::BudgetScope::User(id)
        }
        None => model::BudgetScope::Global,
    };
    let scope = budget_scope.key();
    let before = state.store.list_budgets().await?.into_iter().find(|b| b.scope == scope);
    let row = BudgetRow {
        scope: scope.clone(),
        period: period.as_str().into(),
        limit_nanos,
        updated_at: Utc::now().timestamp_millis(),
    };
    let detail = serde_json::json!({
        "reason": reason,
        "limit_nanos": limit_nanos,
        "period": period.as_str(),
        "before": before.map(|b| serde_json::json!({ "limit_nanos": b.limit_nanos, "period": b.period })),
    });
    state
        .store
        .set_budget(&row, Some(admin.user_id), audit_by(admin, "budget.set", scope.clone(), detail))
        .await?;
    state.llm.invalidate_budgets().await;
    let owner = user_id.unwrap_or(admin.user_id);
    budget_status(&state.llm, owner)
        .await?
        .into_iter()
        .find(|b| b.budget == budget_scope)
        .ok_or_else(|| AppError::not_found("budget"))
}

/// The price table (admins).
#[tracing::instrument(skip_all)]
pub async fn prices(state: &AppState) -> Result<Vec<ModelPrice>, AppError> {
    let usd = |n: i64| n as f64 / 1e9;
    Ok(state
        .store
        .list_prices()
        .await?
        .into_iter()
        .map(|p| ModelPrice {
            model: p.model,
            input_usd_per_mtok: usd(p.input_per_mtok),
            output_usd_per_mtok: usd(p.output_per_mtok),
            cached_input_usd_per_mtok: usd(p.cached_input_per_mtok),
            quality: p.quality,
        })
        .collect())
}

/// Sets a model's price, with a reason (admins; audited).
#[tracing::instrument(skip_all)]
pub async fn set_price(
    state: &AppState,
    admin: &Principal,
    price: &ModelPrice,
    reason: &str,
) -> Result<(), AppError> {
    let model = price.model.trim();
    let valid = !model.is_empty()
        && model.len() <= 200
        && !model[..model.len().saturating_sub(1)].contains('*')
        && !model.chars().any(char::is_whitespace);
    if !valid {
        return Err(AppError::invalid(
            "model",
            "format",
            crate::tr!("model must be a name without spaces, optionally ending in *"),
        ));
    }
    let row = PriceRow {
        model: model.to_string(),
        input_per_mtok: check_usd("input_usd_per_mtok", price.input_usd_per_mtok)?,
        output_per_mtok: check_usd("output_usd_per_mtok", price.output_usd_per_mtok)?,
        cached_input_per_mtok: check_usd(
            "cached_input_usd_per_mtok",
            price.cached_input_usd_per_mtok,
        )?,
        quality: match price.quality {
            Some(q) if !(0..=100).contains(&q) => {
                return Err(AppError::invalid(
                    "quality",
                    "range",
                    crate::tr!("quality must be 0 to 100"),
                ));
            }
            q => q,
        },
        updated_at: Utc::now().timestamp_millis(),
    };
    let reason = check_reason(reason)?;
    let detail = serde_json::json!({ "reason": reason, "input_per_mtok": row.input_per_mtok, "output_per_mtok": row.output_per_mtok, "cached_input_per_mtok": row.cached_input_per_mtok, "quality": row.quality });
    state
        .store
        .upsert_price(
            &row,
            Some(admin.user_id),
            audit_by(admin, "price.set", format!("model:{model}"), detail),
        )
        .await?;
    state.llm.invalidate_prices();
    Ok(())
}

/// Output tokens a console prompt may use (and reserves).
pub const CONSOLE_MAX_TOKENS: u32 = 300;

/// Asks the `console` feature's model one question (scope `generate`): budgeted and recorded
/// like every call.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn try_prompt(
    state: &AppState,
    user: &Principal,
    prompt: &str,
    request_id: Option<String>,
) -> Result<PromptAnswer, AppError> {
    let prompt = prompt.trim();
    if prompt.is_empty() || prompt.chars().count() > 20_000 {
        return Err(AppError::invalid(
            "prompt",
            "length",
            crate::tr!("the prompt must have 1 to 20000 characters"),
        ));
    }
    let caller = crate::llm::Caller {
        user_id: user.user_id,
        feature: "console".into(),
        request_id,
        rfc_id: None,
    };
    let messages = vec![crate::llm::Message::new(crate::llm::Role::User, prompt)];
    let (answer, receipt) = state.llm.chat(&caller, messages, CONSOLE_MAX_TOKENS).await?;
    let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(PromptAnswer {
        text: answer.text,
        provider: receipt.provider,
        model: receipt.model,
        input_tokens: tokens(receipt.usage.input_tokens + receipt.usage.cached_input_tokens),
        output_tokens: tokens(receipt.usage.output_tokens),
        cost_nanos: receipt.cost_nanos,
    })
}

/// The id of the user with this e-mail (admins, for budget edits by e-mail).
#[tracing::instrument(skip_all)]
pub async fn user_id_by_email(state: &AppState, email: &str) -> Result<i64, AppError> {
    let email = model::Email::parse(email)
        .map_err(|e| crate::i18n::here(AppError::invalid("user_email", "format", e.message)))?;
    state.store.get_user_by_email(email.as_str()).await.map(|u| u.user.id).map_err(|_| {
        AppError::invalid("user_email", "exists", crate::tr!("no user has this e-mail"))
    })
}
