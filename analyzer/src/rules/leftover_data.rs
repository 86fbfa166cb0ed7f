//! `leftover-data`: scenario A wrote shared data and finished (after-hooks
//! included) before scenario B started; A's rows were still there when B
//! used the table. A is a polluter if B failed, a state-setter (B may
//! silently depend on it) if B passed.
//!
//! Whether A's rows were still there is the row ledger's answer
//! ([`crate::engine::rows::RowLedger`]): A's inserts minus what A removed itself
//! (its own scoped deletes included), cleared by any whole-table cleanup.
//! Leftover rows can explain B's failure only if B met them: a read that
//! returned something (a count is one row), or a write of B's that changed
//! nothing (a unique key they hold).

use std::rc::Rc;

use state_tracer_format::Action;

use crate::input::record::{to_time, Micros};
use crate::model::{RuleId, Severity};
use crate::rules::{
    slot, Access, Accesses, Cx, Op, Owner, Pending, Replay, Rule, RuleMeta, Scn, Strength, Target,
};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::LeftoverData,
    new: || Box::new(LeftoverData::default()),
    severity: Severity::Warning,
    summary: "data written by a finished scenario, not cleaned up, used by a later one",
    fix_within: Some(|a, resource| {
        format!("scenarios of {a} leave data in {resource} that later ones use: clean up each scenario's own rows after it, or seed what each needs itself")
    }),
    fix_between: Some(|a, b, resource| {
        format!("{a} leaves data in {resource} that later scenarios of {b} use: clean up its own rows after each scenario, or seed what {b} needs itself")
    }),
    replay: Replay::InOrder,
    repro_at_once: false,
    occurrences: None,
};

#[derive(Default)]
pub struct LeftoverData {
    /// Per running victim and table, what an earlier access found: no
    /// leftover (`None`; none can appear later, since only writers that
    /// finished before the victim started count), or one reported, and
    /// whether that access met the rows. A later access looks again only
    /// if it may meet rows an earlier one could not.
    /// By scenario id (a vector: looked up on every access).
    checked: Vec<Vec<(u32, Option<bool>)>>,
    /// Scratch list of table ids, reused across records.
    ids: Vec<u32>,
}

impl Rule for LeftoverData {
    fn id(&self) -> RuleId {
        RuleId::LeftoverData
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::Tables
    }

    fn on_end(&mut self, _cx: &mut Cx<'_>, s: &Rc<Scn>) {
        if let Some(c) = self.checked.get_mut(s.id) {
            *c = Vec::new();
        }
    }

    fn on_access(&mut self, cx: &mut Cx<'_>, a: &Access<'_>) {
        let Target::Tables { schema, set } = a.target else {
            return;
        };
        let Some(s) = a.scn else { return };
        // Its own deletes and cleanups, and after-hooks, are no uses; nor
        // is what changed and read nothing.
        if !s.is_active() || a.op == Op::Destroy || a.inert {
            return;
        }
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend_from_slice(match cx.resources.tables_of(set) {
            [] => cx.resources.schema_tables(schema),
            some => some,
        });
        let me = Owner::Scenario(s.id);
        // Whether this access can have met others' rows: a read that
        // returned something (a count is one row), or a write that changed
        // nothing (a unique key they hold). A read that returned no row saw
        // none, and an insert that went through was not in their way.
        let seen = match a.op {
            Op::Read => !a.rows.none_changed(),
            _ => a.rows.none_changed(),
        };
        for &t in &ids {
            let known = self
                .checked
                .get(s.id)
                .and_then(|c| c.iter().find(|e| e.0 == t))
                .map(|e| e.1);
            match known {
                Some(None) => continue,
                Some(Some(met)) if met || !seen => continue,
                _ => {}
            }
            // The most recent writer, finished before `s` started, whose
            // rows are still in the table (among the last few writers).
            let left = cx
                .rows
                .recent_others(t, me)
                .filter(|w| w.rows != Some(0))
                .filter_map(|w| Some((w.scn.as_ref()?, w.last, w.action, w.rows)))
                .filter(|(w, ..)| !w.is_active() && w.last.get() < s.start)
                .max_by_key(|(w, last, ..)| (*last, w.id))
                .map(|(w, last, action, rows)| (w.clone(), last, action, rows));
            let mine = slot(&mut self.checked, s.id);
            mine.retain(|e| e.0 != t);
            let Some((w, at, action, rows)) = left else {
                mine.push((t, None));
                continue;
            };
            mine.push((t, Some(seen)));
            report(cx, a, s, &w, (at, action, rows), t, seen);
        }
        self.ids = ids;
    }
}

/// The finding for `s`'s access `a` to table `t`, where `w`'s rows (`rows`,
/// last written by `action` at `at`) were left. Out of line and cold:
/// findings are rare.
#[cold]
#[inline(never)]
fn report(
    cx: &mut Cx<'_>,
    a: &Access<'_>,
    s: &Rc<Scn>,
    w: &Rc<Scn>,
    (at, action, rows): (Micros, Action, Option<u64>),
    t: u32,
    seen: bool,
) {
    let resource = cx.resources.table_label(t);
    let left = rows.map_or_else(
        || "some rows".to_owned(),
        |n| crate::count(n, "row", "rows"),
    );
    let explanation = format!(
        "{} wrote to {} ({} at {}) and finished at {}, leaving {left} there; {} started at {} and used it ({} at {}).",
        cx.describe(w),
        resource,
        action,
        to_time(at).format("%H:%M:%S%.6f"),
        to_time(w.last.get()).format("%H:%M:%S%.6f"),
        cx.describe(s),
        to_time(s.start).format("%H:%M:%S%.6f"),
        a.action,
        to_time(a.ts).format("%H:%M:%S%.6f"),
    );
    let mut p = Pending::new(
        RuleId::LeftoverData,
        META.severity,
        at,
        resource,
        explanation,
    );
    p.action = Some(action);
    p.identity_unknown = cx.identity_unknown(&a.target, w.file, s.file);
    p.polluter = Some(w.clone());
    p.victim = Some(s.clone());
    p.use_at = Some(a.ts);
    p.read_after = a.op == Op::Read;
    p.can_explain = seen;
    p.left_rows = Some(rows);
    let why = format!(
        "{left} left behind by a {action}; the victim {} the table afterwards{}",
        match a.op {
            Op::Read => "read",
            _ => "changed",
        },
        if seen {
            ""
        } else {
            " (it met none of them: its read returned no row, or its write went through)"
        }
    );
    cx.findings
        .add(p.with_strength(Strength::ChangedThenUsed, why));
}
