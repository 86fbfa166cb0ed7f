//! The rules contract, and the rules, one file each.
//!
//! The contract is what a rule sees and implements: the [`Rule`] trait,
//! the normalised [`Access`] the engine hands it, and [`Cx`]: the
//! read-only [`RunView`] of the run (processes, scenarios, resources) and
//! the findings sink. The
//! engine (`analysis.rs`) drives rules only through this module and names
//! none of them except in the one registry, [`all`]; no rule imports the
//! engine. A rule watches the stream of scenario starts/ends and accesses,
//! keeps whatever small state it needs, and adds findings. Ids and default
//! severities are stable; each rule is documented in `docs/rules.md`.

mod clock_anomaly;
mod concurrent_mutation;
mod constraint_violation;
mod crashed_process;
mod destroyed_before;
mod leaked_state;
mod leftover_data;
mod mixed_runs;
mod shared_schema;
mod unfinished_scenario;

use std::rc::Rc;

use state_tracer_format::Action;

use crate::discover::Format;
pub use crate::findings::{Findings, Pending, Strength};
use crate::model::{HazardSide, RuleId, Severity};
use crate::record::{FileIdx, Micros, Rec, RowsHint};
pub use crate::resources::{ProcResId, Resources, SchemaId, Target};
pub use crate::rows::{Owner, RowLedger};
pub use crate::state::{Proc, Scn};
pub(crate) use concurrent_mutation::PairText;

/// How an access changes what it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    /// Insert, update, non-destructive DDL, secret/config set.
    Write,
    /// Cleanup, delete, truncate, drop, secret reset/rotation.
    Destroy,
}

/// One normalised access handed to the rules.
pub struct Access<'a> {
    pub scn: Option<&'a Rc<Scn>>,
    pub file: FileIdx,
    pub ts: Micros,
    pub action: Action,
    pub target: Target,
    pub op: Op,
    /// A cleanup (removes all rows; clears leftover data).
    pub cleanup: bool,
    /// A process-state reset back to its initial value (JWT_RESET).
    pub reset: bool,
    /// Rows the statement returned or changed, when the record says.
    pub rows: RowsHint,
    /// A delete, cleanup or update that touched only rows its own scenario
    /// (or process, outside scenarios) had written and still had: it
    /// cleaned up after itself and changed nothing anyone else wrote
    /// ([`crate::rows::RowLedger::only_own`]).
    pub own_rows: bool,
    /// In-memory state: a fingerprint of the value set (its `details`), so
    /// a scenario that puts back the value it found is seen to restore it.
    pub value: Option<u64>,
    /// When the statement began (`ts` − `duration_us`, kept for destructive
    /// statements): `ts` is when it ended, and a read that ended in between
    /// may have seen its effect.
    pub started: Micros,
    /// The read's statement fingerprint ([`crate::record::Rec::stmt`]).
    pub stmt: u16,
    /// How a read came back against what the same query returned before.
    pub back: ReadBack,
    /// The statement text, where the reader keeps it (DDL, in-memory
    /// state's fingerprints; see `docs/format.md` on `details`).
    pub sql: Option<&'a str>,
}

/// A read's row count against the most rows the same query (same text,
/// same table, any bound values) returned earlier in the run, in any
/// scenario: the trace's only evidence of whether rows it reads had been
/// removed. Aggregates and reads of several tables say nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBack {
    /// No earlier count to compare with, or nothing to compare.
    Unknown,
    /// `got` rows (at least one) where the query returned `most` earlier.
    Short { got: u64, most: u64 },
    /// At least as many rows as the query ever returned before (and some):
    /// nothing it reads is missing.
    Full,
}

impl Access<'_> {
    pub fn mutation(&self) -> bool {
        self.op != Op::Read
    }

    /// A change others can notice: a mutation that touched more than the
    /// actor's own rows.
    pub fn changes_others(&self) -> bool {
        self.mutation() && !self.own_rows
    }

    /// Whose rows this access writes or removes, for the row ledger.
    pub fn owner(&self) -> Owner {
        self.scn
            .map_or(Owner::Outside(self.file), |s| Owner::Scenario(s.id))
    }

    /// A destructive access known to have removed nothing (`rows: 0`).
    pub fn removed_nothing(&self) -> bool {
        self.op == Op::Destroy && self.rows.none_changed()
    }
}

/// What rules can see of the run. The engine alone changes it; a rule
/// gets it read-only through [`Cx`].
pub struct RunView {
    pub procs: Vec<Proc>,
    pub resources: Resources,
    /// Active scenarios of all processes.
    pub active: Vec<Rc<Scn>>,
    /// Some scenario or process isolated itself in its own schema.
    pub isolation_seen: bool,
    /// Live rows per table and writer, before the access being judged.
    pub rows: RowLedger,
    pub run_id: String,
    pub other_runs: Vec<String>,
    pub run_selected: bool,
}

/// What a rule's hook gets: the run, read-only (through `Deref`, so
/// `cx.procs` reads and cannot be assigned), and the findings sink, the
/// one thing a rule writes outside its own state.
pub struct Cx<'a> {
    run: &'a RunView,
    pub findings: &'a mut Findings,
}

impl<'a> Cx<'a> {
    pub fn new(run: &'a RunView, findings: &'a mut Findings) -> Cx<'a> {
        Cx { run, findings }
    }
}

impl std::ops::Deref for Cx<'_> {
    type Target = RunView;

    fn deref(&self) -> &RunView {
        self.run
    }
}

impl RunView {
    /// Earliest start among active scenarios (state older than this can
    /// no longer matter to a concurrent-mutation check).
    pub fn min_active_start(&self) -> Option<Micros> {
        self.active.iter().map(|s| s.start).min()
    }

    /// Whether a finding between scenarios of files `a` and `b` on
    /// `target` rests on an unknown database identity: a table resource
    /// without `db` is no proof that two scenarios share a database, not
    /// even within one process (a test may open a SQLite file of its own).
    /// Legacy (Go) files carry no identity at all; their model is one
    /// shared database, so two legacy files do share it.
    pub fn identity_unknown(&self, target: &Target, a: FileIdx, b: FileIdx) -> bool {
        match target {
            Target::Tables { schema, .. } => self.schema_identity_unknown(*schema, a, b),
            Target::Process(_) => false,
        }
    }

    /// [`RunView::identity_unknown`] for tables of `schema`.
    pub fn schema_identity_unknown(&self, schema: SchemaId, a: FileIdx, b: FileIdx) -> bool {
        let legacy = |f: FileIdx| self.procs[f as usize].format == Format::Legacy;
        self.resources.db_unknown(schema) && !(legacy(a) && legacy(b))
    }

    pub fn pid(&self, file: FileIdx) -> u32 {
        self.procs[file as usize].pid
    }

    pub fn proc_label(&self, file: FileIdx) -> String {
        let p = &self.procs[file as usize];
        format!("{} (pid {})", p.label(), p.pid)
    }

    /// `"feature: name" (label, pid N)` for explanations.
    pub fn describe(&self, s: &Scn) -> String {
        let p = &self.procs[s.file as usize];
        format!(
            "\"{}: {}\" ({}, pid {})",
            s.feature,
            s.name,
            p.label(),
            p.pid
        )
    }
}

/// A rule's hooks; all default to doing nothing.
pub trait Rule {
    fn id(&self) -> RuleId;
    fn on_start(&mut self, _cx: &mut Cx<'_>, _scn: &Rc<Scn>) {}
    fn on_end(&mut self, _cx: &mut Cx<'_>, _scn: &Rc<Scn>) {}
    fn on_record(&mut self, _cx: &mut Cx<'_>, _rec: &Rec, _scn: Option<&Rc<Scn>>) {}
    /// False if `on_record` does nothing: the engine then skips the call
    /// for each of millions of records.
    fn uses_records(&self) -> bool {
        true
    }
    /// Which accesses `on_access` looks at: the engine skips the call for
    /// the others (see `uses_records`).
    fn accesses(&self) -> Accesses {
        Accesses::All
    }
    fn on_access(&mut self, _cx: &mut Cx<'_>, _access: &Access<'_>) {}
    /// Wall time went back inside one process: `rec` is earlier than
    /// `prev`, the process's previous record. The engine checks this on
    /// every record, so a rule about it needs no per-record hook.
    fn on_clock_back(
        &mut self,
        _cx: &mut Cx<'_>,
        _rec: &Rec,
        _prev: Micros,
        _scn: Option<&Rc<Scn>>,
    ) {
    }
    fn finish(&mut self, _cx: &mut Cx<'_>) {}
}

/// The accesses a rule's `on_access` wants (see [`Rule::accesses`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accesses {
    None,
    /// Database tables and schemas.
    Tables,
    /// In-process state: secrets, config.
    Process,
    All,
}

/// Default severity of each rule (`concurrent-mutation`, `leaked-state` and
/// `leftover-data` may be raised to error per finding).
pub fn default_severity(rule: RuleId) -> Severity {
    match rule {
        RuleId::ConcurrentMutation
        | RuleId::LeakedState
        | RuleId::LeftoverData
        | RuleId::DestroyedBefore
        | RuleId::ConstraintViolation => Severity::Warning,
        RuleId::SharedSchema | RuleId::ClockAnomaly | RuleId::MixedRuns => Severity::Warning,
        RuleId::UnfinishedScenario | RuleId::CrashedProcess => Severity::Error,
    }
}

/// One-line summary of each rule (for `--help` and tables).
pub fn summary(rule: RuleId) -> &'static str {
    match rule {
        RuleId::ConcurrentMutation => "a scenario changed state another running scenario uses",
        RuleId::LeakedState => {
            "process state (JWT secret, config) changed and not reset before the next scenario"
        }
        RuleId::LeftoverData => {
            "data written by a finished scenario, not cleaned up, used by a later one"
        }
        RuleId::DestroyedBefore => {
            "data others had written was removed or changed before a later scenario read it back empty"
        }
        RuleId::ConstraintViolation => {
            "a scenario failed on a database constraint over rows another scenario wrote"
        }
        RuleId::SharedSchema => "scenarios running at the same time in the same schema",
        RuleId::UnfinishedScenario => "a scenario started and never ended",
        RuleId::CrashedProcess => "a process exited without writing its footer",
        RuleId::ClockAnomaly => "wall time went backwards inside one process",
        RuleId::MixedRuns => "several runs in the input and no --run",
    }
}

/// What to change so a hazard group goes away, in one line.
pub fn fix(rule: RuleId, polluter: &HazardSide, victim: &HazardSide, resource: &str) -> String {
    let (a, b) = (&polluter.feature, &victim.feature);
    // Both sides one feature (tests of one binary, scenarios of one
    // feature file): "isolate X and X" says nothing; name them as one.
    if a == b {
        return match rule {
            RuleId::ConcurrentMutation => format!(
                "isolate the scenarios of {a} from each other: some change {resource} while others use it (a schema, database or rows of its own per scenario, or run them one at a time)"
            ),
            RuleId::LeftoverData => format!(
                "scenarios of {a} leave data in {resource} that later ones use: clean up each scenario's own rows after it, or seed what each needs itself"
            ),
            RuleId::LeakedState => format!(
                "reset {resource} after each scenario of {a} (an after-hook), or set it in a before-hook"
            ),
            RuleId::DestroyedBefore => format!(
                "scenarios of {a} remove or change rows in {resource} that they did not write (seed or fixture data) and that later ones read: delete only their own rows, or have each seed what it needs"
            ),
            RuleId::ConstraintViolation => format!(
                "scenarios of {a} write rows in {resource} that make statements of others violate a constraint (a foreign key to them, a unique key they hold): use keys and rows of its own in each scenario"
            ),
            RuleId::SharedSchema => format!(
                "scenarios of {a} run at the same time in the same schema: give each its own schema"
            ),
            _ => summary(rule).to_owned(),
        };
    }
    match rule {
        RuleId::ConcurrentMutation => format!(
            "isolate {a} and {b}: {a} changes {resource} while scenarios of {b} use it (a schema or database per process or scenario, or run them one at a time)"
        ),
        RuleId::LeftoverData => format!(
            "{a} leaves data in {resource} that later scenarios of {b} use: clean up its own rows after each scenario, or seed what {b} needs itself"
        ),
        RuleId::LeakedState => format!(
            "reset {resource} after each scenario of {a} (an after-hook), or set it in a before-hook of {b}"
        ),
        RuleId::DestroyedBefore => format!(
            "{a} removes or changes rows in {resource} that it did not write (seed or fixture data) and that {b} reads later: delete only its own rows, or have {b} seed what it needs itself"
        ),
        RuleId::ConstraintViolation => format!(
            "{a} writes rows in {resource} that make statements of {b} violate a constraint (a foreign key to them, a unique key they hold): use keys and rows of its own in each scenario, or isolate them"
        ),
        RuleId::SharedSchema => format!(
            "{a} and {b} run at the same time in the same schema: give each its own schema"
        ),
        _ => summary(rule).to_owned(),
    }
}

/// Every rule, fresh.
pub fn all() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(concurrent_mutation::ConcurrentMutation::default()),
        Box::new(leaked_state::LeakedState::default()),
        Box::new(leftover_data::LeftoverData::default()),
        Box::new(destroyed_before::DestroyedBefore::default()),
        Box::new(constraint_violation::ConstraintViolation::default()),
        Box::new(shared_schema::SharedSchema::default()),
        Box::new(unfinished_scenario::UnfinishedScenario),
        Box::new(crashed_process::CrashedProcess),
        Box::new(clock_anomaly::ClockAnomaly),
        Box::new(mixed_runs::MixedRuns),
    ]
}

/// Grows a vector so `i` is a valid index.
pub(crate) fn slot<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}
