//! Reader for the Go tracer's text files:
//! `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS`.
//!
//! These files have no header, no run ID, no PID inside (it is in the file
//! name) and zone-less timestamps, so this reader fills the gaps: the caller
//! passes the PID, and [`LegacyTz`] says how to read the times. DETAILS is
//! overloaded (a table, `all_tables`, a schema, a status); it is mapped to
//! the same [`Resource`]s and outcomes a v1 file would carry.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use state_tracer::format::{Action, ActionKind, Outcome, Resource, Scope};

use crate::read::lines::{LineReader, TextLine};
use crate::read::{FileEnd, Problems, ReadOptions};
use crate::record::{FileIdx, Interner, Micros, Rec, RecKind};

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

/// Converts legacy times to micros, asking the time zone once per hour.
struct Clock {
    tz: LegacyTz,
    hour: i64,
    offset_us: i64,
}

impl Clock {
    fn naive_to_utc_micros(&mut self, naive_us: i64) -> Option<Micros> {
        let hour = naive_us.div_euclid(3_600_000_000);
        if hour != self.hour {
            let t = DateTime::from_timestamp_micros(naive_us)?.naive_utc();
            let utc = self.tz.to_utc(t)?;
            self.offset_us = naive_us - utc.timestamp_micros();
            self.hour = hour;
        }
        Some(naive_us - self.offset_us)
    }
}

/// Remembers the last date seen, so a line of the same day costs a few
/// digit conversions instead of a calendar computation.
#[derive(Default)]
struct DayCache {
    /// `date` holds a validated date.
    set: bool,
    date: [u8; 10],
    day_us: i64,
}

impl DayCache {
    /// Naive micros of a `YYYY-MM-DDTHH:MM:SS[.f]` timestamp, if it has
    /// exactly that shape.
    fn naive_micros(&mut self, s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if b.len() < 19 || b[10] != b'T' && b[10] != b' ' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        if !self.set || b[..10] != self.date {
            let date = parse_naive(&format!("{}T00:00:00", &s[..10]))?;
            self.set = true;
            self.date.copy_from_slice(&b[..10]);
            self.day_us = date.and_utc().timestamp_micros();
        }
        let d = |i: usize| -> Option<i64> { b[i].is_ascii_digit().then(|| i64::from(b[i] - b'0')) };
        let (h, m, sec) = (
            d(11)? * 10 + d(12)?,
            d(14)? * 10 + d(15)?,
            d(17)? * 10 + d(18)?,
        );
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        let mut micros = 0i64;
        if b.len() > 19 {
            if b[19] != b'.' || b.len() == 20 || b.len() > 29 {
                return None;
            }
            for i in 0..6 {
                micros = micros * 10 + if 20 + i < b.len() { d(20 + i)? } else { 0 };
            }
            for i in 26..b.len() {
                d(i)?;
            }
        }
        Some(self.day_us + ((h * 60 + m) * 60 + sec) * 1_000_000 + micros)
    }
}

/// One parsed legacy line, borrowing from the text.
#[derive(Debug, PartialEq)]
pub struct LegacyLine<'a> {
    /// The TIMESTAMP column, validated by [`parse_naive`].
    pub ts: NaiveDateTime,
    pub ts_text: &'a str,
    pub feature: &'a str,
    pub scenario: &'a str,
    pub action: &'a str,
    pub details: &'a str,
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

/// The five columns of a legacy line, unvalidated.
struct Columns<'a> {
    ts: &'a str,
    feature: &'a str,
    scenario: &'a str,
    action: &'a str,
    details: &'a str,
}

fn columns(line: &str) -> Result<Columns<'_>, String> {
    // Four `|` separate five columns; DETAILS keeps any further `|`.
    let b = line.as_bytes();
    let mut cuts = [0usize; 4];
    let mut found = 0;
    for (i, pos) in memchr::memchr_iter(b'|', b).take(4).enumerate() {
        cuts[i] = pos;
        found = i + 1;
    }
    if found < 3 {
        return Err("expected `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS`".into());
    }
    // `|` is ASCII, so every cut is a char boundary.
    let (action, details) = if found == 4 {
        (
            &line[cuts[2] + 1..cuts[3]],
            line[cuts[3] + 1..].trim_ascii(),
        )
    } else {
        (&line[cuts[2] + 1..], "")
    };
    Ok(Columns {
        ts: line[..cuts[0]].trim_ascii(),
        feature: line[cuts[0] + 1..cuts[1]].trim_ascii(),
        scenario: line[cuts[1] + 1..cuts[2]].trim_ascii(),
        action,
        details,
    })
}

fn bad_timestamp(ts: &str) -> String {
    format!("invalid timestamp {ts:?} (expected e.g. 2026-04-11T10:10:53.032156)")
}

/// The ACTION column, trimmed, if it is an action name.
fn valid_action(action: &str) -> Result<&str, String> {
    let action = action.trim_ascii();
    if action.is_empty()
        || !action
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
    {
        return Err(format!("invalid action {action:?}"));
    }
    Ok(action)
}

/// Splits and validates one line. The `tz` is unused here but kept in the
/// signature so recognisers and readers agree on what parses.
pub fn parse_legacy_line<'a>(line: &'a str, _tz: &LegacyTz) -> Result<LegacyLine<'a>, String> {
    let c = columns(line)?;
    let ts = parse_naive(c.ts).ok_or_else(|| bad_timestamp(c.ts))?;
    Ok(LegacyLine {
        ts,
        ts_text: c.ts,
        feature: c.feature,
        scenario: c.scenario,
        action: valid_action(c.action)?,
        details: c.details,
    })
}

/// The resource a legacy DETAILS column names for this action.
fn legacy_resource(action: Action, details: &str) -> Option<Resource<'_>> {
    let first = details.split_whitespace().next().unwrap_or("");
    match action.kind() {
        ActionKind::Cleanup | ActionKind::Read | ActionKind::Write => {
            let (schema, table) = match first.split_once('.') {
                Some((s, t)) => (Some(s), t),
                None => (None, first),
            };
            let all = table.is_empty() || table.eq_ignore_ascii_case("all_tables") || table == "*";
            Some(Resource {
                scope: Scope::Shared,
                db: None,
                schema: schema.map(Into::into),
                tables: if all { Vec::new() } else { vec![table.into()] },
                name: None,
            })
        }
        ActionKind::Schema if action != Action::DbDdl => (!first.is_empty()).then(|| Resource {
            scope: Scope::Shared,
            db: None,
            schema: Some(first.into()),
            tables: Vec::new(),
            name: None,
        }),
        ActionKind::Secret => Some(Resource::process("jwt_secret")),
        ActionKind::Config => Some(Resource::process("config")),
        _ => None,
    }
}

/// Streams one legacy file into `emit`.
pub fn read<R: BufRead>(
    input: R,
    file: FileIdx,
    opts: &ReadOptions,
    problems: &mut Problems,
    emit: &mut dyn FnMut(Rec),
) -> FileEnd {
    let mut parser = Parser::new(input, file, opts);
    let mut batch = Vec::with_capacity(1024);
    loop {
        let done = parser.fill(opts, problems, &mut batch, 1024);
        batch.drain(..).for_each(&mut *emit);
        if done {
            return parser.end;
        }
    }
}

/// Cached resource per DETAILS text.
type ResCache = Vec<(ActionKind, Box<str>, Option<Arc<Resource<'static>>>)>;

/// A legacy reader that can stop after any number of records and resume,
/// so a small pool of threads can take turns on many files.
pub struct Parser<R> {
    lines: LineReader<R>,
    file: FileIdx,
    interner: Interner,
    clock: Clock,
    /// How the file ended (complete once [`Parser::fill`] returned true).
    pub end: FileEnd,
    // Legacy lines name their scenario; give each started instance an id
    // so later lines (after-hooks included) are attributed cheaply.
    ids: HashMap<(Arc<str>, Arc<str>), u64>,
    last_id: Option<(Arc<str>, Arc<str>, u64)>,
    order: VecDeque<(Arc<str>, Arc<str>)>,
    next_id: u64,
    days: DayCache,
    // DETAILS text -> resource, for the few distinct values a file repeats.
    res_cache: ResCache,
}

impl<R: BufRead> Parser<R> {
    pub fn new(input: R, file: FileIdx, opts: &ReadOptions) -> Self {
        Parser {
            lines: LineReader::new(input),
            file,
            interner: Interner::default(),
            clock: Clock {
                tz: opts.legacy_tz,
                hour: i64::MIN,
                offset_us: 0,
            },
            end: FileEnd::default(),
            ids: HashMap::new(),
            last_id: None,
            order: VecDeque::new(),
            next_id: 0,
            days: DayCache::default(),
            res_cache: Vec::new(),
        }
    }

    /// Appends records to `out` until it holds `max`; true at end of file.
    pub fn fill(
        &mut self,
        opts: &ReadOptions,
        problems: &mut Problems,
        out: &mut Vec<Rec>,
        max: usize,
    ) -> bool {
        let Parser {
            lines,
            file,
            interner,
            clock,
            end,
            ids,
            last_id,
            order,
            next_id,
            days,
            res_cache,
        } = self;
        let file = *file;
        loop {
            if out.len() >= max {
                return false;
            }
            let Some(line) = lines.next_text_or_skip(problems) else {
                return true;
            };
            let Some(TextLine { no, text, complete }) = line else {
                continue;
            };
            let text = text.trim_end_matches('\r');
            if no == 1 && text.starts_with("TIMESTAMP") {
                continue;
            }
            // `parse_legacy_line`, with the timestamp read by the day cache
            // (calendar arithmetic only when the date changes).
            let parsed = columns(text).and_then(|c| {
                let naive_us = match days.naive_micros(c.ts) {
                    Some(us) => us,
                    None => parse_naive(c.ts)
                        .ok_or_else(|| bad_timestamp(c.ts))?
                        .and_utc()
                        .timestamp_micros(),
                };
                Ok((valid_action(c.action)?, naive_us, c))
            });
            let (action_name, naive_us, parsed) = match parsed {
                Ok(p) => p,
                Err(e) if !complete => {
                    problems.push(
                        no,
                        format!(
                            "truncated last line (the process was probably killed mid-write): {e}"
                        ),
                    );
                    continue;
                }
                Err(e) => {
                    problems.push(no, format!("{e}; line skipped"));
                    continue;
                }
            };
            let Some(ts) = clock.naive_to_utc_micros(naive_us) else {
                problems.push(
                    no,
                    "local time does not exist (DST gap); line skipped — try --legacy-tz".into(),
                );
                continue;
            };
            let (action, custom) = match action_name.parse::<Action>() {
                Ok(a) => (a, None),
                Err(_) => (Action::Custom, Some(action_name)),
            };
            let mut rec = Rec::new(ts, file, no, no, action);
            rec.kind = RecKind::Event;
            // The report drops the names of a line inside a known scenario:
            // most lines continue the last scenario, so compare the text and
            // skip the interning.
            let same = if opts.full || matches!(action, Action::ScenarioStart | Action::ScenarioEnd)
            {
                None
            } else {
                last_id
                    .as_ref()
                    .filter(|(lf, ls, _)| {
                        !parsed.feature.is_empty()
                            && **lf == *parsed.feature
                            && **ls == *parsed.scenario
                    })
                    .map(|l| l.2)
            };
            if same.is_none() {
                if !parsed.feature.is_empty() {
                    rec.feature = Some(interner.str(parsed.feature));
                }
                if !parsed.scenario.is_empty() {
                    rec.scenario = Some(interner.str(parsed.scenario));
                }
            }
            rec.scenario_id = same;
            if let Some(name) = custom {
                rec.extra_mut().name = Some(interner.str(name));
            }
            if let (Some(f), Some(sc)) = (&rec.feature, &rec.scenario) {
                if action == Action::ScenarioStart {
                    *next_id += 1;
                    ids.insert((f.clone(), sc.clone()), *next_id);
                    // Keep recent scenarios only (after-hooks come right after
                    // their scenario), so memory does not grow with the run.
                    order.push_back((f.clone(), sc.clone()));
                    if order.len() > 256 {
                        if let Some(old) = order.pop_front() {
                            if ids.get(&old).is_some_and(|&id| id + 256 <= *next_id) {
                                ids.remove(&old);
                            }
                        }
                    }
                    *last_id = Some((f.clone(), sc.clone(), *next_id));
                    rec.scenario_id = Some(*next_id);
                } else {
                    let cached = last_id
                        .as_ref()
                        .filter(|(lf, ls, _)| Arc::ptr_eq(lf, f) && Arc::ptr_eq(ls, sc));
                    rec.scenario_id = match cached {
                        Some((_, _, id)) => Some(*id),
                        None => {
                            let id = ids.get(&(f.clone(), sc.clone())).copied();
                            if let Some(id) = id {
                                *last_id = Some((f.clone(), sc.clone(), id));
                            }
                            id
                        }
                    };
                }
            }
            if action == Action::ScenarioEnd {
                let word = parsed
                    .details
                    .split(|c: char| c == ':' || c.is_whitespace())
                    .next()
                    .unwrap_or("");
                rec.outcome = Some(word.parse::<Outcome>().unwrap_or(
                    if parsed.details.is_empty() {
                        Outcome::Passed
                    } else {
                        Outcome::Failed
                    },
                ));
                if rec.outcome == Some(Outcome::Failed) && parsed.details.len() > word.len() {
                    rec.extra_mut().error = Some(
                        parsed.details[word.len()..]
                            .trim_start_matches([':', ' '])
                            .into(),
                    );
                }
            } else {
                let kind = action.kind();
                let hit = res_cache
                    .iter()
                    .find(|(k, d, _)| *k == kind && **d == *parsed.details)
                    .map(|c| c.2.clone());
                rec.resource = match hit {
                    Some(r) => r,
                    None => {
                        let r =
                            legacy_resource(action, parsed.details).map(|r| interner.resource(r));
                        if res_cache.len() >= 16 {
                            res_cache.remove(0);
                        }
                        res_cache.push((kind, parsed.details.into(), r.clone()));
                        r
                    }
                };
            }
            let meaningful = matches!(
                action.kind(),
                ActionKind::Schema | ActionKind::Config | ActionKind::Custom
            );
            if !parsed.details.is_empty() && (opts.full || meaningful) {
                rec.details = Some(parsed.details.into());
            }
            if !opts.full
                && rec.scenario_id.is_some()
                && !matches!(action, Action::ScenarioStart | Action::ScenarioEnd)
            {
                rec.feature = None;
                rec.scenario = None;
            }
            end.records += 1;
            end.last_ts = Some(ts);
            out.push(rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_parse() {
        assert_eq!(
            "UTC".parse::<LegacyTz>().unwrap(),
            LegacyTz::Fixed(Utc.fix())
        );
        assert_eq!(
            "+02:00".parse::<LegacyTz>().unwrap(),
            LegacyTz::Fixed(FixedOffset::east_opt(7200).unwrap())
        );
        assert_eq!(
            "-0530".parse::<LegacyTz>().unwrap(),
            LegacyTz::Fixed(FixedOffset::west_opt(19800).unwrap())
        );
        assert!("Mars/Olympus".parse::<LegacyTz>().is_err());
    }

    #[test]
    fn fractions_of_any_length_parse() {
        let t = parse_naive("2026-04-11T10:10:53.5").unwrap();
        assert_eq!(t.and_utc().timestamp_subsec_micros(), 500_000);
        assert!(parse_naive("2026-04-11T10:10:53.").is_none());
        assert!(parse_naive("2026-04-11 10:10:53").is_some());
    }

    /// The reader's day-cache path must accept exactly what
    /// `parse_legacy_line` accepts, with the same times and messages.
    #[test]
    fn the_reader_reads_timestamps_like_parse_legacy_line() {
        let lines = [
            // First, before the day cache holds a date: not a time.
            "\0\0\0\0\0\0\0\0\0\0T10:10:53 | F | S | DB_SELECT | users",
            "2026-04-11T10:10:53.032156 | F | S | DB_SELECT | users",
            "2026-04-11T10:10:54 | F | S | DB_SELECT | users",
            "2026-04-11 23:59:59.9 | F | S | DB_SELECT | users",
            "2026-04-12T00:00:00.000001 | F | S | DB_SELECT | users",
            "2026-04-12T24:00:00 | F | S | DB_SELECT | users",
            "2026-04-12T10:61:00 | F | S | DB_SELECT | users",
            "2026-02-30T10:10:10 | F | S | DB_SELECT | users",
            "2026-04-12T10:10:10.1234567890 | F | S | DB_SELECT | users",
            "2026-04-12T10:10:10.12a | F | S | DB_SELECT | users",
            "2026-04-12T10:10:10 | F | S | bad action | users",
            "garbage | F | S | DB_SELECT | users",
        ];
        let tz: LegacyTz = "UTC".parse().unwrap();
        let text = lines.join("\n") + "\n";
        let opts = ReadOptions {
            legacy_tz: tz,
            ..Default::default()
        };
        let mut problems = Problems::new("t.log".into());
        let mut got = Vec::new();
        read(text.as_bytes(), 0, &opts, &mut problems, &mut |r| {
            got.push((r.line, r.ts))
        });
        let warnings = problems.into_warnings();
        let mut want = Vec::new();
        let mut want_warnings = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let no = i as u64 + 1;
            match parse_legacy_line(line, &tz) {
                Ok(l) => want.push((no as u32, l.ts.and_utc().timestamp_micros())),
                Err(e) => want_warnings.push((no, format!("{e}; line skipped"))),
            }
        }
        assert_eq!(got, want);
        let got_warnings: Vec<_> = warnings.into_iter().map(|w| (w.line, w.message)).collect();
        assert_eq!(got_warnings, want_warnings);
        assert_eq!(want.len(), 4, "four lines are valid");
    }
}
