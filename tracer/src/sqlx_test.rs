//! `#[sqlx::test]` on PostgreSQL: the database each test really uses, and
//! sqlx's own bookkeeping kept out of the shared-state picture.
//!
//! sqlx 0.8 (`sqlx-postgres/src/testing/mod.rs`) gives each test a database
//! of its own, `_sqlx_test_<base64url(sha512(test path))[..52]>`, created
//! from a connection to `DATABASE_URL` on the test's thread before the test
//! body runs: it records the database in the `_sqlx_test` schema (creating
//! it), `drop database if exists "…"`, `create database "…"`, then applies
//! migrations and fixtures to the new database; after a passing test it
//! drops it again. Its statements say nothing about the connection, so
//! without this module every one would carry `DATABASE_URL`'s identity:
//! the tests look like they share one database, and the bookkeeping looks
//! like DDL on the shared schema.
//!
//! - A statement that names `_sqlx_test` is sqlx's bookkeeping: recorded as
//!   `CUSTOM` `sqlx-test` with its text (nothing lost), never as state.
//! - Its `create database "_sqlx_test_…"` names the test's database: later
//!   statements on that thread (migrations, fixtures, the body and the tasks
//!   it runs there) carry that database's identity, until sqlx drops it.
//!   sqlx::test runs each test on a current-thread runtime of its own on
//!   libtest's thread for that test, so the thread is the test's.
//! - `#[state_tracer::test(sqlx::test)]` also names it from the test path
//!   (sqlx's own formula) when the body starts, for the first test of a
//!   process, whose setup ran before the tracer was installed.

use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    /// The `#[sqlx::test]` database this thread's statements run on.
    static TEST_DB: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// The marker in every statement of sqlx's test bookkeeping: the schema
/// `_sqlx_test` and the databases `_sqlx_test_…`.
const MARK: &str = "_sqlx_test";

/// The identity a statement on this thread gets from a `#[sqlx::test]`
/// database, if it has one.
pub(crate) fn thread_db() -> Option<Arc<str>> {
    TEST_DB
        .try_with(|d| d.try_borrow().ok().and_then(|d| d.clone()))
        .ok()
        .flatten()
}

fn set_thread_db(id: Option<Arc<str>>) {
    let _ = TEST_DB.try_with(|d| {
        if let Ok(mut d) = d.try_borrow_mut() {
            *d = id;
        }
    });
}

/// Whether `text` is a statement of sqlx's test bookkeeping; a `create
/// database` or `drop database` of a test database also moves this
/// thread's identity to it or off it.
pub(crate) fn bookkeeping(text: &str) -> bool {
    if !text.contains(MARK) {
        return false;
    }
    let lower = text.trim_start().to_ascii_lowercase();
    if let Some(name) = test_database(text) {
        if lower.starts_with("create database") {
            set_thread_db(per_test_identity(name));
        } else if lower.starts_with("drop database")
            && thread_db().is_some_and(|id| id.ends_with(&format!("/{name}")))
        {
            set_thread_db(None);
        }
    }
    true
}

/// The quoted `"_sqlx_test_…"` database name in a statement.
fn test_database(text: &str) -> Option<&str> {
    let start = text.find(&format!("\"{MARK}_"))? + 1;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// `postgres://host:port/NAME` for the server of the process's database
/// (`DATABASE_URL`, or what the program named); none unless PostgreSQL.
fn per_test_identity(name: &str) -> Option<Arc<str>> {
    let base = crate::db_identity::process_default()?;
    let rest = base.strip_prefix("postgres://")?;
    let server = rest.split('/').next()?;
    Some(Arc::from(format!("postgres://{server}/{name}")))
}

/// At the start of a `#[state_tracer::test(sqlx::test)]` body: unless the
/// setup already named the test's database on this thread, name it from
/// the test path (`module_path!()::name`), as sqlx does.
#[cfg_attr(not(feature = "macros"), allow(dead_code))] // used by the test attribute
pub(crate) fn test_started(test_path: &str) {
    if thread_db().is_none() {
        set_thread_db(per_test_identity(&database_name(test_path)));
    }
}

/// sqlx-core 0.8's `TestSupport::db_name`: `_sqlx_test_` and the URL-safe
/// base64 of the first 39 bytes of the test path's SHA-512, `-` as `_`.
#[cfg_attr(not(feature = "macros"), allow(dead_code))] // used by the test attribute
fn database_name(test_path: &str) -> String {
    use sha2::{Digest, Sha512};
    let hash = Sha512::digest(test_path.as_bytes());
    let mut name = String::from("_sqlx_test_");
    base64_url(&hash[..39], &mut name);
    name.replace('-', "_")
}

/// URL-safe base64 of `bytes` (a multiple of 3 long: no padding).
#[cfg_attr(not(feature = "macros"), allow(dead_code))] // used by the test attribute
fn base64_url(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        let mut s = String::new();
        base64_url(b"Man\xfb\xff\xbf", &mut s);
        assert_eq!(s, "TWFu-_-_");
    }

    #[test]
    fn the_database_name_is_sqlx_s() {
        let name = database_name("sqlx_tests::pg::a_test");
        assert_eq!(name.len(), 63, "{name}");
        assert!(name.starts_with("_sqlx_test_"));
        assert!(!name.contains('-'));
    }

    #[test]
    fn bookkeeping_is_recognised_and_names_the_database() {
        assert!(!bookkeeping("SELECT * FROM users"));
        assert!(bookkeeping("create schema if not exists _sqlx_test;"));
        assert!(
            test_database("drop database if exists \"_sqlx_test_ab_c\";")
                == Some("_sqlx_test_ab_c")
        );
        assert_eq!(test_database("create schema _sqlx_test"), None);
    }
}
