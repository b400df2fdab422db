//! Business rules, one file per noun. Services take `&AppState` and validated inputs, return
//! `AppError`, and never see HTTP beyond what they are handed.

/// Registration, sign-in, refresh, sign-out, and resolving a request's credentials.
pub mod accounts;
/// Chat through the gateway for API clients: input rules, then one budgeted call.
pub mod chat;
/// The dashboard: the caller's state in one read.
pub mod dashboard;
/// The `knowledge.embed` job: a newly configured embedding model's vectors, with progress.
pub mod embedding;
/// Every job kind and built-in schedule, registered in one place.
pub mod job_kinds;
/// Jobs as their owners see them.
pub mod jobs;
/// The LLM gateway's admin side: providers, routing, spend overview, usage summaries.
pub mod llm_admin;
/// In-app notifications, their live push, and e-mail about budget alerts.
pub mod notifications;
/// The RFC studio: the wizard's rules, access to RFCs, questions and answers, the completeness check.
pub mod rfcs;
/// Search over the team's knowledge: hybrid ranking, filters, history, analytics.
pub mod search;
/// Knowledge sources: settings, credentials, uploads, syncs and their schedule.
pub mod sources;
/// The `knowledge.sync` job: one run of one source.
pub mod sync;
/// Personal API tokens.
pub mod tokens;
/// Spending: budgets, the ledger, prices.
pub mod usage;
/// Admin work on users and the audit log.
pub mod users;

use crate::auth::Principal;
use crate::store::NewAuditEntry;

/// An audit entry for something `actor` did to `target` (`user:7`, `provider:local` …).
pub(crate) fn audit_by(
    actor: &Principal,
    action: &str,
    target: String,
    detail: serde_json::Value,
) -> NewAuditEntry {
    NewAuditEntry {
        at: chrono::Utc::now(),
        actor_id: Some(actor.user_id),
        actor_email: Some(actor.email.clone()),
        action: action.into(),
        target,
        detail: detail.to_string(),
    }
}
