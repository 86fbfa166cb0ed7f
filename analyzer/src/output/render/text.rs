//! `merge --format text`: `TIMESTAMP | PID | FEATURE | SCENARIO | ACTION | DETAILS`,
//! the Go tracer's line with a PID column, so old grep habits still work.

use std::io::{self, Write};

use state_tracer_format::format_wall_time;

use crate::escape::text;
use crate::input::record::{Rec, RecKind};
use crate::output::render::details_text;

pub fn write_header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "TIMESTAMP | PID | FEATURE | SCENARIO | ACTION | DETAILS"
    )
}

pub fn write_record(rec: &Rec, pid: u32, out: &mut dyn Write) -> io::Result<()> {
    let mut ts = Vec::with_capacity(27);
    format_wall_time(rec.time(), &mut ts);
    let action = if rec.kind == RecKind::Footer {
        "PROCESS_END"
    } else {
        rec.action.as_str()
    };
    out.write_all(&ts)?;
    // Trace-controlled text, shown with control characters escaped.
    let details = details_text(rec);
    writeln!(
        out,
        " | {pid} | {} | {} | {} | {}",
        text(rec.feature().map(|s| &**s).unwrap_or("")),
        text(rec.scenario().map(|s| &**s).unwrap_or("")),
        text(action),
        text(&details),
    )
}
