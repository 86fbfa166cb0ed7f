//! `export`: the run in other tools' formats. Today, Chrome Trace Event
//! JSON for Perfetto UI and `chrome://tracing` ([`chrome`]).
//!
//! The subcommand's arguments and runner live here so the CLI only
//! dispatches to them.

pub mod chrome;

pub use chrome::Output;

use std::io;

use clap::{Args, ValueEnum};

use crate::cli::{InputArgs, EXIT_ERROR, EXIT_OK};
use crate::{analyze_tapped, AnalyzeOptions};

/// `export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Chrome Trace Event JSON (gzip with `-o FILE.gz`): open in ui.perfetto.dev or chrome://tracing.
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
/// input warnings with `--strict`). The trace is written while the run is
/// merged, so memory stays flat however many records the run has.
pub fn run(a: ExportArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let ExportFormat::Chrome = a.format;
    let mut out = chrome::Output::open(a.input.output.as_deref())?;
    let mut stream = chrome::ChromeStream::new(&mut out);
    let analysis = analyze_tapped(
        &AnalyzeOptions {
            inputs: a.input.inputs.clone(),
            run: a.input.run.clone(),
            legacy_tz: a.input.legacy_tz,
            progress: true,
            ..AnalyzeOptions::default()
        },
        &mut stream,
    );
    let report = match analysis {
        Ok(an) if !an.report.processes.is_empty() => an.report,
        other => {
            drop(stream);
            out.discard();
            let report = other?.report;
            eprintln!(
                "trace-analyzer: error: nothing to export: no trace files of a run in the inputs"
            );
            for w in &report.warnings {
                eprintln!("warning: {}: {}", w.file, w.message);
            }
            return Ok(EXIT_ERROR);
        }
    };
    let finished = stream.finish(&report).map(|_| ());
    let written = finished.and_then(|()| out.commit());
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if let Some(path) = &a.input.output {
        eprintln!(
            "trace-analyzer: wrote {} (open it in https://ui.perfetto.dev or chrome://tracing)",
            path.display()
        );
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
