//! RFCs and what they hold: sections (stable ids, explicit positions), the wizard's questions
//! and answers, and the grounding sources (a snapshot of each chunk, labelled `S1…` once and for
//! good). Every child row is read and written through its RFC's id as well as its own, so a
//! section of one RFC cannot be reached through another. Rules (who may, what is valid) are
//! `service::rfcs`' business.

use super::{Flag, SqlStore, StoreError, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use model::{
    Answer, DocLanguage, Provenance, QuestionKind, QuestionOrigin, RfcQuestion, RfcReview,
    RfcSection, RfcSource, RfcStatus, RfcSummary, SectionState, TaskType,
};

/// An RFC to create; the store gives it the year's next number.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRfc {
    /// Title.
    pub title: String,
    /// What it is for.
    pub task_type: TaskType,
    /// Template key.
    pub template: String,
    /// Written in.
    pub language: DocLanguage,
    /// The author's description.
    pub description: String,
    /// Owner.
    pub owner_id: i64,
    /// Tags.
    pub tags: Vec<String>,
    /// Knowledge sources to ground on (None: all the owner may see).
    pub source_ids: Option<Vec<i64>>,
    /// When.
    pub at: DateTime<Utc>,
}

/// An RFC's own fields (sections, questions and sources are read separately).
#[derive(Debug, Clone, PartialEq)]
pub struct RfcRecord {
    /// Id, number, title, template, language, status, owner's e-mail, tags, times.
    pub summary: RfcSummary,
    /// What it is for.
    pub task_type: TaskType,
    /// The author's description.
    pub description: String,
    /// Owner.
    pub owner_id: i64,
    /// Knowledge sources to ground on (None: all the owner may see).
    pub source_ids: Option<Vec<i64>>,
    /// Question rounds asked so far.
    pub question_rounds: i32,
    /// The latest `rfc.draft` job started for it.
    pub draft_job_id: Option<i64>,
    /// The latest model review (`stale` as stored: false).
    pub review: Option<RfcReview>,
}

/// Changes to an RFC's own fields; None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RfcPatch {
    /// New title.
    pub title: Option<String>,
    /// New status.
    pub status: Option<RfcStatus>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New grounding sources (Some(None): all the owner may see).
    pub source_ids: Option<Option<Vec<i64>>>,
    /// New count of question rounds.
    pub question_rounds: Option<i32>,
    /// The latest draft job (Some(None) clears it).
    pub draft_job_id: Option<Option<i64>>,
}

/// A section to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSection {
    /// The template section it fills.
    pub template_key: Option<String>,
    /// Heading.
    pub heading: String,
    /// Markdown body.
    pub body: String,
    /// Who wrote it.
    pub provenance: Provenance,
    /// Drafting state.
    pub state: SectionState,
}

/// A section's new text and state.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionUpdate {
    /// New heading (None keeps it).
    pub heading: Option<String>,
    /// Markdown body, citations already checked.
    pub body: String,
    /// Who wrote it.
    pub provenance: Provenance,
    /// Drafting state.
    pub state: SectionState,
    /// Labels it cites.
    pub citations: Vec<i32>,
    /// Citations removed because they resolved to nothing.
    pub dropped_citations: i32,
}

/// A clarifying question to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewQuestion {
    /// How it is answered.
    pub kind: QuestionKind,
    /// The question.
    pub text: String,
    /// Why it is asked.
    pub why: String,
    /// A hint for the answer box.
    pub placeholder: String,
    /// Options for the choice kinds.
    pub options: Vec<String>,
    /// Model or template.
    pub origin: QuestionOrigin,
    /// The template section its answer feeds.
    pub section: Option<String>,
}

/// A retrieved chunk to ground an RFC on.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRfcSource {
    /// Chunk.
    pub chunk_id: i64,
    /// Document.
    pub document_id: i64,
    /// Knowledge source.
    pub source_id: i64,
    /// Document title.
    pub title: String,
    /// Link to the original.
    pub url: String,
    /// Heading the chunk sits under.
    pub heading: String,
    /// The chunk's text.
    pub excerpt: String,
    /// The query that found it (None: added by a person).
    pub query: Option<String>,
}

impl NewRfcSource {
    /// The source as shown before it is kept: no id and no label yet.
    pub fn unsaved(self) -> RfcSource {
        RfcSource {
            id: 0,
            label: 0,
            chunk_id: self.chunk_id,
            document_id: self.document_id,
            source_id: self.source_id,
            title: self.title,
            url: self.url,
            heading: self.heading,
            excerpt: self.excerpt,
            query: self.query,
            removed: false,
        }
    }
}

/// RFCs, their sections, questions and sources.
#[async_trait]
pub trait RfcStore: Send + Sync {
    /// Inserts an RFC in `clarifying` with the year's next number (`RFC-2026-001`).
    async fn create_rfc(&self, rfc: &NewRfc) -> StoreResult<RfcRecord>;
    /// One RFC.
    async fn get_rfc(&self, id: i64) -> StoreResult<RfcRecord>;
    /// RFCs, most recently changed first (one owner's, or everyone's), and how many in all.
    async fn list_rfcs(
        &self,
        owner_id: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<RfcRecord>, i64)>;
    /// Changes an RFC's own fields.
    async fn update_rfc(
        &self,
        id: i64,
        patch: &RfcPatch,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcRecord>;
    /// Stores the RFC's latest model review; `updated_at` is left alone, so a change made
    /// after the review's `reviewed_at` shows it as stale.
    async fn set_rfc_review(&self, id: i64, review: &RfcReview) -> StoreResult<()>;
    /// Deletes an RFC with its sections, questions and sources (ledger rows stay).
    async fn delete_rfc(&self, id: i64) -> StoreResult<()>;

    /// An RFC's sections in order.
    async fn list_sections(&self, rfc_id: i64) -> StoreResult<Vec<RfcSection>>;
    /// One of an RFC's sections.
    async fn get_section(&self, rfc_id: i64, id: i64) -> StoreResult<RfcSection>;
    /// Writes a first draft's sections in order and sets the RFC's status, in one transaction;
    /// Conflict (`rfc_sections`) if the RFC has sections already, so two drafts never mix.
    async fn create_draft(
        &self,
        rfc_id: i64,
        sections: &[NewSection],
        status: RfcStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<RfcSection>>;
    /// Inserts a section at `position` (None: at the end), moving the later ones down.
    async fn insert_section(
        &self,
        rfc_id: i64,
        position: Option<i32>,
        section: &NewSection,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcSection>;
    /// Replaces a section's text and state; a pending proposal stays.
    async fn update_section(
        &self,
        rfc_id: i64,
        id: i64,
        update: &SectionUpdate,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcSection>;
    /// Sets (Some) or clears (None) a regenerated text waiting beside the current one.
    async fn propose_section(
        &self,
        rfc_id: i64,
        id: i64,
        proposal: Option<(&str, &str)>,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcSection>;
    /// Moves a section to `position` (clamped), renumbering the rest; the new order.
    async fn move_section(
        &self,
        rfc_id: i64,
        id: i64,
        position: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<RfcSection>>;
    /// Deletes a section, closing the gap it leaves.
    async fn delete_section(&self, rfc_id: i64, id: i64, at: DateTime<Utc>) -> StoreResult<()>;

    /// Claims question round `round` (the RFC has asked `round - 1`): false if another
    /// request claimed it first.
    async fn claim_question_round(
        &self,
        rfc_id: i64,
        round: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Adds a round of questions (in order) and counts the round on the RFC.
    async fn add_questions(
        &self,
        rfc_id: i64,
        round: i32,
        questions: &[NewQuestion],
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<RfcQuestion>>;
    /// An RFC's questions in the order asked.
    async fn list_questions(&self, rfc_id: i64) -> StoreResult<Vec<RfcQuestion>>;
    /// One of an RFC's questions.
    async fn get_question(&self, rfc_id: i64, id: i64) -> StoreResult<RfcQuestion>;
    /// Records an answer (None with `skipped`: skipped; None without: cleared).
    async fn answer_question(
        &self,
        rfc_id: i64,
        id: i64,
        answer: Option<&Answer>,
        skipped: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcQuestion>;

    /// Adds grounding chunks, labelled after the highest label the RFC ever had; a chunk it
    /// already holds is left as it is. Returns the rows added.
    async fn add_rfc_sources(
        &self,
        rfc_id: i64,
        sources: &[NewRfcSource],
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<RfcSource>>;
    /// An RFC's sources by label.
    async fn list_rfc_sources(&self, rfc_id: i64) -> StoreResult<Vec<RfcSource>>;
    /// Takes a source out of (or back into) what the model may cite.
    async fn set_rfc_source_removed(
        &self,
        rfc_id: i64,
        id: i64,
        removed: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcSource>;

    /// What the model calls made for an RFC cost, nano-dollars (its ledger rows' sum).
    async fn rfc_cost_nanos(&self, rfc_id: i64) -> StoreResult<i64>;
}

const RFC_SELECT: &str = "SELECT r.id, r.year, r.seq, r.title, r.task_type, r.template, \
     r.language, r.status, r.description, r.owner_id, u.email AS owner_email, r.tags, \
     r.source_ids, r.question_rounds, r.draft_job_id, r.review, r.created_at, r.updated_at \
     FROM rfcs r JOIN users u ON u.id = r.owner_id";

#[derive(sqlx::FromRow)]
struct RfcRow {
    id: i64,
    year: i32,
    seq: i32,
    title: String,
    task_type: String,
    template: String,
    language: String,
    status: String,
    description: String,
    owner_id: i64,
    owner_email: String,
    tags: String,
    source_ids: Option<String>,
    question_rounds: i32,
    draft_job_id: Option<i64>,
    review: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(anyhow::anyhow!("stored {what} {value:?} is not valid"))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|_| corrupt(what, text))
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(e.into()))
}

/// The number people use for an RFC.
pub fn rfc_number(year: i32, seq: i32) -> String {
    format!("RFC-{year}-{seq:03}")
}

impl TryFrom<RfcRow> for RfcRecord {
    type Error = StoreError;

    fn try_from(r: RfcRow) -> StoreResult<Self> {
        Ok(RfcRecord {
            summary: RfcSummary {
                id: r.id,
                number: rfc_number(r.year, r.seq),
                title: r.title,
                template: r.template,
                language: DocLanguage::parse(&r.language)
                    .ok_or_else(|| corrupt("language", &r.language))?,
                status: RfcStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
                owner_email: r.owner_email,
                tags: json("tags", &r.tags)?,
                created_at: from_ms(r.created_at),
                updated_at: from_ms(r.updated_at),
            },
            task_type: TaskType::parse(&r.task_type)
                .ok_or_else(|| corrupt("task type", &r.task_type))?,
            description: r.description,
            owner_id: r.owner_id,
            source_ids: r.source_ids.as_deref().map(|s| json("source ids", s)).transpose()?,
            question_rounds: r.question_rounds,
            draft_job_id: r.draft_job_id,
            review: r.review.as_deref().map(|s| json("review", s)).transpose()?,
        })
    }
}

const SECTION_COLUMNS: &str = "id, template_key, heading, body, position, provenance, state, \
     citations, dropped_citations, proposed_body, proposed_instruction, updated_at";

#[derive(sqlx::FromRow)]
struct SectionRow {
    id: i64,
    template_key: Option<String>,
    heading: String,
    body: String,
    position: i32,
    provenance: String,
    state: String,
    citations: String,
    dropped_citations: i32,
    proposed_body: Option<String>,
    proposed_instruction: Option<String>,
    updated_at: i64,
}

impl TryFrom<SectionRow> for RfcSection {
    type Error = StoreError;

    fn try_from(r: SectionRow) -> StoreResult<Self> {
        Ok(RfcSection {
            id: r.id,
            template_key: r.template_key,
            heading: r.heading,
            body: r.body,
            position: r.position,
            provenance: Provenance::parse(&r.provenance)
                .ok_or_else(|| corrupt("provenance", &r.provenance))?,
            state: SectionState::parse(&r.state).ok_or_else(|| corrupt("state", &r.state))?,
            citations: json("citations", &r.citations)?,
            dropped_citations: r.dropped_citations,
            proposed_body: r.proposed_body,
            proposed_instruction: r.proposed_instruction,
            updated_at: from_ms(r.updated_at),
        })
    }
}

const QUESTION_COLUMNS: &str = "id, round, kind, text, why, placeholder, options, origin, \
     section, answer, CAST(skipped AS INTEGER) AS skipped";

#[derive(sqlx::FromRow)]
struct QuestionRow {
    id: i64,
    round: i32,
    kind: String,
    text: String,
    why: String,
    placeholder: String,
    options: String,
    origin: String,
    section: Option<String>,
    answer: Option<String>,
    #[sqlx(try_from = "Flag")]
    skipped: bool,
}

impl TryFrom<QuestionRow> for RfcQuestion {
    type Error = StoreError;

    fn try_from(r: QuestionRow) -> StoreResult<Self> {
        Ok(RfcQuestion {
            id: r.id,
            round: r.round,
            kind: QuestionKind::parse(&r.kind).ok_or_else(|| corrupt("question kind", &r.kind))?,
            text: r.text,
            why: r.why,
            placeholder: r.placeholder,
            options: json("options", &r.options)?,
            origin: QuestionOrigin::parse(&r.origin)
                .ok_or_else(|| corrupt("question origin", &r.origin))?,
            section: r.section,
            answer: r.answer.as_deref().map(|a| json("answer", a)).transpose()?,
            skipped: r.skipped,
        })
    }
}

const SOURCE_COLUMNS: &str = "id, label, chunk_id, document_id, source_id, title, url, heading, \
     excerpt, query, CAST(removed AS INTEGER) AS removed";

#[derive(sqlx::FromRow)]
struct RfcSourceRow {
    id: i64,
    label: i32,
    chunk_id: i64,
    document_id: i64,
    source_id: i64,
    title: String,
    url: String,
    heading: String,
    excerpt: String,
    query: Option<String>,
    #[sqlx(try_from = "Flag")]
    removed: bool,
}

impl From<RfcSourceRow> for RfcSource {
    fn from(r: RfcSourceRow) -> Self {
        RfcSource {
            id: r.id,
            label: r.label,
            chunk_id: r.chunk_id,
            document_id: r.document_id,
            source_id: r.source_id,
            title: r.title,
            url: r.url,
            heading: r.heading,
            excerpt: r.excerpt,
            query: r.query,
            removed: r.removed,
        }
    }
}

fn rows<R, T>(rows: Vec<R>) -> StoreResult<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// Marks the RFC changed; NotFound if it does not exist.
async fn touch<'c, E>(exec: E, rfc_id: i64, at: DateTime<Utc>) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let done = sqlx::query("UPDATE rfcs SET updated_at = $1 WHERE id = $2")
        .bind(to_ms(at))
        .bind(rfc_id)
        .execute(exec)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

async fn sections_in<'c, E>(exec: E, rfc_id: i64) -> StoreResult<Vec<RfcSection>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let found: Vec<SectionRow> = sqlx::query_as(&format!(
        "SELECT {SECTION_COLUMNS} FROM rfc_sections WHERE rfc_id = $1 ORDER BY position, id"
    ))
    .bind(rfc_id)
    .fetch_all(exec)
    .await?;
    rows(found)
}

/// Inserts one section row at `pos` (the caller renumbers the rest); its id.
async fn insert_section_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    rfc_id: i64,
    pos: usize,
    section: &NewSection,
    at: DateTime<Utc>,
) -> StoreResult<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO rfc_sections (rfc_id, template_key, heading, body, position, \
         provenance, state, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(rfc_id)
    .bind(section.template_key.as_deref())
    .bind(&section.heading)
    .bind(&section.body)
    .bind(i32::try_from(pos).unwrap_or(i32::MAX))
    .bind(section.provenance.as_str())
    .bind(section.state.as_str())
    .bind(to_ms(at))
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Writes positions 0..n in the given order.
async fn renumber(tx: &mut sqlx::Transaction<'static, sqlx::Any>, ids: &[i64]) -> StoreResult<()> {
    for (pos, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE rfc_sections SET position = $1 WHERE id = $2")
            .bind(pos as i32)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl SqlStore {
    async fn load_rfc<'c, E>(&self, exec: E, id: i64) -> StoreResult<RfcRecord>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        let row: RfcRow = sqlx::query_as(&format!("{RFC_SELECT} WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(exec)
            .await?
            .ok_or(StoreError::NotFound)?;
        row.try_into()
    }

    async fn load_section<'c, E>(&self, exec: E, rfc_id: i64, id: i64) -> StoreResult<RfcSection>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        let row: SectionRow = sqlx::query_as(&format!(
            "SELECT {SECTION_COLUMNS} FROM rfc_sections WHERE id = $1 AND rfc_id = $2"
        ))
        .bind(id)
        .bind(rfc_id)
        .fetch_optional(exec)
        .await?
        .ok_or(StoreError::NotFound)?;
        row.try_into()
    }
}

#[async_trait]
impl RfcStore for SqlStore {
    async fn create_rfc(&self, rfc: &NewRfc) -> StoreResult<RfcRecord> {
        let year = rfc.at.year();
        let mut tx = self.begin_write().await?;
        if let Some(lock) = self.backend.lock_rfcs() {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        let (last,): (Option<i32>,) = sqlx::query_as("SELECT MAX(seq) FROM rfcs WHERE year = $1")
            .bind(year)
            .fetch_one(&mut *tx)
            .await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO rfcs (year, seq, title, task_type, template, language, status, \
             description, owner_id, tags, source_ids, question_rounds, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'clarifying', $7, $8, $9, $10, 0, $11, $11) \
             RETURNING id",
        )
        .bind(year)
        .bind(last.unwrap_or(0) + 1)
        .bind(&rfc.title)
        .bind(rfc.task_type.as_str())
        .bind(&rfc.template)
        .bind(rfc.language.as_str())
        .bind(&rfc.description)
        .bind(rfc.owner_id)
        .bind(to_json(&rfc.tags)?)
        .bind(rfc.source_ids.as_ref().map(to_json).transpose()?)
        .bind(to_ms(rfc.at))
        .fetch_one(&mut *tx)
        .await?;
        let created = self.load_rfc(&mut *tx, id).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_rfc(&self, id: i64) -> StoreResult<RfcRecord> {
        self.load_rfc(&self.pool, id).await
    }

    async fn list_rfcs(
        &self,
        owner_id: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<RfcRecord>, i64)> {
        // `$1 IS NULL` with an untyped NULL is ambiguous to PostgreSQL; -1 means everyone.
        let owner = owner_id.unwrap_or(-1);
        let found: Vec<RfcRow> = sqlx::query_as(&format!(
            "{RFC_SELECT} WHERE ($1 = -1 OR r.owner_id = $1) \
             ORDER BY r.updated_at DESC, r.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(owner)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let (total,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM rfcs WHERE ($1 = -1 OR owner_id = $1)")
                .bind(owner)
                .fetch_one(&self.pool)
                .await?;
        Ok((rows(found)?, total))
    }

    async fn update_rfc(
        &self,
        id: i64,
        patch: &RfcPatch,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcRecord> {
        let mut tx = self.begin_write().await?;
        if let Some(lock) = self.backend.lock_rfc_row() {
            sqlx::query(lock).bind(id).execute(&mut *tx).await?;
        }
        let current = self.load_rfc(&mut *tx, id).await?;
        let title = patch.title.as_deref().unwrap_or(&current.summary.title);
        let status = patch.status.unwrap_or(current.summary.status);
        let tags = patch.tags.as_ref().unwrap_or(&current.summary.tags);
        let source_ids = patch.source_ids.as_ref().unwrap_or(&current.source_ids);
        let rounds = patch.question_rounds.unwrap_or(current.question_rounds);
        let job = patch.draft_job_id.unwrap_or(current.draft_job_id);
        sqlx::query(
            "UPDATE rfcs SET title = $1, status = $2, tags = $3, source_ids = $4, \
             question_rounds = $5, draft_job_id = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(title)
        .bind(status.as_str())
        .bind(to_json(tags)?)
        .bind(source_ids.as_ref().map(to_json).transpose()?)
        .bind(rounds)
        .bind(job)
        .bind(to_ms(at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let updated = self.load_rfc(&mut *tx, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn set_rfc_review(&self, id: i64, review: &RfcReview) -> StoreResult<()> {
        let done = sqlx::query("UPDATE rfcs SET review = $1 WHERE id = $2")
            .bind(to_json(review)?)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_rfc(&self, id: i64) -> StoreResult<()> {
        let done =
            sqlx::query("DELETE FROM rfcs WHERE id = $1").bind(id).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_sections(&self, rfc_id: i64) -> StoreResult<Vec<RfcSection>> {
        sections_in(&self.pool, rfc_id).await
    }

    async fn get_section(&self, rfc_id: i64, id: i64) -> StoreResult<RfcSection> {
        self.load_section(&self.pool, rfc_id, id).await
    }

    async fn create_draft(
        &self,
        rfc_id: i64,
        sections: &[NewSection],
        status: RfcStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<RfcSection>> {
        let mut tx = self.begin_write().await?;
        // The RFC's row first: every section write locks it before its sections.
        touch(&mut *tx, rfc_id, at).await?;
        if !sections_in(&mut *tx, rfc_id).await?.is_empty() {
            return Err(StoreError::Conflict { constraint: "rfc_sections".into() });
        }
        for (pos, section) in sections.iter().enumerate() {
            insert_section_row(&mut tx, rfc_id, pos, section, at).await?;
        }
        sqlx::query("UPDATE rfcs SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(rfc_id)
            .execute(&mut *tx)
            .await?;
        let written = sections_in(&mut *tx, rfc_id).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn insert_section(
        &self,
        rfc_id: i64,
        position: Option<i32>,
        section: &NewSection,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcSection> {
        let mut tx = self.begin_write().await?;
        touch(&mut *tx, rfc_id, at).await?;
        let existing = sections_in(&mut *tx, rfc_id).await?;
        let pos = position.map_or(existing.len(), |p| (p.max(0) as usize).min(existing.len()));
        let id = insert_section_row(&mut tx, rfc_id, pos, section, at).await?;
        let mut order: Vec<i64> = existing.iter().map(|s| s.id).collect();
        order.insert(pos, id);
        renumber(&mut tx, &order).await?;
        let created = self.load_section(&mut *tx, rfc_id, id).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn update_section(
        &self,
        rfc_id: i64,
        id: i64,
        update: &SectionUpdate,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcSection> {
        let mut tx = self.begin_write().await?;
        // The RFC's row first, as every section write does (no lock-order deadlocks).
        touch(&mut *tx, rfc_id, at).await?;
        let current = self.load_section(&mut *tx, rfc_id, id).await?;
        sqlx::query(
            "UPDATE rfc_sections SET heading = $1, body = $2, provenance = $3, state = $4, \
             citations = $5, dropped_citations = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(update.heading.as_deref().unwrap_or(&current.heading))
        .bind(&update.body)
        .bind(update.provenance.as_str())
        .bind(update.state.as_str())
        .bind(to_json(&update.citations)?)
        .bind(update.dropped_citations)
        .bind(to_ms(at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let updated = self.load_section(&mut *tx, rfc_id, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn propose_section(
        &self,
        rfc_id: i64,
        id: i64,
        proposal: Option<(&str, &str)>,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcSection> {
        let mut tx = self.begin_write().await?;
        touch(&mut *tx, rfc_id, at).await?;
        let done = sqlx::query(
            "UPDATE rfc_sections SET proposed_body = $1, proposed_instruction = $2, \
             updated_at = $3 WHERE id = $4 AND rfc_id = $5",
        )
        .bind(proposal.map(|p| p.0))
        .bind(proposal.map(|p| p.1))
        .bind(to_ms(at))
        .bind(id)
        .bind(rfc_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let updated = self.load_section(&mut *tx, rfc_id, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn move_section(
        &self,
        rfc_id: i64,
        id: i64,
        position: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<RfcSection>> {
        let mut tx = self.begin_write().await?;
        touch(&mut *tx, rfc_id, at).await?;
        let mut order: Vec<i64> =
            sections_in(&mut *tx, rfc_id).await?.iter().map(|s| s.id).collect();
        let from = order.iter().position(|&s| s == id).ok_or(StoreError::NotFound)?;
        order.remove(from);
        let to = (position.max(0) as usize).min(order.len());
        order.insert(to, id);
        renumber(&mut tx, &order).await?;
        let now = sections_in(&mut *tx, rfc_id).await?;
        tx.commit().await?;
        Ok(now)
    }

    async fn delete_section(&self, rfc_id: i64, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        touch(&mut *tx, rfc_id, at).await?;
        let done = sqlx::query("DELETE FROM rfc_sections WHERE id = $1 AND rfc_id = $2")
            .bind(id)
            .bind(rfc_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let order: Vec<i64> = sections_in(&mut *tx, rfc_id).await?.iter().map(|s| s.id).collect();
        renumber(&mut tx, &order).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_questions(
        &self,
        rfc_id: i64,
        round: i32,
        questions: &[NewQuestion],
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<RfcQuestion>> {
        let mut tx = self.begin_write().await?;
        touch(&mut *tx, rfc_id, at).await?;
        let mut ids = Vec::with_capacity(questions.len());
        for (pos, q) in questions.iter().enumerate() {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO rfc_questions (rfc_id, round, position, kind, text, why, \
                 placeholder, options, origin, section, skipped) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE) RETURNING id",
            )
            .bind(rfc_id)
            .bind(round)
            .bind(pos as i32)
            .bind(q.kind.as_str())
            .bind(&q.text)
            .bind(&q.why)
            .bind(&q.placeholder)
            .bind(to_json(&q.options)?)
            .bind(q.origin.as_str())
            .bind(q.section.as_deref())
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        sqlx::query("UPDATE rfcs SET question_rounds = $1 WHERE id = $2 AND question_rounds < $1")
            .bind(round)
            .bind(rfc_id)
            .execute(&mut *tx)
            .await?;
        let found: Vec<QuestionRow> = sqlx::query_as(&format!(
            "SELECT {QUESTION_COLUMNS} FROM rfc_questions WHERE rfc_id = $1 AND round = $2 \
             ORDER BY position, id"
        ))
        .bind(rfc_id)
        .bind(round)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let all: Vec<RfcQuestion> = rows(found)?;
        Ok(all.into_iter().filter(|q| ids.contains(&q.id)).collect())
    }

    async fn claim_question_round(
        &self,
        rfc_id: i64,
        round: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE rfcs SET question_rounds = $1, updated_at = $2 \
             WHERE id = $3 AND question_rounds = $1 - 1",
        )
        .bind(round)
        .bind(to_ms(at))
        .bind(rfc_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_question(&self, rfc_id: i64, id: i64) -> StoreResult<RfcQuestion> {
        let row: QuestionRow = sqlx::query_as(&format!(
            "SELECT {QUESTION_COLUMNS} FROM rfc_questions WHERE id = $1 AND rfc_id = $2"
        ))
        .bind(id)
        .bind(rfc_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        row.try_into()
    }

    async fn list_questions(&self, rfc_id: i64) -> StoreResult<Vec<RfcQuestion>> {
        let found: Vec<QuestionRow> = sqlx::query_as(&format!(
            "SELECT {QUESTION_COLUMNS} FROM rfc_questions WHERE rfc_id = $1 \
             ORDER BY round, position, id"
        ))
        .bind(rfc_id)
        .fetch_all(&self.pool)
        .await?;
        rows(found)
    }

    async fn answer_question(
        &self,
        rfc_id: i64,
        id: i64,
        answer: Option<&Answer>,
        skipped: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcQuestion> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE rfc_questions SET answer = $1, skipped = $2, answered_at = $3 \
             WHERE id = $4 AND rfc_id = $5",
        )
        .bind(answer.map(to_json).transpose()?)
        .bind(skipped && answer.is_none())
        .bind(answer.map(|_| to_ms(at)))
        .bind(id)
        .bind(rfc_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        touch(&mut *tx, rfc_id, at).await?;
        let row: QuestionRow =
            sqlx::query_as(&format!("SELECT {QUESTION_COLUMNS} FROM rfc_questions WHERE id = $1"))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn add_rfc_sources(
        &self,
        rfc_id: i64,
        sources: &[NewRfcSource],
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<RfcSource>> {
        let mut tx = self.begin_write().await?;
        touch(&mut *tx, rfc_id, at).await?;
        let held: Vec<(i64, i32)> =
            sqlx::query_as("SELECT chunk_id, label FROM rfc_sources WHERE rfc_id = $1")
                .bind(rfc_id)
                .fetch_all(&mut *tx)
                .await?;
        let mut next = held.iter().map(|h| h.1).max().unwrap_or(0) + 1;
        let mut seen: std::collections::HashSet<i64> = held.iter().map(|h| h.0).collect();
        let mut added = Vec::new();
        for s in sources {
            if !seen.insert(s.chunk_id) {
                continue;
            }
            let row: RfcSourceRow = sqlx::query_as(&format!(
                "INSERT INTO rfc_sources (rfc_id, label, chunk_id, document_id, source_id, \
                 title, url, heading, excerpt, query, removed, added_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11) \
                 RETURNING {SOURCE_COLUMNS}"
            ))
            .bind(rfc_id)
            .bind(next)
            .bind(s.chunk_id)
            .bind(s.document_id)
            .bind(s.source_id)
            .bind(&s.title)
            .bind(&s.url)
            .bind(&s.heading)
            .bind(&s.excerpt)
            .bind(s.query.as_deref())
            .bind(to_ms(at))
            .fetch_one(&mut *tx)
            .await?;
            added.push(row.into());
            next += 1;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn list_rfc_sources(&self, rfc_id: i64) -> StoreResult<Vec<RfcSource>> {
        let found: Vec<RfcSourceRow> = sqlx::query_as(&format!(
            "SELECT {SOURCE_COLUMNS} FROM rfc_sources WHERE rfc_id = $1 ORDER BY label"
        ))
        .bind(rfc_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    async fn set_rfc_source_removed(
        &self,
        rfc_id: i64,
        id: i64,
        removed: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<RfcSource> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE rfc_sources SET removed = $1 WHERE id = $2 AND rfc_id = $3")
            .bind(removed)
            .bind(id)
            .bind(rfc_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        touch(&mut *tx, rfc_id, at).await?;
        let row: RfcSourceRow =
            sqlx::query_as(&format!("SELECT {SOURCE_COLUMNS} FROM rfc_sources WHERE id = $1"))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.into())
    }

    async fn rfc_cost_nanos(&self, rfc_id: i64) -> StoreResult<i64> {
        let (cost,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM llm_calls WHERE rfc_id = $1",
        )
        .bind(rfc_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(cost)
    }
}
