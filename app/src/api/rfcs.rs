//! RFC studio server fns: reading needs `basic` (one's own RFCs), writing `generate`; the same
//! services as `/api/v1/rfcs…`. Markdown reaches the page only as sanitized HTML made here.

#[cfg(feature = "ssr")]
use crate::api::context::{app_state, require_scope};
#[cfg(feature = "ssr")]
use domain::service::rfcs;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use model::Scope;
use model::error::AppError;
use model::{
    AnswerInput, CopyTemplateInput, MoveSectionInput, NewRfcInput, NewSectionInput, QualityReport,
    RegenerateInput, Rfc, RfcPage, RfcQuestion, RfcSection, RfcSource, RfcTemplate,
    SectionEditInput, TemplateListing,
};
use serde::{Deserialize, Serialize};
use server_fn::codec::Json;

/// The caller's RFCs, most recently changed first.
#[server(prefix = "/api", endpoint = "list_rfcs", input = Json)]
pub async fn list_rfcs(limit: i64, offset: i64) -> Result<RfcPage, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    rfcs::list_rfcs(&state, &user, limit, offset).await
}

/// The templates the wizard offers.
#[server(prefix = "/api", endpoint = "list_rfc_templates", input = Json)]
pub async fn list_rfc_templates() -> Result<Vec<RfcTemplate>, AppError> {
    let state = app_state()?;
    require_scope(Scope::Basic)?;
    rfcs::list_templates(&state).await
}

/// Every template with whether the wizard offers it (admins). Listings, not definitions: the
/// admins' page then decodes no template type the studio decodes too.
#[server(prefix = "/api", endpoint = "admin_rfc_templates", input = Json)]
pub async fn admin_rfc_templates() -> Result<Vec<TemplateListing>, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    Ok(rfcs::admin_templates(&state, &admin).await?.iter().map(TemplateListing::from).collect())
}

/// Copies a template; the copy starts switched off (admins; audited).
#[server(prefix = "/api", endpoint = "copy_rfc_template", input = Json)]
pub async fn copy_rfc_template(from: String, input: CopyTemplateInput) -> Result<String, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    Ok(rfcs::copy_template(&state, &admin, &from, input).await?.key)
}

/// A template as the TOML the editor shows (admins).
#[server(prefix = "/api", endpoint = "rfc_template_toml", input = Json)]
pub async fn rfc_template_toml(key: String) -> Result<String, AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    rfcs::template_toml(&state, &admin, &key).await
}

/// Saves a copy from the editor's TOML (admins; audited).
#[server(prefix = "/api", endpoint = "save_rfc_template", input = Json)]
pub async fn save_rfc_template(key: String, definition: String) -> Result<(), AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    let input = rfcs::from_toml(&definition)?;
    rfcs::save_template(&state, &admin, &key, input).await.map(|_| ())
}

/// Offers a template in the wizard or stops offering it (admins; audited).
#[server(prefix = "/api", endpoint = "set_rfc_template_enabled", input = Json)]
pub async fn set_rfc_template_enabled(key: String, enabled: bool) -> Result<(), AppError> {
    let state = app_state()?;
    let admin = require_scope(Scope::Admin)?;
    rfcs::set_template_enabled(&state, &admin, &key, enabled).await.map(|_| ())
}

/// Starts an RFC from the wizard.
#[server(prefix = "/api", endpoint = "create_rfc", input = Json)]
pub async fn create_rfc(input: NewRfcInput) -> Result<Rfc, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::create_rfc(&state, &user, input).await
}

/// One RFC as the studio shows it: everything it holds, and each section's Markdown (and the
/// proposal's) already rendered as sanitized HTML, so the page hydrates from one answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RfcStudio {
    pub rfc: Rfc,
    /// Per section, in the RFC's order.
    pub html: Vec<SectionHtml>,
}

/// One section's rendered text.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SectionHtml {
    pub body: String,
    pub proposed: Option<String>,
}

/// One RFC with everything it holds, its sections rendered.
#[server(prefix = "/api", endpoint = "get_rfc", input = Json)]
pub async fn get_rfc(id: i64) -> Result<RfcStudio, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    let rfc = rfcs::get_rfc(&state, &user, id).await?;
    let html = rfc
        .sections
        .iter()
        .map(|s| SectionHtml {
            body: domain::markdown::to_safe_html(&s.body),
            proposed: s.proposed_body.as_deref().map(domain::markdown::to_safe_html),
        })
        .collect();
    Ok(RfcStudio { rfc, html })
}

/// Answers, skips or clears a question.
#[server(prefix = "/api", endpoint = "answer_rfc_question", input = Json)]
pub async fn answer_rfc_question(
    id: i64,
    question_id: i64,
    input: AnswerInput,
) -> Result<RfcQuestion, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::answer_question(&state, &user, id, question_id, input).await
}

/// Another round of questions.
#[server(prefix = "/api", endpoint = "ask_rfc_questions", input = Json)]
pub async fn ask_rfc_questions(id: i64) -> Result<Rfc, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::ask_more(&state, &user, id).await
}

/// Searches the team's knowledge for the RFC's sources.
#[server(prefix = "/api", endpoint = "ground_rfc", input = Json)]
pub async fn ground_rfc(id: i64) -> Result<Rfc, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::ground_rfc(&state, &user, id).await
}

/// A chunk the studio's search found, as the studio shows it (not the search page's
/// `SearchHit`: its decoder would be shared by two routes, which puts it in every page's code).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceCandidate {
    pub document_id: i64,
    pub chunk_id: i64,
    pub title: String,
    pub url: String,
    /// The matching snippet's text.
    pub excerpt: String,
}

/// Searches the RFC's knowledge for more sources (`q` as in the search box).
#[server(prefix = "/api", endpoint = "search_rfc_sources", input = Json)]
pub async fn search_rfc_sources(id: i64, q: String) -> Result<Vec<SourceCandidate>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    let hits = rfcs::search_more(&state, &user, id, &q).await?;
    Ok(hits
        .into_iter()
        .map(|h| SourceCandidate {
            excerpt: h.snippet.iter().map(|p| p.text.as_str()).collect(),
            document_id: h.document_id,
            chunk_id: h.chunk_id,
            title: h.title,
            url: h.url,
        })
        .collect())
}

/// Adds a chunk found by `search_rfc_sources` to the RFC's sources.
#[server(prefix = "/api", endpoint = "add_rfc_source", input = Json)]
pub async fn add_rfc_source(
    id: i64,
    document_id: i64,
    chunk_id: i64,
) -> Result<Vec<RfcSource>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::add_source(&state, &user, id, document_id, chunk_id).await
}

/// Takes a source out of (or back into) what the draft may cite.
#[server(prefix = "/api", endpoint = "set_rfc_source_removed", input = Json)]
pub async fn set_rfc_source_removed(
    id: i64,
    source_id: i64,
    removed: bool,
) -> Result<RfcSource, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::set_source_removed(&state, &user, id, source_id, removed).await
}

/// Writes the draft (with a model: starts the job).
#[server(prefix = "/api", endpoint = "draft_rfc", input = Json)]
pub async fn draft_rfc(id: i64) -> Result<Rfc, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    Ok(rfcs::draft_rfc(&state, &user, id).await?.1)
}

/// Replaces a section's text.
#[server(prefix = "/api", endpoint = "edit_rfc_section", input = Json)]
pub async fn edit_rfc_section(
    id: i64,
    section_id: i64,
    input: SectionEditInput,
) -> Result<RfcSection, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::edit_section(&state, &user, id, section_id, input).await
}

/// Adds a section (at the end unless a position is given).
#[server(prefix = "/api", endpoint = "add_rfc_section", input = Json)]
pub async fn add_rfc_section(id: i64, input: NewSectionInput) -> Result<RfcSection, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::add_section(&state, &user, id, input).await
}

/// Moves a section to a new place.
#[server(prefix = "/api", endpoint = "move_rfc_section", input = Json)]
pub async fn move_rfc_section(
    id: i64,
    section_id: i64,
    input: MoveSectionInput,
) -> Result<Vec<RfcSection>, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::move_section(&state, &user, id, section_id, input).await
}

/// Removes a section.
#[server(prefix = "/api", endpoint = "delete_rfc_section", input = Json)]
pub async fn delete_rfc_section(id: i64, section_id: i64) -> Result<(), AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::delete_section(&state, &user, id, section_id).await
}

/// Writes a section again with an instruction, as a proposal.
#[server(prefix = "/api", endpoint = "regenerate_rfc_section", input = Json)]
pub async fn regenerate_rfc_section(
    id: i64,
    section_id: i64,
    input: RegenerateInput,
) -> Result<Rfc, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::regenerate_section(&state, &user, id, section_id, input).await
}

/// Accepts or drops a regenerated section.
#[server(prefix = "/api", endpoint = "settle_rfc_proposal", input = Json)]
pub async fn settle_rfc_proposal(
    id: i64,
    section_id: i64,
    accept: bool,
) -> Result<RfcSection, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::settle_proposal(&state, &user, id, section_id, accept).await
}

/// The completeness check.
#[server(prefix = "/api", endpoint = "rfc_quality", input = Json)]
pub async fn rfc_quality(id: i64) -> Result<QualityReport, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Basic)?;
    rfcs::check_quality(&state, &user, id).await
}

/// The model's review (feature `rfc.review`), answered with the completeness check.
#[server(prefix = "/api", endpoint = "review_rfc", input = Json)]
pub async fn review_rfc(id: i64) -> Result<QualityReport, AppError> {
    let state = app_state()?;
    let user = require_scope(Scope::Generate)?;
    rfcs::review_rfc(&state, &user, id).await
}

/// Markdown as sanitized HTML (pulldown-cmark + ammonia on the server), for previews and for
/// showing sections; at most 60 texts of 100,000 characters.
#[server(prefix = "/api", endpoint = "render_markdown", input = Json)]
pub async fn render_markdown(texts: Vec<String>) -> Result<Vec<String>, AppError> {
    require_scope(Scope::Basic)?;
    if texts.len() > 60 || texts.iter().any(|t| t.chars().count() > 100_000) {
        return Err(AppError::invalid(
            "texts",
            "length",
            domain::tr!("at most 60 texts of 100,000 characters are rendered at once"),
        ));
    }
    Ok(texts.iter().map(|t| domain::markdown::to_safe_html(t)).collect())
}
