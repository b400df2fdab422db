//! `/api/v1/rfcs…` and `/api/v1/rfc-templates`: the RFC studio for programmatic clients. Reading
//! needs `basic` (one's own RFCs; admins read all), writing `generate`; the same services as
//! the pages. `/api/v1/admin/rfc-templates…`: admins copy, edit and switch templates.

use super::rest::{ApiJson, ApiQuery, PageQuery};
use crate::startup::ServerState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use domain::auth::AuthOutcome;
use domain::service::rfcs;
use model::error::AppError;
use model::{
    AddSourceInput, AnswerInput, CopyTemplateInput, MoveSectionInput, NewRfcInput, NewSectionInput,
    ProposalDecision, QualityReport, RegenerateInput, Rfc, RfcPage, RfcQuestion, RfcSection,
    RfcSource, RfcTemplate, Scope, SearchHit, SectionEditInput, SourceRemovedInput, TemplateSwitch,
};
use serde::Deserialize;

/// The routes, to nest under `/api/v1`.
pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/rfc-templates", get(list_templates))
        .route("/admin/rfc-templates", get(admin_templates))
        .route("/admin/rfc-templates/{key}", put(save_template))
        .route("/admin/rfc-templates/{key}/copy", post(copy_template))
        .route("/admin/rfc-templates/{key}/enabled", put(set_template_enabled))
        .route("/rfcs", get(list_rfcs).post(create_rfc))
        .route("/rfcs/{id}", get(get_rfc))
        .route("/rfcs/{id}/questions", post(ask_more))
        .route("/rfcs/{id}/questions/{question_id}", put(answer_question))
        .route("/rfcs/{id}/quality", get(check_quality))
        .route("/rfcs/{id}/review", post(review_rfc))
        .route("/rfcs/{id}/ground", post(ground_rfc))
        .route("/rfcs/{id}/sources", post(add_source))
        .route("/rfcs/{id}/sources/search", get(search_sources))
        .route("/rfcs/{id}/sources/{source_id}", put(set_source_removed))
        .route("/rfcs/{id}/draft", post(draft_rfc))
        .route("/rfcs/{id}/sections", post(add_section))
        .route("/rfcs/{id}/sections/{section_id}", put(edit_section).delete(delete_section))
        .route("/rfcs/{id}/sections/{section_id}/move", post(move_section))
        .route("/rfcs/{id}/sections/{section_id}/proposal", post(settle_proposal))
        .route("/rfcs/{id}/sections/{section_id}/regenerate", post(regenerate_section))
}

/// `GET /rfc-templates`: the templates the wizard offers, with sections and questions.
async fn list_templates(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Vec<RfcTemplate>>, AppError> {
    auth.require_scope(Scope::Basic)?;
    Ok(Json(rfcs::list_templates(&s.app).await?))
}

/// `GET /admin/rfc-templates`: every template, built-in and copied, with whether the wizard
/// offers it (admins).
async fn admin_templates(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
) -> Result<Json<Vec<RfcTemplate>>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    Ok(Json(rfcs::admin_templates(&s.app, &admin).await?))
}

/// `POST /admin/rfc-templates/{key}/copy {key, name_en?, name_ru?}`: 201 with the copy, which
/// starts switched off (admins; audited).
async fn copy_template(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(key): Path<String>,
    ApiJson(input): ApiJson<CopyTemplateInput>,
) -> Result<(StatusCode, Json<RfcTemplate>), AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    Ok((StatusCode::CREATED, Json(rfcs::copy_template(&s.app, &admin, &key, input).await?)))
}

/// `PUT /admin/rfc-templates/{key}`: a copy's names, sections, guidance and questions (the
/// template as `GET` gives it); built-in templates answer 422 (admins; audited).
async fn save_template(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(key): Path<String>,
    ApiJson(input): ApiJson<RfcTemplate>,
) -> Result<Json<RfcTemplate>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    Ok(Json(rfcs::save_template(&s.app, &admin, &key, input).await?))
}

/// `PUT /admin/rfc-templates/{key}/enabled {enabled}`: offers a template in the wizard or
/// stops offering it (admins; audited). RFCs started from it keep working.
async fn set_template_enabled(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(key): Path<String>,
    ApiJson(input): ApiJson<TemplateSwitch>,
) -> Result<Json<RfcTemplate>, AppError> {
    let admin = auth.require_scope(Scope::Admin)?;
    Ok(Json(rfcs::set_template_enabled(&s.app, &admin, &key, input.enabled).await?))
}

/// `GET /rfcs?limit=&offset=`: the caller's RFCs (everyone's for an admin).
async fn list_rfcs(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<RfcPage>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(rfcs::list_rfcs(&s.app, &user, q.limit, q.offset).await?))
}

/// `POST /rfcs`: starts an RFC from the wizard's fields; 201 with the RFC and its first
/// questions.
async fn create_rfc(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    ApiJson(input): ApiJson<NewRfcInput>,
) -> Result<(StatusCode, Json<Rfc>), AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok((StatusCode::CREATED, Json(rfcs::create_rfc(&s.app, &user, input).await?)))
}

/// `GET /rfcs/{id}`: one RFC with its sections, questions and sources.
async fn get_rfc(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Rfc>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(rfcs::get_rfc(&s.app, &user, id).await?))
}

/// `PUT /rfcs/{id}/questions/{question_id}`: answers (`{"answer": {"kind": …, "value": …}}`),
/// skips (`{"skip": true}`) or clears (`{}`) a question.
async fn answer_question(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, question_id)): Path<(i64, i64)>,
    ApiJson(input): ApiJson<AnswerInput>,
) -> Result<Json<RfcQuestion>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::answer_question(&s.app, &user, id, question_id, input).await?))
}

/// `GET /rfcs/{id}/quality`: the completeness check (structure, not quality).
async fn check_quality(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<QualityReport>, AppError> {
    let user = auth.require_scope(Scope::Basic)?;
    Ok(Json(rfcs::check_quality(&s.app, &user, id).await?))
}

/// `POST /rfcs/{id}/review`: the model reviews the RFC (feature `rfc.review`); answers the
/// completeness check with the review beside it.
async fn review_rfc(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<QualityReport>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::review_rfc(&s.app, &user, id).await?))
}

/// `POST /rfcs/{id}/ground`: runs the RFC's searches and adds what they find to its sources.
async fn ground_rfc(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Rfc>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::ground_rfc(&s.app, &user, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /rfcs/{id}/sources/search?q=`: searches the RFC's knowledge for sources to add.
async fn search_sources(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<Vec<SearchHit>>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::search_more(&s.app, &user, id, &q.q).await?))
}

/// `POST /rfcs/{id}/sources`: adds a chunk found by searching as a source; the sources.
async fn add_source(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<AddSourceInput>,
) -> Result<Json<Vec<RfcSource>>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::add_source(&s.app, &user, id, input.document_id, input.chunk_id).await?))
}

/// `PUT /rfcs/{id}/sources/{source_id}`: `{"removed": true}` takes a source out, `false` puts
/// it back.
async fn set_source_removed(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, source_id)): Path<(i64, i64)>,
    ApiJson(input): ApiJson<SourceRemovedInput>,
) -> Result<Json<RfcSource>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::set_source_removed(&s.app, &user, id, source_id, input.removed).await?))
}

/// `POST /rfcs/{id}/draft`: writes the draft. With a model, 202: the `rfc.draft` job writes it
/// (its id is the RFC's `draft_job_id`; sections stream over `/ws`, topic `rfc`), and posting
/// again after it stopped resumes. Without one, 200 with the draft assembled.
async fn draft_rfc(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Rfc>), AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    let (accepted, rfc) = rfcs::draft_rfc(&s.app, &user, id).await?;
    let status = if accepted { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(rfc)))
}

/// `POST /rfcs/{id}/questions`: another round of clarifying questions (at most three).
async fn ask_more(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
) -> Result<Json<Rfc>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::ask_more(&s.app, &user, id).await?))
}

/// `POST /rfcs/{id}/sections/{section_id}/regenerate`: `{"instruction": "shorter"}`; 202, the
/// job writes the section again as a proposal beside the current text.
async fn regenerate_section(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, section_id)): Path<(i64, i64)>,
    ApiJson(input): ApiJson<RegenerateInput>,
) -> Result<(StatusCode, Json<Rfc>), AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    let rfc = rfcs::regenerate_section(&s.app, &user, id, section_id, input).await?;
    Ok((StatusCode::ACCEPTED, Json(rfc)))
}

/// `POST /rfcs/{id}/sections`: adds a section; 201.
async fn add_section(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<NewSectionInput>,
) -> Result<(StatusCode, Json<RfcSection>), AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok((StatusCode::CREATED, Json(rfcs::add_section(&s.app, &user, id, input).await?)))
}

/// `PUT /rfcs/{id}/sections/{section_id}`: replaces a section's text (and heading).
async fn edit_section(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, section_id)): Path<(i64, i64)>,
    ApiJson(input): ApiJson<SectionEditInput>,
) -> Result<Json<RfcSection>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::edit_section(&s.app, &user, id, section_id, input).await?))
}

/// `DELETE /rfcs/{id}/sections/{section_id}`: removes a section; 204.
async fn delete_section(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, section_id)): Path<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    rfcs::delete_section(&s.app, &user, id, section_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /rfcs/{id}/sections/{section_id}/move`: moves a section; the new order.
async fn move_section(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, section_id)): Path<(i64, i64)>,
    ApiJson(input): ApiJson<MoveSectionInput>,
) -> Result<Json<Vec<RfcSection>>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::move_section(&s.app, &user, id, section_id, input).await?))
}

/// `POST /rfcs/{id}/sections/{section_id}/proposal`: `{"accept": true}` takes the regenerated
/// text, `false` drops it.
async fn settle_proposal(
    State(s): State<ServerState>,
    Extension(auth): Extension<AuthOutcome>,
    Path((id, section_id)): Path<(i64, i64)>,
    ApiJson(input): ApiJson<ProposalDecision>,
) -> Result<Json<RfcSection>, AppError> {
    let user = auth.require_scope(Scope::Generate)?;
    Ok(Json(rfcs::settle_proposal(&s.app, &user, id, section_id, input.accept).await?))
}
