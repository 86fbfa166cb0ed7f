//! Collects findings while streaming and turns them into ranked
//! [`Finding`]s at the end, when every victim's outcome is known.

use std::collections::HashMap;
use std::rc::Rc;

use state_tracer::format::Action;

use crate::analysis::{Proc, Scn};
use crate::model::{
    Confidence, Finding, Reproduction, RuleId, ScenarioOutcome, ScenarioRef, Severity,
};
use crate::record::{to_time, Micros};

/// How strongly one occurrence ties its polluter to its victim (pollution
/// rules). Ordered weakest first; ranking and `likely_cause` use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// The victim used the resource only before the mutation.
    UsedBefore,
    /// A non-destructive change the victim used afterwards.
    ChangedThenUsed,
    /// A destructive change before the victim's first use of the resource:
    /// it can only have removed data the victim expected to exist already.
    DestroyedThenUsed,
    /// A destructive change inside the victim's window: it used the resource
    /// before and again after (e.g. inserted a row, then read it back).
    DestroyedInWindow,
}

impl Strength {
    pub fn confidence(self) -> Confidence {
        match self {
            Strength::DestroyedInWindow => Confidence::High,
            Strength::DestroyedThenUsed => Confidence::Medium,
            Strength::ChangedThenUsed | Strength::UsedBefore => Confidence::Low,
        }
    }
}

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
    /// Pollution rules: how strongly this occurrence explains the victim.
    pub strength: Option<Strength>,
    /// Why that strength, in a few words.
    pub why: Option<String>,
    /// Some occurrence was destructive.
    pub destructive: bool,
    /// The victim read the resource after some occurrence (it saw the change).
    pub read_after: bool,
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
            strength: None,
            why: None,
            destructive: false,
            read_after: false,
        }
    }

    /// Sets the strength of this occurrence and says why.
    pub fn with_strength(mut self, strength: Strength, why: String) -> Self {
        self.strength = Some(strength);
        self.why = Some(why);
        self
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

    /// The dedupe key of a polluter/victim pair.
    pub fn pair_key(rule: RuleId, polluter: &Scn, victim: &Scn) -> (RuleId, u64, u64) {
        (rule, polluter.id as u64, victim.id as u64)
    }

    /// Counts one more occurrence of an already-known finding when it would
    /// not become its headline (not stronger), so the caller can skip
    /// building its explanation. False: the caller must [`Findings::add`] it.
    pub fn count_again(
        &mut self,
        key: (RuleId, u64, u64),
        severity: Severity,
        strength: Strength,
        (destructive, read_after): (bool, bool),
    ) -> bool {
        let Some(&i) = self.index.get(&key) else {
            return false;
        };
        let old = &mut self.list[i];
        if Some(strength) > old.strength {
            return false;
        }
        old.occurrences += 1;
        old.severity = old.severity.max(severity);
        old.destructive |= destructive;
        old.read_after |= read_after;
        true
    }

    /// Adds a finding with an explicit dedupe key.
    pub fn add_keyed(&mut self, key: (RuleId, u64, u64), p: Pending) {
        match self.index.get(&key) {
            Some(&i) => {
                let old = &mut self.list[i];
                old.occurrences += 1;
                // Keep the worst severity, and as headline (time, action,
                // explanation) the most incriminating occurrence, the first
                // one among equals.
                if p.severity > old.severity && old.rule == p.rule {
                    old.severity = p.severity;
                }
                old.destructive |= p.destructive;
                old.read_after |= p.read_after;
                if p.strength > old.strength {
                    old.strength = p.strength;
                    old.why = p.why;
                    old.at = p.at;
                    old.action = p.action;
                    old.resource = p.resource;
                    old.explanation = p.explanation;
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
        let mut list: Vec<Pending> = self
            .list
            .into_iter()
            .filter(|p| !allow.contains(&p.rule))
            .collect();
        drop_mirrored_writes(&mut list);
        // A failed victim's likely causes are its strongest pollution
        // findings (ties all); without any, every finding naming it is.
        let mut strongest: HashMap<usize, Strength> = HashMap::new();
        for p in &list {
            if let (Some(v), Some(st)) = (&p.victim, p.strength) {
                if v.failed() {
                    let e = strongest.entry(v.id).or_insert(st);
                    *e = (*e).max(st);
                }
            }
        }
        let mut out: Vec<(Option<Strength>, Finding)> = list
            .into_iter()
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
                    (Some(a), Some(b)) if a.id != b.id => {
                        Some(reproduction(p.rule, a, b, &p.resource, procs))
                    }
                    _ => None,
                };
                let likely_cause = failed
                    && p.victim
                        .as_ref()
                        .is_none_or(|v| match strongest.get(&v.id) {
                            Some(max) => p.strength == Some(*max),
                            None => true,
                        });
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
                    why: p.why,
                    history: None,
                };
                (p.strength, finding)
            })
            .collect();
        // Likely causes first, then the strongest evidence, then errors,
        // then by time.
        out.sort_by(|(sa, a), (sb, b)| {
            b.likely_cause
                .cmp(&a.likely_cause)
                .then(sb.cmp(sa))
                .then(b.severity.cmp(&a.severity))
                .then(a.at.cmp(&b.at))
                .then(a.rule.cmp(&b.rule))
        });
        out.into_iter().map(|(_, f)| f).collect()
    }
}

/// Two scenarios that both only added rows to a table while the other ran
/// give `concurrent-mutation` in both directions, though neither failed nor
/// read what the other wrote: keep one of the two (the stronger, else the
/// earlier), a low-confidence warning that they share the table.
fn drop_mirrored_writes(list: &mut Vec<Pending>) {
    let mirrorable = |p: &Pending| {
        p.rule == RuleId::ConcurrentMutation
            && !p.destructive
            && !p.read_after
            && p.victim.as_ref().is_some_and(|v| !v.failed())
    };
    let pair = |p: &Pending| {
        let id = |s: &Option<Rc<Scn>>| s.as_ref().map_or(NONE, |s| s.id as u64);
        (id(&p.polluter), id(&p.victim))
    };
    let index: HashMap<(u64, u64), usize> = list
        .iter()
        .enumerate()
        .filter(|(_, p)| mirrorable(p))
        .map(|(i, p)| (pair(p), i))
        .collect();
    let mut drop = vec![false; list.len()];
    for (&(a, b), &i) in &index {
        let Some(&j) = index.get(&(b, a)) else {
            continue;
        };
        if a == b || drop[i] || drop[j] {
            continue;
        }
        let (x, y) = (&list[i], &list[j]);
        let rank = |p: &Pending, i: usize| (std::cmp::Reverse(p.strength), p.at, i);
        let keep_i = rank(x, i) < rank(y, j);
        drop[if keep_i { j } else { i }] = true;
    }
    let mut k = 0;
    list.retain(|_| {
        k += 1;
        !drop[k - 1]
    });
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

/// How to replay a polluter/victim pair. Same process: polluter then victim
/// in one process, with the command shape of that process. Two processes
/// (a feature per process cannot be merged into one): both processes' own
/// commands, each narrowed to its scenario, in parallel for a concurrent
/// mutation or one after the other for leftover data.
fn reproduction(rule: RuleId, a: &Scn, b: &Scn, resource: &str, procs: &[Proc]) -> Reproduction {
    let name = |s: &Scn| format!("{}: {}", s.feature, s.name);
    let argv = &procs[b.file as usize].argv;
    let command = if a.file != b.file {
        two_processes(rule, a, b, resource, procs)
    } else if argv.is_empty() {
        let filter = format!("^(?:{}|{})$", regex_escape(&a.name), regex_escape(&b.name));
        format!(
            "<your test command> with only {:?} then {:?}, in one process, one at a time (e.g. cucumber: --concurrency 1 --name {})",
            name(a),
            name(b),
            shell_quote(&filter)
        )
    } else {
        let filter = format!("^(?:{}|{})$", regex_escape(&a.name), regex_escape(&b.name));
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

/// The pair ran in two processes: give each process's own command (from its
/// trace header) narrowed to its scenario with cucumber's `--name`.
fn two_processes(rule: RuleId, a: &Scn, b: &Scn, resource: &str, procs: &[Proc]) -> String {
    let (pa, pb) = (&procs[a.file as usize], &procs[b.file as usize]);
    let parallel = matches!(rule, RuleId::ConcurrentMutation | RuleId::SharedSchema);
    if pa.argv.is_empty() || pb.argv.is_empty() {
        return format!(
            "two processes{}: {:?} in the command of {} (pid {}) and {:?} in the command of {} (pid {}), each selecting only that scenario, with the environment (database) of the traced run",
            if parallel { ", at the same time" } else { ", polluter first" },
            format!("{}: {}", a.feature, a.name),
            pa.label(),
            pa.pid,
            format!("{}: {}", b.feature, b.name),
            pb.label(),
            pb.pid,
        );
    }
    let cmd = |p: &Proc, s: &Scn| {
        let base: Vec<String> = p.argv.iter().map(|x| shell_quote(x)).collect();
        let filter = format!("^{}$", regex_escape(&s.name));
        format!(
            "BDD_TRACE_STATE=1 {} --name {}",
            base.join(" "),
            shell_quote(&filter)
        )
    };
    if parallel {
        format!(
            "{} & {}; wait  # two processes at once, same environment (database) as the traced run; repeat until \"{}\" fails: \"{}\" must touch {} while \"{}\" is between its uses of it",
            cmd(pb, b),
            cmd(pa, a),
            b.name,
            a.name,
            resource,
            b.name
        )
    } else {
        format!(
            "{}; {}  # one after the other, same environment (database) as the traced run",
            cmd(pa, a),
            cmd(pb, b)
        )
    }
}
