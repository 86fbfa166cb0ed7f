//! The probe cases of issue 11 for sqlx statements, each in real child
//! processes (so nothing is named by another test): which database a
//! statement ran on when the program names none, one record per statement
//! of a multi-statement string, failed statements marked, and `rows` only
//! where the database counted them. Against real SQLite files and a real
//! PostgreSQL server (testkit).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use state_tracer::format::{Action, Event};

/// Child roles; the parent tests below start them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child() {
    let Some(role) = child_role() else { return };
    let _guard = state_tracer::init().expect("tracing on in child");
    let url = std::env::var("TEST_DB_URL").unwrap();
    let s = state_tracer::scenario("probe", &role);
    let span = s.span().clone();
    let _in = span.enter();
    match role.as_str() {
        "sqlite" => sqlite_statements(&url).await,
        "postgres" => postgres_statements(&url).await,
        other => panic!("unknown role {other}"),
    }
    drop(_in);
    drop(s);
}

async fn sqlite_statements(url: &str) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n\
         CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER);\n\
         INSERT INTO users VALUES (1, 'a'), (2, 'b');\n\
         INSERT INTO orders VALUES (1, 1);",
    )
    .execute(&pool)
    .await
    .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 2);
    // A failed statement, marked through sqlx::run.
    let dup = state_tracer::sqlx::run(
        sqlx::query("INSERT INTO users (id, name) VALUES (1, 'again')").execute(&pool),
    )
    .await;
    assert!(dup.is_err());
    sqlx::raw_sql("SELECT 1; DELETE FROM orders; DELETE FROM users")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (id, name) VALUES (7, 'c')")
        .execute(&pool)
        .await
        .unwrap();
    let deleted = sqlx::query("DELETE FROM users")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    pool.close().await;
}

async fn postgres_statements(url: &str) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    // No name: unknown identity.
    sqlx::raw_sql(
        "CREATE TABLE users (id int PRIMARY KEY); CREATE TABLE orders (id int PRIMARY KEY)",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Named from here on.
    let db = state_tracer::sqlx::name_pool(url);
    sqlx::query("INSERT INTO users VALUES (1), (2)")
        .execute(&pool)
        .await
        .unwrap();
    let dup = db
        .run(
            sqlx::query("INSERT INTO users VALUES ($1)")
                .bind(1)
                .execute(&pool),
        )
        .await;
    assert!(dup.is_err());
    sqlx::query("TRUNCATE orders").execute(&pool).await.unwrap();
    sqlx::raw_sql("DELETE FROM orders; DELETE FROM users")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// Runs the child `role` with `url`, tracing into `dir`, and returns its
/// trace file. `DATABASE_URL` is cleared: nothing names the database.
fn run_child(role: &str, url: &str, dir: &Path) -> Trace {
    let out = traced(role, url, dir).output().unwrap();
    assert!(
        out.status.success(),
        "child {role} failed: {}",
        stderr(&out)
    );
    only_trace(dir)
}

fn traced(role: &str, url: &str, dir: &Path) -> Command {
    let mut cmd = spawn_child("child", role);
    cmd.env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", dir)
        .env("TEST_DB_URL", url)
        .env_remove("DATABASE_URL");
    cmd
}

/// The statement records; each is attributed to the child's scenario
/// (also those written at the end of a `run`).
fn sql_events(t: &Trace) -> Vec<&Event<'static>> {
    let sql: Vec<_> = t
        .events
        .iter()
        .filter(|e| e.action.as_str().starts_with("DB_"))
        .collect();
    for e in &sql {
        assert_eq!(e.feature.as_deref(), Some("probe"), "{e:?}");
    }
    sql
}

fn db_of<'a>(e: &'a Event<'a>) -> Option<&'a str> {
    e.resource.as_ref().and_then(|r| r.db.as_deref())
}

fn summary(e: &Event<'_>) -> (Action, Vec<String>, Option<u64>) {
    let tables = e
        .resource
        .as_ref()
        .map(|r| r.tables.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default();
    (e.action, tables, e.rows)
}

fn t(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn two_processes_on_different_sqlite_files_are_different_databases() {
    let files = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for name in ["one.db", "two.db"] {
        let traces = tempfile::tempdir().unwrap();
        let path = files.path().join(name);
        let trace = run_child(
            "sqlite",
            &format!("sqlite://{}?mode=rwc", path.display()),
            traces.path(),
        );
        let want = format!("sqlite:{}", std::fs::canonicalize(&path).unwrap().display());
        let sql = sql_events(&trace);
        assert!(sql.len() >= 8, "{:?}", trace.actions());
        // Every statement that touched a table (not `SELECT 1`).
        for e in sql.iter().filter(|e| e.resource.is_some()) {
            assert_eq!(db_of(e), Some(want.as_str()), "{e:?}");
            assert_eq!(e.resource.as_ref().unwrap().schema.as_deref(), Some("main"));
        }
        ids.push(want);
        check_sqlite_statements(&trace);
    }
    assert_ne!(ids[0], ids[1]);
}

/// The statements of the `sqlite` role, one record each, with rows only
/// where they belong to one statement and errors where they failed.
fn check_sqlite_statements(trace: &Trace) {
    let sql = sql_events(trace);
    let got: Vec<_> = sql.iter().map(|e| summary(e)).collect();
    assert_eq!(
        got,
        [
            // The setup script: four records, no rows (sqlx counts them all together).
            (Action::DbDdl, t(&["users"]), None),
            (Action::DbDdl, t(&["orders"]), None),
            (Action::DbInsert, t(&["users"]), None),
            (Action::DbInsert, t(&["orders"]), None),
            (Action::DbSelect, t(&["users"]), Some(1)),
            // The failed insert: no rows.
            (Action::DbInsert, t(&["users"]), None),
            // SELECT 1; DELETE FROM orders; DELETE FROM users
            (Action::DbSelect, t(&[]), None),
            (Action::DbCleanup, t(&["orders"]), None),
            (Action::DbCleanup, t(&["users"]), None),
            (Action::DbInsert, t(&["users"]), Some(1)),
            (Action::DbCleanup, t(&["users"]), Some(1)),
        ]
    );
    let failed: Vec<_> = sql.iter().filter(|e| e.error.is_some()).collect();
    assert_eq!(failed.len(), 1, "{sql:?}");
    assert!(
        failed[0].error.as_deref().unwrap().contains("UNIQUE"),
        "{:?}",
        failed[0].error
    );
    assert_eq!(
        failed[0].details.as_deref(),
        Some("INSERT INTO users (id, name) VALUES (?, ?)")
    );
}

#[test]
fn in_memory_databases_are_private_to_each_process() {
    for _ in 0..2 {
        let traces = tempfile::tempdir().unwrap();
        let trace = run_child("sqlite", "sqlite::memory:", traces.path());
        let sql = sql_events(&trace);
        assert!(!sql.is_empty());
        for e in sql.iter().filter(|e| e.resource.is_some()) {
            assert_eq!(db_of(e), Some("sqlite::memory:"), "{e:?}");
        }
    }
}

#[test]
fn postgres_unknown_then_named_multi_statement_failed_and_truncate() {
    let pg = testkit::Postgres::start().expect("start PostgreSQL");
    pg.create_database("app").unwrap();
    let url = format!(
        "postgres://postgres:pw-PLANTED@LOCALHOST:{}/app?sslmode=disable",
        pg.port()
    );
    let traces = tempfile::tempdir().unwrap();
    let trace = run_child("postgres", &url, traces.path());
    assert!(!trace.raw.contains("PLANTED"));
    assert!(!trace.raw.contains("\"unknown\""));
    let named = format!("postgres://localhost:{}/app", pg.port());
    let sql = sql_events(&trace);
    let got: Vec<_> = sql
        .iter()
        .map(|e| (summary(e), db_of(e).map(str::to_owned), e.error.is_some()))
        .collect();
    let n = || Some(named.clone());
    assert_eq!(
        got,
        [
            // Before name_pool: no db member (unknown), schema public.
            ((Action::DbDdl, t(&["users"]), None), None, false),
            ((Action::DbDdl, t(&["orders"]), None), None, false),
            ((Action::DbInsert, t(&["users"]), Some(2)), n(), false),
            ((Action::DbInsert, t(&["users"]), None), n(), true),
            // PostgreSQL reports no count for TRUNCATE: no rows.
            ((Action::DbCleanup, t(&["orders"]), None), n(), false),
            ((Action::DbCleanup, t(&["orders"]), None), n(), false),
            ((Action::DbCleanup, t(&["users"]), None), n(), false),
        ]
    );
    for e in &sql {
        assert_eq!(
            e.resource.as_ref().unwrap().schema.as_deref(),
            Some("public")
        );
    }
    let failed = sql.iter().find(|e| e.error.is_some()).unwrap();
    assert!(
        failed.error.as_deref().unwrap().contains("duplicate key"),
        "{failed:?}"
    );
}
