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
pub(crate) mod concurrent_mutation;
mod constraint_violation;
mod crashed_process;
mod destroyed_before;
mod leaked_state;
mod leftover_data;
mod mixed_runs;
pub(crate) mod shared_schema;
mod unfinished_scenario;

use std::rc::Rc;

use state_tracer_format::Action;

pub use crate::engine::resources::{ProcResId, Resources, SchemaId, Target};
pub use crate::engine::rows::{Owner, RowLedger};
pub use crate::engine::state::{Proc, Scn};
pub(crate) use crate::findings::PairText;
pub use crate::findings::{Findings, Pending, Strength};
use crate::input::record::{FileIdx, Micros, Rec, RowsHint};
use crate::model::{HazardSide, RuleId, Severity};
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
    /// ([`crate::engine::rows::RowLedger::only_own`]).
    pub own_rows: bool,
    /// Changed no row and read none (`CREATE … IF NOT EXISTS`, an insert
    /// of no row): neither a change nor a use of anyone's data.
    pub inert: bool,
    /// An update, or an insert that overwrites an existing row (an upsert,
    /// see [`crate::input::sql::Insert`]): it may change rows others wrote.
    pub overwrites: bool,
    /// An insert that only seeds a row if missing: its rows are no one
    /// scenario's own.
    pub seed: bool,
    /// Failed because the table or column it names does not exist
    /// ([`crate::input::sql::missing_object`]): it found nothing.
    pub missing: bool,
    /// In-memory state: a fingerprint of the value set (its `details`), so
    /// a scenario that puts back the value it found is seen to restore it.
    pub value: Option<u64>,
    /// When the statement began (`ts` − `duration_us`, kept for destructive
    /// statements): `ts` is when it ended, and a read that ended in between
    /// may have seen its effect.
    pub started: Micros,
    /// The read's statement fingerprint ([`crate::input::record::Rec::stmt`]).
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
        let shared = |f: FileIdx| {
            self.procs[f as usize]
                .format
                .provides()
                .one_shared_database()
        };
        self.resources.db_unknown(schema) && !(shared(a) && shared(b))
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
        crate::engine::state::describe(s, &self.procs)
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
    All,
}

/// What the engine, the reports and `confirm` need to know about a rule,
/// declared in the rule's own file next to its logic: a new rule is that
/// file, its id in [`RuleId`], and one line in [`REGISTRY`].
pub struct RuleMeta {
    pub id: RuleId,
    /// A fresh instance for one analysis.
    pub new: fn() -> Box<dyn Rule>,
    /// Severity before the narrowing raises a likely cause to `error`.
    pub severity: Severity,
    /// One line for `--help`, tables and a fix with nothing more to say.
    pub summary: &'static str,
    /// What to change so a hazard group goes away, when both sides are one
    /// feature (`fix_within(feature, resource)`) and when they are two
    /// (`fix_between(polluter, victim, resource)`); `None`: the summary.
    pub fix_within: Option<fn(&str, &str) -> String>,
    pub fix_between: Option<fn(&str, &str, &str) -> String>,
    /// How `confirm` replays a polluter/victim pair of this rule.
    pub replay: Replay,
    /// Whether the printed repro line runs the pair at once (its harm needs
    /// both running) rather than one after the other.
    pub repro_at_once: bool,
    /// What a finding's `occurrences` counts, when not plain repeats.
    pub occurrences: Option<&'static str>,
}

/// How a rerun can show a rule's harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// It names no polluter whose effect a rerun could show.
    Never,
    /// Polluter and victim running at the same time.
    AtOnce,
    /// The polluter first, then the victim.
    InOrder,
    /// The polluter first, then the victim, in one process (in-memory state).
    InOneProcess,
}

/// Every rule, in documentation order (the order they see each record).
pub const REGISTRY: &[&RuleMeta] = &[
    &concurrent_mutation::META,
    &leaked_state::META,
    &leftover_data::META,
    &destroyed_before::META,
    &constraint_violation::META,
    &shared_schema::META,
    &unfinished_scenario::META,
    &crashed_process::META,
    &clock_anomaly::META,
    &mixed_runs::META,
];

/// A rule's metadata.
pub fn meta(rule: RuleId) -> &'static RuleMeta {
    REGISTRY
        .iter()
        .find(|m| m.id == rule)
        .expect("every RuleId has a registry entry (pinned by a test)")
}

/// What to change so a hazard group goes away, in one line.
pub fn fix(rule: RuleId, polluter: &HazardSide, victim: &HazardSide, resource: &str) -> String {
    let (a, b) = (&polluter.feature, &victim.feature);
    let m = meta(rule);
    // Both sides one feature (tests of one binary, scenarios of one
    // feature file): "isolate X and X" says nothing; name them as one.
    let text = if a == b {
        m.fix_within.map(|f| f(a, resource))
    } else {
        m.fix_between.map(|f| f(a, b, resource))
    };
    text.unwrap_or_else(|| m.summary.to_owned())
}

/// Every rule, fresh.
pub fn all() -> Vec<Box<dyn Rule>> {
    REGISTRY.iter().map(|m| (m.new)()).collect()
}

/// Grows a vector so `i` is a valid index.
pub(crate) fn slot<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn every_rule_id_has_one_registry_entry_in_documentation_order() {
        let ids: Vec<RuleId> = REGISTRY.iter().map(|m| m.id).collect();
        assert_eq!(ids, RuleId::ALL);
        for m in REGISTRY {
            assert_eq!((m.new)().id(), m.id, "{} builds another rule", m.id);
        }
    }

    #[test]
    fn docs_rules_md_gives_each_rule_its_default_severity() {
        let docs = include_str!("../../../docs/rules.md");
        for m in REGISTRY {
            let heading = format!("\n## {}\n", m.id);
            let section = docs
                .split_once(heading.as_str())
                .unwrap_or_else(|| panic!("docs/rules.md has no section {heading:?}"))
                .1;
            let line = section
                .split("\n- **")
                .find(|l| l.starts_with("Severity:**"))
                .unwrap_or_else(|| panic!("section {} names no severity", m.id));
            let word = format!("`{}`", m.severity.as_str());
            assert!(line.contains(&word), "{}: {line:?} lacks {word}", m.id);
        }
    }
}
