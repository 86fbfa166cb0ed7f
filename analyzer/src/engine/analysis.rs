//! The streaming findings engine: one consumer of the run's one
//! interpretation ([`crate::engine::track`]).
//!
//! For each record the [`Tracker`] says which scenario, slot and resource it
//! belongs to and what it changes; the engine hands that to the rules, the
//! overlap detector, the suite verdict and the optional in-memory
//! [`Timeline`], then returns it for the outputs that draw the run. It keeps
//! only what later records can still refer to: per-resource state inside
//! the rules, and findings. Memory therefore grows with processes,
//! resources and findings, never with records.

use std::rc::Rc;

use state_tracer_format::ActionKind;

use crate::engine::overlap::Overlaps;
use crate::engine::resources::Target;
pub use crate::engine::state::{Proc, Scn};
use crate::engine::track::{Step, Tracked, Tracker};
use crate::findings::Findings;
use crate::input::discover::SourceFile;
use crate::input::read::FileEnd;
use crate::input::record::{to_time, Micros, Rec};
use crate::model::{
    ActionMark, ProcessSummary, RuleId, ScenarioOutcome, ScenarioSpan, Timeline, TimelineProcess,
};
use crate::rules::{self, Access, Accesses, Cx, Op, Rule, RunView};

/// The report parts the engine computes (the caller adds run and warnings).
pub struct Finished {
    pub processes: Vec<ProcessSummary>,
    pub findings: Vec<crate::model::Finding>,
    pub hazards: Vec<crate::model::Hazard>,
    pub overlaps: Vec<crate::model::Overlap>,
    /// Overlapping process pairs in the run (`overlaps` may list fewer).
    pub overlap_pairs: u64,
    /// Problems writing `--hazard-pairs`.
    pub warnings: Vec<crate::model::Warning>,
    pub records: u64,
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    pub suite: Option<crate::model::SuiteVerdict>,
}

/// Options of one analysis.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    pub all_overlaps: bool,
    pub timeline: bool,
    pub allow: Vec<RuleId>,
    pub deny: Vec<RuleId>,
    /// `--hazard-pairs`: where to stream every folded hazard pair.
    pub hazard_pairs: Option<std::path::PathBuf>,
}

/// The streaming analysis of one run.
pub struct Engine {
    /// The one interpretation of each record; the rules see its
    /// [`RunView`] read-only.
    track: Tracker,
    findings: Findings,
    rules: Vec<Box<dyn Rule>>,
    /// Indices of the rules with per-record hooks, and with hooks for
    /// accesses to tables and to in-process state.
    record_rules: Vec<usize>,
    table_rules: Vec<usize>,
    process_rules: Vec<usize>,
    overlaps: Overlaps,
    /// `--hazard-pairs`, shared with `findings` (closed at the end).
    pairs: Option<Rc<std::cell::RefCell<crate::findings::PairSink>>>,
    records: u64,
    first: Option<Micros>,
    last: Option<Micros>,
    timeline: Option<Timeline>,
    suite: SuiteShape,
}

/// What the suite-level verdict counts: per scenario, whether it used
/// tables and whether it emptied whole ones while another scenario ran
/// (bits of one byte, by scenario id), and a few of those tables.
#[derive(Default)]
struct SuiteShape {
    flags: Vec<u8>,
    tables: Vec<String>,
}

const USED_TABLES: u8 = 1;
const WIPED_WHILE_OTHERS_RAN: u8 = 2;

impl SuiteShape {
    fn mark(&mut self, id: usize, flag: u8) {
        if self.flags.len() <= id {
            self.flags.resize(id + 1, 0);
        }
        self.flags[id] |= flag;
    }

    /// Counts what the verdict needs from access `a`.
    #[inline]
    fn count(&mut self, run: &RunView, a: &Access<'_>) {
        let (Some(s), Target::Tables { schema, .. }) = (a.scn, a.target) else {
            return;
        };
        self.mark(s.id, USED_TABLES);
        let wipe = a.op == Op::Destroy
            && a.cleanup
            && !a.own_rows
            && !a.rows.none_changed()
            && !run.resources.db_unknown(schema);
        if wipe && run.active.iter().any(|o| o.id != s.id) {
            self.mark(s.id, WIPED_WHILE_OTHERS_RAN);
            let label = run.resources.label(&a.target);
            let label = crate::output::render::table::short_resource(&label).to_owned();
            if self.tables.len() < 6 && !self.tables.contains(&label) {
                self.tables.push(label);
            }
        }
    }

    /// The verdict, when most scenarios that use tables (and at least
    /// three) emptied whole tables while others ran.
    fn verdict(&self) -> Option<crate::model::SuiteVerdict> {
        let used = self.flags.iter().filter(|f| *f & USED_TABLES != 0).count() as u64;
        let wipers = self
            .flags
            .iter()
            .filter(|f| *f & WIPED_WHILE_OTHERS_RAN != 0)
            .count() as u64;
        if wipers < 3 || wipers * 2 < used {
            return None;
        }
        Some(crate::model::SuiteVerdict {
            summary: format!(
                "this suite is not safe to run in parallel as written: {wipers} of {used} scenarios that use tables empty whole tables ({}) while other scenarios are running",
                self.tables.join(", ")
            ),
            scenarios: used,
            wipers,
            tables: self.tables.clone(),
            fix: "isolate each test or worker (a schema or database of its own), make cleanups delete only the rows the test created, or run the suite serially".to_owned(),
        })
    }
}

impl Engine {
    pub fn new(
        run_id: &str,
        files: &[SourceFile],
        other_runs: Vec<String>,
        run_selected: bool,
        opts: EngineOptions,
    ) -> Engine {
        let pairs = opts.hazard_pairs.as_deref().map(|p| {
            Rc::new(std::cell::RefCell::new(crate::findings::PairSink::create(
                p,
            )))
        });
        let rules: Vec<Box<dyn Rule>> = rules::all()
            .into_iter()
            .filter(|r| !opts.allow.contains(&r.id()))
            .collect();
        let which = |f: fn(&dyn Rule) -> bool| -> Vec<usize> {
            (0..rules.len()).filter(|&i| f(&*rules[i])).collect()
        };
        let record_rules = which(|r| r.uses_records());
        let table_rules = which(|r| matches!(r.accesses(), Accesses::Tables | Accesses::All));
        let process_rules = which(|r| matches!(r.accesses(), Accesses::All));
        Engine {
            track: Tracker::new(run_id, files, other_runs, run_selected),
            findings: Findings::new(opts.deny.clone(), opts.allow.clone())
                .with_pairs(pairs.clone()),
            pairs,
            rules,
            record_rules,
            table_rules,
            process_rules,
            overlaps: Overlaps::new(opts.all_overlaps),
            records: 0,
            first: None,
            last: None,
            timeline: opts.timeline.then(|| Timeline {
                run_id: run_id.to_owned(),
                ..Default::default()
            }),
            suite: SuiteShape::default(),
        }
    }

    /// The one interpretation of the run so far, for the outputs that draw it.
    pub fn tracker(&self) -> &Tracker {
        &self.track
    }

    /// Feeds one record, in merge order; returns it with its
    /// interpretation, for the [`crate::Tap`]s.
    pub fn feed<'r>(&mut self, rec: &'r Rec) -> Tracked<'r> {
        self.records += 1;
        self.first = Some(self.first.map_or(rec.ts, |f| f.min(rec.ts)));
        self.last = Some(self.last.map_or(rec.ts, |l| l.max(rec.ts)));
        let t = self.track.track(rec);
        let scn = t.scn.as_ref();
        match t.step {
            Step::Footer => return t,
            Step::Start => self.started(rec, scn.expect("a start has its scenario")),
            Step::End => self.ended(rec, scn.expect("an end has its scenario")),
            Step::Lifecycle | Step::Action => {}
        }
        if let (Some(s), Some(tl)) = (scn, &mut self.timeline) {
            tl.scenarios[s.id].last = to_time(s.last.get());
        }
        let run = self.track.view();
        for &i in &self.record_rules {
            self.rules[i].on_record(&mut Cx::new(run, &mut self.findings), rec, scn);
        }
        if rec.ts < t.prev {
            for r in &mut self.rules {
                r.on_clock_back(&mut Cx::new(run, &mut self.findings), rec, t.prev, scn);
            }
        }
        if t.step != Step::Action {
            return t;
        }
        let access = t.access();
        if let Some(tl) = &mut self.timeline {
            tl.actions.push(ActionMark {
                ts: to_time(rec.ts),
                pid: run.procs[rec.file as usize].pid,
                scenario: scn.map(|s| s.id),
                action: rec.action.as_str().to_owned(),
                kind: kind_name(rec.action.kind()).to_owned(),
                resource: t.resource_label(&self.track),
                details: rec
                    .details()
                    .as_ref()
                    .map(|d| d.to_string())
                    .or_else(|| rec.name().map(str::to_owned)),
                mutation: t.mutation(),
            });
        }
        if let Some(a) = access {
            let rules = match a.target {
                Target::Tables { .. } => &self.table_rules,
                Target::Process(_) => &self.process_rules,
            };
            for &i in rules {
                self.rules[i].on_access(&mut Cx::new(run, &mut self.findings), &a);
            }
            self.suite.count(run, &a);
            self.track.settle(&a);
        }
        t
    }

    fn started(&mut self, rec: &Rec, s: &Rc<Scn>) {
        let run = self.track.view();
        if let Some(tl) = &mut self.timeline {
            let p = &run.procs[s.file as usize];
            tl.scenarios.push(ScenarioSpan {
                id: s.id,
                pid: p.pid,
                label: p.label(),
                feature: s.feature.to_string(),
                name: s.name.to_string(),
                outcome: ScenarioOutcome::Unfinished,
                start: to_time(rec.ts),
                end: None,
                last: to_time(rec.ts),
                tid: u64::from(rec.tid),
                error: None,
            });
        }
        self.overlaps.on_start(run, s);
        for r in &mut self.rules {
            r.on_start(&mut Cx::new(run, &mut self.findings), s);
        }
    }

    fn ended(&mut self, rec: &Rec, s: &Rc<Scn>) {
        let run = self.track.view();
        if let Some(tl) = &mut self.timeline {
            let span = &mut tl.scenarios[s.id];
            span.end = Some(to_time(rec.ts));
            span.outcome = s.outcome();
            span.error = rec.error().map(str::to_owned);
        }
        for r in &mut self.rules {
            r.on_end(&mut Cx::new(run, &mut self.findings), s);
        }
        self.findings.victim_ended(s, &run.procs);
    }

    /// Ends the analysis: file endings, end-of-run rules, summaries.
    pub fn finish(mut self, ends: Vec<FileEnd>) -> (Finished, Option<Timeline>) {
        let run = self.track.finish(ends);
        for r in &mut self.rules {
            r.finish(&mut Cx::new(run, &mut self.findings));
        }
        let processes: Vec<ProcessSummary> = run.procs.iter().map(Proc::summary).collect();
        let (overlaps, overlap_pairs) = self.overlaps.finish(&run.procs);
        let (findings, hazards) =
            std::mem::take(&mut self.findings).finish(&run.procs, &rules::fix);
        // The findings, and with them their handle on the sink, are gone.
        let warnings = self
            .pairs
            .take()
            .and_then(|s| Rc::try_unwrap(s).ok())
            .and_then(|s| s.into_inner().close())
            .into_iter()
            .collect();
        let timeline = self.timeline.take().map(|mut tl| {
            tl.start = self.first.map(to_time);
            tl.end = self.last.map(to_time);
            tl.processes = run
                .procs
                .iter()
                .map(|p| TimelineProcess {
                    pid: p.pid,
                    label: p.label(),
                    crashed: p.crashed(),
                })
                .collect();
            tl
        });
        (
            Finished {
                processes,
                findings,
                hazards,
                overlaps,
                overlap_pairs,
                warnings,
                records: self.records,
                start: self.first.map(to_time),
                end: self.last.map(to_time),
                suite: self.suite.verdict(),
            },
            timeline,
        )
    }
}

fn kind_name(k: ActionKind) -> &'static str {
    match k {
        ActionKind::Lifecycle => "lifecycle",
        ActionKind::Cleanup => "cleanup",
        ActionKind::Read => "read",
        ActionKind::Write => "write",
        ActionKind::Transaction => "transaction",
        ActionKind::Schema => "schema",
        ActionKind::Secret => "secret",
        ActionKind::Config => "config",
        ActionKind::Http => "http",
        ActionKind::Custom => "custom",
    }
}
