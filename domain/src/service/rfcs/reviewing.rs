//! The optional model review (feature `rfc.review`, its own route so a stronger or cheaper
//! model can serve it): rubric notes on clarity, risks and alternatives, stored on the RFC and
//! shown beside the completeness score, marked stale once the RFC changes. A reply the server
//! cannot read is asked for once more with the reason; then the request fails and nothing is
//! stored (the calls are billed: they were made).

use super::asking::has_model;
use super::{template_of, writable};
use crate::auth::Principal;
use crate::llm::{Caller, Message, Role};
use crate::rfc::review;
use crate::state::AppState;
use chrono::Utc;
use model::error::AppError;
use model::{QualityReport, RfcReview};

/// The feature (and route) reviews are made under.
pub const FEATURE: &str = "rfc.review";
/// How long a review may wait for the model, both tries together (it runs inside the request,
/// whose limit is `server.request_timeout_secs`, 30 s by default).
pub const REVIEW_DEADLINE: std::time::Duration = std::time::Duration::from_secs(25);

/// Reviews the RFC's text with the model and stores the notes; answers the completeness check
/// with the new review beside it.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id))]
pub async fn review_rfc(
    state: &AppState,
    user: &Principal,
    id: i64,
) -> Result<QualityReport, AppError> {
    let r = writable(state, user, id).await?;
    super::writing::not_while_drafting(state, &r).await?;
    if !has_model(state).await {
        return Err(AppError::Conflict {
            message: crate::tr!(
                "no model is configured: an administrator adds a provider in the LLM settings"
            ),
        });
    }
    // When the text was read: a change after it makes the review stale (whole milliseconds,
    // as `updated_at` is stored).
    let read_at = crate::store::from_ms(crate::store::to_ms(Utc::now()));
    let sections: Vec<(String, String)> =
        state.store.list_sections(id).await?.into_iter().map(|s| (s.heading, s.body)).collect();
    if sections.iter().all(|(_, body)| body.trim().is_empty()) {
        return Err(AppError::Conflict {
            message: crate::tr!("the RFC has no text to review yet: write the draft first"),
        });
    }
    let lang = r.summary.language;
    let tpl = template_of(state, &r).await?;
    let caller = Caller {
        user_id: r.owner_id,
        feature: FEATURE.into(),
        request_id: Some(crate::errors::current_request_id()),
        rfc_id: Some(id),
    };
    let deadline = tokio::time::Instant::now() + REVIEW_DEADLINE;
    let mut why: Option<String> = None;
    for _ in 0..2 {
        let (system, data) =
            review::prompt(lang, &r.summary.title, tpl.name(lang), &sections, why.as_deref());
        let messages = vec![Message::new(Role::System, system), Message::new(Role::User, data)];
        let reply = tokio::time::timeout_at(
            deadline,
            state.llm.chat(&caller, messages, review::MAX_TOKENS),
        )
        .await
        .map_err(|_| AppError::Unavailable {
            message: crate::tr!(
                "the model did not review the RFC within %{secs} s; try again",
                secs = REVIEW_DEADLINE.as_secs()
            ),
        })??;
        match review::parse(&reply.0.text) {
            Ok(notes) => {
                let review = RfcReview { notes, reviewed_at: read_at, stale: false };
                state.store.set_rfc_review(id, &review).await.map_err(super::not_found)?;
                // Answered from the record as it is now, not through the reading rules again:
                // a `generate`-only token may review without `basic`.
                let now = writable(state, user, id).await?;
                return super::quality_of(state, &now).await;
            }
            Err(reason) => {
                tracing::warn!(rfc.id = id, %reason, "model's review unusable");
                why = Some(reason);
            }
        }
    }
    Err(AppError::Unavailable {
        message: crate::tr!(
            "the model's review could not be read (%{why}); try again",
            why = why.unwrap_or_default()
        ),
    })
}
