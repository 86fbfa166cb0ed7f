//! Reader for the Go tracer's text files:
//! `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS`.
//!
//! These files have no header, no run ID, no PID inside (it is in the file
//! name) and zone-less timestamps, so this reader fills the gaps: the caller
//! passes the PID, and [`LegacyTz`] says how to read the times. DETAILS is
//! overloaded (a table, `all_tables`, a schema, a status); it is mapped to
//! the same [`Resource`](state_tracer_format::Resource)s and outcomes a v1
//! file would carry.
//!
//! The parts: `time` reads the timestamps, `line` splits and checks a
//! line's columns, `tail` works out what ACTION | DETAILS mean; this file
//! is the parser, with its fast path for lines made of parts already seen.

mod line;
mod tail;
mod time;

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;

use state_tracer_format::Action;

use crate::input::read::format::TraceFormat;
use crate::input::read::lines::{text_line, LineReader, RawLine, TextLine};
use crate::input::read::options::{FileEnd, Problems, ReadOptions};
use crate::input::record::{self, FastMap, FileIdx, Interner, Rec, RecKind};

pub use super::options::LegacyTz;
use line::{columns, valid_action};
pub use line::{parse_legacy_line, LegacyLine};
use tail::{Tail, Tails};
pub use time::parse_naive;
use time::{bad_timestamp, Clock, DayCache};

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

/// The Go text format as [`TraceFormat`]: no header, footer, run id or
/// row counts; its model is one database every process shares.
pub struct Legacy;

impl TraceFormat for Legacy {
    fn name(&self) -> &'static str {
        "legacy"
    }
    fn title(&self) -> &'static str {
        "Go text format"
    }
    fn has_footer(&self) -> bool {
        false
    }
    fn header_label(&self) -> bool {
        false
    }
    fn records_run_id(&self) -> bool {
        false
    }
    fn records_command(&self) -> bool {
        false
    }
    fn records_rows(&self) -> bool {
        false
    }
    fn one_shared_database(&self) -> bool {
        true
    }
    // `TS | FEATURE | SCENARIO | SCENARIO_END | FAILED: why | …`
    fn failed_scenario_end(&self, line: &[u8], at: usize) -> bool {
        line[at + b"SCENARIO_END".len()..]
            .strip_prefix(b" | ")
            .is_some_and(|rest| rest.starts_with(b"FAILED"))
    }
    fn line_time(&self, line: &str, tz: &LegacyTz) -> Option<i64> {
        let l = parse_legacy_line(line, tz).ok()?;
        tz.to_utc(l.ts).map(|t| t.timestamp_micros())
    }
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
