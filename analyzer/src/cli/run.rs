//! `run`: run a command with tracing on, then report on the run it traced
//! (and, with `--confirm`, rerun each likely cause).

use std::path::PathBuf;

use clap::Args;
use state_tracer_format::env::{ENV_DIR, ENV_RUN_ID, ENV_STATE};
use state_tracer_format::{file_name_safe, generate_run_id};

use trace_analyzer::read::LegacyTz;
use trace_analyzer::render::ReportFormat;
use trace_analyzer::{Analyzer, InputError};

use super::report::{analyze_opts, confirm_report, emit_report, html_report};
use super::{parse_timeout, parse_tz, CliError, InputArgs, ReportOpts, EXIT_ERROR};
use crate::bar::Bar;

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Where the traces go [default: ./bdd-traces/<run id>].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Run ID to use [default: a fresh one].
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
    #[arg(long, value_name = "TZ", default_value = "local", value_parser = parse_tz)]
    legacy_tz: LegacyTz,
    #[arg(long)]
    strict: bool,
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    report: ReportOpts,
    /// Then confirm each failed scenario's likely cause by targeted reruns of the same tests, all within BUDGET (e.g. 90s, 5m) [default: 1m].
    #[arg(long, value_name = "BUDGET", num_args = 0..=1, require_equals = true, default_missing_value = "1m", value_parser = parse_timeout)]
    confirm: Option<std::time::Duration>,
    /// With --confirm: run by `sh -c` before every rerun, untraced, to put shared state back (e.g. 'rm -f test.db').
    #[arg(long, value_name = "CMD", requires = "confirm")]
    reset: Option<String>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

pub(super) fn cmd_run(a: RunArgs) -> Result<i32, CliError> {
    let run_id = a.run_id.clone().unwrap_or_else(generate_run_id);
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("bdd-traces").join(file_name_safe(&run_id)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    eprintln!("trace-analyzer: run {run_id}, traces in {}", dir.display());
    let (program, args) = a.command.split_first().ok_or("no command given after --")?;
    if cargo_test_stops_early(program, args) {
        eprintln!("trace-analyzer: hint: `cargo test` stops at the first test binary that fails, so later binaries are neither run nor traced; add --no-fail-fast to trace them all");
    }
    let status = std::process::Command::new(program)
        .args(args)
        .env(ENV_STATE, "1")
        .env(ENV_RUN_ID, &run_id)
        .env(ENV_DIR, &dir)
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) => return Err(format!("cannot run {program:?}: {e}").into()),
    };
    let command_code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    let input = InputArgs {
        inputs: vec![dir.clone()],
        run: Some(run_id.clone()),
        legacy_tz: a.legacy_tz,
        strict: a.strict,
        output: a.output.clone(),
    };
    let mut opts = analyze_opts(&input, &a.report);
    // Which run to analyze, decided from the files' headers alone, so the
    // run is read once whatever the output format.
    let no_files = |what: String| {
        eprintln!("trace-analyzer: {what}");
        Ok(if command_code != 0 {
            command_code
        } else {
            EXIT_ERROR
        })
    };
    let discovery = trace_analyzer::discover::discover(std::slice::from_ref(&dir), &opts.legacy_tz);
    match trace_analyzer::select_run(&discovery, Some(&run_id)) {
        Ok(Some(_)) => {}
        // Legacy (Go tracer) files carry no run ID: the folder is the run.
        Err(InputError::UnknownRun { available, .. }) if !available.is_empty() => opts.run = None,
        Ok(None) => return no_files(format!("no trace files in {}", dir.display())),
        Err(InputError::UnknownRun { .. }) => {
            return no_files(format!(
                "the command wrote no trace files for run {run_id} in {} — is the state-tracer layer installed (StateLayer::from_env / state_tracer::init)?",
                dir.display()
            ))
        }
        Err(e) => return Err(e.into()),
    }
    // Reruns go beside the run's folder, not inside it: the run's folder
    // stays one run.
    let confirm = a.confirm.map(|budget| {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push("-confirm");
        trace_analyzer::confirm::auto::AutoOptions {
            inputs: vec![dir.clone()],
            run: opts.run.clone(),
            legacy_tz: a.legacy_tz,
            budget,
            dir: dir.with_file_name(name),
            env: Vec::new(),
            reset: a.reset.clone(),
        }
    });
    let code = if a.report.format == ReportFormat::Html {
        html_report(&opts, &a.report, &input, confirm.as_ref())?
    } else {
        let mut analysis = Analyzer::new(&opts).progress(&mut Bar).run()?;
        if analysis.report.processes.is_empty() {
            return no_files(format!("no trace files in {}", dir.display()));
        }
        if let Some(c) = &confirm {
            confirm_report(&mut analysis.report, c);
        }
        if let Some(db) = &a.report.history {
            trace_analyzer::history::command::record_and_annotate(&mut analysis, Some(db));
        }
        emit_report(analysis, &a.report, &a.output, a.strict)?
    };
    Ok(if command_code != 0 {
        command_code
    } else {
        code
    })
}

/// `cargo test` without `--no-fail-fast`: one failing binary hides the rest.
fn cargo_test_stops_early(program: &str, args: &[String]) -> bool {
    let cargo = std::path::Path::new(program)
        .file_name()
        .is_some_and(|n| n == "cargo");
    // Cargo's own arguments end at `--`; the rest go to the test binaries.
    let own = args.split(|a| a == "--").next().unwrap_or_default();
    cargo && own.iter().any(|a| a == "test") && !own.iter().any(|a| a == "--no-fail-fast")
}

#[cfg(test)]
mod tests {
    use super::cargo_test_stops_early;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|&a| a.to_owned()).collect()
    }

    #[test]
    fn cargo_test_without_no_fail_fast_gets_the_hint() {
        assert!(cargo_test_stops_early("cargo", &v(&["test"])));
        assert!(cargo_test_stops_early(
            "/usr/bin/cargo",
            &v(&["test", "--", "--no-fail-fast"])
        ));
        assert!(!cargo_test_stops_early(
            "cargo",
            &v(&["test", "--no-fail-fast"])
        ));
        assert!(!cargo_test_stops_early("cargo", &v(&["nextest", "run"])));
        assert!(!cargo_test_stops_early("pytest", &v(&["test"])));
    }
}
