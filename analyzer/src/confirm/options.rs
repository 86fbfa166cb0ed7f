//! What to confirm and how: the target, the options and their limits,
//! shared by [`super::plan`], the runs and the CLI (a module of its own, so
//! the plan does not import the module that runs it).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::input::read::LegacyTz;

/// What to confirm.
#[derive(Debug, Clone)]
pub enum Target {
    /// The Nth finding of the report (1-based, as `report` numbers them).
    Finding(usize),
    /// A victim, with its suspected polluter or, without one, a search
    /// among the scenarios that touched what it used.
    Victim {
        victim: String,
        polluter: Option<String>,
    },
}

/// Everything `confirm` needs.
#[derive(Debug, Clone)]
pub struct ConfirmOptions {
    /// Trace files or folders of the run the suspicion comes from.
    pub inputs: Vec<PathBuf>,
    pub run: Option<String>,
    pub legacy_tz: LegacyTz,
    pub target: Target,
    /// Runs of the victim alone.
    pub alone: u32,
    /// Attempts of the victim with each polluter.
    pub attempts: u32,
    /// Per child process.
    pub timeout: Duration,
    /// Replace the commands read from the trace (run with `sh -c`).
    pub victim_cmd: Option<String>,
    pub polluter_cmd: Option<String>,
    /// Where each run's traces go (one folder per run).
    pub dir: PathBuf,
    /// Search: at most this many candidates are tried.
    pub max_candidates: usize,
    /// Environment for every run on top of ours (`--env KEY=VALUE`): the
    /// traced run's database, a switch the failure needs.
    pub env: Vec<(String, String)>,
    /// Run by `sh -c` before every rerun (untraced), to put shared state
    /// back as the suite's CI starts it: `rm -f test.db`, a schema reset.
    /// A failure stops the reruns.
    pub reset: Option<String>,
    /// No new run starts after this instant (`run --confirm`'s budget);
    /// what ran is judged.
    pub deadline: Option<Instant>,
    /// Stop a pair's attempts once it reproduced this often (a verdict, not
    /// a reproduction rate, is what is needed).
    pub enough: Option<usize>,
}

impl ConfirmOptions {
    /// The options `confirm` uses by default for `target` in the run at
    /// `inputs`, each run traced into a folder under `dir`.
    pub fn new(inputs: Vec<PathBuf>, target: Target, dir: PathBuf) -> ConfirmOptions {
        ConfirmOptions {
            inputs,
            run: None,
            legacy_tz: LegacyTz::default(),
            target,
            alone: 3,
            attempts: 10,
            timeout: Duration::from_secs(300),
            victim_cmd: None,
            polluter_cmd: None,
            dir,
            max_candidates: 10,
            env: Vec::new(),
            reset: None,
            deadline: None,
            enough: None,
        }
    }

    pub(super) fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Highest `--attempts` / `--alone` accepted: a cap on the work one command
/// can start.
pub const MAX_ATTEMPTS: u32 = 100;

/// Splits `FEATURE: SCENARIO`.
pub fn parse_scenario(s: &str) -> Result<(String, String), String> {
    match s.split_once(": ") {
        Some((f, n)) if !f.trim().is_empty() && !n.trim().is_empty() => {
            Ok((f.trim().to_owned(), n.trim().to_owned()))
        }
        _ => Err(format!(
            "{s:?} is not 'FEATURE: SCENARIO' (e.g. 'greet: Welcome page for a newly registered user')"
        )),
    }
}
