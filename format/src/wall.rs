//! Wall times in the one shape the format writes (RFC 3339, UTC, six
//! fractional digits, `Z`), and the one parser readers use: exact for that
//! shape and cheap on it (a reader meets it on every line), tolerant of any
//! other RFC 3339 time.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::Deserialize;

/// Formats a wall time as the format requires: RFC 3339, UTC, exactly six
/// fractional digits, `Z` suffix (`2026-04-11T10:10:53.032156Z`).
///
/// Hand-written because it sits on the tracer's hot path; `#[inline]` so a
/// build without LTO inlines it across the crate boundary as it did when
/// the format was a module of the tracer.
#[inline]
pub fn format_wall_time(t: DateTime<Utc>, out: &mut Vec<u8>) {
    fn digits(out: &mut Vec<u8>, value: u32, width: usize) {
        let mut buf = [b'0'; 10];
        let mut v = value;
        for slot in buf[..width].iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&buf[..width]);
    }
    let year = t.year().clamp(0, 9999) as u32;
    digits(out, year, 4);
    out.push(b'-');
    digits(out, t.month(), 2);
    out.push(b'-');
    digits(out, t.day(), 2);
    out.push(b'T');
    digits(out, t.hour(), 2);
    out.push(b':');
    digits(out, t.minute(), 2);
    out.push(b':');
    digits(out, t.second(), 2);
    out.push(b'.');
    // Leap seconds show up as nanosecond >= 1e9; fold them into .999999.
    digits(out, (t.nanosecond() / 1000).min(999_999), 6);
    out.push(b'Z');
}

/// `format_wall_time` as a `String`.
pub fn wall_time_string(t: DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(27);
    format_wall_time(t, &mut out);
    String::from_utf8(out).expect("ascii")
}

/// Parses an RFC 3339 time. The writer's exact shape
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) takes a fast path; any other valid RFC 3339
/// time (other precision, numeric offset) is accepted too.
pub fn parse_wall_time(s: &str) -> Option<DateTime<Utc>> {
    WallTimeParser::default().parse(s)
}

/// [`parse_wall_time`] for a reader that parses many times in a row: it
/// remembers the date of the last one (within a file it rarely changes), so
/// a time in the writer's shape then costs a few digit conversions.
#[derive(Debug, Clone, Default)]
pub struct WallTimeParser {
    /// The last `YYYY-MM-DD` in the writer's shape and its date.
    day: Option<([u8; 10], NaiveDate)>,
}

impl WallTimeParser {
    /// The same result as [`parse_wall_time`].
    #[inline]
    pub fn parse(&mut self, s: &str) -> Option<DateTime<Utc>> {
        self.fixed(s.as_bytes()).or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
    }

    /// The writer's shape; `None` sends the time to chrono's parser.
    #[inline]
    fn fixed(&mut self, b: &[u8]) -> Option<DateTime<Utc>> {
        let b: &[u8; 27] = b.try_into().ok()?;
        if !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'.'
            || b[26] != b'Z'
        {
            return None;
        }
        let day = b.first_chunk::<10>()?;
        let date = match self.day {
            Some((cached, date)) if cached == *day => date,
            _ => {
                if b[4] != b'-' || b[7] != b'-' {
                    return None;
                }
                let date = NaiveDate::from_ymd_opt(
                    digits(&b[0..4])? as i32,
                    digits(&b[5..7])?,
                    digits(&b[8..10])?,
                )?;
                self.day = Some((*day, date));
                date
            }
        };
        let (h, m, s) = (
            digits(&b[11..13])?,
            digits(&b[14..16])?,
            digits(&b[17..19])?,
        );
        if h >= 24 || m >= 60 || s >= 60 {
            return None;
        }
        let time = NaiveTime::from_num_seconds_from_midnight_opt(
            (h * 60 + m) * 60 + s,
            digits(&b[20..26])? * 1000,
        )?;
        Some(NaiveDateTime::new(date, time).and_utc())
    }
}

/// The decimal value of ASCII digits (at most 9 of them).
#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
    })
}

/// serde adapter for wall times in the documented shape.
pub mod wall_time {
    use super::*;
    use serde::{de::Error, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&wall_time_string(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw: Cow<'de, str> = Deserialize::deserialize(d)?;
        parse_wall_time(&raw)
            .ok_or_else(|| D::Error::custom(format!("invalid RFC 3339 time {raw:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cached date never leaks into the next time: every time parses
    /// as chrono parses it, whatever was parsed before.
    #[test]
    fn the_remembered_date_changes_nothing() {
        let times = [
            "2026-04-11T10:10:53.032156Z",
            "2026-04-11T23:59:59.999999Z",
            "2026-04-12T00:00:00.000000Z",
            "2026-04-11t10:10:53.032156Z",
            "2026-04-11T24:00:00.000000Z",
            "2026-04-11T10:60:00.000000Z",
            "2026-04-11T10:10:60.000000Z",
            "2026-02-30T10:10:53.032156Z",
            "2026-04-11T10:10:53.03215xZ",
            "2026-04-11T10:10:53.032156z",
            "2026-04-11T10:10:53.032156+02:00",
            "2026-04-11T10:10:53Z",
            "2026-04-11T10:10:53.5Z",
            "2026-04-11 10:10:53.032156Z",
            "2026/04/11T10:10:53.032156Z",
            "+2026-04-11T10:10:53.03215Z",
        ];
        let mut cached = WallTimeParser::default();
        for round in 0..2 {
            for t in times {
                let want = DateTime::parse_from_rfc3339(t)
                    .ok()
                    .map(|t| t.with_timezone(&Utc));
                assert_eq!(cached.parse(t), want, "{t} (round {round})");
                assert_eq!(parse_wall_time(t), want, "{t}");
            }
        }
    }
}
