//! Database identity and current schema: what a `shared` resource names.
//!
//! A statement's resource is `{db, schema, tables}`. `db` comes from the
//! event's own `db` field, else [`crate::db_identity::resolve`] (pool,
//! `set_database`, named pool, `DATABASE_URL`, open SQLite file), and is
//! absent when unknown; the schema from the statement, else the schema
//! last selected in the scenario (or, outside any scenario, in the
//! process), else the database's default (`main` on SQLite, `public`
//! elsewhere).

use std::borrow::Cow;
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

/// The schema in effect: the scenario's last switch, else the process's,
/// else the database's default (borrowed, so the usual case allocates
/// nothing).
pub(crate) fn current_schema(sc: Option<&ScenarioData>, db: Option<&str>) -> Cow<'static, str> {
    if let Some(s) = sc.and_then(|sc| lock(&sc.schema).clone()) {
        return Cow::Owned(s);
    }
    if let Some(s) = lock(&PROCESS_SCHEMA).clone() {
        return Cow::Owned(s);
    }
    // An unknown database on an SQLite connection is still SQLite.
    if db.is_none() && crate::db_identity::on_sqlite_worker() {
        return Cow::Borrowed("main");
    }
    Cow::Borrowed(crate::db_url::default_schema(db))
}

/// `,"resource":{"scope":"shared","db":..,"schema":..}` of a schema
/// itself, with no `db` when the identity is unknown.
pub(crate) fn encode_schema(out: &mut Vec<u8>, db: Option<&str>, schema: &str) {
    encode_tables::<&str>(out, db, &[], schema);
}

/// `,"resource":{"scope":"shared","db":..,"schema":..,"tables":[..]}` of
/// `tables` as written (possibly schema-qualified), with no `db` when the
/// identity is unknown. One schema for the resource: the qualified
/// tables' schema when they all agree (names then lose the prefix),
/// otherwise `current` with names kept as written.
pub(crate) fn encode_tables<S: AsRef<str>>(
    out: &mut Vec<u8>,
    db: Option<&str>,
    tables: &[S],
    current: &str,
) {
    let mut schema: Option<&str> = None;
    let mut uniform = true;
    for t in tables {
        let s = sql::split_qualified(t.as_ref()).0.unwrap_or(current);
        match schema {
            None => schema = Some(s),
            Some(prev) if prev != s => uniform = false,
            _ => {}
        }
    }
    let schema = match schema {
        Some(s) if uniform => s,
        _ => current,
    };
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
            let t = t.as_ref();
            let name = if uniform {
                sql::split_qualified(t).1
            } else {
                t
            };
            json::string(out, name);
        }
        out.push(b']');
    }
    out.push(b'}');
}
