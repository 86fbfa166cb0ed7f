//! `destroyed-before`: a scenario removed or changed rows it had not
//! written (seed or fixture data, another scenario's rows) and finished
//! before the victim started; the victim then read the table back empty,
//! or with fewer rows than the same query returned earlier in the run.
//!
//! `concurrent-mutation` only sees changes made while the victim ran, and
//! `leftover-data` only rows that were added: seed rows deleted by a test
//! that finished earlier fall between them. A delete that removed only its
//! own rows ([`crate::engine::rows::RowLedger::only_own`]) is no candidate, and
//! neither is anything older than the victim's own whole-table cleanup of
//! the table (it emptied the table itself). A victim that inserted rows of
//! its own into the table reads back its own rows: what removed them ran
//! while it did (`concurrent-mutation`), not before.

use std::rc::Rc;

use state_tracer_format::Action;

use crate::input::record::{to_time, FastMap, Micros, RowsHint};
use crate::model::{RuleId, Severity};
use crate::rules::{
    slot, Access, Accesses, Cx, Op, Pending, ReadBack, Replay, Rule, RuleMeta, Scn, Strength,
    Target,
};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::DestroyedBefore,
    new: || Box::new(DestroyedBefore::default()),
    severity: Severity::Warning,
    summary:
        "data others had written was removed or changed before a later scenario read it back empty",
    fix_within: Some(|a, resource| {
        format!("scenarios of {a} remove or change rows in {resource} that they did not write (seed or fixture data) and that later ones read: delete only their own rows, or have each seed what it needs")
    }),
    fix_between: Some(|a, b, resource| {
        format!("{a} removes or changes rows in {resource} that it did not write (seed or fixture data) and that {b} reads later: delete only its own rows, or have {b} seed what it needs itself")
    }),
    replay: Replay::InOrder,
    repro_at_once: false,
    occurrences: None,
};

/// A change of rows the changer had not written.
#[derive(Clone)]
struct Change {
    scn: Rc<Scn>,
    at: Micros,
    action: Action,
    rows: RowsHint,
    whole: bool,
    destructive: bool,
}

/// Changes kept per table, newest last: enough for a victim's failure
/// message to pick among several (a sale on each category).
const KEEP: usize = 16;

#[derive(Default)]
pub struct DestroyedBefore {
    /// Per table: the latest foreign changes by scenarios.
    tables: Vec<Vec<Change>>,
    /// Per running scenario and table: its own last whole-table cleanup.
    emptied: FastMap<usize, Vec<(u32, Micros)>>,
    /// By table id: some scenario changed values of others' rows there (so
    /// a plain read has something to check; the usual read returns at once).
    updated: Vec<bool>,
    /// Scratch list of table ids.
    ids: Vec<u32>,
}

/// How a read came back, as evidence that rows had been removed before it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Back {
    /// No removal shows: only changed values can explain it.
    Full,
    /// No row (or an update found none to change).
    Empty,
    /// `got` rows where the same query returned `most` earlier.
    Short { got: u64, most: u64 },
}

impl Rule for DestroyedBefore {
    fn id(&self) -> RuleId {
        RuleId::DestroyedBefore
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::Tables
    }

    fn on_end(&mut self, _cx: &mut Cx<'_>, s: &Rc<Scn>) {
        self.emptied.remove(&s.id);
    }

    fn on_access(&mut self, cx: &mut Cx<'_>, a: &Access<'_>) {
        let Target::Tables { schema, set } = a.target else {
            return;
        };
        let Some(s) = a.scn else { return };
        if a.inert {
            return;
        }
        // A delete or cleanup that touched more than its own rows, or an
        // update known to have done so (one with no count is the common
        // case in old traces, and proves nothing).
        let foreign = a.changes_others()
            && !a.rows.none_changed()
            && (a.op == Op::Destroy || a.overwrites && a.rows.some_changed());
        let emptied = a.op == Op::Destroy && a.cleanup && s.is_active();
        // Read back empty: a read that returned no row, or an update that
        // found none to change. (A read that returned some rows may have
        // come back short, but nothing in the trace says what it expected:
        // blaming every earlier delete would invent culprits for failures
        // that have nothing to do with them.)
        // A statement that failed because its table or column is gone
        // found nothing too.
        let empty = s.is_active()
            && (a.rows.none_changed() && (a.op == Op::Read || a.overwrites) || a.missing);
        // Short: the same query (same text, same table) returned more rows
        // earlier in the run. A query whose results vary with its bound
        // values may look short too; only removals of rows others wrote, by
        // a scenario that finished before the victim started, are named.
        let back = match a.back {
            _ if empty => Back::Empty,
            ReadBack::Short { got, most } if s.is_active() => Back::Short { got, most },
            _ => Back::Full,
        };
        let short = back != Back::Full;
        // Any read may have read values an earlier update changed.
        let read = s.is_active()
            && a.op == Op::Read
            && match cx.resources.tables_of(set) {
                [] => cx.resources.schema_tables(schema),
                some => some,
            }
            .iter()
            .any(|&t| self.updated.get(t as usize).copied().unwrap_or(false));
        if !(foreign || emptied || short || read) {
            return;
        }
        let tables = match cx.resources.tables_of(set) {
            [] => cx.resources.schema_tables(schema),
            some => some,
        };
        if foreign {
            for &t in tables {
                if a.op != Op::Destroy {
                    *slot(&mut self.updated, t as usize) = true;
                }
                let list = slot(&mut self.tables, t as usize);
                // The same scenario again: its latest change is the one kept.
                if let Some(last) = list.last_mut().filter(|x| x.scn.id == s.id) {
                    last.at = a.ts;
                    last.action = a.action;
                    last.rows = a.rows;
                    last.whole |= a.cleanup;
                    last.destructive |= a.op == Op::Destroy;
                    continue;
                }
                list.retain(|x| x.scn.id != s.id);
                if list.len() == KEEP {
                    list.remove(0);
                }
                list.push(Change {
                    scn: s.clone(),
                    at: a.ts,
                    action: a.action,
                    rows: a.rows,
                    whole: a.cleanup,
                    destructive: a.op == Op::Destroy,
                });
            }
        }
        if emptied {
            let mine = self.emptied.entry(s.id).or_default();
            for &t in tables {
                match mine.iter_mut().find(|e| e.0 == t) {
                    Some(e) => e.1 = a.ts,
                    None => mine.push((t, a.ts)),
                }
            }
        }
        if !(short || read) {
            return;
        }
        // `report` needs `cx` whole: work on a copy of the ids.
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend_from_slice(tables);
        {
            for &t in &ids {
                // It inserted rows of its own there: the empty read is about
                // them, and nothing before it removed them.
                if s.may_have_inserted(t) {
                    continue;
                }
                let since = self
                    .emptied
                    .get(&s.id)
                    .and_then(|mine| mine.iter().find(|e| e.0 == t))
                    .map_or(Micros::MIN, |e| e.1);
                let Some(list) = self.tables.get(t as usize) else {
                    continue;
                };
                let found: Vec<Change> = list
                    .iter()
                    .filter(|c| {
                        c.scn.id != s.id
                            && c.at > since
                            // Before the victim started: what it started
                            // with. (Later changes are `concurrent-mutation`'s,
                            // even by a changer that was still running.)
                            && c.at < s.start
                            // A removal shows as an empty or short read; a
                            // change of values in any read.
                            && (short || !c.destructive)
                    })
                    .cloned()
                    .collect();
                for c in found {
                    report(cx, a, s, &c, t, back);
                }
            }
        }
        self.ids = ids;
    }
}

#[cold]
#[inline(never)]
fn report(cx: &mut Cx<'_>, a: &Access<'_>, s: &Rc<Scn>, c: &Change, t: u32, back: Back) {
    let resource = cx.resources.table_label(t);
    let explanation = format!(
        "{} ran {} on {} at {} ({}), rows it had not written, and finished at {}; {} started at {} and then read the table ({} at {}).",
        cx.describe(&c.scn),
        c.action,
        resource,
        to_time(c.at).format("%H:%M:%S%.6f"),
        match c.rows.exact() {
            Some(n) => crate::count(n, "row", "rows"),
            None if c.whole => "every row".to_owned(),
            None => "rows unknown".to_owned(),
        },
        to_time(c.scn.last.get()).format("%H:%M:%S%.6f"),
        cx.describe(s),
        to_time(s.start).format("%H:%M:%S%.6f"),
        a.action,
        to_time(a.ts).format("%H:%M:%S%.6f"),
    );
    let mut p = Pending::new(
        RuleId::DestroyedBefore,
        META.severity,
        c.at,
        resource,
        explanation,
    );
    p.action = Some(c.action);
    p.identity_unknown = cx.identity_unknown(&a.target, c.scn.file, s.file);
    p.polluter = Some(c.scn.clone());
    p.victim = Some(s.clone());
    p.use_at = Some(a.ts);
    p.read_after = true;
    p.destructive = c.destructive;
    p.can_explain = true;
    p.whole = c.whole;
    p.rows = c.rows;
    let (strength, why) = if c.destructive {
        let read_back = match back {
            Back::Short { got, most } => {
                format!("with {got} row(s) where the same query returned {most} earlier in the run")
            }
            _ => "empty".to_owned(),
        };
        (
            Strength::DestroyedThenUsed,
            format!(
                "{} of rows others had written, before the victim started; the victim then read the table back {read_back}",
                c.action
            ),
        )
    } else {
        (
            Strength::ChangedThenUsed,
            format!(
                "{} changed rows others had written, before the victim started, and did not put them back; the victim then read the table and may have read the changed values",
                c.action
            ),
        )
    };
    cx.findings.add(p.with_strength(strength, why));
}
