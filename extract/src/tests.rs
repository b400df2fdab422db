//! The crate's tests: every format from real fixtures, hostile input, sniffing.

use super::*;
use crate::html::{MAX_PARSE_NESTING, nesting_exceeds, prepare_storage_format};

const RUNBOOK_PDF: &[u8] = include_bytes!("../testdata/runbook.pdf");
const DAMAGED_CMAP_PDF: &[u8] = include_bytes!("../testdata/damaged-cmap.pdf");
const ONBOARDING_DOCX: &[u8] = include_bytes!("../testdata/onboarding.docx");
const PHOTOS_ZIP: &[u8] = include_bytes!("../testdata/photos.zip");
const PNG_NAMED_PDF: &[u8] = include_bytes!("../testdata/screenshot-renamed.pdf");
const RELEASE_NOTES_HTML: &str = include_str!("../testdata/release-notes.html");
const CONFLUENCE_STORAGE: &str = include_str!("../testdata/confluence-storage.xml");
const README_MD: &str = include_str!("../testdata/README.md");

const LIMIT: usize = 10 * 1024 * 1024;

fn texts(ex: &Extracted) -> Vec<&str> {
    ex.blocks.iter().map(Block::text).collect()
}

fn headings(ex: &Extracted) -> Vec<(u8, &str)> {
    ex.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading { level, text } => Some((*level, text.as_str())),
            _ => None,
        })
        .collect()
}

fn codes(ex: &Extracted) -> Vec<(Option<&str>, &str)> {
    ex.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Code { lang, text } => Some((lang.as_deref(), text.as_str())),
            _ => None,
        })
        .collect()
}

fn paragraph(text: &str) -> Block {
    Block::Paragraph { text: text.to_owned() }
}

// --- sniffing -------------------------------------------------------------------------

#[test]
fn format_names_are_stable() {
    let names: Vec<_> =
        [DocFormat::Pdf, DocFormat::Docx, DocFormat::Html, DocFormat::Markdown, DocFormat::Text]
            .map(DocFormat::as_str)
            .to_vec();
    assert_eq!(names, ["pdf", "docx", "html", "markdown", "text"]);
}

#[test]
fn sniffs_pdf_and_docx_by_content_not_name() {
    assert_eq!(sniff(RUNBOOK_PDF, "runbook.txt").ok(), Some(DocFormat::Pdf));
    assert_eq!(sniff(ONBOARDING_DOCX, "upload.bin").ok(), Some(DocFormat::Docx));
}

#[test]
fn pdf_marker_after_junk_is_pdf_but_text_mentioning_it_is_text() {
    let mut junk_first = b"\x00\x01junk\n".to_vec();
    junk_first.extend_from_slice(RUNBOOK_PDF);
    assert_eq!(sniff(&junk_first, "a").ok(), Some(DocFormat::Pdf));
    let note = b"PDF files start with %PDF-1.7 and end with %%EOF.\n";
    assert_eq!(sniff(note, "note.txt").ok(), Some(DocFormat::Text));
}

#[test]
fn png_renamed_to_pdf_is_unsupported_and_named() {
    let err = sniff(PNG_NAMED_PDF, "screenshot.pdf").err();
    assert!(matches!(&err, Some(ExtractError::Unsupported(k)) if k == "a PNG image"), "{err:?}");
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        "the file is not PDF, DOCX, HTML, Markdown or text (looks like a PNG image)"
    );
}

#[test]
fn zip_that_is_not_docx_is_unsupported() {
    let err = sniff(PHOTOS_ZIP, "report.docx").err();
    assert!(matches!(&err, Some(ExtractError::Unsupported(k)) if k == "a ZIP archive"), "{err:?}");
}

#[test]
fn names_common_binary_formats() {
    let cases: &[(&[u8], &str)] = &[
        (b"\xFF\xD8\xFF\xE0\x00\x10JFIF", "a JPEG image"),
        (b"GIF89a\x01\x00", "a GIF image"),
        (b"\x1F\x8B\x08\x00", "a gzip archive"),
        (b"\x7FELF\x02\x01\x01\x00", "an ELF executable"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "a Windows executable"),
        (b"\x00\x01\x02binary", "binary data"),
    ];
    for (bytes, kind) in cases {
        let err = sniff(bytes, "notes.txt").err();
        assert!(matches!(&err, Some(ExtractError::Unsupported(k)) if k == kind), "{err:?}");
    }
}

#[test]
fn text_that_is_not_utf8_is_unsupported() {
    // "Привет" in Windows-1251.
    let err = sniff(b"\xCF\xF0\xE8\xE2\xE5\xF2", "notes.txt").err();
    assert!(matches!(err, Some(ExtractError::Unsupported(k)) if k.contains("UTF-8")));
}

#[test]
fn txt_that_is_actually_html_is_html() {
    let html = b"\n  <!-- exported -->\n<!DOCTYPE html><html><body><p>Hi</p></body></html>";
    assert_eq!(sniff(html, "page.txt").ok(), Some(DocFormat::Html));
    assert_eq!(sniff(b"<h1>Release</h1><p>Notes</p>", "notes.txt").ok(), Some(DocFormat::Html));
}

#[test]
fn confluence_storage_format_is_html() {
    let bytes = CONFLUENCE_STORAGE.as_bytes();
    assert_eq!(sniff(bytes, "page.md").ok(), Some(DocFormat::Html));
    let macro_first = b"<ac:structured-macro ac:name=\"toc\" /><p>x</p>";
    assert_eq!(sniff(macro_first, "page").ok(), Some(DocFormat::Html));
}

#[test]
fn markdown_is_recognised_by_structure_or_by_name() {
    assert_eq!(sniff(README_MD.as_bytes(), "README.txt").ok(), Some(DocFormat::Markdown));
    assert_eq!(sniff(b"Just a note.\n", "note.md").ok(), Some(DocFormat::Markdown));
    assert_eq!(sniff(b"Just a note.\n", "note.txt").ok(), Some(DocFormat::Text));
    assert_eq!(sniff(b"# one heading only\nand prose\n", "x").ok(), Some(DocFormat::Text));
}

#[test]
fn readme_opening_with_html_logo_is_markdown() {
    let md = "<p align=\"center\"><img src=\"logo.png\"></p>\n\n# Tool\n\nIntro.\n\n\
              ## Install\n\n```sh\nmake\n```\n";
    assert_eq!(sniff(md.as_bytes(), "README").ok(), Some(DocFormat::Markdown));
}

#[test]
fn utf8_bom_is_allowed() {
    let (format, ex) = extract(b"\xEF\xBB\xBFHello there.\n", "a.txt", LIMIT).unwrap();
    assert_eq!(format, DocFormat::Text);
    assert_eq!(ex.blocks, [paragraph("Hello there.")]);
}

// --- extract ----------------------------------------------------------------------------

#[test]
fn oversize_is_too_large_before_sniffing() {
    let err = extract(PNG_NAMED_PDF, "x.pdf", 16).err();
    assert!(matches!(err, Some(ExtractError::TooLarge { limit: 16 })));
    let message = ExtractError::TooLarge { limit: 50 * 1024 * 1024 }.to_string();
    assert_eq!(message, "the file is too large (the limit is 50 MB)");
}

#[test]
fn file_without_text_is_empty() {
    for (bytes, name) in [
        (&b"  \n\n \t"[..], "blank.txt"),
        (b"<html><head><script>x()</script></head><body> </body></html>", "e.html"),
    ] {
        let err = extract(bytes, name, LIMIT).err();
        assert!(matches!(err, Some(ExtractError::Empty)), "{name}: {err:?}");
    }
}

#[test]
fn pdf_text_comes_out_per_paragraph_in_both_languages() {
    let (format, ex) = extract(RUNBOOK_PDF, "runbook.pdf", LIMIT).unwrap();
    assert_eq!(format, DocFormat::Pdf);
    let texts = texts(&ex);
    assert_eq!(texts.first(), Some(&"Deployment runbook"));
    assert!(texts.contains(
        &"The billing service is deployed every Tuesday. Before a release, check that the \
          database migrations have been reviewed and that the staging smoke tests are green."
    ));
    assert!(texts.contains(&"Резервное копирование"));
    assert!(texts.iter().any(|t| t.starts_with("Резервные копии базы данных")));
}

#[test]
fn truncated_pdf_is_malformed() {
    let truncated = &RUNBOOK_PDF[..RUNBOOK_PDF.len() / 2];
    let err = extract(truncated, "runbook.pdf", LIMIT).err();
    assert!(matches!(err, Some(ExtractError::Malformed(_))), "{err:?}");
}

#[test]
fn pdf_that_panics_the_parser_is_malformed() {
    let err = extract(DAMAGED_CMAP_PDF, "damaged.pdf", LIMIT).err();
    assert!(matches!(err, Some(ExtractError::Malformed(_))), "{err:?}");
}

#[test]
fn docx_keeps_title_headings_tables_and_russian() {
    let (format, ex) = extract(ONBOARDING_DOCX, "onboarding.docx", LIMIT).unwrap();
    assert_eq!(format, DocFormat::Docx);
    assert_eq!(ex.title.as_deref(), Some("Onboarding guide"));
    assert_eq!(
        headings(&ex),
        [(1, "Onboarding guide"), (1, "Accounts"), (2, "Laptop setup"), (1, "Доступы")]
    );
    let texts = texts(&ex);
    assert!(texts.contains(&"Install the toolchain with rustup, then clone the repository."));
    assert!(texts.contains(&"System | Owner"));
    assert!(texts.contains(&"GitLab | Platform team"));
    assert!(texts.contains(&"Доступ к production выдаётся только после прохождения инструктажа."));
}

#[test]
fn docx_entry_over_the_cap_is_malformed() {
    let err = docx_to_blocks(ONBOARDING_DOCX, 1024).err();
    assert!(
        matches!(&err, Some(ExtractError::Malformed(m)) if m.contains("expands to more than")),
        "{err:?}"
    );
}

#[test]
fn truncated_docx_is_malformed() {
    let truncated = &ONBOARDING_DOCX[..ONBOARDING_DOCX.len() - 200];
    let err = extract(truncated, "onboarding.docx", LIMIT).err();
    assert!(matches!(err, Some(ExtractError::Malformed(_))), "{err:?}");
}

#[test]
fn html_page_drops_navigation_scripts_and_chrome() {
    let (format, ex) = extract(RELEASE_NOTES_HTML.as_bytes(), "notes.txt", LIMIT).unwrap();
    assert_eq!(format, DocFormat::Html);
    assert_eq!(ex.title.as_deref(), Some("Release notes 4.2 — Blueprint"));
    assert_eq!(headings(&ex), [(1, "Release notes 4.2"), (2, "Upgrading"), (2, "Fixed")]);
    assert_eq!(
        codes(&ex),
        [(Some("bash"), "blueprint migrate --to 4.2\nsystemctl restart blueprint")]
    );
    let texts = texts(&ex);
    assert!(texts.contains(
        &"This release adds single sign-on and fixes the export bug & several small issues."
    ));
    assert!(texts.contains(&"Export of RFCs with <angle brackets> in the title."));
    assert!(texts.contains(&"Note: the old API tokens keep working until 5.0."));
    assert!(texts.contains(&"Component | Version"));
    assert!(texts.contains(&"frontend | 4.2.1"));
    let all = ex.plain_text();
    for noise in ["Home", "dataLayer", "font-family", "All rights reserved", "app.js"] {
        assert!(!all.contains(noise), "{noise} leaked into {all}");
    }
}

#[test]
fn confluence_storage_page_keeps_code_macro_tables_and_tasks() {
    let ex = html_to_blocks(CONFLUENCE_STORAGE);
    assert_eq!(
        headings(&ex),
        [
            (1, "Payment gateway integration"),
            (2, "Configuration"),
            (2, "Error codes"),
            (3, "Checklist"),
            (2, "Интеграция с банком"),
        ]
    );
    assert_eq!(
        codes(&ex),
        [(
            Some("yaml"),
            "gateway:\n  url: https://sandbox.pay.example.com\n  timeout_ms: 3000\n  \
             retries: 2 # <do not raise>"
        )]
    );
    let texts = texts(&ex);
    let expected = [
        "Owner: . See also the architecture page for context.",
        "The sandbox is reset every Monday at 06:00 UTC.",
        "Set the merchant key in the vault never in the repository.",
        "Code | Meaning",
        "E101 | Card declined by the issuer",
        "E205 | Timeout – retry with the same idempotency key",
        "[x] Rotate the sandbox key",
        "[ ] Enable 3-D Secure in production",
        "Запросы к банку подписываются ключом из хранилища секретов.",
    ];
    for e in expected {
        assert!(texts.contains(&e), "missing {e:?} in {texts:#?}");
    }
    let all = ex.plain_text();
    for noise in ["gateway.yaml", "557058", "flow.png", "incomplete", "warning"] {
        assert!(!all.contains(noise), "{noise} leaked into {all}");
    }
}

#[test]
fn confluence_link_without_body_shows_the_page_title() {
    let ex = html_to_blocks(
        "<p>See <ac:link><ri:page ri:content-title=\"Runbook\" /></ac:link> first.</p>",
    );
    assert_eq!(ex.blocks, [paragraph("See Runbook first.")]);
}

#[test]
fn storage_preparation_escapes_cdata_and_closes_empty_elements() {
    let prepared = prepare_storage_format(
        "<p>a<ac:emoticon ac:name=\"tick\" />b<br/>c</p><x><![CDATA[if a < b && c]]></x>",
    );
    assert_eq!(
        prepared,
        "<p>a<ac:emoticon ac:name=\"tick\"></ac:emoticon>b<br/>c</p>\
         <x>if a &lt; b &amp;&amp; c</x>"
    );
}

#[test]
fn html_headings_keep_levels_and_collapse_whitespace() {
    let ex = html_to_blocks(
        "<h2>  Two\n words </h2><h6>Six</h6><p>a&nbsp;&amp;\n\n b</p>\
         <ul><li>one<ul><li>two</li></ul></li></ul>",
    );
    assert_eq!(
        ex.blocks,
        [
            Block::Heading { level: 2, text: "Two words".into() },
            Block::Heading { level: 6, text: "Six".into() },
            paragraph("a & b"),
            paragraph("one"),
            paragraph("two"),
        ]
    );
    assert_eq!(ex.title, None);
}

#[test]
fn deeply_nested_html_keeps_its_text_without_overflowing() {
    // Deeper than the walker recurses, shallow enough to parse.
    let depth = 3000;
    let html = format!("{}deep <b>text</b>{}", "<div>".repeat(depth), "</div>".repeat(depth));
    assert_eq!(html_to_blocks(&html).blocks, [paragraph("deep text")]);
}

#[test]
fn pathologically_nested_html_is_read_as_text_without_parsing() {
    let depth = 200_000;
    let html = format!("<p>Intro</p>{}deep text{}", "<div>".repeat(depth), "</div>".repeat(depth));
    let started = std::time::Instant::now();
    let ex = html_to_blocks(&html);
    assert_eq!(ex.blocks, [paragraph("Intro deep text")]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn stray_end_tags_do_not_hide_nesting() {
    // html5ever ignores `</b>` with no open `b`: this nests 10 000 divs deep.
    let html = "<div></b>".repeat(10_000);
    assert!(nesting_exceeds(&html, MAX_PARSE_NESTING));
    let started = std::time::Instant::now();
    let _ = html_to_blocks(&"<div></b>x".repeat(200_000));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    // Properly closed siblings stay shallow; an end tag closes what is open inside it.
    assert!(!nesting_exceeds(&"<div><b>x</b></div>".repeat(10_000), MAX_PARSE_NESTING));
    assert!(!nesting_exceeds(&"<div><span><i>x</div>".repeat(10_000), MAX_PARSE_NESTING));
}

#[test]
fn many_unclosed_paragraphs_do_not_count_as_nesting() {
    let html = "<p>line".repeat(10_000);
    assert!(!nesting_exceeds(&html, MAX_PARSE_NESTING));
}

#[test]
fn page_without_main_keeps_its_header() {
    let ex = html_to_blocks("<body><header><h1>Guide</h1></header><p>Text.</p></body>");
    assert_eq!(headings(&ex), [(1, "Guide")]);
}

#[test]
fn markdown_readme_becomes_headings_code_lists_and_rows() {
    let (format, ex) = extract(README_MD.as_bytes(), "README.md", LIMIT).unwrap();
    assert_eq!(format, DocFormat::Markdown);
    assert_eq!(ex.title.as_deref(), Some("Blueprint CLI"));
    assert_eq!(
        headings(&ex),
        [(1, "Blueprint CLI"), (2, "Installation"), (2, "Usage"), (2, "Настройка")]
    );
    assert_eq!(
        codes(&ex),
        [
            (Some("bash"), "cargo install blueprint-cli --locked"),
            (None, "bp --version"),
            (Some("toml"), "[server]\nurl = \"https://blueprint.example.com\""),
        ]
    );
    let texts = texts(&ex);
    for e in [
        "A command line client for Blueprint: create RFCs, search the knowledge base and \
         follow reviews from your terminal.",
        "Or download a binary from the releases page.",
        "bp rfc new creates a draft;",
        "Command | Scope",
        "rfc | generate",
        "Токен доступа хранится в файле ~/.config/blueprint/token. Создайте его на странице \
         профиля и никому не передавайте.",
    ] {
        assert!(texts.contains(&e), "missing {e:?} in {texts:#?}");
    }
}

#[test]
fn markdown_front_matter_and_raw_html_are_handled() {
    let md = "---\ntitle: hidden\n---\n\n<div>\n<p>From <b>HTML</b></p>\n</div>\n\n- [x] done\n";
    let ex = markdown_to_blocks(md);
    assert_eq!(ex.blocks, [paragraph("From HTML"), paragraph("[x] done")]);
}

#[test]
fn plain_text_splits_on_blank_lines() {
    let (format, ex) = extract(b"First line\nwraps here.\n\n\nSecond.\n", "a.txt", LIMIT).unwrap();
    assert_eq!(format, DocFormat::Text);
    assert_eq!(ex.blocks, [paragraph("First line wraps here."), paragraph("Second.")]);
}

// --- connector bodies ---------------------------------------------------------------------

#[test]
fn source_file_body_is_one_code_block() {
    let body = DocBody::Text { text: "\nfn main() {}\n".into(), lang: Some("rust".into()) };
    let ex = body_to_blocks(&body);
    assert_eq!(ex.blocks, [Block::Code { lang: Some("rust".into()), text: "fn main() {}".into() }]);
}

#[test]
fn text_body_without_lang_is_paragraphs() {
    let body = DocBody::Text { text: "One.\n\nTwo\nlines.".into(), lang: None };
    assert_eq!(body_to_blocks(&body).blocks, [paragraph("One."), paragraph("Two lines.")]);
}

#[test]
fn html_markdown_and_block_bodies_dispatch() {
    let html = body_to_blocks(&DocBody::Html("<h1>T</h1><p>x</p>".into()));
    assert_eq!(html.title.as_deref(), Some("T"));
    let md = body_to_blocks(&DocBody::Markdown("# T\n\nx".into()));
    assert_eq!(md.blocks, html.blocks);
    let blocks = vec![Block::Comment { author: Some("A".into()), at: None, text: "c".into() }];
    assert_eq!(body_to_blocks(&DocBody::Blocks(blocks.clone())).blocks, blocks);
}
