//! sqlx statements against a real PostgreSQL server (started by the test
//! from the system binaries): schemas, search_path, TRUNCATE, transactions.

mod common;

use common::*;
use state_tracer::format::{Action, Event};
use tracing::Instrument;

fn res(e: &Event<'_>) -> (String, Vec<String>) {
    let r = e
        .resource
        .as_ref()
        .unwrap_or_else(|| panic!("no resource: {e:?}"));
    (
        r.schema.as_deref().unwrap_or("").to_owned(),
        r.tables.iter().map(|t| t.to_string()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schemas_search_path_truncate_and_transactions() {
    let dir = global_trace_dir();
    let pg = testkit::Postgres::start().expect("start PostgreSQL");
    pg.create_database("app").unwrap();
    // Trust auth ignores the password, so we can plant one in the URL.
    let url = format!(
        "postgres://postgres:pg-password-never-traced@127.0.0.1:{}/app",
        pg.port()
    );
    state_tracer::set_database(&url);

    let scenario = state_tracer::scenario("tenancy", "Schema per tenant");
    async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let q = |sql: &'static str| sqlx::query(sql);
        q("CREATE SCHEMA tenant_a").execute(&pool).await.unwrap();
        q("CREATE TABLE public.audit (id serial PRIMARY KEY, note text)")
            .execute(&pool)
            .await
            .unwrap();
        q("SET search_path TO tenant_a, public")
            .execute(&pool)
            .await
            .unwrap();
        q("CREATE TABLE items (id serial PRIMARY KEY, name text, price int)")
            .execute(&pool)
            .await
            .unwrap();
        q("INSERT INTO items (name, price) VALUES ($1, $2)")
            .bind("bound-name-never-traced")
            .bind(4242)
            .execute(&pool)
            .await
            .unwrap();
        q("BEGIN").execute(&pool).await.unwrap();
        q("UPDATE items SET price = $1 WHERE name = $2")
            .bind(1)
            .bind("bound-name-never-traced")
            .execute(&pool)
            .await
            .unwrap();
        q("INSERT INTO public.audit (note) VALUES ($1)")
            .bind("bound-note-never-traced")
            .execute(&pool)
            .await
            .unwrap();
        q("COMMIT").execute(&pool).await.unwrap();
        q("BEGIN").execute(&pool).await.unwrap();
        q("DELETE FROM items WHERE price > $1")
            .bind(0)
            .execute(&pool)
            .await
            .unwrap();
        q("ROLLBACK").execute(&pool).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 1);
        q("TRUNCATE items, public.audit")
            .execute(&pool)
            .await
            .unwrap();
        q("DROP SCHEMA tenant_a CASCADE")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    .instrument(scenario.span().clone())
    .await;
    drop(scenario);

    let trace = only_trace(dir);
    let mine: Vec<_> = trace
        .of_scenario("Schema per tenant")
        .into_iter()
        .filter(|e| !matches!(e.action, Action::ScenarioStart | Action::ScenarioEnd))
        .collect();
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "SCHEMA_CREATE",
            "DB_DDL",
            "SCHEMA_SET",
            "DB_DDL",
            "DB_INSERT",
            "TX_BEGIN",
            "DB_UPDATE",
            "DB_INSERT",
            "TX_COMMIT",
            "TX_BEGIN",
            "DB_DELETE",
            "TX_ROLLBACK",
            "DB_SELECT",
            "DB_CLEANUP",
            "SCHEMA_DROP"
        ]
    );
    let db = format!("postgres://127.0.0.1:{}/app", pg.port());
    for e in mine.iter().filter_map(|e| e.resource.as_ref()) {
        assert_eq!(
            e.db.as_deref(),
            Some(db.as_str()),
            "same identity, no credentials"
        );
    }
    let s = |a: &str, n: usize| {
        *mine
            .iter()
            .filter(|e| e.action.as_str() == a)
            .nth(n)
            .unwrap()
    };
    assert_eq!(res(s("SCHEMA_CREATE", 0)), ("tenant_a".into(), vec![]));
    assert_eq!(res(s("DB_DDL", 0)), ("public".into(), vec!["audit".into()]));
    assert_eq!(res(s("SCHEMA_SET", 0)), ("tenant_a".into(), vec![]));
    // After SET search_path, unqualified tables resolve to tenant_a.
    assert_eq!(
        res(s("DB_DDL", 1)),
        ("tenant_a".into(), vec!["items".into()])
    );
    assert_eq!(
        res(s("DB_INSERT", 0)),
        ("tenant_a".into(), vec!["items".into()])
    );
    assert_eq!(s("DB_INSERT", 0).rows, Some(1));
    assert_eq!(
        res(s("DB_UPDATE", 0)),
        ("tenant_a".into(), vec!["items".into()])
    );
    assert_eq!(
        res(s("DB_INSERT", 1)),
        ("public".into(), vec!["audit".into()])
    );
    assert_eq!(s("DB_SELECT", 0).rows, Some(1));
    let cleanup = s("DB_CLEANUP", 0);
    assert_eq!(
        cleanup.resource.as_ref().unwrap().tables,
        ["items", "public.audit"],
        "mixed schemas keep qualified names"
    );
    assert_eq!(res(s("SCHEMA_DROP", 0)), ("tenant_a".into(), vec![]));

    let text = all_trace_text(dir);
    assert!(
        !text.contains("never-traced"),
        "a password or bound value leaked"
    );
    // The bound number must not appear in any event's text. Timestamps,
    // `mono_ns` and the server's port are digits that can contain "4242"
    // by chance (and the header names the binary and folder), so only the
    // events' text members are searched.
    let leaks: Vec<String> = text
        .lines()
        .flat_map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let mut found = Vec::new();
            if record["type"] == "event" {
                texts_except_times_and_db(&record, &mut found);
            }
            found
        })
        .filter(|t| t.contains("4242"))
        .collect();
    assert!(leaks.is_empty(), "a bound value leaked: {leaks:?}");
}

/// Every string in `v`, except wall times (`ts`, `start`) and database
/// identities (`db`, which hold the port), which are digits by design.
fn texts_except_times_and_db(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => {
            for item in items {
                texts_except_times_and_db(item, out);
            }
        }
        serde_json::Value::Object(members) => {
            for (k, item) in members {
                if !matches!(k.as_str(), "ts" | "start" | "db") {
                    texts_except_times_and_db(item, out);
                }
            }
        }
        _ => {}
    }
}
