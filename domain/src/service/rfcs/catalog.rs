//! The template catalog: the built-in templates (compiled in), admins' copies of them (stored as
//! JSON), and which of them the wizard offers. Admins copy a template, edit the copy's sections,
//! guidance and questions, and switch any template on or off; every change is audited. A
//! built-in is never edited in place, so an upgrade can improve it without overwriting anyone's
//! work. An RFC names its template by key: editing a copy changes the completeness check and the
//! drafting of the RFCs started from it, and switching a template off only stops the wizard
//! offering it.

use crate::auth::Principal;
use crate::errors::internal;
use crate::rfc::quality::normalize_heading;
use crate::rfc::templates;
use crate::service::audit_by;
use crate::state::AppState;
use crate::store::{LAST_ENABLED, StoreError, TemplateRow, TemplateWrite, to_ms};
use chrono::Utc;
use model::error::AppError;
use model::{CopyTemplateInput, FieldError, QuestionKind, RfcTemplate, Scope};
use std::collections::HashSet;

/// Most sections a template has.
pub const TEMPLATE_SECTIONS: std::ops::RangeInclusive<usize> = 1..=30;
/// Built-in questions a template has (the size of one round).
pub const TEMPLATE_QUESTIONS: std::ops::RangeInclusive<usize> = 1..=6;
/// Longest name, heading or question, in characters.
pub const LINE_CHARS: usize = 200;
/// Longest guidance, summary or "why", in characters (one line each: guidance goes into every
/// prompt and into the assembled draft as a list item; the built-in ones are under 220).
pub const GUIDANCE_CHARS: usize = 600;
/// Options a choice question has.
pub const OPTIONS: std::ops::RangeInclusive<usize> = 2..=10;
/// Most other headings a section may be known by.
pub const MAX_ALIASES: usize = 20;
/// Highest word floor a section may ask for.
pub const MAX_MIN_WORDS: i32 = 2_000;

/// Every template, built-in ones first in the wizard's order, then admins' copies by key; each
/// with whether the wizard offers it.
pub async fn all(state: &AppState) -> Result<Vec<RfcTemplate>, AppError> {
    let rows = state.store.list_rfc_templates().await?;
    let mut out: Vec<RfcTemplate> = templates::builtin()
        .iter()
        .map(|t| {
            let switch = rows.iter().find(|r| r.key == t.key && r.definition.is_none());
            RfcTemplate { enabled: switch.is_none_or(|r| r.enabled), ..t.clone() }
        })
        .collect();
    out.extend(rows.into_iter().filter_map(copy_of));
    Ok(out)
}

/// A stored copy, read back; None for a built-in's switch, for a copy whose key a newer release
/// gave to a built-in (the built-in wins; logged), and for an unreadable definition (logged).
fn copy_of(row: TemplateRow) -> Option<RfcTemplate> {
    let definition = row.definition?;
    if templates::builtin_template(&row.key).is_some() {
        tracing::warn!(template = %row.key, "a built-in template now has this copy's key");
        return None;
    }
    match serde_json::from_str::<RfcTemplate>(&definition) {
        Ok(t) => Some(RfcTemplate { key: row.key, builtin: false, enabled: row.enabled, ..t }),
        // Only this service writes definitions, after checking them.
        Err(e) => {
            tracing::error!(template = %row.key, error = %e, "stored template unreadable");
            None
        }
    }
}

/// The templates the wizard offers.
pub async fn list_templates(state: &AppState) -> Result<Vec<RfcTemplate>, AppError> {
    Ok(all(state).await?.into_iter().filter(|t| t.enabled).collect())
}

/// A template by key, offered or not.
pub async fn find(state: &AppState, key: &str) -> Result<Option<RfcTemplate>, AppError> {
    let rows = state.store.list_rfc_templates().await?;
    let row = rows.into_iter().find(|r| r.key == key);
    if let Some(t) = templates::builtin_template(key) {
        let enabled = row.is_none_or(|r| r.definition.is_some() || r.enabled);
        return Ok(Some(RfcTemplate { enabled, ..t.clone() }));
    }
    Ok(row.and_then(copy_of))
}

fn require_admin(admin: &Principal) -> Result<(), AppError> {
    admin.require(Scope::Admin)
}

/// Every template with its state, for admins.
pub async fn admin_templates(
    state: &AppState,
    admin: &Principal,
) -> Result<Vec<RfcTemplate>, AppError> {
    require_admin(admin)?;
    all(state).await
}

/// Copies a template under a new key (admins; audited). The copy starts switched off, so the
/// wizard offers it only once an admin has made it what it should be and switched it on.
#[tracing::instrument(skip_all, fields(template = %from))]
pub async fn copy_template(
    state: &AppState,
    admin: &Principal,
    from: &str,
    input: CopyTemplateInput,
) -> Result<RfcTemplate, AppError> {
    require_admin(admin)?;
    let original = find(state, from).await?.ok_or_else(|| AppError::not_found("template"))?;
    let key = input.key.trim().to_string();
    let mut errors = Vec::new();
    check_key("key", &key, &mut errors);
    if templates::builtin_template(&key).is_some() {
        errors.push(FieldError::new(
            "key",
            "unique",
            crate::tr!("a template with this key exists"),
        ));
    }
    let name_en = input.name_en.map(|n| n.trim().to_string());
    let name_ru = input.name_ru.map(|n| n.trim().to_string());
    let copy = RfcTemplate {
        key: key.clone(),
        name_en: name_en.unwrap_or_else(|| format!("{} (copy)", original.name_en)),
        name_ru: name_ru.unwrap_or_else(|| format!("{} (копия)", original.name_ru)),
        builtin: false,
        enabled: false,
        ..original
    };
    check_template(&copy, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Validation { errors });
    }
    let definition = serde_json::to_string(&copy).map_err(internal)?;
    let audit = audit_by(
        admin,
        "rfc_template.copy",
        format!("rfc_template:{key}"),
        serde_json::json!({ "from": from }),
    );
    let write = TemplateWrite::Copy { definition: &definition };
    let at = to_ms(Utc::now());
    match state.store.write_rfc_template(&key, write, at, Some(admin.user_id), audit).await {
        Err(StoreError::Conflict { .. }) => {
            Err(AppError::invalid("key", "unique", crate::tr!("a template with this key exists")))
        }
        r => r.map(|()| copy).map_err(Into::into),
    }
}

/// Replaces a copy's names, sections, guidance and questions (admins; audited). Its key and
/// whether the wizard offers it stay as they are; built-in templates are copied, not edited.
#[tracing::instrument(skip_all, fields(template = %key))]
pub async fn save_template(
    state: &AppState,
    admin: &Principal,
    key: &str,
    input: RfcTemplate,
) -> Result<RfcTemplate, AppError> {
    require_admin(admin)?;
    if !input.key.is_empty() && input.key != key {
        return Err(AppError::invalid(
            "key",
            "path",
            crate::tr!("a template keeps its key: copy it to give it another"),
        ));
    }
    if templates::builtin_template(key).is_some() {
        return Err(AppError::invalid(
            "key",
            "builtin",
            crate::tr!("built-in templates are not edited: copy one and edit the copy"),
        ));
    }
    let current = find(state, key).await?.ok_or_else(|| AppError::not_found("template"))?;
    let t = RfcTemplate {
        key: current.key.clone(),
        builtin: false,
        enabled: current.enabled,
        name_en: input.name_en.trim().to_string(),
        name_ru: input.name_ru.trim().to_string(),
        summary_en: input.summary_en.trim().to_string(),
        summary_ru: input.summary_ru.trim().to_string(),
        sections: input.sections,
        questions: input.questions,
    };
    let mut errors = Vec::new();
    check_template(&t, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Validation { errors });
    }
    let definition = serde_json::to_string(&t).map_err(internal)?;
    let detail = serde_json::json!({
        "sections": t.sections.len(),
        "questions": t.questions.len(),
    });
    let audit = audit_by(admin, "rfc_template.edit", format!("rfc_template:{key}"), detail);
    let write = TemplateWrite::Define { definition: &definition };
    let at = to_ms(Utc::now());
    match state.store.write_rfc_template(key, write, at, Some(admin.user_id), audit).await {
        Err(StoreError::NotFound) => Err(AppError::not_found("template")),
        // The switch may have changed meanwhile; what is stored now is what the wizard does.
        r => {
            r?;
            Ok(find(state, key).await?.unwrap_or(t))
        }
    }
}

/// Switches a template on or off in the wizard (admins; audited). The last template offered
/// stays on: the wizard always has one.
#[tracing::instrument(skip_all, fields(template = %key, enabled))]
pub async fn set_template_enabled(
    state: &AppState,
    admin: &Principal,
    key: &str,
    enabled: bool,
) -> Result<RfcTemplate, AppError> {
    require_admin(admin)?;
    let current = find(state, key).await?.ok_or_else(|| AppError::not_found("template"))?;
    if current.enabled == enabled {
        // Nothing changes, and nothing is audited.
        return Ok(current);
    }
    let action = if enabled { "rfc_template.enable" } else { "rfc_template.disable" };
    let audit = audit_by(
        admin,
        action,
        format!("rfc_template:{key}"),
        serde_json::json!({ "enabled": enabled }),
    );
    let builtins: Vec<&str> = templates::builtin().iter().map(|t| t.key.as_str()).collect();
    let write = TemplateWrite::Switch { enabled, builtins: &builtins };
    let at = to_ms(Utc::now());
    // "One stays on" is counted inside the write, so two admins switching off the last two at
    // once cannot both succeed.
    match state.store.write_rfc_template(key, write, at, Some(admin.user_id), audit).await {
        Err(StoreError::Conflict { constraint }) if constraint == LAST_ENABLED => {
            Err(AppError::invalid(
                "enabled",
                "last",
                crate::tr!("the wizard needs one template: switch another on first"),
            ))
        }
        r => {
            r?;
            // The definition may have changed meanwhile: answer with what is stored.
            Ok(find(state, key).await?.unwrap_or(RfcTemplate { enabled, ..current }))
        }
    }
}

/// A template as the TOML the admins' editor shows (admins).
pub async fn template_toml(
    state: &AppState,
    admin: &Principal,
    key: &str,
) -> Result<String, AppError> {
    require_admin(admin)?;
    let t = find(state, key).await?.ok_or_else(|| AppError::not_found("template"))?;
    to_toml(&t)
}

/// Longest template text an admin may send, in bytes.
pub const TOML_BYTES: usize = 256 * 1024;

/// A template as TOML, the way the built-in ones are written (without its key and state, which
/// the editor does not change).
pub fn to_toml(t: &RfcTemplate) -> Result<String, AppError> {
    /// The editable part, in the order the built-in files use.
    #[derive(serde::Serialize)]
    struct Editable<'a> {
        name_en: &'a str,
        name_ru: &'a str,
        summary_en: &'a str,
        summary_ru: &'a str,
        sections: &'a [model::TemplateSection],
        questions: &'a [model::TemplateQuestion],
    }
    let view = Editable {
        name_en: &t.name_en,
        name_ru: &t.name_ru,
        summary_en: &t.summary_en,
        summary_ru: &t.summary_ru,
        sections: &t.sections,
        questions: &t.questions,
    };
    toml::to_string_pretty(&view).map_err(internal)
}

/// A template from an admin's TOML; a syntax or shape error names its line.
pub fn from_toml(text: &str) -> Result<RfcTemplate, AppError> {
    if text.len() > TOML_BYTES {
        return Err(AppError::invalid(
            "definition",
            "size",
            crate::tr!("a template is at most 256 KiB of TOML"),
        ));
    }
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| {
            let before = &text.as_bytes()[..s.start.min(text.len())];
            before.iter().filter(|b| **b == b'\n').count() + 1
        });
        let reason = e.message().to_string();
        let message = match line {
            Some(line) => crate::tr!("TOML, line %{line}: %{reason}", line = line, reason = reason),
            None => crate::tr!("TOML: %{reason}", reason = reason),
        };
        AppError::invalid("definition", "toml", message)
    })
}

fn check_key(field: &str, key: &str, errors: &mut Vec<FieldError>) {
    let ok = (2..=40).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        errors.push(FieldError::new(
            field,
            "format",
            crate::tr!("a key is 2 to 40 lowercase letters, digits, '-' or '_'"),
        ));
    }
}

/// One line of text: present, at most `max` characters, no control characters.
fn check_line(field: &str, text: &str, max: usize, errors: &mut Vec<FieldError>) {
    if text.trim().is_empty() || text.chars().count() > max || text.contains(['\n', '\r']) {
        errors.push(FieldError::new(
            field,
            "length",
            crate::tr!("one line of 1 to %{max} characters", max = max),
        ));
    } else if crate::rfc::text::has_controls(text) {
        errors.push(FieldError::new(
            field,
            "characters",
            crate::tr!("the text holds control characters"),
        ));
    }
}

/// What makes a template usable: named in both languages, sections with unique keys and
/// headings (a heading that names two sections would make the completeness check guess) and
/// guidance, and a question set whose questions feed sections it has.
pub fn check_template(t: &RfcTemplate, errors: &mut Vec<FieldError>) {
    check_line("name_en", &t.name_en, LINE_CHARS, errors);
    check_line("name_ru", &t.name_ru, LINE_CHARS, errors);
    for (field, text) in [("summary_en", &t.summary_en), ("summary_ru", &t.summary_ru)] {
        if !text.is_empty() {
            check_line(field, text, GUIDANCE_CHARS, errors);
        }
    }
    if !TEMPLATE_SECTIONS.contains(&t.sections.len()) {
        errors.push(FieldError::new(
            "sections",
            "count",
            crate::tr!("a template has 1 to 30 sections"),
        ));
    }
    let mut keys = HashSet::new();
    let mut headings = HashSet::new();
    for (i, s) in t.sections.iter().enumerate() {
        let f = |name: &str| format!("sections[{i}].{name}");
        check_key(&f("key"), &s.key, errors);
        if !keys.insert(s.key.as_str()) {
            errors.push(FieldError::new(
                &f("key"),
                "unique",
                crate::tr!("two sections have the key %{key}", key = s.key.clone()),
            ));
        }
        check_line(&f("heading_en"), &s.heading_en, LINE_CHARS, errors);
        check_line(&f("heading_ru"), &s.heading_ru, LINE_CHARS, errors);
        check_line(&f("guidance_en"), &s.guidance_en, GUIDANCE_CHARS, errors);
        check_line(&f("guidance_ru"), &s.guidance_ru, GUIDANCE_CHARS, errors);
        if s.aliases.len() > MAX_ALIASES {
            errors.push(FieldError::new(
                &f("aliases"),
                "count",
                crate::tr!("a section has at most 20 other headings"),
            ));
        }
        for (j, alias) in s.aliases.iter().enumerate() {
            check_line(&f(&format!("aliases[{j}]")), alias, LINE_CHARS, errors);
        }
        if !(0..=MAX_MIN_WORDS).contains(&s.min_words) {
            errors.push(FieldError::new(
                &f("min_words"),
                "range",
                crate::tr!("a word floor is 0 to 2,000"),
            ));
        }
        // A section may use one name in both languages; two sections may not share one, and a
        // heading of numbering or punctuation only would never be recognised.
        let mut own = HashSet::new();
        let names = [(f("heading_en"), &s.heading_en), (f("heading_ru"), &s.heading_ru)]
            .into_iter()
            .chain(s.aliases.iter().enumerate().map(|(j, a)| (f(&format!("aliases[{j}]")), a)));
        for (field, name) in names {
            let n = normalize_heading(name);
            if n.is_empty() {
                if !name.trim().is_empty() {
                    errors.push(FieldError::new(
                        &field,
                        "words",
                        crate::tr!("a heading needs words, not only numbers or punctuation"),
                    ));
                }
                continue;
            }
            if !own.insert(n.clone()) {
                continue;
            }
            if !headings.insert(n) {
                errors.push(FieldError::new(
                    &field,
                    "unique",
                    crate::tr!("the heading %{heading} names two sections", heading = name.clone()),
                ));
            }
        }
    }
    if !t.sections.iter().any(|s| s.required) {
        errors.push(FieldError::new(
            "sections",
            "required",
            crate::tr!("a template has at least one required section"),
        ));
    }
    if !TEMPLATE_QUESTIONS.contains(&t.questions.len()) {
        errors.push(FieldError::new(
            "questions",
            "count",
            crate::tr!("a template has 1 to 6 built-in questions"),
        ));
    }
    let mut qkeys = HashSet::new();
    for (i, q) in t.questions.iter().enumerate() {
        let f = |name: &str| format!("questions[{i}].{name}");
        check_key(&f("key"), &q.key, errors);
        if !qkeys.insert(q.key.as_str()) {
            errors.push(FieldError::new(
                &f("key"),
                "unique",
                crate::tr!("two questions have the key %{key}", key = q.key.clone()),
            ));
        }
        check_line(&f("text_en"), &q.text_en, LINE_CHARS, errors);
        check_line(&f("text_ru"), &q.text_ru, LINE_CHARS, errors);
        check_line(&f("why_en"), &q.why_en, GUIDANCE_CHARS, errors);
        check_line(&f("why_ru"), &q.why_ru, GUIDANCE_CHARS, errors);
        if t.section(&q.section).is_none() {
            errors.push(FieldError::new(
                &f("section"),
                "unknown",
                crate::tr!("the template has no section %{key}", key = q.section.clone()),
            ));
        }
        let choice = matches!(q.kind, QuestionKind::SingleChoice | QuestionKind::MultipleChoice);
        let counts_match = q.options_en.len() == q.options_ru.len();
        if choice && (!OPTIONS.contains(&q.options_en.len()) || !counts_match) {
            errors.push(FieldError::new(
                &f("options_en"),
                "count",
                crate::tr!(
                    "a choice question has 2 to 10 options, the same number in each language"
                ),
            ));
        } else if !choice && (!q.options_en.is_empty() || !q.options_ru.is_empty()) {
            errors.push(FieldError::new(
                &f("options_en"),
                "kind",
                crate::tr!("only choice questions have options"),
            ));
        }
        for (j, o) in q.options_en.iter().enumerate() {
            check_line(&f(&format!("options_en[{j}]")), o, LINE_CHARS, errors);
        }
        for (j, o) in q.options_ru.iter().enumerate() {
            check_line(&f(&format!("options_ru[{j}]")), o, LINE_CHARS, errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_passes_the_admins_rules() {
        for t in templates::builtin() {
            let mut errors = Vec::new();
            check_template(t, &mut errors);
            assert!(errors.is_empty(), "{}: {errors:?}", t.key);
        }
    }

    #[test]
    fn a_broken_template_is_refused_field_by_field() {
        let mut t = templates::builtin_template("adr").unwrap().clone();
        t.name_ru = " ".into();
        t.sections[1].key = t.sections[0].key.clone();
        t.sections[2].heading_ru = t.sections[0].heading_en.to_uppercase();
        t.sections[3].guidance_en = "x".repeat(GUIDANCE_CHARS + 1);
        t.sections[4].min_words = -1;
        t.questions[0].section = "nowhere".into();
        t.questions[1].kind = QuestionKind::SingleChoice;
        t.questions[1].options_en = vec!["only one".into()];
        t.questions[1].options_ru = vec!["один".into()];
        let mut errors = Vec::new();
        check_template(&t, &mut errors);
        let got: Vec<(&str, &str)> =
            errors.iter().map(|e| (e.field.as_str(), e.rule.as_str())).collect();
        for want in [
            ("name_ru", "length"),
            ("sections[1].key", "unique"),
            ("sections[2].heading_ru", "unique"),
            ("sections[3].guidance_en", "length"),
            ("sections[4].min_words", "range"),
            ("questions[0].section", "unknown"),
            ("questions[1].options_en", "count"),
        ] {
            assert!(got.contains(&want), "{want:?} missing from {got:?}");
        }
        t.sections.clear();
        t.questions.clear();
        let mut errors = Vec::new();
        check_template(&t, &mut errors);
        let rules: Vec<&str> = errors.iter().map(|e| e.rule.as_str()).collect();
        assert_eq!(rules.iter().filter(|r| **r == "count").count(), 2, "{rules:?}");
        assert!(rules.contains(&"required"), "{rules:?}");
    }
}
