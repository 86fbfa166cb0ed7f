//! sqlx statements against a real SQLite file become DB records, attributed
//! to the scenario, with tables, schema and row counts, and no bound values.

mod common;

use common::*;
use sqlx::Connection;
use state_tracer::format::{Action, Scope};
use tracing::Instrument;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_statements_become_records_of_the_scenario() {
    let dir = global_trace_dir();
    let db_dir = tempfile::tempdir().unwrap();
    let db_path = db_dir.path().join("app.db");
    let url = format!("sqlite://{}?mode=rwc", db_path.display());
    state_tracer::set_database(&url);

    let scenario = state_tracer::scenario("storage", "SQLite CRUD");
    async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, secret TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        for name in ["alice", "bob"] {
            sqlx::query("INSERT INTO users (name, secret) VALUES (?, ?)")
                .bind(name)
                .bind("bound-value-never-traced")
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO users (name, secret) VALUES ('inline', 'inlined-value-never-traced')",
        )
        .execute(&pool)
        .await
        .unwrap();
        let rows = sqlx::query("SELECT id, name FROM users WHERE secret = ?")
            .bind("bound-value-never-traced")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        sqlx::query("UPDATE users SET name = ? WHERE id = ?")
            .bind("carol")
            .bind(1)
            .execute(&pool)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
        sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(2)
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
        drop(conn);
        sqlx::query("DELETE FROM users")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        // A single connection outside the pool is traced the same way.
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("SELECT count(*) FROM users")
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
    .instrument(scenario.span().clone())
    .await;
    drop(scenario);

    let trace = only_trace(dir);
    let mine = trace.of_scenario("SQLite CRUD");
    let db_actions: Vec<&str> = mine
        .iter()
        .filter(|e| e.action.as_str().starts_with("DB_") || e.action.as_str().starts_with("TX_"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        db_actions,
        [
            "DB_DDL",
            "DB_INSERT",
            "DB_INSERT",
            "DB_INSERT",
            "DB_SELECT",
            "DB_UPDATE",
            "TX_BEGIN",
            "DB_DELETE",
            "TX_COMMIT",
            "DB_CLEANUP",
            "DB_SELECT"
        ],
        "{:#?}",
        mine
    );
    let expected_db = format!(
        "sqlite:{}",
        std::fs::canonicalize(&db_path).unwrap().display()
    );
    for e in mine.iter().filter(|e| e.resource.is_some()) {
        let r = e.resource.as_ref().unwrap();
        assert_eq!(r.scope, Scope::Shared);
        assert_eq!(r.db.as_deref(), Some(expected_db.as_str()));
        assert_eq!(r.schema.as_deref(), Some("main"));
        assert_eq!(r.tables, ["users"]);
    }
    let insert = mine.iter().find(|e| e.action == Action::DbInsert).unwrap();
    assert_eq!(insert.rows, Some(1));
    assert_eq!(
        insert.details.as_deref(),
        Some("INSERT INTO users (name, secret) VALUES (?, ?)")
    );
    let select = mine.iter().find(|e| e.action == Action::DbSelect).unwrap();
    assert_eq!(select.rows, Some(2));
    let cleanup = mine.iter().find(|e| e.action == Action::DbCleanup).unwrap();
    assert_eq!(cleanup.rows, Some(2), "carol and inline were left");
    assert!(mine.iter().all(|e| e.scenario_id == mine[0].scenario_id));

    let text = all_trace_text(dir);
    assert!(
        !text.contains("never-traced"),
        "a bound or inlined value leaked"
    );
    assert!(!text.contains("'inline'"));
}
