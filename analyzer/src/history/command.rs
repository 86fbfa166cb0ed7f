//! The `history` subcommand family and the `--history` side effect of
//! `report`/`run`: thin wrappers that parse flags, open the store and print.
//!
//! Exit codes: 0 done, 2 a usage or database problem (one line on stderr,
//! password redacted). A failing history write in `report`/`run` is only a
//! warning: it never changes the verdict's exit code.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::add::{add, Added};
use super::output::{self, HistoryFormat};
use super::query::{self, Window};
use super::record::{parse_label, RunMeta, RunRecord};
use super::{Access, DbUrl, HistoryError, Store};
use crate::input::read::LegacyTz;
use crate::model::{Analysis, CauseHistory, Report};
use crate::{input::discover, AnalyzeOptions};

const EXIT_OK: i32 = 0;
const EXIT_ERROR: i32 = 2;

/// `history`: store analyzed runs, then ask which scenarios are flaky and why.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub command: HistoryCommand,
}

use super::shared::CmdError;
pub use super::shared::DbArgs;

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Analyze a run and store it (processes, scenario runs, findings). Adding a run twice changes nothing.
    #[command(
        after_help = "Examples:\n  trace-analyzer history add ./bdd-traces\n  trace-analyzer history add ./bdd-traces --run ci-1234 --rev \"$(git rev-parse HEAD)\" --label os=linux\n  trace-analyzer history add ./validate-output --all-runs --db postgres://ci@db/history\n\nRevision, branch and CI labels default to GITHUB_SHA, GITHUB_REF_NAME, CI_COMMIT_SHA, CI_COMMIT_REF_NAME, … when set."
    )]
    Add(AddArgs),
    /// Scenarios that both passed and failed, with the polluters that caused their failures.
    #[command(
        after_help = "Examples:\n  trace-analyzer history flaky\n  trace-analyzer history flaky --since 30d --min-runs 5 --format markdown >> \"$GITHUB_STEP_SUMMARY\"\n  trace-analyzer history flaky --rev \"$(git rev-parse HEAD)\" --format json"
    )]
    Flaky(FlakyArgs),
    /// Polluter → victim pairs: how often the polluter caused the victim's failure vs overlapped harmlessly.
    #[command(
        after_help = "Examples:\n  trace-analyzer history pairs\n  trace-analyzer history pairs --since 90d --format csv -o pairs.csv"
    )]
    Pairs(QueryArgs),
    /// The stored runs, newest first (ID, time, revision, scenarios failed, findings).
    #[command(
        after_help = "Examples:\n  trace-analyzer history runs\n  trace-analyzer history runs --since 1d --format json"
    )]
    Runs(RunsArgs),
    /// Remove runs older than an age, with all their rows.
    #[command(after_help = "Examples:\n  trace-analyzer history prune --older-than 30d")]
    Prune(PruneArgs),
    /// Fill a database with a synthetic history (benchmarks).
    #[command(hide = true)]
    Synth(super::synth::SynthArgs),
}

fn parse_tz(s: &str) -> Result<LegacyTz, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Trace files or folders [default: $BDD_TRACE_DIR, else the OS temp dir].
    pub inputs: Vec<PathBuf>,
    /// Run to add (id or unique prefix) [default: the most recent]. The run ID is the history's key.
    #[arg(long, value_name = "ID", conflicts_with = "all_runs")]
    pub run: Option<String>,
    /// Add every run found in the inputs.
    #[arg(long)]
    pub all_runs: bool,
    /// Revision (commit) the run tested [default: $GITHUB_SHA, $CI_COMMIT_SHA, …].
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// A label for the run (repeatable), e.g. `--label os=linux`.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_label)]
    pub label: Vec<(String, String)>,
    /// Time zone of legacy (Go tracer) timestamps: `local`, `UTC`, `+02:00`.
    #[arg(long, value_name = "TZ", default_value = "local", value_parser = parse_tz)]
    pub legacy_tz: LegacyTz,
    #[command(flatten)]
    pub db: DbArgs,
}

/// `--since AGE|all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since(pub Option<Duration>);

fn parse_since(s: &str) -> Result<Since, String> {
    if s.eq_ignore_ascii_case("all") {
        Ok(Since(None))
    } else {
        crate::tools::clean::parse_age(s).map(|d| Since(Some(d)))
    }
}

/// Which runs and how to print, common to the query commands.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Only runs that started within this age (`14d`, `12h`, `2w`) or `all`.
    #[arg(long, value_name = "AGE", default_value = "14d", value_parser = parse_since)]
    pub since: Since,
    /// Only runs of this revision.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

impl QueryArgs {
    fn window(&self) -> Window {
        Window {
            since_us: self.since.0.map(|d| {
                chrono::Utc::now().timestamp_micros()
                    - i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2)
            }),
            rev: self.rev.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct FlakyArgs {
    #[command(flatten)]
    pub query: QueryArgs,
    /// Only scenarios with at least N runs in the window.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub min_runs: i64,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub query: QueryArgs,
    /// At most N runs.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: i64,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Age, e.g. `30d`, `12h`, `2w`.
    #[arg(long, value_name = "AGE", value_parser = crate::tools::clean::parse_age)]
    pub older_than: Duration,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A current-thread runtime: the history's I/O is sequential.
pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs one `history` command; returns the exit code.
pub fn run(a: HistoryArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let rt = runtime()?;
    let result = rt.block_on(async {
        match a.command {
            HistoryCommand::Add(a) => cmd_add(a).await,
            HistoryCommand::Flaky(a) => cmd_flaky(a).await,
            HistoryCommand::Pairs(a) => cmd_pairs(a).await,
            HistoryCommand::Runs(a) => cmd_runs(a).await,
            HistoryCommand::Prune(a) => cmd_prune(a).await,
            HistoryCommand::Synth(a) => super::synth::run(a).await,
        }
    });
    match result {
        Ok(code) => Ok(code),
        Err(CmdError::History(e)) => {
            eprintln!("trace-analyzer: error: {e}");
            Ok(EXIT_ERROR)
        }
        Err(CmdError::Other(e)) => Err(e),
    }
}

async fn open(db: &DbArgs, access: Access) -> Result<Store, HistoryError> {
    let url = DbUrl::resolve(db.db.as_deref())?;
    Store::open(&url, access).await
}

fn output(path: &Option<PathBuf>) -> Result<Box<dyn Write>, CmdError> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).map_err(|e| format!("cannot write {}: {e}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

async fn cmd_add(a: AddArgs) -> Result<i32, CmdError> {
    let inputs = crate::inputs_or_default(&a.inputs);
    let d = discover::discover(&inputs, &a.legacy_tz);
    let runs: Vec<discover::Run> = if a.all_runs {
        d.runs.clone()
    } else {
        crate::select_run(&d, a.run.as_deref())?
            .map(|(r, _)| vec![r])
            .unwrap_or_default()
    };
    for w in &d.warnings {
        eprintln!("warning: {}:{}: {}", w.file, w.line, w.message);
    }
    if runs.is_empty() {
        eprintln!("trace-analyzer: error: {}", d.nothing_found());
        return Ok(EXIT_ERROR);
    }
    let store = open(&a.db, Access::Write).await?;
    let meta = RunMeta::from_flags(a.rev.clone(), &a.label);
    let opts = AnalyzeOptions {
        legacy_tz: a.legacy_tz,
        timeline: true,
        ..Default::default()
    };
    let mut out = io::stdout().lock();
    for run in &runs {
        let analysis = crate::Analyzer::for_run(run, &opts).run()?;
        let rec = RunRecord::from_analysis(&analysis, meta.clone());
        let what = match add(&store, &rec).await? {
            Added::New => "added",
            Added::AlreadyStored => "already stored, unchanged:",
        };
        writeln!(
            out,
            "{what} run {} ({} processes, {} scenario runs, {} failed, {} findings) in {}",
            rec.run_key,
            rec.processes.len(),
            rec.scenarios.len(),
            rec.failed(),
            rec.findings.len(),
            store.url().redacted()
        )?;
    }
    store.close().await;
    Ok(EXIT_OK)
}

async fn cmd_flaky(a: FlakyArgs) -> Result<i32, CmdError> {
    let store = open(&a.query.db, Access::Read).await?;
    let w = a.query.window();
    let list = query::flaky(&store, &w, a.min_runs).await?;
    let n = query::count_runs(&store, &w).await?;
    let mut out = output(&a.query.output)?;
    output::write_flaky(
        a.query.format,
        &store.url().redacted(),
        &w,
        n,
        &list,
        &mut out,
    )?;
    out.flush()?;
    store.close().await;
    Ok(EXIT_OK)
}

async fn cmd_pairs(a: QueryArgs) -> Result<i32, CmdError> {
    let store = open(&a.db, Access::Read).await?;
    let w = a.window();
    let list = query::pairs(&store, &w).await?;
    let mut out = output(&a.output)?;
    output::write_pairs(a.format, &store.url().redacted(), &w, &list, &mut out)?;
    out.flush()?;
    store.close().await;
    Ok(EXIT_OK)
}

async fn cmd_runs(a: RunsArgs) -> Result<i32, CmdError> {
    let store = open(&a.query.db, Access::Read).await?;
    let w = a.query.window();
    let list = query::runs(&store, &w, a.limit).await?;
    let mut out = output(&a.query.output)?;
    output::write_runs(a.query.format, &store.url().redacted(), &w, &list, &mut out)?;
    out.flush()?;
    store.close().await;
    Ok(EXIT_OK)
}

async fn cmd_prune(a: PruneArgs) -> Result<i32, CmdError> {
    let store = open(&a.db, Access::Write).await?;
    let cutoff = chrono::Utc::now().timestamp_micros()
        - i64::try_from(a.older_than.as_micros()).unwrap_or(i64::MAX / 2);
    let n = query::prune(&store, cutoff).await?;
    println!(
        "removed {} older than {} from {}",
        crate::count(n, "run", "runs"),
        output::short_time(cutoff),
        store.url().redacted()
    );
    store.close().await;
    Ok(EXIT_OK)
}

/// `report --history[=URL]` / `run --history[=URL]`: stores the analyzed run
/// and annotates each likely cause with its record. `db` None or empty means
/// the default database. Problems are warnings: the report and its exit
/// code stay as they are.
pub fn record_and_annotate(analysis: &mut Analysis, db: Option<&str>) {
    let result = runtime().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(async {
            // A bare `--history` names the default database.
            let url = DbUrl::resolve(db.filter(|d| !d.is_empty()))?;
            let store = Store::open(&url, Access::Write).await?;
            let rec = RunRecord::from_analysis(analysis, RunMeta::from_flags(None, &[]));
            let added = add(&store, &rec).await;
            let annotated = annotate(&store, &mut analysis.report).await;
            store.close().await;
            annotated?;
            added.map(drop)
        })
        .map_err(|e: HistoryError| e.to_string())
    });
    if let Err(e) = result {
        eprintln!("trace-analyzer: warning: history not updated: {e}");
    }
}

/// Sets [`crate::Finding::history`] on every likely cause with a victim and a polluter.
pub async fn annotate(store: &Store, report: &mut Report) -> Result<(), HistoryError> {
    let mut seen: BTreeMap<(String, String, String, String), CauseHistory> = BTreeMap::new();
    for f in report.findings.iter_mut().filter(|f| f.likely_cause) {
        let (Some(v), Some(p)) = (&f.victim, &f.polluter) else {
            continue;
        };
        let key = (
            v.feature.clone(),
            v.scenario.clone(),
            p.feature.clone(),
            p.scenario.clone(),
        );
        let h = match seen.get(&key) {
            Some(h) => *h,
            None => {
                let h = query::cause_history(
                    store,
                    (&v.feature, &v.scenario),
                    (&p.feature, &p.scenario),
                    &report.run_id,
                )
                .await?;
                seen.insert(key, h);
                h
            }
        };
        f.history = Some(h);
    }
    Ok(())
}
