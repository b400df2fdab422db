//! The RFC studio's service: the wizard's input rules, who may read and change an RFC (its
//! owner; admins may read every RFC), the clarifying questions and their typed answers, and the
//! completeness check on a stored RFC. Reading needs `basic`, writing `generate`.

use crate::auth::Principal;
use crate::rfc::quality::{self, DocSection};
use crate::state::AppState;
use crate::store::{NewQuestion, NewRfc, RfcRecord, StoreError};
use chrono::Utc;
use model::error::AppError;
use model::{
    Answer, AnswerInput, DocLanguage, FieldError, NewRfcInput, QualityReport, QuestionOrigin, Rfc,
    RfcPage, RfcQuestion, RfcReview, RfcStatus, RfcTemplate, Scope,
};
use std::collections::HashSet;

mod asking;
mod catalog;
mod draft;
mod grounding;
mod reviewing;
mod writing;

pub use asking::{FEATURE as QUESTIONS_FEATURE, ask_more};
pub use catalog::{
    TOML_BYTES, admin_templates, check_template, copy_template, from_toml, list_templates,
    save_template, set_template_enabled, template_toml, to_toml,
};
pub use draft::{
    BODY_CHARS, HEADING_CHARS, MAX_SECTIONS, add_section, delete_section, draft_rfc, edit_section,
    move_section, settle_proposal,
};
pub use grounding::{add_source, ground_rfc, queries, search_more, set_source_removed};
pub use reviewing::{FEATURE as REVIEW_FEATURE, review_rfc};
pub use writing::{ATTEMPTS as DRAFT_ATTEMPTS, DRAFT, INSTRUCTION_CHARS, regenerate_section};

/// Registers the `rfc.draft` job kind.
pub fn register(registry: &mut crate::jobs::JobRegistry, state: AppState) {
    writing::register(registry, state);
}

/// Title length, in characters.
pub const TITLE_CHARS: std::ops::RangeInclusive<usize> = 3..=200;
/// Description length, in characters.
pub const DESCRIPTION_CHARS: std::ops::RangeInclusive<usize> = 10..=4_000;
/// Longest text answer, in characters.
pub const ANSWER_CHARS: usize = 4_000;
/// Most tags on an RFC, and the longest tag.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters.
pub const TAG_CHARS: usize = 40;
/// Most knowledge sources an RFC can be limited to.
pub const MAX_SOURCE_IDS: usize = 100;

/// The template an RFC was started from (kept even if it is switched off since).
pub(super) async fn template_of(state: &AppState, r: &RfcRecord) -> Result<RfcTemplate, AppError> {
    catalog::find(state, &r.summary.template).await?.ok_or_else(|| AppError::not_found("template"))
}

fn check_chars(field: &str, text: &str, errors: &mut Vec<FieldError>) {
    if crate::rfc::text::has_controls(text) {
        errors.push(FieldError::new(
            field,
            "characters",
            crate::tr!("the text holds control characters"),
        ));
    }
}

pub(super) fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found("RFC"),
        e => e.into(),
    }
}

/// Starts an RFC from the wizard and asks its first round of questions.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn create_rfc(
    state: &AppState,
    user: &Principal,
    input: NewRfcInput,
) -> Result<Rfc, AppError> {
    user.require(Scope::Generate)?;
    let mut errors = Vec::new();
    let title = input.title.trim().to_string();
    if !TITLE_CHARS.contains(&title.chars().count()) {
        errors.push(FieldError::new(
            "title",
            "length",
            crate::tr!("a title has 3 to 200 characters"),
        ));
    }
    check_chars("title", &title, &mut errors);
    let description = input.description.trim().to_string();
    check_chars("description", &description, &mut errors);
    if !DESCRIPTION_CHARS.contains(&description.chars().count()) {
        errors.push(FieldError::new(
            "description",
            "length",
            crate::tr!("a description has 10 to 4,000 characters"),
        ));
    }
    let offered = catalog::find(state, &input.template).await?.filter(|t| t.enabled);
    let Some(tpl) = offered else {
        errors.push(FieldError::new(
            "template",
            "unknown",
            crate::tr!("there is no template %{key}", key = input.template.clone()),
        ));
        return Err(AppError::Validation { errors });
    };
    let tags = clean_tags(&input.tags, &mut errors);
    let source_ids = match &input.source_ids {
        None => None,
        Some(ids) => Some(check_sources(state, user, ids, &mut errors).await?),
    };
    if !errors.is_empty() {
        return Err(AppError::Validation { errors });
    }
    let record = state
        .store
        .create_rfc(&NewRfc {
            title,
            task_type: input.task_type,
            template: tpl.key.clone(),
            language: input.language,
            description,
            owner_id: user.user_id,
            tags,
            source_ids,
            at: Utc::now(),
        })
        .await?;
    tracing::info!(rfc.id = record.summary.id, number = %record.summary.number, "rfc created");
    // The first round builds on what the knowledge already says (only worth a search when a
    // model asks).
    let seen = if asking::has_model(state).await {
        grounding::peek(state, user, &record).await
    } else {
        Vec::new()
    };
    let (questions, notice) = asking::round_questions(state, &record, &tpl, &[], &seen).await;
    state.store.add_questions(record.summary.id, 1, &questions, Utc::now()).await?;
    Ok(Rfc { notice, ..load(state, record.summary.id).await? })
}

fn clean_tags(tags: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > TAG_CHARS {
            errors.push(FieldError::new(
                "tags",
                "length",
                crate::tr!("a tag has at most %{max} characters", max = TAG_CHARS),
            ));
            return out;
        }
        if seen.insert(tag.to_lowercase()) {
            out.push(tag.to_string());
        }
    }
    if out.len() > MAX_TAGS {
        errors.push(FieldError::new(
            "tags",
            "count",
            crate::tr!("an RFC has at most %{max} tags", max = MAX_TAGS),
        ));
    }
    out
}

async fn check_sources(
    state: &AppState,
    user: &Principal,
    ids: &[i64],
    errors: &mut Vec<FieldError>,
) -> Result<Vec<i64>, AppError> {
    let mut unique: Vec<i64> = Vec::new();
    for id in ids {
        if !unique.contains(id) {
            unique.push(*id);
        }
    }
    if unique.is_empty() || unique.len() > MAX_SOURCE_IDS {
        errors.push(FieldError::new(
            "source_ids",
            "count",
            crate::tr!(
                "choose 1 to %{max} sources, or leave the field out to use every source you can see",
                max = MAX_SOURCE_IDS
            ),
        ));
        return Ok(unique);
    }
    let visible: HashSet<i64> =
        state.store.visible_source_ids(user.user_id).await?.into_iter().collect();
    if unique.iter().any(|id| !visible.contains(id)) {
        errors.push(FieldError::new(
            "source_ids",
            "visible",
            crate::tr!("one of the chosen sources does not exist or is not visible to you"),
        ));
    }
    Ok(unique)
}

/// A template's built-in questions in the RFC's language.
pub fn builtin_questions(tpl: &RfcTemplate, lang: DocLanguage) -> Vec<NewQuestion> {
    tpl.questions
        .iter()
        .map(|q| {
            let (text, why, options) = match lang {
                DocLanguage::En => (&q.text_en, &q.why_en, &q.options_en),
                DocLanguage::Ru => (&q.text_ru, &q.why_ru, &q.options_ru),
            };
            NewQuestion {
                kind: q.kind,
                text: text.clone(),
                why: why.clone(),
                placeholder: String::new(),
                options: options.clone(),
                origin: QuestionOrigin::Template,
                section: Some(q.section.clone()),
            }
        })
        .collect()
}

/// The whole RFC: its fields, sections, questions and sources.
pub(super) async fn load(state: &AppState, id: i64) -> Result<Rfc, AppError> {
    let record = state.store.get_rfc(id).await.map_err(not_found)?;
    assemble(state, record).await
}

async fn assemble(state: &AppState, mut r: RfcRecord) -> Result<Rfc, AppError> {
    let id = r.summary.id;
    // A draft job that died with its process leaves `drafting` behind: it is a draft that can
    // be resumed.
    if r.summary.status == RfcStatus::Drafting && !writing::job_live(state, &r).await? {
        r.summary.status = RfcStatus::Draft;
    }
    let questions = state.store.list_questions(id).await?;
    let sources = state.store.list_rfc_sources(id).await?;
    let readiness = match catalog::find(state, &r.summary.template).await? {
        Some(tpl) => asking::readiness(&tpl, r.summary.status, &questions, &sources),
        None => Vec::new(),
    };
    Ok(Rfc {
        sections: state.store.list_sections(id).await?,
        questions,
        sources,
        task_type: r.task_type,
        description: r.description,
        source_ids: r.source_ids,
        question_rounds: r.question_rounds,
        cost_nanos: state.store.rfc_cost_nanos(id).await?,
        draft_job_id: r.draft_job_id,
        readiness,
        notice: None,
        summary: r.summary,
    })
}

/// The RFC if `user` may read it (its owner, or an admin); 404 otherwise, so ids of others'
/// RFCs are not confirmed.
async fn readable(state: &AppState, user: &Principal, id: i64) -> Result<RfcRecord, AppError> {
    user.require(Scope::Basic)?;
    let r = state.store.get_rfc(id).await.map_err(not_found)?;
    if r.owner_id != user.user_id && !user.scopes.contains(Scope::Admin) {
        return Err(AppError::not_found("RFC"));
    }
    Ok(r)
}

/// The RFC if `user` may change it: its owner, with `generate` (which writes without `basic`,
/// as a token made for a pipeline may). An admin who is not the owner gets 403, anyone else 404.
pub(super) async fn writable(
    state: &AppState,
    user: &Principal,
    id: i64,
) -> Result<RfcRecord, AppError> {
    user.require(Scope::Generate)?;
    let r = state.store.get_rfc(id).await.map_err(not_found)?;
    if r.owner_id == user.user_id {
        Ok(r)
    } else if user.scopes.contains(Scope::Admin) {
        Err(AppError::forbidden(crate::tr!("only the RFC's owner can change it")))
    } else {
        Err(AppError::not_found("RFC"))
    }
}

/// One RFC with everything it holds.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id))]
pub async fn get_rfc(state: &AppState, user: &Principal, id: i64) -> Result<Rfc, AppError> {
    let r = readable(state, user, id).await?;
    assemble(state, r).await
}

/// The caller's RFCs (an admin's list holds everyone's), most recently changed first.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn list_rfcs(
    state: &AppState,
    user: &Principal,
    limit: i64,
    offset: i64,
) -> Result<RfcPage, AppError> {
    user.require(Scope::Basic)?;
    let (limit, offset) = crate::service::users::page_bounds(limit, offset)?;
    let owner = (!user.scopes.contains(Scope::Admin)).then_some(user.user_id);
    let (items, total) = state.store.list_rfcs(owner, limit, offset).await?;
    Ok(RfcPage { items: items.into_iter().map(|r| r.summary).collect(), total, offset, limit })
}

/// Answers, skips or clears one of the RFC's questions; the answer must have the question's
/// kind (and, for choices, its options).
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = rfc_id, question.id = question_id))]
pub async fn answer_question(
    state: &AppState,
    user: &Principal,
    rfc_id: i64,
    question_id: i64,
    input: AnswerInput,
) -> Result<RfcQuestion, AppError> {
    writable(state, user, rfc_id).await?;
    let question = state.store.get_question(rfc_id, question_id).await.map_err(|e| match e {
        StoreError::NotFound => AppError::not_found("question"),
        e => e.into(),
    })?;
    let answer = input.answer.map(|a| check_answer(&question, a)).transpose()?;
    let saved = state
        .store
        .answer_question(rfc_id, question_id, answer.as_ref(), input.skip, Utc::now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => AppError::not_found("question"),
            e => e.into(),
        })?;
    Ok(saved)
}

fn check_answer(q: &RfcQuestion, answer: Answer) -> Result<Answer, AppError> {
    let wrong_kind = || {
        AppError::invalid(
            "answer",
            "kind",
            crate::tr!("this question takes an answer of kind %{kind}", kind = q.kind.as_str()),
        )
    };
    if answer.kind() != q.kind {
        return Err(wrong_kind());
    }
    let not_an_option = || {
        AppError::invalid("answer", "option", crate::tr!("choose one of the question's options"))
    };
    Ok(match answer {
        Answer::Text(t) => {
            let t = t.trim().to_string();
            if t.is_empty()
                || t.chars().count() > ANSWER_CHARS
                || crate::rfc::text::has_controls(&t)
            {
                return Err(AppError::invalid(
                    "answer",
                    "length",
                    crate::tr!("an answer has 1 to %{max} characters", max = ANSWER_CHARS),
                ));
            }
            Answer::Text(t)
        }
        Answer::SingleChoice(c) => {
            if !q.options.contains(&c) {
                return Err(not_an_option());
            }
            Answer::SingleChoice(c)
        }
        Answer::MultipleChoice(cs) => {
            let mut chosen: Vec<String> = Vec::new();
            for c in cs {
                if !q.options.contains(&c) {
                    return Err(not_an_option());
                }
                if !chosen.contains(&c) {
                    chosen.push(c);
                }
            }
            if chosen.is_empty() {
                return Err(not_an_option());
            }
            // Kept in the question's order, whatever order the client sent.
            chosen.sort_by_key(|c| q.options.iter().position(|o| o == c));
            Answer::MultipleChoice(chosen)
        }
        Answer::YesNo(b) => Answer::YesNo(b),
        Answer::Number(n) => {
            if !n.is_finite() {
                return Err(AppError::invalid(
                    "answer",
                    "number",
                    crate::tr!("the answer must be a finite number"),
                ));
            }
            Answer::Number(n)
        }
    })
}

/// The completeness check on the RFC as stored: its sections against its template, citations
/// against the sources it still holds.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id))]
pub async fn check_quality(
    state: &AppState,
    user: &Principal,
    id: i64,
) -> Result<QualityReport, AppError> {
    let r = readable(state, user, id).await?;
    quality_of(state, &r).await
}

/// The completeness check on a stored RFC, the latest review beside it.
pub(super) async fn quality_of(state: &AppState, r: &RfcRecord) -> Result<QualityReport, AppError> {
    let id = r.summary.id;
    let tpl = template_of(state, r).await?;
    let sections: Vec<DocSection> = state
        .store
        .list_sections(id)
        .await?
        .into_iter()
        .map(|s| DocSection { template_key: s.template_key, heading: s.heading, body: s.body })
        .collect();
    let known: HashSet<i32> = state
        .store
        .list_rfc_sources(id)
        .await?
        .into_iter()
        .filter(|s| !s.removed)
        .map(|s| s.label)
        .collect();
    let mut report = quality::assess(&tpl, r.summary.language, &sections, Some(&known));
    // A review made before the latest change says so (`reviewed_at` is when it read the text,
    // to the millisecond like `updated_at`; storing it leaves `updated_at` alone).
    report.review =
        r.review.clone().map(|v| RfcReview { stale: r.summary.updated_at > v.reviewed_at, ..v });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::templates;
    use model::QuestionKind;

    fn question(kind: QuestionKind, options: &[&str]) -> RfcQuestion {
        RfcQuestion {
            id: 1,
            round: 1,
            kind,
            text: "?".into(),
            why: String::new(),
            placeholder: String::new(),
            options: options.iter().map(|o| o.to_string()).collect(),
            origin: QuestionOrigin::Template,
            section: None,
            answer: None,
            skipped: false,
        }
    }

    #[test]
    fn answers_must_have_the_questions_kind_and_options() {
        let multi = question(QuestionKind::MultipleChoice, &["a", "b", "c"]);
        let ok =
            check_answer(&multi, Answer::MultipleChoice(vec!["c".into(), "a".into(), "c".into()]));
        assert_eq!(ok.unwrap(), Answer::MultipleChoice(vec!["a".into(), "c".into()]));
        for bad in [
            Answer::MultipleChoice(vec!["d".into()]),
            Answer::MultipleChoice(vec![]),
            Answer::SingleChoice("a".into()),
            Answer::Text("a".into()),
        ] {
            assert!(check_answer(&multi, bad.clone()).is_err(), "{bad:?}");
        }
        let num = question(QuestionKind::Number, &[]);
        assert!(check_answer(&num, Answer::Number(f64::NAN)).is_err());
        assert!(check_answer(&num, Answer::Number(f64::INFINITY)).is_err());
        assert_eq!(check_answer(&num, Answer::Number(-3.5)).unwrap(), Answer::Number(-3.5));
        let text = question(QuestionKind::Text, &[]);
        assert!(check_answer(&text, Answer::Text("   ".into())).is_err());
        assert!(check_answer(&text, Answer::Text("я".repeat(ANSWER_CHARS + 1))).is_err());
        assert_eq!(
            check_answer(&text, Answer::Text("  да ".into())).unwrap(),
            Answer::Text("да".into())
        );
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        let mut errors = Vec::new();
        let tags = clean_tags(&[" a ".into(), "A".into(), "".into(), "b".into()], &mut errors);
        assert_eq!(tags, ["a", "b"]);
        assert!(errors.is_empty());
        let many: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        clean_tags(&many, &mut errors);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn builtin_questions_come_in_the_documents_language() {
        let tpl = templates::builtin_template("security").unwrap();
        let ru = builtin_questions(tpl, DocLanguage::Ru);
        assert_eq!(ru[0].text, tpl.questions[0].text_ru);
        assert_eq!(ru[1].options, tpl.questions[1].options_ru);
        assert!(ru.iter().all(|q| q.origin == QuestionOrigin::Template));
    }
}
