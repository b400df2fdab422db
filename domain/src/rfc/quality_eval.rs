//! The completeness check measured on real design documents nobody on the team wrote
//! (testdata/rfc_docs: Rust RFCs, MADR ADRs, Kubernetes KEPs, Python PEPs, and Russian ADRs
//! checked in Russian; sources and licences in its SOURCES.md). Each complete document is damaged one section at a time — removed,
//! emptied, left as the template's guidance, or left as "TBD" — and the check must name exactly
//! the damaged sections (F1 ≥ 0.95) and score the complete document above the damaged copy
//! (≥ 95 % of pairs). Run `cargo test -p domain rfc::quality_eval -- --nocapture` for the table.

use super::quality::{assess_markdown, headings, match_headings, normalize_heading, section_names};
use super::templates::builtin_template;
use model::{DocLanguage, QualityReport, RfcTemplate, SectionIssue};
use std::collections::BTreeSet;
use std::path::Path;

/// reStructuredText section titles (a line underlined with one repeated punctuation character)
/// as ATX headings, levels in order of first use, so the PEPs read as Markdown.
fn rst_to_markdown(rst: &str) -> String {
    let lines: Vec<&str> = rst.lines().collect();
    let mut levels: Vec<char> = Vec::new();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let title = lines[i].trim_end();
        let under = lines.get(i + 1).map(|l| l.trim_end()).unwrap_or("");
        let c = under.chars().next().unwrap_or(' ');
        if !title.is_empty()
            && !title.starts_with(' ')
            && "=-~^*#+".contains(c)
            && under.chars().all(|x| x == c)
            && under.chars().count() >= title.chars().count()
        {
            let level = levels.iter().position(|&l| l == c).unwrap_or_else(|| {
                levels.push(c);
                levels.len() - 1
            });
            out.push_str(&format!("{} {title}\n\n", "#".repeat(level + 1)));
            i += 2;
            continue;
        }
        out.push_str(lines[i]);
        out.push('\n');
        i += 1;
    }
    out
}

fn flagged(r: &QualityReport) -> BTreeSet<String> {
    r.findings
        .iter()
        .filter(|f| {
            matches!(
                f.issue,
                SectionIssue::Missing | SectionIssue::Empty | SectionIssue::Placeholder
            )
        })
        .map(|f| f.section.clone())
        .collect()
}

#[derive(Default)]
struct Tally {
    docs: usize,
    tp: usize,
    fp: usize,
    fn_: usize,
    pairs: usize,
    ordered: usize,
    misses: Vec<String>,
}

impl Tally {
    fn f1(&self) -> f64 {
        2.0 * self.tp as f64 / (2 * self.tp + self.fp + self.fn_).max(1) as f64
    }
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Removed,
    Emptied,
    Guidance,
    Tbd,
}

fn evaluate(template: &RfcTemplate, lang: DocLanguage, name: &str, md: &str, tally: &mut Tally) {
    let complete = assess_markdown(template, lang, md, None);
    tally.docs += 1;
    let extra = flagged(&complete);
    tally.fp += extra.len();
    for e in &extra {
        tally.misses.push(format!("{name}: complete document flags {e}"));
    }
    let hs = headings(md);
    let matched = match_headings(template, &hs);
    for (i, h) in hs.iter().enumerate() {
        let Some(s) = matched[i] else { continue };
        let ts = &template.sections[s];
        let span_end =
            hs[i + 1..].iter().find(|n| n.level <= h.level).map_or(md.len(), |n| n.range.start);
        // Required sections whose headings sit inside the span go with it.
        let nested: BTreeSet<String> = hs[i + 1..]
            .iter()
            .zip(&matched[i + 1..])
            .take_while(|(n, _)| n.range.start < span_end)
            .filter_map(|(_, m)| m.map(|m| &template.sections[m]))
            .filter(|t| t.required)
            .map(|t| t.key.clone())
            .collect();
        for damage in [Damage::Removed, Damage::Emptied, Damage::Guidance, Damage::Tbd] {
            if matches!(damage, Damage::Removed) && !ts.required {
                continue; // a missing optional section is not a defect
            }
            let body = match damage {
                Damage::Removed => None,
                Damage::Emptied => Some(String::new()),
                Damage::Guidance => Some(match lang {
                    DocLanguage::En => ts.guidance_en.clone(),
                    DocLanguage::Ru => ts.guidance_ru.clone(),
                }),
                Damage::Tbd => Some("TBD".to_string()),
            };
            let damaged = match &body {
                None => format!("{}{}", &md[..h.range.start], &md[span_end..]),
                Some(b) => format!("{}\n\n{b}\n\n{}", &md[..h.range.end], &md[span_end..]),
            };
            // A section whose heading went with the damage is missing only if no other heading
            // in the copy names it (a KEP names rollback in two places, for instance).
            let left: Vec<String> =
                headings(&damaged).iter().map(|h| normalize_heading(&h.text)).collect();
            let named = |key: &str| {
                template
                    .section(key)
                    .map(section_names)
                    .is_some_and(|names| left.iter().any(|h| names.contains(h)))
            };
            let mut truth: BTreeSet<String> =
                nested.iter().filter(|k| !named(k.as_str())).cloned().collect();
            if !matches!(damage, Damage::Removed) || !named(&ts.key) {
                truth.insert(ts.key.clone());
            }
            if truth.is_empty() {
                continue; // the copy still has every section: not a damaged copy
            }
            let r = assess_markdown(template, lang, &damaged, None);
            let got = flagged(&r);
            let tp = got.intersection(&truth).count();
            tally.tp += tp;
            tally.fp += got.difference(&truth).filter(|k| !extra.contains(*k)).count();
            tally.fn_ += truth.difference(&got).count();
            if got.difference(&extra).cloned().collect::<BTreeSet<_>>() != truth {
                tally.misses.push(format!(
                    "{name}: {damage:?} {}: expected {truth:?}, flagged {got:?}",
                    ts.key
                ));
            }
            tally.pairs += 1;
            if complete.structure_score > r.structure_score {
                tally.ordered += 1;
            } else {
                tally.misses.push(format!(
                    "{name}: {damage:?} {}: complete {} <= damaged {}",
                    ts.key, complete.structure_score, r.structure_score
                ));
            }
        }
    }
}

#[test]
fn the_check_finds_damaged_sections_in_real_design_documents() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rfc_docs");
    let mut total = Tally::default();
    println!("set       template  docs  pairs  F1     ordered");
    let en = DocLanguage::En;
    for (dir, key, lang) in [
        ("feature", "feature", en),
        ("adr", "adr", en),
        ("infra", "infra", en),
        ("design", "design", en),
        ("ru-adr", "adr", DocLanguage::Ru),
    ] {
        let template = builtin_template(key).unwrap();
        let mut tally = Tally::default();
        let mut files: Vec<_> =
            std::fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for path in files {
            let raw = std::fs::read_to_string(&path).unwrap().replace("\r\n", "\n");
            let md = if path.extension().is_some_and(|e| e == "rst") {
                rst_to_markdown(&raw)
            } else {
                raw
            };
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            evaluate(template, lang, &name, &md, &mut tally);
        }
        println!(
            "{dir:<9} {key:<9} {:>4}  {:>5}  {:.3}  {:.3}",
            tally.docs,
            tally.pairs,
            tally.f1(),
            tally.ordered as f64 / tally.pairs.max(1) as f64
        );
        for m in &tally.misses {
            println!("    {m}");
        }
        assert!(tally.docs >= 6, "{dir}: too few documents");
        total.docs += tally.docs;
        total.tp += tally.tp;
        total.fp += tally.fp;
        total.fn_ += tally.fn_;
        total.pairs += tally.pairs;
        total.ordered += tally.ordered;
    }
    let ordered = total.ordered as f64 / total.pairs as f64;
    println!(
        "all       -         {:>4}  {:>5}  {:.3}  {:.3}  (tp {} fp {} fn {})",
        total.docs,
        total.pairs,
        total.f1(),
        ordered,
        total.tp,
        total.fp,
        total.fn_
    );
    assert!(total.pairs >= 300, "{} pairs", total.pairs);
    assert!(total.f1() >= 0.95, "F1 {:.3}", total.f1());
    assert!(ordered >= 0.95, "ordered {ordered:.3}");
}
