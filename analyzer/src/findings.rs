//! Collects findings while streaming and turns them into ranked
//! [`Finding`]s at the end, when every victim's outcome is known.

use std::collections::HashMap;
use std::rc::Rc;

use state_tracer::format::Action;

use crate::analysis::{Proc, Scn};
use crate::model::{Finding, Reproduction, RuleId, ScenarioOutcome, ScenarioRef, Severity};
use crate::record::{to_time, Micros};

/// A finding whose severity may still depend on how the victim ends.
pub struct Pending {
    pub rule: RuleId,
    pub severity: Severity,
    /// Raise to error if the victim turns out FAILED.
    pub error_if_victim_failed: bool,
    pub victim: Option<Rc<Scn>>,
    pub polluter: Option<Rc<Scn>>,
    pub resource: String,
    pub at: Micros,
    pub action: Option<Action>,
    pub explanation: String,
    pub occurrences: u64,
}

impl Pending {
    pub fn new(
        rule: RuleId,
        severity: Severity,
        at: Micros,
        resource: String,
        explanation: String,
    ) -> Self {
        Pending {
            rule,
            severity,
            error_if_victim_failed: false,
            victim: None,
            polluter: None,
            resource,
            at,
            action: None,
            explanation,
            occurrences: 1,
        }
    }
}

/// Deduplicating sink: one finding per rule and polluter/victim pair (or
/// per rule-chosen key), later hits only counted.
#[derive(Default)]
pub struct Findings {
    list: Vec<Pending>,
    index: HashMap<(RuleId, u64, u64), usize>,
}

const NONE: u64 = u64::MAX;

impl Findings {
    /// Adds a finding keyed by its polluter and victim.
    pub fn add(&mut self, p: Pending) {
        let key = (
            p.rule,
            p.polluter.as_ref().map_or(NONE, |s| s.id as u64),
            p.victim.as_ref().map_or(NONE, |s| s.id as u64),
        );
        self.add_keyed(key, p);
    }

    /// Adds a finding with an explicit dedupe key.
    pub fn add_keyed(&mut self, key: (RuleId, u64, u64), p: Pending) {
        match self.index.get(&key) {
            Some(&i) => {
                let old = &mut self.list[i];
                old.occurrences += 1;
                // Keep the first example, but remember the worst severity.
                if p.severity > old.severity && old.rule == p.rule {
                    old.severity = p.severity;
                }
            }
            None => {
                self.index.insert(key, self.list.len());
                self.list.push(p);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Final severities, roles, hints and ranking.
    pub fn finish(self, procs: &[Proc], deny: &[RuleId], allow: &[RuleId]) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .list
            .into_iter()
            .filter(|p| !allow.contains(&p.rule))
            .map(|p| {
                let victim_outcome = p.victim.as_ref().map(|v| v.outcome());
                let failed = victim_outcome == Some(ScenarioOutcome::Failed);
                let mut severity = p.severity;
                if (p.error_if_victim_failed && failed) || deny.contains(&p.rule) {
                    severity = Severity::Error;
                }
                let role = p.polluter.as_ref().map(|_| {
                    if p.rule == RuleId::LeftoverData && !failed {
                        "state-setter".to_owned()
                    } else {
                        "polluter".to_owned()
                    }
                });
                let mut explanation = p.explanation;
                if failed {
                    if let Some(v) = &p.victim {
                        explanation.push_str(&format!(" \"{}\" FAILED.", v.name));
                    }
                }
                let reproduce = match (&p.polluter, &p.victim) {
                    (Some(a), Some(b)) if a.id != b.id => Some(reproduction(a, b, procs)),
                    _ => None,
                };
                Finding {
                    rule: p.rule,
                    severity,
                    likely_cause: failed,
                    victim: p.victim.as_ref().map(|s| scenario_ref(s, procs)),
                    polluter: p.polluter.as_ref().map(|s| scenario_ref(s, procs)),
                    role,
                    resource: p.resource,
                    at: to_time(p.at),
                    action: p.action.map(|a| a.as_str().to_owned()),
                    explanation,
                    occurrences: p.occurrences,
                    reproduce,
                }
            })
            .collect();
        // Failed victims first (the likely causes), then errors, then by time.
        out.sort_by(|a, b| {
            b.likely_cause
                .cmp(&a.likely_cause)
                .then(b.severity.cmp(&a.severity))
                .then(a.at.cmp(&b.at))
                .then(a.rule.cmp(&b.rule))
        });
        out
    }
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

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// "Run polluter then victim in one process", with the command shape of
/// the victim's process when its argv is known.
fn reproduction(a: &Scn, b: &Scn, procs: &[Proc]) -> Reproduction {
    let name = |s: &Scn| format!("{}: {}", s.feature, s.name);
    let filter = format!("^(?:{}|{})$", regex_escape(&a.name), regex_escape(&b.name));
    let argv = &procs[b.file as usize].argv;
    let command = if argv.is_empty() {
        format!(
            "<your test command> with only {:?} then {:?}, in one process, one at a time (e.g. cucumber: --concurrency 1 --name {})",
            name(a),
            name(b),
            shell_quote(&filter)
        )
    } else {
        let base: Vec<String> = argv.iter().map(|s| shell_quote(s)).collect();
        format!(
            "BDD_TRACE_STATE=1 {} --concurrency 1 --name {}  # \"{}\" must run before \"{}\"",
            base.join(" "),
            shell_quote(&filter),
            a.name,
            b.name
        )
    };
    Reproduction {
        scenarios: vec![name(a), name(b)],
        command,
    }
}
