//! Output formats, one file each. `merge` formats write one record at a
//! time (streaming); `report` formats write a finished [`Report`].
//!
//! Adding a format = a variant in [`MergeFormat`] or [`ReportFormat`], a file
//! here, and one arm in [`write_report`] (or [`RecordWriter::new`]).

pub(crate) mod csv;
pub mod html;
pub(crate) mod json;
pub(crate) mod jsonl;
pub(crate) mod markdown;
pub(crate) mod table;
pub(crate) mod text;
pub(crate) mod triage;

use std::io::{self, Write};

use crate::input::discover::SourceFile;
use crate::input::record::Rec;
use crate::model::{Report, Timeline};

/// `merge --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MergeFormat {
    /// One line per record, like the Go tracer's lines plus a PID column.
    Text,
    /// One JSON object per record (v1 event fields plus `pid` and `process`).
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

/// `report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Human-readable tables (coloured on a terminal unless NO_COLOR).
    Table,
    /// The stable JSON contract.
    Json,
    /// Markdown, for CI job summaries.
    Markdown,
    /// One row per finding.
    Csv,
    /// Self-contained HTML timeline (use with -o report.html).
    Html,
}

impl ReportFormat {
    /// Whether this format draws the timeline (then the analysis collects it).
    pub fn needs_timeline(self) -> bool {
        matches!(self, ReportFormat::Html)
    }
}

/// How to render a report.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// ANSI colours (table only).
    pub color: bool,
    /// Table width when not on a terminal.
    pub width: Option<u16>,
    /// Table: also list every finding (`--verbose`).
    pub verbose: bool,
}

/// Writes a report in the chosen format.
pub fn write_report(
    format: ReportFormat,
    report: &Report,
    timeline: Option<&Timeline>,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let _ = timeline;
    // Text formats get a copy with control characters escaped (see
    // `escape`); JSON and HTML encode the values themselves.
    let escaped = || crate::escape::report(report, crate::escape::text);
    match format {
        ReportFormat::Table => table::write(&escaped(), opts, out),
        ReportFormat::Json => json::write(report, out),
        ReportFormat::Markdown => markdown::write(&escaped(), out),
        ReportFormat::Csv => csv::write_report(&escaped(), out),
        ReportFormat::Html => {
            html::write_report(report, timeline.unwrap_or(&Timeline::default()), out)
        }
    }
}

/// Streams merged records in one format.
pub struct RecordWriter<'a> {
    format: MergeFormat,
    files: &'a [SourceFile],
    labels: Vec<String>,
}

impl<'a> RecordWriter<'a> {
    pub fn new(format: MergeFormat, files: &'a [SourceFile]) -> Self {
        RecordWriter {
            format,
            files,
            labels: files.iter().map(|f| f.label.clone()).collect(),
        }
    }

    /// Header line, if the format has one.
    pub fn begin(&self, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            MergeFormat::Csv => csv::write_merge_header(out),
            MergeFormat::Text => text::write_header(out),
            MergeFormat::Jsonl => Ok(()),
        }
    }

    pub fn write(&mut self, rec: &Rec, out: &mut dyn Write) -> io::Result<()> {
        let f = &self.files[rec.file as usize];
        // Legacy processes are labelled by their first feature.
        if self.labels[rec.file as usize].starts_with("pid ") {
            if let Some(feature) = rec.feature() {
                self.labels[rec.file as usize] = feature.to_string();
            }
        }
        let label = &self.labels[rec.file as usize];
        match self.format {
            MergeFormat::Text => text::write_record(rec, f.pid, out),
            MergeFormat::Jsonl => jsonl::write_record(rec, f.pid, label, out),
            MergeFormat::Csv => csv::write_merge_record(rec, f.pid, label, out),
        }
    }
}

/// The DETAILS column of text and CSV output: outcome for ends, resource
/// and details for actions.
pub fn details_text(rec: &Rec) -> String {
    use std::fmt::Write as _;
    if rec.kind == crate::input::record::RecKind::Footer {
        return "footer (clean exit)".into();
    }
    // Parts separated by one space, written in place (this runs per record).
    let mut out = String::new();
    let sep = |out: &mut String| {
        if !out.is_empty() {
            out.push(' ');
        }
    };
    let texts = [rec.outcome.map(|o| o.as_str()), rec.error(), rec.name()];
    for t in texts.into_iter().flatten() {
        sep(&mut out);
        out.push_str(t);
    }
    if let Some(r) = &rec.resource {
        sep(&mut out);
        let _ = write!(out, "{r}");
    }
    if let Some(d) = rec.details() {
        sep(&mut out);
        out.push_str(d);
    }
    for (k, v) in rec.fields() {
        sep(&mut out);
        let _ = write!(out, "{k}={v}");
    }
    out
}

/// Finding victim/polluter as one short cell.
pub fn who(s: Option<&crate::model::ScenarioRef>) -> String {
    match s {
        None => "-".into(),
        Some(s) => format!("{}: {} (pid {})", s.feature, s.scenario, s.pid),
    }
}

/// `high (DB_CLEANUP inside the victim's window: …)`, for pollution findings.
pub fn confidence_text(f: &crate::model::Finding) -> Option<String> {
    let c = f.confidence?;
    Some(match &f.why {
        Some(why) => format!("{c} ({why})"),
        None => c.to_string(),
    })
}
