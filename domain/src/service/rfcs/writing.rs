//! The `rfc.draft` job: a draft written by a model, first an outline, then section by section,
//! each streamed live to the owner's pages (topic `rfc`) with its place (i of n) and the RFC's
//! cost so far. The same job writes one section again with an instruction, as a proposal that
//! replaces the text only once the author accepts it.
//!
//! It resumes: sections that are done are kept, and a retry (after a cut stream, a restart or
//! a crash) writes only the rest. A budget refusal ends the job at once with the budget's
//! message, keeping what was written; drafting again after the budget allows it goes on from
//! there. A section that needs facts while no source is left is not sent to the model: it
//! becomes open questions, as in the draft assembled without a model.

use super::draft::{answer_text, assemble};
use super::{load, not_found, writable};
use crate::auth::Principal;
use crate::jobs::{JobContext, JobError, JobRegistry, KindConfig};
use crate::llm::{Caller, Message, Role, StreamEvent};
use crate::rfc::citations;
use crate::rfc::writing::{self, Brief, Target};
use crate::state::AppState;
use crate::store::{NewJob, NewSection, RfcPatch, RfcRecord, SectionUpdate, StoreError};
use chrono::Utc;
use futures::StreamExt;
use model::error::AppError;
use model::{
    JobState, LivePayload, Provenance, RegenerateInput, Rfc, RfcDraftEvent, RfcQuestion,
    RfcSection, RfcSource, RfcStatus, RfcTemplate, SectionState,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The job kind, and the feature (and route) its model calls are made under.
pub const DRAFT: &str = "rfc.draft";
/// Attempts a draft job gets (a cut stream costs one).
pub const ATTEMPTS: i32 = 3;
/// Longest instruction for writing a section again, in characters.
pub const INSTRUCTION_CHARS: usize = 500;
/// A growing section is sent to the page at most this often.
const LIVE_EVERY: Duration = Duration::from_millis(150);

#[derive(Debug, Serialize, Deserialize)]
struct DraftPayload {
    rfc_id: i64,
    /// Write this one section again (None: write the draft).
    #[serde(default)]
    regenerate: Option<Regenerate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Regenerate {
    section_id: i64,
    instruction: String,
}

/// Registers the kind.
pub fn register(registry: &mut JobRegistry, state: AppState) {
    registry.register(
        DRAFT,
        KindConfig {
            concurrency: 2,
            max_attempts: ATTEMPTS,
            timeout: Duration::from_secs(30 * 60),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
        },
        move |ctx, payload| run(state.clone(), ctx, payload),
    );
}

/// Whether the RFC's draft job is queued or running.
pub(super) async fn job_live(state: &AppState, r: &RfcRecord) -> Result<bool, AppError> {
    let Some(job_id) = r.draft_job_id else { return Ok(false) };
    match state.store.get_job(job_id).await {
        Ok(job) => Ok(matches!(job.state, JobState::Queued | JobState::Running)),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// 409 while the draft job is queued or running: the job writes the sections then.
pub(super) async fn not_while_drafting(state: &AppState, r: &RfcRecord) -> Result<(), AppError> {
    if job_live(state, r).await? {
        return Err(AppError::Conflict {
            message: crate::tr!(
                "the draft is being written; wait for it to finish or cancel its job"
            ),
        });
    }
    Ok(())
}

async fn enqueue(
    state: &AppState,
    r: &RfcRecord,
    regenerate: Option<Regenerate>,
) -> Result<Rfc, AppError> {
    let id = r.summary.id;
    let payload = serde_json::to_value(DraftPayload { rfc_id: id, regenerate })
        .map_err(crate::errors::internal)?;
    let job = state
        .store
        .enqueue_job(
            NewJob::new(DRAFT, payload, Utc::now()).owner(r.owner_id).max_attempts(ATTEMPTS),
        )
        .await?;
    state.jobs.notify_enqueued();
    let status = (r.summary.status != RfcStatus::Draft).then_some(RfcStatus::Drafting);
    let patch = RfcPatch { status, draft_job_id: Some(Some(job.id)), ..RfcPatch::default() };
    state.store.update_rfc(id, &patch, Utc::now()).await.map_err(not_found)?;
    tracing::info!(rfc.id = id, job.id = job.id, "rfc draft job enqueued");
    load(state, id).await
}

/// Starts (or resumes) the draft job.
pub(super) async fn start(
    state: &AppState,
    r: &RfcRecord,
    sections: &[RfcSection],
) -> Result<Rfc, AppError> {
    not_while_drafting(state, r).await?;
    if !sections.is_empty() && sections.iter().all(|s| s.state == SectionState::Done) {
        return Err(AppError::Conflict {
            message: crate::tr!("this RFC has a draft already; change its sections one by one"),
        });
    }
    enqueue(state, r, None).await
}

/// Writes a section again with the author's instruction, as a job; the new text waits beside
/// the current one until the author accepts or drops it.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id, section.id = section_id))]
pub async fn regenerate_section(
    state: &AppState,
    user: &Principal,
    id: i64,
    section_id: i64,
    input: RegenerateInput,
) -> Result<Rfc, AppError> {
    let r = writable(state, user, id).await?;
    let instruction = input.instruction.trim().to_string();
    if instruction.is_empty()
        || instruction.chars().count() > INSTRUCTION_CHARS
        || crate::rfc::text::has_controls(&instruction)
    {
        return Err(AppError::invalid(
            "instruction",
            "length",
            crate::tr!("an instruction is 1 to %{max} characters of text", max = INSTRUCTION_CHARS),
        ));
    }
    state.store.get_section(id, section_id).await.map_err(super::draft::section_missing)?;
    not_while_drafting(state, &r).await?;
    if !super::asking::has_model(state).await {
        return Err(AppError::Unavailable {
            message: crate::tr!(
                "Writing a section again needs an AI model. An admin can add a provider and a route under Admin → AI gateway (/admin/llm)."
            ),
        });
    }
    enqueue(state, &r, Some(Regenerate { section_id, instruction })).await
}

/// A failed model call as a job failure: a budget refusal (or a request the gateway refuses)
/// ends the job at once with its message; anything else is retried.
fn job_error(e: AppError) -> JobError {
    match e {
        AppError::BudgetExceeded { message, .. } => JobError::permanent(message),
        e @ (AppError::Validation { .. }
        | AppError::BadRequest { .. }
        | AppError::Forbidden { .. }
        | AppError::NotFound { .. }) => JobError::permanent(e.to_string()),
        e => JobError::msg(e.to_string()),
    }
}

async fn run(
    state: AppState,
    ctx: JobContext,
    payload: serde_json::Value,
) -> Result<serde_json::Value, JobError> {
    let p: DraftPayload = serde_json::from_value(payload)
        .map_err(|e| JobError::permanent(format!("bad payload: {e}")))?;
    let result = Writer::new(&state, &ctx, p.rfc_id).await;
    let result = match result {
        Ok(mut w) => match &p.regenerate {
            None => w.draft().await,
            Some(r) => w.regenerate(r).await,
        },
        Err(e) => Err(e),
    };
    let last = ctx.attempt() >= ATTEMPTS || ctx.is_cancelled();
    if let Err(e) = &result
        && (e.is_permanent() || last)
    {
        end_drafting(&state, p.rfc_id).await;
    }
    result
}

/// After a job's last failure: sections left half-written are marked failed and the RFC is a
/// draft again (drafting again resumes).
async fn end_drafting(state: &AppState, id: i64) {
    let now = Utc::now();
    if let Ok(sections) = state.store.list_sections(id).await {
        for s in sections.iter().filter(|s| s.state == SectionState::Writing) {
            let update = SectionUpdate {
                heading: None,
                body: s.body.clone(),
                provenance: s.provenance,
                state: SectionState::Failed,
                citations: s.citations.clone(),
                dropped_citations: s.dropped_citations,
            };
            let _ = state.store.update_section(id, s.id, &update, now).await;
        }
    }
    let patch = RfcPatch { status: Some(RfcStatus::Draft), ..RfcPatch::default() };
    if let Err(e) = state.store.update_rfc(id, &patch, now).await {
        tracing::warn!(rfc.id = id, error = %e, "could not end drafting");
    }
}

/// What a job needs to write an RFC's sections.
struct Writer<'a> {
    state: &'a AppState,
    ctx: &'a JobContext,
    rfc: RfcRecord,
    template: RfcTemplate,
    questions: Vec<RfcQuestion>,
    sources: Vec<RfcSource>,
    caller: Caller,
    /// What the RFC's calls have cost, this run's included.
    cost: i64,
}

impl<'a> Writer<'a> {
    async fn new(state: &'a AppState, ctx: &'a JobContext, id: i64) -> Result<Self, JobError> {
        let rfc = match state.store.get_rfc(id).await {
            Err(StoreError::NotFound) => return Err(JobError::permanent("the RFC was deleted")),
            r => r?,
        };
        let template = match super::catalog::find(state, &rfc.summary.template).await {
            Ok(Some(t)) => t,
            Ok(None) => return Err(JobError::permanent("the RFC's template is gone")),
            Err(e) => return Err(JobError::msg(e.to_string())),
        };
        let caller = Caller {
            user_id: rfc.owner_id,
            feature: DRAFT.into(),
            request_id: None,
            rfc_id: Some(id),
        };
        Ok(Self {
            questions: state.store.list_questions(id).await?,
            sources: state.store.list_rfc_sources(id).await?,
            cost: state.store.rfc_cost_nanos(id).await?,
            state,
            ctx,
            rfc,
            template,
            caller,
        })
    }

    fn id(&self) -> i64 {
        self.rfc.summary.id
    }

    fn brief(&self) -> Brief<'_> {
        let lang = self.rfc.summary.language;
        Brief {
            template: &self.template,
            language: lang,
            title: &self.rfc.summary.title,
            description: &self.rfc.description,
            answers: self
                .questions
                .iter()
                .filter_map(|q| Some((q.text.clone(), answer_text(q.answer.as_ref()?, lang))))
                .collect(),
            open: self
                .questions
                .iter()
                .filter(|q| q.answer.is_none())
                .map(|q| q.text.clone())
                .collect(),
            sources: &self.sources,
        }
    }

    fn known(&self) -> HashSet<i32> {
        self.sources.iter().filter(|s| !s.removed).map(|s| s.label).collect()
    }

    fn cancelled(&self) -> Result<(), JobError> {
        if self.ctx.is_cancelled() {
            return Err(JobError::permanent("cancelled"));
        }
        Ok(())
    }

    async fn publish(
        &self,
        section: &RfcSection,
        index: usize,
        total: usize,
        text: &str,
        state: SectionState,
    ) {
        let event = RfcDraftEvent {
            rfc_id: self.id(),
            section_id: section.id,
            index: i32::try_from(index).unwrap_or(i32::MAX),
            total: i32::try_from(total).unwrap_or(i32::MAX),
            text: text.to_string(),
            state,
            cost_nanos: self.cost,
        };
        self.state.events.publish_live(self.rfc.owner_id, &LivePayload::Rfc(event)).await;
    }

    /// The outline, written as the sections to fill (state pending, each holding its points).
    async fn outline(&mut self) -> Result<Vec<RfcSection>, JobError> {
        let lang = self.rfc.summary.language;
        let (system, user) = writing::outline_prompt(&self.brief());
        let messages = vec![Message::new(Role::System, system), Message::new(Role::User, user)];
        let (answer, receipt) = self
            .state
            .llm
            .chat(&self.caller, messages, writing::OUTLINE_TOKENS)
            .await
            .map_err(job_error)?;
        self.cost += receipt.cost_nanos;
        let points = writing::parse_outline(&answer.text, &self.template);
        // The template's sections, in order; what the model cannot settle is the assembled
        // draft's open questions (so an RFC without an open-questions section gets one).
        let assembled = assemble(
            &self.template,
            lang,
            &self.rfc.summary.title,
            &self.rfc.description,
            &self.questions,
            &self.sources,
        );
        let new: Vec<NewSection> = assembled
            .into_iter()
            .map(|s| match &s.template_key {
                Some(key) => NewSection {
                    body: points
                        .get(key)
                        .map(|ps| {
                            ps.iter().map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n")
                        })
                        .unwrap_or_default(),
                    provenance: Provenance::Ai,
                    state: SectionState::Pending,
                    ..s
                },
                // The open questions themselves: written by people, kept as they are.
                None => s,
            })
            .collect();
        match self.state.store.create_draft(self.id(), &new, RfcStatus::Drafting, Utc::now()).await
        {
            // Another run wrote the outline first: go on from its sections.
            Err(StoreError::Conflict { .. }) => {
                Ok(self.state.store.list_sections(self.id()).await?)
            }
            r => Ok(r?),
        }
    }

    async fn draft(&mut self) -> Result<serde_json::Value, JobError> {
        let mut sections = self.state.store.list_sections(self.id()).await?;
        if sections.is_empty() {
            sections = self.outline().await?;
        } else {
            let patch = RfcPatch { status: Some(RfcStatus::Drafting), ..RfcPatch::default() };
            self.state.store.update_rfc(self.id(), &patch, Utc::now()).await?;
        }
        let total = sections.len();
        let todo: Vec<(usize, RfcSection)> = sections
            .into_iter()
            .enumerate()
            .filter(|(_, s)| s.state != SectionState::Done)
            .collect();
        let mut written: i64 = 0;
        for (i, section) in &todo {
            self.cancelled()?;
            self.ctx.progress(
                written,
                i64::try_from(todo.len()).unwrap_or(0),
                crate::tr!(
                    "writing section %{index} of %{total}: %{heading}",
                    index = i + 1,
                    total = total,
                    heading = section.heading.clone()
                ),
            );
            self.write(section, i + 1, total).await?;
            written += 1;
        }
        let patch = RfcPatch { status: Some(RfcStatus::Draft), ..RfcPatch::default() };
        self.state.store.update_rfc(self.id(), &patch, Utc::now()).await?;
        tracing::info!(rfc.id = self.id(), written, cost_nanos = self.cost, "rfc draft written");
        Ok(serde_json::json!({ "written": written, "cost_nanos": self.cost }))
    }

    /// The section's text from the model, cleaned, streamed to the page as it grows.
    async fn stream(
        &mut self,
        section: &RfcSection,
        index: usize,
        total: usize,
        again: Option<(&str, &str)>,
    ) -> Result<String, JobError> {
        let points: Vec<String> = if again.is_none() {
            section.body.lines().filter_map(|l| l.strip_prefix("- ")).map(str::to_string).collect()
        } else {
            Vec::new()
        };
        let target = match section.template_key.as_deref().and_then(|k| self.template.section(k)) {
            Some(ts) => Target::Template(ts),
            None => Target::Free(&section.heading),
        };
        let (system, user) = writing::section_prompt(&self.brief(), target, &points, again);
        let messages = vec![Message::new(Role::System, system), Message::new(Role::User, user)];
        let mut stream = self
            .state
            .llm
            .chat_stream(&self.caller, messages, writing::SECTION_TOKENS)
            .await
            .map_err(job_error)?;
        let mut text = String::new();
        let mut finish: Option<Option<String>> = None;
        let mut sent = Instant::now();
        while let Some(event) = stream.next().await {
            if self.ctx.is_cancelled() {
                // Dropping the stream settles what was received.
                return Err(JobError::permanent("cancelled"));
            }
            match event.map_err(job_error)? {
                StreamEvent::Delta(d) => {
                    text.push_str(&d);
                    if sent.elapsed() >= LIVE_EVERY {
                        sent = Instant::now();
                        let shown = crate::rfc::text::strip_controls(&text);
                        self.publish(section, index, total, &shown, SectionState::Writing).await;
                    }
                }
                StreamEvent::Done { finish_reason } => finish = Some(finish_reason),
                StreamEvent::Billed { cost_nanos, .. } => self.cost += cost_nanos,
                StreamEvent::Usage(_) => {}
            }
        }
        let Some(reason) = finish else {
            return Err(JobError::msg("the model's stream ended before it was done"));
        };
        let mut clean = writing::clean_section(&text);
        if reason.as_deref() == Some("length") {
            // Cut at the token limit: keep whole paragraphs (or sentences), never half of one.
            clean = writing::whole_paragraphs(&clean);
            tracing::warn!(
                rfc.id = self.id(),
                section.id = section.id,
                "section cut at the token limit"
            );
        }
        if clean.is_empty() {
            return Err(JobError::msg("the model wrote nothing for the section"));
        }
        Ok(clean)
    }

    async fn mark(&self, section: &RfcSection, state: SectionState) -> Result<(), JobError> {
        let update = SectionUpdate {
            heading: None,
            body: section.body.clone(),
            provenance: section.provenance,
            state,
            citations: section.citations.clone(),
            dropped_citations: section.dropped_citations,
        };
        self.state.store.update_section(self.id(), section.id, &update, Utc::now()).await?;
        Ok(())
    }

    /// Writes one section of the draft and stores it, its citations checked.
    async fn write(
        &mut self,
        section: &RfcSection,
        index: usize,
        total: usize,
    ) -> Result<(), JobError> {
        let needs_facts = section
            .template_key
            .as_deref()
            .and_then(|k| self.template.section(k))
            .is_some_and(|ts| ts.needs_facts);
        let (body, provenance) = if needs_facts && self.known().is_empty() {
            // Nothing to ground it on: open questions, not invented prose.
            let assembled = assemble(
                &self.template,
                self.rfc.summary.language,
                &self.rfc.summary.title,
                &self.rfc.description,
                &self.questions,
                &self.sources,
            );
            let body = assembled
                .into_iter()
                .find(|s| s.template_key == section.template_key)
                .map(|s| s.body)
                .unwrap_or_default();
            (body, Provenance::Template)
        } else {
            self.mark(section, SectionState::Writing).await?;
            match self.stream(section, index, total, None).await {
                Ok(text) => (text, Provenance::Ai),
                Err(e) => {
                    // The points stay for the next attempt; the page learns it failed.
                    let _ = self.mark(section, SectionState::Failed).await;
                    self.publish(section, index, total, "", SectionState::Failed).await;
                    return Err(e);
                }
            }
        };
        let checked = citations::check(&body, &self.known());
        if checked.dropped > 0 {
            tracing::info!(
                rfc.id = self.id(),
                section.id = section.id,
                dropped = checked.dropped,
                "citations dropped"
            );
        }
        let update = SectionUpdate {
            heading: None,
            body: checked.text.clone(),
            provenance,
            state: SectionState::Done,
            citations: checked.cited,
            dropped_citations: checked.dropped,
        };
        self.state.store.update_section(self.id(), section.id, &update, Utc::now()).await?;
        self.publish(section, index, total, &checked.text, SectionState::Done).await;
        Ok(())
    }

    async fn regenerate(&mut self, r: &Regenerate) -> Result<serde_json::Value, JobError> {
        let section = match self.state.store.get_section(self.id(), r.section_id).await {
            Err(StoreError::NotFound) => {
                return Err(JobError::permanent("the section was deleted"));
            }
            s => s?,
        };
        let sections = self.state.store.list_sections(self.id()).await?;
        let index = sections.iter().position(|s| s.id == section.id).unwrap_or(0) + 1;
        let total = sections.len();
        let again = Some((section.body.as_str(), r.instruction.as_str()));
        let text = match self.stream(&section, index, total, again).await {
            Ok(text) => text,
            Err(e) => {
                self.publish(&section, index, total, "", SectionState::Failed).await;
                return Err(e);
            }
        };
        let checked = citations::check(&text, &self.known());
        self.state
            .store
            .propose_section(
                self.id(),
                section.id,
                Some((&checked.text, &r.instruction)),
                Utc::now(),
            )
            .await?;
        self.publish(&section, index, total, &checked.text, SectionState::Done).await;
        Ok(serde_json::json!({ "proposed": section.id, "cost_nanos": self.cost }))
    }
}
