//! The draft and its sections. Without a model the draft is assembled from the template, the
//! author's answers and quoted excerpts of the sources (provenance `template`): every sentence in
//! it was written by a person or comes from a source it cites. A section that needs facts about
//! the team's systems and has no source says so and lists what must be answered, instead of
//! inventing prose. A person's edits (provenance `human`) keep only citations that resolve.

use super::{load, not_found, writable};
use crate::auth::Principal;
use crate::rfc::citations;
use crate::rfc::quality;
use crate::state::AppState;
use crate::store::{NewSection, SectionUpdate, StoreError};
use chrono::Utc;
use model::error::AppError;
use model::{
    Answer, DocLanguage, MoveSectionInput, NewSectionInput, Provenance, Rfc, RfcQuestion,
    RfcSection, RfcSource, RfcStatus, RfcTemplate, SectionEditInput, SectionState, TemplateSection,
};
use std::collections::HashSet;

/// Longest section body, in characters.
pub const BODY_CHARS: usize = 100_000;
/// Longest heading, in characters.
pub const HEADING_CHARS: usize = 200;
/// Most sections an RFC holds.
pub const MAX_SECTIONS: usize = 60;
/// Sources quoted in one assembled section, and how much of each.
const QUOTES_PER_SECTION: usize = 2;
const QUOTE_CHARS: usize = 400;

fn say(lang: DocLanguage, en: &'static str, ru: &'static str) -> &'static str {
    match lang {
        DocLanguage::En => en,
        DocLanguage::Ru => ru,
    }
}

pub(super) fn answer_text(a: &Answer, lang: DocLanguage) -> String {
    match a {
        Answer::Text(t) | Answer::SingleChoice(t) => t.clone(),
        Answer::MultipleChoice(cs) => cs.join(", "),
        Answer::YesNo(true) => say(lang, "Yes.", "Да.").to_string(),
        Answer::YesNo(false) => say(lang, "No.", "Нет.").to_string(),
        Answer::Number(n) => n.to_string(),
    }
}

fn words(text: &str) -> HashSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 3)
        .map(str::to_string)
        .collect()
}

/// A quote cut to `max` characters, with an ellipsis where it was cut.
fn clip(text: &str, max: usize) -> String {
    let cut = crate::rfc::text::clip(text, max);
    if crate::rfc::text::clip(text, max + 1).chars().count() > max {
        format!("{}…", cut.trim_end())
    } else {
        cut
    }
}

/// The sources that share the most words with what a section is about, best first.
fn sources_for<'a>(
    section: &TemplateSection,
    lang: DocLanguage,
    title: &str,
    sources: &'a [RfcSource],
) -> Vec<&'a RfcSource> {
    let about: HashSet<String> =
        words(&format!("{} {} {title}", section.heading(lang), section.guidance(lang)));
    let mut scored: Vec<(usize, &RfcSource)> = sources
        .iter()
        .map(|s| {
            (
                words(&format!("{} {} {}", s.title, s.heading, s.excerpt))
                    .intersection(&about)
                    .count(),
                s,
            )
        })
        .filter(|(n, _)| *n > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.label.cmp(&b.1.label)));
    scored.into_iter().take(QUOTES_PER_SECTION).map(|(_, s)| s).collect()
}

/// The draft assembled without a model, one section per template section in order (plus an
/// open-questions section when the template has none and questions were skipped).
pub fn assemble(
    tpl: &RfcTemplate,
    lang: DocLanguage,
    title: &str,
    description: &str,
    questions: &[RfcQuestion],
    sources: &[RfcSource],
) -> Vec<NewSection> {
    let live: Vec<RfcSource> = sources.iter().filter(|s| !s.removed).cloned().collect();
    let open: Vec<&RfcQuestion> = questions.iter().filter(|q| q.answer.is_none()).collect();
    let mut out = Vec::new();
    for (i, ts) in tpl.sections.iter().enumerate() {
        let mut parts: Vec<String> = Vec::new();
        if i == 0 {
            parts.push(description.trim().to_string());
        }
        let answers: Vec<String> = questions
            .iter()
            .filter(|q| q.section.as_deref() == Some(&ts.key))
            .filter_map(|q| {
                let a = q.answer.as_ref()?;
                Some(format!("- **{}** {}", q.text.trim(), answer_text(a, lang)))
            })
            .collect();
        if !answers.is_empty() {
            parts.push(answers.join("\n"));
        }
        if ts.needs_facts {
            let quoted = sources_for(ts, lang, title, &live);
            if quoted.is_empty() {
                parts.push(format!(
                    "_{}_\n\n- {}",
                    say(lang, quality::NO_SOURCE_NOTE_EN, quality::NO_SOURCE_NOTE_RU),
                    ts.guidance(lang)
                ));
            } else {
                for s in quoted {
                    parts.push(format!("> {} [S{}]", clip(&s.excerpt, QUOTE_CHARS), s.label));
                }
            }
        }
        if ts.key == "unresolved" && !open.is_empty() {
            parts.push(
                open.iter().map(|q| format!("- {}", q.text.trim())).collect::<Vec<_>>().join("\n"),
            );
        }
        out.push(NewSection {
            template_key: Some(ts.key.clone()),
            heading: ts.heading(lang).to_string(),
            body: parts.join("\n\n"),
            provenance: Provenance::Template,
            state: SectionState::Done,
        });
    }
    if tpl.section("unresolved").is_none() && !open.is_empty() {
        out.push(NewSection {
            template_key: None,
            heading: say(lang, "Open questions", "Открытые вопросы").to_string(),
            body: open
                .iter()
                .map(|q| format!("- {}", q.text.trim()))
                .collect::<Vec<_>>()
                .join("\n"),
            provenance: Provenance::Template,
            state: SectionState::Done,
        });
    }
    out
}

/// Writes the draft. With a model, the `rfc.draft` job writes it (true: accepted, the job
/// runs); posting again after the job stopped goes on where it stopped. Without one, the draft
/// is assembled at once from the template, the answers and quoted sources. An RFC whose
/// sections are all written is not drafted again: they are changed one by one.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id))]
pub async fn draft_rfc(
    state: &AppState,
    user: &Principal,
    id: i64,
) -> Result<(bool, Rfc), AppError> {
    let r = writable(state, user, id).await?;
    let existing = state.store.list_sections(id).await?;
    if super::asking::has_model(state).await {
        return Ok((true, super::writing::start(state, &r, &existing).await?));
    }
    super::writing::not_while_drafting(state, &r).await?;
    let tpl = super::template_of(state, &r).await?;
    let questions = state.store.list_questions(id).await?;
    let sources = state.store.list_rfc_sources(id).await?;
    let sections =
        assemble(&tpl, r.summary.language, &r.summary.title, &r.description, &questions, &sources);
    let at = Utc::now();
    let written = match state.store.create_draft(id, &sections, RfcStatus::Draft, at).await {
        Err(StoreError::Conflict { .. }) => {
            return Err(AppError::Conflict {
                message: crate::tr!("this RFC has a draft already; change its sections one by one"),
            });
        }
        r => r.map_err(not_found)?,
    };
    // Every marker was written here from a live source's label; this keeps the rule that a
    // stored section lists what it cites.
    let known: HashSet<i32> = sources.iter().filter(|s| !s.removed).map(|s| s.label).collect();
    for placed in &written {
        let checked = citations::check(&placed.body, &known);
        if !checked.cited.is_empty() {
            let update = SectionUpdate {
                heading: None,
                body: checked.text,
                provenance: Provenance::Template,
                state: SectionState::Done,
                citations: checked.cited,
                dropped_citations: checked.dropped,
            };
            state.store.update_section(id, placed.id, &update, at).await.map_err(not_found)?;
        }
    }
    tracing::info!(sections = written.len(), "rfc draft assembled");
    Ok((false, load(state, id).await?))
}

pub(super) fn section_missing(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found("section"),
        e => e.into(),
    }
}

fn check_heading(heading: &str) -> Result<String, AppError> {
    let h = heading.trim();
    if h.is_empty()
        || h.chars().count() > HEADING_CHARS
        || h.contains('\n')
        || crate::rfc::text::has_controls(h)
    {
        return Err(AppError::invalid(
            "heading",
            "length",
            crate::tr!("a heading is one line of 1 to %{max} characters", max = HEADING_CHARS),
        ));
    }
    Ok(h.to_string())
}

fn check_body(body: &str) -> Result<(), AppError> {
    if crate::rfc::text::has_controls(body) {
        return Err(AppError::invalid(
            "body",
            "characters",
            crate::tr!("the text holds control characters"),
        ));
    }
    if body.chars().count() > BODY_CHARS {
        return Err(AppError::invalid(
            "body",
            "length",
            crate::tr!("a section has at most %{max} characters", max = BODY_CHARS),
        ));
    }
    Ok(())
}

async fn known_labels(state: &AppState, id: i64) -> Result<HashSet<i32>, AppError> {
    Ok(state
        .store
        .list_rfc_sources(id)
        .await?
        .into_iter()
        .filter(|s| !s.removed)
        .map(|s| s.label)
        .collect())
}

/// A person's edit: the new text replaces the section's, keeping only citations that resolve
/// (the dropped ones are counted).
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id, section.id = section_id))]
pub async fn edit_section(
    state: &AppState,
    user: &Principal,
    id: i64,
    section_id: i64,
    input: SectionEditInput,
) -> Result<RfcSection, AppError> {
    let r = writable(state, user, id).await?;
    super::writing::not_while_drafting(state, &r).await?;
    let heading = input.heading.as_deref().map(check_heading).transpose()?;
    check_body(&input.body)?;
    let checked = citations::check(&input.body, &known_labels(state, id).await?);
    let update = SectionUpdate {
        heading,
        body: checked.text,
        provenance: Provenance::Human,
        state: SectionState::Done,
        citations: checked.cited,
        dropped_citations: checked.dropped,
    };
    state.store.update_section(id, section_id, &update, Utc::now()).await.map_err(section_missing)
}

/// Adds a section a person writes.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id))]
pub async fn add_section(
    state: &AppState,
    user: &Principal,
    id: i64,
    input: NewSectionInput,
) -> Result<RfcSection, AppError> {
    let r = writable(state, user, id).await?;
    super::writing::not_while_drafting(state, &r).await?;
    let heading = check_heading(&input.heading)?;
    check_body(&input.body)?;
    if state.store.list_sections(id).await?.len() >= MAX_SECTIONS {
        return Err(AppError::invalid(
            "heading",
            "count",
            crate::tr!("an RFC has at most %{max} sections", max = MAX_SECTIONS),
        ));
    }
    let at = Utc::now();
    let new = NewSection {
        template_key: None,
        heading,
        body: String::new(),
        provenance: Provenance::Human,
        state: SectionState::Done,
    };
    let placed =
        state.store.insert_section(id, input.position, &new, at).await.map_err(not_found)?;
    if input.body.is_empty() {
        return Ok(placed);
    }
    edit_section(state, user, id, placed.id, SectionEditInput { heading: None, body: input.body })
        .await
}

/// Moves a section; the new order.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id, section.id = section_id))]
pub async fn move_section(
    state: &AppState,
    user: &Principal,
    id: i64,
    section_id: i64,
    input: MoveSectionInput,
) -> Result<Vec<RfcSection>, AppError> {
    let r = writable(state, user, id).await?;
    super::writing::not_while_drafting(state, &r).await?;
    state
        .store
        .move_section(id, section_id, input.position, Utc::now())
        .await
        .map_err(section_missing)
}

/// Removes a section.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id, section.id = section_id))]
pub async fn delete_section(
    state: &AppState,
    user: &Principal,
    id: i64,
    section_id: i64,
) -> Result<(), AppError> {
    let r = writable(state, user, id).await?;
    super::writing::not_while_drafting(state, &r).await?;
    state.store.delete_section(id, section_id, Utc::now()).await.map_err(section_missing)
}

/// Accepts (the proposal becomes the text, its citations checked again) or rejects (the
/// proposal is dropped) a regenerated section.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, rfc.id = id, section.id = section_id))]
pub async fn settle_proposal(
    state: &AppState,
    user: &Principal,
    id: i64,
    section_id: i64,
    accept: bool,
) -> Result<RfcSection, AppError> {
    let r = writable(state, user, id).await?;
    super::writing::not_while_drafting(state, &r).await?;
    let section = state.store.get_section(id, section_id).await.map_err(section_missing)?;
    let Some(proposed) = section.proposed_body.clone() else {
        return Err(AppError::Conflict {
            message: crate::tr!("this section has no regenerated text waiting"),
        });
    };
    let at = Utc::now();
    if accept {
        let checked = citations::check(&proposed, &known_labels(state, id).await?);
        let update = SectionUpdate {
            heading: None,
            body: checked.text,
            provenance: Provenance::Ai,
            state: SectionState::Done,
            citations: checked.cited,
            dropped_citations: checked.dropped,
        };
        state.store.update_section(id, section_id, &update, at).await.map_err(section_missing)?;
    }
    state.store.propose_section(id, section_id, None, at).await.map_err(section_missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::templates;
    use model::{QuestionKind, QuestionOrigin, SectionIssue};

    fn question(section: &str, text: &str, answer: Option<Answer>, skipped: bool) -> RfcQuestion {
        RfcQuestion {
            id: 1,
            round: 1,
            kind: answer.as_ref().map_or(QuestionKind::Text, Answer::kind),
            text: text.into(),
            why: String::new(),
            placeholder: String::new(),
            options: vec![],
            origin: QuestionOrigin::Template,
            section: Some(section.into()),
            answer,
            skipped,
        }
    }

    fn source(label: i32, title: &str, excerpt: &str) -> RfcSource {
        RfcSource {
            id: i64::from(label),
            label,
            chunk_id: i64::from(label),
            document_id: 1,
            source_id: 1,
            title: title.into(),
            url: format!("https://wiki.example.com/{label}"),
            heading: String::new(),
            excerpt: excerpt.into(),
            query: None,
            removed: false,
        }
    }

    #[test]
    fn with_no_sources_fact_sections_become_open_questions_not_prose() {
        let tpl = templates::builtin_template("feature").unwrap();
        let qs = [
            question(
                "motivation",
                "Who uses it?",
                Some(Answer::Text("Support engineers.".into())),
                false,
            ),
            question("alternatives", "What else?", None, true),
        ];
        let sections =
            assemble(tpl, DocLanguage::En, "Upload retries", "Retry failed uploads.", &qs, &[]);
        assert_eq!(sections.len(), tpl.sections.len());
        let body = |key: &str| {
            sections.iter().find(|s| s.template_key.as_deref() == Some(key)).unwrap().body.clone()
        };
        assert!(body("motivation").contains("**Who uses it?** Support engineers."));
        assert!(
            body("motivation").contains("No source in the team's knowledge covers this section")
        );
        assert!(body("reference").starts_with("_No source"), "{}", body("reference"));
        assert_eq!(body("drawbacks"), "", "nothing to say is left empty, not invented");
        assert!(body("unresolved").contains("- What else?"));
        assert!(
            citations::markers(&sections.iter().map(|s| s.body.clone()).collect::<String>())
                .is_empty()
        );
        assert!(sections.iter().all(|s| s.provenance == Provenance::Template));
    }

    #[test]
    fn fact_sections_quote_the_sources_that_share_their_words_and_cite_them() {
        let tpl = templates::builtin_template("infra").unwrap();
        let sources = [
            source(
                1,
                "Cost report",
                "Monthly cost of the cluster capacity is 4,000 USD; load grows 10% a month.",
            ),
            source(2, "Lunch menu", "Soup on Mondays."),
            source(
                3,
                "Queue runbook",
                "The queue service runs on three nodes; restarts lose nothing.",
            ),
        ];
        let sections = assemble(
            tpl,
            DocLanguage::En,
            "Move the queue",
            "Move the queue to managed Kafka.",
            &[],
            &sources,
        );
        let cost = sections.iter().find(|s| s.template_key.as_deref() == Some("cost")).unwrap();
        assert!(cost.body.contains("[S1]"), "{}", cost.body);
        assert!(
            !sections.iter().any(|s| s.body.contains("[S2]")),
            "unrelated sources are not quoted"
        );
    }

    #[test]
    fn a_template_without_an_open_questions_section_gets_one_for_skipped_questions() {
        let tpl = templates::builtin_template("prfaq").unwrap();
        let qs = [question("summary", "Кто клиент?", None, true)];
        let sections = assemble(tpl, DocLanguage::Ru, "Т", "Описание идеи.", &qs, &[]);
        let last = sections.last().unwrap();
        assert_eq!(
            (last.template_key.as_deref(), last.heading.as_str()),
            (None, "Открытые вопросы")
        );
        assert_eq!(last.body, "- Кто клиент?");
    }

    #[test]
    fn the_check_calls_an_assembled_draft_without_sources_incomplete() {
        let tpl = templates::builtin_template("feature").unwrap();
        let sections =
            assemble(tpl, DocLanguage::En, "T", "Retry failed uploads with backoff.", &[], &[]);
        let docs: Vec<quality::DocSection> = sections
            .into_iter()
            .map(|s| quality::DocSection {
                template_key: s.template_key,
                heading: s.heading,
                body: s.body,
            })
            .collect();
        let r = quality::assess(tpl, DocLanguage::En, &docs, Some(&HashSet::new()));
        assert!(r.structure_score < 30, "{}", r.structure_score);
        let motivation = r.findings.iter().find(|f| f.section == "motivation").unwrap();
        assert_eq!(
            motivation.issue,
            SectionIssue::Placeholder,
            "guidance left in place is not substance"
        );
    }
}
