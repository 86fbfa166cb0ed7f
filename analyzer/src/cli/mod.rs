//! The command line: clap definitions and a dispatcher. Each subcommand is
//! a few lines over the library, in a file of its own beside this one;
//! exit codes are decided here only.
//!
//! Exit codes: 0 clean (or findings below `--fail-on`), 1 findings at or
//! above `--fail-on`, 2 usage or input error (and input warnings with
//! `--strict`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use trace_analyzer::discover;
use trace_analyzer::model::{Report, RuleId, Severity};
use trace_analyzer::read::LegacyTz;
use trace_analyzer::render::html::lod::Detail;
use trace_analyzer::render::ReportFormat;

mod clean;
mod confirm;
mod export;
mod gen;
mod merge;
mod output;
mod report;
mod run;
mod runs;

use clean::CleanArgs;
use confirm::{ConfirmArgs, CONFIRM_EXAMPLES};
use export::ExportArgs;
use merge::MergeArgs;
use report::ReportArgs;
use run::RunArgs;
use runs::RunsArgs;

/// Exit code: nothing at or above the threshold.
const EXIT_OK: i32 = 0;
/// Exit code: findings at or above `--fail-on`.
const EXIT_FINDINGS: i32 = 1;
/// Exit code: usage or input error.
const EXIT_ERROR: i32 = 2;

const MAIN_EXAMPLES: &str = "\
Examples:
  # Run a suite with tracing on, then print the report
  trace-analyzer run -- cargo test --test bdd

  # Analyze the most recent run in $BDD_TRACE_DIR (or the temp dir)
  trace-analyzer report

  # One merged timeline of a run's files, as text
  trace-analyzer merge ./bdd-traces/ --run ci-1234

  # Markdown for a CI job summary; fail only on errors
  trace-analyzer report ./bdd-traces --format markdown --fail-on error >> \"$GITHUB_STEP_SUMMARY\"

  # Old Go tracer files (local time by default)
  trace-analyzer report /tmp --legacy-tz UTC

Exit codes: 0 = clean or below --fail-on, 1 = findings at or above --fail-on, 2 = usage or input error.
Docs: docs/cli.md, rules: docs/rules.md.";

/// Merges a test run's state traces into one timeline and names polluters and victims.
#[derive(Debug, Parser)]
#[command(name = "trace-analyzer", version, after_help = MAIN_EXAMPLES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the runs found in the inputs, with process count, time range and file count.
    #[command(
        after_help = "Examples:\n  trace-analyzer runs\n  trace-analyzer runs ./bdd-traces --format json"
    )]
    Runs(RunsArgs),
    /// Merge a run's files into one timeline ordered by wall time.
    #[command(
        after_help = "Examples:\n  trace-analyzer merge ./bdd-traces\n  trace-analyzer merge ./bdd-traces --run ci-1234 --format jsonl -o merged.jsonl\n  trace-analyzer merge /tmp --format csv --legacy-tz +02:00"
    )]
    Merge(MergeArgs),
    /// Analyze a run: per-process summary, overlaps and findings (polluter, victim, how to reproduce).
    #[command(
        after_help = "Examples:\n  trace-analyzer report\n  trace-analyzer report ./bdd-traces --run ci-1234 --format json -o report.json\n  trace-analyzer report ./bdd-traces --fail-on warning --deny leaked-state --allow shared-schema\n  trace-analyzer report ./bdd-traces --format markdown >> \"$GITHUB_STEP_SUMMARY\""
    )]
    Report(ReportArgs),
    /// Run a command with tracing on (BDD_TRACE_STATE=1, fresh BDD_TRACE_RUN_ID and BDD_TRACE_DIR), then report.
    #[command(
        after_help = "Examples:\n  trace-analyzer run -- cargo test --test bdd\n  trace-analyzer run --confirm -- cargo nextest run\n  trace-analyzer run --confirm=5m --format markdown -- cargo test\n  trace-analyzer run --dir /tmp/traces --format markdown -- ./scripts/validate-test-suite.sh 1\n\nWith --confirm, each failed scenario's likely cause is rerun with just its suspect (the tests the command ran, from the trace headers) and marked confirmed, not-reproduced, fails-alone or inconclusive.\nExits with the command's code if it failed, else with the --fail-on code."
    )]
    Run(RunArgs),
    /// Delete old trace files the tracer made (and nothing else).
    #[command(
        after_help = "Examples:\n  trace-analyzer clean --older-than 7d --dry-run\n  trace-analyzer clean ./bdd-traces --older-than 12h"
    )]
    Clean(CleanArgs),
    /// Export a run's timeline for other viewers: Chrome Trace Event JSON for Perfetto UI / chrome://tracing.
    #[command(
        after_help = "Examples:\n  trace-analyzer export ./bdd-traces --format chrome -o trace.json\n  trace-analyzer export --run ci-1234 -o trace.json   # then open it in ui.perfetto.dev"
    )]
    Export(ExportArgs),
    /// Prove a suspected polluter: re-run just the victim alone, then with the polluter, each run traced and analyzed.
    #[command(after_help = CONFIRM_EXAMPLES)]
    Confirm(ConfirmArgs),
    /// Cross-run history: store analyzed runs, then rank flaky scenarios and the polluters behind them.
    #[command(
        after_help = "Examples:\n  trace-analyzer history add ./bdd-traces\n  trace-analyzer history flaky --since 14d\n  trace-analyzer history pairs --db postgres://ci@db/history\n  trace-analyzer report ./bdd-traces --history   # store and annotate in one go"
    )]
    History(trace_analyzer::history::command::HistoryArgs),
    /// Generate a synthetic run (benchmarks).
    #[command(hide = true)]
    Gen(trace_analyzer::gen::GenArgs),
}

/// Inputs and run selection, common to every reading command.
#[derive(Debug, Args, Clone)]
struct InputArgs {
    /// Trace files or folders, searched five folder levels deep [default: $BDD_TRACE_DIR, else the OS temp dir].
    inputs: Vec<PathBuf>,
    /// Run to use (id or unique prefix) [default: the most recent].
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// Time zone of legacy (Go tracer) timestamps: `local`, `UTC`, `+02:00`.
    #[arg(long, value_name = "TZ", default_value = "local", value_parser = parse_tz)]
    legacy_tz: LegacyTz,
    /// Input warnings (bad lines, unreadable files) make the exit code 2.
    #[arg(long)]
    strict: bool,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_tz(s: &str) -> Result<LegacyTz, String> {
    s.parse()
}

/// When `report` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Error,
    Warning,
    Never,
}

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
struct ReportOpts {
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Lowest finding severity that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
    /// List every overlapping pair instead of one example per process pair.
    #[arg(long)]
    all_overlaps: bool,
    /// Write every scenario pair of every hazard group to FILE, one JSON
    /// line each, streamed (the report keeps the groups and a few examples).
    #[arg(long, value_name = "FILE")]
    hazard_pairs: Option<PathBuf>,
    /// Switch a rule off (repeatable or comma-separated).
    #[arg(long, value_name = "RULE", value_delimiter = ',', value_parser = parse_rule)]
    allow: Vec<RuleId>,
    /// Make every finding of a rule an error (repeatable or comma-separated).
    #[arg(long, value_name = "RULE", value_delimiter = ',', value_parser = parse_rule)]
    deny: Vec<RuleId>,
    /// Colour the table: auto = on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// HTML: `auto` draws runs over 100,000 records with a level of detail
    /// (findings, shared-state mutations and every scenario one by one, the
    /// rest aggregated); `full` draws every action (big pages may not open).
    #[arg(long, value_enum, default_value_t = Detail::Auto)]
    detail: Detail,
    /// Table: every hazard group and every finding in full, with full resource names.
    #[arg(short, long)]
    verbose: bool,
    /// Also store the run in the cross-run history and annotate each likely
    /// cause with its record; `--history=URL` picks the database [default:
    /// $TRACE_ANALYZER_HISTORY, else the SQLite file under $XDG_DATA_HOME].
    /// A failing history write only warns.
    #[arg(long, value_name = "URL", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    history: Option<String>,
}

fn parse_rule(s: &str) -> Result<RuleId, String> {
    s.parse()
}

/// Parses `std::env::args` and runs; returns the exit code.
pub(crate) fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

/// Runs a parsed command line.
fn run(cli: Cli) -> i32 {
    let named: &[PathBuf] = match &cli.command {
        Command::Runs(a) => &a.input.inputs,
        Command::Merge(a) => &a.input.inputs,
        Command::Report(a) => &a.input.inputs,
        Command::Export(a) => &a.input.inputs,
        Command::Confirm(a) => &a.inputs,
        _ => &[],
    };
    if let Err(e) = discover::check_inputs(named) {
        eprintln!("trace-analyzer: error: {e}");
        return EXIT_ERROR;
    }
    let result = match cli.command {
        Command::Runs(a) => runs::cmd_runs(a),
        Command::Merge(a) => merge::cmd_merge(a),
        Command::Report(a) => report::cmd_report(a),
        Command::Run(a) => run::cmd_run(a),
        Command::Clean(a) => clean::cmd_clean(&a),
        Command::Export(a) => export::cmd_export(a),
        Command::Gen(a) => gen::cmd_gen(&a),
        Command::Confirm(a) => confirm::cmd_confirm(a),
        Command::History(a) => trace_analyzer::history::command::run(a),
    };
    // The one error path: every command returns its error here.
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trace-analyzer: error: {e}");
            EXIT_ERROR
        }
    }
}

/// A boxed error with a message for the user.
type CliError = Box<dyn std::error::Error>;

/// The exit code a report implies.
fn exit_code(report: &Report, fail_on: FailOn, strict: bool) -> i32 {
    if report.processes.is_empty() || (strict && !report.warnings.is_empty()) {
        return EXIT_ERROR;
    }
    let threshold = match fail_on {
        FailOn::Never => return EXIT_OK,
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    if report.max_severity().is_some_and(|s| s >= threshold) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// `90s`, `5m`, `1h`, `500ms`; a bare number is refused (no unit). Shared
/// by `run --confirm` and `confirm --timeout`.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match trace_analyzer::duration::parse(s)? {
        d if d.is_zero() => Err("the timeout must be more than 0".into()),
        d => Ok(d),
    }
}
