//! The first screen of the human reports (table, Markdown): one block per
//! failed scenario, grouped by victim, with its culprit, the evidence and
//! the repro command, or a plain "no traced state explains this failure".
//! Computed once here so both formats say the same thing in the same order.

use crate::model::{Finding, Hazard, ProcessSummary, Report, ScenarioOutcome, Severity};

/// One failed scenario and what the findings say about it.
pub struct Failure<'a> {
    pub process: &'a ProcessSummary,
    pub feature: &'a str,
    pub scenario: &'a str,
    /// Its likely causes (one, unless the evidence ties several).
    pub causes: Vec<&'a Finding>,
    /// Other findings naming it as victim (not the cause, with why).
    pub others: Vec<&'a Finding>,
}

impl Failure<'_> {
    /// `feature: scenario (label, pid N)`.
    pub fn title(&self) -> String {
        format!(
            "{}: {} ({}, pid {})",
            self.feature, self.scenario, self.process.label, self.process.pid
        )
    }

    /// Some other finding would name a cause if the database identity were known.
    pub fn identity_unknown(&self) -> bool {
        self.others.iter().any(|f| {
            f.evidence.as_deref().is_some_and(|e| {
                e.contains("unknown database identity")
                    || e.contains("database identity is unknown")
            })
        })
    }
}

/// What to say when no traced state explains a failure.
pub const NO_TRACED_CAUSE: &str = "no traced state explains this failure: it may depend on state that was not traced (trace it: docs/guide-instrumenting.md), be a bug that is not about shared state (run it alone to check), or an exception or timeout";

/// Every failed scenario of the run, in process order, with its findings.
pub fn failures(r: &Report) -> Vec<Failure<'_>> {
    let mut out = Vec::new();
    for p in &r.processes {
        for o in p
            .order
            .iter()
            .filter(|o| o.outcome == ScenarioOutcome::Failed)
        {
            // A name run twice in one process is one block.
            if out.iter().any(|f: &Failure| {
                f.process.pid == p.pid && f.feature == &*o.feature && f.scenario == &*o.scenario
            }) {
                continue;
            }
            let mine = |f: &&Finding| {
                f.victim.as_ref().is_some_and(|v| {
                    v.pid == p.pid && *v.feature == *o.feature && *v.scenario == *o.scenario
                })
            };
            let (mut causes, others): (Vec<&Finding>, Vec<&Finding>) =
                r.findings.iter().filter(mine).partition(|f| f.likely_cause);
            // A cause reruns confirmed comes first (`run --confirm`).
            causes.sort_by_key(|f| f.verdict != Some(crate::confirm::Verdict::Confirmed));
            out.push(Failure {
                process: p,
                feature: &o.feature,
                scenario: &o.scenario,
                causes,
                others,
            });
        }
    }
    out
}

/// The number `report` shows next to a finding of `r` (and `confirm
/// --finding N` takes): its place in `r.findings`, from 1. One numbering
/// for every mention, so a number read off any part of a report selects
/// that finding. `f` must borrow from `r.findings`, as triage's lists do.
pub fn number(r: &Report, f: &Finding) -> usize {
    let base = r.findings.as_ptr() as usize;
    let i = (f as *const Finding as usize).wrapping_sub(base) / std::mem::size_of::<Finding>();
    assert!(
        r.findings.get(i).is_some_and(|x| std::ptr::eq(x, f)),
        "a finding numbered from another report"
    );
    i + 1
}

/// `" (finding 3, 5 and 8)"`-style list of finding numbers.
pub fn numbers(r: &Report, fs: &[&Finding]) -> String {
    let ns: Vec<String> = fs.iter().map(|f| number(r, f).to_string()).collect();
    match ns.as_slice() {
        [] => String::new(),
        [one] => format!("finding {one}"),
        [init @ .., last] => format!("findings {} and {last}", init.join(", ")),
    }
}

/// Errors that are not about a failed scenario's cause (crashed process,
/// unfinished scenario, proven harm, `--deny`).
pub fn other_errors(r: &Report) -> Vec<&Finding> {
    r.findings
        .iter()
        .filter(|f| {
            f.severity == Severity::Error
                && !f.likely_cause
                && !f
                    .victim
                    .as_ref()
                    .is_some_and(|v| v.outcome == ScenarioOutcome::Failed)
        })
        .collect()
}

/// What a finding's `occurrences` counts, in words.
pub fn occurrences_text(f: &Finding) -> Option<String> {
    (f.occurrences > 1).then(|| match crate::rules::meta(f.rule).occurrences {
        Some(what) => format!("{} {what}", f.occurrences),
        None => format!("{} occurrences of this pair", f.occurrences),
    })
}

/// One line for a hazard group.
pub fn hazard_line(h: &Hazard) -> String {
    // A side spanning several processes names their shared label, if any.
    let side = |s: &crate::model::HazardSide| {
        let f = s.named().feature;
        match (&s.label, s.pid) {
            (Some(l), Some(pid)) => format!("{f} ({l}, pid {pid})"),
            (Some(l), None) => format!("{f} ({l}, several processes)"),
            (None, _) => format!("{f} (several processes)"),
        }
    };
    let span = if h.first == h.last {
        h.first.format("%H:%M:%S%.3f").to_string()
    } else {
        format!(
            "{} .. {}",
            h.first.format("%H:%M:%S%.3f"),
            h.last.format("%H:%M:%S%.3f")
        )
    };
    // Both sides one process and feature (tests of one binary): name it
    // once rather than "auth (auth, pid 101) -> auth (auth, pid 101)".
    let who = if h.polluter == h.victim {
        format!("between scenarios of {}", side(&h.polluter))
    } else {
        format!("{} -> {}", side(&h.polluter), side(&h.victim))
    };
    format!(
        "[{}{}] {who} on {}: {} scenario pair{} ({}), e.g. \"{}\" -> \"{}\". Fix: {}",
        h.rule,
        if h.severity == Severity::Error {
            ", error"
        } else {
            ""
        },
        h.resource,
        h.pairs,
        if h.pairs == 1 { "" } else { "s" },
        span,
        h.example_polluter.scenario,
        h.example_victim.scenario,
        h.fix
    )
}
