//! `constraint-violation`: the victim failed on a database constraint, and
//! its own failure message says which table's rows were in the way:
//! PostgreSQL's foreign-key message names the table holding the child rows
//! that blocked a delete (`… violates foreign key constraint "…" on table
//! "orders"`), SQLite's unique message names the table (`UNIQUE constraint
//! failed: users.email`). PostgreSQL's unique message names only the
//! constraint: the table is then the one of the victim's last write that
//! changed no row (sqlx reports a failed statement like one that matched
//! nothing, so the trace shows it as `rows: 0`).
//!
//! The polluters are whoever else still had rows in that table when the
//! victim failed (the row ledger, [`crate::rows::RowLedger`]): the failure
//! message is the strongest evidence a trace can hold.

use std::rc::Rc;

use state_tracer_format::Action;

use crate::model::{RuleId, Severity};
use crate::record::to_time;
use crate::resources::TableId;
use crate::rules::{Access, Accesses, Cx, Op, Owner, Pending, Rule, Scn, Strength, Target};

/// What a failure message says about the rows in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clue {
    /// A delete or update of a parent row failed: rows of this table still
    /// refer to it.
    ChildRows(String),
    /// An insert met a row with the same unique key, in this table if the
    /// message names it.
    Duplicate(Option<String>),
}

impl Clue {
    /// Reads a PostgreSQL or SQLite constraint message, if it is one.
    pub fn of(message: &str) -> Option<Clue> {
        let lower = message.to_ascii_lowercase();
        if lower.contains("violates foreign key constraint")
            && lower.contains("update or delete on")
        {
            // `… violates foreign key constraint "c" on table "child"`
            let tail = &message[lower.rfind("on table")? + "on table".len()..];
            return quoted(tail).map(Clue::ChildRows);
        }
        if lower.contains("duplicate key value violates unique constraint") {
            return Some(Clue::Duplicate(None));
        }
        if let Some(i) = lower.find("unique constraint failed:") {
            // `UNIQUE constraint failed: users.email`
            let rest = message[i + "unique constraint failed:".len()..].trim_start();
            let table = rest.split(['.', ',', ' ']).next().filter(|t| !t.is_empty());
            return Some(Clue::Duplicate(table.map(str::to_owned)));
        }
        None
    }
}

/// The first double-quoted name in `s`.
fn quoted(s: &str) -> Option<String> {
    let a = s.find('"')? + 1;
    let b = a + s[a..].find('"')?;
    Some(s[a..b].to_owned())
}

#[derive(Default)]
pub struct ConstraintViolation {
    /// Per running scenario: its last insert that changed no row, or failed
    /// (it may have hit a unique key). Rare, so a short list.
    unchanged: Vec<(usize, TableId)>,
}

impl Rule for ConstraintViolation {
    fn id(&self) -> RuleId {
        RuleId::ConstraintViolation
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::Tables
    }

    fn on_access(&mut self, cx: &mut Cx<'_>, a: &Access<'_>) {
        // An insert that changed nothing, or failed outright (a record with
        // `error` reaches the rules as a read).
        if a.action != Action::DbInsert || !(a.op == Op::Read || a.rows.none_changed()) {
            return;
        }
        let (Some(s), Target::Tables { set, .. }) = (a.scn, a.target) else {
            return;
        };
        if let Some(&t) = cx.resources.tables_of(set).first() {
            self.unchanged.retain(|u| u.0 != s.id);
            self.unchanged.push((s.id, t));
        }
    }

    fn on_end(&mut self, cx: &mut Cx<'_>, s: &Rc<Scn>) {
        let unchanged = self
            .unchanged
            .iter()
            .position(|u| u.0 == s.id)
            .map(|k| self.unchanged.swap_remove(k).1);
        if !s.failed() {
            return;
        }
        let Some(message) = s.failure.get() else {
            return;
        };
        let Some(clue) = Clue::of(message) else {
            return;
        };
        let table = match &clue {
            // The table the message names, in the schema the victim used last.
            Clue::ChildRows(name) | Clue::Duplicate(Some(name)) => {
                let Some(schema) = s.last_schema.get() else {
                    return;
                };
                cx.resources
                    .schema_tables(schema)
                    .iter()
                    .copied()
                    .find(|&t| cx.resources.table_name(t).eq_ignore_ascii_case(name))
            }
            Clue::Duplicate(None) => unchanged,
        };
        let Some(t) = table else { return };
        let holders: Vec<(Rc<Scn>, Option<u64>, crate::record::Micros, Action)> = cx
            .rows
            .others(t, Owner::Scenario(s.id))
            .filter(|w| w.rows != Some(0))
            .filter_map(|w| Some((w.scn.clone()?, w.rows, w.last, w.action)))
            .collect();
        for (w, rows, at, action) in holders {
            report(cx, s, &w, t, (rows, at, action), message);
        }
    }
}

#[cold]
#[inline(never)]
fn report(
    cx: &mut Cx<'_>,
    s: &Rc<Scn>,
    w: &Rc<Scn>,
    t: TableId,
    (rows, at, action): (Option<u64>, crate::record::Micros, Action),
    message: &str,
) {
    let resource = cx.resources.table_label(t);
    let message: String = message.chars().take(200).collect();
    let explanation = format!(
        "{} failed on a database constraint (\"{message}\"); {} had written {} to {} ({} at {}) and they were still there.",
        cx.describe(s),
        cx.describe(w),
        rows.map_or_else(|| "rows".to_owned(), |n| crate::count(n, "row", "rows")),
        resource,
        action,
        to_time(at).format("%H:%M:%S%.6f"),
    );
    let mut p = Pending::new(
        RuleId::ConstraintViolation,
        Severity::Warning,
        at,
        resource,
        explanation,
    );
    p.action = Some(action);
    p.identity_unknown = cx.schema_identity_unknown(cx.resources.table_schema(t), w.file, s.file);
    p.polluter = Some(w.clone());
    p.victim = Some(s.clone());
    p.can_explain = true;
    p.left_rows = Some(rows);
    let why = "the victim's failure message names this table, where these rows were".to_owned();
    cx.findings
        .add(p.with_strength(Strength::NamedByFailure, why));
}
