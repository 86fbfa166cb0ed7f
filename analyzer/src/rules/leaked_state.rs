//! `leaked-state`: a scenario changes in-memory process state (JWT secret,
//! config) and nothing resets it before the next scenario of that process
//! starts, which then runs against the changed state. Schema isolation does
//! not help here: the state lives in the process, not in the database.

use std::rc::Rc;

use state_tracer::format::Action;

use crate::analysis::{Access, Cx, Scn};
use crate::findings::{Pending, Strength};
use crate::model::{RuleId, Severity};
use crate::record::{to_time, Micros};
use crate::resources::{ProcResId, Target};
use crate::rules::{slot, Accesses, Rule};

struct Dirty {
    res: ProcResId,
    scn: Rc<Scn>,
    at: Micros,
    action: Action,
    reported: bool,
}

#[derive(Default)]
pub struct LeakedState {
    /// Per process (file), changed state not reset yet.
    dirty: Vec<Vec<Dirty>>,
}

impl Rule for LeakedState {
    fn id(&self) -> RuleId {
        RuleId::LeakedState
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::Process
    }

    fn on_access(&mut self, _cx: &mut Cx, a: &Access<'_>) {
        let Target::Process(res) = a.target else {
            return;
        };
        if !a.mutation() {
            return;
        }
        let list = slot(&mut self.dirty, a.file as usize);
        list.retain(|d| d.res != res);
        // A reset, or a change outside any scenario (setup), is the baseline.
        if a.reset {
            return;
        }
        if let Some(s) = a.scn {
            list.push(Dirty {
                res,
                scn: s.clone(),
                at: a.ts,
                action: a.action,
                reported: false,
            });
        }
    }

    fn on_start(&mut self, cx: &mut Cx, b: &Rc<Scn>) {
        let Some(list) = self.dirty.get_mut(b.file as usize) else {
            return;
        };
        for d in list.iter_mut() {
            if d.reported || d.scn.id == b.id || d.scn.is_active() {
                continue;
            }
            d.reported = true;
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
                Severity::Warning,
                d.at,
                resource,
                explanation,
            );
            p.error_if_victim_failed = true;
            p.action = Some(d.action);
            p.polluter = Some(d.scn.clone());
            p.victim = Some(b.clone());
            // In-memory state is used by the whole scenario (as for
            // concurrent-mutation): the victim ran entirely inside the change.
            let why = format!(
                "the victim ran from its start with the {} still in effect",
                d.action
            );
            cx.findings
                .add(p.with_strength(Strength::DestroyedInWindow, why));
        }
    }
}
