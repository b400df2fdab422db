//! The RFC studio as clients see it: an RFC is a list of sections with stable ids (Markdown is
//! a rendering of them), the wizard's typed questions and answers, the knowledge chunks it is
//! grounded on (cited as `[S#]`), and the completeness check's report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Declares a wire enum whose stored name is its serde name, with `as_str` and `parse`.
macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// From the stored or wire name.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

stored_enum! {
    /// What the RFC is for: the wizard's first choice.
    TaskType {
        /// Something that does not exist yet.
        NewFeature = "new_feature",
        /// A change to something that exists.
        ModifyExisting = "modify_existing",
        /// A write-up of how something works today.
        AnalyzeCurrent = "analyze_current",
    }
}

stored_enum! {
    /// The language an RFC is written in (independent of the reader's interface language).
    DocLanguage {
        /// English.
        En = "en",
        /// Russian.
        Ru = "ru",
    }
}

stored_enum! {
    /// Where an RFC is in its life.
    RfcStatus {
        /// The wizard is asking clarifying questions.
        Clarifying = "clarifying",
        /// The sources to ground on are being chosen.
        Grounding = "grounding",
        /// The draft job is writing sections.
        Drafting = "drafting",
        /// A draft exists and can be edited section by section.
        Draft = "draft",
    }
}

stored_enum! {
    /// Who wrote a section's current text.
    Provenance {
        /// A model wrote it.
        Ai = "ai",
        /// A person wrote or edited it.
        Human = "human",
        /// Assembled from the template, the answers and quoted sources (no model).
        Template = "template",
    }
}

stored_enum! {
    /// How a clarifying question is answered.
    QuestionKind {
        /// Free text.
        Text = "text",
        /// One of the options.
        SingleChoice = "single_choice",
        /// Any of the options.
        MultipleChoice = "multiple_choice",
        /// Yes or no.
        YesNo = "yes_no",
        /// A number.
        Number = "number",
    }
}

stored_enum! {
    /// Where a clarifying question came from.
    QuestionOrigin {
        /// Asked by the model (feature `rfc.questions`).
        Model = "model",
        /// One of the template's built-in questions.
        Template = "template",
    }
}

stored_enum! {
    /// A section's state while a draft is being written.
    SectionState {
        /// In the outline, not written yet.
        Pending = "pending",
        /// Being written now.
        Writing = "writing",
        /// Written (or edited by a person).
        Done = "done",
        /// Writing it failed; the draft can be resumed.
        Failed = "failed",
    }
}

/// One section of a template: what the document needs there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSection {
    /// Stable key within the template (`motivation`).
    pub key: String,
    /// Heading in English.
    pub heading_en: String,
    /// Heading in Russian.
    pub heading_ru: String,
    /// Other headings that count as this section when a document is checked (either language).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A complete document has it.
    pub required: bool,
    /// Its content states facts about the team's systems: with nothing retrieved it becomes
    /// open questions instead of prose.
    pub needs_facts: bool,
    /// What a good section says, in English.
    pub guidance_en: String,
    /// What a good section says, in Russian.
    pub guidance_ru: String,
    /// Fewest words a section of substance has.
    pub min_words: i32,
}

impl TemplateSection {
    /// The heading in a document language.
    pub fn heading(&self, lang: DocLanguage) -> &str {
        match lang {
            DocLanguage::En => &self.heading_en,
            DocLanguage::Ru => &self.heading_ru,
        }
    }

    /// The guidance in a document language.
    pub fn guidance(&self, lang: DocLanguage) -> &str {
        match lang {
            DocLanguage::En => &self.guidance_en,
            DocLanguage::Ru => &self.guidance_ru,
        }
    }
}

/// A built-in question of a template, asked when no model is configured or its answer fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateQuestion {
    /// Stable key within the template.
    pub key: String,
    /// How it is answered.
    pub kind: QuestionKind,
    /// The question in English.
    pub text_en: String,
    /// The question in Russian.
    pub text_ru: String,
    /// Why it is asked, in English.
    pub why_en: String,
    /// Why it is asked, in Russian.
    pub why_ru: String,
    /// Options for the choice kinds, in English.
    #[serde(default)]
    pub options_en: Vec<String>,
    /// Options for the choice kinds, in Russian (same order).
    #[serde(default)]
    pub options_ru: Vec<String>,
    /// The section its answer feeds.
    pub section: String,
}

/// A template: its sections in order and its question set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfcTemplate {
    /// Stable key (`feature`, `adr`, or an admin's copy's key).
    #[serde(default)]
    pub key: String,
    /// Name in English.
    pub name_en: String,
    /// Name in Russian.
    pub name_ru: String,
    /// One line on when to use it, in English.
    pub summary_en: String,
    /// One line on when to use it, in Russian.
    pub summary_ru: String,
    /// Compiled in (admins copy it to change it).
    #[serde(default)]
    pub builtin: bool,
    /// Offered in the wizard.
    #[serde(default)]
    pub enabled: bool,
    /// Sections in order.
    pub sections: Vec<TemplateSection>,
    /// Built-in questions.
    pub questions: Vec<TemplateQuestion>,
}

impl RfcTemplate {
    /// The name in a language.
    pub fn name(&self, lang: DocLanguage) -> &str {
        match lang {
            DocLanguage::En => &self.name_en,
            DocLanguage::Ru => &self.name_ru,
        }
    }

    /// A section by key.
    pub fn section(&self, key: &str) -> Option<&TemplateSection> {
        self.sections.iter().find(|s| s.key == key)
    }
}

/// A template as the admins' list shows it: what it is and whether the wizard offers it, not
/// its definition (the editor reads that as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateListing {
    /// Key.
    pub key: String,
    /// Name in English.
    pub name_en: String,
    /// Name in Russian.
    pub name_ru: String,
    /// Compiled in (copied, not edited).
    pub builtin: bool,
    /// Offered in the wizard.
    pub enabled: bool,
    /// How many sections it has.
    pub sections: usize,
    /// How many built-in questions it has.
    pub questions: usize,
}

impl From<&RfcTemplate> for TemplateListing {
    fn from(t: &RfcTemplate) -> Self {
        TemplateListing {
            key: t.key.clone(),
            name_en: t.name_en.clone(),
            name_ru: t.name_ru.clone(),
            builtin: t.builtin,
            enabled: t.enabled,
            sections: t.sections.len(),
            questions: t.questions.len(),
        }
    }
}

/// An answer to a clarifying question, typed like the question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Answer {
    /// Free text.
    Text(String),
    /// The chosen option.
    SingleChoice(String),
    /// The chosen options.
    MultipleChoice(Vec<String>),
    /// Yes (true) or no.
    YesNo(bool),
    /// A number.
    Number(f64),
}

impl Answer {
    /// The kind of question it answers.
    pub fn kind(&self) -> QuestionKind {
        match self {
            Answer::Text(_) => QuestionKind::Text,
            Answer::SingleChoice(_) => QuestionKind::SingleChoice,
            Answer::MultipleChoice(_) => QuestionKind::MultipleChoice,
            Answer::YesNo(_) => QuestionKind::YesNo,
            Answer::Number(_) => QuestionKind::Number,
        }
    }
}

/// A clarifying question put to the author, with its answer once given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfcQuestion {
    /// Id.
    pub id: i64,
    /// Round it was asked in (1–3).
    pub round: i32,
    /// How it is answered.
    pub kind: QuestionKind,
    /// The question, in the RFC's language.
    pub text: String,
    /// Why it is asked.
    pub why: String,
    /// A hint for the answer box.
    pub placeholder: String,
    /// Options for the choice kinds.
    pub options: Vec<String>,
    /// Asked by the model or built into the template.
    pub origin: QuestionOrigin,
    /// The template section its answer feeds, if known.
    pub section: Option<String>,
    /// The answer.
    pub answer: Option<Answer>,
    /// Skipped: it becomes an unresolved question in the draft.
    pub skipped: bool,
}

/// A knowledge chunk an RFC is grounded on, cited in its text as `[S{label}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfcSource {
    /// Id.
    pub id: i64,
    /// The number in `[S#]`, unique within the RFC and never reused.
    pub label: i32,
    /// The chunk it was taken from (gone if the document was re-synced since).
    pub chunk_id: i64,
    /// The document.
    pub document_id: i64,
    /// The knowledge source.
    pub source_id: i64,
    /// Document title.
    pub title: String,
    /// Where the original lives (Confluence page, Jira issue, GitLab file, uploaded file).
    pub url: String,
    /// The heading the chunk sits under.
    pub heading: String,
    /// The chunk's text as it was retrieved (what the model saw).
    pub excerpt: String,
    /// The query that found it (None when a person added it).
    pub query: Option<String>,
    /// Taken out by the author: no longer offered to the model, citations to it are dropped.
    pub removed: bool,
}

/// One section of an RFC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfcSection {
    /// Stable id: survives edits, regeneration and reordering.
    pub id: i64,
    /// The template section it fills (None for one a person added).
    pub template_key: Option<String>,
    /// Heading.
    pub heading: String,
    /// Markdown body, citations as `[S#]`.
    pub body: String,
    /// Place in the document (0-based).
    pub position: i32,
    /// Who wrote the current text.
    pub provenance: Provenance,
    /// Drafting state.
    pub state: SectionState,
    /// Source labels the body cites (all resolving).
    pub citations: Vec<i32>,
    /// Citations the model wrote that resolved to nothing and were removed.
    pub dropped_citations: i32,
    /// A regenerated text waiting to be accepted; the body stays until then.
    pub proposed_body: Option<String>,
    /// The instruction the proposal was written for.
    pub proposed_instruction: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An RFC in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfcSummary {
    /// Id.
    pub id: i64,
    /// `RFC-YYYY-NNN`.
    pub number: String,
    /// Title.
    pub title: String,
    /// Template key.
    pub template: String,
    /// Language it is written in.
    pub language: DocLanguage,
    /// Status.
    pub status: RfcStatus,
    /// Owner's e-mail.
    pub owner_email: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An RFC with everything it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rfc {
    /// Id, number, title, status …
    pub summary: RfcSummary,
    /// What it is for.
    pub task_type: TaskType,
    /// The author's description from the wizard.
    pub description: String,
    /// Knowledge sources to ground on (None: every source the owner may see).
    pub source_ids: Option<Vec<i64>>,
    /// Question rounds asked so far.
    pub question_rounds: i32,
    /// Sections in order.
    pub sections: Vec<RfcSection>,
    /// Questions in the order asked.
    pub questions: Vec<RfcQuestion>,
    /// Grounding chunks by label.
    pub sources: Vec<RfcSource>,
    /// Money spent on model calls for it, nano-dollars.
    pub cost_nanos: i64,
    /// The latest `rfc.draft` job (writing the draft or regenerating a section).
    #[serde(default)]
    pub draft_job_id: Option<i64>,
    /// What a draft would still lack (the readiness check); empty when it is ready. The author
    /// may draft anyway.
    #[serde(default)]
    pub readiness: Vec<String>,
    /// Something the author should know about the last step (the model's questions could not
    /// be used, so the template's were asked); only in the answer to that step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// What the completeness check found wrong with one section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionIssue {
    /// A required section is not there.
    Missing,
    /// The section is there with no text.
    Empty,
    /// It holds placeholder text (TBD, TODO, lorem ipsum) or the template's own guidance.
    Placeholder,
    /// It has text, less than the template asks for.
    Thin,
    /// It cites sources that do not resolve.
    DanglingCitations,
}

/// One finding of the completeness check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityFinding {
    /// The template section (its key).
    pub section: String,
    /// Its heading in the RFC's language.
    pub heading: String,
    /// What is wrong.
    pub issue: SectionIssue,
    /// Required by the template.
    pub required: bool,
    /// Words it has.
    pub words: i32,
    /// Words the template asks for.
    pub min_words: i32,
}

/// The deterministic completeness check: structure, not quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// 0–100: how much of the template's structure is present with substance.
    pub structure_score: i32,
    /// Missing, empty, placeholder, thin or badly cited sections, required first.
    pub findings: Vec<QualityFinding>,
    /// Unresolved questions the document lists.
    pub unresolved_questions: Vec<String>,
    /// Citations in the text.
    pub citations: i32,
    /// Of them, the ones that resolve to a source.
    pub resolving_citations: i32,
    /// The latest model review (feature `rfc.review`), kept beside the score: rubric notes,
    /// not part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<RfcReview>,
}

/// What a model review rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAspect {
    /// Is it clear what is proposed, and why.
    Clarity,
    /// Are risks, failure modes and the way back named.
    Risks,
    /// Were alternatives weighed, and why were they not chosen.
    Alternatives,
}

impl ReviewAspect {
    /// Every aspect, in the order shown.
    pub const ALL: [ReviewAspect; 3] =
        [ReviewAspect::Clarity, ReviewAspect::Risks, ReviewAspect::Alternatives];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewAspect::Clarity => "clarity",
            ReviewAspect::Risks => "risks",
            ReviewAspect::Alternatives => "alternatives",
        }
    }
}

/// One rubric note of a model review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewNote {
    /// What it rates.
    pub aspect: ReviewAspect,
    /// 1 (poor) to 5 (excellent).
    pub rating: i32,
    /// What to improve, in the RFC's language.
    pub note: String,
}

/// A model's review of an RFC against the rubric (clarity, risks, alternatives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfcReview {
    /// One note per aspect, in `ReviewAspect::ALL`'s order.
    pub notes: Vec<ReviewNote>,
    /// When it was made.
    pub reviewed_at: DateTime<Utc>,
    /// The RFC changed after the review.
    #[serde(default)]
    pub stale: bool,
}

/// What the wizard sends to start an RFC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRfcInput {
    /// What it is for.
    pub task_type: TaskType,
    /// Template key.
    pub template: String,
    /// Title, 3–200 characters.
    pub title: String,
    /// The idea in the author's words, 10–4,000 characters.
    pub description: String,
    /// The language to write it in.
    pub language: DocLanguage,
    /// Knowledge sources to ground on (absent: every source the author may see).
    #[serde(default)]
    pub source_ids: Option<Vec<i64>>,
    /// Tags, at most 10.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// An admin's copy of a template: the copy's key and, optionally, its names (by default the
/// original's with "(copy)").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyTemplateInput {
    /// The copy's key: 2–40 lowercase letters, digits, '-' or '_', not taken.
    pub key: String,
    /// Its name in English.
    #[serde(default)]
    pub name_en: Option<String>,
    /// Its name in Russian.
    #[serde(default)]
    pub name_ru: Option<String>,
}

/// Offers a template in the wizard, or stops offering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSwitch {
    /// Offered in the wizard.
    pub enabled: bool,
}

/// An answer to a clarifying question, or skipping it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// The answer, typed like the question (absent with `skip`: skip it; absent without: clear).
    #[serde(default)]
    pub answer: Option<Answer>,
    /// Skip the question: it becomes an unresolved question in the draft.
    #[serde(default)]
    pub skip: bool,
}

/// A page of RFCs, most recently changed first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfcPage {
    /// The RFCs.
    pub items: Vec<RfcSummary>,
    /// How many in all.
    pub total: i64,
    /// First row.
    pub offset: i64,
    /// Page size.
    pub limit: i64,
}

/// A person's edit of a section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionEditInput {
    /// New heading (absent: keep it).
    #[serde(default)]
    pub heading: Option<String>,
    /// New Markdown body; citations must name the RFC's sources.
    pub body: String,
}

/// A section a person adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSectionInput {
    /// Heading.
    pub heading: String,
    /// Markdown body.
    #[serde(default)]
    pub body: String,
    /// Where (0-based; absent: at the end).
    #[serde(default)]
    pub position: Option<i32>,
}

/// Where to move a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveSectionInput {
    /// New place (0-based; clamped to the document).
    pub position: i32,
}

/// A chunk found by searching an RFC's knowledge, to add as a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSourceInput {
    /// Its document.
    pub document_id: i64,
    /// The chunk.
    pub chunk_id: i64,
}

/// Takes a source out of an RFC's grounding, or puts it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRemovedInput {
    /// Out (true) or back in (false).
    pub removed: bool,
}

/// What to do with a regenerated section waiting beside the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalDecision {
    /// Take it (true) or drop it (false).
    pub accept: bool,
}

/// A section to write again, with what to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegenerateInput {
    /// What to change ("shorter", "add a rollback plan"); 1 to 500 characters.
    pub instruction: String,
}

/// A draft being written (topic `rfc`): sent as each section grows and when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfcDraftEvent {
    /// The RFC.
    pub rfc_id: i64,
    /// The section being written.
    pub section_id: i64,
    /// Its place among the sections being written, from 1.
    pub index: i32,
    /// How many are being written.
    pub total: i32,
    /// Its text so far (complete, with checked citations, once `state` is done).
    pub text: String,
    /// Writing, done or failed.
    pub state: SectionState,
    /// What the RFC's model calls have cost so far, nano-dollars.
    pub cost_nanos: i64,
}
