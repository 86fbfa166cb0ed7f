//! What the engine tracks per scenario ([`Scn`]) and per process
//! ([`Proc`]) while a run streams by. Rules see these through the
//! [`crate::rules`] contract; the findings sink names scenarios by them.

use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use state_tracer_format::{Outcome, Rerun, Resource};

use crate::engine::resources::{SchemaId, Target};
use crate::input::discover::Format;
use crate::input::read::FileEnd;
use crate::input::record::{to_time, FastMap, FileIdx, Micros};
use crate::model::{OrderEntry, ProcessSummary, ScenarioOutcome};

/// A scenario instance while the run is analyzed.
#[derive(Debug)]
pub struct Scn {
    /// Ordinal in merge order; also the index in [`crate::model::Timeline::scenarios`].
    pub id: usize,
    pub file: FileIdx,
    /// Track inside its process ([`crate::engine::track`]): scenarios that overlap
    /// never share one, so the outputs draw them apart.
    pub slot: u32,
    pub feature: Arc<str>,
    pub name: Arc<str>,
    pub start: Micros,
    pub end: Cell<Option<Micros>>,
    /// Last record attributed to it (after-hooks included).
    pub last: Cell<Micros>,
    pub outcome: Cell<Option<Outcome>>,
    /// The schema it created or switched to, if any.
    pub schema: Cell<Option<SchemaId>>,
    /// When its current step started (`STEP_START`).
    pub(crate) step_start: Cell<Option<Micros>>,
    /// The step that failed, from its start to its `STEP_END`.
    pub failed_step: Cell<Option<(Micros, Micros)>>,
    /// The failure message (`error` of its failed step or its end).
    pub failure: OnceCell<Box<str>>,
    /// Tables it inserted into, as bits `1 << (table id % 64)`: one OR per
    /// insert, so a rule can ask cheaply (a set bit may stand for another
    /// table with the same remainder).
    pub inserted: Cell<u64>,
    /// The schema of its latest table access.
    pub last_schema: Cell<Option<SchemaId>>,
    pub(crate) order_pos: usize,
}

impl Scn {
    pub fn is_active(&self) -> bool {
        self.end.get().is_none()
    }

    pub fn outcome(&self) -> ScenarioOutcome {
        self.outcome
            .get()
            .map_or(ScenarioOutcome::Unfinished, Into::into)
    }

    pub fn failed(&self) -> bool {
        self.outcome.get() == Some(Outcome::Failed)
    }

    /// Whether it inserted into table `t` (or, rarely, into a table whose
    /// id shares `t`'s remainder by 64).
    pub fn may_have_inserted(&self, t: u32) -> bool {
        self.inserted.get() & (1 << (t % 64)) != 0
    }

    /// Whether a use at `at` was made by the step that failed (false when
    /// no failed step is known).
    pub fn in_failed_step(&self, at: Micros) -> bool {
        self.failed_step
            .get()
            .is_some_and(|(from, to)| from <= at && at <= to)
    }
}

/// Per-process state.
pub struct Proc {
    pub file: FileIdx,
    pub pid: u32,
    pub header_label: String,
    pub format: Format,
    pub path: String,
    pub argv: Vec<String>,
    /// The header's re-run template, if it has one.
    pub rerun: Option<Rerun<'static>>,
    /// The header's working directory, where `argv` runs again.
    pub cwd: Option<String>,
    /// The environment a replay sets again (header `config`, secrets masked).
    pub env: Vec<(String, String)>,
    pub(crate) first_feature: Option<Arc<str>>,
    pub(crate) by_id: FastMap<u64, Rc<Scn>>,
    /// The last `by_id` hit: most records continue the same scenario.
    pub(crate) last_by_id: Option<(u64, Rc<Scn>)>,
    pub(crate) by_name: FastMap<(Arc<str>, Arc<str>), Rc<Scn>>,
    pub(crate) ended_ids: VecDeque<u64>,
    /// Schema the process (outside scenarios) switched to.
    pub schema: Option<SchemaId>,
    pub active: Vec<Rc<Scn>>,
    pub(crate) order: Vec<(Arc<str>, Arc<str>, ScenarioOutcome)>,
    pub first: Option<Micros>,
    pub last: Option<Micros>,
    /// Time of the previous record (for clock anomalies).
    pub(crate) prev_ts: Micros,
    pub end: FileEnd,
    /// Recently resolved table resources, by identity of the reader's
    /// shared copy and the schema current when resolved, oldest first;
    /// inline, as it is searched on every access.
    pub(crate) res_cache: [Resolved; RES_CACHE],
    pub(crate) res_len: usize,
    /// The resources of `res_cache`, kept alive so their addresses are not
    /// reused while cached.
    pub(crate) res_alive: Vec<Arc<Resource<'static>>>,
    /// Per slot: when it is free again (`None`: an open scenario holds it).
    pub(crate) slots: Vec<Option<Micros>>,
}

pub(crate) const RES_CACHE: usize = 8;

/// A `res_cache` entry.
#[derive(Clone, Copy)]
pub(crate) struct Resolved {
    pub(crate) res: *const Resource<'static>,
    pub(crate) schema: u64,
    pub(crate) target: Target,
}

impl Resolved {
    pub(crate) fn new(
        res: &Arc<Resource<'static>>,
        current: Option<SchemaId>,
        target: Target,
    ) -> Resolved {
        Resolved {
            res: Arc::as_ptr(res),
            schema: current.map_or(u64::MAX, u64::from),
            target,
        }
    }
}

impl Proc {
    /// `label` from the header, or for legacy files the first feature seen.
    pub fn label(&self) -> String {
        match &self.first_feature {
            Some(f) if !self.format.provides().header_label() => f.to_string(),
            _ => self.header_label.clone(),
        }
    }

    pub fn crashed(&self) -> bool {
        (self.format.provides().has_footer() && !self.end.footer)
            || self
                .order
                .iter()
                .any(|o| o.2 == ScenarioOutcome::Unfinished)
    }

    pub(crate) fn summary(&self) -> ProcessSummary {
        let count = |o| self.order.iter().filter(|e| e.2 == o).count() as u64;
        ProcessSummary {
            pid: self.pid,
            label: self.label(),
            scenarios: self.order.len() as u64,
            passed: count(ScenarioOutcome::Passed),
            failed: count(ScenarioOutcome::Failed),
            skipped: count(ScenarioOutcome::Skipped),
            unfinished: count(ScenarioOutcome::Unfinished),
            crashed: self.crashed(),
            first: self.first.map(to_time),
            last: self.last.map(to_time),
            file: self.path.clone(),
            format: self.format.provides().name().to_owned(),
            order: self
                .order
                .iter()
                .map(|(f, s, o)| OrderEntry {
                    feature: f.clone(),
                    scenario: s.clone(),
                    outcome: *o,
                })
                .collect(),
        }
    }
}

/// `"feature: name" (label, pid N)` for explanations.
pub(crate) fn describe(s: &Scn, procs: &[Proc]) -> String {
    let p = &procs[s.file as usize];
    format!(
        "\"{}: {}\" ({}, pid {})",
        s.feature,
        s.name,
        p.label(),
        p.pid
    )
}
