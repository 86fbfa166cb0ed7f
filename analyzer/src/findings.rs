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
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use state_tracer_format::Action;

use crate::engine::state::{Proc, Scn};
use crate::input::record::{to_time, FastMap, FileIdx, Micros, RowsHint};
use crate::model::{Confidence, Finding, Hazard, HazardSide, RuleId, ScenarioRef, Severity};
pub(crate) use grouping::PairSink;
use grouping::{shared_labels, Side};
pub(crate) use pair_text::PairText;

mod finish;
mod grouping;
mod message;
mod narrow;
mod pair_text;

pub use finish::scenario_ref;
use finish::to_finding;
use narrow::narrow;

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
    /// An update of rows others wrote (or an upsert) between the victim's
    /// uses of the table: the victim saw the state before it and what it
    /// left. A change before the victim's first use left what the victim
    /// began with.
    ChangedInWindow,
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
            Strength::DestroyedThenUsed | Strength::ChangedInWindow => Confidence::Medium,
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
/// processes share it (see [`grouping`]). Never a process, nor the
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

    /// The victim of `key` used the state again at `at` (and read it, if
    /// `read`), after the change: as a repeat occurrence would say, without
    /// counting one.
    pub fn used_again(&mut self, key: (RuleId, u64, u64), at: Micros, read: bool) {
        if let Some(p) = self.index.get(&key).and_then(|&i| self.slots[i].as_mut()) {
            p.use_at = p.use_at.max(Some(at));
            p.read_after |= read;
        }
    }

    /// The dedupe key of a polluter/victim pair.
    pub fn pair_key(rule: RuleId, polluter: &Scn, victim: &Scn) -> (RuleId, u64, u64) {
        (rule, polluter.id as u64, victim.id as u64)
    }

    /// Counts one more occurrence of an already-known finding when it would
    /// not become its headline (not stronger), so the caller can skip
    /// building its explanation. False: the caller must [`Findings::add`]
    /// it.
    pub fn count_again(
        &mut self,
        key: (RuleId, u64, u64),
        severity: Severity,
        strength: Strength,
        (destructive, can_explain, read_after): (bool, bool, bool),
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
            old.can_explain |= can_explain;
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
