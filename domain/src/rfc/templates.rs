//! The built-in RFC templates, written as TOML beside this file and compiled in. Each has its
//! sections (English and Russian headings, the headings that count as the same section when a
//! document is checked, guidance, a word floor) and its built-in questions.

use model::RfcTemplate;
use std::sync::LazyLock;

/// The built-in templates' TOML, in the order the wizard offers them.
const SOURCES: [(&str, &str); 8] = [
    ("feature", include_str!("templates/feature.toml")),
    ("design", include_str!("templates/design.toml")),
    ("adr", include_str!("templates/adr.toml")),
    ("security", include_str!("templates/security.toml")),
    ("infra", include_str!("templates/infra.toml")),
    ("api", include_str!("templates/api.toml")),
    ("process", include_str!("templates/process.toml")),
    ("prfaq", include_str!("templates/prfaq.toml")),
];

static BUILTIN: LazyLock<Vec<RfcTemplate>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .filter_map(|(key, text)| match parse(text) {
            Ok(t) => Some(t),
            // Unreachable in a tested build: `every_builtin_template_parses_and_is_whole`.
            Err(e) => {
                tracing::error!(template = key, error = %e, "built-in template does not parse");
                None
            }
        })
        .collect()
});

fn parse(text: &str) -> Result<RfcTemplate, toml::de::Error> {
    let mut t: RfcTemplate = toml::from_str(text)?;
    t.builtin = true;
    t.enabled = true;
    Ok(t)
}

/// Every built-in template, in the wizard's order.
pub fn builtin() -> &'static [RfcTemplate] {
    &BUILTIN
}

/// A built-in template by key.
pub fn builtin_template(key: &str) -> Option<&'static RfcTemplate> {
    BUILTIN.iter().find(|t| t.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::QuestionKind;
    use std::collections::HashSet;

    #[test]
    fn every_builtin_template_parses_and_is_whole() {
        for (key, text) in SOURCES {
            let t = parse(text).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(t.key, key);
            assert!(!t.name_en.is_empty() && !t.name_ru.is_empty(), "{key}: names");
            assert!(t.sections.len() >= 6, "{key}: {} sections", t.sections.len());
            assert!(t.sections.iter().filter(|s| s.required).count() >= 3, "{key}: required");
            let mut keys = HashSet::new();
            for s in &t.sections {
                assert!(keys.insert(&s.key), "{key}: section {} twice", s.key);
                for text in [&s.heading_en, &s.heading_ru, &s.guidance_en, &s.guidance_ru] {
                    assert!(!text.trim().is_empty(), "{key}.{}: empty text", s.key);
                }
                assert!(
                    s.heading_ru.chars().any(|c| ('а'..='я').contains(&c.to_ascii_lowercase())
                        || ('А'..='Я').contains(&c)),
                    "{key}.{}: the Russian heading is not Russian",
                    s.key
                );
                assert!(s.min_words >= 1, "{key}.{}: min_words", s.key);
            }
            assert!((3..=6).contains(&t.questions.len()), "{key}: {} questions", t.questions.len());
            let mut qkeys = HashSet::new();
            for q in &t.questions {
                assert!(qkeys.insert(&q.key), "{key}: question {} twice", q.key);
                assert!(
                    t.section(&q.section).is_some(),
                    "{key}.{}: no section {}",
                    q.key,
                    q.section
                );
                let choice =
                    matches!(q.kind, QuestionKind::SingleChoice | QuestionKind::MultipleChoice);
                assert_eq!(choice, !q.options_en.is_empty(), "{key}.{}: options", q.key);
                assert_eq!(q.options_en.len(), q.options_ru.len(), "{key}.{}: options", q.key);
                for text in [&q.text_en, &q.text_ru, &q.why_en, &q.why_ru] {
                    assert!(!text.trim().is_empty(), "{key}.{}: empty text", q.key);
                }
            }
        }
        assert_eq!(builtin().len(), SOURCES.len());
    }

    #[test]
    fn no_two_sections_of_a_template_share_a_heading() {
        for t in builtin() {
            let mut seen = HashSet::new();
            for s in &t.sections {
                let names = [&s.heading_en, &s.heading_ru].into_iter().chain(&s.aliases);
                for name in names {
                    let n = crate::rfc::quality::normalize_heading(name);
                    assert!(seen.insert(n.clone()), "{}: heading {n:?} names two sections", t.key);
                }
            }
        }
    }
}
