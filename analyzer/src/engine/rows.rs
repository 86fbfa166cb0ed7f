//! The row ledger: how many rows of each table each scenario (or each
//! process outside scenarios: fixtures, seeds) has written and not yet
//! removed, as the run streams by.
//!
//! It exists so that every rule judges a delete the same way: a `DELETE …
//! WHERE owner = ?` that removed no more rows than its scenario still had
//! in the table is that scenario cleaning up after itself, not a polluter;
//! a whole-table cleanup clears everyone's rows; rows a finished scenario
//! left behind are still here when a later one reads the table. Counts come
//! from each record's `rows`; an unknown count is kept as "some".
//!
//! Memory grows with the scenarios still reachable and the tables they
//! wrote, not with records.

use std::rc::Rc;

use state_tracer_format::Action;

use crate::engine::resources::TableId;
use crate::engine::state::Scn;
use crate::input::record::{FastMap, FileIdx, Micros, RowsHint};

/// Who wrote rows: a scenario, or a process outside any scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    Scenario(usize),
    Outside(FileIdx),
}

/// One owner's live rows in one table.
#[derive(Debug, Clone)]
pub struct Alive {
    /// Rows written and not removed; `None`: some, count unknown.
    pub rows: Option<u64>,
    /// The writing scenario (`None` outside scenarios).
    pub scn: Option<Rc<Scn>>,
    pub file: FileIdx,
    /// Its last write to the table, and which action that was.
    pub last: Micros,
    pub action: Action,
}

/// Live rows of one table, by owner, and its most recent writers.
#[derive(Default)]
struct TableRows {
    alive: FastMap<Owner, Alive>,
    /// The owners that wrote last, most recent last, at most [`RECENT`]:
    /// what a later reader most likely met, found without walking every
    /// owner (a suite that never cleans up leaves thousands).
    recent: Vec<Owner>,
}

const RECENT: usize = 8;

/// Live rows per table and owner.
#[derive(Default)]
pub struct RowLedger {
    tables: Vec<TableRows>,
    /// Rows each owner wrote to each table and did not remove itself
    /// (`None`: count unknown), whatever others' cleanups removed: what an
    /// own-row cleanup is measured against. A whole-table cleanup that overlapped the insert
    /// in time may not have removed the row (PostgreSQL's `DELETE` skips
    /// rows committed after its snapshot), so the live count alone would
    /// turn the owner's later cleanup into a foreign delete. Per owner, a
    /// few tables; dropped when the owner can write no more
    /// ([`RowLedger::forget`]), so memory follows the scenarios still
    /// reachable, not the run.
    written: FastMap<Owner, Vec<(TableId, Option<u64>)>>,
}

impl RowLedger {
    fn table(&self, t: TableId) -> Option<&FastMap<Owner, Alive>> {
        self.tables.get(t as usize).map(|r| &r.alive)
    }

    /// `owner`'s live rows in table `t`: `Some(0)` when none are known.
    pub fn own(&self, t: TableId, owner: Owner) -> Option<u64> {
        match self.table(t).and_then(|m| m.get(&owner)) {
            None => Some(0),
            Some(a) => a.rows,
        }
    }

    /// The live rows of the most recent writers of table `t` other than
    /// `owner`, most recent first.
    pub fn recent_others(&self, t: TableId, owner: Owner) -> impl Iterator<Item = &Alive> {
        self.tables.get(t as usize).into_iter().flat_map(move |r| {
            r.recent
                .iter()
                .rev()
                .filter(move |o| **o != owner)
                .filter_map(|o| r.alive.get(o))
        })
    }

    /// Whether a delete or update of `rows` in each of `tables` by `owner`
    /// touched only rows `owner` itself wrote there and had not removed
    /// itself: its count is known, above 0 and no larger than theirs. (One that changed 0 rows
    /// stays a change, known to have removed nothing, so the report can
    /// say why it is no culprit.)
    pub fn only_own(&self, tables: &[TableId], owner: Owner, rows: RowsHint) -> bool {
        let Some(n) = rows.exact().filter(|&n| n > 0) else {
            return false;
        };
        !tables.is_empty()
            && tables.iter().all(|&t| {
                self.written_to(t, owner)
                    .is_some_and(|w| w.is_some_and(|w| n <= w))
            })
    }

    /// What `owner` wrote to `t` and did not remove itself, if anything.
    fn written_to(&self, t: TableId, owner: Owner) -> Option<Option<u64>> {
        let list = self.written.get(&owner)?;
        list.iter().find(|e| e.0 == t).map(|e| e.1)
    }

    /// `owner` (a scenario out of reach: ended, its after-hooks done) will
    /// write and delete no more.
    pub fn forget(&mut self, owner: Owner) {
        self.written.remove(&owner);
    }

    /// Everyone else's live rows in table `t`.
    pub fn others(&self, t: TableId, owner: Owner) -> impl Iterator<Item = &Alive> {
        self.table(t)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |(o, _)| **o != owner)
            .map(|(_, a)| a)
    }

    /// `owner` inserted `rows` into `t` at `at`.
    pub fn inserted(&mut self, t: TableId, owner: Owner, w: Writer<'_>) {
        if w.rows.none_changed() {
            return;
        }
        // A first insert with no count (legacy files record none) would
        // only say "unknown": no entry says the same in less memory.
        let list = self.written.get_mut(&owner);
        match (list, w.rows.exact()) {
            (Some(list), n) => match list.iter_mut().find(|e| e.0 == t) {
                Some(e) => e.1 = e.1.zip(n).map(|(a, b)| a + b),
                None if n.is_some() => list.push((t, n)),
                None => {}
            },
            (None, Some(n)) => {
                self.written.insert(owner, vec![(t, Some(n))]);
            }
            (None, None) => {}
        }
        if self.tables.len() <= t as usize {
            self.tables.resize_with(t as usize + 1, TableRows::default);
        }
        let table = &mut self.tables[t as usize];
        if table.recent.last() != Some(&owner) {
            table.recent.retain(|o| *o != owner);
            if table.recent.len() == RECENT {
                table.recent.remove(0);
            }
            table.recent.push(owner);
        }
        let e = table.alive.entry(owner).or_insert(Alive {
            rows: Some(0),
            scn: w.scn.cloned(),
            file: w.file,
            last: w.at,
            action: w.action,
        });
        e.rows = e.rows.zip(w.rows.exact()).map(|(a, b)| a + b);
        e.last = e.last.max(w.at);
        e.action = w.action;
    }

    /// `owner` deleted `rows` of `t` with a scoped statement: they are
    /// taken from its own rows first (a count that is unknown, or larger
    /// than its own, leaves it none).
    pub fn deleted(&mut self, t: TableId, owner: Owner, rows: RowsHint) {
        if let Some(e) = self
            .written
            .get_mut(&owner)
            .and_then(|l| l.iter_mut().find(|e| e.0 == t))
        {
            e.1 = e.1.zip(rows.exact()).map(|(w, n)| w.saturating_sub(n));
        }
        let Some(table) = self.tables.get_mut(t as usize) else {
            return;
        };
        let Some(e) = table.alive.get_mut(&owner) else {
            return;
        };
        match (e.rows, rows.exact()) {
            (Some(own), Some(n)) if n < own => e.rows = Some(own - n),
            _ => {
                table.alive.remove(&owner);
                table.recent.retain(|o| *o != owner);
            }
        }
    }

    /// Every row of `t` is gone (a whole-table cleanup, truncate, drop).
    pub fn cleared(&mut self, t: TableId) {
        if let Some(table) = self.tables.get_mut(t as usize) {
            table.alive.clear();
            table.recent.clear();
        }
    }
}

/// What one insert says about its writer.
pub struct Writer<'a> {
    pub scn: Option<&'a Rc<Scn>>,
    pub file: FileIdx,
    pub at: Micros,
    pub action: Action,
    pub rows: RowsHint,
}
