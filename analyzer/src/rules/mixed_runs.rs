//! `mixed-runs`: the inputs hold several runs and no `--run` picked one.
//! The analyzer analyzes the most recent run only; this finding says so,
//! because comparing a stale folder's traces is a classic source of confusion.

use crate::model::{RuleId, Severity};
use crate::rules::{Accesses, Cx, Pending, Replay, Rule, RuleMeta};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::MixedRuns,
    new: || Box::new(MixedRuns),
    severity: Severity::Warning,
    summary: "several runs in the input and no --run",
    fix_within: None,
    fix_between: None,
    replay: Replay::Never,
    repro_at_once: false,
    occurrences: None,
};

pub struct MixedRuns;

impl Rule for MixedRuns {
    fn id(&self) -> RuleId {
        RuleId::MixedRuns
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::None
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        if cx.run_selected || cx.other_runs.is_empty() {
            return;
        }
        let explanation = format!(
            "The inputs hold {} ({}); only the most recent, {:?}, was analyzed. Pick one with --run ID (see `trace-analyzer runs`).",
            crate::count(cx.other_runs.len() as u64, "other run", "other runs"),
            cx.other_runs.join(", "),
            cx.run_id
        );
        let at = cx
            .procs
            .iter()
            .filter_map(|p| p.first)
            .min()
            .unwrap_or_default();
        let f = Pending::new(
            RuleId::MixedRuns,
            META.severity,
            at,
            format!("run:{}", cx.run_id),
            explanation,
        );
        cx.findings.add(f);
    }
}
