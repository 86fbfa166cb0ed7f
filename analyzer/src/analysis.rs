//! The streaming analysis engine: follows scenarios, processes and schemas
//! record by record and hands normalised accesses to the rules.
//!
//! It keeps only what later records can still refer to: active scenarios,
//! a few recently ended ones (after-hooks), per-resource state inside the
//! rules, and findings. Memory therefore grows with processes, resources
//! and findings, never with records.

use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;
use std::hash::BuildHasher as _;
use std::rc::Rc;
use std::sync::Arc;

use state_tracer::format::{Action, ActionKind, Outcome, Scope};

use crate::discover::SourceFile;
use crate::findings::Findings;
use crate::model::{
    ActionMark, ProcessSummary, RuleId, ScenarioOutcome, ScenarioSpan, Timeline, TimelineProcess,
};
use crate::overlap::Overlaps;
use crate::read::FileEnd;
use crate::record::{to_time, FastMap, FileIdx, Micros, Rec, RecKind};
use crate::resources::{Resources, Target};
use crate::rows::{Owner, RowLedger, Writer};
use crate::rules::{self, Access, Accesses, Cx, Op, Rule, RunView};
pub use crate::state::{Proc, Scn};
use crate::state::{Resolved, RES_CACHE};

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
    /// What the rules see, read-only; only the engine changes it.
    run: RunView,
    findings: Findings,
    rules: Vec<Box<dyn Rule>>,
    /// Indices of the rules with per-record hooks, and with hooks for
    /// accesses to tables and to in-process state.
    record_rules: Vec<usize>,
    table_rules: Vec<usize>,
    process_rules: Vec<usize>,
    overlaps: Overlaps,
    /// `--hazard-pairs`, shared with `findings` (closed at the end).
    pairs: Option<Rc<std::cell::RefCell<crate::grouping::PairSink>>>,
    next_id: usize,
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
            Rc::new(std::cell::RefCell::new(crate::grouping::PairSink::create(
                p,
            )))
        });
        let procs = files
            .iter()
            .enumerate()
            .map(|(i, f)| Proc {
                file: i as FileIdx,
                pid: f.pid,
                header_label: f.label.clone(),
                format: f.format,
                path: f.display(),
                argv: f.argv.clone(),
                rerun: f.rerun.clone(),
                first_feature: None,
                by_id: FastMap::default(),
                last_by_id: None,
                by_name: FastMap::default(),
                ended_ids: VecDeque::new(),
                schema: None,
                active: Vec::new(),
                order: Vec::new(),
                first: None,
                last: None,
                prev_ts: Micros::MIN,
                end: FileEnd::default(),
                res_cache: [Resolved {
                    res: std::ptr::null(),
                    schema: 0,
                    target: Target::Process(0),
                }; RES_CACHE],
                res_len: 0,
                res_alive: Vec::new(),
            })
            .collect();
        let rules: Vec<Box<dyn Rule>> = rules::all()
            .into_iter()
            .filter(|r| !opts.allow.contains(&r.id()))
            .collect();
        let which = |f: fn(&dyn Rule) -> bool| -> Vec<usize> {
            (0..rules.len()).filter(|&i| f(&*rules[i])).collect()
        };
        let record_rules = which(|r| r.uses_records());
        let table_rules = which(|r| matches!(r.accesses(), Accesses::Tables | Accesses::All));
        let process_rules = which(|r| matches!(r.accesses(), Accesses::Process | Accesses::All));
        Engine {
            run: RunView {
                procs,
                resources: Resources::default(),
                active: Vec::new(),
                isolation_seen: false,
                rows: RowLedger::default(),
                run_id: run_id.to_owned(),
                other_runs,
                run_selected,
            },
            findings: Findings::new(opts.deny.clone(), opts.allow.clone())
                .with_pairs(pairs.clone()),
            pairs,
            rules,
            record_rules,
            table_rules,
            process_rules,
            overlaps: Overlaps::new(opts.all_overlaps),
            next_id: 0,
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

    /// Feeds one record, in merge order.
    pub fn feed(&mut self, rec: &Rec) {
        self.records += 1;
        self.first = Some(self.first.map_or(rec.ts, |f| f.min(rec.ts)));
        self.last = Some(self.last.map_or(rec.ts, |l| l.max(rec.ts)));
        let file = rec.file as usize;
        {
            let p = &mut self.run.procs[file];
            p.first.get_or_insert(rec.ts);
            p.last = Some(p.last.map_or(rec.ts, |l| l.max(rec.ts)));
            if p.first_feature.is_none() {
                p.first_feature = rec.feature().cloned();
            }
        }
        if rec.kind == RecKind::Footer {
            self.run.procs[file].end.footer = true;
            return;
        }
        let scn = match rec.action {
            Action::ScenarioStart => Some(self.start(rec)),
            Action::ScenarioEnd => self.end(rec),
            _ => self.attribute(rec),
        };
        if let Some(s) = &scn {
            match rec.action {
                Action::StepStart => s.step_start.set(Some(rec.ts)),
                Action::StepEnd if rec.outcome == Some(Outcome::Failed) => {
                    let from = s.step_start.get().unwrap_or(s.start);
                    s.failed_step.set(Some((from, rec.ts)));
                    if let Some(e) = rec.error() {
                        let _ = s.failure.set(e.into());
                    }
                }
                _ => {}
            }
        }
        if let Some(s) = &scn {
            if rec.ts > s.last.get() {
                s.last.set(rec.ts);
                if let Some(tl) = &mut self.timeline {
                    tl.scenarios[s.id].last = to_time(rec.ts);
                }
            }
        }
        for &i in &self.record_rules {
            self.rules[i].on_record(
                &mut Cx::new(&self.run, &mut self.findings),
                rec,
                scn.as_ref(),
            );
        }
        let prev = std::mem::replace(&mut self.run.procs[file].prev_ts, rec.ts);
        if rec.ts < prev {
            for r in &mut self.rules {
                r.on_clock_back(
                    &mut Cx::new(&self.run, &mut self.findings),
                    rec,
                    prev,
                    scn.as_ref(),
                );
            }
        }
        if matches!(rec.action.kind(), ActionKind::Lifecycle) {
            return;
        }
        self.schema_tracking(rec, scn.as_ref());
        let access = self.access(rec, scn.as_ref());
        if let Some(tl) = &mut self.timeline {
            tl.actions.push(ActionMark {
                ts: to_time(rec.ts),
                pid: self.run.procs[file].pid,
                scenario: scn.as_ref().map(|s| s.id),
                action: rec.action.as_str().to_owned(),
                kind: kind_name(rec.action.kind()).to_owned(),
                resource: access
                    .as_ref()
                    .map(|a| self.run.resources.label(&a.target))
                    .or_else(|| rec.resource.as_ref().map(|r| r.to_string())),
                details: rec
                    .details()
                    .as_ref()
                    .map(|d| d.to_string())
                    .or_else(|| rec.name().map(str::to_owned)),
                mutation: access.as_ref().is_some_and(|a| a.mutation()),
            });
        }
        if let Some(a) = access {
            let rules = match a.target {
                Target::Tables { .. } => &self.table_rules,
                Target::Process(_) => &self.process_rules,
            };
            for &i in rules {
                self.rules[i].on_access(&mut Cx::new(&self.run, &mut self.findings), &a);
            }
            self.suite_shape(&a);
            self.count_rows(&a);
        }
    }

    /// Counts what the suite-level verdict needs from access `a`.
    fn suite_shape(&mut self, a: &Access<'_>) {
        let (Some(s), Target::Tables { schema, .. }) = (a.scn, a.target) else {
            return;
        };
        s.last_schema.set(Some(schema));
        self.suite.mark(s.id, USED_TABLES);
        let wipe = a.op == Op::Destroy
            && a.cleanup
            && !a.own_rows
            && !a.rows.none_changed()
            && !self.run.resources.db_unknown(schema);
        if wipe && self.run.active.iter().any(|o| o.id != s.id) {
            self.suite.mark(s.id, WIPED_WHILE_OTHERS_RAN);
            let label = self.run.resources.label(&a.target);
            let label = crate::render::table::short_resource(&label).to_owned();
            if self.suite.tables.len() < 6 && !self.suite.tables.contains(&label) {
                self.suite.tables.push(label);
            }
        }
    }

    /// Keeps the row ledger up to date once the rules have seen `a` (they
    /// judge it against the rows as they were before it).
    fn count_rows(&mut self, a: &Access<'_>) {
        // Reads, updates and DDL change no counts: the usual access returns here.
        let insert = a.op == Op::Write && a.action == Action::DbInsert;
        if !(insert || a.op == Op::Destroy) {
            return;
        }
        let Target::Tables { schema, set } = a.target else {
            return;
        };
        let run = &mut self.run;
        let tables = match run.resources.tables_of(set) {
            [] => run.resources.schema_tables(schema),
            some => some,
        };
        let owner = a.owner();
        match (a.op, a.action) {
            (Op::Destroy, _) if a.cleanup => tables.iter().for_each(|&t| run.rows.cleared(t)),
            (Op::Destroy, _) => tables
                .iter()
                .for_each(|&t| run.rows.deleted(t, owner, a.rows)),
            (Op::Write, Action::DbInsert) => {
                for &t in run.resources.tables_of(set) {
                    if let Some(s) = a.scn {
                        s.inserted.set(s.inserted.get() | 1 << (t % 64));
                    }
                    run.rows.inserted(
                        t,
                        owner,
                        Writer {
                            scn: a.scn,
                            file: a.file,
                            at: a.ts,
                            action: a.action,
                            rows: a.rows,
                        },
                    );
                }
            }
            _ => {}
        }
    }

    fn start(&mut self, rec: &Rec) -> Rc<Scn> {
        let file = rec.file as usize;
        let feature = rec.feature().cloned().unwrap_or_else(|| Arc::from(""));
        let name = rec.scenario().cloned().unwrap_or_else(|| Arc::from(""));
        let p = &mut self.run.procs[file];
        let s = Rc::new(Scn {
            id: self.next_id,
            file: rec.file,
            feature: feature.clone(),
            name: name.clone(),
            start: rec.ts,
            end: Cell::new(None),
            last: Cell::new(rec.ts),
            outcome: Cell::new(None),
            schema: Cell::new(None),
            step_start: Cell::new(None),
            failed_step: Cell::new(None),
            failure: OnceCell::new(),
            inserted: Cell::new(0),
            last_schema: Cell::new(None),
            order_pos: p.order.len(),
        });
        self.next_id += 1;
        p.order
            .push((feature.clone(), name.clone(), ScenarioOutcome::Unfinished));
        match rec.scenario_id() {
            Some(id) => {
                p.by_id.insert(id, s.clone());
                if p.last_by_id.as_ref().is_some_and(|l| l.0 == id) {
                    p.last_by_id = None;
                }
            }
            None => {
                // Names only identify scenarios without an id; keep this map
                // small so memory does not grow with the number of scenarios.
                if p.by_name.len() >= 256 {
                    p.by_name.retain(|_, s| s.is_active());
                }
                p.by_name.insert((feature, name), s.clone());
            }
        }
        p.active.push(s.clone());
        if let Some(tl) = &mut self.timeline {
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
        self.overlaps.on_start(&self.run, &s);
        self.run.active.push(s.clone());
        for r in &mut self.rules {
            r.on_start(&mut Cx::new(&self.run, &mut self.findings), &s);
        }
        s
    }

    fn end(&mut self, rec: &Rec) -> Option<Rc<Scn>> {
        let s = self.attribute(rec)?;
        if !s.is_active() {
            return Some(s);
        }
        s.end.set(Some(rec.ts));
        if let Some(e) = rec.error() {
            let _ = s.failure.set(e.into());
        }
        s.outcome
            .set(Some(rec.outcome.unwrap_or(if rec.error().is_some() {
                Outcome::Failed
            } else {
                Outcome::Passed
            })));
        let p = &mut self.run.procs[s.file as usize];
        p.order[s.order_pos].2 = s.outcome();
        p.active.retain(|a| a.id != s.id);
        if let Some(id) = rec.scenario_id() {
            // Keep a few ended scenarios reachable for their after-hooks.
            p.ended_ids.push_back(id);
            if p.ended_ids.len() > 64 {
                if let Some(old) = p.ended_ids.pop_front() {
                    p.by_id.remove(&old);
                    if p.last_by_id.as_ref().is_some_and(|l| l.0 == old) {
                        p.last_by_id = None;
                    }
                }
            }
        }
        self.run.active.retain(|a| a.id != s.id);
        if let Some(tl) = &mut self.timeline {
            let span = &mut tl.scenarios[s.id];
            span.end = Some(to_time(rec.ts));
            span.outcome = s.outcome();
            span.error = rec.error().map(str::to_owned);
        }
        for r in &mut self.rules {
            r.on_end(&mut Cx::new(&self.run, &mut self.findings), &s);
        }
        self.findings.victim_ended(&s, &self.run.procs);
        Some(s)
    }

    /// The scenario a record belongs to: by id (v1), else by names; ended
    /// scenarios still match, so after-hooks are attributed to them.
    fn attribute(&mut self, rec: &Rec) -> Option<Rc<Scn>> {
        let p = &mut self.run.procs[rec.file as usize];
        if let Some(id) = rec.scenario_id() {
            if let Some((_, s)) = p.last_by_id.as_ref().filter(|l| l.0 == id) {
                return Some(s.clone());
            }
            if let Some(s) = p.by_id.get(&id) {
                p.last_by_id = Some((id, s.clone()));
                return Some(s.clone());
            }
        }
        match (rec.feature(), rec.scenario()) {
            (Some(f), Some(n)) => p.by_name.get(&(f.clone(), n.clone())).cloned(),
            (None, Some(n)) => p.by_name.get(&(Arc::from(""), n.clone())).cloned(),
            _ => None,
        }
    }

    fn schema_tracking(&mut self, rec: &Rec, scn: Option<&Rc<Scn>>) {
        if !matches!(
            rec.action,
            Action::SchemaCreate | Action::SchemaSet | Action::SchemaDrop
        ) {
            return;
        }
        let Some(name) = rec.schema_named() else {
            return;
        };
        let db = db_key(
            rec.resource.as_ref().and_then(|r| r.db.as_deref()),
            self.run.procs[rec.file as usize].pid,
        );
        let id = self.run.resources.schema(&db, name);
        let p = &mut self.run.procs[rec.file as usize];
        if rec.action == Action::SchemaDrop {
            if let Some(s) = scn {
                if s.schema.get() == Some(id) {
                    s.schema.set(None);
                }
            }
            if p.schema == Some(id) {
                p.schema = None;
            }
            return;
        }
        self.run.isolation_seen = true;
        match scn {
            Some(s) => s.schema.set(Some(id)),
            None => p.schema = Some(id),
        }
        // `res_cache` needs no flush: its entries are keyed by the schema
        // current when they were resolved.
    }

    fn access<'s>(&mut self, rec: &Rec, scn: Option<&'s Rc<Scn>>) -> Option<Access<'s>> {
        let (op, cleanup, reset) = match rec.action {
            Action::DbSelect => (Op::Read, false, false),
            Action::DbInsert | Action::DbUpdate => (Op::Write, false, false),
            Action::DbDelete => (Op::Destroy, false, false),
            Action::DbCleanup | Action::SchemaDrop => (Op::Destroy, true, false),
            Action::DbDdl => {
                let d = rec.details().unwrap_or("").to_ascii_uppercase();
                if d.contains("DROP") || d.contains("TRUNCATE") {
                    (Op::Destroy, true, false)
                } else if d.contains("IF NOT EXISTS") {
                    // Creates what is missing, changes nothing that exists.
                    (Op::Read, false, false)
                } else {
                    (Op::Write, false, false)
                }
            }
            Action::JwtSet => (Op::Write, false, false),
            Action::JwtRotate => (Op::Destroy, false, false),
            Action::JwtReset => (Op::Destroy, false, true),
            Action::ConfigReload => {
                let d = rec.details().unwrap_or("").to_ascii_lowercase();
                if d.contains("reset") || d.contains("default") {
                    (Op::Destroy, false, true)
                } else {
                    (Op::Write, false, false)
                }
            }
            Action::Custom if rec.resource.is_some() => (Op::Read, false, false),
            _ => return None,
        };
        // A failed statement changed nothing; it still touched the state.
        let (op, cleanup, reset) = if rec.error().is_some() {
            (Op::Read, false, false)
        } else {
            (op, cleanup, reset)
        };
        let target = self.target(rec, scn)?;
        let touches_rows = op == Op::Destroy || rec.action == Action::DbUpdate;
        let own_rows = touches_rows
            && match target {
                Target::Tables { schema, set } => {
                    let tables = match self.run.resources.tables_of(set) {
                        [] => self.run.resources.schema_tables(schema),
                        some => some,
                    };
                    let owner = scn.map_or(Owner::Outside(rec.file), |s| Owner::Scenario(s.id));
                    self.run.rows.only_own(tables, owner, rec.rows_hint)
                }
                Target::Process(_) => false,
            };
        let value = match target {
            Target::Process(_) => rec
                .details()
                .map(|d| foldhash::fast::FixedState::default().hash_one(d)),
            Target::Tables { .. } => None,
        };
        let started = rec.duration_us().map_or(rec.ts, |d| {
            rec.ts.saturating_sub(d.min(i64::MAX as u64) as i64)
        });
        Some(Access {
            own_rows,
            value,
            started,
            stmt: rec.stmt,
            scn,
            file: rec.file,
            ts: rec.ts,
            action: rec.action,
            target,
            op,
            cleanup,
            reset,
            rows: rec.rows_hint,
        })
    }

    /// Resolves a record's resource, applying schema tracking to unqualified ones.
    fn target(&mut self, rec: &Rec, scn: Option<&Rc<Scn>>) -> Option<Target> {
        let file = rec.file as usize;
        let current = scn
            .and_then(|s| s.schema.get())
            .or(self.run.procs[file].schema);
        // Most records repeat one of a few resources: look them up by the
        // identity of the reader's shared copy (whose contents never change)
        // before reading the resource itself, which the reader thread's
        // cache still holds. Only table targets are cached.
        if let Some(res) = &rec.resource {
            let p = &self.run.procs[file];
            let key = Resolved::new(res, current, Target::Process(0));
            if let Some(hit) = p.res_cache[..p.res_len]
                .iter()
                .find(|r| r.res == key.res && r.schema == key.schema)
            {
                return Some(hit.target);
            }
        }
        let default_process = match rec.action.kind() {
            ActionKind::Secret => Some("jwt_secret"),
            ActionKind::Config => Some(rec.name().unwrap_or("config")),
            _ => None,
        };
        let Some(res) = &rec.resource else {
            let name = default_process?;
            return Some(Target::Process(self.run.resources.process(rec.file, name)));
        };
        if res.scope == Scope::Process {
            let name = res.name.as_deref().or(default_process).unwrap_or("state");
            return Some(Target::Process(self.run.resources.process(rec.file, name)));
        }
        let effective = if res.schema.is_none() { current } else { None };
        let db = db_key(res.db.as_deref(), self.run.procs[file].pid);
        let schema = match (&res.schema, effective) {
            (Some(s), _) => self.run.resources.schema(&db, s),
            (None, Some(id)) => id,
            (None, None) => self.run.resources.schema(&db, default_schema(&db)),
        };
        let tables: Vec<u32> = res
            .tables
            .iter()
            .map(|t| self.run.resources.table(schema, t))
            .collect();
        let set = self.run.resources.table_set(&tables);
        let t = Target::Tables { schema, set };
        let p = &mut self.run.procs[file];
        if p.res_len == RES_CACHE {
            p.res_cache.copy_within(1.., 0);
            p.res_alive.remove(0);
            p.res_len -= 1;
        }
        p.res_cache[p.res_len] = Resolved::new(res, current, t);
        p.res_len += 1;
        p.res_alive.push(res.clone());
        Some(t)
    }

    /// Ends the analysis: file endings, end-of-run rules, summaries.
    pub fn finish(mut self, ends: Vec<FileEnd>) -> (Finished, Option<Timeline>) {
        for (i, e) in ends.into_iter().enumerate() {
            let footer = self.run.procs[i].end.footer || e.footer;
            self.run.procs[i].end = FileEnd { footer, ..e };
        }
        for r in &mut self.rules {
            r.finish(&mut Cx::new(&self.run, &mut self.findings));
        }
        let processes: Vec<ProcessSummary> = self.run.procs.iter().map(Proc::summary).collect();
        let (overlaps, overlap_pairs) = self.overlaps.finish(&self.run.procs);
        let (findings, hazards) =
            std::mem::take(&mut self.findings).finish(&self.run.procs, &rules::fix);
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
            tl.processes = self
                .run
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

/// The identity a record's `db` is compared by: absent (or the old
/// literal `unknown`) is unknown, kept as the empty string (see
/// [`RunView::identity_unknown`]); an in-memory SQLite database is private to
/// the process that opened it, so it is qualified by its pid.
fn db_key(db: Option<&str>, pid: u32) -> std::borrow::Cow<'_, str> {
    match db {
        None | Some("unknown") => "".into(),
        Some(d) if d.starts_with("sqlite::memory:") => format!("{d}@pid {pid}").into(),
        Some(d) => d.into(),
    }
}

/// The schema unqualified names resolve to when nobody switched schema
/// (the tracer uses the same defaults).
pub fn default_schema(db: &str) -> &'static str {
    if db.starts_with("sqlite") {
        "main"
    } else {
        "public"
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
