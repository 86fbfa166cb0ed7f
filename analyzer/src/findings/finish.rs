//! A kept finding's final form: its text rendered (only now, for the
//! findings that reach the report), its repro and its scenario references.

use super::{Pending, Strength};
use crate::engine::state::{Proc, Scn};
use crate::input::record::to_time;
use crate::model::{Finding, RuleId, ScenarioOutcome, ScenarioRef, Severity};
use crate::repro::reproduction;

/// The final form of one finding.
pub(super) fn to_finding(
    p: Pending,
    procs: &[Proc],
    severity: Severity,
    likely_cause: bool,
    evidence: Option<String>,
) -> (Option<Strength>, Finding) {
    let failed = p
        .victim
        .as_ref()
        .is_some_and(|v| v.outcome() == ScenarioOutcome::Failed);
    let role = p.polluter.as_ref().map(|_| {
        if p.rule == RuleId::LeftoverData && !failed {
            "state-setter".to_owned()
        } else {
            "polluter".to_owned()
        }
    });
    let (mut explanation, why) = match (&p.pair_text, &p.polluter, &p.victim) {
        (Some(t), Some(a), Some(b)) => t.render(a, b, &p.resource, procs),
        _ => (p.explanation, p.why),
    };
    if failed {
        if let Some(v) = &p.victim {
            explanation.push_str(&format!(" \"{}\" FAILED.", v.name));
        }
    }
    let evidence = evidence.or_else(|| {
        p.identity_unknown.then(|| "rests on an unknown database identity (no `db` in the records): name the database with state_tracer::set_database or DATABASE_URL".to_owned())
    });
    let reproduce = match (&p.polluter, &p.victim) {
        (Some(a), Some(b)) if a.id != b.id => Some(reproduction(p.rule, a, b, &p.resource, procs)),
        _ => None,
    };
    let finding = Finding {
        rule: p.rule,
        severity,
        likely_cause,
        victim: p.victim.as_ref().map(|s| scenario_ref(s, procs)),
        polluter: p.polluter.as_ref().map(|s| scenario_ref(s, procs)),
        role,
        resource: p.resource,
        at: to_time(p.at),
        action: p.action.map(|a| a.as_str().to_owned()),
        explanation,
        occurrences: p.occurrences,
        reproduce,
        confidence: p.strength.map(Strength::confidence),
        why,
        evidence,
        history: None,
        verdict: None,
        confirm: None,
    };
    (p.strength, finding)
}

/// A scenario as findings and overlaps name it.
pub fn scenario_ref(s: &Scn, procs: &[Proc]) -> ScenarioRef {
    let p = &procs[s.file as usize];
    ScenarioRef {
        pid: p.pid,
        label: p.label(),
        feature: s.feature.to_string(),
        scenario: s.name.to_string(),
        outcome: s.outcome(),
        start: to_time(s.start),
        end: s.end.get().map(to_time),
        id: s.id,
    }
}
