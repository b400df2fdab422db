//! Rounds of clarifying questions. With a model configured, the model asks them (feature
//! `rfc.questions`, so a cheap model can serve it): a reply it cannot read is retried once with
//! the reason, then the template's questions are asked and the RFC's `notice` says why. With no
//! model the template's questions are asked from the start, so the flow always works. The
//! readiness check says what a draft would still lack.

use super::{builtin_questions, load, not_found, writable};
use crate::auth::Principal;
use crate::llm::{Caller, Message, Role};
use crate::rfc::questions::{self, MAX_ROUNDS};
use crate::state::AppState;
use crate::store::{NewQuestion, RfcRecord};
use chrono::Utc;
use model::error::AppError;
use model::{QuestionOrigin, Rfc, RfcQuestion, RfcSource, RfcStatus, RfcTemplate};

/// The feature (and route) the questions are asked under.
pub const FEATURE: &str = "rfc.questions";
/// How long a round may wait for the model, both tries together: the round runs inside the
/// request (whose limit is `server.request_timeout_secs`, 30 s by default), so a slow model
/// gives the template's questions instead of a timed-out request.
pub const QUESTIONS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// Whether any model provider is usable (a failure to tell counts as none: the flow goes on
/// without a model).
pub(super) async fn has_model(state: &AppState) -> bool {
    state.llm.providers().await.is_ok_and(|p| !p.is_empty())
}

fn norm(text: &str) -> String {
    text.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect()
}

/// The template's questions not asked yet.
fn template_round(tpl: &RfcTemplate, r: &RfcRecord, asked: &[RfcQuestion]) -> Vec<NewQuestion> {
    let mut questions = builtin_questions(tpl, r.summary.language);
    questions.retain(|q| !asked.iter().any(|a| norm(&a.text) == norm(&q.text)));
    questions
}

/// One round's questions and, when the model's could not be used, why.
pub(super) async fn round_questions(
    state: &AppState,
    r: &RfcRecord,
    tpl: &RfcTemplate,
    asked: &[RfcQuestion],
    sources: &[RfcSource],
) -> (Vec<NewQuestion>, Option<String>) {
    if !has_model(state).await {
        return (template_round(tpl, r, asked), None);
    }
    let caller = Caller {
        user_id: r.owner_id,
        feature: FEATURE.into(),
        request_id: Some(crate::errors::current_request_id()),
        rfc_id: Some(r.summary.id),
    };
    let lang = r.summary.language;
    let deadline = tokio::time::Instant::now() + QUESTIONS_DEADLINE;
    let mut why: Option<String> = None;
    for _ in 0..2 {
        let (system, user) = questions::prompt(
            tpl,
            lang,
            &r.summary.title,
            &r.description,
            asked,
            sources,
            why.as_deref(),
        );
        let messages = vec![Message::new(Role::System, system), Message::new(Role::User, user)];
        let asked_in_time = tokio::time::timeout_at(
            deadline,
            state.llm.chat(&caller, messages, questions::MAX_TOKENS),
        )
        .await;
        let Ok(reply) = asked_in_time else {
            tracing::warn!(rfc.id = r.summary.id, "model too slow to ask questions");
            why = Some(crate::tr!(
                "the model did not answer within %{secs} s",
                secs = QUESTIONS_DEADLINE.as_secs()
            ));
            break;
        };
        match reply {
            Ok((answer, _)) => match questions::parse(&answer.text, tpl, asked) {
                Ok(asked_now) => {
                    let new = asked_now
                        .into_iter()
                        .map(|q| NewQuestion {
                            kind: q.kind,
                            text: q.text,
                            why: q.why,
                            placeholder: q.placeholder,
                            options: q.options,
                            origin: QuestionOrigin::Model,
                            section: q.section,
                        })
                        .collect();
                    return (new, None);
                }
                Err(reason) => {
                    tracing::warn!(rfc.id = r.summary.id, %reason, "model's questions unusable");
                    why = Some(reason);
                }
            },
            Err(e) => {
                // A budget, a missing route or providers that are down: another try now would
                // fail the same way.
                tracing::warn!(rfc.id = r.summary.id, error = %e, "model could not ask questions");
                why = Some(e.to_string());
                break;
            }
        }
    }
    let notice = crate::tr!(
        "The model's questions could not be used (%{why}); the template's questions are asked instead.",
        why = why.unwrap_or_default()
    );
    (template_round(tpl, r, asked), Some(notice))
}

/// Another round of questions (at most three in all), asked with what the answers and the
/// sources now say. Only before the draft is written.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id))]
pub async fn ask_more(state: &AppState, user: &Principal, id: i64) -> Result<Rfc, AppError> {
    let r = writable(state, user, id).await?;
    if matches!(r.summary.status, RfcStatus::Drafting | RfcStatus::Draft) {
        return Err(AppError::Conflict {
            message: crate::tr!("the draft is written; questions are asked before it"),
        });
    }
    if r.question_rounds >= MAX_ROUNDS {
        return Err(AppError::Conflict {
            message: crate::tr!("an RFC has at most %{max} rounds of questions", max = MAX_ROUNDS),
        });
    }
    let tpl = super::template_of(state, &r).await?;
    // The round is claimed first, so two requests at once never ask the same round twice.
    let round = r.question_rounds + 1;
    if !state.store.claim_question_round(id, round, Utc::now()).await.map_err(not_found)? {
        return Err(AppError::Conflict {
            message: crate::tr!("another round of questions is being asked; reload the RFC"),
        });
    }
    let asked = state.store.list_questions(id).await?;
    let sources = state.store.list_rfc_sources(id).await?;
    let (new, notice) = round_questions(state, &r, &tpl, &asked, &sources).await;
    if !new.is_empty() {
        state.store.add_questions(id, round, &new, Utc::now()).await.map_err(not_found)?;
    }
    let notice = notice.or_else(|| {
        new.is_empty()
            .then(|| crate::tr!("There are no more questions to ask; the RFC can be drafted."))
    });
    Ok(Rfc { notice, ..load(state, id).await? })
}

/// What a draft would still lack: questions neither answered nor skipped, and sources (none
/// found or all removed, while sections need facts). Empty: ready.
pub(super) fn readiness(
    tpl: &RfcTemplate,
    status: RfcStatus,
    questions: &[RfcQuestion],
    sources: &[RfcSource],
) -> Vec<String> {
    let mut out = Vec::new();
    if matches!(status, RfcStatus::Drafting | RfcStatus::Draft) {
        return out;
    }
    let open = questions.iter().filter(|q| q.answer.is_none() && !q.skipped).count();
    if open > 0 {
        out.push(crate::tr!(
            "%{count} questions are neither answered nor skipped; a skipped question becomes an open question in the draft",
            count = open
        ));
    }
    let needs_facts: Vec<&str> =
        tpl.sections.iter().filter(|s| s.needs_facts).map(|s| s.key.as_str()).collect();
    if !needs_facts.is_empty() && !sources.iter().any(|s| !s.removed) {
        out.push(if status == RfcStatus::Clarifying {
            crate::tr!(
                "the team's knowledge has not been searched yet; without sources, %{count} sections that need facts become open questions",
                count = needs_facts.len()
            )
        } else {
            crate::tr!(
                "no source is chosen; %{count} sections that need facts become open questions",
                count = needs_facts.len()
            )
        });
    }
    out
}
