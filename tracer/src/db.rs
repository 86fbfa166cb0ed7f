//! Database identity and current schema: what a `shared` resource names.
//!
//! A statement's resource is `{db, schema, tables}`. `db` comes from the
//! event's own `db` field, else [`crate::set_database`], else
//! `DATABASE_URL`; the schema from the statement, else the schema last
//! selected in the scenario (or, outside any scenario, in the process),
//! else the database's default.

use std::sync::{Mutex, RwLock};

use crate::json;
use crate::scenario::{lock, ScenarioData};
use crate::secret;
use crate::sql;

/// Database identity for sqlx statements; see [`crate::set_database`].
static DB_IDENTITY: RwLock<Option<String>> = RwLock::new(None);
/// Schema selected outside any scenario.
static PROCESS_SCHEMA: Mutex<Option<String>> = Mutex::new(None);

pub(crate) fn set_database_identity(url: &str) {
    let id = secret::db_identity(url);
    if let Ok(mut g) = DB_IDENTITY.write() {
        *g = Some(id);
    }
}

pub(crate) fn database_identity() -> String {
    if let Some(id) = DB_IDENTITY.read().ok().and_then(|g| g.clone()) {
        return id;
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => secret::db_identity(&url),
        _ => "unknown".to_owned(),
    }
}

fn default_schema(db: &str) -> &'static str {
    if db.starts_with("sqlite") {
        "main"
    } else {
        "public"
    }
}

/// A schema switch (`SET search_path`, `schema_set`): in the scenario if
/// there is one, else for the process.
pub(crate) fn set_schema(sc: Option<&ScenarioData>, schema: &str) {
    match sc {
        Some(sc) => *lock(&sc.schema) = Some(schema.to_owned()),
        None => *lock(&PROCESS_SCHEMA) = Some(schema.to_owned()),
    }
}

pub(crate) fn current_schema(sc: Option<&ScenarioData>, db: &str) -> String {
    if let Some(s) = sc.and_then(|sc| lock(&sc.schema).clone()) {
        return s;
    }
    if let Some(s) = lock(&PROCESS_SCHEMA).clone() {
        return s;
    }
    default_schema(db).to_owned()
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

/// `,"resource":{"scope":"shared","db":..,"schema":..,"tables":[..]}`.
pub(crate) fn encode_shared(out: &mut Vec<u8>, db: &str, schema: &str, tables: &[&str]) {
    out.extend_from_slice(b",\"resource\":{\"scope\":\"shared\",\"db\":");
    json::string(out, db);
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
