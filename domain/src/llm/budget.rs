//! Budget periods aligned to the calendar in a configured time zone: a day starts at local
//! midnight, a week on Monday, a month on the 1st — also across daylight-saving changes.

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How long a budget's period lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Midnight to midnight.
    Daily,
    /// Monday to Monday.
    Weekly,
    /// The 1st to the 1st.
    Monthly,
}

impl Period {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }

    /// Parses a stored or configured name.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "daily" => Some(Period::Daily),
            "weekly" => Some(Period::Weekly),
            "monthly" => Some(Period::Monthly),
            _ => None,
        }
    }

    /// The period containing `now`: its start and its end (the reset time), in UTC.
    pub fn bounds(self, tz: Tz, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let today = now.with_timezone(&tz).date_naive();
        let start = match self {
            Period::Daily => today,
            Period::Weekly => today - Days::new(u64::from(today.weekday().num_days_from_monday())),
            Period::Monthly => today.with_day(1).unwrap_or(today),
        };
        let end = match self {
            Period::Daily => start + Days::new(1),
            Period::Weekly => start + Days::new(7),
            Period::Monthly => {
                start.checked_add_months(chrono::Months::new(1)).unwrap_or(start + Days::new(31))
            }
        };
        (local_midnight(tz, start), local_midnight(tz, end))
    }
}

/// The first instant of `date` in `tz` (if midnight does not exist that day, the first
/// instant after the gap).
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut time = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        match tz.from_local_datetime(&time) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => time += chrono::Duration::minutes(30),
        }
    }
    Utc.from_utc_datetime(&time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap_or_default()
    }

    #[test]
    fn a_day_in_tokyo_starts_at_15_utc() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap_or(chrono_tz::UTC);
        // 14:59 UTC on the 3rd is 23:59 in Tokyo: still the 3rd there.
        let (start, end) = Period::Daily.bounds(tz, utc(2026, 3, 3, 14, 59));
        assert_eq!((start, end), (utc(2026, 3, 2, 15, 0), utc(2026, 3, 3, 15, 0)));
        // One minute later it is a new day in Tokyo.
        let (start, _) = Period::Daily.bounds(tz, utc(2026, 3, 3, 15, 0));
        assert_eq!(start, utc(2026, 3, 3, 15, 0));
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first_across_dst() {
        let tz: Tz = "Europe/Berlin".parse().unwrap_or(chrono_tz::UTC);
        // Sunday 29 March 2026 is the DST switch in Berlin; the week began Monday 23 March (CET).
        let (start, end) = Period::Weekly.bounds(tz, utc(2026, 3, 29, 12, 0));
        assert_eq!(start, utc(2026, 3, 22, 23, 0));
        assert_eq!(end, utc(2026, 3, 29, 22, 0), "the next Monday starts at CEST midnight");
        let (start, end) = Period::Monthly.bounds(tz, utc(2026, 3, 31, 21, 59));
        assert_eq!((start, end), (utc(2026, 2, 28, 23, 0), utc(2026, 3, 31, 22, 0)));
        assert_eq!(Period::Monthly.bounds(tz, utc(2026, 3, 31, 22, 0)).0, utc(2026, 3, 31, 22, 0));
    }

    #[test]
    fn names_parse() {
        assert_eq!(Period::parse(" Weekly "), Some(Period::Weekly));
        assert_eq!(Period::parse("yearly"), None);
    }
}
