//! The translations: every key in both languages and never empty, with the same placeholders;
//! Russian plural forms; and no English string literal left in the views.

use app::i18n::Locale;
use app::plural;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PLURAL_FORMS: [&str; 4] = ["one", "few", "many", "other"];

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => panic!("{prefix}: only strings and objects are used, found {other}"),
    }
}

fn locale(name: &str) -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("locales").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out
}

/// `documents.one` → (`documents`, `one`): a counted phrase keeps its CLDR forms as an object
/// (`app::plural!` picks one; leptos_i18n's own plurals link ICU data for every locale).
fn split_plural(key: &str) -> (&str, Option<&str>) {
    key.rsplit_once('.')
        .filter(|(_, form)| PLURAL_FORMS.contains(form))
        .map_or((key, None), |(base, form)| (base, Some(form)))
}

/// Keys with their plural forms.
fn plural_forms(keys: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for key in keys.keys() {
        match split_plural(key) {
            (base, Some(form)) => {
                out.entry(base.to_string()).or_default().insert(form.to_string());
            }
            _ => {
                out.entry(key.clone()).or_default();
            }
        }
    }
    out
}

#[test]
fn every_key_is_in_both_languages_and_never_empty() {
    let en = locale("en");
    let ru = locale("ru");
    for (lang, keys) in [("en", &en), ("ru", &ru)] {
        let empty: Vec<_> = keys.iter().filter(|(_, v)| v.trim().is_empty()).collect();
        assert!(empty.is_empty(), "{lang}: empty translations {empty:?}");
    }
    let en_forms = plural_forms(&en);
    let ru_forms = plural_forms(&ru);
    let en_keys: BTreeSet<_> = en_forms.keys().collect();
    let ru_keys: BTreeSet<_> = ru_forms.keys().collect();
    let only_en: Vec<_> = en_keys.difference(&ru_keys).collect();
    let only_ru: Vec<_> = ru_keys.difference(&en_keys).collect();
    assert!(only_en.is_empty() && only_ru.is_empty(), "only en: {only_en:?}; only ru: {only_ru:?}");
    // Every counted phrase has all four forms in both languages (English uses one and other;
    // its few and many repeat other), so `plural!` finds each.
    for (key, forms) in &en_forms {
        if !forms.is_empty() {
            for need in PLURAL_FORMS {
                assert!(forms.contains(need), "en {key} lacks {need}");
                assert!(ru_forms[key].contains(need), "ru {key} lacks {need}");
            }
        }
    }
    // Placeholders match: a Russian sentence that drops `{{ name }}` loses information. Every
    // form of a key carries the placeholders of the English `_other` (or plain) value; only an
    // English `_one` may spell the count out ("one document").
    let vars = |s: &str| -> BTreeSet<String> {
        s.split("{{")
            .skip(1)
            .filter_map(|p| p.split_once("}}"))
            .map(|(v, _)| v.trim().to_string())
            .collect()
    };
    let reference = |key: &str| -> BTreeSet<String> {
        en.get(&format!("{key}.other")).or_else(|| en.get(key)).map(|v| vars(v)).unwrap_or_default()
    };
    for (lang, keys) in [("en", &en), ("ru", &ru)] {
        for (key, value) in keys.iter() {
            let (base, suffix) = split_plural(key);
            let want = reference(base);
            let mut got = vars(value);
            if lang == "en" && suffix == Some("one") {
                got.insert("count".into());
            }
            assert_eq!(got, want, "{lang} {key}: placeholders differ from English");
        }
    }
}

#[test]
fn russian_counts_take_their_plural_forms() {
    let cases = [
        (0, "0 документов"),
        (1, "1 документ"),
        (2, "2 документа"),
        (5, "5 документов"),
        (11, "11 документов"),
        (21, "21 документ"),
        (22, "22 документа"),
        (25, "25 документов"),
        (111, "111 документов"),
        (1004, "1\u{a0}004 документа"),
        (1_000_001, "1\u{a0}000\u{a0}001 документ"),
    ];
    for (n, want) in cases {
        assert_eq!(plural!(Locale::ru, dashboard.documents, count = n), want, "{n}");
    }
    assert_eq!(plural!(Locale::en, dashboard.documents, count = 1), "1 document");
    assert_eq!(plural!(Locale::en, dashboard.documents, count = 0), "0 documents");
    assert_eq!(plural!(Locale::en, dashboard.documents, count = 21), "21 documents");
    assert_eq!(plural!(Locale::en, dashboard.documents, count = 1004), "1,004 documents");
}

/// Literals that are names or examples, not words to translate.
const NOT_WORDS: &[&str] = &[
    "Blueprint",
    "CSV",
    "JSON",
    "https://acme.atlassian.net/wiki",
    "https://api.openai.com/v1",
    "ENG, OPS",
    "ci-bot",
    "Authorization: Bearer <token>",
];

/// String literals in view markup: text children (`>"Words"`) and text attributes
/// (`title="Words"`). Each literal is read whole (escapes included), so a closing quote is never
/// taken for an opening one, and `=>` (a match arm) is not markup.
fn english_literals(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'"' {
                i += 1;
                continue;
            }
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let literal = line.get(start..end.min(line.len())).unwrap_or("");
            let before = line[..i].trim_end();
            let text_child = before.ends_with('>') && !before.ends_with("=>");
            let attribute = ["title=", "aria-label=", "placeholder=", "alt=", "text="]
                .iter()
                .any(|a| before.ends_with(a));
            let has_word = literal
                .split_whitespace()
                .any(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2);
            if (text_child || attribute) && has_word && !NOT_WORDS.contains(&literal) {
                found.push(format!("{}: {literal}", n + 1));
            }
            i = end + 1;
        }
    }
    found
}

#[test]
fn the_scanner_finds_english_and_leaves_code_alone() {
    let view = r#"<p class="muted">"Loading…"</p> <button title="Save it">{t!(i18n, x)}</button>"#;
    assert_eq!(english_literals(view).len(), 2, "{:?}", english_literals(view));
    let code = r#"match x { "light" => "Theme: light", _ => "dark" }; <code>"ci-bot"</code> " · ""#;
    assert!(english_literals(code).is_empty(), "{:?}", english_literals(code));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")).flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn views_use_translation_keys_not_english_literals() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut untranslated = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap_or(&file).to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let found = english_literals(&text);
        if !found.is_empty() {
            untranslated.push(format!("{rel}:\n  {}", found.join("\n  ")));
        }
    }
    assert!(untranslated.is_empty(), "English literals in views:\n{}", untranslated.join("\n"));
}

/// Pages render their words once, in the page's language (`l10n::use_lang`), and a switch
/// reloads the page. leptos_i18n's tracking macros (`t!`, `t_string!`, `td!`) make a reactive
/// closure per string, which cost the first page ~N KiB of WASM for a switch nobody makes twice.
#[test]
fn views_look_words_up_once_not_through_a_signal() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut tracked = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let hit = ["t!(", "t_string!(", "td!(", "t_display!("].iter().any(|m| {
                line.match_indices(m)
                    .any(|(i, _)| !line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            });
            if hit {
                tracked.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(tracked.is_empty(), "words looked up through a signal:\n{}", tracked.join("\n"));
}
