//! Legacy timestamps: zone-less `YYYY-MM-DDTHH:MM:SS.ffffff`, read as
//! naive micros (a line in the same second as the last costs six digits)
//! and turned into UTC through [`LegacyTz`], asked once per hour.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::LegacyTz;
use crate::input::record::Micros;

/// Converts legacy times to micros, asking the time zone once per hour.
pub(super) struct Clock {
    pub(super) tz: LegacyTz,
    /// Naive micros where the hour of `offset_us` starts.
    pub(super) hour_start: i64,
    pub(super) offset_us: i64,
}

pub(super) const HOUR_US: i64 = 3_600_000_000;

impl Clock {
    pub(super) fn naive_to_utc_micros(&mut self, naive_us: i64) -> Option<Micros> {
        // One comparison instead of a division per line.
        if naive_us.wrapping_sub(self.hour_start) as u64 >= HOUR_US as u64 {
            let t = DateTime::from_timestamp_micros(naive_us)?.naive_utc();
            let utc = self.tz.to_utc(t)?;
            self.offset_us = naive_us - utc.timestamp_micros();
            self.hour_start = naive_us.div_euclid(HOUR_US) * HOUR_US;
        }
        Some(naive_us - self.offset_us)
    }
}

/// Remembers the last date seen, so a line of the same day costs a few
/// digit conversions instead of a calendar computation.
#[derive(Default)]
pub(super) struct DayCache {
    /// `date` holds a validated date.
    pub(super) set: bool,
    /// `YYYY-MM-DD` as two little-endian words (compared without a call).
    pub(super) date: (u64, u16),
    pub(super) day_us: i64,
    /// `YYYY-MM-DDTHH:MM:SS` of the last timestamp read whole (0s before
    /// the first), and its naive micros: lines come in bursts within one
    /// second, so usually only the fraction is new.
    pub(super) second: [u8; 19],
    pub(super) second_us: i64,
}

impl DayCache {
    /// Naive micros of a `YYYY-MM-DDTHH:MM:SS[.f]` timestamp, if it has
    /// exactly that shape (so it is ASCII).
    pub(super) fn naive_micros(&mut self, b: &[u8]) -> Option<i64> {
        // The Go tracer's shape, `YYYY-MM-DDTHH:MM:SS.ffffff`, in the same
        // second as the last one.
        if b.len() == 26 && b[19] == b'.' && b.first_chunk::<19>() == Some(&self.second) {
            return six_digits(&b[20..26]).map(|f| self.second_us + f);
        }
        if b.len() < 19 || b[10] != b'T' && b[10] != b' ' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let date = (
            u64::from_le_bytes(b[..8].try_into().ok()?),
            u16::from_le_bytes(b[8..10].try_into().ok()?),
        );
        if !self.set || date != self.date {
            let text = std::str::from_utf8(&b[..10]).ok()?;
            let day = parse_naive(&format!("{text}T00:00:00"))?;
            self.set = true;
            self.date = date;
            self.day_us = day.and_utc().timestamp_micros();
        }
        // Two digits; 100 (out of every range below) if either is not one.
        let d2 = |i: usize| -> i64 {
            let (x, y) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
            if x < 10 && y < 10 {
                i64::from(x * 10 + y)
            } else {
                100
            }
        };
        let (h, m, sec) = (d2(11), d2(14), d2(17));
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        let second_us = self.day_us + ((h * 60 + m) * 60 + sec) * 1_000_000;
        if let Some(head) = b.first_chunk::<19>() {
            self.second = *head;
            self.second_us = second_us;
        }
        let mut micros = 0i64;
        if b.len() > 19 {
            if b[19] != b'.' || b.len() == 20 || b.len() > 29 {
                return None;
            }
            for i in 20..26 {
                let d = match b.get(i) {
                    Some(c) => c.wrapping_sub(b'0'),
                    None => 0,
                };
                if d > 9 {
                    return None;
                }
                micros = micros * 10 + i64::from(d);
            }
            if !b[b.len().min(26)..].iter().all(u8::is_ascii_digit) {
                return None;
            }
        }
        Some(second_us + micros)
    }
}

/// Six ASCII digits as a number, all at once (SWAR); `None` unless every
/// byte is a digit.
pub(super) fn six_digits(b: &[u8]) -> Option<i64> {
    let mut w = [b'0'; 8];
    w[2..].copy_from_slice(b.get(..6)?);
    let v = u64::from_le_bytes(w).wrapping_sub(0x3030_3030_3030_3030);
    // A byte is a digit when neither it nor it + 6 has a bit above 0x0f.
    if (v | v.wrapping_add(0x0606_0606_0606_0606)) & 0xf0f0_f0f0_f0f0_f0f0 != 0 {
        return None;
    }
    // Pairs, then quads, then all eight (little-endian: first digit lowest).
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    let v = (v.wrapping_mul(10_000) + (v >> 32)) & 0xffff_ffff;
    Some(v as i64)
}

/// Parses `2026-04-11T10:10:53.032156` (any fraction, `T` or space).
pub fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':'
        && b[16] == b':'
    {
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let mut v = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u32::from(c - b'0');
            }
            Some(v)
        };
        let mut micros = 0u32;
        if b.len() > 19 {
            if b[19] != b'.' || b.len() == 20 || b.len() > 29 {
                return None;
            }
            let frac = &b[20..];
            if !frac.iter().all(u8::is_ascii_digit) {
                return None;
            }
            for i in 0..6 {
                micros = micros * 10 + frac.get(i).map_or(0, |c| u32::from(c - b'0'));
            }
        }
        let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
        return date.and_hms_micro_opt(num(11..13)?, num(14..16)?, num(17..19)?, micros);
    }
    None
}

pub(super) fn bad_timestamp(ts: &str) -> String {
    format!("invalid timestamp {ts:?} (expected e.g. 2026-04-11T10:10:53.032156)")
}
