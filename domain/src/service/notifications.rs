//! Notifications: what a user sees under the bell (budget alerts for now), the live push that
//! keeps the bell current (topic `notification`), and e-mail about them through the
//! `email.send` job when SMTP is configured. `BudgetAlertNotifier` is the gateway's
//! `AlertSink`: a user's budget alerts that user, the global budget every active admin.

use crate::auth::Principal;
use crate::events::EventBus;
use crate::jobs::kinds::{EMAIL_ATTEMPTS, EmailPayload, SEND_EMAIL};
use crate::llm::{AlertSink, BudgetAlert};
use crate::service::users::page_bounds;
use crate::state::{AppState, JobsLink};
use crate::store::{DynStore, NewJob, NewNotification, StoreError};
use chrono::Utc;
use chrono_tz::Tz;
use model::error::AppError;
use model::{NOTIFICATION_BUDGET_ALERT, Notification, NotificationPage, User, usd};

/// Where a budget alert's notification leads.
const BUDGET_LINK: &str = "/usage";

/// The caller's notifications, newest first, with the unread count.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn list_mine(
    state: &AppState,
    user: &Principal,
    limit: i64,
    offset: i64,
) -> Result<NotificationPage, AppError> {
    let (limit, offset) = page_bounds(limit, offset)?;
    let list = state.store.list_notifications(user.user_id, limit, offset).await?;
    Ok(NotificationPage {
        items: list.items,
        total: list.total,
        unread: list.unread,
        offset,
        limit,
    })
}

/// How many of the caller's notifications are unread.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn unread_count(state: &AppState, user: &Principal) -> Result<i64, AppError> {
    Ok(state.store.count_unread_notifications(user.user_id).await?)
}

/// Marks one of the caller's notifications read; 404 if it is not theirs.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn mark_read(state: &AppState, user: &Principal, id: i64) -> Result<(), AppError> {
    state.store.mark_notification_read(user.user_id, id, Utc::now()).await.map_err(
        |e| match e {
            StoreError::NotFound => AppError::not_found("notification"),
            e => e.into(),
        },
    )?;
    let read =
        model::NotificationChange { read: Some(model::ReadMark::One(id)), ..Default::default() };
    publish_unread(&state.store, &state.events, user.user_id, read).await;
    Ok(())
}

/// Marks all the caller's notifications read; returns how many were unread.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn mark_all_read(state: &AppState, user: &Principal) -> Result<i64, AppError> {
    let marked = state.store.mark_all_notifications_read(user.user_id, Utc::now()).await?;
    let read = model::NotificationChange {
        read: Some(model::ReadMark::All(model::AllRead::All)),
        ..Default::default()
    };
    publish_unread(&state.store, &state.events, user.user_id, read).await;
    Ok(i64::try_from(marked).unwrap_or(i64::MAX))
}

/// Pushes `change` plus the user's unread count on the `notification` topic, so every open tab
/// updates its bell.
async fn publish_unread(
    store: &DynStore,
    events: &EventBus,
    user_id: i64,
    mut change: model::NotificationChange,
) {
    match store.count_unread_notifications(user_id).await {
        Ok(unread) => change.unread = Some(unread),
        // The change still goes out; the bell then reloads its count itself.
        Err(e) => {
            tracing::warn!(user.id = user_id, error = %e, "could not count unread notifications")
        }
    }
    events.publish_live(user_id, &model::LivePayload::Notification(change)).await;
}

/// What a budget alert says: the notification's title and body, and the e-mail's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertText {
    /// Notification title.
    pub title: String,
    /// Notification body (also the heart of the e-mail).
    pub body: String,
    /// E-mail subject.
    pub subject: String,
}

/// Words for an alert, in the current language (the recipient's: [`BudgetAlertNotifier`]
/// scopes it): which budget (by name and scope), the threshold, spend against limit in USD and
/// when the period resets, in the gateway's time zone.
pub fn alert_text(alert: &BudgetAlert, timezone: Tz) -> AlertText {
    use crate::llm::budget::Period;
    let period = Period::parse(&alert.period).unwrap_or(Period::Daily);
    let name = match (alert.user_id.is_some(), period) {
        (true, Period::Daily) => crate::tr!("Your daily LLM budget"),
        (true, Period::Weekly) => crate::tr!("Your weekly LLM budget"),
        (true, Period::Monthly) => crate::tr!("Your monthly LLM budget"),
        (false, Period::Daily) => crate::tr!("The team's daily LLM budget"),
        (false, Period::Weekly) => crate::tr!("The team's weekly LLM budget"),
        (false, Period::Monthly) => crate::tr!("The team's monthly LLM budget"),
    };
    let title = if alert.threshold >= 100 {
        crate::tr!("%{budget} is used up", budget = name)
    } else {
        crate::tr!("%{budget} reached %{threshold} %", budget = name, threshold = alert.threshold)
    };
    let percent = if alert.limit_nanos > 0 {
        alert.spent_nanos.saturating_mul(100) / alert.limit_nanos
    } else {
        100
    };
    let mut body = crate::tr!(
        "Budget %{budget} (%{period}) crossed its %{threshold} % alert threshold: %{spent} spent of %{limit} (%{percent} %). It resets at %{resets} (%{zone}).",
        budget = alert.budget,
        period = match period {
            Period::Daily => crate::tr!("daily"),
            Period::Weekly => crate::tr!("weekly"),
            Period::Monthly => crate::tr!("monthly"),
        },
        threshold = alert.threshold,
        spent = usd(alert.spent_nanos),
        limit = usd(alert.limit_nanos),
        percent = percent,
        resets = alert.resets_at.with_timezone(&timezone).format("%Y-%m-%d %H:%M"),
        zone = timezone.name(),
    );
    if alert.threshold >= 100 {
        body.push(' ');
        body.push_str(&crate::tr!("Calls that would go over it are refused until then."));
    }
    AlertText { subject: format!("[Blueprint] {title}"), title, body }
}

/// Breaks `text` into lines of at most `width` characters at spaces (a longer word gets a line
/// of its own), as plain-text mail reads best.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width.max(1));
    let mut line_len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if line_len > 0 && line_len + 1 + len > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

/// The gateway's alert sink: a notification, a live push and (with SMTP) an e-mail job for
/// each recipient of a budget alert.
pub struct BudgetAlertNotifier {
    store: DynStore,
    events: EventBus,
    jobs: JobsLink,
    email: bool,
    timezone: Tz,
}

impl BudgetAlertNotifier {
    /// A notifier; `email` says whether SMTP is configured (and so whether to enqueue
    /// `email.send`). `timezone` is the one budget periods follow.
    pub fn new(
        store: DynStore,
        events: EventBus,
        jobs: JobsLink,
        email: bool,
        timezone: Tz,
    ) -> Self {
        Self { store, events, jobs, email, timezone }
    }

    /// Who hears of an alert: the budget's user (if still active), or every active admin for
    /// the global budget.
    async fn recipients(&self, alert: &BudgetAlert) -> Result<Vec<User>, StoreError> {
        match alert.user_id {
            Some(id) => match self.store.get_user(id).await {
                Ok(record) if record.user.active => Ok(vec![record.user]),
                Ok(_) | Err(StoreError::NotFound) => Ok(Vec::new()),
                Err(e) => Err(e),
            },
            None => self.store.list_active_admins().await,
        }
    }

    /// One recipient: the notification, its live push, and the e-mail job. True if a job was
    /// enqueued.
    async fn notify(
        &self,
        user: &User,
        alert: &BudgetAlert,
        text: &AlertText,
    ) -> Result<bool, StoreError> {
        let notification: Notification = self
            .store
            .insert_notification(&NewNotification {
                user_id: user.id,
                kind: NOTIFICATION_BUDGET_ALERT.into(),
                title: text.title.clone(),
                body: text.body.clone(),
                link: Some(BUDGET_LINK.into()),
                created_at: Utc::now(),
            })
            .await?;
        let change = model::NotificationChange { new: Some(notification), ..Default::default() };
        publish_unread(&self.store, &self.events, user.id, change).await;
        if !self.email {
            return Ok(false);
        }
        let payload = EmailPayload {
            to: user.email.clone(),
            subject: text.subject.clone(),
            body: format!(
                "{}\n\n{}\n\n{}\n\n-- \nBlueprint\n",
                crate::tr!("Hello %{name},", name = user.display_name),
                wrap(&text.body, 72),
                wrap(
                    &crate::tr!(
                        "Your budgets and calls are under Usage & Budget in Blueprint (%{link}).",
                        link = BUDGET_LINK
                    ),
                    72
                ),
            ),
        };
        let payload = serde_json::to_value(&payload).map_err(anyhow::Error::from)?;
        // One e-mail per recipient, budget, period and threshold, even if this ran twice.
        let key = format!(
            "budget-alert:{}:{}:{}:{}",
            alert.budget,
            alert.resets_at.timestamp_millis(),
            alert.threshold,
            user.id
        );
        self.store
            .enqueue_job(
                NewJob::new(SEND_EMAIL, payload, Utc::now())
                    .max_attempts(EMAIL_ATTEMPTS)
                    .idempotency_key(key),
            )
            .await?;
        Ok(true)
    }
}

#[async_trait::async_trait]
impl AlertSink for BudgetAlertNotifier {
    async fn budget_alert(&self, alert: BudgetAlert) {
        let recipients = match self.recipients(&alert).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(budget = %alert.budget, error = %e, "could not find who to tell about a budget alert");
                return;
            }
        };
        if recipients.is_empty() {
            tracing::warn!(budget = %alert.budget, threshold = alert.threshold, "budget alert has no one to notify");
        }
        let mut enqueued = false;
        for user in &recipients {
            // Each recipient reads it in the language they chose.
            let lang = user.locale.unwrap_or(model::Lang::En);
            let notified = crate::i18n::scope(lang, async {
                let text = alert_text(&alert, self.timezone);
                self.notify(user, &alert, &text).await
            })
            .await;
            match notified {
                Ok(job) => enqueued |= job,
                Err(e) => {
                    tracing::error!(budget = %alert.budget, user.id = user.id, error = %e, "could not notify of a budget alert");
                }
            }
        }
        if enqueued {
            self.jobs.notify_enqueued();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn alert(user_id: Option<i64>, threshold: i32) -> BudgetAlert {
        BudgetAlert {
            budget: user_id.map_or(model::BudgetScope::Global, model::BudgetScope::User),
            user_id,
            period: "daily".into(),
            threshold,
            spent_nanos: 372_600,
            limit_nanos: 460_000,
            resets_at: Utc.with_ymd_and_hms(2026, 11, 26, 23, 0, 0).unwrap(),
        }
    }

    #[test]
    fn names_the_budget_threshold_spend_limit_and_local_reset() {
        let text = alert_text(&alert(Some(42), 80), chrono_tz::Europe::Berlin);
        assert_eq!(text.title, "Your daily LLM budget reached 80 %");
        assert_eq!(text.subject, "[Blueprint] Your daily LLM budget reached 80 %");
        assert_eq!(
            text.body,
            "Budget user:42 (daily) crossed its 80 % alert threshold: $0.000373 spent of \
             $0.000460 (81 %). It resets at 2026-11-27 00:00 (Europe/Berlin)."
        );
    }

    #[tokio::test]
    async fn a_russian_reader_gets_the_alert_in_russian() {
        let text = crate::i18n::scope(model::Lang::Ru, async {
            alert_text(&alert(Some(42), 100), chrono_tz::Europe::Berlin)
        })
        .await;
        assert_eq!(text.title, "Ваш дневной бюджет на LLM израсходован");
        assert_eq!(
            text.body,
            "Бюджет user:42 (дневной) пересёк порог оповещения 100 %: потрачено $0.000373 из \
             $0.000460 (81 %). Расход обнулится 2026-11-27 00:00 (Europe/Berlin). Вызовы, \
             которые превысили бы его, до тех пор отклоняются."
        );
    }

    #[test]
    fn wraps_at_spaces_within_the_width() {
        let text = "Budget user:42 (daily) crossed its 80 % alert threshold: $0.000373 spent";
        let wrapped = wrap(text, 30);
        assert!(wrapped.lines().all(|l| l.chars().count() <= 30), "{wrapped}");
        assert_eq!(wrapped.replace('\n', " "), text);
        assert_eq!(wrap("a-very-long-word b", 5), "a-very-long-word\nb");
    }

    #[test]
    fn a_used_up_team_budget_says_calls_are_refused() {
        let text = alert_text(&alert(None, 100), chrono_tz::UTC);
        assert_eq!(text.title, "The team's daily LLM budget is used up");
        assert!(text.body.starts_with("Budget global (daily)"), "{}", text.body);
        assert!(text.body.ends_with("refused until then."), "{}", text.body);
    }
}
