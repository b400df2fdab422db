//! Numbers, money, dates and relative times in the reader's language. Grouping and decimal marks
//! follow CLDR (en `1,234.5`; ru `1 234,5` with a no-break space), month names and plural forms
//! come from the translation files. ICU's date and number formatters would be exact for every
//! locale but add far more to the WASM than two languages need.

use crate::i18n::{Locale, td_string};
use chrono::{DateTime, Datelike, Timelike, Utc};
use model::JobState;

/// The page's language. A page renders its words once, in this language, and switching
/// reloads the page (`shell::switch_language`): a reactive closure per string would cost more
/// WASM than both languages' words.
pub fn use_lang() -> Locale {
    crate::i18n::use_i18n().get_locale_untracked()
}

/// A count's CLDR plural category (integers only). English: one, other. Russian: one (1, 21,
/// 101 …), few (2–4, 22–24 …), many (0, 5–20, 25–30 …); `other` is for fractions, which counts
/// never are. Two rules written out here instead of ICU's plural data for every locale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plural {
    One,
    Few,
    Many,
    Other,
}

/// The plural category `n` takes in `locale`.
pub fn plural(locale: Locale, n: i64) -> Plural {
    let n = n.unsigned_abs();
    match locale {
        Locale::en if n == 1 => Plural::One,
        Locale::en => Plural::Other,
        Locale::ru => match (n % 10, n % 100) {
            (1, r) if r != 11 => Plural::One,
            (2..=4, r) if !(12..=14).contains(&r) => Plural::Few,
            _ => Plural::Many,
        },
    }
}

/// A counted phrase: the key's `one`/`few`/`many`/`other` form for the count, with `count`
/// written with the language's grouping (`1 234 документа`). Other values follow:
/// `plural!(lang, chart.in_calls, count = calls, amount = total)`.
#[macro_export]
macro_rules! plural {
    ($lang:expr, $($key:ident).+, count = $n:expr $(, $name:ident = $value:expr)* $(,)?) => {{
        let lang: $crate::i18n::Locale = $lang;
        let n = i64::try_from($n).unwrap_or(i64::MAX);
        let count = $crate::l10n::number(lang, n);
        match $crate::l10n::plural(lang, n) {
            $crate::l10n::Plural::One => {
                $crate::i18n::td_string!(lang, $($key).+.one, count $(, $name = $value)*).to_string()
            }
            $crate::l10n::Plural::Few => {
                $crate::i18n::td_string!(lang, $($key).+.few, count $(, $name = $value)*).to_string()
            }
            $crate::l10n::Plural::Many => {
                $crate::i18n::td_string!(lang, $($key).+.many, count $(, $name = $value)*).to_string()
            }
            $crate::l10n::Plural::Other => {
                $crate::i18n::td_string!(lang, $($key).+.other, count $(, $name = $value)*).to_string()
            }
        }
    }};
}

/// What went wrong, for the reader. Sentences the server wrote (refusals, conflicts, field
/// rules) come in the request's language already; the few an error only implies are written
/// here.
pub fn error_text(locale: Locale, error: &model::error::AppError) -> String {
    use model::error::AppError;
    match error {
        AppError::NotFound { .. } => td_string!(locale, error.not_found).to_string(),
        AppError::PayloadTooLarge { limit_bytes } => {
            td_string!(locale, error.too_large, limit = number(locale, *limit_bytes)).to_string()
        }
        AppError::Internal { request_id } => {
            td_string!(locale, error.internal, id = request_id.clone()).to_string()
        }
        AppError::Validation { errors } => {
            let fields: Vec<String> =
                errors.iter().map(|e| format!("{} ({})", e.field, e.message)).collect();
            td_string!(locale, error.invalid, fields = fields.join("; ")).to_string()
        }
        other => other.to_string(),
    }
}

/// `n` with the language's thousands separator.
pub fn number(locale: Locale, n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let sep = group_separator(locale);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 2 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

fn group_separator(locale: Locale) -> char {
    match locale {
        Locale::en => ',',
        Locale::ru => '\u{a0}',
    }
}

/// A decimal number with `places` digits after the mark.
pub fn decimal(locale: Locale, value: f64, places: usize) -> String {
    let fixed = format!("{:.*}", places, value.abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((fixed.as_str(), ""));
    let int: i64 = int.parse().unwrap_or(0);
    let sign =
        if value < 0.0 && fixed.chars().any(|c| c.is_ascii_digit() && c != '0') { "-" } else { "" };
    let mark = match locale {
        Locale::en => '.',
        Locale::ru => ',',
    };
    if frac.is_empty() {
        format!("{sign}{}", number(locale, int))
    } else {
        format!("{sign}{}{mark}{frac}", number(locale, int))
    }
}

/// US dollars from nano-dollars, with as many places as a small amount needs (`$0.0420`,
/// `$0.004200`).
pub fn usd(locale: Locale, nanos: i64) -> String {
    let dollars = nanos as f64 / 1e9;
    let places = if dollars.abs() >= 1.0 || nanos == 0 {
        2
    } else if dollars.abs() >= 0.01 {
        4
    } else {
        6
    };
    let amount = decimal(locale, dollars, places);
    match locale {
        Locale::en => match amount.strip_prefix('-') {
            Some(abs) => format!("-${abs}"),
            None => format!("${amount}"),
        },
        Locale::ru => format!("{amount}\u{a0}$"),
    }
}

/// A moment in UTC: `Dec 6, 2026, 18:05 UTC` / `6 дек. 2026, 18:05 UTC`.
pub fn date_time(locale: Locale, at: DateTime<Utc>) -> String {
    let month = month_name(locale, at.month0());
    match locale {
        Locale::en => {
            format!("{month} {}, {}, {:02}:{:02} UTC", at.day(), at.year(), at.hour(), at.minute())
        }
        Locale::ru => {
            format!("{} {month} {}, {:02}:{:02} UTC", at.day(), at.year(), at.hour(), at.minute())
        }
    }
}

/// A day: `Dec 6, 2026` / `6 дек. 2026`.
pub fn date(locale: Locale, at: DateTime<Utc>) -> String {
    let month = month_name(locale, at.month0());
    match locale {
        Locale::en => format!("{month} {}, {}", at.day(), at.year()),
        Locale::ru => format!("{} {month} {}", at.day(), at.year()),
    }
}

fn month_name(locale: Locale, month0: u32) -> String {
    td_string!(locale, time.months).split(',').nth(month0 as usize).unwrap_or("").to_string()
}

/// How long ago `at` was, seen from `now`: `just now`, `5 minutes ago`, `2 дня назад`; older than
/// a month, the date.
pub fn ago(locale: Locale, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - at).num_minutes();
    match minutes {
        i64::MIN..=0 => td_string!(locale, time.just_now).to_string(),
        1..=59 => crate::plural!(locale, time.minutes_ago, count = minutes),
        60..=1439 => crate::plural!(locale, time.hours_ago, count = minutes / 60),
        1440..=43199 => crate::plural!(locale, time.days_ago, count = minutes / 1440),
        _ => date_time(locale, at),
    }
}

/// Now, from the browser's clock in the browser (`Utc::now()` has no clock to read in WASM).
pub fn now() -> DateTime<Utc> {
    #[cfg(feature = "hydrate")]
    {
        DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Utc::now()
    }
}

/// `daily`, `weekly`, `monthly` in words (other values as they are).
pub fn period_words(l: Locale, period: &str) -> String {
    match period {
        "daily" => td_string!(l, usage.daily),
        "weekly" => td_string!(l, usage.weekly),
        "monthly" => td_string!(l, usage.monthly),
        other => return other.to_string(),
    }
    .to_string()
}

/// "Team daily budget" / "Your monthly budget".
pub fn budget_title(l: Locale, global: bool, period: &str) -> String {
    let period = period_words(l, period);
    if global {
        td_string!(l, usage.team_budget, period)
    } else {
        td_string!(l, usage.your_budget, period)
    }
}

/// A job's state in words.
pub fn job_state(locale: Locale, state: JobState) -> &'static str {
    match state {
        JobState::Queued => td_string!(locale, job_state.queued),
        JobState::Running => td_string!(locale, job_state.running),
        JobState::Succeeded => td_string!(locale, job_state.succeeded),
        JobState::Dead => td_string!(locale, job_state.dead),
        JobState::Cancelled => td_string!(locale, job_state.cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn numbers_group_by_language() {
        assert_eq!(number(Locale::en, 1_234_567), "1,234,567");
        assert_eq!(number(Locale::ru, 1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(number(Locale::en, -1000), "-1,000");
        assert_eq!(number(Locale::en, 999), "999");
        assert_eq!(number(Locale::ru, 0), "0");
        assert_eq!(decimal(Locale::ru, 1234.5, 1), "1\u{a0}234,5");
        assert_eq!(decimal(Locale::en, -0.004, 2), "0.00");
    }

    #[test]
    fn money_reads_naturally() {
        assert_eq!(usd(Locale::en, 1_234_500_000_000), "$1,234.50");
        assert_eq!(usd(Locale::ru, 1_234_500_000_000), "1\u{a0}234,50\u{a0}$");
        assert_eq!(usd(Locale::en, 4_200_000), "$0.004200");
        assert_eq!(usd(Locale::en, 42_000_000), "$0.0420");
        assert_eq!(usd(Locale::en, -2_000_000_000), "-$2.00");
        assert_eq!(usd(Locale::ru, 0), "0,00\u{a0}$");
    }

    #[test]
    fn dates_use_the_languages_month_names() {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 18, 5, 0).single().unwrap_or_default();
        assert_eq!(date_time(Locale::en, at), "Dec 6, 2026, 18:05 UTC");
        assert_eq!(date_time(Locale::ru, at), "6 дек. 2026, 18:05 UTC");
        assert_eq!(date(Locale::en, at), "Dec 6, 2026");
        assert_eq!(date(Locale::ru, at), "6 дек. 2026");
    }

    #[test]
    fn relative_times_take_russian_plural_forms() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 18, 0, 0).single().unwrap_or_default();
        let ago_min = |m: i64| ago(Locale::ru, now - chrono::Duration::minutes(m), now);
        assert_eq!(ago_min(0), "только что");
        assert_eq!(ago_min(1), "1 минуту назад");
        assert_eq!(ago_min(3), "3 минуты назад");
        assert_eq!(ago_min(5), "5 минут назад");
        assert_eq!(ago_min(11), "11 минут назад");
        assert_eq!(ago_min(21), "21 минуту назад");
        assert_eq!(ago_min(22 * 60), "22 часа назад");
        assert_eq!(ago_min(25 * 1440), "25 дней назад");
        assert_eq!(ago(Locale::en, now - chrono::Duration::minutes(1), now), "1 minute ago");
        assert_eq!(ago(Locale::en, now - chrono::Duration::hours(2), now), "2 hours ago");
    }
}
