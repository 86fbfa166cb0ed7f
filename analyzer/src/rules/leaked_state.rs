//! `leaked-state`: a scenario changes in-memory process state (JWT secret,
//! config) and nothing resets it before the next scenario of that process
//! starts, which then runs against the changed state. Schema isolation does
//! not help here: the state lives in the process, not in the database.

use std::rc::Rc;

use state_tracer_format::Action;

use crate::input::record::{to_time, Micros};
use crate::model::{RuleId, Severity};
use crate::rules::{
    slot, Access, Accesses, Cx, Op, Pending, ProcResId, Replay, Rule, RuleMeta, Scn, Strength,
    Target,
};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::LeakedState,
    new: || Box::new(LeakedState::default()),
    severity: Severity::Warning,
    summary: "process state (JWT secret, config) changed and not reset before the next scenario",
    fix_within: Some(|a, resource| {
        format!("reset {resource} after each scenario of {a} (an after-hook), or set it in a before-hook")
    }),
    fix_between: Some(|a, b, resource| {
        format!("reset {resource} after each scenario of {a} (an after-hook), or set it in a before-hook of {b}")
    }),
    replay: Replay::InOneProcess,
    repro_at_once: false,
    occurrences: None,
};

#[derive(Clone)]
struct Dirty {
    res: ProcResId,
    scn: Rc<Scn>,
    at: Micros,
    action: Action,
    destructive: bool,
    /// The value in effect before this scenario first changed it: setting
    /// it back restores what the scenario found.
    before: Option<u64>,
}

/// One in-memory state's value, by fingerprint (the records' `details`):
/// the victim runs with the value in effect when it starts, set by the
/// scenario that first introduced it, even if a later "restore" by
/// another scenario put it back.
struct Value {
    res: ProcResId,
    now: Option<u64>,
    /// The value set outside scenarios or by a reset (the baseline).
    baseline: Option<u64>,
    /// Every change since the baseline carried a fingerprint.
    known: bool,
    /// Who first set each value since the baseline, newest last.
    authors: Vec<(u64, Dirty)>,
}

/// A leak into a scenario that has not shown yet whether it resets the
/// state itself.
struct Waiting {
    victim: Rc<Scn>,
    leak: Dirty,
    /// The victim did something else first: a later reset is no longer
    /// a before-hook (it may be its after-hook, after the failure).
    used: bool,
    /// A later change of the same state leaked too: the victim saw that one.
    overwritten: bool,
}

/// Changes kept per resource since its last reset.
const KEEP: usize = 8;

#[derive(Default)]
pub struct LeakedState {
    /// Per process (file), changes not reset yet, oldest first.
    dirty: Vec<Vec<Dirty>>,
    /// Per process (file): each state's value now, and who set it.
    values: Vec<Vec<Value>>,
    /// Leaks into running scenarios, reported when they end.
    waiting: Vec<Waiting>,
}

impl Rule for LeakedState {
    fn id(&self) -> RuleId {
        RuleId::LeakedState
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::All
    }

    fn on_access(&mut self, _cx: &mut Cx<'_>, a: &Access<'_>) {
        if !self.waiting.is_empty() {
            if let Some(s) = a.scn {
                self.victim_acts(s, a);
            }
        }
        let Target::Process(res) = a.target else {
            return;
        };
        if !a.mutation() {
            return;
        }
        let values = slot(&mut self.values, a.file as usize);
        let v = match values.iter().position(|v| v.res == res) {
            Some(i) => &mut values[i],
            None => {
                values.push(Value {
                    res,
                    now: None,
                    baseline: None,
                    known: true,
                    authors: Vec::new(),
                });
                values.last_mut().expect("just pushed")
            }
        };
        let before = std::mem::replace(&mut v.now, a.value);
        let list = slot(&mut self.dirty, a.file as usize);
        // A reset, or a change outside any scenario (setup), is the baseline.
        let Some(s) = a.scn.filter(|_| !a.reset) else {
            v.baseline = a.value;
            v.known = a.value.is_some();
            v.authors.clear();
            list.retain(|d| d.res != res);
            return;
        };
        // Putting back the value it found hands that value back to whoever
        // set it; any other change makes this scenario its author.
        let restores = a.value.is_some()
            && list
                .iter()
                .any(|d| d.res == res && d.scn.id == s.id && d.before == a.value);
        // This change, as a leak of `s` that started here.
        let change = Dirty {
            res,
            scn: s.clone(),
            at: a.ts,
            action: a.action,
            destructive: a.op == Op::Destroy,
            before,
        };
        match a.value {
            None => v.known = false,
            Some(_) if restores => {}
            Some(f) => {
                v.authors.retain(|x| x.0 != f);
                if v.authors.len() == 2 * KEEP {
                    v.authors.remove(0);
                }
                v.authors.push((f, change.clone()));
            }
        }
        if let Some(k) = list.iter().position(|d| d.res == res && d.scn.id == s.id) {
            if a.value.is_some() && list[k].before == a.value {
                // It put back the value it found: restored, no leak.
                list.remove(k);
                return;
            }
            let d = list.remove(k);
            list.push(Dirty {
                at: a.ts,
                action: a.action,
                destructive: d.destructive || a.op == Op::Destroy,
                ..d
            });
            return;
        }
        if list.iter().filter(|d| d.res == res).count() >= KEEP {
            if let Some(i) = list.iter().position(|d| d.res == res) {
                list.remove(i);
            }
        }
        list.push(change);
    }

    fn on_start(&mut self, _cx: &mut Cx<'_>, b: &Rc<Scn>) {
        let file = b.file as usize;
        // Also a change by a scenario still running (threads, async tasks
        // of one process): the victim starts with its value all the same.
        let leaks = |d: &&Dirty| d.scn.id != b.id;
        let empty = Vec::new();
        let list = self.dirty.get(file).unwrap_or(&empty);
        let mut done: Vec<ProcResId> = Vec::new();
        // States whose every value is known by fingerprint: the victim runs
        // with the value in effect now, set by the scenario that first
        // introduced it; every other change of it was replaced or undone.
        for v in self.values.get(file).into_iter().flatten() {
            if !v.known || v.now.is_none() {
                continue;
            }
            done.push(v.res);
            if v.now == v.baseline {
                continue;
            }
            let author = v
                .authors
                .iter()
                .find(|x| Some(x.0) == v.now)
                .map(|x| &x.1)
                .filter(leaks);
            if let Some(author) = author {
                self.waiting.push(Waiting {
                    victim: b.clone(),
                    leak: author.clone(),
                    used: false,
                    overwritten: false,
                });
            }
            for o in list.iter().filter(leaks).filter(|o| o.res == v.res) {
                if author.is_none_or(|a| a.scn.id != o.scn.id) {
                    self.waiting.push(Waiting {
                        victim: b.clone(),
                        leak: o.clone(),
                        used: false,
                        overwritten: true,
                    });
                }
            }
        }
        // Without fingerprints: the last change is the value it saw.
        for (k, d) in list.iter().enumerate() {
            if !leaks(&d) || done.contains(&d.res) {
                continue;
            }
            let overwritten = list[k + 1..].iter().filter(leaks).any(|l| l.res == d.res);
            self.waiting.push(Waiting {
                victim: b.clone(),
                leak: d.clone(),
                used: false,
                overwritten,
            });
        }
    }

    fn on_end(&mut self, cx: &mut Cx<'_>, b: &Rc<Scn>) {
        if self.waiting.iter().all(|w| w.victim.id != b.id) {
            return;
        }
        let mine: Vec<Waiting>;
        (mine, self.waiting) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.victim.id == b.id);
        for w in mine {
            report(cx, &w.leak, b, w.overwritten);
        }
    }
}

impl LeakedState {
    /// Scenario `s` acts before its end: its own set or reset of leaked
    /// state, before anything else it does (a before-hook), ends the leak
    /// for it; anything else means it ran with the leaked state.
    fn victim_acts(&mut self, s: &Rc<Scn>, a: &Access<'_>) {
        let own = match a.target {
            Target::Process(res) if a.mutation() => Some(res),
            _ => None,
        };
        self.waiting.retain_mut(|w| {
            if w.victim.id != s.id {
                return true;
            }
            if own == Some(w.leak.res) && !w.used {
                return false;
            }
            if own.is_none() {
                w.used = true;
            }
            true
        });
    }
}

/// The finding: `d` leaked into `b`, which did not reset it first.
fn report(cx: &mut Cx<'_>, d: &Dirty, b: &Rc<Scn>, overwritten: bool) {
    let resource = cx.resources.label(&Target::Process(d.res));
    let explanation = format!(
        "{} changed {} ({} at {}) and nothing reset it before {} started in the same process at {}.",
        cx.describe(&d.scn),
        resource,
        d.action,
        to_time(d.at).format("%H:%M:%S%.6f"),
        cx.describe(b),
        to_time(b.start).format("%H:%M:%S%.6f"),
    );
    let mut p = Pending::new(
        RuleId::LeakedState,
        META.severity,
        d.at,
        resource,
        explanation,
    );
    p.action = Some(d.action);
    p.polluter = Some(d.scn.clone());
    p.victim = Some(b.clone());
    // In-memory state is used by the whole scenario (as for
    // concurrent-mutation): the victim ran entirely inside the change; of
    // several changes not reset, the last one is the value it saw.
    if overwritten {
        let why = format!(
            "the {} leaked too, but a later change of the same state, also never reset, replaced it before the victim started",
            d.action
        );
        cx.findings.add(p.with_strength(Strength::UsedBefore, why));
        return;
    }
    let why = format!(
        "the victim ran from its start with the {} still in effect, and did not reset it itself before using it",
        d.action
    );
    // A rotation or a plain set: either way the victim ran with a value it
    // did not expect. All changes of in-memory state are one level of
    // evidence (it has no traced uses to rank them by): the narrowing
    // keeps the last change of each state, and the failure message or the
    // victim's name picks among states (scored: a set ranked below a
    // rotation lost 5-7 points of top-1 on the value-state corpus).
    p.can_explain = true;
    cx.findings
        .add(p.with_strength(Strength::DestroyedInWindow, why));
}
