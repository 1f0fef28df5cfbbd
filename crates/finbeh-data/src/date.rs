//! Hand-rolled calendar dates: parsing of the common formats and days-from-civil arithmetic.

use serde::{Deserialize, Serialize};

/// The textual layout of a date column, detected from the file (or ISO by default).
///
/// ISO `YYYY-MM-DD` (optionally followed by `T`/space and a time, which is ignored) is always
/// accepted in addition to a column's own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFormat {
    /// `YYYY-MM-DD`, or an ISO date-time whose date part is used.
    Iso,
    /// `M/D/YYYY` or `MM/DD/YYYY` (US order).
    MonthDayYear,
    /// `D/M/YYYY` or `DD/MM/YYYY`.
    DayMonthYear,
    /// `YYYY/MM/DD`.
    YearMonthDaySlash,
    /// `D.M.YYYY` or `DD.MM.YYYY`.
    DayMonthYearDot,
}

impl DateFormat {
    /// All formats, in the order inference prefers them.
    pub const ALL: [DateFormat; 5] = [
        DateFormat::Iso,
        DateFormat::MonthDayYear,
        DateFormat::DayMonthYear,
        DateFormat::YearMonthDaySlash,
        DateFormat::DayMonthYearDot,
    ];

    /// Human-readable pattern, e.g. `M/D/YYYY`.
    pub fn pattern(self) -> &'static str {
        match self {
            DateFormat::Iso => "YYYY-MM-DD",
            DateFormat::MonthDayYear => "M/D/YYYY",
            DateFormat::DayMonthYear => "D/M/YYYY",
            DateFormat::YearMonthDaySlash => "YYYY/MM/DD",
            DateFormat::DayMonthYearDot => "D.M.YYYY",
        }
    }
}

/// Day count of 0001-01-01, the first date [`parse_date`] accepts.
pub(crate) const FIRST_DAY: i32 = -719_162;
/// Day count of 9999-12-31, the last date [`parse_date`] accepts.
pub(crate) const LAST_DAY: i32 = 2_932_896;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day of week, 0 = Monday … 6 = Sunday.
pub fn weekday(days: i32) -> u32 {
    // 1970-01-01 was a Thursday (3).
    (days + 3).rem_euclid(7) as u32
}

/// Month 1–12 of a day count.
pub fn month(days: i32) -> u32 {
    civil_from_days(days).1
}

/// `YYYY-MM-DD` text of a day count.
pub fn format_iso(days: i32) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

fn checked_days(year: i32, month: u32, day: u32) -> Option<i32> {
    if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn number(part: &str, min_len: usize, max_len: usize) -> Option<u32> {
    if part.len() < min_len || part.len() > max_len || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn three(text: &str, sep: char) -> Option<(&str, &str, &str)> {
    let mut it = text.split(sep);
    let a = it.next()?;
    let b = it.next()?;
    let c = it.next()?;
    if it.next().is_some() {
        return None;
    }
    Some((a, b, c))
}

fn parse_iso(text: &str) -> Option<i32> {
    // Date part of an ISO date-time: cut at 'T' or ' '.
    let date = text.split(['T', ' ']).next()?;
    let (y, m, d) = three(date, '-')?;
    let y = number(y, 4, 4)? as i32;
    checked_days(y, number(m, 2, 2)?, number(d, 2, 2)?)
}

/// Parse one trimmed date text in `format` (ISO is always accepted too); `None` if it is not a date.
pub fn parse_date(text: &str, format: DateFormat) -> Option<i32> {
    let text = text.trim();
    let own = match format {
        DateFormat::Iso => None,
        DateFormat::MonthDayYear => three(text, '/').and_then(|(m, d, y)| {
            checked_days(number(y, 4, 4)? as i32, number(m, 1, 2)?, number(d, 1, 2)?)
        }),
        DateFormat::DayMonthYear => three(text, '/').and_then(|(d, m, y)| {
            checked_days(number(y, 4, 4)? as i32, number(m, 1, 2)?, number(d, 1, 2)?)
        }),
        DateFormat::YearMonthDaySlash => three(text, '/').and_then(|(y, m, d)| {
            checked_days(number(y, 4, 4)? as i32, number(m, 1, 2)?, number(d, 1, 2)?)
        }),
        DateFormat::DayMonthYearDot => three(text, '.').and_then(|(d, m, y)| {
            checked_days(number(y, 4, 4)? as i32, number(m, 1, 2)?, number(d, 1, 2)?)
        }),
    };
    own.or_else(|| parse_iso(text))
}

/// The format that parses the most `values` and how many it parses; on a tie the earlier in
/// [`DateFormat::ALL`] wins (so month-first beats day-first when both fit).
pub fn best_format<'a>(values: impl Iterator<Item = &'a str> + Clone) -> (DateFormat, usize) {
    let mut best = (DateFormat::Iso, 0);
    for f in DateFormat::ALL {
        let n = values
            .clone()
            .filter(|v| parse_date(v, f).is_some())
            .count();
        if n > best.1 {
            best = (f, n);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for d in (-800_000..800_000).step_by(997) {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(1, 1, 1), FIRST_DAY);
        assert_eq!(days_from_civil(9999, 12, 31), LAST_DAY);
        // 2023-12-07 was a Thursday.
        assert_eq!(weekday(days_from_civil(2023, 12, 7)), 3);
    }

    #[test]
    fn formats_parse_and_reject() {
        let want = days_from_civil(2023, 4, 5);
        assert_eq!(parse_date("4/5/2023", DateFormat::MonthDayYear), Some(want));
        assert_eq!(
            parse_date("04/05/2023", DateFormat::MonthDayYear),
            Some(want)
        );
        assert_eq!(parse_date("5/4/2023", DateFormat::DayMonthYear), Some(want));
        assert_eq!(
            parse_date("2023/04/05", DateFormat::YearMonthDaySlash),
            Some(want)
        );
        assert_eq!(
            parse_date("5.4.2023", DateFormat::DayMonthYearDot),
            Some(want)
        );
        assert_eq!(parse_date("2023-04-05", DateFormat::Iso), Some(want));
        assert_eq!(
            parse_date("2023-04-05T13:45:00", DateFormat::Iso),
            Some(want)
        );
        assert_eq!(
            parse_date("2023-04-05", DateFormat::MonthDayYear),
            Some(want)
        );
        assert_eq!(parse_date("2/30/2023", DateFormat::MonthDayYear), None);
        assert_eq!(parse_date("13/1/2023", DateFormat::MonthDayYear), None);
        assert_eq!(parse_date("hello", DateFormat::Iso), None);
        assert_eq!(parse_date("2023-4-5", DateFormat::Iso), None);
    }

    #[test]
    fn detection_prefers_month_first_but_falls_back_to_day_first() {
        let us = ["1/2/2023", "12/31/2022"];
        assert_eq!(
            best_format(us.iter().copied()),
            (DateFormat::MonthDayYear, 2)
        );
        let eu = ["1/2/2023", "31/12/2022"];
        assert_eq!(
            best_format(eu.iter().copied()),
            (DateFormat::DayMonthYear, 2)
        );
        let none = ["1/2/2023", "yesterday"];
        assert_eq!(best_format(none.iter().copied()).1, 1);
    }
}
