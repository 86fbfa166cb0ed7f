//! `merge --format jsonl`: each record as a v1 event object (same field
//! names as the trace files) plus `pid` and `process`, so tools that read
//! trace files read merged output too.

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;
use state_tracer_format::{Event, Footer, Record};

use crate::input::record::{Rec, RecKind};

#[derive(Serialize)]
struct Line<'a> {
    pid: u32,
    process: &'a str,
    #[serde(flatten)]
    record: Record<'a>,
}

fn b(s: Option<&std::sync::Arc<str>>) -> Option<Cow<'_, str>> {
    s.map(|s| Cow::Borrowed(&**s))
}

/// The record as a format v1 record, borrowing its strings.
pub fn as_record(rec: &Rec) -> Record<'_> {
    if rec.kind == RecKind::Footer {
        return Record::Footer(Footer {
            seq: rec.seq,
            ts: rec.time(),
            mono_ns: 0,
            records: rec.seq,
            dropped: 0,
        });
    }
    Record::Event(Event {
        seq: rec.seq,
        ts: rec.time(),
        mono_ns: 0,
        tid: u64::from(rec.tid),
        scenario_id: rec.scenario_id(),
        feature: b(rec.feature()),
        scenario: b(rec.scenario()),
        step: rec.step().map(Cow::Borrowed),
        action: rec.action,
        name: rec.name().map(Cow::Borrowed),
        resource: rec.resource.as_deref().cloned(),
        details: rec.details().map(Cow::Borrowed),
        outcome: rec.outcome,
        error: rec.error().map(Cow::Borrowed),
        duration_us: rec.duration_us(),
        rows: rec.rows(),
        fields: rec
            .fields()
            .iter()
            .map(|(k, v)| (Cow::Borrowed(&**k), Cow::Borrowed(&**v)))
            .collect(),
    })
}

pub fn write_record(rec: &Rec, pid: u32, process: &str, out: &mut dyn Write) -> io::Result<()> {
    let line = Line {
        pid,
        process,
        record: as_record(rec),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}
