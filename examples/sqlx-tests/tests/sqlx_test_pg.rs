//! `#[state_tracer::test(sqlx::test)]` on a real PostgreSQL: each test's
//! statements carry the database sqlx created for it (not `DATABASE_URL`'s),
//! and sqlx's own bookkeeping (its `_sqlx_test` schema, `create database`,
//! `drop database`) is recorded as a `CUSTOM` note, never as DDL on the
//! shared database: a green run of isolated tests reports no hazard.
//!
//! The two ignored tests are the subjects; the outer test starts a server
//! (`testkit`) and runs them in a child process of this binary, one after
//! the other, so the first one's setup runs before the tracer is installed
//! (its database is named from the test path, as sqlx names it) and the
//! second one's setup is traced (its `create database` names it).

use std::collections::BTreeSet;
use std::path::Path;

#[path = "support/nested.rs"]
#[allow(dead_code)]
mod nested;

async fn write_and_read(pool: &sqlx::PgPool, body: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO notes (body) VALUES ($1)")
        .bind(body)
        .execute(pool)
        .await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(pool)
        .await?;
    assert_eq!(n, 1, "a fresh database per test");
    // A whole-table cleanup: harmless, as the table is the test's own.
    sqlx::query("DELETE FROM notes").execute(pool).await?;
    Ok(())
}

#[state_tracer::test(sqlx::test(migrations = "tests/pg_migrations"))]
#[ignore = "run by per_test_databases_are_recorded_and_sqlx_bookkeeping_is_not_state"]
async fn pg_a(pool: sqlx::PgPool) -> sqlx::Result<()> {
    write_and_read(&pool, "a").await
}

#[state_tracer::test(sqlx::test(migrations = "tests/pg_migrations"))]
#[ignore = "run by per_test_databases_are_recorded_and_sqlx_bookkeeping_is_not_state"]
async fn pg_b(pool: sqlx::PgPool) -> sqlx::Result<()> {
    // A spawned task: on sqlx::test's current-thread runtime, the test's.
    let p = pool.clone();
    tokio::spawn(async move { write_and_read(&p, "b").await })
        .await
        .unwrap()
}

#[test]
fn per_test_databases_are_recorded_and_sqlx_bookkeeping_is_not_state() {
    let pg = testkit::Postgres::start()
        .expect("PostgreSQL server binaries (scripts/setup.sh installs them)");
    let scratch = tempfile::tempdir().unwrap();
    let traces = scratch.path().join("traces");
    let mut cmd = nested::this_binary();
    let out = cmd
        .args(["--ignored", "--test-threads=1", "pg_"])
        .env("DATABASE_URL", pg.url())
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", &traces)
        .output()
        .unwrap();
    let output = nested::text(&out);
    assert!(out.status.success(), "{output}");
    assert!(output.contains("2 passed"), "{output}");

    let records = trace_lines(&traces);
    let shared = format!("postgres://127.0.0.1:{}/postgres", pg.port());
    let mut dbs = BTreeSet::new();
    for r in &records {
        let action = r["action"].as_str().unwrap_or_default();
        // State: statements with a resource (`SELECT current_database()`
        // of sqlx's migrator has none).
        if !(action.starts_with("DB_") || action.starts_with("SCHEMA_")) || r["resource"].is_null()
        {
            continue;
        }
        let db = r["resource"]["db"].as_str().unwrap_or_default();
        assert_ne!(db, shared, "no statement on the shared database: {r}");
        assert!(db.contains("/_sqlx_test_"), "a test's own database: {r}");
        if r["resource"]["tables"][0] == "notes" && action != "DB_DDL" {
            // The test's own statements: in its scenario, on its database.
            let scenario = r["scenario"].as_str().unwrap_or_else(|| panic!("{r}"));
            dbs.insert((scenario.to_owned(), db.to_owned()));
        }
    }
    // One database per test, each test's statements on its own.
    let scenarios: BTreeSet<&str> = dbs.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(scenarios, BTreeSet::from(["pg_a", "pg_b"]), "{dbs:?}");
    let names: BTreeSet<&str> = dbs.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(names.len(), 2, "{dbs:?}");

    // sqlx's bookkeeping is there, as notes; the database it dropped after
    // each test is the one that test's statements name.
    let notes: Vec<&str> = records
        .iter()
        .filter(|r| r["action"] == "CUSTOM" && r["name"] == "sqlx-test")
        .map(|r| r["details"].as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("_sqlx_test.databases")),
        "{notes:?}"
    );
    for (_, db) in &dbs {
        let name = db.rsplit('/').next().unwrap();
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("drop database") && n.contains(name)),
            "sqlx dropped {name}: {notes:?}"
        );
    }

    // A green run of isolated tests: no finding, no hazard.
    let analysis = trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
        inputs: vec![traces.clone()],
        ..Default::default()
    })
    .run()
    .unwrap();
    let r = &analysis.report;
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(r.hazards.is_empty(), "{:#?}", r.hazards);
}

/// Every record of the one trace file in `dir`.
fn trace_lines(dir: &Path) -> Vec<serde_json::Value> {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::read_to_string(&files[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
