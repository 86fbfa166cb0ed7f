//! Reader for format v1 (JSON Lines, see `state_tracer_format`).
//!
//! Parsing borrows from the line buffer; only the strings that survive into
//! a [`Rec`] are copied, and repeated ones are shared via the [`Interner`].

use std::io::BufRead;

use state_tracer_format::{
    parse_wall_time, sniff_header_version, Action, Event, Record, FORMAT_VERSION,
};

use crate::input::read::format::TraceFormat;
use crate::input::read::lines::{LineReader, TextLine};
use crate::input::read::options::{FileEnd, LegacyTz, Problems, ReadOptions};
use crate::input::read::v1_scan::Scanner;
use crate::input::record::{FileIdx, Interner, Rec, RecKind, RowsHint};

/// How the tracer starts every event line.
const EVENT_PREFIX: &str = r#"{"type":"event","#;

/// Turns a parsed event into a record.
pub fn to_rec(e: Event<'_>, file: FileIdx, line: u64, full: bool, interner: &mut Interner) -> Rec {
    let mut rec = Rec::new(e.ts.timestamp_micros(), file, e.seq, line, e.action);
    rec.tid = e.tid.min(u64::from(u16::MAX)) as u16;
    if e.action == Action::DbSelect {
        if let Some(sql) = e.details.as_deref() {
            rec.stmt = crate::input::record::stmt_fingerprint(sql);
        }
    }
    rec.set_scenario_id(e.scenario_id);
    rec.outcome = e.outcome;
    rec.rows_hint = RowsHint::new(e.rows);
    // Inside a scenario the id is enough for the report; names are kept on
    // boundaries (and always for merge).
    let names = full
        || e.scenario_id.is_none()
        || matches!(e.action, Action::ScenarioStart | Action::ScenarioEnd);
    if names {
        let feature = e.feature.map(|s| interner.str(&s));
        let scenario = e.scenario.map(|s| interner.str(&s));
        rec.names = interner.names(feature, scenario);
    }
    rec.resource = e.resource.map(|r| interner.resource(r));
    // The report needs details only where they carry meaning (DDL verbs,
    // config names, a secret's fingerprint, an insert that seeds or
    // overwrites); merge keeps everything.
    let telling_insert = e.action == Action::DbInsert
        && e.details
            .as_deref()
            .is_some_and(|sql| interner.insert_kind(sql) != crate::input::sql::Insert::Plain);
    if full
        || telling_insert
        || matches!(
            e.action,
            Action::DbDdl
                | Action::JwtSet
                | Action::JwtRotate
                | Action::JwtReset
                | Action::ConfigReload
                | Action::Custom
                | Action::SchemaCreate
                | Action::SchemaSet
                | Action::SchemaDrop
        )
    {
        if let Some(d) = e.details {
            rec.extra_mut().details = Some(d.into());
        }
    }
    // How long a destructive statement ran: the analyzer orders it against
    // reads that overlapped it (they are rare, so this costs little).
    let timed_destroy = matches!(
        e.action,
        Action::DbCleanup | Action::DbDelete | Action::DbDdl
    ) && e.duration_us.is_some();
    if e.name.is_some()
        || e.error.is_some()
        || timed_destroy
        || (full
            && (e.step.is_some()
                || e.duration_us.is_some()
                || e.rows.is_some()
                || !e.fields.is_empty()))
    {
        let x = rec.extra_mut();
        x.name = e.name.map(|s| interner.str(&s));
        x.error = e.error.map(|s| s.into());
        if timed_destroy {
            x.duration_us = e.duration_us;
        }
        if full {
            x.step = e.step.map(|s| interner.str(&s));
            x.duration_us = e.duration_us;
            x.rows = e.rows;
            x.fields = e
                .fields
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
        }
    }
    rec
}

/// Streams one v1 file into `emit`.
pub fn read<R: BufRead>(
    input: R,
    file: FileIdx,
    opts: &ReadOptions,
    problems: &mut Problems,
    emit: &mut dyn FnMut(Rec),
) -> FileEnd {
    let mut parser = Parser::new(input, file);
    super::drain(|batch| parser.fill(opts, problems, batch, 1024), emit);
    parser.end
}

/// Format v1 as [`TraceFormat`]: a header naming run, process and command,
/// rows on writes, a footer at a clean exit.
pub struct V1;

impl TraceFormat for V1 {
    fn name(&self) -> &'static str {
        "v1"
    }
    fn title(&self) -> &'static str {
        "JSON lines, format v1"
    }
    fn has_footer(&self) -> bool {
        true
    }
    fn header_label(&self) -> bool {
        true
    }
    fn records_run_id(&self) -> bool {
        true
    }
    fn records_command(&self) -> bool {
        true
    }
    fn records_rows(&self) -> bool {
        true
    }
    fn one_shared_database(&self) -> bool {
        false
    }
    fn failed_scenario_end(&self, line: &[u8], _at: usize) -> bool {
        serde_json::from_slice::<serde_json::Value>(line)
            .is_ok_and(|v| v["action"] == "SCENARIO_END" && v["outcome"] == "FAILED")
    }
    fn line_time(&self, line: &str, _tz: &LegacyTz) -> Option<i64> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let ts = v.get("ts").or_else(|| v.get("start"))?.as_str()?;
        parse_wall_time(ts).map(|t| t.timestamp_micros())
    }
}

/// A v1 reader that can stop after any number of records and resume, so a
/// small pool of threads can take turns on many files.
pub struct Parser<R> {
    lines: LineReader<R>,
    file: FileIdx,
    interner: Interner,
    /// How the file ended (complete once [`Parser::fill`] returned true).
    pub end: FileEnd,
    /// Sequence bookkeeping (lost, duplicated, reordered records).
    seq: super::seq::SeqCheck,
    /// A record was read: a header after this is a second header.
    seen_record: bool,
    /// Fast path for plain event lines (see `v1_scan`).
    scanner: Scanner,
}

impl<R: BufRead> Parser<R> {
    pub fn new(input: R, file: FileIdx) -> Self {
        Parser {
            lines: LineReader::new(input),
            file,
            interner: Interner::default(),
            end: FileEnd::default(),
            seq: super::seq::SeqCheck::default(),
            seen_record: false,
            scanner: Scanner::default(),
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
            end,
            seq,
            seen_record,
            scanner,
        } = self;
        let file = *file;
        loop {
            if out.len() >= max {
                return false;
            }
            // One UTF-8 check per line.
            let Some(line) = lines.next_text_or_skip(problems) else {
                seq.finish(problems);
                return true;
            };
            let Some(TextLine { no, text, complete }) = line else {
                continue;
            };
            // A byte order mark costs nothing but itself (editors add one).
            let text = if *seen_record {
                text
            } else {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            };
            // Fast path: the tracer writes `{"type":"event",…` first, so an
            // event line can go straight into `Event` (which ignores `type`)
            // instead of serde's buffering of internally tagged enums; plain
            // lines (nearly all) skip serde altogether, and whatever the
            // scanner declines gets serde's result and error messages.
            let parsed = if text.starts_with(EVENT_PREFIX) {
                match scanner.event(text) {
                    Some(e) => {
                        // Every test run cross-checks the scanner on every line it reads.
                        debug_assert_eq!(
                            serde_json::from_str::<Event<'_>>(text).ok().as_ref(),
                            Some(&e),
                            "v1 scanner and serde disagree on {text}"
                        );
                        Ok(Record::Event(e))
                    }
                    None => serde_json::from_str::<Event<'_>>(text).map(Record::Event),
                }
            } else {
                Record::parse(text)
            };
            let record =
                match parsed {
                    Ok(r) => r,
                    Err(e) if !complete => {
                        problems.push(
                    no,
                    format!("truncated last line (the process was probably killed mid-write): {e}"),
                );
                        continue;
                    }
                    Err(e) => {
                        problems.push(no, format!("not a valid v1 record: {e}; line skipped"));
                        continue;
                    }
                };
            let first = !std::mem::replace(seen_record, true);
            match record {
                // The header may follow blank or damaged lines.
                Record::Header(_) if first => {}
                Record::Header(_) => {
                    let what = match sniff_header_version(text) {
                        Some(v) if v != u64::from(FORMAT_VERSION) => {
                            format!(" of format version {v}")
                        }
                        _ => String::new(),
                    };
                    problems.push(
                        no,
                        format!("unexpected second header{what} (files concatenated?); ignored"),
                    );
                }
                Record::Event(e) => {
                    if end.footer {
                        problems.push(no, "event after the footer; kept".into());
                    }
                    let rec = to_rec(e, file, no, opts.full, interner);
                    let verdict = seq.see(rec.seq, rec.ts, rec.action.as_str(), no, problems);
                    if verdict == super::seq::Seq::DuplicateLine {
                        continue;
                    }
                    end.records += 1;
                    end.last_ts = Some(rec.ts);
                    out.push(rec);
                }
                Record::Footer(f) => {
                    seq.see_footer(f.seq, no, problems);
                    if f.dropped > 0 {
                        problems.push(
                            no,
                            format!(
                                "the tracer could not write {} records (write errors)",
                                f.dropped
                            ),
                        );
                    }
                    let mut rec =
                        Rec::new(f.ts.timestamp_micros(), file, f.seq, no, Action::ProcessEnd);
                    rec.kind = RecKind::Footer;
                    end.footer = true;
                    end.records += 1;
                    end.last_ts = Some(rec.ts);
                    out.push(rec);
                }
            }
        }
    }
}
