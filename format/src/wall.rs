//! Wall times in the one shape the format writes (RFC 3339, UTC, six
//! fractional digits, `Z`), and the tolerant parser readers use.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use serde::Deserialize;

/// Formats a wall time as the format requires: RFC 3339, UTC, exactly six
/// fractional digits, `Z` suffix (`2026-04-11T10:10:53.032156Z`).
///
/// Hand-written because it sits on the tracer's hot path.
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
    parse_fixed(s.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

fn parse_fixed(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 27 || b[26] != b'Z' || b[19] != b'.' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[range] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        Some(v)
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps
        .iter()
        .any(|&(i, c)| b[i] != c && !(i == 10 && b[i] == b't'))
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = date.and_hms_micro_opt(num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?)?;
    Some(Utc.from_utc_datetime(&time))
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
