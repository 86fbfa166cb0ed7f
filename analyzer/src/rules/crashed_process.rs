//! `crashed-process`: a v1 trace file without a footer. The tracer writes
//! the footer on a clean exit only, so its absence means the process was
//! killed, crashed or called `_exit` — its last records show where.

use crate::model::{RuleId, Severity};
use crate::rules::{Accesses, Cx, Pending, Replay, Rule, RuleMeta};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::CrashedProcess,
    new: || Box::new(CrashedProcess),
    severity: Severity::Error,
    summary: "a process exited without writing its footer",
    fix_within: None,
    fix_between: None,
    replay: Replay::Never,
    repro_at_once: false,
    occurrences: None,
};

pub struct CrashedProcess;

impl Rule for CrashedProcess {
    fn id(&self) -> RuleId {
        RuleId::CrashedProcess
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::None
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        for i in 0..cx.procs.len() {
            let p = &cx.procs[i];
            if !p.format.provides().has_footer() || p.end.footer {
                continue;
            }
            let victim = p.active.last().cloned();
            let at = p.last.unwrap_or_default();
            let mut explanation = format!(
                "{} wrote no footer: it was killed or crashed (its last record is at {}).",
                cx.proc_label(p.file),
                crate::input::record::to_time(at).format("%H:%M:%S%.6f")
            );
            if let Some(v) = &victim {
                explanation.push_str(&format!(" It was running {}.", cx.describe(v)));
            }
            let mut f = Pending::new(
                RuleId::CrashedProcess,
                META.severity,
                at,
                format!("process:{}", p.pid),
                explanation,
            );
            f.victim = victim;
            cx.findings
                .add_keyed((RuleId::CrashedProcess, u64::from(p.file), 0), f);
        }
    }
}
