//! `unfinished-scenario`: a `SCENARIO_START` whose `SCENARIO_END` never
//! came — the process died or hung inside it, and whatever it was doing to
//! shared state was never cleaned up.

use crate::model::{RuleId, Severity};
use crate::rules::{Accesses, Cx, Pending, Replay, Rule, RuleMeta};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::UnfinishedScenario,
    new: || Box::new(UnfinishedScenario),
    severity: Severity::Error,
    summary: "a scenario started and never ended",
    fix_within: None,
    fix_between: None,
    replay: Replay::Never,
    repro_at_once: false,
    occurrences: None,
};

pub struct UnfinishedScenario;

impl Rule for UnfinishedScenario {
    fn id(&self) -> RuleId {
        RuleId::UnfinishedScenario
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::None
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        for s in cx.active.clone() {
            let explanation = format!(
                "{} started at {} and never ended: the process was killed or hung inside it, and its after-hooks (cleanup, resets) never ran.",
                cx.describe(&s),
                crate::input::record::to_time(s.start).format("%H:%M:%S%.6f"),
            );
            let mut p = Pending::new(
                RuleId::UnfinishedScenario,
                META.severity,
                s.last.get(),
                String::new(),
                explanation,
            );
            p.victim = Some(s.clone());
            cx.findings.add(p);
        }
    }
}
