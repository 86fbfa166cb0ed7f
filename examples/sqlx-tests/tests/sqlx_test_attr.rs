//! `#[state_tracer::test(sqlx::test)]`: sqlx's own test attribute, which
//! hands each test a fresh database, composes with the tracer's. The test
//! below runs the ignored one in a child process of this binary with
//! tracing on and reads its trace back.

use std::path::Path;

#[path = "support/nested.rs"]
#[allow(dead_code)]
mod nested;

/// Gets its own SQLite database from `#[sqlx::test]`, traced as one scenario.
#[state_tracer::test(sqlx::test)]
#[ignore = "run by sqlx_test_composes_and_its_statements_are_traced, with tracing on"]
async fn a_fresh_database_per_test(pool: sqlx::SqlitePool) -> sqlx::Result<()> {
    sqlx::query("CREATE TABLE notes (body TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    sqlx::query("INSERT INTO notes (body) VALUES ('hello'), ('world')")
        .execute(&pool)
        .await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(&pool)
        .await?;
    assert_eq!(n, 2);
    Ok(())
}

#[test]
fn sqlx_test_composes_and_its_statements_are_traced() {
    let scratch = tempfile::tempdir().unwrap();
    let traces = scratch.path().join("traces");
    let mut cmd = nested::this_binary();
    // sqlx::test keeps its SQLite databases under ./target/sqlx/test-dbs.
    let out = cmd
        .args(["--ignored", "--exact", "a_fresh_database_per_test"])
        .current_dir(scratch.path())
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", &traces)
        .output()
        .unwrap();
    let output = nested::text(&out);
    assert!(out.status.success(), "{output}");
    assert!(output.contains("1 passed"), "{output}");

    let analysis = trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
        inputs: vec![traces.clone()],
        ..Default::default()
    })
    .run()
    .unwrap();
    let processes = &analysis.report.processes;
    assert_eq!(processes.len(), 1, "{:?}", analysis.report.warnings);
    let order = &processes[0].order;
    assert_eq!(order.len(), 1);
    // As libtest names it: no crate name for a test at the crate root.
    assert_eq!(&*order[0].scenario, "a_fresh_database_per_test");
    assert_eq!(
        order[0].outcome,
        trace_analyzer::model::ScenarioOutcome::Passed
    );

    // The statements ran on the database sqlx::test made for this test.
    let records = trace_lines(&traces);
    let insert = records
        .iter()
        .find(|r| r["action"] == "DB_INSERT")
        .unwrap_or_else(|| panic!("no DB_INSERT in {records:#?}"));
    assert_eq!(insert["resource"]["tables"][0], "notes", "{insert}");
    let db = insert["resource"]["db"].as_str().unwrap_or_default();
    assert!(
        db.ends_with("a_fresh_database_per_test.sqlite"),
        "the test's own database: {insert}"
    );
    assert_eq!(insert["rows"], 2, "{insert}");
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
