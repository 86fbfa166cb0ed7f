//! `export`: a run's timeline for other viewers (Chrome Trace Event JSON).

use std::io;

use clap::Args;

use trace_analyzer::export::{chrome, ExportFormat};
use trace_analyzer::{AnalyzeOptions, Analyzer};

use super::output::{print_warnings, warn_other_runs};
use super::{CliError, InputArgs, EXIT_ERROR, EXIT_OK};
use crate::bar::Bar;

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    #[arg(long, value_enum, default_value_t = ExportFormat::Chrome)]
    format: ExportFormat,
}

/// Runs `export`; returns the exit code (0 written, 2 nothing to export or
/// input warnings with `--strict`). The trace is written while the run is
/// merged, so memory stays flat however many records the run has.
pub(super) fn cmd_export(a: ExportArgs) -> Result<i32, CliError> {
    let ExportFormat::Chrome = a.format;
    let mut out = chrome::Output::open(a.input.output.as_deref())?;
    let mut stream = chrome::ChromeStream::new(&mut out);
    let opts = AnalyzeOptions {
        inputs: a.input.inputs.clone(),
        run: a.input.run.clone(),
        legacy_tz: a.input.legacy_tz,
        ..AnalyzeOptions::default()
    };
    let analysis = Analyzer::new(&opts)
        .progress(&mut Bar)
        .tap(&mut stream)
        .run();
    let report = match analysis {
        Ok(an) if !an.report.processes.is_empty() => an.report,
        other => {
            drop(stream);
            out.discard();
            let report = other?.report;
            print_warnings(&report.warnings);
            return Err("nothing to export: no trace files of a run in the inputs".into());
        }
    };
    let finished = stream.finish(&report).map(|_| ());
    if let Err(e) = finished.and_then(|()| out.commit()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if a.input.run.is_none() {
        warn_other_runs(&a.input, None, &report.other_runs, &report.run_id);
    }
    if let Some(path) = &a.input.output {
        eprintln!(
            "trace-analyzer: wrote {} (open it in https://ui.perfetto.dev or chrome://tracing)",
            path.display()
        );
    }
    if !report.warnings.is_empty() {
        print_warnings(&report.warnings);
        if a.input.strict {
            return Ok(EXIT_ERROR);
        }
    }
    Ok(EXIT_OK)
}
