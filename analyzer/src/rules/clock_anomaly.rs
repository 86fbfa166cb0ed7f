//! `clock-anomaly`: wall time going backwards inside one process (NTP step,
//! VM migration, a manually set clock). Merge order follows wall time, so
//! everything this rule flags may be ordered wrongly against other processes.

use std::rc::Rc;

use crate::input::record::{Micros, Rec, RecKind};
use crate::model::{RuleId, Severity};
use crate::rules::{Accesses, Cx, Pending, Replay, Rule, RuleMeta, Scn};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::ClockAnomaly,
    new: || Box::new(ClockAnomaly),
    severity: Severity::Warning,
    summary: "wall time went backwards inside one process",
    fix_within: None,
    fix_between: None,
    replay: Replay::Never,
    repro_at_once: false,
    occurrences: None,
};

#[derive(Default)]
pub struct ClockAnomaly;

impl Rule for ClockAnomaly {
    fn id(&self) -> RuleId {
        RuleId::ClockAnomaly
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::None
    }

    fn on_clock_back(&mut self, cx: &mut Cx<'_>, rec: &Rec, prev: Micros, scn: Option<&Rc<Scn>>) {
        // Footers may lag a millisecond.
        if rec.kind == RecKind::Footer && rec.ts + 1_000 >= prev {
            return;
        }
        let back = prev - rec.ts;
        let explanation = format!(
            "Wall time in {} went back by {:.3} ms at line {} ({} after {}): the clock was stepped, so merged order around here is unreliable.",
            cx.proc_label(rec.file),
            back as f64 / 1000.0,
            rec.line,
            crate::input::record::to_time(rec.ts).format("%H:%M:%S%.6f"),
            crate::input::record::to_time(prev).format("%H:%M:%S%.6f"),
        );
        let mut f = Pending::new(
            RuleId::ClockAnomaly,
            META.severity,
            rec.ts,
            format!("clock:pid {}", cx.pid(rec.file)),
            explanation,
        );
        f.victim = scn.cloned();
        cx.findings
            .add_keyed((RuleId::ClockAnomaly, u64::from(rec.file), 0), f);
    }
}
