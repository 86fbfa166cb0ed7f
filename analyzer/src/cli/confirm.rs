//! `confirm`: prove a suspected polluter by traced reruns of the victim
//! alone and with it.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use state_tracer_format::generate_run_id;

use trace_analyzer::read::LegacyTz;

use super::output::open_output;
use super::runs::RunsFormat;
use super::{parse_timeout, parse_tz, CliError, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};

pub(super) const CONFIRM_EXAMPLES: &str = "\
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
pub(super) struct ConfirmArgs {
    /// Trace files or folders of the run the suspicion comes from [default: $BDD_TRACE_DIR, else the OS temp dir].
    pub(super) inputs: Vec<PathBuf>,
    /// Run to use (id or unique prefix) [default: the most recent].
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// The finding numbered N in the report: `finding N` beside a culprit,
    /// `#` with --verbose, `number` in JSON.
    #[arg(long, value_name = "N", conflicts_with = "victim")]
    finding: Option<usize>,
    /// The victim, 'FEATURE: SCENARIO'.
    #[arg(long, value_name = "'FEATURE: SCENARIO'")]
    victim: Option<String>,
    /// The suspected polluter; without it, the candidates from the trace are tried in evidence order.
    #[arg(long, value_name = "'FEATURE: SCENARIO'", requires = "victim")]
    polluter: Option<String>,
    /// Attempts of the victim with each polluter (at most 100).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=trace_analyzer::confirm::MAX_ATTEMPTS as i64))]
    attempts: u32,
    /// Runs of the victim alone first (at most 100).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=trace_analyzer::confirm::MAX_ATTEMPTS as i64))]
    alone: u32,
    /// Time limit of each process, e.g. 90s, 5m; its whole process group is killed when it is up.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_timeout)]
    timeout: std::time::Duration,
    /// Search: at most this many candidates are tried.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_candidates: usize,
    /// Run the commands read from the trace files without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// The victim's command instead of the trace's (run by `sh -c`; for a one-process shape it must select both scenarios).
    #[arg(long, value_name = "CMD")]
    victim_cmd: Option<String>,
    /// The polluter's command instead of the trace's (run by `sh -c`).
    #[arg(long, value_name = "CMD")]
    polluter_cmd: Option<String>,
    /// Set KEY=VALUE in every run's environment (repeatable), e.g. the traced run's DATABASE_URL.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Run by `sh -c` before every rerun, untraced, to put shared state back (e.g. 'rm -f test.db', 'psql -f reset.sql'); a failure stops the reruns.
    #[arg(long, value_name = "CMD")]
    reset: Option<String>,
    /// Where the runs' traces go, a folder per run [default: ./bdd-traces/confirm-<id>].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = RunsFormat::Table)]
    format: RunsFormat,
    #[arg(long, value_name = "TZ", default_value = "local", value_parser = parse_tz)]
    legacy_tz: LegacyTz,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

pub(super) fn cmd_confirm(a: ConfirmArgs) -> Result<i32, CliError> {
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
        reset: a.reset.clone(),
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
