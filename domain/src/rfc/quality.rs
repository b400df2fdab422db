//! The deterministic completeness check: which of a template's sections a document has, and
//! whether each says something (not empty, not placeholder text, not the template's own
//! guidance, not thinner than the template asks). It measures structure, not quality: a
//! document can pass it and still be a poor RFC. No model is involved, so the same document
//! always gets the same report.

use super::citations;
use model::{
    DocLanguage, QualityFinding, QualityReport, RfcTemplate, SectionIssue, TemplateSection,
};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::collections::HashSet;
use std::ops::Range;

/// One section of a document, by the template section it fills.
#[derive(Debug, Clone, PartialEq)]
pub struct DocSection {
    /// The template section (None: a section the template does not know).
    pub template_key: Option<String>,
    /// Heading as written.
    pub heading: String,
    /// Markdown body.
    pub body: String,
}

/// A heading of a Markdown document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocHeading {
    /// 1–6.
    pub level: u8,
    /// Its text, without markup.
    pub text: String,
    /// Byte range of the heading itself.
    pub range: Range<usize>,
}

/// Weight of an optional section that is present, against 1 for a required one: an empty
/// optional section costs a little, a missing one nothing.
const OPTIONAL_WEIGHT: f64 = 0.3;
/// Points taken off per section with citations that resolve to nothing, and at most.
const DANGLING_PENALTY: f64 = 5.0;
const DANGLING_PENALTY_MAX: f64 = 20.0;

/// What an assembled draft (no model) writes in a section that needs facts no source gave,
/// before the template's guidance: the section is open questions, not substance.
pub const NO_SOURCE_NOTE_EN: &str = "No source in the team's knowledge covers this section. Open questions to answer before review:";
/// The same in Russian.
pub const NO_SOURCE_NOTE_RU: &str = "В базе знаний команды нет источника для этого раздела. Вопросы, на которые нужно ответить до ревью:";

/// Phrases that mark a section as not written yet. Matched on lower-cased text.
const PLACEHOLDER_PHRASES: &[&str] = &[
    "no source in the team's knowledge covers this section. open questions to answer before review:",
    "в базе знаний команды нет источника для этого раздела. вопросы, на которые нужно ответить до ревью:",
    "to be determined",
    "to be decided",
    "to be defined",
    "to be written",
    "to be added",
    "to be filled",
    "coming soon",
    "fill in",
    "fill this in",
    "write here",
    "will be added later",
    "not written yet",
    "будет добавлено",
    "будет дописано",
    "будет заполнено",
    "заполнить позже",
    "дописать",
    "заполнить",
    "в разработке",
    "раздел в разработке",
];

/// Words that mark a section as not written yet.
const PLACEHOLDER_WORDS: &[&str] =
    &["tbd", "tba", "tbc", "todo", "fixme", "xxx", "placeholder", "wip", "уточнить", "тбд"];

/// A heading reduced to what identifies it: lower case, no numbering, no punctuation, no
/// "(optional)".
pub fn normalize_heading(heading: &str) -> String {
    let lower = heading.to_lowercase().replace("(optional)", " ").replace("ё", "е");
    let words: Vec<&str> =
        lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    // Leading numbering: "1", "2 3", "a" before a longer heading, roman numerals.
    let skip = words
        .iter()
        .take_while(|w| {
            w.chars().all(|c| c.is_ascii_digit())
                || (words.len() > 2
                    && ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"].contains(w))
        })
        .count();
    words[skip.min(words.len())..].join(" ")
}

fn parser_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS
}

/// The headings of a Markdown document (ATX and setext; none inside code, HTML comments or
/// front matter).
pub fn headings(md: &str) -> Vec<DocHeading> {
    let mut out = Vec::new();
    let mut current: Option<(u8, usize, String)> = None;
    for (event, range) in Parser::new_ext(md, parser_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                current = Some((level as u8, range.start, String::new()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, text)) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, start, text)) = current.take() {
                    out.push(DocHeading {
                        level,
                        text: text.trim().to_string(),
                        range: start..range.end,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Which template section each heading opens (first heading wins; a heading opens at most one).
pub fn match_headings(template: &RfcTemplate, headings: &[DocHeading]) -> Vec<Option<usize>> {
    let names: Vec<HashSet<String>> = template.sections.iter().map(section_names).collect();
    let mut taken = vec![false; template.sections.len()];
    headings
        .iter()
        .map(|h| {
            let n = normalize_heading(&h.text);
            let i = names.iter().enumerate().position(|(i, set)| !taken[i] && set.contains(&n))?;
            taken[i] = true;
            Some(i)
        })
        .collect()
}

/// Every normalized heading that names a template section.
pub fn section_names(s: &TemplateSection) -> HashSet<String> {
    [&s.heading_en, &s.heading_ru]
        .into_iter()
        .chain(&s.aliases)
        .map(|n| normalize_heading(n))
        .collect()
}

/// Splits a Markdown document into the template's sections. A section runs from its heading to
/// the next heading of the same or a higher level, or to the next heading that opens another
/// template section. Text outside every template section is not returned.
pub fn split_markdown(template: &RfcTemplate, md: &str) -> Vec<DocSection> {
    let md = md.replace("\r\n", "\n");
    let hs = headings(&md);
    let matched = match_headings(template, &hs);
    let mut out = Vec::new();
    for (i, h) in hs.iter().enumerate() {
        let Some(s) = matched[i] else { continue };
        let end = hs[i + 1..]
            .iter()
            .zip(&matched[i + 1..])
            .find(|(next, m)| next.level <= h.level || m.is_some())
            .map_or(md.len(), |(next, _)| next.range.start);
        out.push(DocSection {
            template_key: Some(template.sections[s].key.clone()),
            heading: h.text.clone(),
            body: md[h.range.end..end].to_string(),
        });
    }
    out
}

/// A body's readable text and its top-level list items, markup, comments and front matter
/// left out.
struct Plain {
    text: String,
    items: Vec<String>,
}

fn plain(md: &str) -> Plain {
    let mut text = String::new();
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut item = String::new();
    let mut in_metadata = false;
    for event in Parser::new_ext(md, parser_options()) {
        match event {
            Event::Start(Tag::MetadataBlock(_)) => in_metadata = true,
            Event::End(TagEnd::MetadataBlock(_)) => in_metadata = false,
            Event::Start(Tag::Item) => {
                depth += 1;
                if depth == 1 {
                    item.clear();
                }
            }
            Event::End(TagEnd::Item) => {
                if depth == 1 && !item.trim().is_empty() {
                    items.push(item.split_whitespace().collect::<Vec<_>>().join(" "));
                }
                depth = depth.saturating_sub(1);
                text.push('\n');
            }
            Event::Text(t) | Event::Code(t) if !in_metadata => {
                text.push_str(&t);
                if depth >= 1 {
                    item.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                text.push(' ');
                item.push(' ');
            }
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock) => {
                text.push('\n');
            }
            _ => {}
        }
    }
    Plain { text, items }
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('ё', "е")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The text is a stand-in for a section rather than the section: placeholder markers with
/// next to nothing else, lorem ipsum, or the template's guidance left in place.
fn is_placeholder(text: &str, section: &TemplateSection) -> bool {
    let mut lower = text.to_lowercase().replace('ё', "е");
    if lower.contains("lorem ipsum") {
        return true;
    }
    let mut marked = false;
    for phrase in PLACEHOLDER_PHRASES {
        if lower.contains(phrase) {
            marked = true;
            lower = lower.replace(phrase, " ");
        }
    }
    let all = words(&lower);
    let tokens: Vec<String> =
        all.iter().filter(|w| !PLACEHOLDER_WORDS.contains(&w.as_str())).cloned().collect();
    marked |= tokens.len() < all.len();
    if marked && tokens.len() < 5 {
        return true;
    }
    if tokens.len() < 4 {
        return false;
    }
    [DocLanguage::En, DocLanguage::Ru].into_iter().any(|lang| {
        let guidance = words(section.guidance(lang));
        let set: HashSet<&str> = guidance.iter().map(String::as_str).collect();
        let shared = tokens.iter().filter(|w| set.contains(w.as_str())).count();
        shared * 4 >= tokens.len() * 3 && tokens.len() <= guidance.len() * 2 + 5
    })
}

/// Checks a document held as sections. `known` is the set of source labels citations may use
/// (None: citations are not checked).
pub fn assess(
    template: &RfcTemplate,
    lang: DocLanguage,
    sections: &[DocSection],
    known: Option<&HashSet<i32>>,
) -> QualityReport {
    let mut findings = Vec::new();
    let mut earned = 0.0;
    let mut possible = 0.0;
    let mut dangling_sections = 0;
    let mut unresolved = Vec::new();
    let mut citations_total = 0;
    let mut resolving = 0;

    for s in sections {
        let markers = citations::markers(&s.body);
        citations_total += markers.len() as i32;
        let bad = known.map_or(0, |k| markers.iter().filter(|m| !k.contains(&m.label)).count());
        resolving += (markers.len() - bad) as i32;
        if bad > 0 {
            dangling_sections += 1;
            findings.push(QualityFinding {
                section: s.template_key.clone().unwrap_or_default(),
                heading: s.heading.clone(),
                issue: SectionIssue::DanglingCitations,
                required: false,
                words: 0,
                min_words: 0,
            });
        }
    }

    for ts in &template.sections {
        let weight = if ts.required { 1.0 } else { OPTIONAL_WEIGHT };
        let present: Vec<&DocSection> =
            sections.iter().filter(|s| s.template_key.as_deref() == Some(&ts.key)).collect();
        let finding = |issue, words: usize| QualityFinding {
            section: ts.key.clone(),
            heading: ts.heading(lang).to_string(),
            issue,
            required: ts.required,
            words: words as i32,
            min_words: ts.min_words,
        };
        if present.is_empty() {
            if ts.required {
                possible += weight;
                findings.push(finding(SectionIssue::Missing, 0));
            }
            continue;
        }
        possible += weight;
        let body: String = present.iter().map(|s| s.body.as_str()).collect::<Vec<_>>().join("\n\n");
        let p = plain(&body);
        let n = words(&p.text).len();
        if ts.key == "unresolved" {
            unresolved = if p.items.is_empty() {
                p.text
                    .split_inclusive('?')
                    .map(str::trim)
                    .filter(|q| q.ends_with('?') && q.len() > 1)
                    .map(str::to_string)
                    .collect()
            } else {
                p.items.clone()
            };
        }
        let issue = if n == 0 {
            Some(SectionIssue::Empty)
        } else if is_placeholder(&p.text, ts) {
            Some(SectionIssue::Placeholder)
        } else if (n as i32) < ts.min_words {
            earned += weight * 0.5;
            Some(SectionIssue::Thin)
        } else {
            earned += weight;
            None
        };
        if let Some(issue) = issue {
            findings.push(finding(issue, n));
        }
    }

    let coverage = if possible > 0.0 { 100.0 * earned / possible } else { 100.0 };
    let penalty = (DANGLING_PENALTY * f64::from(dangling_sections)).min(DANGLING_PENALTY_MAX);
    let structure_score = (coverage - penalty).round().clamp(0.0, 100.0) as i32;
    let order = |f: &QualityFinding| {
        let pos = template.sections.iter().position(|s| s.key == f.section).unwrap_or(usize::MAX);
        (!f.required, pos)
    };
    findings.sort_by_key(order);
    QualityReport {
        structure_score,
        findings,
        unresolved_questions: unresolved,
        citations: citations_total,
        resolving_citations: resolving,
        review: None,
    }
}

/// Checks a Markdown document against a template, finding its sections by their headings in
/// either language.
pub fn assess_markdown(
    template: &RfcTemplate,
    lang: DocLanguage,
    md: &str,
    known: Option<&HashSet<i32>>,
) -> QualityReport {
    assess(template, lang, &split_markdown(template, md), known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::templates::builtin_template;

    fn feature() -> &'static RfcTemplate {
        builtin_template("feature").unwrap()
    }

    fn issues(r: &QualityReport) -> Vec<(String, SectionIssue)> {
        r.findings.iter().map(|f| (f.section.clone(), f.issue)).collect()
    }

    const WORDS: &str = "The ingestion service retries failed uploads with exponential backoff, \
        keeps a durable queue in PostgreSQL so that restarts lose nothing, and reports progress \
        to the page over the WebSocket; operators see the queue depth on the dashboard and an \
        alert fires when it grows for ten minutes. Clients keep their current API unchanged, \
        and the old synchronous path stays available behind a flag for one release while the \
        new one proves itself on the staging cluster with real traffic replayed from last week, \
        after which the flag and the old code are removed together.";

    fn complete_feature() -> String {
        feature().sections.iter().map(|s| format!("## {}\n\n{WORDS}\n\n", s.heading_en)).collect()
    }

    #[test]
    fn a_complete_document_scores_100_with_no_findings() {
        let r = assess_markdown(feature(), DocLanguage::En, &complete_feature(), None);
        assert_eq!(r.structure_score, 100, "{:?}", r.findings);
        assert!(r.findings.is_empty());
    }

    #[test]
    fn russian_headings_and_numbering_are_recognised() {
        let md: String = feature()
            .sections
            .iter()
            .enumerate()
            .map(|(i, s)| format!("## {}. {}\n\n{WORDS}\n\n", i + 1, s.heading_ru.to_uppercase()))
            .collect();
        let r = assess_markdown(feature(), DocLanguage::Ru, &md, None);
        assert_eq!(r.structure_score, 100, "{:?}", r.findings);
    }

    #[test]
    fn names_missing_empty_placeholder_and_guidance_sections() {
        let t = feature();
        let md = complete_feature()
            .replace(&format!("## Drawbacks\n\n{WORDS}"), "")
            .replace(
                &format!("## Prior art\n\n{WORDS}"),
                "## Prior art\n\n<!-- what others did -->\n",
            )
            .replace(
                &format!("## Motivation\n\n{WORDS}"),
                "## Motivation\n\nTBD, will write later.",
            )
            .replace(
                &format!("## Rationale and alternatives\n\n{WORDS}"),
                &format!(
                    "## Rationale and alternatives\n\n{}",
                    t.section("alternatives").unwrap().guidance_en
                ),
            )
            .replace(
                &format!("## Summary\n\n{WORDS}"),
                "## Summary\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
            );
        let r = assess_markdown(t, DocLanguage::En, &md, None);
        let mut got = issues(&r);
        got.sort();
        let mut want = vec![
            ("summary".to_string(), SectionIssue::Placeholder),
            ("motivation".to_string(), SectionIssue::Placeholder),
            ("drawbacks".to_string(), SectionIssue::Missing),
            ("alternatives".to_string(), SectionIssue::Placeholder),
            ("prior_art".to_string(), SectionIssue::Empty),
        ];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(r.structure_score, 44, "4 of 9 required sections earn their point");
    }

    #[test]
    fn a_short_honest_answer_is_thin_not_missing() {
        let md = complete_feature()
            .replace(&format!("## Summary\n\n{WORDS}"), "## Summary\n\nAdds retries to uploads.");
        let r = assess_markdown(feature(), DocLanguage::En, &md, None);
        assert_eq!(issues(&r), vec![("summary".to_string(), SectionIssue::Thin)]);
        assert_eq!(r.structure_score, 94);
    }

    #[test]
    fn unresolved_questions_are_listed() {
        let md = complete_feature().replace(
            &format!("## Unresolved questions\n\n{WORDS}"),
            "## Unresolved questions\n\n- Who owns the queue?\n- Do we keep the old path\n  for partners?\n",
        );
        let r = assess_markdown(feature(), DocLanguage::En, &md, None);
        assert_eq!(
            r.unresolved_questions,
            vec![
                "Who owns the queue?".to_string(),
                "Do we keep the old path for partners?".to_string()
            ]
        );
    }

    #[test]
    fn citations_that_do_not_resolve_cost_points_and_are_named() {
        let md = complete_feature().replacen(WORDS, &format!("{WORDS} [S1] [S7]"), 1);
        let known: HashSet<i32> = [1].into_iter().collect();
        let r = assess_markdown(feature(), DocLanguage::En, &md, Some(&known));
        assert_eq!(r.citations, 2);
        assert_eq!(r.resolving_citations, 1);
        assert_eq!(issues(&r), vec![("summary".to_string(), SectionIssue::DanglingCitations)]);
        assert_eq!(r.structure_score, 95);
    }

    #[test]
    fn headings_in_code_comments_and_front_matter_do_not_count() {
        let md = "---\ntitle: x\n---\n<!-- ```\n## Summary\n-->\n```\n## Motivation\n```\n\n## Drawbacks\n\nReal.\n";
        let texts: Vec<String> = headings(md).into_iter().map(|h| h.text).collect();
        assert_eq!(texts, vec!["Drawbacks".to_string()]);
    }

    #[test]
    fn subsections_belong_to_their_section_until_another_template_section_starts() {
        let t = builtin_template("infra").unwrap();
        let md = "## Motivation\n\nWhy.\n\n### Details\n\nMore words here.\n\n### Goals\n\nFaster.\n\n## Proposal\n\nDo it.\n";
        let s = split_markdown(t, md);
        let keys: Vec<_> = s.iter().map(|s| s.template_key.clone().unwrap()).collect();
        assert_eq!(keys, ["motivation", "goals", "proposal"]);
        assert!(s[0].body.contains("More words here") && !s[0].body.contains("Faster"));
    }

    #[test]
    fn crlf_documents_split_like_lf_ones() {
        let lf = complete_feature();
        let crlf = lf.replace('\n', "\r\n");
        assert_eq!(
            assess_markdown(feature(), DocLanguage::En, &lf, None),
            assess_markdown(feature(), DocLanguage::En, &crlf, None)
        );
    }
}
