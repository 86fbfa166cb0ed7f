//! `export`: the run in other tools' formats. Today, Chrome Trace Event
//! JSON for Perfetto UI and `chrome://tracing` ([`chrome`]).
//!
//! The subcommand's arguments and runner live here so the CLI only
//! dispatches to them.

pub mod chrome;

use std::io::{self, BufWriter, Write};

use clap::{Args, ValueEnum};

use crate::cli::{InputArgs, EXIT_ERROR, EXIT_OK};
use crate::render::html::TimelineView;
use crate::{analyze, AnalyzeOptions};

/// `export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Chrome Trace Event JSON: open in ui.perfetto.dev or chrome://tracing.
    Chrome,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, value_enum, default_value_t = ExportFormat::Chrome)]
    pub format: ExportFormat,
}

/// Runs `export`; returns the exit code (0 written, 2 nothing to export or
/// input warnings with `--strict`).
pub fn run(a: ExportArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let analysis = analyze(&AnalyzeOptions {
        inputs: a.input.inputs.clone(),
        run: a.input.run.clone(),
        legacy_tz: a.input.legacy_tz,
        timeline: true,
        progress: true,
        ..AnalyzeOptions::default()
    })?;
    let report = &analysis.report;
    if report.processes.is_empty() {
        eprintln!(
            "trace-analyzer: error: nothing to export: no trace files of a run in the inputs"
        );
        for w in &report.warnings {
            eprintln!("warning: {}: {}", w.file, w.message);
        }
        return Ok(EXIT_ERROR);
    }
    let empty = crate::model::Timeline::default();
    let view = TimelineView::build(report, analysis.timeline.as_ref().unwrap_or(&empty));
    match (a.format, &a.input.output) {
        (ExportFormat::Chrome, Some(path)) => {
            chrome::write_file(&view, path)?;
            eprintln!(
                "trace-analyzer: wrote {} (open it in https://ui.perfetto.dev or chrome://tracing)",
                path.display()
            );
        }
        (ExportFormat::Chrome, None) => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            if let Err(e) = chrome::write_chrome(&view, &mut out).and_then(|()| out.flush()) {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
        }
    }
    if !report.warnings.is_empty() {
        eprintln!(
            "trace-analyzer: {} input warning(s); `report` lists them",
            report.warnings.len()
        );
        if a.input.strict {
            return Ok(EXIT_ERROR);
        }
    }
    Ok(EXIT_OK)
}
