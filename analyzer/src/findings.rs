//! Collects findings while streaming and turns them into ranked
//! [`Finding`]s and grouped [`Hazard`]s at the end.
//!
//! Memory stays bounded by the scenarios still running, not by the number
//! of overlaps: when a victim ends without failing, its findings are folded
//! into hazard groups (a count, a time span and a few example pairs per
//! group). A failed victim's findings are kept whole: the narrowing at the
//! end picks its one likely cause among them (see "Causal narrowing" in
//! `docs/rules.md`).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use state_tracer_format::{Action, ActionKind};

use crate::discover::Format;
use crate::grouping::{shared_labels, PairSink, Side};
use crate::model::{
    Confidence, Finding, Hazard, HazardSide, RuleId, ScenarioOutcome, ScenarioRef, Severity,
};
use crate::record::{to_time, FastMap, FileIdx, Micros, RowsHint};
use crate::repro::reproduction;
use crate::rules::PairText;
use crate::state::{Proc, Scn};

mod message;

use message::{about_time, message_names, words};

/// How strongly one occurrence ties its polluter to its victim (pollution
/// rules). Ordered weakest first; ranking and `likely_cause` use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// A destructive change known to have removed nothing (`rows: 0`).
    RemovedNothing,
    /// The victim used the resource only before the mutation.
    UsedBefore,
    /// A destructive change before the victim's first use of the
    /// resource, an insert: the victim had nothing there yet. Never a
    /// likely cause; a later read of the victim judges the change again.
    DestroyedBeforeInsert,
    /// A destructive change before a read of the victim that came back
    /// with as many rows as the same query ever returned
    /// ([`crate::rules::ReadBack::Full`]): it removed nothing the victim
    /// reads, so a change of values, if any, explains more.
    DestroyedReadFull,
    /// A non-destructive change the victim used afterwards.
    ChangedThenUsed,
    /// A destructive change before the victim's first use of the resource:
    /// it can only have removed data the victim expected to exist already.
    DestroyedThenUsed,
    /// A destructive change inside the victim's window: it used the resource
    /// before and again after (e.g. read it, then read it again).
    DestroyedInWindow,
    /// A destructive change after every write of the victim to the
    /// resource and before it read it back: it can have removed exactly
    /// what the victim wrote.
    DestroyedAfterWrite,
    /// The victim's own failure message names the state: a database
    /// constraint failed on rows this polluter wrote and still had there.
    NamedByFailure,
}

impl Strength {
    pub fn confidence(self) -> Confidence {
        match self {
            Strength::NamedByFailure
            | Strength::DestroyedAfterWrite
            | Strength::DestroyedInWindow => Confidence::High,
            Strength::DestroyedThenUsed => Confidence::Medium,
            Strength::ChangedThenUsed
            | Strength::DestroyedReadFull
            | Strength::DestroyedBeforeInsert
            | Strength::UsedBefore
            | Strength::RemovedNothing => Confidence::Low,
        }
    }

    /// Picked by time order among its equals: the first such change found
    /// the victim's data, later ones found nothing left.
    fn ordered(self) -> bool {
        matches!(
            self,
            Strength::DestroyedAfterWrite | Strength::DestroyedInWindow
        )
    }
}

/// A finding whose severity may still depend on how the victim ends.
pub struct Pending {
    pub rule: RuleId,
    pub severity: Severity,
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
    /// `rows` of the headline occurrence.
    pub rows: RowsHint,
    /// The finding rests on an unknown database identity (at most a hazard).
    pub identity_unknown: bool,
    /// It can explain a failure: a change that destroyed or replaced what
    /// the victim used, or leftover rows the victim saw. Plain inserts, DDL
    /// that changed nothing and rows the victim never saw cannot, however
    /// close in time (no invented culprit).
    pub can_explain: bool,
    /// The change was a whole-table destroy (cleanup, truncate, drop): it
    /// removed every row, the victim's included.
    pub whole: bool,
    /// `leftover-data`: the rows the polluter left (`None`: unknown).
    pub left_rows: Option<Option<u64>>,
    /// The victim's latest use of the state that made this finding (`None`
    /// for in-memory state, used throughout): a use inside the victim's
    /// failed step (its last) outranks uses by earlier steps that passed.
    pub use_at: Option<Micros>,
    /// In-memory state: when the polluter put back the value it found,
    /// after its last change (`None`: it did not, or changed it again).
    pub undone_at: Option<Micros>,
    /// `concurrent-mutation`: what its explanation and `why` are built
    /// from, only for the findings that reach the report (most pairs are
    /// folded into hazard groups, their text never shown). Set: the
    /// `explanation` and `why` above are empty.
    pub(crate) pair_text: Option<PairText>,
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
            rows: RowsHint::default(),
            identity_unknown: false,
            can_explain: false,
            whole: false,
            left_rows: None,
            use_at: None,
            undone_at: None,
            pair_text: None,
        }
    }

    /// Sets the strength of this occurrence and says why.
    pub fn with_strength(mut self, strength: Strength, why: String) -> Self {
        self.strength = Some(strength);
        self.why = Some(why);
        self
    }

    fn pair(&self) -> (u64, u64) {
        let id = |s: &Option<Rc<Scn>>| s.as_ref().map_or(NONE, |s| s.id as u64);
        (id(&self.polluter), id(&self.victim))
    }

    /// Two passing scenarios that only added rows while the other ran:
    /// reported once for the pair, not in both directions.
    fn mirrorable(&self) -> bool {
        self.rule == RuleId::ConcurrentMutation
            && !self.destructive
            && !self.read_after
            && self.victim.as_ref().is_some_and(|v| !v.failed())
    }
}

/// How many example pairs a hazard group keeps.
const EXAMPLES: usize = 3;
/// How many recently folded one-way pairs are remembered for mirroring.
const MIRRORS: usize = 256;

/// What a hazard group is keyed by, what a fix acts on: rule, severity,
/// resource, and the polluter's feature and process label when other
/// processes share it (see [`crate::grouping`]). Never a process, nor the
/// victim (its processes and features are counted): the groups grow with
/// neither the processes nor the square of the features.
#[derive(Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    rule: RuleId,
    severity: Severity,
    polluter: (Option<Arc<str>>, Arc<str>),
    resource: String,
}

struct Group {
    key: GroupKey,
    pairs: u64,
    occurrences: u64,
    first: Micros,
    last: Micros,
    identity_unknown: bool,
    example: (ScenarioRef, ScenarioRef),
    sides: (Side, Side),
}

/// The findings sink: one finding per rule and polluter/victim pair (or
/// per rule-chosen key), later hits only counted; passing victims' findings
/// folded into hazard groups when the victim ends.
#[derive(Default)]
pub struct Findings {
    slots: Vec<Option<Pending>>,
    free: Vec<usize>,
    index: FastMap<(RuleId, u64, u64), usize>,
    /// Slots naming each victim, to fold them when it ends.
    by_victim: FastMap<usize, Vec<usize>>,
    groups: Vec<Group>,
    group_index: FastMap<GroupKey, usize>,
    /// Example findings of the hazard groups, at most [`EXAMPLES`] each.
    examples: Vec<(Option<Strength>, Finding)>,
    mirrored: VecDeque<(u64, u64)>,
    deny: Vec<RuleId>,
    allow: Vec<RuleId>,
    /// Per file: its label when shared (computed at the first fold).
    labels: Vec<Option<Arc<str>>>,
    /// Every folded pair, one JSON line each (`--hazard-pairs`).
    pair_sink: Option<Rc<RefCell<PairSink>>>,
}

const NONE: u64 = u64::MAX;

impl Findings {
    /// A sink that drops the `allow`ed rules and makes the `deny`ed ones errors.
    pub fn new(deny: Vec<RuleId>, allow: Vec<RuleId>) -> Findings {
        Findings {
            deny,
            allow,
            ..Findings::default()
        }
    }

    /// Also writes every pair folded into a hazard group to `sink`.
    pub fn with_pairs(mut self, sink: Option<Rc<RefCell<PairSink>>>) -> Findings {
        self.pair_sink = sink;
        self
    }

    /// Adds a finding keyed by its polluter and victim.
    pub fn add(&mut self, p: Pending) {
        let (a, b) = p.pair();
        self.add_keyed((p.rule, a, b), p);
    }

    /// The polluter of `key` put back, at `at`, the value it found: its
    /// change no longer holds (until it changes the state again).
    pub fn undone(&mut self, key: (RuleId, u64, u64), at: Micros) {
        if let Some(p) = self.index.get(&key).and_then(|&i| self.slots[i].as_mut()) {
            p.undone_at = Some(at);
        }
    }

    /// The dedupe key of a polluter/victim pair.
    pub fn pair_key(rule: RuleId, polluter: &Scn, victim: &Scn) -> (RuleId, u64, u64) {
        (rule, polluter.id as u64, victim.id as u64)
    }

    /// Counts one more occurrence of an already-known finding when it would
    /// not become its headline (not stronger), so the caller can skip
    /// building its explanation. A `destructive` occurrence can explain a
    /// failure. False: the caller must [`Findings::add`] it.
    pub fn count_again(
        &mut self,
        key: (RuleId, u64, u64),
        severity: Severity,
        strength: Strength,
        (destructive, read_after): (bool, bool),
        use_at: Option<Micros>,
    ) -> bool {
        let Some(&i) = self.index.get(&key) else {
            return false;
        };
        let Some(old) = self.slots[i].as_mut() else {
            return false;
        };
        if Some(strength) > old.strength {
            return false;
        }
        old.occurrences += 1;
        old.severity = old.severity.max(severity);
        old.destructive |= destructive;
        // Whether it can explain the failure is the headline's to say: a
        // weaker destructive occurrence does not make a stronger insert a
        // cause.
        if Some(strength) == old.strength {
            old.can_explain |= destructive;
        }
        old.read_after |= read_after;
        old.use_at = old.use_at.max(use_at);
        true
    }

    /// [`Findings::add_keyed`] for a finding whose text costs: `text` fills
    /// it in only if [`Findings::add_keyed`] keeps it (a new key, or a
    /// stronger occurrence); most repeats of a pair only count.
    pub fn add_keyed_with(
        &mut self,
        key: (RuleId, u64, u64),
        mut p: Pending,
        text: impl FnOnce(&mut Pending),
    ) {
        let old = self.index.get(&key).and_then(|&i| self.slots[i].as_ref());
        if old.is_none_or(|old| p.strength > old.strength) {
            text(&mut p);
        }
        self.add_keyed(key, p);
    }

    /// Adds a finding with an explicit dedupe key.
    pub fn add_keyed(&mut self, key: (RuleId, u64, u64), p: Pending) {
        if self.allow.contains(&p.rule) {
            return;
        }
        if let Some(old) = self.index.get(&key).and_then(|&i| self.slots[i].as_mut()) {
            old.occurrences += 1;
            // Keep the worst severity, and as headline (time, action,
            // explanation) the most incriminating occurrence, the first
            // one among equals.
            if p.severity > old.severity && old.rule == p.rule {
                old.severity = p.severity;
            }
            old.destructive |= p.destructive;
            old.read_after |= p.read_after;
            old.identity_unknown &= p.identity_unknown;
            // A new change of in-memory state: whatever it put back before
            // is changed again (its changes to tables are another matter).
            if p.resource.starts_with("process:") {
                old.undone_at = p.undone_at;
            }
            if p.strength == old.strength {
                old.can_explain |= p.can_explain;
            }
            if p.strength > old.strength {
                old.can_explain = p.can_explain;
                old.strength = p.strength;
                old.why = p.why;
                old.at = p.at;
                old.action = p.action;
                old.resource = p.resource;
                old.explanation = p.explanation;
                old.pair_text = p.pair_text;
                old.rows = p.rows;
                old.whole = p.whole;
                old.left_rows = p.left_rows;
            }
            old.use_at = old.use_at.max(p.use_at);

            return;
        }
        let victim = p.victim.as_ref().map(|v| v.id);
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(p);
                i
            }
            None => {
                self.slots.push(Some(p));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, i);
        if let Some(v) = victim {
            self.by_victim.entry(v).or_default().push(i);
        }
    }

    /// Victim `v` ended. If it did not fail, nothing can make its findings
    /// explain a failure any more: fold them into hazard groups.
    pub fn victim_ended(&mut self, v: &Scn, procs: &[Proc]) {
        if v.failed() {
            return;
        }
        let Some(slots) = self.by_victim.remove(&v.id) else {
            return;
        };
        for i in slots {
            if let Some(p) = self.slots[i].take() {
                self.free.push(i);
                self.index.remove(&(p.rule, p.pair().0, p.pair().1));
                self.fold(p, procs);
            }
        }
    }

    /// Folds one finding of a victim that did not fail into its group.
    fn fold(&mut self, p: Pending, procs: &[Proc]) {
        let (Some(a), Some(b)) = (p.polluter.clone(), p.victim.clone()) else {
            let severity = self.severity(&p, false);
            self.examples
                .push(to_finding(p, procs, severity, false, None));
            return;
        };
        if p.mirrorable() {
            let (x, y) = p.pair();
            if let Some(k) = self.mirrored.iter().position(|&m| m == (y, x)) {
                self.mirrored.remove(k);
                return;
            }
            if self.mirrored.len() == MIRRORS {
                self.mirrored.pop_front();
            }
            self.mirrored.push_back((x, y));
        }
        let severity = self.severity(&p, false);
        if self.labels.len() != procs.len() {
            self.labels = shared_labels(procs);
        }
        if let Some(sink) = &mut self.pair_sink {
            sink.borrow_mut().write(&p, severity, procs);
        }
        let label = |f: FileIdx| self.labels[f as usize].clone();
        let key = GroupKey {
            rule: p.rule,
            severity,
            polluter: (label(a.file), a.feature.clone()),
            resource: p.resource.clone(),
        };
        let gi = match self.group_index.get(&key) {
            Some(&g) => g,
            None => {
                self.groups.push(Group {
                    key: key.clone(),
                    pairs: 0,
                    occurrences: 0,
                    first: p.at,
                    last: p.at,
                    identity_unknown: p.identity_unknown,
                    example: (scenario_ref(&a, procs), scenario_ref(&b, procs)),
                    sides: (
                        Side::new(a.file, label(a.file), a.feature.clone()),
                        Side::new(b.file, label(b.file), b.feature.clone()),
                    ),
                });
                self.group_index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[gi];
        g.pairs += 1;
        g.sides
            .0
            .add(a.file, &self.labels[a.file as usize], &a.feature);
        g.sides
            .1
            .add(b.file, &self.labels[b.file as usize], &b.feature);
        g.occurrences += p.occurrences;
        g.first = g.first.min(p.at);
        g.last = g.last.max(p.at);
        if g.pairs as usize <= EXAMPLES {
            self.examples
                .push(to_finding(p, procs, severity, false, None));
        }
    }

    /// Final severity: errors explain a failure (`likely`) or are asked
    /// for (`--deny`); the rest are hazards: a scenario that passed was not
    /// harmed as far as anyone can prove. A finding that rests on an
    /// unknown database identity is never an error.
    fn severity(&self, p: &Pending, likely: bool) -> Severity {
        if p.identity_unknown {
            return Severity::Warning;
        }
        let pollution = p.polluter.is_some() && p.victim.is_some();
        if likely || self.deny.contains(&p.rule) {
            Severity::Error
        } else if pollution {
            Severity::Warning
        } else {
            p.severity
        }
    }

    /// Narrows each failed victim to its likely cause, folds what is
    /// left, ranks the findings and lists the hazard groups.
    /// `fix` says, per rule, what to change so a hazard group goes away.
    pub fn finish(
        mut self,
        procs: &[Proc],
        fix: &dyn Fn(RuleId, &HazardSide, &HazardSide, &str) -> String,
    ) -> (Vec<Finding>, Vec<Hazard>) {
        let mut kept: Vec<Pending> = Vec::new();
        let slots = std::mem::take(&mut self.slots);
        for p in slots.into_iter().flatten() {
            let failed = p.victim.as_ref().is_some_and(|v| v.failed());
            if failed || p.victim.is_none() || p.polluter.is_none() {
                kept.push(p);
            } else {
                self.fold(p, procs);
            }
        }
        let verdicts = narrow(&kept, procs);
        let mut out: Vec<(Option<Strength>, Finding)> = Vec::new();
        for (p, (likely, evidence)) in kept.into_iter().zip(verdicts) {
            let severity = self.severity(&p, likely);
            out.push(to_finding(p, procs, severity, likely, evidence));
        }
        out.append(&mut self.examples);
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
        let mut hazards: Vec<Hazard> = self
            .groups
            .into_iter()
            .map(|g| {
                let (polluter, victim) = (g.sides.0.summary(procs), g.sides.1.summary(procs));
                Hazard {
                    rule: g.key.rule,
                    severity: g.key.severity,
                    fix: with_identity_note(
                        fix(g.key.rule, &polluter, &victim.named(), &g.key.resource),
                        g.identity_unknown,
                    ),
                    polluter,
                    victim,
                    resource: g.key.resource,
                    pairs: g.pairs,
                    occurrences: g.occurrences,
                    first: to_time(g.first),
                    last: to_time(g.last),
                    identity_unknown: g.identity_unknown,
                    example_polluter: g.example.0,
                    example_victim: g.example.1,
                }
            })
            .collect();
        hazards.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.pairs.cmp(&a.pairs))
                .then(a.first.cmp(&b.first))
        });
        (out.into_iter().map(|(_, f)| f).collect(), hazards)
    }
}

/// A hazard's fix, plus how to name the database when its identity is unknown.
fn with_identity_note(fix: String, identity_unknown: bool) -> String {
    if identity_unknown {
        format!("{fix}; the database identity is unknown, so they may not share it at all: name it with state_tracer::set_database or DATABASE_URL")
    } else {
        fix
    }
}

/// Per kept finding: whether it is its failed victim's likely cause, and
/// the evidence that says why (or why not).
fn narrow(list: &[Pending], procs: &[Proc]) -> Vec<(bool, Option<String>)> {
    let mut out: Vec<(bool, Option<String>)> = vec![(false, None); list.len()];
    let mut by_victim: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, p) in list.iter().enumerate() {
        match &p.victim {
            Some(v) if v.failed() => by_victim.entry(v.id).or_default().push(i),
            _ => {}
        }
    }
    let hms = |t: Micros| to_time(t).format("%H:%M:%S%.6f").to_string();
    let what = |p: &Pending| {
        format!(
            "{} of {} at {} by {}",
            p.action.map_or("change", |a| a.as_str()),
            p.resource,
            hms(p.at),
            p.polluter
                .as_ref()
                .map_or_else(String::new, |s| format!("\"{}\"", s.name))
        )
    };
    for idx in by_victim.values() {
        // A victim that failed on time: what rows held does not explain
        // how long it took (in-memory state, such as a changed limit, may).
        let on_time = idx
            .first()
            .and_then(|&i| list[i].victim.as_ref())
            .is_some_and(|v| v.failure.get().is_some_and(|m| about_time(m)));
        let data = |p: &Pending| !p.resource.starts_with("process:");
        for &i in idx {
            let p = &list[i];
            out[i].1 = if on_time && data(p) && p.strength > Some(Strength::UsedBefore) {
                Some(format!(
                    "{}: the victim failed on time (its failure message states a duration against a limit), and rows removed or left behind do not explain how long it took",
                    what(p)
                ))
            } else if p.identity_unknown {
                Some("not proof: the database identity is unknown (no `db` in the records), so the two may use different databases; name it with state_tracer::set_database or DATABASE_URL".to_owned())
            } else if p.strength == Some(Strength::RemovedNothing) {
                Some(format!(
                    "{}: removed 0 rows, so it cannot have removed the victim's data",
                    what(p)
                ))
            } else if p.strength == Some(Strength::DestroyedBeforeInsert) {
                Some(format!(
                    "{}: it came before the victim's first use of the table, an insert, and no later read of the victim came back short; it cannot explain the failure",
                    what(p)
                ))
            } else if p.strength == Some(Strength::DestroyedReadFull) {
                Some(format!(
                    "{}: the victim's read afterwards returned as many rows as the same query ever had, so it removed nothing the victim reads and cannot explain the failure",
                    what(p)
                ))
            } else if p.strength > Some(Strength::UsedBefore) && !p.can_explain {
                Some(format!(
                    "{}: {}, so it cannot explain the failure",
                    what(p),
                    if p.rule == RuleId::LeftoverData {
                        "the victim never saw those rows (its reads returned no more rows than its own)"
                    } else {
                        "it destroyed nothing (an insert, an update of its own rows or DDL that changed nothing)"
                    }
                ))
            } else {
                None
            };
        }
        let candidates: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| {
                let p = &list[i];
                // Rows do not explain a failure on time.
                let rows_on_time = on_time && data(p);
                !(p.identity_unknown || rows_on_time)
                    && p.can_explain
                    && p.strength.is_some_and(|s| s > Strength::UsedBefore)
                    // Its own evidence says it removed nothing the victim
                    // read: ranked, never a likely cause.
                    && !matches!(
                        p.strength,
                        Some(Strength::DestroyedReadFull | Strength::DestroyedBeforeInsert)
                    )
            })
            .collect();
        // State the failed step used outranks state earlier steps used.
        let in_step: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| list[i].use_at.is_some_and(|u| in_failed_step(&list[i], u)))
            .collect();
        let step_note = !in_step.is_empty() && in_step.len() < candidates.len();
        let candidates = if in_step.is_empty() {
            candidates
        } else {
            in_step
        };
        let Some(top) = candidates.iter().filter_map(|&i| list[i].strength).max() else {
            continue;
        };
        let mut best: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| list[i].strength == Some(top))
            .collect();
        best.sort_by_key(|&i| (list[i].at, i));
        // A whole-table destroy removed every row, the victim's included: it
        // outranks scoped deletes, which may have removed other rows.
        let scoped: Vec<usize> = if best.iter().any(|&i| list[i].whole) {
            let scoped = best.iter().copied().filter(|&i| !list[i].whole).collect();
            best.retain(|&i| list[i].whole);
            scoped
        } else {
            Vec::new()
        };
        // In-memory states are all "used throughout": when candidates on
        // several of them are left, the failure message says which one the
        // victim tripped over, if it names it.
        let resources: Vec<&str> = best.iter().map(|&i| list[i].resource.as_str()).collect();
        if resources.iter().any(|r| *r != resources[0]) {
            // The victim's name says what it uses too ("invoice shows the
            // price", "fixture token is accepted").
            let message = list[best[0]].victim.as_ref().map_or(String::new(), |v| {
                format!("{} {}", v.failure.get().map_or("", |m| &**m), v.name)
            });
            let message = message.as_str();
            let named: Vec<usize> = best
                .iter()
                .copied()
                .filter(|&i| message_names(message, &list[i].resource))
                .collect();
            if !named.is_empty() && named.len() < best.len() {
                best = named;
            }
        }
        // In-memory state put back before the victim failed: it failed with
        // the value in effect then (rule 8: a restore hands the value back
        // to its first setter), so a change still in effect outranks it.
        let undone = |i: usize| {
            let p = &list[i];
            p.undone_at.is_some_and(|t| {
                p.victim
                    .as_ref()
                    .is_none_or(|v| v.end.get().is_none_or(|e| t <= e))
            })
        };
        let put_back: Vec<usize> = if best.iter().any(|&i| !undone(i)) {
            let put_back = best.iter().copied().filter(|&i| undone(i)).collect();
            best.retain(|&i| !undone(i));
            put_back
        } else {
            Vec::new()
        };
        let leaks = best.iter().all(|&i| list[i].rule == RuleId::LeakedState);
        let known = |best: &[usize]| -> Vec<usize> {
            // Where exactly one is known to have removed rows, it alone.
            let known: Vec<usize> = best
                .iter()
                .copied()
                .filter(|&i| list[i].rows.some_changed())
                .collect();
            if known.len() == 1 {
                known
            } else {
                best.to_vec()
            }
        };
        let process_state = best
            .iter()
            .all(|&i| list[i].resource.starts_with("process:"));
        let mut chosen: Vec<usize> = if top.ordered() && process_state {
            // In-memory state changed before or while the victim ran: it
            // failed with the value of the last change of each state (used
            // throughout, it has no traced uses to order the changes by).
            // Several states left are tied.
            best.iter()
                .copied()
                .filter(|&i| {
                    !best
                        .iter()
                        .any(|&j| list[j].resource == list[i].resource && list[j].at > list[i].at)
                })
                .collect()
        } else if top.ordered() && list[best[0]].whole {
            // The first whole-table destroy after the victim's write removed
            // it; equal times cannot be told apart.
            let t0 = list[best[0]].at;
            best.iter().copied().filter(|&i| list[i].at == t0).collect()
        } else if leaks {
            // The rule already set aside changes a later one replaced: one
            // candidate per state is left, and nothing says which state
            // the victim's failure was about.
            best.clone()
        } else {
            known(&best)
        };
        // Still tied: the failure message and the victim's own name may
        // say what it was about, and tests are named after what they touch
        // ("browse kitchen" fails with "kitchen: 1 missing" after
        // "discontinue KITCHEN-3"; "register alice@…" fails on a unique key
        // that "register alice@… #0" left). The candidates whose scenario
        // names share the most such words, among words not every tied
        // candidate's name has, are kept.
        let mut named_by: Option<String> = None;
        if chosen.len() > 1 {
            let about = list[chosen[0]].victim.as_ref().map_or(String::new(), |v| {
                format!("{} {}", v.failure.get().map_or("", |m| &**m), v.name)
            });
            let about = words(&about);
            let names: Vec<Vec<String>> = chosen
                .iter()
                .map(|&i| {
                    let name = list[i].polluter.as_ref().map_or("", |s| &*s.name);
                    let mut w = words(name);
                    w.retain(|x| about.contains(x));
                    w
                })
                .collect();
            let telling = |w: &String| !names.iter().all(|n| n.contains(w));
            let score: Vec<usize> = names
                .iter()
                .map(|n| n.iter().filter(|w| telling(w)).count())
                .collect();
            let top_score = score.iter().copied().max().unwrap_or(0);
            if top_score > 0 && score.iter().any(|&x| x < top_score) {
                let k = score.iter().position(|&x| x == top_score).unwrap_or(0);
                named_by = names[k].iter().find(|w| telling(w)).cloned();
                chosen = chosen
                    .iter()
                    .zip(&score)
                    .filter(|(_, &x)| x == top_score)
                    .map(|(&i, _)| i)
                    .collect();
                // Changed values named alike: the victim read what the
                // last of them wrote (as with in-memory state).
                if top == Strength::ChangedThenUsed {
                    let last = chosen.iter().map(|&i| list[i].at).max();
                    chosen.retain(|&i| Some(list[i].at) == last);
                }
            }
        }
        let lead = match top {
            Strength::DestroyedAfterWrite => "first destructive change after the victim's last write and before it read the data back",
            Strength::DestroyedInWindow => "first destructive change between the victim's uses",
            Strength::DestroyedThenUsed => "destructive change before the victim's first use",
            Strength::NamedByFailure => "the victim's failure message names this table, and these rows were there when it failed",
            Strength::DestroyedReadFull => "destructive change before the victim's read, though that read missed no row",
            _ if leaks => "last change before the victim ran, never reset: the victim saw this value",
            _ => "rows left behind that the victim saw",
        };
        let rows_word = |n: u64| if n == 1 { "row" } else { "rows" };
        let rows_text = |p: &Pending| -> String {
            if let Some(left) = p.left_rows {
                let verb = if p.rule == RuleId::LeftoverData {
                    "left"
                } else {
                    "had"
                };
                return match left {
                    Some(n) => format!("; it {verb} {n} {} there", rows_word(n)),
                    None => format!("; it {verb} rows there (count unknown)"),
                };
            }
            if p.action
                .is_some_and(|a| matches!(a.kind(), ActionKind::Secret | ActionKind::Config))
            {
                return String::new();
            }
            match (p.rows.exact(), p.rows.at_least()) {
                (Some(n), _) => format!(
                    "; {} {n} {}{}",
                    if top >= Strength::DestroyedThenUsed || top == Strength::DestroyedReadFull {
                        "removed"
                    } else {
                        "changed"
                    },
                    rows_word(n),
                    if p.whole { ", the whole table" } else { "" }
                ),
                (None, Some(n)) => format!("; changed {n} or more rows"),
                (None, None) => {
                    let legacy = p
                        .polluter
                        .as_ref()
                        .is_some_and(|s| procs[s.file as usize].format == Format::Legacy);
                    if legacy {
                        "; rows unknown: legacy files do not record them".to_owned()
                    } else if p.whole {
                        "; rows unknown (the database reported no count), but a whole-table change removes every row".to_owned()
                    } else {
                        "; rows unknown: the record has no `rows`".to_owned()
                    }
                }
            }
        };
        let first = hms(list[chosen[0]].at);
        let zeros: Vec<String> = idx
            .iter()
            .filter(|&&i| list[i].strength == Some(Strength::RemovedNothing))
            .map(|&i| hms(list[i].at))
            .collect();
        let zero_note = match zeros.as_slice() {
            [] => String::new(),
            [one] => format!("; the change at {one} removed 0 rows"),
            many => format!("; the changes at {} removed 0 rows", many.join(", ")),
        };
        let later: Vec<String> = best
            .iter()
            .filter(|&&i| !chosen.contains(&i) && !list[i].rows.some_changed())
            .map(|&i| hms(list[i].at))
            .collect();
        for &i in &chosen {
            let p = &list[i];
            let mut e = format!(
                "{lead}{}: {}{}",
                if p.whole && top >= Strength::DestroyedThenUsed {
                    " (a whole-table one)"
                } else {
                    ""
                },
                what(p),
                rows_text(p)
            );
            if top.ordered() && p.whole && !later.is_empty() {
                e.push_str(&format!(
                    "; the later ones at {} found nothing left to destroy",
                    later.join(", ")
                ));
            }
            e.push_str(&zero_note);
            if let Some(w) = &named_by {
                e.push_str(&format!(
                    "; the victim's failure message or name and this scenario's name share the word \"{w}\" (the other candidates' names do not)"
                ));
            }
            if step_note {
                e.push_str("; the victim's failed step used this state (changes to state only its earlier, passing steps used rank after it)");
            }
            if chosen.len() > 1 {
                e.push_str(&format!(
                    "; tied with {}: {}; `trace-analyzer confirm` on each finding separates them by reruns",
                    crate::count((chosen.len() - 1) as u64, "other candidate", "other candidates"),
                    if p.resource.starts_with("process:") {
                        "each changed in-memory state the victim may have used, and the trace cannot tell which one its failure was about"
                    } else if top.ordered() && !p.whole {
                        "each removed rows others had written, and the trace cannot tell whose"
                    } else if p.rows.at_least().is_none() {
                        "rows unknown, so the trace cannot tell which one removed the data"
                    } else {
                        "the trace cannot order them"
                    }
                ));
            }
            out[i] = (true, Some(e));
        }
        for &i in &best {
            if chosen.contains(&i) {
                continue;
            }
            let p = &list[i];
            out[i].1 = Some(if process_state {
                format!(
                    "{}: also changed the state, but the change at {first} came later: the victim failed with that value",
                    what(p)
                )
            } else if top.ordered() {
                match p.rows.exact() {
                    Some(n) if n > 0 => format!(
                        "{}: removed {n} {}, but the whole-table change at {first} had already removed the victim's data",
                        what(p),
                        rows_word(n)
                    ),
                    _ => format!(
                        "{}: came after the whole-table change at {first}, which had already removed the victim's data; found nothing left to destroy",
                        what(p)
                    ),
                }
            } else {
                format!(
                    "{}: the change at {first} is the stronger evidence",
                    what(p)
                )
            });
        }
        for &i in &put_back {
            let p = &list[i];
            out[i].1 = Some(format!(
                "{}: put back the value it found at {}, before the victim failed; the victim failed with the value in effect then",
                what(p),
                p.undone_at.map(hms).unwrap_or_default()
            ));
        }
        for &i in &scoped {
            out[i].1 = Some(format!(
                "{}: a scoped delete of rows others had written; the whole-table change at {first} removed every row, so it is named first",
                what(&list[i])
            ));
        }
    }
    out
}

/// Whether `u` fell inside the failed step of `p`'s victim.
fn in_failed_step(p: &Pending, u: Micros) -> bool {
    p.victim.as_ref().is_some_and(|v| v.in_failed_step(u))
}

/// The final form of one finding.
fn to_finding(
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
