//! trace-analyzer: merges a run's state-trace files into one timeline and
//! names polluters and victims.
//!
//! The binary is a thin clap layer (its `cli` module) over this library,
//! which returns data and prints nothing (progress goes to a [`Progress`]
//! hook; the binary draws the bar). [`Analyzer`] is the one entry point of
//! an analysis. The result types ([`model`]) are the stable contract for
//! JSON and the HTML timeline.
//!
//! The source tree follows the pipeline, one folder (or file) per stage:
//!
//! 1. `input/`: [`discover`] finds trace files and groups them into runs,
//!    [`read`] parses v1 and legacy files into [`record::Rec`]s.
//! 2. [`merge`]: orders the records of a run's files into one.
//! 3. `engine/`: [`track`] interprets each record once (scenario, slot,
//!    resource, mutation); `analysis` feeds that to the rules and builds
//!    the report parts ([`overlap`]).
//! 4. `rules/`: each rule watches the tracked records for one kind of hazard.
//! 5. `findings`: narrows the rules' candidates to the likely cause,
//!    folds the rest into hazard groups and words each finding (with
//!    `repro`'s replay commands).
//! 6. `output/`: [`render`] writes the report and the merged records,
//!    [`export`] the Chrome trace; the streaming ones draw the run in the
//!    same pass through a [`Tap`].
//!
//! Beside the pipeline: [`history`] (runs stored across CI jobs),
//! [`confirm`] (re-running a polluter/victim pair to prove it), `tools/`
//! ([`clean`], [`gen`]), and the shared helpers [`model`], [`escape`],
//! [`duration`]. The public paths stay flat (`trace_analyzer::read`, not
//! `…::input::read`): the stage folders are re-exported at the root.
//!
//! ```text
//! read (per file) → merge (one order) → track (one interpretation per record)
//!                                         ├→ analysis → rules → findings → render (table, JSON, …)
//!                                         └→ Taps: HTML page, Chrome export (same pass)
//! ```

pub mod confirm;
pub mod duration;
mod engine;
pub mod escape;
pub(crate) mod findings;
pub mod history;
mod input;
pub mod merge;
pub mod model;
mod output;
pub(crate) mod repro;
pub(crate) mod rules;
mod tools;

pub use engine::{overlap, track};
pub use input::{discover, read, record};
pub use output::{export, render};
pub use tools::{clean, gen};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use model::*;
pub use read::LegacyTz;

use engine::analysis::{Engine, EngineOptions};
use input::discover::{Discovery, Run};
use input::read::ReadOptions;
use merge::Merger;

/// `1 row`, `2 rows`: a count and its noun, singular or plural.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What to analyze and how.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Files and folders; empty means [`discover::default_inputs`].
    pub inputs: Vec<PathBuf>,
    /// The run to analyze (exact id or unique prefix); default: most recent.
    pub run: Option<String>,
    pub legacy_tz: LegacyTz,
    /// List every overlapping pair instead of one example per process pair.
    pub all_overlaps: bool,
    /// Stream every pair folded into a hazard group to this file, one JSON
    /// line each (the report keeps only the groups).
    pub hazard_pairs: Option<PathBuf>,
    /// Rules to switch off.
    pub allow: Vec<RuleId>,
    /// Rules whose findings are always errors.
    pub deny: Vec<RuleId>,
    /// Also build the [`Timeline`] (keeps every scenario and action in memory).
    pub timeline: bool,
}

/// Why nothing could be analyzed (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// `--run` named no run in the inputs.
    UnknownRun {
        wanted: String,
        available: Vec<String>,
    },
    /// `--run` prefix matched several runs.
    AmbiguousRun {
        wanted: String,
        matches: Vec<String>,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::UnknownRun { wanted, available } if available.is_empty() => {
                write!(
                    f,
                    "run {wanted:?} not found: the inputs hold no trace files"
                )
            }
            InputError::UnknownRun { wanted, available } => write!(
                f,
                "run {wanted:?} not found; runs in the inputs: {} (see `trace-analyzer runs`)",
                available.join(", ")
            ),
            InputError::AmbiguousRun { wanted, matches } => write!(
                f,
                "run {wanted:?} is ambiguous, it matches {}; give more of the id",
                matches.join(", ")
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// Picks the run to analyze: `wanted` (exact id, else unique prefix) or
/// the most recent. Returns it and the ids of the others.
pub fn select_run(
    d: &Discovery,
    wanted: Option<&str>,
) -> Result<Option<(Run, Vec<String>)>, InputError> {
    let ids: Vec<String> = d.runs.iter().map(|r| r.id.clone()).collect();
    let idx = match wanted {
        None => match d.runs.len() {
            0 => return Ok(None),
            n => n - 1,
        },
        Some(w) => {
            if let Some(i) = d.runs.iter().position(|r| r.id == w) {
                i
            } else {
                let m: Vec<usize> = (0..d.runs.len())
                    .filter(|&i| d.runs[i].id.starts_with(w))
                    .collect();
                match m.as_slice() {
                    [i] => *i,
                    [] => {
                        return Err(InputError::UnknownRun {
                            wanted: w.to_owned(),
                            available: ids,
                        })
                    }
                    _ => {
                        return Err(InputError::AmbiguousRun {
                            wanted: w.to_owned(),
                            matches: m.iter().map(|&i| ids[i].clone()).collect(),
                        })
                    }
                }
            }
        }
    };
    let others = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != idx)
        .map(|(_, id)| id.clone())
        .collect();
    Ok(Some((d.runs[idx].clone(), others)))
}

/// Inputs or the default folder.
pub fn inputs_or_default(inputs: &[PathBuf]) -> Vec<PathBuf> {
    if inputs.is_empty() {
        discover::default_inputs()
    } else {
        inputs.to_vec()
    }
}

/// Sees every record of the analyzed run as the merge produces it, with
/// the interpretation the findings engine used ([`track::Tracked`]): how
/// the streaming outputs (Chrome export, HTML timeline) draw a run without
/// keeping it in memory, and without following it a second time. Given to
/// [`Analyzer::tap`].
pub trait Tap {
    /// The run about to be read.
    fn begin(&mut self, _run: &Run) {}
    /// One record, interpreted; `track` answers about the run so far
    /// (resource labels, sharing, slots).
    fn record(&mut self, t: &track::Tracked<'_>, track: &track::Tracker);
    /// The last record was seen: `track` holds the scenarios never ended.
    fn end(&mut self, _track: &track::Tracker) {}
}

/// Progress of a long analysis, for a caller that shows it (the library
/// itself prints nothing). Given to [`Analyzer::progress`].
pub trait Progress {
    /// The run has `total` input bytes: whether to follow it.
    fn start(&mut self, total: u64) -> bool;
    /// `read` of the `total` bytes have been read.
    fn tick(&mut self, read: u64, total: u64);
    /// The analysis is over.
    fn done(&mut self);
}

/// Where an [`Analyzer`] gets its run.
enum Source<'a> {
    /// Discover the inputs and pick `opts.run` (or the most recent run).
    Discover,
    /// A run the caller discovered and picked.
    Run {
        run: &'a Run,
        other_runs: Vec<String>,
        warnings: Vec<Warning>,
    },
}

/// One analysis of one run, streaming: reads the run's files, merges them
/// into one order and hands each record to the rules (and to a [`Tap`]),
/// keeping only what later records can still refer to.
///
/// [`Analyzer::new`] discovers the inputs of [`AnalyzeOptions`] and picks
/// the run; [`Analyzer::for_run`] takes a run already discovered. The
/// optional parts ([`progress`](Analyzer::progress), [`tap`](Analyzer::tap))
/// are set by methods, and [`run`](Analyzer::run) does the work.
///
/// ```no_run
/// use trace_analyzer::{AnalyzeOptions, Analyzer, InputError, Progress};
///
/// /// Prints a percentage now and then.
/// struct Percent;
///
/// impl Progress for Percent {
///     fn start(&mut self, total: u64) -> bool {
///         total > 0
///     }
///     fn tick(&mut self, read: u64, total: u64) {
///         eprintln!("{}%", read * 100 / total);
///     }
///     fn done(&mut self) {}
/// }
///
/// fn main() -> Result<(), InputError> {
///     let opts = AnalyzeOptions {
///         inputs: vec!["bdd-traces".into()],
///         ..AnalyzeOptions::default()
///     };
///     let analysis = Analyzer::new(&opts).progress(&mut Percent).run()?;
///     for f in &analysis.report.findings {
///         println!("{} {}: {}", f.severity, f.rule, f.explanation);
///     }
///     Ok(())
/// }
/// ```
#[must_use = "an Analyzer does nothing until `.run()`"]
pub struct Analyzer<'a> {
    opts: &'a AnalyzeOptions,
    source: Source<'a>,
    progress: Option<&'a mut dyn Progress>,
    tap: Option<&'a mut dyn Tap>,
}

impl<'a> Analyzer<'a> {
    /// Analyzes the run `opts` names (`opts.run`, else the most recent) in
    /// `opts.inputs` (else [`discover::default_inputs`]).
    pub fn new(opts: &'a AnalyzeOptions) -> Self {
        Analyzer {
            opts,
            source: Source::Discover,
            progress: None,
            tap: None,
        }
    }

    /// Analyzes `run`, already discovered and picked by the caller (so the
    /// `mixed-runs` rule stays quiet); `opts.inputs` and `opts.run` are not
    /// used. [`run`](Analyzer::run) then never returns `Err`.
    pub fn for_run(run: &'a Run, opts: &'a AnalyzeOptions) -> Self {
        Analyzer {
            opts,
            source: Source::Run {
                run,
                other_runs: Vec::new(),
                warnings: Vec::new(),
            },
            progress: None,
            tap: None,
        }
    }

    /// For [`for_run`](Analyzer::for_run): the ids of the other runs found
    /// beside it, reported as [`Report::other_runs`].
    pub fn other_runs(mut self, ids: Vec<String>) -> Self {
        if let Source::Run { other_runs, .. } = &mut self.source {
            *other_runs = ids;
        }
        self
    }

    /// For [`for_run`](Analyzer::for_run): warnings of the discovery, put
    /// first in [`Report::warnings`].
    pub fn warnings(mut self, found: Vec<Warning>) -> Self {
        if let Source::Run { warnings, .. } = &mut self.source {
            *warnings = found;
        }
        self
    }

    /// Reports the progress of reading the run to `progress`.
    pub fn progress(mut self, progress: &'a mut dyn Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Hands every record, interpreted, to `tap` as well (the streaming
    /// outputs draw the run this way, in the same pass).
    pub fn tap(mut self, tap: &'a mut dyn Tap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Runs the analysis. `Err` when `opts.run` names no run, or several;
    /// no trace files at all is an `Ok` empty report with a warning.
    pub fn run(self) -> Result<Analysis, InputError> {
        let Analyzer {
            opts,
            source,
            progress,
            tap,
        } = self;
        let mut no_tap = NoTap;
        let tap: &mut dyn Tap = match tap {
            Some(t) => t,
            None => &mut no_tap,
        };
        match source {
            Source::Run {
                run,
                other_runs,
                warnings,
            } => Ok(analyze_run(
                run, other_runs, true, opts, warnings, progress, tap,
            )),
            Source::Discover => discover_and_analyze(opts, progress, tap),
        }
    }
}

/// The [`Tap`] of an [`Analyzer`] given none.
struct NoTap;

impl Tap for NoTap {
    fn record(&mut self, _t: &track::Tracked<'_>, _track: &track::Tracker) {}
}

/// [`Analyzer::new`]: discovers the inputs and analyzes the run picked.
fn discover_and_analyze(
    opts: &AnalyzeOptions,
    progress: Option<&mut dyn Progress>,
    tap: &mut dyn Tap,
) -> Result<Analysis, InputError> {
    let inputs = inputs_or_default(&opts.inputs);
    let discovery = discover::discover(&inputs, &opts.legacy_tz);
    let mut warnings = discovery.warnings.clone();
    let Some((run, other_runs)) = select_run(&discovery, opts.run.as_deref())? else {
        let shown: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        let message = discovery.nothing_found();
        // The message names the inputs itself; the warning's file does too.
        let prefix = format!("no trace files found in {}", shown.join(", "));
        warnings.push(Warning {
            file: shown.join(", "),
            line: 0,
            message: format!(
                "no trace files found{}",
                message.strip_prefix(&prefix).unwrap_or(&message)
            ),
        });
        return Ok(Analysis {
            report: Report {
                run_id: String::new(),
                other_runs: Vec::new(),
                start: None,
                end: None,
                records: 0,
                processes: Vec::new(),
                findings: Vec::new(),
                overlaps: Vec::new(),
                overlap_pairs: 0,
                warnings,
                hazards: Vec::new(),
                suite: None,
            },
            timeline: opts.timeline.then(Timeline::default),
        });
    };
    Ok(analyze_run(
        &run,
        other_runs,
        opts.run.is_some(),
        opts,
        warnings,
        progress,
        tap,
    ))
}

/// Reads, merges and analyzes the files of `run`.
fn analyze_run(
    run: &Run,
    other_runs: Vec<String>,
    run_selected: bool,
    opts: &AnalyzeOptions,
    mut warnings: Vec<Warning>,
    progress: Option<&mut dyn Progress>,
    tap: &mut dyn Tap,
) -> Analysis {
    tap.begin(run);
    let total = run.bytes();
    let mut progress = progress;
    if let Some(p) = progress.as_mut() {
        if !p.start(total) {
            progress = None;
        }
    }
    let counter = progress.as_ref().map(|_| Arc::new(AtomicU64::new(0)));
    let read_opts = ReadOptions {
        full: false,
        legacy_tz: opts.legacy_tz,
        progress: counter.clone(),
    };
    let mut engine = Engine::new(
        &run.id,
        &run.files,
        other_runs.clone(),
        run_selected,
        EngineOptions {
            all_overlaps: opts.all_overlaps,
            timeline: opts.timeline,
            allow: opts.allow.clone(),
            deny: opts.deny.clone(),
            hazard_pairs: opts.hazard_pairs.clone(),
        },
    );
    let mut merger = Merger::new(&run.files, &read_opts);
    let mut n = 0u64;
    while let Some(rec) = merger.next_ref() {
        let t = engine.feed(rec);
        tap.record(&t, engine.tracker());
        n += 1;
        if n & 0xFFFF == 0 {
            if let (Some(p), Some(c)) = (progress.as_mut(), &counter) {
                p.tick(c.load(Ordering::Relaxed).min(total), total);
            }
        }
    }
    tap.end(engine.tracker());
    let ends = merger.finish();
    if let Some(p) = progress.as_mut() {
        p.done();
    }
    let mut file_ends = Vec::with_capacity(ends.len());
    for (end, w) in ends {
        warnings.extend(w);
        file_ends.push(end);
    }
    let (parts, timeline) = engine.finish(file_ends);
    warnings.extend(parts.warnings);
    Analysis {
        report: Report {
            run_id: run.id.clone(),
            other_runs,
            start: parts.start,
            end: parts.end,
            records: parts.records,
            processes: parts.processes,
            findings: parts.findings,
            overlaps: parts.overlaps,
            overlap_pairs: parts.overlap_pairs,
            warnings,
            hazards: parts.hazards,
            suite: parts.suite,
        },
        timeline,
    }
}
