//! Language detection for documents and chunks: ISO 639-1 codes (`en`, `ru`, …) from `whatlang`,
//! steadied by a script rule for short or mixed text (a Russian page full of English identifiers
//! is still Russian). Owns only the guess; it never changes text and never fails.

use whatlang::Script;

/// Below this many letters whatlang's trigram guess is noise; the script decides instead.
const SHORT_TEXT_LETTERS: usize = 40;

/// The share of letters one script needs for the text to count as written in it alone.
const DOMINANT_SHARE: f64 = 0.8;

/// Guesses the language of `text` as an ISO 639-1 code (ISO 639-3 where no two-letter code
/// exists or is mapped); `None` when the text has no letters.
pub fn detect(text: &str) -> Option<String> {
    let counts = ScriptCounts::of(text);
    if counts.total() == 0 {
        return None;
    }
    let info = whatlang::detect(text);
    let reliable = info.as_ref().filter(|i| i.is_reliable());

    let short = counts.total() < SHORT_TEXT_LETTERS;
    let mixed = (counts.max() as f64) < DOMINANT_SHARE * counts.total() as f64;
    if !short
        && !mixed
        && let Some(info) = reliable
    {
        return Some(iso_639_1(info.lang().code()).to_owned());
    }

    // Script rule: the writing system is a steadier signal than trigrams on little text.
    if counts.cyrillic >= counts.latin && counts.cyrillic >= counts.other {
        let ukrainian = reliable.is_some_and(|i| i.lang().code() == "ukr");
        return Some(if ukrainian { "uk" } else { "ru" }.to_owned());
    }
    if counts.latin >= counts.other {
        let code = reliable
            .filter(|i| i.script() == Script::Latin)
            .map_or("en", |i| iso_639_1(i.lang().code()));
        return Some(code.to_owned());
    }
    // Other scripts (Han, kana, Hangul, Arabic …) nearly fix the language by themselves.
    info.map(|i| iso_639_1(i.lang().code()).to_owned())
}

/// Letters counted by writing system.
#[derive(Debug, Default)]
struct ScriptCounts {
    latin: usize,
    cyrillic: usize,
    other: usize,
}

impl ScriptCounts {
    fn of(text: &str) -> Self {
        let mut counts = Self::default();
        for c in text.chars().filter(|c| c.is_alphabetic()) {
            match c {
                'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' => {
                    counts.latin += 1;
                }
                '\u{0400}'..='\u{052F}' => counts.cyrillic += 1,
                _ => counts.other += 1,
            }
        }
        counts
    }

    fn total(&self) -> usize {
        self.latin + self.cyrillic + self.other
    }

    fn max(&self) -> usize {
        self.latin.max(self.cyrillic).max(self.other)
    }
}

/// Maps whatlang's ISO 639-3 code to ISO 639-1; unmapped codes pass through unchanged.
fn iso_639_1(code: &'static str) -> &'static str {
    match code {
        "eng" => "en",
        "rus" => "ru",
        "deu" => "de",
        "fra" => "fr",
        "spa" => "es",
        "ita" => "it",
        "por" => "pt",
        "ukr" => "uk",
        "pol" => "pl",
        "cmn" => "zh",
        "jpn" => "ja",
        "kor" => "ko",
        "nld" => "nl",
        "swe" => "sv",
        "dan" => "da",
        "nob" => "nb",
        "fin" => "fi",
        "ces" => "cs",
        "slk" => "sk",
        "slv" => "sl",
        "hrv" => "hr",
        "srp" => "sr",
        "bul" => "bg",
        "bel" => "be",
        "mkd" => "mk",
        "ron" => "ro",
        "hun" => "hu",
        "tur" => "tr",
        "ell" => "el",
        "heb" => "he",
        "ara" => "ar",
        "pes" => "fa",
        "hin" => "hi",
        "ben" => "bn",
        "tha" => "th",
        "vie" => "vi",
        "ind" => "id",
        "lit" => "lt",
        "lav" => "lv",
        "est" => "et",
        "cat" => "ca",
        "kat" => "ka",
        "hye" => "hy",
        "aze" => "az",
        "uzb" => "uz",
        "epo" => "eo",
        "lat" => "la",
        "cym" => "cy",
        "afr" => "af",
        "urd" => "ur",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_english_prose() {
        let text = "The billing service is deployed every Tuesday after the migrations \
                    have been reviewed and the staging smoke tests are green.";
        assert_eq!(detect(text).as_deref(), Some("en"));
    }

    #[test]
    fn detects_russian_prose() {
        let text = "Резервные копии базы данных создаются каждую ночь и хранятся тридцать \
                    дней. Восстановление проверяется раз в месяц на отдельном стенде.";
        assert_eq!(detect(text).as_deref(), Some("ru"));
    }

    #[test]
    fn detects_german_and_french_prose() {
        let de = "Die Datenbank wird jede Nacht gesichert, und die Sicherungen werden \
                  dreißig Tage lang aufbewahrt. Die Wiederherstellung wird monatlich geprüft.";
        let fr = "La base de données est sauvegardée chaque nuit et les sauvegardes sont \
                  conservées pendant trente jours. La restauration est vérifiée chaque mois.";
        assert_eq!(detect(de).as_deref(), Some("de"));
        assert_eq!(detect(fr).as_deref(), Some("fr"));
    }

    #[test]
    fn detects_ukrainian_when_reliable() {
        let text = "Резервні копії бази даних створюються щоночі та зберігаються тридцять \
                    днів. Відновлення перевіряється щомісяця на окремому стенді, і це \
                    дуже важливо для нашої команди.";
        assert_eq!(detect(text).as_deref(), Some("uk"));
    }

    #[test]
    fn short_cyrillic_text_is_russian() {
        assert_eq!(detect("Настройка").as_deref(), Some("ru"));
        assert_eq!(detect("Привет!").as_deref(), Some("ru"));
    }

    #[test]
    fn russian_text_with_english_identifiers_is_russian() {
        let text = "Запустите `cargo build --release`, затем проверьте конфиг server.toml \
                    и переменную DATABASE_URL.";
        assert_eq!(detect(text).as_deref(), Some("ru"));
    }

    #[test]
    fn short_latin_text_defaults_to_english() {
        assert_eq!(detect("Setup").as_deref(), Some("en"));
        assert_eq!(detect("API tokens").as_deref(), Some("en"));
    }

    #[test]
    fn detects_chinese_and_japanese() {
        assert_eq!(detect("数据库每天晚上都会备份，备份保存三十天。").as_deref(), Some("zh"));
        assert_eq!(
            detect("データベースは毎晩バックアップされ、三十日間保存されます。").as_deref(),
            Some("ja")
        );
    }

    #[test]
    fn text_without_letters_has_no_language() {
        assert_eq!(detect(""), None);
        assert_eq!(detect("  12 345 — 42%  {}; "), None);
    }
}
