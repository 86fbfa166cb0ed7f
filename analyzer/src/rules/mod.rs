//! The rules, one file each. A rule watches the engine's stream of scenario
//! starts/ends and normalised accesses, keeps whatever small state it needs,
//! and adds findings. Ids and default severities are stable; each rule is
//! documented in `docs/rules.md`.

mod clock_anomaly;
mod concurrent_mutation;
mod crashed_process;
mod leaked_state;
mod leftover_data;
mod mixed_runs;
mod shared_schema;
mod unfinished_scenario;

use std::rc::Rc;

use crate::analysis::{Access, Cx, Scn};
use crate::model::{HazardSide, RuleId, Severity};
use crate::record::{Micros, Rec};

/// A rule's hooks; all default to doing nothing.
pub trait Rule {
    fn id(&self) -> RuleId;
    fn on_start(&mut self, _cx: &mut Cx, _scn: &Rc<Scn>) {}
    fn on_end(&mut self, _cx: &mut Cx, _scn: &Rc<Scn>) {}
    fn on_record(&mut self, _cx: &mut Cx, _rec: &Rec, _scn: Option<&Rc<Scn>>) {}
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
    fn on_access(&mut self, _cx: &mut Cx, _access: &Access<'_>) {}
    /// Wall time went back inside one process: `rec` is earlier than
    /// `prev`, the process's previous record. The engine checks this on
    /// every record, so a rule about it needs no per-record hook.
    fn on_clock_back(&mut self, _cx: &mut Cx, _rec: &Rec, _prev: Micros, _scn: Option<&Rc<Scn>>) {}
    fn finish(&mut self, _cx: &mut Cx) {}
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
        RuleId::ConcurrentMutation | RuleId::LeakedState | RuleId::LeftoverData => {
            Severity::Warning
        }
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
        RuleId::SharedSchema => "scenarios running at the same time in the same schema",
        RuleId::UnfinishedScenario => "a scenario started and never ended",
        RuleId::CrashedProcess => "a process exited without writing its footer",
        RuleId::ClockAnomaly => "wall time went backwards inside one process",
        RuleId::MixedRuns => "several runs in the input and no --run",
    }
}

/// What to change so a hazard group goes away, in one line.
pub fn fix(
    rule: RuleId,
    polluter: &HazardSide,
    victim: &HazardSide,
    resource: &str,
    identity_unknown: bool,
) -> String {
    let (a, b) = (&polluter.feature, &victim.feature);
    let fix = match rule {
        RuleId::ConcurrentMutation => format!(
            "isolate {a} and {b}: {a} changes {resource} while scenarios of {b} use it (a schema or database per process or scenario, or run them one at a time)"
        ),
        RuleId::LeftoverData => format!(
            "{a} leaves data in {resource} that later scenarios of {b} use: clean up its own rows after each scenario, or seed what {b} needs itself"
        ),
        RuleId::LeakedState => format!(
            "reset {resource} after each scenario of {a} (an after-hook), or set it in a before-hook of {b}"
        ),
        RuleId::SharedSchema => format!(
            "{a} and {b} run at the same time in the same schema: give each its own schema"
        ),
        _ => summary(rule).to_owned(),
    };
    if identity_unknown {
        format!("{fix}; the database identity is unknown, so they may not share it at all: name it with state_tracer::set_database or DATABASE_URL")
    } else {
        fix
    }
}

/// Every rule, fresh.
pub fn all() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(concurrent_mutation::ConcurrentMutation::default()),
        Box::new(leaked_state::LeakedState::default()),
        Box::new(leftover_data::LeftoverData::default()),
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
