//! The gateway's admin side: providers (keys sealed at rest, never shown), their health,
//! routing (strategy, per-feature routes, private pins), every user's spend, models without a
//! price — and usage summaries for the Usage page. Every edit lands in the audit log.

use crate::auth::Principal;
use crate::llm::Target;
use crate::outbound::{UrlPolicy, check_url, origin};
use crate::service::audit_by;
use crate::state::AppState;
use crate::store::{ProviderRow, from_ms};
use chrono::{Duration, Utc};
use model::error::AppError;
use model::{
    BudgetBand, DaySpend, ProviderHealth, ProviderInfo, ProviderInput, RoutingSettings,
    RoutingView, Scope, SpendOverview, SpendShare, Strategy, UnpricedModelInfo, UsageSummary,
    UserSpend,
};
use secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};

fn require_admin(admin: &Principal) -> Result<(), AppError> {
    if admin.scopes.contains(Scope::Admin) {
        Ok(())
    } else {
        Err(AppError::forbidden(crate::tr!("this needs the 'admin' scope")))
    }
}

fn breaker_name(state: crate::llm::breaker::BreakerState) -> &'static str {
    use crate::llm::breaker::BreakerState;
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half_open",
    }
}

/// Every provider: configured ones (read-only here) and those admins added.
#[tracing::instrument(skip_all)]
pub async fn list_providers(state: &AppState) -> Result<Vec<ProviderInfo>, AppError> {
    let snapshot = state.llm.routing().await?;
    let live: HashMap<String, _> =
        state.llm.providers().await?.into_iter().map(|p| (p.name().to_string(), p)).collect();
    let configured = state.llm.configured_provider_names();
    let mut out = Vec::new();
    for name in &configured {
        let Some(p) = live.get(name) else { continue };
        out.push(ProviderInfo {
            name: name.clone(),
            kind: kind_name(p.kind()).into(),
            base_url: p.base_url().into(),
            has_key: false,
            private: p.is_private(),
            azure: false,
            enabled: true,
            timeout_secs: 0,
            max_retries: 0,
            source: "config".into(),
            breaker: breaker_name(p.breaker_state()).into(),
            problem: None,
        });
    }
    for row in &snapshot.rows {
        let loaded = live.get(&row.name).filter(|_| !configured.contains(&row.name));
        out.push(ProviderInfo {
            name: row.name.clone(),
            kind: row.kind.clone(),
            base_url: row.base_url.clone(),
            has_key: row.api_key_enc.is_some(),
            private: row.private,
            azure: row.azure,
            enabled: row.enabled,
            timeout_secs: row.timeout_secs,
            max_retries: row.max_retries,
            source: "admin".into(),
            breaker: loaded.map(|p| breaker_name(p.breaker_state())).unwrap_or_default().into(),
            problem: snapshot.problems.get(&row.name).cloned(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn kind_name(kind: crate::llm::ProviderKind) -> &'static str {
    use crate::llm::ProviderKind;
    match kind {
        ProviderKind::OpenAi => "openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Ollama => "ollama",
    }
}

/// Checks a provider's base URL with the one outbound guard (`server::outbound`).
fn check_base_url(raw: &str, policy: UrlPolicy) -> Result<String, AppError> {
    let url = check_url(raw, policy)
        .map_err(|e| AppError::invalid("base_url", e.rule, crate::tr!("base_url: %{e}", e = e)))?;
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    let ok = (1..=40).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(AppError::invalid(
            "name",
            "format",
            crate::tr!("name must be 1 to 40 letters, digits, '-' or '_'"),
        ));
    }
    Ok(name.to_string())
}

/// Adds or changes a provider (admins; audited). The key is sealed with the deployment key;
/// leaving it out keeps the stored one, an empty one removes it.
#[tracing::instrument(skip_all)]
pub async fn save_provider(
    state: &AppState,
    admin: &Principal,
    input: ProviderInput,
) -> Result<ProviderInfo, AppError> {
    require_admin(admin)?;
    let name = check_name(&input.name)?;
    if state.llm.configured_provider_names().contains(&name) {
        return Err(AppError::invalid(
            "name",
            "unique",
            crate::tr!("a provider with this name comes from configuration; pick another name"),
        ));
    }
    if !matches!(input.kind.as_str(), "openai" | "anthropic" | "ollama") {
        return Err(AppError::invalid(
            "kind",
            "one_of",
            crate::tr!("kind must be openai, anthropic or ollama"),
        ));
    }
    let base_url = check_base_url(&input.base_url, state.urls)?;
    if !(1..=3600).contains(&input.timeout_secs) {
        return Err(AppError::invalid(
            "timeout_secs",
            "range",
            crate::tr!("timeout_secs must be 1 to 3600"),
        ));
    }
    if !(0..=10).contains(&input.max_retries) {
        return Err(AppError::invalid(
            "max_retries",
            "range",
            crate::tr!("max_retries must be 0 to 10"),
        ));
    }
    let existing = state.store.list_llm_providers().await?.into_iter().find(|r| r.name == name);
    let api_key_enc = match input.api_key.as_deref().map(str::trim) {
        // A stored key goes only where it went before: a new origin needs the key again.
        None if existing.as_ref().is_some_and(|r| {
            r.api_key_enc.is_some() && origin(&r.base_url) != origin(&base_url)
        }) =>
        {
            return Err(AppError::invalid(
                "api_key",
                "required_for_new_origin",
                crate::tr!(
                    "the base URL now points elsewhere: enter the API key again to send it there"
                ),
            ));
        }
        None => existing.as_ref().and_then(|r| r.api_key_enc.clone()),
        Some("") => None,
        Some(key) => {
            if key.len() > 4096 || key.chars().any(char::is_whitespace) {
                return Err(AppError::invalid(
                    "api_key",
                    "format",
                    crate::tr!("api_key must be at most 4096 characters without spaces"),
                ));
            }
            let secrets = state.llm.secrets().ok_or_else(|| AppError::Unavailable {
                message: crate::tr!("no secret key is configured, so API keys cannot be stored"),
            })?;
            Some(secrets.seal(&SecretString::from(key.to_string())).map_err(|e| {
                AppError::Unavailable {
                    message: crate::tr!("the key could not be sealed: %{e}", e = e),
                }
            })?)
        }
    };
    let row = ProviderRow {
        name: name.clone(),
        kind: input.kind.clone(),
        base_url,
        api_key_enc,
        private: input.private,
        azure: input.azure,
        timeout_secs: input.timeout_secs,
        max_retries: input.max_retries,
        enabled: input.enabled,
        updated_at: Utc::now().timestamp_millis(),
    };
    let detail = serde_json::json!({
        "kind": row.kind, "base_url": row.base_url, "private": row.private,
        "enabled": row.enabled, "key_changed": input.api_key.is_some(),
        "created": existing.is_none(),
    });
    state
        .store
        .upsert_llm_provider(
            &row,
            Some(admin.user_id),
            audit_by(admin, "llm.provider.save", format!("provider:{name}"), detail),
        )
        .await?;
    state.llm.reload();
    list_providers(state)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| AppError::not_found("provider"))
}

/// Removes a provider admins added (admins; audited).
#[tracing::instrument(skip_all)]
pub async fn delete_provider(
    state: &AppState,
    admin: &Principal,
    name: &str,
) -> Result<(), AppError> {
    require_admin(admin)?;
    let entry =
        audit_by(admin, "llm.provider.delete", format!("provider:{name}"), serde_json::json!({}));
    if !state.store.delete_llm_provider(name, entry).await? {
        return Err(AppError::not_found("provider"));
    }
    state.llm.reload();
    Ok(())
}

/// Probes one provider (a cheap authenticated request).
#[tracing::instrument(skip_all)]
pub async fn probe_provider(state: &AppState, name: &str) -> Result<ProviderHealth, AppError> {
    let provider = state
        .llm
        .providers()
        .await?
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| AppError::not_found("provider"))?;
    Ok(match provider.probe().await {
        Ok(latency) => ProviderHealth {
            name: name.into(),
            ok: true,
            latency_ms: i64::try_from(latency.as_millis()).ok(),
            error: None,
        },
        Err(e) => ProviderHealth {
            name: name.into(),
            ok: false,
            latency_ms: None,
            error: Some(e.to_string()),
        },
    })
}

/// Routing in force, with pinned users by e-mail.
#[tracing::instrument(skip_all)]
pub async fn routing_view(state: &AppState) -> Result<RoutingView, AppError> {
    let snapshot = state.llm.routing().await?;
    let mut private_users = Vec::new();
    for id in &snapshot.private_users {
        if let Ok(u) = state.store.get_user(*id).await {
            private_users.push(u.user.email);
        }
    }
    private_users.sort();
    Ok(RoutingView {
        strategy: snapshot.strategy,
        config_strategy: state.llm.routing_defaults().strategy,
        routes: snapshot.routes,
        private_features: snapshot.private_features,
        private_users,
    })
}

/// What an admin submits for routing.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RoutingInput {
    /// Strategy wire name.
    pub strategy: String,
    /// Feature → `provider:model` list; an empty list drops the admin route (config applies).
    pub routes: BTreeMap<String, Vec<String>>,
    /// Features pinned to private providers.
    pub private_features: Vec<String>,
    /// E-mails of users pinned to private providers.
    pub private_users: Vec<String>,
}

fn check_feature(feature: &str, field: &str) -> Result<String, AppError> {
    let f = feature.trim();
    let ok = (1..=60).contains(&f.len())
        && f.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !ok {
        return Err(AppError::invalid(
            field,
            "format",
            crate::tr!(
                "%{field}: feature names are 1 to 60 letters, digits, '.', '-' or '_'",
                field = field
            ),
        ));
    }
    Ok(f.to_string())
}

/// Replaces the admin routing (admins; audited). Every target must name a known provider.
#[tracing::instrument(skip_all)]
pub async fn save_routing(
    state: &AppState,
    admin: &Principal,
    input: RoutingInput,
) -> Result<RoutingView, AppError> {
    require_admin(admin)?;
    let strategy = Strategy::parse(&input.strategy).ok_or_else(|| {
        AppError::invalid(
            "strategy",
            "one_of",
            crate::tr!("strategy must be priority, cost, quality, balanced or round_robin"),
        )
    })?;
    let mut known: Vec<String> = state.llm.configured_provider_names();
    known.extend(state.store.list_llm_providers().await?.into_iter().map(|r| r.name));
    let mut routes = BTreeMap::new();
    for (feature, targets) in &input.routes {
        let feature = check_feature(feature, "routes")?;
        let mut parsed = Vec::new();
        for t in targets.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            let target = Target::parse(t).ok_or_else(|| {
                AppError::invalid(
                    &format!("routes.{feature}"),
                    "format",
                    crate::tr!("'%{t}' must be provider:model", t = t),
                )
            })?;
            if !known.contains(&target.provider) {
                return Err(AppError::invalid(
                    &format!("routes.{feature}"),
                    "exists",
                    format!("no provider is called '{}'", target.provider),
                ));
            }
            parsed.push(target.to_string());
        }
        if parsed.len() > 10 {
            return Err(AppError::invalid(
                &format!("routes.{feature}"),
                "length",
                crate::tr!("a route has at most 10 targets"),
            ));
        }
        if !parsed.is_empty() {
            routes.insert(feature, parsed);
        }
    }
    let mut private_features = Vec::new();
    for f in input.private_features.iter().filter(|f| !f.trim().is_empty()) {
        private_features.push(check_feature(f, "private_features")?);
    }
    let mut private_users = Vec::new();
    for email in input.private_users.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let user = state.store.get_user_by_email(&email.to_lowercase()).await.map_err(|_| {
            AppError::invalid(
                "private_users",
                "exists",
                crate::tr!("no user has the e-mail %{email}", email = email),
            )
        })?;
        private_users.push(user.user.id);
    }
    let settings =
        RoutingSettings { strategy: Some(strategy), routes, private_features, private_users };
    let value = serde_json::to_string(&settings)
        .map_err(|e| AppError::Unavailable { message: e.to_string() })?;
    let detail = serde_json::to_value(&settings).unwrap_or_default();
    state
        .store
        .put_llm_setting(
            "routing",
            &value,
            Some(admin.user_id),
            audit_by(admin, "llm.routing.save", "routing".into(), detail),
        )
        .await?;
    state.llm.reload();
    routing_view(state).await
}

/// Spend per day (in the gateway's time zone), feature and model over the last `days` days;
/// one user's, or everyone's when `user_id` is `None`.
#[tracing::instrument(skip_all)]
pub async fn usage_summary(
    state: &AppState,
    user_id: Option<i64>,
    days: i64,
) -> Result<UsageSummary, AppError> {
    if !(1..=366).contains(&days) {
        return Err(AppError::invalid(
            "days",
            "range",
            crate::tr!("days must be between 1 and 366"),
        ));
    }
    let tz = state.llm.timezone();
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let first = today - Duration::days(days - 1);
    let since = first
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map_or(now - Duration::days(days), |t| t.with_timezone(&Utc));
    let buckets = state.store.usage_buckets(user_id, since, now + Duration::hours(1)).await?;
    let mut by_day: BTreeMap<chrono::NaiveDate, (i64, i64)> = BTreeMap::new();
    let mut day = first;
    while day <= today {
        by_day.insert(day, (0, 0));
        day += Duration::days(1);
    }
    let mut features: HashMap<String, SpendShare> = HashMap::new();
    let mut models: HashMap<String, SpendShare> = HashMap::new();
    for b in &buckets {
        let d = from_ms(b.hour).with_timezone(&tz).date_naive();
        if let Some(slot) = by_day.get_mut(&d) {
            slot.0 += b.calls;
            slot.1 += b.cost_nanos;
        }
        for (map, name) in [(&mut features, &b.feature), (&mut models, &b.model)] {
            let share = map.entry(name.clone()).or_insert_with(|| SpendShare {
                name: name.clone(),
                calls: 0,
                cache_hits: 0,
                tokens: 0,
                cost_nanos: 0,
            });
            share.calls += b.calls;
            share.cache_hits += b.cache_hits;
            share.tokens += b.tokens;
            share.cost_nanos += b.cost_nanos;
        }
    }
    let ranked = |map: HashMap<String, SpendShare>| {
        let mut v: Vec<SpendShare> = map.into_values().collect();
        v.sort_by(|a, b| b.cost_nanos.cmp(&a.cost_nanos).then(b.calls.cmp(&a.calls)));
        v
    };
    Ok(UsageSummary {
        timezone: tz.name().into(),
        days: by_day
            .into_iter()
            .map(|(d, (calls, cost))| DaySpend { day: d.to_string(), calls, cost_nanos: cost })
            .collect(),
        by_feature: ranked(features),
        by_model: ranked(models),
    })
}

/// Every user's spend in their current period (admins): filtered by e-mail or name and a
/// minimum percentage, highest percentage first, with the top five spenders.
#[tracing::instrument(skip_all)]
pub async fn spend_overview(
    state: &AppState,
    query: &str,
    min_percent: i64,
    limit: i64,
    offset: i64,
) -> Result<SpendOverview, AppError> {
    let (limit, offset) = crate::service::users::page_bounds(limit, offset)?;
    if !(0..=1000).contains(&min_percent) {
        return Err(AppError::invalid(
            "min_percent",
            "range",
            crate::tr!("min_percent must be 0 to 1000"),
        ));
    }
    if query.chars().count() > 200 {
        return Err(AppError::invalid(
            "q",
            "length",
            crate::tr!("q must be at most 200 characters"),
        ));
    }
    let (users, _) = state.store.list_users("", 100_000, 0).await?;
    let now = Utc::now();
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let lines = state.llm.user_budgets(&ids, now).await?;
    let mut starts: Vec<i64> = lines.iter().map(|(_, (c, _, _), _)| c.period_start).collect();
    starts.sort_unstable();
    starts.dedup();
    let spends: HashMap<(String, i64), crate::store::BudgetSpend> = state
        .store
        .spends_in_periods(&starts)
        .await?
        .into_iter()
        .map(|(scope, start, spend)| ((scope, start), spend))
        .collect();
    let by_id: HashMap<i64, &model::User> = users.iter().map(|u| (u.id, u)).collect();
    let mut all: Vec<UserSpend> = lines
        .into_iter()
        .filter_map(|(id, (check, period, resets_at), custom)| {
            let user = by_id.get(&id)?;
            let spend =
                spends.get(&(check.scope.clone(), check.period_start)).copied().unwrap_or_default();
            Some(UserSpend {
                user_id: id,
                email: user.email.clone(),
                display_name: user.display_name.clone(),
                period: period.as_str().into(),
                limit_nanos: check.limit_nanos,
                spent_nanos: spend.spent_nanos,
                reserved_nanos: spend.reserved_nanos,
                percent: if check.limit_nanos > 0 {
                    spend.spent_nanos.saturating_mul(100) / check.limit_nanos
                } else {
                    100
                },
                band: BudgetBand::of(spend.spent_nanos, check.limit_nanos),
                custom,
                resets_at,
            })
        })
        .collect();
    let over_warning = all.iter().filter(|u| u.percent >= 80).count() as i64;
    let mut top: Vec<UserSpend> = all.iter().filter(|u| u.spent_nanos > 0).cloned().collect();
    top.sort_by_key(|u| std::cmp::Reverse(u.spent_nanos));
    top.truncate(5);
    let q = query.trim().to_lowercase();
    all.retain(|u| {
        u.percent >= min_percent
            && (q.is_empty()
                || u.email.to_lowercase().contains(&q)
                || u.display_name.to_lowercase().contains(&q))
    });
    all.sort_by(|a, b| {
        b.percent
            .cmp(&a.percent)
            .then(b.spent_nanos.cmp(&a.spent_nanos))
            .then(a.email.cmp(&b.email))
    });
    let total = all.len() as i64;
    let users = all
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    Ok(SpendOverview { users, total, top, over_warning })
}

/// Models billed at the default price in the last 30 days (admins).
#[tracing::instrument(skip_all)]
pub async fn unpriced_models(state: &AppState) -> Result<Vec<UnpricedModelInfo>, AppError> {
    Ok(state
        .store
        .unpriced_models(Utc::now() - Duration::days(30))
        .await?
        .into_iter()
        .map(|m| UnpricedModelInfo { model: m.model, calls: m.calls, last_at: from_ms(m.last_at) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            check_base_url("https://api.openai.com/v1/", UrlPolicy::PUBLIC).unwrap(),
            "https://api.openai.com/v1"
        );
        assert_eq!(
            check_base_url("http://127.0.0.1:11434", UrlPolicy::PRIVATE_TOO).unwrap(),
            "http://127.0.0.1:11434"
        );
        assert!(check_base_url("http://127.0.0.1:11434", UrlPolicy::PUBLIC).is_err());
        for bad in [
            "ftp://x",
            "https://user:pw@host",
            "http://169.254.169.254/latest",
            "not a url",
            "https://x/v1?key=1",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal./",
            "http://[fe80::1]/",
            "http://0.0.0.0:6379/",
        ] {
            assert!(check_base_url(bad, UrlPolicy::PRIVATE_TOO).is_err(), "{bad}");
        }
        assert!(check_name("ok-name_1").is_ok());
        assert!(check_name("bad name").is_err());
        assert!(check_feature("rfc.draft", "routes").is_ok());
        assert!(check_feature("no spaces", "routes").is_err());
    }
}
