//! `runs`: list the runs found in the inputs.

use std::io::Write;

use clap::{Args, ValueEnum};

use trace_analyzer::discover;
use trace_analyzer::read::LegacyTz;

use super::output::{open_output, print_warnings};
use super::{CliError, InputArgs, EXIT_ERROR, EXIT_OK};

#[derive(Debug, Args)]
pub(super) struct RunsArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    #[arg(long, value_enum, default_value_t = RunsFormat::Table)]
    format: RunsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum RunsFormat {
    Table,
    Json,
}

pub(super) fn cmd_runs(a: RunsArgs) -> Result<i32, CliError> {
    let inputs = trace_analyzer::inputs_or_default(&a.input.inputs);
    let d = discover::discover(&inputs, &a.input.legacy_tz);
    let (mut out, _) = open_output(&a.input.output)?;
    let rows: Vec<serde_json::Value> = d
        .runs
        .iter()
        .rev()
        .map(|r| {
            let mut pids: Vec<u32> = r.files.iter().map(|f| f.pid).collect();
            pids.sort_unstable();
            pids.dedup();
            let start = r.files.iter().filter_map(|f| f.start).min();
            let end = r
                .files
                .iter()
                .filter_map(|f| last_time(f, &a.input.legacy_tz))
                .max()
                .or(r.latest_start());
            serde_json::json!({
                "run_id": r.id,
                "processes": pids.len(),
                "files": r.files.len(),
                "start": start.map(trace_analyzer::record::to_time),
                "end": end.map(trace_analyzer::record::to_time),
                "bytes": r.bytes(),
            })
        })
        .collect();
    match a.format {
        RunsFormat::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({"runs": rows, "warnings": d.warnings}),
            )?;
            writeln!(out)?;
        }
        RunsFormat::Table => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.force_no_tty();
            t.set_header(vec![
                "run",
                "processes",
                "files",
                "start (UTC)",
                "end (UTC)",
            ]);
            for r in &rows {
                let time = |k: &str| {
                    r[k].as_str()
                        .map(|s| s.replace('T', " ").trim_end_matches('Z').to_owned())
                        .unwrap_or_default()
                };
                t.add_row(vec![
                    trace_analyzer::escape::text(r["run_id"].as_str().unwrap_or("")).into_owned(),
                    r["processes"].to_string(),
                    r["files"].to_string(),
                    time("start"),
                    time("end"),
                ]);
            }
            if !rows.is_empty() {
                writeln!(out, "{t}")?;
                writeln!(
                    out,
                    "(most recent first; `report` uses the first unless --run ID)"
                )?;
            }
            print_warnings(&d.warnings);
        }
    }
    out.flush()?;
    if rows.is_empty() {
        // After the (empty) JSON, so a script still gets a document.
        eprintln!("trace-analyzer: error: {}", d.nothing_found());
        return Ok(EXIT_ERROR);
    }
    Ok(if a.input.strict && !d.warnings.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

/// Time of a file's last record, read from its tail.
fn last_time(f: &discover::SourceFile, tz: &LegacyTz) -> Option<i64> {
    let line = discover::last_line(&f.path)?;
    f.format.provides().line_time(&line, tz)
}
