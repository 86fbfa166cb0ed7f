//! Database identity and current schema: what a `shared` resource names.
//!
//! A statement's resource is `{db, schema, tables}`. `db` comes from the
//! event's own `db` field, else [`crate::db_identity::resolve`] (pool,
//! `set_database`, named pool, `DATABASE_URL`, open SQLite file), and is
//! absent when unknown; the schema from the statement, else the schema
//! last selected in the scenario (or, outside any scenario, in the
//! process), else the database's default (`main` on SQLite, `public`
//! elsewhere).

use std::sync::Mutex;

use crate::json;
use crate::scenario::{lock, ScenarioData};
use crate::sql;

/// Schema selected outside any scenario.
static PROCESS_SCHEMA: Mutex<Option<String>> = Mutex::new(None);

/// A schema switch (`SET search_path`, `schema_set`): in the scenario if
/// there is one, else for the process.
pub(crate) fn set_schema(sc: Option<&ScenarioData>, schema: &str) {
    match sc {
        Some(sc) => *lock(&sc.schema) = Some(schema.to_owned()),
        None => *lock(&PROCESS_SCHEMA) = Some(schema.to_owned()),
    }
}

pub(crate) fn current_schema(sc: Option<&ScenarioData>, db: Option<&str>) -> String {
    if let Some(s) = sc.and_then(|sc| lock(&sc.schema).clone()) {
        return s;
    }
    if let Some(s) = lock(&PROCESS_SCHEMA).clone() {
        return s;
    }
    // An unknown database on an SQLite connection is still SQLite.
    if db.is_none() && crate::db_identity::on_sqlite_worker() {
        return "main".to_owned();
    }
    crate::db_url::default_schema(db).to_owned()
}

/// One schema for the resource: the qualified tables' schema when they all
/// agree (names then lose the prefix), otherwise the current schema with
/// names kept as written.
pub(crate) fn group_tables(tables: &[String], current: &str) -> (String, Vec<String>) {
    let mut schema: Option<&str> = None;
    let mut uniform = true;
    for t in tables {
        let s = sql::split_qualified(t).0.unwrap_or(current);
        match schema {
            None => schema = Some(s),
            Some(prev) if prev != s => uniform = false,
            _ => {}
        }
    }
    if uniform {
        let schema = schema.unwrap_or(current).to_owned();
        let names = tables
            .iter()
            .map(|t| sql::split_qualified(t).1.to_owned())
            .collect();
        (schema, names)
    } else {
        (current.to_owned(), tables.to_vec())
    }
}

/// `,"resource":{"scope":"shared","db":..,"schema":..,"tables":[..]}`,
/// with no `db` when the identity is unknown.
pub(crate) fn encode_shared(out: &mut Vec<u8>, db: Option<&str>, schema: &str, tables: &[&str]) {
    out.extend_from_slice(b",\"resource\":{\"scope\":\"shared\"");
    if let Some(db) = db {
        out.extend_from_slice(b",\"db\":");
        json::string(out, db);
    }
    out.extend_from_slice(b",\"schema\":");
    json::string(out, schema);
    if !tables.is_empty() {
        out.extend_from_slice(b",\"tables\":[");
        for (i, t) in tables.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::string(out, t);
        }
        out.push(b']');
    }
    out.push(b'}');
}
