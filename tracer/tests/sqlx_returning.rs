//! `rows` of an `INSERT`/`UPDATE`/`DELETE … RETURNING` is the rows it
//! changed, however the suite reads it (`fetch_one`, `fetch_optional`,
//! `fetch_all`, `execute`), on a real SQLite file and a real PostgreSQL.
//!
//! Why a test of its own: sqlx counts the rows of a RETURNING statement in
//! `rows_returned`, and its `rows_affected` is only added when the driver
//! reaches the statement's end, which SQLite's `fetch_one`/`fetch_optional`
//! never do (they stop at the first row). Recording `rows_affected` alone
//! turned every `INSERT … RETURNING` read with `fetch_one` into `rows: 0`
//! (issue 19). What each database really changed is read back from the
//! database after each statement, never taken from the trace.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::*;
use sqlx::{Database, Executor, Pool};
use tracing::field::{Field, Visit};
use tracing::Instrument;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// How a suite reads a statement's result.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    FetchOne,
    FetchOptional,
    FetchAll,
    Execute,
}

const ALL_FORMS: [Form; 4] = [
    Form::FetchOne,
    Form::FetchOptional,
    Form::FetchAll,
    Form::Execute,
];

/// One statement the suite runs inside a scenario of its own.
struct Case {
    sql: &'static str,
    arg: Option<&'static str>,
    forms: &'static [Form],
    action: &'static str,
    /// A count query run after the statement, untraced by any scenario,
    /// and the rows the statement really changed given that count.
    changed: fn(i64) -> i64,
    count: &'static str,
}

/// Three rows, `a` and `b` with `n = 1`, `c` with `n = 2`, before each case.
const SEED: [&str; 4] = [
    "DELETE FROM items",
    "INSERT INTO items (tag, n) VALUES ('a', 1)",
    "INSERT INTO items (tag, n) VALUES ('b', 1)",
    "INSERT INTO items (tag, n) VALUES ('c', 2)",
];

fn cases(sqlite: bool) -> Vec<Case> {
    let mut cases = vec![
        Case {
            sql: "INSERT INTO items (tag, n) VALUES ($1, 1) RETURNING tag",
            arg: Some("new"),
            forms: &ALL_FORMS,
            action: "DB_INSERT",
            count: "SELECT count(*) FROM items",
            changed: |n| n - 3,
        },
        Case {
            sql: "UPDATE items SET n = n + 10 WHERE tag <> $1 RETURNING tag",
            arg: Some("c"),
            forms: &ALL_FORMS,
            action: "DB_UPDATE",
            count: "SELECT count(*) FROM items WHERE n > 10",
            changed: |n| n,
        },
        Case {
            sql: "DELETE FROM items WHERE tag <> $1 RETURNING tag",
            arg: Some("c"),
            forms: &ALL_FORMS,
            action: "DB_DELETE",
            count: "SELECT count(*) FROM items",
            changed: |n| 3 - n,
        },
        Case {
            sql: "DELETE FROM items RETURNING tag",
            arg: None,
            forms: &ALL_FORMS,
            action: "DB_CLEANUP",
            count: "SELECT count(*) FROM items",
            changed: |n| 3 - n,
        },
        // `a` exists: nothing is inserted and nothing returned
        // (`fetch_one` would fail with RowNotFound, so a suite does not use it).
        Case {
            sql: "INSERT INTO items (tag, n) VALUES ($1, 1) ON CONFLICT DO NOTHING RETURNING tag",
            arg: Some("a"),
            forms: &[Form::FetchOptional, Form::FetchAll, Form::Execute],
            action: "DB_INSERT",
            count: "SELECT count(*) FROM items",
            changed: |n| n - 3,
        },
        Case {
            sql: "INSERT INTO items (tag, n) VALUES ($1, 1) ON CONFLICT DO NOTHING",
            arg: Some("a"),
            forms: &[Form::Execute],
            action: "DB_INSERT",
            count: "SELECT count(*) FROM items",
            changed: |n| n - 3,
        },
        // A plain write keeps sqlx's rows_affected.
        Case {
            sql: "UPDATE items SET n = n + 10 WHERE tag <> $1",
            arg: Some("c"),
            forms: &[Form::Execute],
            action: "DB_UPDATE",
            count: "SELECT count(*) FROM items WHERE n > 10",
            changed: |n| n,
        },
    ];
    if sqlite {
        cases.push(Case {
            sql: "INSERT OR IGNORE INTO items (tag, n) VALUES ($1, 1) RETURNING tag",
            arg: Some("a"),
            forms: &[Form::FetchOptional, Form::FetchAll, Form::Execute],
            action: "DB_INSERT",
            count: "SELECT count(*) FROM items",
            changed: |n| n - 3,
        });
        cases.push(Case {
            sql: "INSERT OR IGNORE INTO items (tag, n) VALUES ($1, 1)",
            arg: Some("a"),
            forms: &[Form::Execute],
            action: "DB_INSERT",
            count: "SELECT count(*) FROM items",
            changed: |n| n - 3,
        });
    }
    cases
}

/// What sqlx itself reported for one statement.
#[derive(Clone, Debug, Default)]
struct SqlxCounts {
    text: String,
    rows_affected: Option<u64>,
    rows_returned: Option<u64>,
}

impl Visit for SqlxCounts {
    fn record_str(&mut self, field: &Field, value: &str) {
        // sqlx puts the text in `db.statement`, left empty when the text
        // is at most four words and so all in `summary`.
        match field.name() {
            "db.statement" if !value.trim().is_empty() => self.text = value.trim().to_owned(),
            "summary" if self.text.is_empty() => self.text = value.trim().to_owned(),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "rows_affected" => self.rows_affected = Some(value),
            "rows_returned" => self.rows_returned = Some(value),
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

static SQLX_EVENTS: Mutex<Vec<SqlxCounts>> = Mutex::new(Vec::new());

/// Keeps sqlx's own counts beside the trace, to compare what sqlx said
/// with what the tracer recorded.
struct SqlxCountsLayer;

impl<S: tracing::Subscriber> Layer<S> for SqlxCountsLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            let mut counts = SqlxCounts::default();
            event.record(&mut counts);
            SQLX_EVENTS.lock().unwrap().push(counts);
        }
    }
}

/// One global subscriber per test binary: the state layer writing into a
/// fresh folder, and the layer keeping sqlx's counts.
fn trace_dir() -> &'static std::path::Path {
    use std::sync::OnceLock;
    static DIR: OnceLock<(tempfile::TempDir, state_tracer::TraceGuard)> = OnceLock::new();
    let (dir, _guard) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (layer, guard) = state_tracer::StateLayer::builder()
            .dir(dir.path())
            .run_id("returning")
            .build()
            .unwrap();
        // The state layer first: once sqlx's counts are seen, the
        // statement's record is written.
        let subscriber = tracing_subscriber::registry()
            .with(layer)
            .with(SqlxCountsLayer);
        tracing::subscriber::set_global_default(subscriber).unwrap();
        (dir, guard)
    });
    dir.path()
}

/// The two tests share the sqlx-counts list, so they take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// sqlx's counts for `sql`. SQLite's worker thread reports a statement
/// when it drops its cursor, which can be just after the caller got its
/// rows, so this waits a little for it.
async fn sqlx_counts_of(sql: &str) -> SqlxCounts {
    for _ in 0..200 {
        if let Some(c) = SQLX_EVENTS
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|c| c.text == sql)
        {
            return c.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sqlx reported no event for {sql}");
}

async fn run_form<DB>(pool: &Pool<DB>, sql: &'static str, arg: Option<&'static str>, form: Form)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    &'static str: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query::<DB>(sql);
    if let Some(arg) = arg {
        query = query.bind(arg);
    }
    match form {
        Form::FetchOne => drop(query.fetch_one(pool).await.unwrap()),
        Form::FetchOptional => drop(query.fetch_optional(pool).await.unwrap()),
        Form::FetchAll => drop(query.fetch_all(pool).await.unwrap()),
        Form::Execute => drop(query.execute(pool).await.unwrap()),
    }
}

/// One observed statement: what it really changed, what sqlx said, and
/// what the trace recorded.
#[derive(Debug)]
struct Observed {
    scenario: String,
    changed: i64,
    sqlx: SqlxCounts,
}

/// Runs every case in every form, each in a scenario of its own, and
/// returns what the database says each changed, with sqlx's counts.
async fn run_cases<DB>(pool: &Pool<DB>, db: &str, sqlite: bool) -> Vec<Observed>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    &'static str: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    i64: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let mut observed = Vec::new();
    for (i, case) in cases(sqlite).iter().enumerate() {
        for form in case.forms {
            for sql in SEED {
                sqlx::query::<DB>(sql).execute(pool).await.unwrap();
            }
            SQLX_EVENTS.lock().unwrap().clear();
            let scenario_name = format!("{db} {i} {form:?} {}", case.sql);
            let scenario = state_tracer::scenario("returning", &scenario_name);
            run_form(pool, case.sql, case.arg, *form)
                .instrument(scenario.span().clone())
                .await;
            drop(scenario);
            let sqlx = sqlx_counts_of(case.sql).await;
            let n: i64 = sqlx::query_scalar::<DB, i64>(case.count)
                .fetch_one(pool)
                .await
                .unwrap();
            observed.push(Observed {
                scenario: scenario_name,
                changed: (case.changed)(n),
                sqlx,
            });
        }
    }
    observed
}

/// Checks the trace against what the database said, printing one line per
/// statement (`cargo test … -- --nocapture` shows the table).
fn check(observed: &[Observed], sqlite: bool) {
    let trace = only_trace(trace_dir());
    let mut wrong = Vec::new();
    for o in observed {
        let events = trace.of_scenario(&o.scenario);
        let db_events: Vec<_> = events
            .iter()
            .filter(|e| e.action.as_str().starts_with("DB_"))
            .collect();
        assert_eq!(db_events.len(), 1, "{}: {db_events:#?}", o.scenario);
        let e = db_events[0];
        let case = cases(sqlite)
            .into_iter()
            .find(|c| o.scenario.ends_with(c.sql))
            .unwrap();
        assert_eq!(e.action.as_str(), case.action, "{}", o.scenario);
        let recorded = e.rows.map_or(-1, |r| r as i64);
        eprintln!(
            "{:<90} affected={:?} returned={:?} changed={} recorded={}",
            o.scenario,
            o.sqlx.rows_affected.unwrap_or(0),
            o.sqlx.rows_returned.unwrap_or(0),
            o.changed,
            recorded
        );
        // SQLite makes every change at the first step of a RETURNING
        // statement, but sqlx stops counting when fetch_one/fetch_optional
        // stop at the first row: one row is all the event can say.
        let stopped_early = sqlite
            && matches!(
                o.scenario.split(' ').nth(2),
                Some("FetchOne" | "FetchOptional")
            );
        let want = if stopped_early {
            o.changed.min(1)
        } else {
            o.changed
        };
        if recorded != want {
            wrong.push(format!("{}: recorded {recorded}, want {want}", o.scenario));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A plain SELECT keeps the rows sqlx says it returned.
async fn check_select<DB>(pool: &Pool<DB>, db: &str)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    &'static str: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    const SQL: &str = "SELECT tag FROM items WHERE tag <> $1";
    for sql in SEED {
        sqlx::query::<DB>(sql).execute(pool).await.unwrap();
    }
    for form in [Form::FetchAll, Form::FetchOne] {
        SQLX_EVENTS.lock().unwrap().clear();
        let name = format!("{db} select {form:?}");
        let scenario = state_tracer::scenario("returning", &name);
        run_form(pool, SQL, Some("c"), form)
            .instrument(scenario.span().clone())
            .await;
        drop(scenario);
        let sqlx = sqlx_counts_of(SQL).await;
        let trace = only_trace(trace_dir());
        let select = trace
            .of_scenario(&name)
            .into_iter()
            .find(|e| e.action.as_str() == "DB_SELECT")
            .unwrap();
        assert_eq!(select.rows, sqlx.rows_returned, "{name}");
        if form == Form::FetchAll {
            assert_eq!(select.rows, Some(2), "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_returning_rows_are_the_rows_changed() {
    trace_dir();
    let _turn = ONE_AT_A_TIME.lock().await;
    let db_dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        db_dir.path().join("app.db").display()
    );
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE items (tag TEXT PRIMARY KEY, n BIGINT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let observed = run_cases(&pool, "sqlite", true).await;
    check(&observed, true);
    check_select(&pool, "sqlite").await;
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_returning_rows_are_the_rows_changed() {
    trace_dir();
    let _turn = ONE_AT_A_TIME.lock().await;
    let pg = testkit::Postgres::start().expect("start PostgreSQL");
    pg.create_database("app").unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&pg.url_for("app"))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE items (tag text PRIMARY KEY, n bigint NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let observed = run_cases(&pool, "postgres", false).await;
    check(&observed, false);
    check_select(&pool, "postgres").await;
    pool.close().await;
}
