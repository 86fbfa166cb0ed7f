//! `#[state_tracer::test]` traces a test with no other code: sync, async on
//! tokio's current-thread and multi-thread runtimes (with a spawned task),
//! `?` and `return` in bodies, panic → FAILED, `Err` → FAILED,
//! `#[should_panic]` → libtest's verdict (either side of the attribute),
//! footer at exit, and nothing at all with tracing off.
//!
//! The annotated tests in `inner` are the subjects: ignored, and inert
//! unless the outer tests run this binary again with `ATTR_INNER_DB` set to
//! a SQLite file. They run concurrently (several scenarios open at once),
//! so every record's scenario comes from the span the attribute carries,
//! never from the "only one scenario open" fallback.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use state_tracer::format::{Action, Outcome};

const DB_ENV: &str = "ATTR_INNER_DB";

mod inner {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use tracing::Instrument as _;

    /// The subject tests run only when the outer test asks for them.
    pub fn db_url() -> Option<String> {
        std::env::var(super::DB_ENV)
            .ok()
            .map(|p| format!("sqlite://{p}?mode=rwc"))
    }

    /// Waits (a bounded while) until the three attributed tests have all
    /// started, so their scenarios are open at the same time.
    fn rendezvous(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(20);
        while counter.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    static DONE: AtomicUsize = AtomicUsize::new(0);

    async fn own_table(url: &str, table: &str) -> Result<sqlx::SqlitePool, sqlx::Error> {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, v TEXT)"
        ))
        .execute(&pool)
        .await?;
        sqlx::query(&format!("INSERT INTO {table} (v) VALUES (?)"))
            .bind("x")
            .execute(&pool)
            .await?;
        Ok(pool)
    }

    #[state_tracer::test]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    fn sync_body() {
        let Some(url) = db_url() else { return };
        rendezvous(&STARTED);
        // Sync code driving its own runtime on this thread.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool = own_table(&url, "t_sync").await.unwrap();
            sqlx::query("SELECT v FROM t_sync")
                .fetch_all(&pool)
                .await
                .unwrap();
        });
        state_tracer::custom("sync-marker", "from the sync test");
        rendezvous(&DONE);
    }

    #[state_tracer::test(tokio::test)]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    async fn async_current_thread() -> Result<(), sqlx::Error> {
        let Some(url) = db_url() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(|| rendezvous(&STARTED))
            .await
            .unwrap();
        let pool = own_table(&url, "t_current").await?; // `?` keeps its meaning
        sqlx::query("UPDATE t_current SET v = 'y'")
            .execute(&pool)
            .await?;
        tokio::task::spawn_blocking(|| rendezvous(&DONE))
            .await
            .unwrap();
        Ok(())
    }

    #[state_tracer::test(tokio::test(flavor = "multi_thread", worker_threads = 2))]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    async fn async_multi_thread() {
        let Some(url) = db_url() else { return };
        tokio::task::spawn_blocking(|| rendezvous(&STARTED))
            .await
            .unwrap();
        let pool = own_table(&url, "t_multi").await.unwrap();
        // A spawned task keeps the test's scenario when it carries the span.
        let task = tokio::spawn(
            async move {
                sqlx::query("DELETE FROM t_multi")
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            .in_current_span(),
        );
        task.await.unwrap();
        tokio::task::spawn_blocking(|| rendezvous(&DONE))
            .await
            .unwrap();
    }

    #[state_tracer::test]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    fn sync_panics() {
        if db_url().is_some() {
            panic!("sync boom");
        }
    }

    #[state_tracer::test(tokio::test(flavor = "multi_thread"))]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    async fn async_panics() {
        if db_url().is_some() {
            tokio::task::yield_now().await;
            panic!("async boom");
        }
    }

    #[state_tracer::test(tokio::test)]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    async fn async_returns_err() -> Result<(), String> {
        if db_url().is_some() {
            return Err("async err".to_owned());
        }
        Ok(())
    }

    #[state_tracer::test]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    fn sync_returns_err() -> Result<(), std::num::ParseIntError> {
        if db_url().is_some() {
            "not a number".parse::<u32>()?;
        }
        Ok(())
    }

    // `#[should_panic]`, in each of libtest's three forms and on either side
    // of the attribute: the scenario's outcome is libtest's verdict.

    #[state_tracer::test]
    #[should_panic]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    fn should_panic_after() {
        panic!("sync boom as expected");
    }

    #[should_panic(expected = "as expected")]
    #[state_tracer::test(tokio::test(flavor = "multi_thread"))]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    async fn should_panic_before_async() {
        tokio::task::yield_now().await;
        panic!("async boom as expected");
    }

    #[state_tracer::test]
    #[tokio::test]
    #[should_panic = "stacked boom"]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    async fn should_panic_stacked() {
        panic!("stacked boom");
    }

    #[state_tracer::test]
    #[should_panic(expected = "wanted")]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    fn should_panic_other_message() {
        panic!("something else");
    }

    #[should_panic]
    #[state_tracer::test]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    fn should_panic_but_returns() {
        // Panics only when run by hand, so `--ignored` alone stays green.
        if db_url().is_none() {
            panic!("not a subject run");
        }
    }

    /// The attribute's second form: under an existing test attribute.
    #[state_tracer::test]
    #[tokio::test]
    #[ignore = "run by sync_async_panic_and_err_tests_are_traced"]
    async fn stacked_on_tokio_test() {
        state_tracer::custom("stacked", "ok");
    }
}

/// Tasks a test hands to `tokio::spawn` with no `.in_current_span()`,
/// three tests at once: on the default current-thread runtime they run on
/// the test's own thread and are the test's; on a multi-thread runtime
/// they run on its workers, which the tracer cannot tell apart, so their
/// records stay unattributed rather than guessed.
mod spawned {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::inner::db_url;

    static STARTED: AtomicUsize = AtomicUsize::new(0);
    static DONE: AtomicUsize = AtomicUsize::new(0);

    /// Waits (a bounded while) until the three tests got here.
    async fn rendezvous(counter: &'static AtomicUsize) {
        tokio::task::spawn_blocking(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(20);
            while counter.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .await
        .unwrap();
    }

    /// Creates `table` in the test's body, then empties it in a spawned
    /// task, and reads it from another, while all three tests are open.
    async fn spawn_work(url: &str, table: &'static str) {
        rendezvous(&STARTED).await;
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, v TEXT)"
        ))
        .execute(&pool)
        .await
        .unwrap();
        let p = pool.clone();
        tokio::spawn(async move {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&p)
                .await
                .unwrap();
        })
        .await
        .unwrap();
        let reader = tokio::spawn(async move {
            tokio::task::yield_now().await;
            sqlx::query(&format!("SELECT v FROM {table}"))
                .fetch_all(&pool)
                .await
                .unwrap();
        });
        reader.await.unwrap();
        rendezvous(&DONE).await;
    }

    #[state_tracer::test(tokio::test)]
    #[ignore = "run by spawned_tasks_go_to_their_test_or_to_none"]
    async fn current_a() {
        let Some(url) = db_url() else { return };
        spawn_work(&url, "s_a").await;
    }

    #[state_tracer::test]
    #[tokio::test]
    #[ignore = "run by spawned_tasks_go_to_their_test_or_to_none"]
    async fn current_b() {
        let Some(url) = db_url() else { return };
        spawn_work(&url, "s_b").await;
    }

    #[state_tracer::test(tokio::test(flavor = "multi_thread", worker_threads = 2))]
    #[ignore = "run by spawned_tasks_go_to_their_test_or_to_none"]
    async fn multi_c() {
        let Some(url) = db_url() else { return };
        spawn_work(&url, "s_c").await;
    }
}

/// Runs the ignored subject tests in a child process of this binary.
fn run_inner(dir: &std::path::Path, trace: bool) -> std::process::Output {
    run_subjects(dir, trace, "inner::")
}

/// Runs the ignored subject tests matching `filter`, eight at a time.
fn run_subjects(dir: &std::path::Path, trace: bool, filter: &str) -> std::process::Output {
    let db = dir.join("attr.db");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--ignored", "--test-threads=8", filter])
        .env(DB_ENV, &db)
        .env("BDD_TRACE_DIR", dir.join("traces"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BDD_TRACE_") && k != "BDD_TRACE_DIR" || k.starts_with("NEXTEST") {
            cmd.env_remove(k);
        }
    }
    if trace {
        cmd.env("BDD_TRACE_STATE", "1");
    }
    cmd.output().unwrap()
}

#[test]
fn sync_async_panic_and_err_tests_are_traced() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("traces")).unwrap();
    let out = run_inner(tmp.path(), true);
    // The six failing subjects fail the child, as they would without tracing.
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(listing.contains("7 passed; 6 failed"), "{listing}");

    let trace = only_trace(&tmp.path().join("traces"));
    trace.assert_gapless();
    assert!(trace.footer.is_some(), "the exit hook writes the footer");

    // Every subject is one scenario: feature = the test binary, scenario =
    // the test's libtest name, with its outcome and error.
    let mut ends = BTreeMap::new();
    for e in trace
        .events
        .iter()
        .filter(|e| e.action == Action::ScenarioEnd)
    {
        assert_eq!(e.feature.as_deref(), Some("test_attr"));
        ends.insert(
            e.scenario.as_deref().unwrap().to_owned(),
            (e.outcome, e.error.as_deref().unwrap_or("").to_owned()),
        );
    }
    let passed = (Some(Outcome::Passed), String::new());
    let expected = BTreeMap::from([
        ("inner::async_current_thread".to_owned(), passed.clone()),
        ("inner::async_multi_thread".to_owned(), passed.clone()),
        ("inner::stacked_on_tokio_test".to_owned(), passed.clone()),
        ("inner::sync_body".to_owned(), passed.clone()),
        ("inner::should_panic_after".to_owned(), passed.clone()),
        (
            "inner::should_panic_before_async".to_owned(),
            passed.clone(),
        ),
        ("inner::should_panic_stacked".to_owned(), passed),
        (
            "inner::should_panic_other_message".to_owned(),
            (
                Some(Outcome::Failed),
                "panic did not contain expected string: panicked: something else; \
                 expected substring: wanted"
                    .to_owned(),
            ),
        ),
        (
            "inner::should_panic_but_returns".to_owned(),
            (
                Some(Outcome::Failed),
                "test did not panic as expected".to_owned(),
            ),
        ),
        (
            "inner::async_panics".to_owned(),
            (Some(Outcome::Failed), "panicked: async boom".to_owned()),
        ),
        (
            "inner::async_returns_err".to_owned(),
            (Some(Outcome::Failed), "\"async err\"".to_owned()),
        ),
        (
            "inner::sync_panics".to_owned(),
            (Some(Outcome::Failed), "panicked: sync boom".to_owned()),
        ),
        (
            "inner::sync_returns_err".to_owned(),
            (
                Some(Outcome::Failed),
                "ParseIntError { kind: InvalidDigit }".to_owned(),
            ),
        ),
    ]);
    assert_eq!(ends, expected);

    // Each attributed subject's statements carry its scenario, and only its
    // own table; the spawned task's DELETE included.
    for (test, table, actions) in [
        (
            "sync_body",
            "t_sync",
            &["DB_DDL", "DB_INSERT", "DB_SELECT"][..],
        ),
        (
            "async_current_thread",
            "t_current",
            &["DB_DDL", "DB_INSERT", "DB_UPDATE"],
        ),
        (
            "async_multi_thread",
            "t_multi",
            &["DB_DDL", "DB_INSERT", "DB_CLEANUP"], // DELETE without WHERE
        ),
    ] {
        let name = format!("inner::{test}");
        let db: Vec<_> = trace
            .of_scenario(&name)
            .into_iter()
            .filter(|e| e.action.as_str().starts_with("DB_"))
            .collect();
        let seen: Vec<&str> = db.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(seen, actions, "{name}");
        for e in db {
            let tables = &e.resource.as_ref().unwrap().tables;
            assert_eq!(tables.len(), 1, "{e:?}");
            assert_eq!(tables[0], table, "{name}: {e:?}");
        }
    }
    // Nothing that touched the subjects' tables went unattributed.
    for e in &trace.events {
        if e.action.as_str().starts_with("DB_") {
            assert!(e.scenario.is_some(), "unattributed: {e:?}");
        }
    }
    let marker = trace
        .events
        .iter()
        .find(|e| e.action == Action::Custom && e.name.as_deref() == Some("sync-marker"))
        .expect("the sync test's marker");
    assert_eq!(marker.scenario.as_deref(), Some("inner::sync_body"));
}

#[test]
fn with_tracing_off_the_attribute_writes_nothing_and_keeps_outcomes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_inner(tmp.path(), false);
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(listing.contains("7 passed; 6 failed"), "{listing}");
    assert!(
        !tmp.path().join("traces").exists(),
        "no trace folder or file without BDD_TRACE_STATE"
    );
}

#[test]
fn spawned_tasks_go_to_their_test_or_to_none() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("traces")).unwrap();
    let out = run_subjects(tmp.path(), true, "spawned::");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("3 passed"), "{}", stdout(&out));
    let trace = only_trace(&tmp.path().join("traces"));
    trace.assert_gapless();

    // Every statement on a table, with the scenario it was given.
    let mut seen: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    for e in &trace.events {
        let Some(r) = e
            .resource
            .as_ref()
            .filter(|_| e.action.as_str().starts_with("DB_"))
        else {
            continue;
        };
        for t in &r.tables {
            let scenario = e.scenario.as_deref().map(str::to_owned);
            let old = seen.insert(
                (t.to_string(), e.action.as_str().to_owned()),
                scenario.clone(),
            );
            assert!(old.is_none() || old == Some(scenario), "{e:?}");
        }
    }
    let owner = |t: &str| Some(format!("spawned::current_{t}"));
    let expected = BTreeMap::from([
        // Current-thread runtime: the body's and the spawned tasks' alike.
        (("s_a".to_owned(), "DB_DDL".to_owned()), owner("a")),
        (("s_a".to_owned(), "DB_CLEANUP".to_owned()), owner("a")),
        (("s_a".to_owned(), "DB_SELECT".to_owned()), owner("a")),
        (("s_b".to_owned(), "DB_DDL".to_owned()), owner("b")),
        (("s_b".to_owned(), "DB_CLEANUP".to_owned()), owner("b")),
        (("s_b".to_owned(), "DB_SELECT".to_owned()), owner("b")),
        // Multi-thread runtime: the body's own statement is the test's; its
        // spawned tasks ran on workers, with two other tests open: none.
        (
            ("s_c".to_owned(), "DB_DDL".to_owned()),
            Some("spawned::multi_c".to_owned()),
        ),
        (("s_c".to_owned(), "DB_CLEANUP".to_owned()), None),
        (("s_c".to_owned(), "DB_SELECT".to_owned()), None),
    ]);
    assert_eq!(seen, expected);
}
