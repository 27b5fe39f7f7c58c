//! PVE calendar events (`pve-calendar-event`), the schedule language of backup jobs and
//! replication: a systemd-like `[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:]MINUTE[:SECOND]`, plus the
//! shorthands `minutely`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`/`annually`,
//! `quarterly` and `semiannually`.
//!
//! Each field is a comma list of `*`, `N`, `A..B` and repetitions `*/S`, `N/S`, `A..B/S`.
//! A lone time field is the minute (`*/15` is every quarter hour, `mon..wed 30/10` is minutes 30, 40
//! and 50 of every hour); a missing time is midnight. Times are evaluated in UTC here.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse calendar event '{event}': {reason}")]
pub struct CalendarError {
    pub event: String,
    pub reason: String,
}

/// A set of allowed values of one field, as a bitmask over 0..64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldSet(u64);

impl FieldSet {
    fn contains(self, value: u32) -> bool {
        value < 64 && self.0 & (1 << value) != 0
    }

    fn all(min: u32, max: u32) -> Self {
        Self((min..=max).fold(0, |acc, v| acc | (1 << v)))
    }

    fn single(value: u32) -> Self {
        Self(1 << value)
    }

    fn values(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |v| self.0 & (1u64 << v) != 0)
    }
}

/// Years are too wide for a bitmask; they keep their ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
enum YearSpec {
    Any,
    Ranges(Vec<(u32, u32, u32)>),
}

impl YearSpec {
    fn contains(&self, year: u32) -> bool {
        match self {
            Self::Any => true,
            Self::Ranges(ranges) => ranges.iter().any(|&(a, b, step)| year >= a && year <= b && (year - a).is_multiple_of(step)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    text: String,
    /// Bit 0 = Monday.
    weekdays: u8,
    years: YearSpec,
    months: FieldSet,
    days: FieldSet,
    hours: FieldSet,
    minutes: FieldSet,
    seconds: FieldSet,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MAX_YEAR: u32 = 9999;

impl FromStr for CalendarEvent {
    type Err = CalendarError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| CalendarError { event: text.to_string(), reason: reason.to_string() };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(fail("empty calendar event"));
        }
        if trimmed.len() > 256 {
            return Err(fail("too long"));
        }
        let mut event = CalendarEvent {
            text: trimmed.to_string(),
            weekdays: 0x7f,
            years: YearSpec::Any,
            months: FieldSet::all(1, 12),
            days: FieldSet::all(1, 31),
            hours: FieldSet::single(0),
            minutes: FieldSet::single(0),
            seconds: FieldSet::single(0),
        };
        let shorthand = match trimmed.to_ascii_lowercase().as_str() {
            "minutely" => Some("*:*"),
            "hourly" => Some("*:0"),
            "daily" => Some("0:0"),
            "weekly" => Some("mon 0:0"),
            "monthly" => Some("*-*-01 0:0"),
            "yearly" | "annually" => Some("*-01-01 0:0"),
            "quarterly" => Some("*-01,04,07,10-01 0:0"),
            "semiannually" | "semi-annually" => Some("*-01,07-01 0:0"),
            _ => None,
        };
        if let Some(expanded) = shorthand {
            let mut parsed: CalendarEvent = expanded.parse().map_err(|e: CalendarError| fail(&e.reason))?;
            parsed.text = trimmed.to_string();
            return Ok(parsed);
        }

        let mut parts = trimmed.split_whitespace().peekable();
        if let Some(first) = parts.peek()
            && first.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        {
            event.weekdays = parse_weekdays(first).map_err(|r| fail(&r))?;
            parts.next();
        }
        let mut saw_date = false;
        let mut saw_time = false;
        for part in parts {
            if part.contains(':') || !part.contains('-') {
                if saw_time {
                    return Err(fail("more than one time specification"));
                }
                saw_time = true;
                let fields: Vec<&str> = part.split(':').collect();
                let (h, m, s) = match fields.as_slice() {
                    [m] => (None, *m, None),
                    [h, m] => (Some(*h), *m, None),
                    [h, m, s] => (Some(*h), *m, Some(*s)),
                    _ => return Err(fail("time must be [HOUR:]MINUTE[:SECOND]")),
                };
                event.hours = match h {
                    Some(h) => parse_field(h, 0, 23).map_err(|r| fail(&format!("hour: {r}")))?,
                    None => FieldSet::all(0, 23),
                };
                event.minutes = parse_field(m, 0, 59).map_err(|r| fail(&format!("minute: {r}")))?;
                event.seconds = match s {
                    Some(s) => parse_field(s, 0, 59).map_err(|r| fail(&format!("second: {r}")))?,
                    None => FieldSet::single(0),
                };
            } else {
                if saw_date || saw_time {
                    return Err(fail("the date must come before the time, once"));
                }
                saw_date = true;
                let fields: Vec<&str> = part.split('-').collect();
                let (y, mo, d) = match fields.as_slice() {
                    [mo, d] => (None, *mo, *d),
                    [y, mo, d] => (Some(*y), *mo, *d),
                    _ => return Err(fail("date must be [YEAR-]MONTH-DAY")),
                };
                if let Some(y) = y {
                    event.years = parse_years(y).map_err(|r| fail(&format!("year: {r}")))?;
                }
                event.months = parse_field(mo, 1, 12).map_err(|r| fail(&format!("month: {r}")))?;
                event.days = parse_field(d, 1, 31).map_err(|r| fail(&format!("day: {r}")))?;
            }
        }
        Ok(event)
    }
}

impl fmt::Display for CalendarEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_weekdays(text: &str) -> Result<u8, String> {
    let day = |name: &str| {
        let lower = name.to_ascii_lowercase();
        WEEKDAYS
            .iter()
            .position(|d| lower.len() >= 3 && d.starts_with(&lower[..3]) && full_name_matches(&lower))
            .ok_or_else(|| format!("unknown weekday '{name}'"))
    };
    let mut mask = 0u8;
    for item in text.split(',') {
        match item.split_once("..") {
            Some((from, to)) => {
                let (a, b) = (day(from)?, day(to)?);
                if a > b {
                    return Err(format!("weekday range '{item}' runs backwards"));
                }
                (a..=b).for_each(|d| mask |= 1 << d);
            }
            None => mask |= 1 << day(item)?,
        }
    }
    Ok(mask)
}

fn full_name_matches(lower: &str) -> bool {
    const FULL: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    FULL.iter().any(|full| full.starts_with(lower))
}

fn number(text: &str, min: u32, max: u32) -> Result<u32, String> {
    if text.is_empty() || text.len() > 4 || !text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("'{text}' is not a number"));
    }
    let value: u32 = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
    if value < min || value > max {
        return Err(format!("{value} is out of range {min}..{max}"));
    }
    Ok(value)
}

/// One comma item: `(start, end, step)`.
fn parse_item(item: &str, min: u32, max: u32) -> Result<(u32, u32, u32), String> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, number(step, 1, max.max(1))?),
        None => (item, 1),
    };
    let (start, end) = match range {
        "*" => (min, max),
        _ => match range.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (number(a, min, max)?, number(b, min, max)?);
                if a > b {
                    return Err(format!("range '{range}' runs backwards"));
                }
                (a, b)
            }
            // `N/S` repeats from N to the field's end.
            None if item.contains('/') => (number(range, min, max)?, max),
            None => {
                let v = number(range, min, max)?;
                (v, v)
            }
        },
    };
    Ok((start, end, step))
}

fn parse_field(text: &str, min: u32, max: u32) -> Result<FieldSet, String> {
    let mut mask = 0u64;
    for item in text.split(',') {
        let (start, end, step) = parse_item(item, min, max)?;
        (start..=end).step_by(step as usize).for_each(|v| mask |= 1 << v);
    }
    Ok(FieldSet(mask))
}

fn parse_years(text: &str) -> Result<YearSpec, String> {
    if text == "*" {
        return Ok(YearSpec::Any);
    }
    text.split(',').map(|item| parse_item(item, 1970, MAX_YEAR)).collect::<Result<_, _>>().map(YearSpec::Ranges)
}

impl CalendarEvent {
    fn matches_date(&self, date: NaiveDate) -> bool {
        self.years.contains(date.year() as u32)
            && self.months.contains(date.month())
            && self.days.contains(date.day())
            && self.weekdays & (1 << date.weekday().num_days_from_monday()) != 0
    }

    /// The first time strictly after `after` at which the event fires, within the next 50 years.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start_date = after.date_naive();
        let start_time = after.time();
        for offset in 0..(366 * 50) {
            let date = start_date + Duration::days(offset);
            if !self.matches_date(date) {
                continue;
            }
            for hour in self.hours.values() {
                for minute in self.minutes.values() {
                    for second in self.seconds.values() {
                        let Some(time) = NaiveTime::from_hms_opt(hour, minute, second) else {
                            continue;
                        };
                        if offset == 0 && time <= start_time.with_nanosecond(0).unwrap_or(start_time) {
                            continue;
                        }
                        return Some(Utc.from_utc_datetime(&date.and_time(time)));
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn next(event: &str, after: &str) -> String {
        event.parse::<CalendarEvent>().unwrap().next_after(at(after)).unwrap().to_rfc3339()
    }

    #[test]
    fn seeds_policies() {
        // 2026-11-23 is a Monday.
        assert_eq!(next("*-*-* 01:00", "2026-11-23T10:00:00Z"), "2026-11-24T01:00:00+00:00");
        assert_eq!(next("sun 03:00", "2026-11-23T10:00:00Z"), "2026-11-29T03:00:00+00:00");
        assert_eq!(next("daily", "2026-11-23T10:00:00Z"), "2026-11-24T00:00:00+00:00");
        assert_eq!(next("02:00", "2026-11-23T01:59:59Z"), "2026-11-23T02:00:00+00:00");
    }

    #[test]
    fn shorthands_and_repetitions() {
        assert_eq!(next("*/15", "2026-11-23T10:07:00Z"), "2026-11-23T10:15:00+00:00");
        assert_eq!(next("mon..fri 01:00", "2026-11-27T02:00:00Z"), "2026-11-30T01:00:00+00:00");
        assert_eq!(next("mon..wed 30/10", "2026-11-23T10:45:00Z"), "2026-11-23T10:50:00+00:00");
        assert_eq!(next("hourly", "2026-11-23T10:00:00Z"), "2026-11-23T11:00:00+00:00");
        assert_eq!(next("weekly", "2026-11-23T10:00:00Z"), "2026-11-30T00:00:00+00:00");
        assert_eq!(next("monthly", "2026-11-23T10:00:00Z"), "2026-12-01T00:00:00+00:00");
        assert_eq!(next("quarterly", "2026-11-23T10:00:00Z"), "2027-01-01T00:00:00+00:00");
        let never: CalendarEvent = "2027-02-29".parse().unwrap();
        assert_eq!(never.next_after(at("2026-11-23T10:00:00Z")), None, "no such date");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "funday", "25:00", "*/0", "mon..sun..tue", "12:61", "1-2-3-4", "5..3", "sat 01:00 02:00", "abc 1", "*-13-01"] {
            assert!(bad.parse::<CalendarEvent>().is_err(), "{bad} should fail");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn parse_never_panics(text in "[a-z0-9*/.,: -]{0,30}") {
            if let Ok(event) = text.parse::<CalendarEvent>() {
                let _ = event.next_after(Utc::now());
            }
        }

        #[test]
        fn next_is_after_and_matches(h in 0u32..24, m in 0u32..60, secs in 0i64..1_000_000_000) {
            let event: CalendarEvent = format!("{h}:{m:02}").parse().unwrap();
            let after = Utc.timestamp_opt(secs + 1_600_000_000, 0).unwrap();
            let next = event.next_after(after).unwrap();
            prop_assert!(next > after);
            prop_assert!(next - after <= Duration::days(1));
            prop_assert_eq!((next.hour(), next.minute(), next.second()), (h, m, 0));
        }
    }
}
