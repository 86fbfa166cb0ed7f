//! `leftover-data`: scenario A wrote shared data and finished (after-hooks
//! included) before scenario B started; no cleanup covering that data ran in
//! between, and B used it. A is a polluter if B failed, a state-setter (B
//! may silently depend on it) if B passed.
//!
//! What A wrote is weighed against what A removed itself: the `rows` of
//! its inserts against those of its own deletes and cleanups (scoped
//! `DB_DELETE … WHERE` included). A scenario that removed at least what it
//! inserted, after its last write, left nothing (where `rows` is unknown,
//! its own delete after its last write counts as cleaning up). An insert
//! or update known to have changed 0 rows wrote nothing.

use std::rc::Rc;

use state_tracer::format::Action;

use crate::model::{RuleId, Severity};
use crate::record::{to_time, Micros};
use crate::rules::{slot, Access, Accesses, Cx, Op, Pending, Rule, Scn, Strength, Target};

struct Writer {
    scn: Rc<Scn>,
    /// `scn.id`, inline: most writers checked are the accessing scenario.
    id: usize,
    at: Micros,
    action: Action,
    /// Rows it inserted (None: some count unknown).
    inserted: Option<u64>,
    /// Rows it removed itself (None: some count unknown).
    removed: Option<u64>,
    /// It updated rows (which no delete undoes).
    updated: bool,
    /// It removed rows itself after its last write.
    removed_after: bool,
}

impl Writer {
    fn wrote(&mut self, a: &Access<'_>) {
        if a.action == Action::DbUpdate {
            self.updated = true;
        } else if a.action == Action::DbInsert {
            self.inserted = self.inserted.zip(a.rows.exact()).map(|(i, r)| i + r);
        }
        self.removed_after = false;
    }

    fn removed(&mut self, a: &Access<'_>) {
        self.removed = self.removed.zip(a.rows.exact()).map(|(i, r)| i + r);
        self.removed_after = true;
    }

    /// It removed what it wrote: nothing left behind.
    fn cleaned_up(&self) -> bool {
        self.removed_after
            && !self.updated
            && match (self.inserted, self.removed) {
                (Some(i), Some(r)) => r >= i,
                _ => true,
            }
    }
}

/// Writers of one table since the last cleanup covering it (most recent
/// last).
#[derive(Default)]
struct Writers {
    list: Vec<Writer>,
    /// Id of the last writer, inline: the common case (the accessing
    /// scenario is the only writer) is decided without reading `list`.
    last: Option<usize>,
}

#[derive(Default)]
pub struct LeftoverData {
    tables: Vec<Writers>,
    /// Scratch list of table ids, reused across records.
    ids: Vec<u32>,
}

const KEEP: usize = 4;

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

    fn on_access(&mut self, cx: &mut Cx<'_>, a: &Access<'_>) {
        let Target::Tables { schema, set } = a.target else {
            return;
        };
        let tables = cx.resources.tables_of(set);
        let tables = if tables.is_empty() {
            cx.resources.schema_tables(schema)
        } else {
            tables
        };
        if a.op == Op::Write && a.rows.none_changed() {
            // Wrote nothing; still a use.
        } else if !a.cleanup && a.op != Op::Destroy && self.nothing_to_do(a, tables) {
            if a.op == Op::Write {
                self.wrote_again(a, tables);
            }
            return;
        }
        // `check` may add a finding to `cx`: work on a copy of the ids.
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend_from_slice(tables);
        self.check(cx, a, &ids);
        self.ids = ids;
    }
}

impl LeftoverData {
    /// Whether `check` would find and change nothing for access `a` (not a
    /// cleanup) to tables `ids`: the usual case, an access by the only
    /// writer of each table (or of none), which, if it writes, is already
    /// their last writer.
    fn nothing_to_do(&self, a: &Access<'_>, ids: &[u32]) -> bool {
        let Some(s) = a.scn else { return true };
        let writers = |t: u32| self.tables.get(t as usize);
        let alone = |t: u32| {
            writers(t).is_none_or(|w| w.list.len() <= 1 && w.last.is_none_or(|id| id == s.id))
        };
        let recorded = |t: u32| writers(t).is_some_and(|w| w.last == Some(s.id));
        ids.iter()
            .all(|&t| alone(t) && (a.op != Op::Write || recorded(t)))
    }

    /// The last writer of each of `ids` (`a`'s scenario) wrote again.
    fn wrote_again(&mut self, a: &Access<'_>, ids: &[u32]) {
        let Some(s) = a.scn else { return };
        for &t in ids {
            if let Some(w) = self
                .tables
                .get_mut(t as usize)
                .and_then(|w| w.list.last_mut())
            {
                if w.id == s.id {
                    w.wrote(a);
                }
            }
        }
    }

    fn check(&mut self, cx: &mut Cx<'_>, a: &Access<'_>, ids: &[u32]) {
        if a.cleanup {
            for &t in ids {
                if let Some(w) = self.tables.get_mut(t as usize) {
                    w.list.clear();
                    w.last = None;
                }
            }
            return;
        }
        let Some(s) = a.scn else { return };
        for &t in ids {
            let Some(writers) = self.tables.get(t as usize) else {
                continue;
            };
            // Only `s` wrote: nothing left by others.
            if writers.list.len() <= 1 && writers.last.is_none_or(|id| id == s.id) {
                continue;
            }
            let found = writers
                .list
                .iter()
                .rev()
                .find(|w| {
                    w.id != s.id
                        && !w.scn.is_active()
                        && w.scn.last.get() < s.start
                        && !w.cleaned_up()
                })
                .map(|w| (w.scn.clone(), w.at, w.action));
            if let Some((w, at, action)) = found {
                report(cx, a, s, &w, at, action, t);
            }
        }
        if a.op == Op::Destroy {
            for &t in ids {
                if let Some(w) = self.tables.get_mut(t as usize) {
                    if let Some(w) = w.list.iter_mut().rev().find(|w| w.id == s.id) {
                        w.removed(a);
                    }
                }
            }
        }
        if a.op == Op::Write && !a.rows.none_changed() {
            for &t in ids {
                let writers = slot(&mut self.tables, t as usize);
                if writers.last == Some(s.id) {
                    if let Some(w) = writers.list.last_mut() {
                        w.wrote(a);
                    }
                    continue;
                }
                if writers.list.len() >= KEEP {
                    writers.list.remove(0);
                }
                let mut w = Writer {
                    scn: s.clone(),
                    id: s.id,
                    at: a.ts,
                    action: a.action,
                    inserted: Some(0),
                    removed: Some(0),
                    updated: false,
                    removed_after: false,
                };
                w.wrote(a);
                writers.list.push(w);
                writers.last = Some(s.id);
            }
        }
    }
}

/// The finding for `s`'s access `a` to table `t`, which `w` wrote (`action`
/// at `at`) and left behind. Out of line and cold: findings are rare, and
/// inlined, the time formatting below was computed on every access.
#[cold]
#[inline(never)]
fn report(
    cx: &mut Cx<'_>,
    a: &Access<'_>,
    s: &Rc<Scn>,
    w: &Rc<Scn>,
    at: Micros,
    action: Action,
    t: u32,
) {
    let w = w.clone();
    let resource = cx.resources.table_label(t);
    let explanation = format!(
        "{} wrote to {} ({} at {}) and finished at {}; no cleanup covered it before {} started at {} and used it ({} at {}).",
        cx.describe(&w),
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
        Severity::Warning,
        at,
        resource,
        explanation,
    );
    p.action = Some(action);
    p.identity_unknown = cx.identity_unknown(&a.target, w.file, s.file);
    p.polluter = Some(w);
    p.victim = Some(s.clone());
    p.read_after = a.op == Op::Read;
    let why = format!(
        "non-destructive {action} left behind; the victim {} the table afterwards",
        if a.op == Op::Read { "read" } else { "changed" }
    );
    cx.findings
        .add(p.with_strength(Strength::ChangedThenUsed, why));
}
