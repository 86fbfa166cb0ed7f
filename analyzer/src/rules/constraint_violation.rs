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
//! SQLite's foreign-key message names no table (`FOREIGN KEY constraint
//! failed`). When the victim's last delete or update changed nothing (it
//! was refused) and the traced DDL says which tables reference that one
//! (`CREATE TABLE orders (… REFERENCES customers …)`), those are where the
//! rows in the way are; without traced DDL nothing is guessed.
//!
//! The polluters are whoever else still had rows in that table when the
//! victim failed (the row ledger, [`crate::engine::rows::RowLedger`]): the failure
//! message is the strongest evidence a trace can hold.

use std::rc::Rc;

use state_tracer_format::Action;

use crate::engine::resources::TableId;
use crate::input::record::to_time;
use crate::model::{RuleId, Severity};
use crate::rules::{
    Access, Accesses, Cx, Op, Owner, Pending, Replay, Rule, RuleMeta, Scn, Strength, Target,
};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::ConstraintViolation,
    new: || Box::new(ConstraintViolation::default()),
    severity: Severity::Warning,
    summary: "a scenario failed on a database constraint over rows another scenario wrote",
    fix_within: Some(|a, resource| {
        format!("scenarios of {a} write rows in {resource} that make statements of others violate a constraint (a foreign key to them, a unique key they hold): use keys and rows of its own in each scenario")
    }),
    fix_between: Some(|a, b, resource| {
        format!("{a} writes rows in {resource} that make statements of {b} violate a constraint (a foreign key to them, a unique key they hold): use keys and rows of its own in each scenario, or isolate them")
    }),
    replay: Replay::AtOnce,
    repro_at_once: false,
    occurrences: None,
};

/// What a failure message says about the rows in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clue {
    /// A delete or update of a parent row failed: rows of this table still
    /// refer to it.
    ChildRows(String),
    /// An insert met a row with the same unique key, in this table if the
    /// message names it.
    Duplicate(Option<String>),
    /// A foreign key failed, the message naming no table (SQLite): rows of
    /// a table referencing the one the victim's refused delete touched.
    ForeignKey,
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
        if lower.contains("foreign key constraint failed") {
            return Some(Clue::ForeignKey);
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

/// The table names a statement's DDL declares as referencing others:
/// `(child, parent)` per `REFERENCES`, names lower-cased and unqualified.
pub fn references(ddl: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stmt in ddl.split(';') {
        let upper = stmt.to_ascii_uppercase();
        if !upper.contains("REFERENCES") {
            continue;
        }
        let child = ["CREATE TABLE", "ALTER TABLE"].iter().find_map(|kw| {
            let rest = &stmt[upper.find(kw)? + kw.len()..];
            let rest = rest.trim_start();
            let rest = match rest.get(..13) {
                Some(p) if p.eq_ignore_ascii_case("IF NOT EXISTS") => &rest[13..],
                _ => rest,
            };
            name_at(rest)
        });
        let Some(child) = child else { continue };
        let mut from = 0;
        while let Some(i) = upper[from..].find("REFERENCES") {
            let at = from + i + "REFERENCES".len();
            if let Some(parent) = name_at(&stmt[at..]) {
                out.push((child.clone(), parent));
            }
            from = at;
        }
    }
    out
}

/// The table name at the start of `s`: quotes removed, schema left out,
/// lower-cased.
fn name_at(s: &str) -> Option<String> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ';')
        .unwrap_or(s.len());
    let name = s[..end]
        .rsplit('.')
        .next()?
        .trim_matches(|c| matches!(c, '"' | '`' | '[' | ']'));
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

#[derive(Default)]
pub struct ConstraintViolation {
    /// Per running scenario: its last insert that changed no row, or failed
    /// (it may have hit a unique key). Rare, so a short list.
    unchanged: Vec<(usize, TableId)>,
    /// Per running scenario: its last delete or update that changed no
    /// row, or failed (a foreign key may have refused it).
    refused: Vec<(usize, TableId, Action)>,
    /// `(child, parent)` table names from traced DDL.
    refs: Vec<(String, String)>,
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
        if a.action == Action::DbDdl {
            if let Some(sql) = a.sql {
                for r in references(sql) {
                    if !self.refs.contains(&r) {
                        self.refs.push(r);
                    }
                }
            }
            return;
        }
        // An insert, delete or update that changed nothing, or failed
        // outright (a record with `error` reaches the rules as a read).
        let watched = matches!(
            a.action,
            Action::DbInsert | Action::DbDelete | Action::DbUpdate | Action::DbCleanup
        );
        if !watched || !(a.op == Op::Read || a.rows.none_changed()) {
            return;
        }
        let (Some(s), Target::Tables { set, .. }) = (a.scn, a.target) else {
            return;
        };
        let Some(&t) = cx.resources.tables_of(set).first() else {
            return;
        };
        if a.action == Action::DbInsert {
            self.unchanged.retain(|u| u.0 != s.id);
            self.unchanged.push((s.id, t));
        } else {
            self.refused.retain(|u| u.0 != s.id);
            self.refused.push((s.id, t, a.action));
        }
    }

    fn on_end(&mut self, cx: &mut Cx<'_>, s: &Rc<Scn>) {
        let unchanged = self
            .unchanged
            .iter()
            .position(|u| u.0 == s.id)
            .map(|k| self.unchanged.swap_remove(k).1);
        let refused = self.refused.iter().position(|u| u.0 == s.id).map(|k| {
            let (_, t, action) = self.refused.swap_remove(k);
            (t, action)
        });
        if !s.failed() {
            return;
        }
        let Some(message) = s.failure.get() else {
            return;
        };
        let Some(clue) = Clue::of(message) else {
            return;
        };
        let tables: Vec<TableId> = match &clue {
            // The table the message names, in the schema the victim used last.
            Clue::ChildRows(name) | Clue::Duplicate(Some(name)) => {
                let Some(schema) = s.last_schema.get() else {
                    return;
                };
                cx.resources
                    .schema_tables(schema)
                    .iter()
                    .copied()
                    .filter(|&t| cx.resources.table_name(t).eq_ignore_ascii_case(name))
                    .take(1)
                    .collect()
            }
            Clue::Duplicate(None) => unchanged.into_iter().collect(),
            // The tables the DDL says reference the refused statement's.
            Clue::ForeignKey => {
                let Some((parent, _)) = refused else { return };
                let name = cx.resources.table_name(parent).to_ascii_lowercase();
                let schema = cx.resources.table_schema(parent);
                cx.resources
                    .schema_tables(schema)
                    .iter()
                    .copied()
                    .filter(|&t| {
                        let child = cx.resources.table_name(t).to_ascii_lowercase();
                        t != parent && self.refs.iter().any(|(c, p)| *c == child && *p == name)
                    })
                    .collect()
            }
        };
        for t in tables {
            let why = match (&clue, refused) {
                (Clue::ForeignKey, Some((p, action))) => format!(
                    "the victim's foreign key failed when its {} of {} changed nothing, and the traced DDL says {} references {}, where these rows were",
                    action,
                    cx.resources.table_name(p),
                    cx.resources.table_name(t),
                    cx.resources.table_name(p),
                ),
                _ => "the victim's failure message names this table, where these rows were".to_owned(),
            };
            self.blame_holders(cx, s, t, message, &why);
        }
    }
}

impl ConstraintViolation {
    /// Reports every other scenario that still had rows in `t`.
    fn blame_holders(&self, cx: &mut Cx<'_>, s: &Rc<Scn>, t: TableId, message: &str, why: &str) {
        let holders: Vec<(Rc<Scn>, Option<u64>, crate::input::record::Micros, Action)> = cx
            .rows
            .others(t, Owner::Scenario(s.id))
            .filter(|w| w.rows != Some(0))
            .filter_map(|w| Some((w.scn.clone()?, w.rows, w.last, w.action)))
            .collect();
        for (w, rows, at, action) in holders {
            report(cx, s, &w, t, (rows, at, action), message, why);
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
    (rows, at, action): (Option<u64>, crate::input::record::Micros, Action),
    message: &str,
    why: &str,
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
        META.severity,
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
    cx.findings
        .add(p.with_strength(Strength::NamedByFailure, why.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_from_create_and_alter_table() {
        let ddl = r#"CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
            CREATE TABLE IF NOT EXISTS "public"."orders" (id SERIAL, customer_code TEXT NOT NULL REFERENCES customers (code), coupon TEXT REFERENCES Coupons(code));
            ALTER TABLE order_lines ADD CONSTRAINT fk FOREIGN KEY (order_id) REFERENCES public.orders(id)"#;
        assert_eq!(
            references(ddl),
            [
                ("orders".to_owned(), "customers".to_owned()),
                ("orders".to_owned(), "coupons".to_owned()),
                ("order_lines".to_owned(), "orders".to_owned()),
            ]
        );
        assert!(references("CREATE TABLE users (id INTEGER, email TEXT UNIQUE)").is_empty());
    }

    #[test]
    fn sqlites_foreign_key_message_names_no_table() {
        assert_eq!(
            Clue::of("error returned from database: (code: 787) FOREIGN KEY constraint failed"),
            Some(Clue::ForeignKey)
        );
    }
}
