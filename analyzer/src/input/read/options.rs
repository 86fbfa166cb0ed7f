//! What every reader shares: the options it reads with (among them how
//! zone-less legacy times are read), the capped list of a file's problems,
//! and how the file ended. A module of its own so the readers import it,
//! not the module that dispatches to them.

use std::str::FromStr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, Offset, TimeZone, Utc};

use crate::input::record::Micros;
use crate::model::Warning;

/// How zone-less legacy timestamps are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegacyTz {
    /// The analyzing machine's local time zone (the default: the Go tracer
    /// wrote local time, and is usually analyzed where it ran).
    #[default]
    Local,
    /// A fixed offset such as `UTC` or `+02:00`.
    Fixed(FixedOffset),
}

impl FromStr for LegacyTz {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("local") {
            return Ok(LegacyTz::Local);
        }
        if t.eq_ignore_ascii_case("utc") || t == "Z" || t == "z" {
            return Ok(LegacyTz::Fixed(Utc.fix()));
        }
        let bad =
            || format!("invalid time zone {s:?}: use `local`, `UTC` or an offset like `+02:00`");
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let h: i32 = digits[..2].parse().map_err(|_| bad())?;
        let m: i32 = digits[2..].parse().map_err(|_| bad())?;
        FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            .map(LegacyTz::Fixed)
            .ok_or_else(bad)
    }
}

impl LegacyTz {
    /// Converts a zone-less time; `None` for a local time that does not exist
    /// (skipped by a DST change).
    pub fn to_utc(&self, t: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            LegacyTz::Fixed(off) => off
                .from_local_datetime(&t)
                .single()
                .map(|t| t.with_timezone(&Utc)),
            LegacyTz::Local => Local
                .from_local_datetime(&t)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// What readers keep and how they interpret legacy times.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Keep everything (`merge` prints it); the report drops extra fields.
    pub full: bool,
    pub legacy_tz: LegacyTz,
    /// Bytes read so far, for the progress bar.
    pub progress: Option<Arc<AtomicU64>>,
}

/// How a file ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileEnd {
    /// Events and footers emitted.
    pub records: u64,
    /// A v1 footer was read: the process exited cleanly.
    pub footer: bool,
    pub last_ts: Option<Micros>,
}

/// Per-file problem list with a cap, so a binary file does not produce a
/// million warnings.
#[derive(Debug)]
pub struct Problems {
    file: String,
    list: Vec<Warning>,
    dropped: u64,
}

/// Problems kept per file; the rest are counted.
pub const MAX_PROBLEMS: usize = 20;

impl Problems {
    pub fn new(file: String) -> Self {
        Problems {
            file,
            list: Vec::new(),
            dropped: 0,
        }
    }

    pub fn push(&mut self, line: u64, message: String) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(Warning {
                file: self.file.clone(),
                line,
                message,
            });
        } else {
            self.dropped += 1;
        }
    }

    pub fn into_warnings(mut self) -> Vec<Warning> {
        if self.dropped > 0 {
            self.list.push(Warning {
                file: self.file.clone(),
                line: 0,
                message: format!("{} more problems in this file not shown", self.dropped),
            });
        }
        self.list
    }
}
