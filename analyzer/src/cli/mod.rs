//! The command line: clap definitions and a dispatcher. Each subcommand is
//! a few lines over the library; exit codes are decided here only.
//!
//! Exit codes: 0 clean (or findings below `--fail-on`), 1 findings at or
//! above `--fail-on`, 2 usage or input error (and input warnings with
//! `--strict`).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use state_tracer_format::env::{ENV_DIR, ENV_RUN_ID, ENV_STATE};
use state_tracer_format::{file_name_safe, generate_run_id, parse_wall_time};

use trace_analyzer::discover;
use trace_analyzer::export::{chrome, ExportFormat};
use trace_analyzer::model::{Report, RuleId, Severity};
use trace_analyzer::read::{LegacyTz, ReadOptions};
use trace_analyzer::render::html::lod::{self, Detail};
use trace_analyzer::render::{self, MergeFormat, RecordWriter, RenderOptions, ReportFormat};
use trace_analyzer::{analyze_tapped, analyze_with, select_run, AnalyzeOptions, InputError};

use crate::bar::Bar;

/// Exit code: nothing at or above the threshold.
pub const EXIT_OK: i32 = 0;
/// Exit code: findings at or above `--fail-on`.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit code: usage or input error.
pub const EXIT_ERROR: i32 = 2;

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
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
pub struct InputArgs {
    /// Trace files or folders, searched five folder levels deep [default: $BDD_TRACE_DIR, else the OS temp dir].
    pub inputs: Vec<PathBuf>,
    /// Run to use (id or unique prefix) [default: the most recent].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Time zone of legacy (Go tracer) timestamps: `local`, `UTC`, `+02:00`.
    #[arg(long, value_name = "TZ", default_value = "local", value_parser = parse_tz)]
    pub legacy_tz: LegacyTz,
    /// Input warnings (bad lines, unreadable files) make the exit code 2.
    #[arg(long)]
    pub strict: bool,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn parse_tz(s: &str) -> Result<LegacyTz, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, value_enum, default_value_t = RunsFormat::Table)]
    pub format: RunsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunsFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, value_enum, default_value_t = MergeFormat::Text)]
    pub format: MergeFormat,
}

/// When `report` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Never,
}

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
pub struct ReportOpts {
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Lowest finding severity that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// List every overlapping pair instead of one example per process pair.
    #[arg(long)]
    pub all_overlaps: bool,
    /// Write every scenario pair of every hazard group to FILE, one JSON
    /// line each, streamed (the report keeps the groups and a few examples).
    #[arg(long, value_name = "FILE")]
    pub hazard_pairs: Option<PathBuf>,
    /// Switch a rule off (repeatable or comma-separated).
    #[arg(long, value_name = "RULE", value_delimiter = ',', value_parser = parse_rule)]
    pub allow: Vec<RuleId>,
    /// Make every finding of a rule an error (repeatable or comma-separated).
    #[arg(long, value_name = "RULE", value_delimiter = ',', value_parser = parse_rule)]
    pub deny: Vec<RuleId>,
    /// Colour the table: auto = on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// HTML: `auto` draws runs over 100,000 records with a level of detail
    /// (findings, shared-state mutations and every scenario one by one, the
    /// rest aggregated); `full` draws every action (big pages may not open).
    #[arg(long, value_enum, default_value_t = Detail::Auto)]
    pub detail: Detail,
    /// Table: every hazard group and every finding in full, with full resource names.
    #[arg(short, long)]
    pub verbose: bool,
    /// Also store the run in the cross-run history and annotate each likely
    /// cause with its record; `--history=URL` picks the database [default:
    /// $TRACE_ANALYZER_HISTORY, else the SQLite file under $XDG_DATA_HOME].
    /// A failing history write only warns.
    #[arg(long, value_name = "URL", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub history: Option<String>,
}

fn parse_rule(s: &str) -> Result<RuleId, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub report: ReportOpts,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the traces go [default: ./bdd-traces/<run id>].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Run ID to use [default: a fresh one].
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    #[arg(long, value_name = "TZ", default_value = "local", value_parser = parse_tz)]
    pub legacy_tz: LegacyTz,
    #[arg(long)]
    pub strict: bool,
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportOpts,
    /// Then confirm each failed scenario's likely cause by targeted reruns of the same tests, all within BUDGET (e.g. 90s, 5m) [default: 1m].
    #[arg(long, value_name = "BUDGET", num_args = 0..=1, require_equals = true, default_missing_value = "1m", value_parser = parse_timeout)]
    pub confirm: Option<std::time::Duration>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Folders or files, searched five folder levels deep [default: the top level of $BDD_TRACE_DIR, else of the OS temp dir].
    pub inputs: Vec<PathBuf>,
    /// Age, e.g. `7d`, `12h`, `30m`, `2w`.
    #[arg(long, value_name = "AGE", value_parser = trace_analyzer::clean::parse_age)]
    pub older_than: std::time::Duration,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Parses `std::env::args` and runs; returns the exit code.
pub fn main() -> i32 {
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
pub fn run(cli: Cli) -> i32 {
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
        Command::Runs(a) => cmd_runs(a),
        Command::Merge(a) => cmd_merge(a),
        Command::Report(a) => cmd_report(a),
        Command::Run(a) => cmd_run(a),
        Command::Clean(a) => cmd_clean(&a),
        Command::Export(a) => cmd_export(a),
        Command::Gen(a) => cmd_gen(&a),
        Command::Confirm(a) => cmd_confirm(a),
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
pub type CliError = Box<dyn std::error::Error>;

fn open_output(path: &Option<PathBuf>) -> Result<(Box<dyn Write>, bool), CliError> {
    Ok(match path {
        Some(p) => {
            let f = File::create(p).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            (Box::new(BufWriter::new(f)), false)
        }
        None => {
            let tty = io::stdout().is_terminal();
            (
                Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
                tty,
            )
        }
    })
}

/// NO_COLOR (any non-empty value) disables colour, per no-color.org.
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// On stderr, before the output: the inputs hold runs besides the one
/// analyzed, and which of them hold failed scenarios the output leaves out.
/// `d` is the discovery already made, if the caller has it.
fn warn_other_runs(
    input: &InputArgs,
    d: Option<&discover::Discovery>,
    others: &[String],
    chosen: &str,
) {
    if others.is_empty() {
        return;
    }
    eprintln!(
        "note: {} in the inputs; using the most recent, {chosen:?} (pick another with --run ID; list them with `trace-analyzer runs`)",
        plural(others.len(), "other run", "other runs")
    );
    let found;
    let d = match d {
        Some(d) => d,
        None => {
            let inputs = trace_analyzer::inputs_or_default(&input.inputs);
            found = discover::discover(&inputs, &input.legacy_tz);
            &found
        }
    };
    let failing = discover::other_runs_with_failures(d, chosen);
    if failing.is_empty() {
        return;
    }
    let total: u64 = failing.iter().map(|(_, n)| n).sum();
    const SHOWN: usize = 3;
    let mut named: Vec<String> = failing
        .iter()
        .take(SHOWN)
        .map(|(id, n)| format!("{} ({n} failed)", trace_analyzer::escape::text(id)))
        .collect();
    if failing.len() > SHOWN {
        named.push(format!("and {} more", failing.len() - SHOWN));
    }
    eprintln!(
        "warning: this output leaves out {} in {} of the inputs: {}; analyze {} with --run ID",
        plural(total as usize, "failed scenario", "failed scenarios"),
        plural(failing.len(), "other run", "other runs"),
        named.join(", "),
        if failing.len() == 1 { "it" } else { "one" },
    );
}

/// `1 file`, `2 files`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn cmd_runs(a: RunsArgs) -> Result<i32, CliError> {
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
    match f.format {
        discover::Format::V1 => {
            let v: serde_json::Value = serde_json::from_str(&line).ok()?;
            let ts = v.get("ts").or_else(|| v.get("start"))?.as_str()?;
            parse_wall_time(ts).map(|t| t.timestamp_micros())
        }
        discover::Format::Legacy => {
            let l = trace_analyzer::read::legacy::parse_legacy_line(&line, tz).ok()?;
            tz.to_utc(l.ts).map(|t| t.timestamp_micros())
        }
    }
}

fn cmd_merge(a: MergeArgs) -> Result<i32, CliError> {
    let inputs = trace_analyzer::inputs_or_default(&a.input.inputs);
    let d = discover::discover(&inputs, &a.input.legacy_tz);
    let mut warnings = d.warnings.clone();
    let Some((run, others)) = select_run(&d, a.input.run.as_deref())? else {
        print_warnings(&warnings);
        return Err(d.nothing_found().into());
    };
    if a.input.run.is_none() {
        warn_other_runs(&a.input, Some(&d), &others, &run.id);
    }
    let (mut out, _) = open_output(&a.input.output)?;
    let opts = ReadOptions {
        full: true,
        legacy_tz: a.input.legacy_tz,
        progress: None,
    };
    let mut writer = RecordWriter::new(a.format, &run.files);
    let mut merger = trace_analyzer::merge::Merger::new(&run.files, &opts);
    let mut result = writer.begin(&mut out);
    if result.is_ok() {
        for rec in merger.by_ref() {
            if let Err(e) = writer.write(&rec, &mut out) {
                result = Err(e);
                break;
            }
        }
    }
    let ends = merger.finish();
    if let Err(e) = result.and_then(|_| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(EXIT_OK);
        }
        return Err(e.into());
    }
    for (_, w) in ends {
        warnings.extend(w);
    }
    print_warnings(&warnings);
    Ok(if a.input.strict && !warnings.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

/// How many input warnings stderr shows before a count.
const SHOWN_WARNINGS: usize = 5;

/// The one warning printer: `warning: FILE[:LINE]: MESSAGE` on stderr for
/// the first few, then a count.
fn print_warnings(w: &[trace_analyzer::model::Warning]) {
    print_warnings_then(w, "`report` lists them all");
}

/// A report's warnings on stderr, and a line of its own when whole files
/// were not read: a failure in them is missing from the report, which
/// would otherwise exit 0 (`--strict` makes it 2).
fn report_warnings(w: &[trace_analyzer::model::Warning]) {
    print_warnings_then(w, "the report lists them all");
    let dropped = w.iter().filter(|w| w.drops_file()).count();
    if dropped > 0 {
        eprintln!(
            "warning: {} not read at all: any failure in {} is missing from this report (--strict makes this exit 2)",
            trace_analyzer::count(dropped as u64, "input file", "input files"),
            if dropped == 1 { "it" } else { "them" }
        );
    }
}

/// [`print_warnings`], saying where the rest are listed. File names and
/// messages quote trace-controlled text: control characters are escaped.
fn print_warnings_then(w: &[trace_analyzer::model::Warning], rest: &str) {
    use trace_analyzer::escape::text;
    for w in w.iter().take(SHOWN_WARNINGS) {
        if w.line > 0 {
            eprintln!(
                "warning: {}:{}: {}",
                text(&w.file),
                w.line,
                text(&w.message)
            );
        } else {
            eprintln!("warning: {}: {}", text(&w.file), text(&w.message));
        }
    }
    if w.len() > SHOWN_WARNINGS {
        eprintln!(
            "warning: {} more input warning(s); {rest}",
            w.len() - SHOWN_WARNINGS
        );
    }
}

fn analyze_opts(input: &InputArgs, r: &ReportOpts) -> AnalyzeOptions {
    AnalyzeOptions {
        inputs: input.inputs.clone(),
        run: input.run.clone(),
        legacy_tz: input.legacy_tz,
        all_overlaps: r.all_overlaps,
        hazard_pairs: r.hazard_pairs.clone(),
        allow: r.allow.clone(),
        deny: r.deny.clone(),
        // HTML draws from the stream (`render::html::lod`), not from an
        // in-memory timeline; the history stores scenario runs with their
        // durations (timeline).
        timeline: r.history.is_some() && r.format != ReportFormat::Html,
        progress: true,
    }
}

/// Prints a report and returns the exit code it implies. Takes the
/// analysis because the process exits next: it is not freed entry by entry
/// (~4 ms for a long run's report), the exit frees it at once.
fn emit_report(
    analysis: trace_analyzer::model::Analysis,
    r: &ReportOpts,
    output: &Option<PathBuf>,
    strict: bool,
) -> Result<i32, CliError> {
    let report = &analysis.report;
    let (mut out, tty) = open_output(output)?;
    let color = match r.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && !no_color_env(),
    };
    let opts = RenderOptions {
        color,
        width: if tty { None } else { Some(140) },
        verbose: r.verbose,
    };
    if let Err(e) = render::write_report(
        r.format,
        report,
        analysis.timeline.as_ref(),
        &opts,
        &mut out,
    )
    .and_then(|_| out.flush())
    {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if let Some(path) = output {
        say_wrote(path, r.format, report);
    }
    // Warnings are in the report; stderr names the first few too, also
    // for the table, whose warnings section is easily scrolled past.
    report_warnings(&report.warnings);
    let code = exit_code(report, r.fail_on, strict);
    std::mem::forget(analysis);
    Ok(code)
}

/// The exit code a report implies.
pub fn exit_code(report: &Report, fail_on: FailOn, strict: bool) -> i32 {
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

/// `--format html`: the page is written while the analysis streams the run
/// (bounded memory; see `render::html::lod`), and replaces `-o FILE` only
/// once complete.
/// `run --confirm`: the reruns, with a progress line on a terminal and a
/// closing line on stderr.
fn confirm_report(
    report: &mut trace_analyzer::model::Report,
    c: &trace_analyzer::confirm::auto::AutoOptions,
) {
    use trace_analyzer::confirm;
    confirm::run::stop_on_ctrl_c();
    let tty = io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut progress = |s: &str| {
        if tty {
            // The line quotes scenario names from the trace.
            eprint!("\r\x1b[Kconfirm: {}", trace_analyzer::escape::text(s));
        }
    };
    let done = confirm::auto::confirm_likely_causes(report, c, &mut progress);
    if tty {
        eprint!("\r\x1b[K");
    }
    if done.victims == 0 {
        eprintln!("trace-analyzer: confirm: no failed scenario has a likely cause to confirm");
        return;
    }
    eprintln!(
        "trace-analyzer: confirm: {} of {} failed scenario(s) with a likely cause confirmed, {} rerun(s) in {:.0} s{} (traces in {})",
        done.confirmed,
        done.victims,
        done.reruns,
        started.elapsed().as_secs_f64(),
        if done.not_reached > 0 {
            format!(
                "; the budget ran out before {} of them (give more with --confirm=5m)",
                done.not_reached
            )
        } else {
            String::new()
        },
        c.dir.display()
    );
}

fn html_report(
    opts: &AnalyzeOptions,
    r: &ReportOpts,
    input: &InputArgs,
    confirm: Option<&trace_analyzer::confirm::auto::AutoOptions>,
) -> Result<i32, CliError> {
    let mut out = trace_analyzer::export::Output::open(input.output.as_deref())?;
    let mut page = lod::HtmlStream::new(&mut out, r.detail);
    let opts = AnalyzeOptions {
        timeline: false,
        ..opts.clone()
    };
    let mut analysis = match analyze_tapped(&opts, Some(&mut Bar), &mut page) {
        Ok(a) if !a.report.processes.is_empty() => a,
        other => {
            drop(page);
            out.discard();
            let report = other?.report;
            eprintln!("trace-analyzer: error: nothing to analyze");
            print_warnings(&report.warnings);
            return Ok(EXIT_ERROR);
        }
    };
    if let Some(c) = confirm {
        confirm_report(&mut analysis.report, c);
    }
    if let Some(db) = &r.history {
        trace_analyzer::history::command::record_and_annotate(&mut analysis, Some(db));
    }
    let report = &analysis.report;
    if input.run.is_none() {
        warn_other_runs(input, None, &report.other_runs, &report.run_id);
    }
    let written = page.finish(report);
    if let Err(e) = written.and_then(|()| out.commit()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if let Some(path) = &input.output {
        say_wrote(path, r.format, report);
    }
    report_warnings(&report.warnings);
    Ok(exit_code(report, r.fail_on, input.strict))
}

/// `report -o FILE`: one line on stderr saying what the file holds, as
/// `export -o` does.
fn say_wrote(path: &std::path::Path, format: ReportFormat, report: &Report) {
    let kind = match format {
        ReportFormat::Table => "table report",
        ReportFormat::Json => "JSON report",
        ReportFormat::Markdown => "Markdown report",
        ReportFormat::Csv => "CSV report, one row per finding,",
        ReportFormat::Html => "HTML timeline and report",
    };
    let failed: u64 = report.processes.iter().map(|p| p.failed).sum();
    eprintln!(
        "trace-analyzer: wrote {} ({kind} of run {}: {}, {}, {})",
        path.display(),
        trace_analyzer::escape::text(&report.run_id),
        plural(report.processes.len(), "process", "processes"),
        plural(failed as usize, "failed scenario", "failed scenarios"),
        plural(report.findings.len(), "finding", "findings"),
    );
}

fn cmd_report(a: ReportArgs) -> Result<i32, CliError> {
    if a.report.format == ReportFormat::Html {
        return html_report(
            &analyze_opts(&a.input, &a.report),
            &a.report,
            &a.input,
            None,
        );
    }
    let mut analysis = analyze_with(&analyze_opts(&a.input, &a.report), Some(&mut Bar))?;
    if a.input.run.is_none() {
        warn_other_runs(
            &a.input,
            None,
            &analysis.report.other_runs,
            &analysis.report.run_id,
        );
    }
    if analysis.report.processes.is_empty() {
        print_warnings(&analysis.report.warnings);
        return Err("nothing to analyze".into());
    }
    if let Some(db) = &a.report.history {
        trace_analyzer::history::command::record_and_annotate(&mut analysis, Some(db));
    }
    emit_report(analysis, &a.report, &a.input.output, a.input.strict)
}

fn cmd_run(a: RunArgs) -> Result<i32, CliError> {
    let run_id = a.run_id.clone().unwrap_or_else(generate_run_id);
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("bdd-traces").join(file_name_safe(&run_id)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    eprintln!("trace-analyzer: run {run_id}, traces in {}", dir.display());
    let (program, args) = a.command.split_first().ok_or("no command given after --")?;
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
        }
    });
    let code = if a.report.format == ReportFormat::Html {
        html_report(&opts, &a.report, &input, confirm.as_ref())?
    } else {
        let mut analysis = analyze_with(&opts, Some(&mut Bar))?;
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
fn cmd_export(a: ExportArgs) -> Result<i32, CliError> {
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
        Some(&mut Bar),
        &mut stream,
    );
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

fn cmd_clean(a: &CleanArgs) -> Result<i32, CliError> {
    use trace_analyzer::clean::{self, Depth};
    // Named folders are searched like `report` searches them; the default
    // folder is shared with other programs, so only its top level is.
    let (inputs, depth) = if a.inputs.is_empty() {
        let inputs = trace_analyzer::inputs_or_default(&a.inputs);
        for dir in &inputs {
            eprintln!(
                "looking only at the top level of {} (no subfolders); name a folder to search it and its subfolders",
                dir.display()
            );
        }
        (inputs, Depth::TopLevel)
    } else {
        (a.inputs.clone(), Depth::Search)
    };
    let found = clean::candidates(&inputs, depth, a.older_than);
    for f in &found.in_use {
        eprintln!("skipped {}: still open for writing", f.display());
    }
    let mut failed = false;
    let mut done = 0;
    for f in &found.old {
        if a.dry_run {
            println!("would delete {}", f.display());
            done += 1;
            continue;
        }
        match clean::delete(f) {
            Ok(true) => {
                println!("deleted {}", f.display());
                done += 1;
            }
            Ok(false) => eprintln!(
                "skipped {}: changed or reopened since it was found",
                f.display()
            ),
            Err(e) => {
                failed = true;
                eprintln!("trace-analyzer: cannot delete {}: {e}", f.display());
            }
        }
    }
    eprintln!(
        "{} {} older than {}",
        if a.dry_run { "would delete" } else { "deleted" },
        trace_analyzer::count(done as u64, "trace file", "trace files"),
        clean::humantime(a.older_than)
    );
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

fn cmd_gen(g: &trace_analyzer::gen::GenArgs) -> Result<i32, CliError> {
    let files = trace_analyzer::gen::generate(g)?;
    eprintln!("wrote {} files under {}", files.len(), g.dir.display());
    Ok(EXIT_OK)
}

const CONFIRM_EXAMPLES: &str = "\
Examples:
  # The report's first finding: victim alone 3 times, then with its polluter up to 10 times
  trace-analyzer confirm ./bdd-traces --finding 1 --yes

  # A victim and a suspect by name
  trace-analyzer confirm ./bdd-traces --victim 'greet: Welcome page for a newly registered user' \\
      --polluter 'admin: An admin lists all users' --attempts 5

  # No suspect: try the scenarios that changed what the victim used, one pair at a time
  trace-analyzer confirm ./bdd-traces --victim 'greet: Welcome page for a newly registered user'

  # Your own commands instead of the ones in the trace headers
  trace-analyzer confirm ./bdd-traces --finding 1 --victim-cmd './run-one.sh victim' --polluter-cmd './run-one.sh polluter'

Commands read from trace files are shown and run only with --yes (or after a yes on a terminal).
Exit codes: 0 = confirmed, 1 = not confirmed (not-reproduced, fails-alone, inconclusive), 2 = usage or input error, 130 = Ctrl-C.";

/// `confirm`'s arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["finding", "victim"])))]
pub struct ConfirmArgs {
    /// Trace files or folders of the run the suspicion comes from [default: $BDD_TRACE_DIR, else the OS temp dir].
    pub inputs: Vec<PathBuf>,
    /// Run to use (id or unique prefix) [default: the most recent].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// The finding numbered N in the report: `finding N` beside a culprit,
    /// `#` with --verbose, `number` in JSON.
    #[arg(long, value_name = "N", conflicts_with = "victim")]
    pub finding: Option<usize>,
    /// The victim, 'FEATURE: SCENARIO'.
    #[arg(long, value_name = "'FEATURE: SCENARIO'")]
    pub victim: Option<String>,
    /// The suspected polluter; without it, the candidates from the trace are tried in evidence order.
    #[arg(long, value_name = "'FEATURE: SCENARIO'", requires = "victim")]
    pub polluter: Option<String>,
    /// Attempts of the victim with each polluter (at most 100).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=trace_analyzer::confirm::MAX_ATTEMPTS as i64))]
    pub attempts: u32,
    /// Runs of the victim alone first (at most 100).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=trace_analyzer::confirm::MAX_ATTEMPTS as i64))]
    pub alone: u32,
    /// Time limit of each process, e.g. 90s, 5m; its whole process group is killed when it is up.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// Search: at most this many candidates are tried.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_candidates: usize,
    /// Run the commands read from the trace files without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// The victim's command instead of the trace's (run by `sh -c`; for a one-process shape it must select both scenarios).
    #[arg(long, value_name = "CMD")]
    pub victim_cmd: Option<String>,
    /// The polluter's command instead of the trace's (run by `sh -c`).
    #[arg(long, value_name = "CMD")]
    pub polluter_cmd: Option<String>,
    /// Set KEY=VALUE in every run's environment (repeatable), e.g. the traced run's DATABASE_URL.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Where the runs' traces go, a folder per run [default: ./bdd-traces/confirm-<id>].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = RunsFormat::Table)]
    pub format: RunsFormat,
    #[arg(long, value_name = "TZ", default_value = "local", value_parser = parse_tz)]
    pub legacy_tz: LegacyTz,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// `90s`, `5m`, `1h`, `500ms`; a bare number is seconds.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match trace_analyzer::duration::parse(s)? {
        d if d.is_zero() => Err("the timeout must be more than 0".into()),
        d => Ok(d),
    }
}

fn cmd_confirm(a: ConfirmArgs) -> Result<i32, CliError> {
    use trace_analyzer::confirm::{self, ConfirmOptions, Target, Verdict};
    let target = match (a.finding, a.victim.clone()) {
        (Some(n), _) => Target::Finding(n),
        (None, Some(victim)) => Target::Victim {
            victim,
            polluter: a.polluter.clone(),
        },
        (None, None) => return Err("give --finding N or --victim 'FEATURE: SCENARIO'".into()),
    };
    let dir = a.dir.clone().unwrap_or_else(|| {
        PathBuf::from("bdd-traces").join(format!("confirm-{}", generate_run_id()))
    });
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let opts = ConfirmOptions {
        inputs: a.inputs.clone(),
        run: a.run.clone(),
        legacy_tz: a.legacy_tz,
        target,
        alone: a.alone,
        attempts: a.attempts,
        timeout: a.timeout,
        victim_cmd: a.victim_cmd.clone(),
        polluter_cmd: a.polluter_cmd.clone(),
        dir,
        max_candidates: a.max_candidates.max(1),
        env: a.env.clone(),
        deadline: None,
        enough: None,
    };
    let plan = confirm::plan::plan(&opts)?;
    let cmds = plan.needs_consent();
    if !cmds.is_empty() {
        eprintln!(
            "Commands read from the trace files of run {} (each run traced into a folder under {}):",
            trace_analyzer::escape::text(&plan.run_id),
            opts.dir.display()
        );
        // Words with control characters are shown `$'…'`-quoted.
        for c in &cmds {
            eprintln!("  {c}");
        }
        for w in confirm::consent::warnings(&plan) {
            eprintln!("warning: {w}");
        }
        if !a.yes {
            let asked = io::stdin().is_terminal() && io::stderr().is_terminal();
            let agreed = asked && {
                eprint!("Run them? [y/N] ");
                let mut line = String::new();
                io::stdin().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
            };
            if !agreed {
                eprintln!(
                    "trace-analyzer: nothing run: commands read from trace files run only with --yes (or after a yes on a terminal); check them first"
                );
                return Ok(EXIT_ERROR);
            }
        }
    }
    confirm::run::stop_on_ctrl_c();
    let tty = io::stderr().is_terminal();
    let mut progress = |s: &str| {
        if tty {
            // The line quotes scenario names from the trace.
            eprint!("\r\x1b[K{}", trace_analyzer::escape::text(s));
        }
    };
    let c = confirm::execute(&plan, &opts, &mut progress);
    if tty {
        eprint!("\r\x1b[K");
    }
    let (mut out, _) = open_output(&a.output)?;
    match a.format {
        RunsFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &c)?;
            writeln!(out)?;
        }
        RunsFormat::Table => confirm::verdict::write_table(&c, &mut out)?,
    }
    out.flush()?;
    Ok(match c.verdict {
        Verdict::Confirmed => EXIT_OK,
        _ if c.interrupted => 130,
        _ => EXIT_FINDINGS,
    })
}
