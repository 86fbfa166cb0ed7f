//! Reader for the Go tracer's text files:
//! `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS`.
//!
//! These files have no header, no run ID, no PID inside (it is in the file
//! name) and zone-less timestamps, so this reader fills the gaps: the caller
//! passes the PID, and [`LegacyTz`] says how to read the times. DETAILS is
//! overloaded (a table, `all_tables`, a schema, a status); it is mapped to
//! the same [`Resource`]s and outcomes a v1 file would carry.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use state_tracer_format::{Action, ActionKind, Outcome, Resource, Scope};

use crate::read::lines::{text_line, LineReader, RawLine, TextLine};
use crate::read::options::{FileEnd, Problems, ReadOptions};
use crate::record::{self, FastMap, FileIdx, Interner, Micros, Rec, RecKind};

pub use super::options::LegacyTz;

/// Converts legacy times to micros, asking the time zone once per hour.
struct Clock {
    tz: LegacyTz,
    /// Naive micros where the hour of `offset_us` starts.
    hour_start: i64,
    offset_us: i64,
}

const HOUR_US: i64 = 3_600_000_000;

impl Clock {
    fn naive_to_utc_micros(&mut self, naive_us: i64) -> Option<Micros> {
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
struct DayCache {
    /// `date` holds a validated date.
    set: bool,
    /// `YYYY-MM-DD` as two little-endian words (compared without a call).
    date: (u64, u16),
    day_us: i64,
    /// `YYYY-MM-DDTHH:MM:SS` of the last timestamp read whole (0s before
    /// the first), and its naive micros: lines come in bursts within one
    /// second, so usually only the fraction is new.
    second: [u8; 19],
    second_us: i64,
}

impl DayCache {
    /// Naive micros of a `YYYY-MM-DDTHH:MM:SS[.f]` timestamp, if it has
    /// exactly that shape (so it is ASCII).
    fn naive_micros(&mut self, b: &[u8]) -> Option<i64> {
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
fn six_digits(b: &[u8]) -> Option<i64> {
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

/// What the text after a line's third `|` (ACTION | DETAILS) means. A file
/// repeats a few dozen such texts, so each is worked out once (see [`Tails`]).
struct Tail {
    action: Action,
    resource: Option<Arc<Resource<'static>>>,
    /// For `SCENARIO_END`: the outcome DETAILS give.
    outcome: Option<Outcome>,
    /// The record's [`record::Extra`], shared by every line with this tail:
    /// for the report (details only where they carry meaning) and in full.
    /// It holds the name of an action this analyzer does not know (read as
    /// `CUSTOM`), a failed scenario's error, and DETAILS (trimmed).
    extra_report: Option<Arc<record::Extra>>,
    extra_full: Option<Arc<record::Extra>>,
}

impl Tail {
    /// `action` is a valid ACTION column, `details` the trimmed DETAILS.
    fn new(action_name: &str, details: &str, interner: &mut Interner) -> Tail {
        let (action, custom) = match action_name.parse::<Action>() {
            Ok(a) => (a, None),
            Err(_) => (Action::Custom, Some(interner.str(action_name))),
        };
        let mut tail = Tail {
            action,
            resource: None,
            outcome: None,
            extra_report: None,
            extra_full: None,
        };
        let mut error: Option<Box<str>> = None;
        if action == Action::ScenarioEnd {
            let word = details
                .split(|c: char| c == ':' || c.is_whitespace())
                .next()
                .unwrap_or("");
            let outcome = word.parse::<Outcome>().unwrap_or(if details.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Failed
            });
            tail.outcome = Some(outcome);
            if outcome == Outcome::Failed && details.len() > word.len() {
                error = Some(details[word.len()..].trim_start_matches([':', ' ']).into());
            }
        } else {
            tail.resource = legacy_resource(action, details).map(|r| interner.resource(r));
        }
        let details: Option<Arc<str>> = (!details.is_empty()).then(|| details.into());
        let extra = |with_details: bool| {
            let x = record::Extra {
                name: custom.clone(),
                error: error.clone(),
                details: details.clone().filter(|_| with_details),
                ..Default::default()
            };
            (x != record::Extra::default()).then(|| Arc::new(x))
        };
        // The report needs details only where they carry meaning (a
        // secret's fingerprint tells a restore from a change).
        let meaningful = matches!(
            action.kind(),
            ActionKind::Schema | ActionKind::Config | ActionKind::Custom | ActionKind::Secret
        );
        tail.extra_report = extra(meaningful);
        tail.extra_full = extra(true);
        tail
    }
}

/// Recent [`Tail`]s by their raw bytes (which were checked to be UTF-8 and a
/// valid ACTION when first seen).
#[derive(Default)]
struct Tails {
    list: Vec<(Box<[u8]>, Tail)>,
    /// [`tail_key`] of each of `list`, compared before the bytes: most
    /// tails of a file have a sibling of the same length (`DB_SELECT |
    /// users`, `DB_INSERT | users`), so a length check alone still left
    /// several byte comparisons per line.
    keys: Vec<u64>,
    hot: usize,
    next: usize,
}

/// A tail's length and last eight bytes (where tables are named) in one
/// word; equal tails have equal keys.
fn tail_key(raw: &[u8]) -> u64 {
    let mut last = [0u8; 8];
    let tail = &raw[raw.len().saturating_sub(8)..];
    last[..tail.len()].copy_from_slice(tail);
    u64::from_le_bytes(last).rotate_left(16) ^ raw.len() as u64
}

/// Distinct tails kept per file (a file has about one per action and table).
const TAILS: usize = 32;

impl Tails {
    /// The index of `raw`'s tail, worked out now if it is new; `None` when
    /// `raw` is not valid UTF-8 or its ACTION is not an action name.
    fn get(&mut self, raw: &[u8], interner: &mut Interner) -> Option<usize> {
        if self.list.get(self.hot).is_some_and(|(k, _)| **k == *raw) {
            return Some(self.hot);
        }
        let key = tail_key(raw);
        if let Some(i) =
            (0..self.keys.len()).find(|&i| self.keys[i] == key && *self.list[i].0 == *raw)
        {
            self.hot = i;
            return Some(i);
        }
        let text = std::str::from_utf8(raw).ok()?;
        // The same split as `columns`: DETAILS keeps any further `|`.
        let (action, details) = match text.split_once('|') {
            Some((a, d)) => (a, d.trim_ascii()),
            None => (text, ""),
        };
        let tail = Tail::new(valid_action(action).ok()?, details, interner);
        let entry = (Box::from(raw), tail);
        let i = if self.list.len() < TAILS {
            self.list.push(entry);
            self.keys.push(key);
            self.list.len() - 1
        } else {
            let i = self.next;
            self.list[i] = entry;
            self.keys[i] = key;
            self.next = (i + 1) % TAILS;
            i
        };
        self.hot = i;
        Some(i)
    }
}

/// The FEATURE and SCENARIO columns of the last line read by
/// [`fast_line`]: `raw` is the line from its first to its third `|`,
/// already checked, so a line continuing the same scenario (most lines)
/// costs one comparison.
#[derive(Default)]
struct Names {
    raw: Vec<u8>,
    /// The names `raw` gives, shared by the records that keep them.
    pair: Option<Arc<record::Names>>,
}

/// The shared names of a line's FEATURE and SCENARIO columns (trimmed; an
/// empty column is absent).
fn column_names(
    interner: &mut Interner,
    feature: &str,
    scenario: &str,
) -> Option<Arc<record::Names>> {
    let mut name = |s: &str| (!s.is_empty()).then(|| interner.str(s));
    let (feature, scenario) = (name(feature), name(scenario));
    interner.names(feature, scenario)
}

/// Reads a line made of parts the parser has already checked on earlier
/// lines (the usual case): the naive time and the index of its tail in
/// `tails`, with its names left in `names`. `None` for anything else,
/// which then takes the general path (it reports problems): a line is
/// accepted here only if that path would accept it with the same result,
/// and every byte of it is known to be UTF-8 (the timestamp was parsed as
/// ASCII, the rest is equal to checked bytes or checked now).
fn fast_line(
    b: &[u8],
    days: &mut DayCache,
    names: &mut Names,
    tails: &mut Tails,
    interner: &mut Interner,
) -> Option<(i64, usize)> {
    // The Go tracer's timestamps are 26 bytes, then ` | `.
    let cut0 = if b.get(27) == Some(&b'|') {
        27
    } else {
        memchr::memchr(b'|', b)?
    };
    let naive_us = days.naive_micros(b[..cut0].trim_ascii())?;
    let rest = &b[cut0..];
    let mid = if !names.raw.is_empty() && rest.starts_with(&names.raw) {
        names.raw.len()
    } else {
        let cut1 = memchr::memchr(b'|', &rest[1..])? + 1;
        let cut2 = memchr::memchr(b'|', &rest[cut1 + 1..])? + cut1 + 1;
        let text = std::str::from_utf8(&rest[..=cut2]).ok()?;
        let (feature, scenario) = (
            text[1..cut1].trim_ascii(),
            text[cut1 + 1..cut2].trim_ascii(),
        );
        names.pair = column_names(interner, feature, scenario);
        names.raw.clear();
        names.raw.extend_from_slice(text.as_bytes());
        cut2 + 1
    };
    let tail = tails.get(&rest[mid..], interner)?;
    Some((naive_us, tail))
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
    super::drain(|batch| parser.fill(opts, problems, batch, 1024), emit);
    parser.end
}

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
    ids: FastMap<(Arc<str>, Arc<str>), u64>,
    last_id: Option<(Arc<str>, Arc<str>, u64)>,
    order: VecDeque<(Arc<str>, Arc<str>)>,
    next_id: u64,
    days: DayCache,
    names: Names,
    tails: Tails,
    /// Off only in tests, to check the fast path against the general one.
    fast: bool,
}

impl<R: BufRead> Parser<R> {
    pub fn new(input: R, file: FileIdx, opts: &ReadOptions) -> Self {
        Parser {
            lines: LineReader::new(input),
            file,
            interner: Interner::default(),
            clock: Clock {
                tz: opts.legacy_tz,
                hour_start: i64::MIN,
                offset_us: 0,
            },
            end: FileEnd::default(),
            ids: FastMap::default(),
            last_id: None,
            order: VecDeque::new(),
            next_id: 0,
            days: DayCache::default(),
            names: Names::default(),
            tails: Tails::default(),
            fast: true,
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
            names,
            tails,
            fast: use_fast,
        } = self;
        let file = *file;
        loop {
            if out.len() >= max {
                return false;
            }
            let Some(line) = lines.next_raw_or_skip(problems) else {
                return true;
            };
            let Some(RawLine {
                no,
                bytes,
                complete,
            }) = line
            else {
                continue;
            };
            let fast = if no == 1 || !*use_fast {
                None // may be a header
            } else {
                fast_line(bytes, days, names, tails, interner)
            };
            // Owned parts of a line the fast path did not take.
            let slow: (Option<Arc<record::Names>>, Tail);
            let (naive_us, pair, tail) = match fast {
                Some((naive_us, i)) => (naive_us, names.pair.as_ref(), &tails.list[i].1),
                None => {
                    let Some(TextLine { no, text, complete }) =
                        text_line(no, bytes, complete, problems)
                    else {
                        continue;
                    };
                    let text = text.trim_end_matches('\r');
                    // A byte order mark or blank lines before the column
                    // line cost nothing.
                    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
                    if end.records == 0 && text.starts_with("TIMESTAMP") {
                        continue;
                    }
                    // `parse_legacy_line`, with the timestamp read by the day
                    // cache (calendar arithmetic only when the date changes).
                    let parsed = columns(text).and_then(|c| {
                        let naive_us = match days.naive_micros(c.ts.as_bytes()) {
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
                    slow = (
                        column_names(interner, parsed.feature, parsed.scenario),
                        Tail::new(action_name, parsed.details, interner),
                    );
                    (naive_us, slow.0.as_ref(), &slow.1)
                }
            };
            let Some(ts) = clock.naive_to_utc_micros(naive_us) else {
                problems.push(
                    no,
                    "local time does not exist (DST gap); line skipped — try --legacy-tz".into(),
                );
                continue;
            };
            let action = tail.action;
            let mut rec = Rec::new(ts, file, no, no, action);
            rec.kind = RecKind::Event;
            rec.extra = if opts.full {
                tail.extra_full.clone()
            } else {
                tail.extra_report.clone()
            };
            let boundary = matches!(action, Action::ScenarioStart | Action::ScenarioEnd);
            let feature = pair.and_then(|p| p.feature.as_ref());
            let scenario = pair.and_then(|p| p.scenario.as_ref());
            if let (Some(f), Some(sc)) = (feature, scenario) {
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
                    rec.set_scenario_id(Some(*next_id));
                } else {
                    // Most lines continue the last scenario: the same shared
                    // names, or at least equal ones.
                    let cached = last_id.as_ref().filter(|(lf, ls, _)| {
                        Arc::ptr_eq(lf, f) && Arc::ptr_eq(ls, sc) || (lf == f && ls == sc)
                    });
                    let id = match cached {
                        Some((_, _, id)) => Some(*id),
                        None => {
                            let id = ids.get(&(f.clone(), sc.clone())).copied();
                            if let Some(id) = id {
                                *last_id = Some((f.clone(), sc.clone(), id));
                            }
                            id
                        }
                    };
                    rec.set_scenario_id(id);
                }
            }
            // The report drops the names of a line inside a known scenario.
            if opts.full || boundary || rec.scenario_id().is_none() {
                rec.names = pair.cloned();
            }
            if action == Action::ScenarioEnd {
                rec.outcome = tail.outcome;
            } else {
                rec.resource = tail.resource.clone();
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
    use chrono::{FixedOffset, Offset, Utc};

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
    /// Records and (line, message) warnings of one read.
    type ReadResult = (Vec<Rec>, Vec<(u64, String)>);

    /// Reads `text` with the fast path on or off.
    fn read_both(text: &[u8], full: bool) -> [ReadResult; 2] {
        [true, false].map(|fast| {
            let opts = ReadOptions {
                legacy_tz: "UTC".parse().unwrap(),
                full,
                ..Default::default()
            };
            let mut problems = Problems::new("t.log".into());
            let mut parser = Parser::new(text, 0, &opts);
            parser.fast = fast;
            let mut recs = Vec::new();
            // Small batches, so the parser also stops and resumes.
            let mut batch = Vec::new();
            while !parser.fill(&opts, &mut problems, &mut batch, 3) {
                recs.append(&mut batch);
            }
            recs.append(&mut batch);
            let warnings = problems.into_warnings();
            (
                recs,
                warnings.into_iter().map(|w| (w.line, w.message)).collect(),
            )
        })
    }

    /// The fast path (parts compared with earlier lines' instead of parsed
    /// again) must read every line exactly as the general path does, and
    /// leave every problem, invalid UTF-8 anywhere in a line included, to it.
    #[test]
    fn the_fast_path_reads_like_the_general_one() {
        let mut text = Vec::new();
        let lines: &[&[u8]] = &[
            b"2026-04-11T10:00:00.000000 | f | s | SCENARIO_START | ",
            b"2026-04-11T10:00:00.000100 | f | s | SCHEMA_SET | p0",
            b"2026-04-11T10:00:00.000200 | f | s | DB_SELECT | users",
            b"2026-04-11T10:00:00.000300 | f | s | DB_SELECT | users",
            b"2026-04-11T10:00:00.000400 | f | s | DB_SELECT | users\r",
            b"2026-04-11T10:00:00.000500 | f | s | DB_INSERT | a.b x | y | z",
            b"2026-04-11T10:00:00.000600 | f\xff | s | DB_SELECT | users",
            b"2026-04-11T10:00:00.000700 | f | s | DB_SELECT | us\xc3rs",
            b"2026-04-11T10:00:00.00080\xff | f | s | DB_SELECT | users",
            b"2026-04-11T10:00:00.000900 | f | s | MY_THING | details",
            b"2026-04-11T10:00:00.001000 | f | s | bad action | users",
            b"2026-04-11T10:00:00.001100 | f | s | DB_SELECT",
            b"2026-04-11T10:00:00.001200 | f | s | TX_BEGIN |",
            b"2026-04-11 10:00:00.0013 | f | s | DB_SELECT | users",
            b"",
            b"   ",
            b"2026-04-11T10:00:00.001400 | f | s",
            b"2026-04-11T10:00:00.001500 | f | s | JWT_RESET | ok",
            b"2026-04-11T10:00:00.001600 | f | s | SCENARIO_END | FAILED: boom | x",
            b"2026-04-11T10:00:00.001700 | f | s | DB_CLEANUP | all_tables",
            b"2026-04-11T10:00:00.001800 |  | s2 | DB_SELECT | users",
            b"2026-04-11T10:00:00.001900 | g | s2 | SCENARIO_START |",
            b"2026-04-11T10:00:00.002000 | g | s2 | DB_DELETE | orders",
            b"2026-04-11T10:00:00.002100 | f | s | DB_SELECT | users",
            b"2026-04-12T00:00:00.000000 | g | s2 | SCENARIO_END | passed",
            b"2026-04-12T00:00:00.000001 | g | s2 | DB_SELECT | u\xc3\xa9",
            b"2026-04-12T00:00:00.000002 | g | s2 | DB_SELECT | u\xc3\xa9",
            b"2026-04-12T00:00:00.000003 | g | s2 | DB_SELECT | users",
        ];
        for line in lines {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        // A last line cut short by a killed writer.
        text.extend_from_slice(b"2026-04-12T00:00:00.000004 | g | s2 | DB_SEL");
        for full in [false, true] {
            let [fast, general] = read_both(&text, full);
            assert_eq!(fast, general, "full: {full}");
            assert_eq!(fast.0.len(), 22, "full: {full}");
            assert!(
                fast.1
                    .iter()
                    .any(|(line, m)| *line == 7 && m.contains("UTF-8")),
                "{:?}",
                fast.1
            );
        }
    }
}
