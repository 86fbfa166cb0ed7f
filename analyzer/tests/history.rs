//! Cross-run history on real backends: a SQLite file and a PostgreSQL server
//! the test starts (testkit). Every behaviour is one body run on both. The
//! commands are the real `trace-analyzer` binary, so concurrency means real
//! processes; the row counts are read back with sqlx.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::Utc;
use common::*;
use serde_json::Value;
use state_tracer_format::{Action, Outcome};

const VICTIM: (&str, &str) = ("greet", "Welcome page for a newly registered user");
const POLLUTER: (&str, &str) = ("auth", "A wrong password is refused");

/// How one run of the little suite goes.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// auth's cleanup lands inside the victim's window; the victim fails.
    Polluted,
    /// The victim fails, but auth cleaned up only after it ended: no traced cause.
    FailsAlone,
    /// The cleanup lands inside the victim's window, yet the victim passes.
    Passes,
}

/// Writes run `run` (two processes) into `dir`, starting `at` ms after the fixtures' epoch.
fn write_run(dir: &Path, run: &str, shape: Shape, at: i64) {
    std::fs::create_dir_all(dir).unwrap();
    let outcome = if shape == Shape::Passes {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    let mut greet = Proc::in_run_at(1, "greet", run, at);
    greet
        .start(at, 1, VICTIM.0, VICTIM.1)
        .act(
            at + 10,
            Some(1),
            Action::DbSelect,
            Some(table(None, "users")),
        )
        .act(
            at + 80,
            Some(1),
            Action::DbSelect,
            Some(table(None, "users")),
        )
        .end(at + 100, 1, VICTIM.0, VICTIM.1, outcome)
        .start(at + 110, 2, "greet", "Greeting a registered user")
        .end(
            at + 120,
            2,
            "greet",
            "Greeting a registered user",
            Outcome::Passed,
        );
    let cleanup = if shape == Shape::FailsAlone {
        at + 150
    } else {
        at + 50
    };
    let mut auth = Proc::in_run_at(2, "auth", run, at);
    auth.start(at + 5, 1, POLLUTER.0, POLLUTER.1)
        .act(cleanup, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(cleanup + 10, 1, POLLUTER.0, POLLUTER.1, Outcome::Passed);
    greet.write(dir);
    auth.write(dir);
}

/// Milliseconds from the fixtures' epoch to `days_ago` days before now.
fn days_ago(days: i64) -> i64 {
    (Utc::now() - chrono::Duration::days(days) - t(0)).num_milliseconds()
}

fn analyzer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("TRACE_ANALYZER_HISTORY")
        .output()
        .expect("trace-analyzer runs")
}

fn ok(args: &[&str]) -> String {
    let out = analyzer(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    serde_json::from_str(&ok(&all)).expect("JSON output")
}

/// Exit code 2 and exactly one line on stderr, which is returned.
fn refused(args: &[&str]) -> String {
    let out = analyzer(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

// --- raw access for checks, with sqlx -------------------------------------

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn is_pg(url: &str) -> bool {
    url.starts_with("postgres")
}

fn scalar(url: &str, sql: &str) -> i64 {
    block_on(async {
        if is_pg(url) {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        } else {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    })
}

fn exec(url: &str, sql: &str) {
    block_on(async {
        if is_pg(url) {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
        } else {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
    })
}

fn count(url: &str, table: &str) -> i64 {
    scalar(url, &format!("SELECT COUNT(*) FROM {table}"))
}

fn table_exists(url: &str, name: &str) -> bool {
    let sql = if is_pg(url) {
        format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '{name}'")
    } else {
        format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{name}'")
    };
    scalar(url, &sql) > 0
}

// --- the two backends -----------------------------------------------------

/// A fresh, empty database on one backend, kept alive by the guard.
struct Db {
    url: String,
    _pg: Option<testkit::Postgres>,
    _dir: tempfile::TempDir,
}

impl Db {
    fn path(&self) -> &Path {
        self._dir.path()
    }
}

fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.sqlite");
    Db {
        url: format!("sqlite://{}", file.display()),
        _pg: None,
        _dir: dir,
    }
}

fn postgres() -> Db {
    let pg = testkit::Postgres::start().expect("start PostgreSQL");
    pg.create_database("history").unwrap();
    Db {
        url: pg.url_for("history"),
        _pg: Some(pg),
        _dir: tempfile::tempdir().unwrap(),
    }
}

/// Six runs: three polluted failures, one failure without a traced cause, two passes.
fn six_runs(root: &Path) -> PathBuf {
    let dir = root.join("traces");
    let shapes = [
        Shape::Polluted,
        Shape::Passes,
        Shape::Polluted,
        Shape::FailsAlone,
        Shape::Passes,
        Shape::Polluted,
    ];
    for (i, s) in shapes.iter().enumerate() {
        write_run(&dir, &format!("run-{i}"), *s, days_ago(6 - i as i64));
    }
    dir
}

// --- bodies ---------------------------------------------------------------

fn add_and_query_then_add_again(db: &Db) {
    let traces = six_runs(db.path());
    let dir = traces.to_str().unwrap();
    let url = db.url.as_str();
    let out = ok(&[
        "history",
        "add",
        dir,
        "--all-runs",
        "--db",
        url,
        "--rev",
        "abc123",
        "--label",
        "os=linux",
    ]);
    assert_eq!(out.matches("added run").count(), 6, "{out}");

    let flaky = json(&["history", "flaky", "--db", url]);
    let list = flaky["flaky"].as_array().unwrap();
    assert_eq!(
        list.len(),
        1,
        "only the victim both passed and failed: {flaky:#}"
    );
    let v = &list[0];
    assert_eq!(
        (v["feature"].as_str(), v["scenario"].as_str()),
        (Some(VICTIM.0), Some(VICTIM.1))
    );
    assert_eq!(
        (
            v["runs"].as_i64(),
            v["failures"].as_i64(),
            v["passes"].as_i64()
        ),
        (Some(6), Some(4), Some(2))
    );
    assert_eq!(v["unexplained"], 1, "{v:#}");
    let cause = &v["causes"][0];
    assert_eq!(
        (cause["feature"].as_str(), cause["scenario"].as_str()),
        (Some(POLLUTER.0), Some(POLLUTER.1))
    );
    assert_eq!(cause["rule"], "concurrent-mutation");
    assert_eq!(cause["failures"], 3, "{v:#}");
    assert!(
        cause["resource"].as_str().unwrap().contains("public"),
        "{cause}"
    );
    assert_eq!(flaky["runs"], 6);

    // The sentence, in the table.
    let table = ok(&["history", "flaky", "--db", url]);
    assert!(
        table.contains(&format!(
            "{}: '{}' failed 4 of 6 runs; 3 explained by {}: '{}' (concurrent-mutation on public/*); 1 unexplained",
            VICTIM.0, VICTIM.1, POLLUTER.0, POLLUTER.1
        )),
        "{table}"
    );
    assert!(table.contains("1 unexplained"), "{table}");

    let pairs = json(&["history", "pairs", "--db", url]);
    let top = &pairs["pairs"][0];
    assert_eq!(
        (top["polluter"].as_str(), top["victim"].as_str()),
        (Some(POLLUTER.1), Some(VICTIM.1)),
        "{pairs:#}"
    );
    assert_eq!(top["caused"], 3, "{pairs:#}");
    assert_eq!(
        top["overlapped_passed"], 2,
        "the two passing runs overlapped too: {pairs:#}"
    );

    let runs = json(&["history", "runs", "--db", url]);
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    assert_eq!(runs[0]["run_id"], "run-5", "newest first");
    assert_eq!(runs[0]["rev"], "abc123");
    assert_eq!(runs[0]["labels"]["os"], "linux");
    assert_eq!(runs[0]["failed"], 1);
    // --rev and --since narrow the window.
    assert_eq!(
        json(&["history", "runs", "--db", url, "--rev", "other"])["runs"],
        serde_json::json!([])
    );
    assert_eq!(
        json(&["history", "runs", "--db", url, "--since", "4d"])["runs"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Adding again changes nothing.
    let before = [
        count(url, "runs"),
        count(url, "scenario_runs"),
        count(url, "findings"),
        count(url, "processes"),
    ];
    assert_eq!(before[..2], [6, 18]);
    let again = ok(&["history", "add", dir, "--all-runs", "--db", url]);
    assert_eq!(again.matches("already stored").count(), 6, "{again}");
    let after = [
        count(url, "runs"),
        count(url, "scenario_runs"),
        count(url, "findings"),
        count(url, "processes"),
    ];
    assert_eq!(before, after);
    assert_eq!(
        json(&["history", "flaky", "--db", url])["flaky"],
        flaky["flaky"]
    );
}

fn empty_database_is_migrated_foreign_and_newer_ones_are_refused(db: &Db, foreign: &Db) {
    let url = db.url.as_str();
    if !is_pg(url) {
        std::fs::write(url.trim_start_matches("sqlite://"), b"").unwrap(); // an empty file
    }
    ok(&["history", "runs", "--db", url]);
    assert!(table_exists(url, "runs") && table_exists(url, "history_meta"));
    assert_eq!(scalar(url, "SELECT MAX(version) FROM _sqlx_migrations"), 1);

    // A schema from the future: refused, nothing written.
    exec(
        url,
        if is_pg(url) {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (2, 'from the future', TRUE, '\\x00'::bytea, 0)"
        } else {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (2, 'from the future', TRUE, X'00', 0)"
        },
    );
    let traces = db.path().join("one");
    write_run(&traces, "run-x", Shape::Polluted, days_ago(1));
    let err = refused(&["history", "add", traces.to_str().unwrap(), "--db", url]);
    assert!(err.contains("newer") && err.contains("version 2"), "{err}");
    assert_eq!(count(url, "runs"), 0);

    // Somebody else's database: refused, left as it was.
    let furl = foreign.url.as_str();
    if !is_pg(furl) {
        std::fs::File::create(furl.trim_start_matches("sqlite://")).unwrap();
    }
    exec(
        furl,
        "CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT)",
    );
    let err = refused(&["history", "add", traces.to_str().unwrap(), "--db", furl]);
    assert!(
        err.contains("not a trace-analyzer history database") && err.contains("customers"),
        "{err}"
    );
    assert!(!table_exists(furl, "_sqlx_migrations") && !table_exists(furl, "runs"));
    let err = refused(&["history", "flaky", "--db", furl]);
    assert!(
        err.contains("not a trace-analyzer history database"),
        "{err}"
    );
}

fn prune_removes_old_runs_and_all_their_rows(db: &Db) {
    let url = db.url.as_str();
    let traces = db.path().join("traces");
    for (i, age) in [60, 45, 31, 10, 2].iter().enumerate() {
        write_run(
            &traces,
            &format!("aged-{i}"),
            Shape::Polluted,
            days_ago(*age),
        );
    }
    ok(&[
        "history",
        "add",
        traces.to_str().unwrap(),
        "--all-runs",
        "--db",
        url,
    ]);
    assert_eq!(count(url, "runs"), 5);
    let out = ok(&["history", "prune", "--older-than", "30d", "--db", url]);
    assert!(out.contains("removed 3 runs"), "{out}");
    let runs = json(&["history", "runs", "--db", url, "--since", "all"]);
    let ids: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["aged-4", "aged-3"]);
    assert_eq!(count(url, "scenario_runs"), 2 * 3);
    assert_eq!(count(url, "processes"), 2 * 2);
    assert_eq!(
        scalar(
            url,
            "SELECT COUNT(*) FROM findings WHERE run NOT IN (SELECT id FROM runs)"
        ),
        0
    );
    assert!(
        ok(&["history", "prune", "--older-than", "30d", "--db", url]).contains("removed 0 runs")
    );
}

fn report_history_annotates_each_likely_cause(db: &Db) {
    let url = db.url.as_str();
    let earlier = db.path().join("earlier");
    for (i, s) in [
        Shape::Polluted,
        Shape::Passes,
        Shape::Polluted,
        Shape::Polluted,
    ]
    .iter()
    .enumerate()
    {
        write_run(
            &earlier,
            &format!("earlier-{i}"),
            *s,
            days_ago(5 - i as i64),
        );
    }
    ok(&[
        "history",
        "add",
        earlier.to_str().unwrap(),
        "--all-runs",
        "--db",
        url,
    ]);
    let now = db.path().join("now");
    write_run(&now, "today", Shape::Polluted, days_ago(0));
    let dir = now.to_str().unwrap();
    let plain = analyzer(&["report", dir, "--format", "json"]);
    let history_flag = format!("--history={url}");
    let with = analyzer(&["report", dir, "--format", "json", &history_flag]);
    assert_eq!(
        with.status.code(),
        plain.status.code(),
        "the verdict is unchanged"
    );
    let report: Value = serde_json::from_slice(&with.stdout).unwrap();
    let cause = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["likely_cause"] == true)
        .expect("a likely cause");
    assert_eq!(
        cause["history"],
        serde_json::json!({"victim_runs": 4, "victim_failures": 3, "same_cause": 3}),
        "{cause:#}"
    );
    // Without --history the JSON has no new member.
    let plain: Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(plain["findings"][0].get("history").is_none());
    // The run was stored on the way; reporting it again re-uses it.
    assert_eq!(count(url, "runs"), 5);
    let table = analyzer(&["report", dir, &history_flag]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("History: also the cause in 3 of this victim's 3 earlier failures (3 of 4 earlier runs failed)"), "{text}");
    let md = analyzer(&["report", dir, "--format", "markdown", &history_flag]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("History: also the cause in 3 of"));
    let html = analyzer(&["report", dir, "--format", "html", &history_flag]);
    assert!(
        String::from_utf8_lossy(&html.stdout).contains("also the cause in 3 of this victim"),
        "the HTML page carries the history of its likely cause"
    );
    assert_eq!(count(url, "runs"), 5);
}

/// Enough first users of one new SQLite file that, without retrying a lock
/// SQLite refuses at once, one of them failed with "database is locked"
/// (measured: 14 of 15 rounds of 24 writers).
const WRITERS: i64 = 24;

fn concurrent_writers_lose_and_duplicate_nothing(db: &Db) {
    let url = db.url.as_str();
    let dirs: Vec<PathBuf> = (0..WRITERS)
        .map(|i| {
            let d = db.path().join(format!("run-{i}"));
            let shape = if i % 3 == 0 {
                Shape::Passes
            } else {
                Shape::Polluted
            };
            write_run(
                &d,
                &format!("parallel-{i:02}"),
                shape,
                days_ago(1) + i * 1000,
            );
            d
        })
        .collect();
    let add_all = || {
        let children: Vec<_> = dirs
            .iter()
            .map(|d| {
                Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
                    .args(["history", "add", d.to_str().unwrap(), "--db", url])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap()
            })
            .collect::<Vec<_>>()
    };
    let first = add_all();
    assert!(
        first.iter().all(|o| o.starts_with("added run")),
        "{first:?}"
    );
    let counts = || {
        [
            count(url, "runs"),
            count(url, "scenario_runs"),
            count(url, "processes"),
            count(url, "findings"),
            count(url, "scenarios"),
        ]
    };
    let after_first = counts();
    assert_eq!(after_first[..3], [WRITERS, WRITERS * 3, WRITERS * 2]);
    assert_eq!(after_first[4], 3, "each scenario name stored once");
    let second = add_all();
    assert!(
        second.iter().all(|o| o.starts_with("already stored")),
        "{second:?}"
    );
    assert_eq!(counts(), after_first);
    let flaky = json(&["history", "flaky", "--db", url]);
    assert_eq!(flaky["flaky"][0]["runs"], WRITERS);
    // Every third run passes (`Shape::Passes`), the others fail.
    assert_eq!(flaky["flaky"][0]["failures"], WRITERS - (WRITERS + 2) / 3);
}

/// A synthetic run big enough that `history add` spends a while inside its
/// transaction (thousands of scenario rows, several findings), in v1.
fn big_run(root: &Path) -> PathBuf {
    let dir = root.join("big");
    ok(&[
        "gen",
        "--dir",
        dir.to_str().unwrap(),
        "--processes",
        "8",
        "--records",
        "12500",
        "--scenario-len",
        "10",
        "--pollutions",
        "4",
        "--format",
        "v1",
        "--run-id",
        "big-run",
    ]);
    dir.join("v1")
}

fn spawn_add(run: &Path, url: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(["history", "add", run.to_str().unwrap(), "--db", url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Rows `history add` writes for one run, per table.
const RUN_TABLES: [&str; 4] = ["runs", "processes", "scenario_runs", "findings"];

fn run_rows(url: &str) -> Vec<i64> {
    RUN_TABLES.iter().map(|t| count(url, t)).collect()
}

/// `history add` killed with SIGKILL at spread moments of its work: every
/// time, the database holds the whole run or none of it, and a later `add`
/// completes it. The complete row counts come from an `add` into a
/// database of its own.
fn a_killed_add_leaves_the_whole_run_or_none_of_it(db: &Db, reference: &Db) {
    let run = big_run(db.path());
    let t0 = std::time::Instant::now();
    ok(&[
        "history",
        "add",
        run.to_str().unwrap(),
        "--db",
        &reference.url,
    ]);
    let full = run_rows(&reference.url);
    assert_eq!(full[0], 1);
    assert!(full[2] > 5_000 && full[3] > 0, "a big run: {full:?}");
    let took = t0.elapsed();
    let url = db.url.as_str();
    // An empty, migrated database to start from (a write creates it; a
    // read never does).
    ok(&["history", "prune", "--older-than", "1000w", "--db", url]);
    let mut killed = 0;
    for k in 1..=6u32 {
        if run_rows(url)[0] == 1 {
            break;
        }
        let mut child = spawn_add(&run, url);
        std::thread::sleep(took * k / 7);
        // SIGKILL: no destructor, no rollback by the process itself.
        let _ = child.kill();
        let status = child.wait().unwrap();
        let rows = run_rows(url);
        assert!(
            rows == full || rows.iter().all(|&n| n == 0),
            "killed after {:?} ({status}): rows {rows:?}, complete {full:?}",
            took * k / 7
        );
        use std::os::unix::process::ExitStatusExt;
        killed += usize::from(status.signal() == Some(libc::SIGKILL));
        if !is_pg(url) {
            let check = block_on(async {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            });
            assert_eq!(check, "ok", "SQLite file intact after the kill");
        }
    }
    assert!(killed > 0, "no add was still working when killed");
    let out = ok(&["history", "add", run.to_str().unwrap(), "--db", url]);
    assert!(
        out.starts_with("added run") || out.starts_with("already stored"),
        "{out}"
    );
    assert_eq!(run_rows(url), full);
}

/// The same on PostgreSQL, made certain to strike inside the transaction:
/// the test locks `findings`, which `add` writes last, waits until the
/// `add` is blocked on that lock with everything else written, and kills
/// it there. The server rolls its transaction back: nothing of the run is
/// left, and the next `add` stores all of it.
fn an_add_killed_inside_its_transaction_writes_nothing(db: &Db) {
    let url = db.url.clone();
    let run = big_run(db.path());
    ok(&["history", "runs", "--db", &url]);
    block_on(async {
        use sqlx::Connection;
        let mut lock = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
        sqlx::query("LOCK TABLE findings IN ACCESS EXCLUSIVE MODE")
            .execute(&mut lock)
            .await
            .unwrap();
        let mut child = spawn_add(&run, &url);
        let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
        let waiting = "SELECT COUNT(*) FROM pg_stat_activity \
                       WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO findings%'";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let n: i64 = sqlx::query_scalar(waiting)
                .fetch_one(&mut watch)
                .await
                .unwrap();
            if n == 1 {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "add ended before it reached the locked table"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "add never blocked on findings"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Everything but the findings is written, uncommitted: kill it now.
        child.kill().unwrap();
        child.wait().unwrap();
        // Its server process, still waiting for the lock, learns that the
        // client is gone only once it runs again: release the lock, and
        // it ends, rolling back.
        sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
        let gone = "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO findings%'";
        while sqlx::query_scalar::<_, i64>(gone)
            .fetch_one(&mut watch)
            .await
            .unwrap()
            > 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the killed add's server process stayed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    assert_eq!(run_rows(&url), vec![0, 0, 0, 0]);
    assert_eq!(count(&url, "scenarios"), 0, "no scenario name kept either");
    let out = ok(&["history", "add", run.to_str().unwrap(), "--db", &url]);
    assert!(out.starts_with("added run"), "{out}");
    let rows = run_rows(&url);
    assert_eq!(rows[0], 1);
    assert!(rows[2] > 5_000 && rows[3] > 0, "{rows:?}");
}

// --- one test per body and backend ----------------------------------------

#[test]
fn sqlite_add_and_query_then_add_again() {
    add_and_query_then_add_again(&sqlite());
}

#[test]
fn postgres_add_and_query_then_add_again() {
    add_and_query_then_add_again(&postgres());
}

#[test]
fn sqlite_empty_database_is_migrated_foreign_and_newer_ones_are_refused() {
    empty_database_is_migrated_foreign_and_newer_ones_are_refused(&sqlite(), &sqlite());
}

#[test]
fn postgres_empty_database_is_migrated_foreign_and_newer_ones_are_refused() {
    let db = postgres();
    db._pg
        .as_ref()
        .unwrap()
        .create_database("other_app")
        .unwrap();
    let foreign = Db {
        url: db._pg.as_ref().unwrap().url_for("other_app"),
        _pg: None,
        _dir: tempfile::tempdir().unwrap(),
    };
    empty_database_is_migrated_foreign_and_newer_ones_are_refused(&db, &foreign);
}

#[test]
fn sqlite_prune_removes_old_runs_and_all_their_rows() {
    prune_removes_old_runs_and_all_their_rows(&sqlite());
}

#[test]
fn postgres_prune_removes_old_runs_and_all_their_rows() {
    prune_removes_old_runs_and_all_their_rows(&postgres());
}

#[test]
fn sqlite_report_history_annotates_each_likely_cause() {
    report_history_annotates_each_likely_cause(&sqlite());
}

#[test]
fn postgres_report_history_annotates_each_likely_cause() {
    report_history_annotates_each_likely_cause(&postgres());
}

#[test]
fn sqlite_concurrent_writers_lose_and_duplicate_nothing() {
    concurrent_writers_lose_and_duplicate_nothing(&sqlite());
}

#[test]
fn postgres_concurrent_writers_lose_and_duplicate_nothing() {
    concurrent_writers_lose_and_duplicate_nothing(&postgres());
}

#[test]
fn sqlite_a_killed_add_leaves_the_whole_run_or_none_of_it() {
    a_killed_add_leaves_the_whole_run_or_none_of_it(&sqlite(), &sqlite());
}

#[test]
fn postgres_a_killed_add_leaves_the_whole_run_or_none_of_it() {
    let db = postgres();
    db._pg
        .as_ref()
        .unwrap()
        .create_database("reference")
        .unwrap();
    let reference = Db {
        url: db._pg.as_ref().unwrap().url_for("reference"),
        _pg: None,
        _dir: tempfile::tempdir().unwrap(),
    };
    a_killed_add_leaves_the_whole_run_or_none_of_it(&db, &reference);
}

#[test]
fn postgres_an_add_killed_inside_its_transaction_writes_nothing() {
    an_add_killed_inside_its_transaction_writes_nothing(&postgres());
}

// --- bad input: one clear line, exit code 2, no password ------------------

#[test]
fn bad_databases_get_one_clear_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("t");
    write_run(&traces, "bad-input", Shape::Polluted, days_ago(1));
    let t = traces.to_str().unwrap();

    let err = refused(&[
        "history",
        "add",
        t,
        "--db",
        "mysql://ci:hunter22@db/history",
    ]);
    assert!(
        err.contains("unsupported scheme") && !err.contains("hunter22"),
        "{err}"
    );

    let err = refused(&[
        "history",
        "flaky",
        "--db",
        "postgres://ci:hunter22@127.0.0.1:1/history",
    ]);
    assert!(
        err.contains("cannot connect") && err.contains("ci:***@") && !err.contains("hunter22"),
        "{err}"
    );

    let corrupt = dir.path().join("corrupt.sqlite");
    std::fs::write(&corrupt, vec![b'x'; 8192]).unwrap();
    let err = refused(&["history", "add", t, "--db", corrupt.to_str().unwrap()]);
    assert!(err.contains("not an SQLite database"), "{err}");
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        vec![b'x'; 8192],
        "left as it was"
    );

    let good = dir.path().join("good.sqlite");
    // A read never creates the database.
    let err = refused(&["history", "runs", "--db", good.to_str().unwrap()]);
    assert!(err.contains("no history database here yet"), "{err}");
    assert!(!good.exists());
    let other = tempfile::tempdir().unwrap();
    let other_t = other.path().join("t");
    write_run(&other_t, "other", Shape::Polluted, days_ago(1));
    ok(&[
        "history",
        "add",
        other_t.to_str().unwrap(),
        "--db",
        good.to_str().unwrap(),
    ]);
    let beside = |db: &std::path::Path| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(db.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("good.sqlite"))
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        beside(&good),
        ["good.sqlite"],
        "a write cleans up its -wal and -shm"
    );
    let ro = format!("sqlite://{}?mode=ro", good.display());
    let err = refused(&["history", "add", t, "--db", &ro]);
    assert!(err.contains("read-only"), "{err}");
    // Reading a read-only history works, and creates nothing.
    assert!(ok(&["history", "runs", "--db", &ro, "--since", "all"]).contains("other"));
    ok(&["history", "flaky", "--db", &ro]);
    assert_eq!(
        beside(&good),
        ["good.sqlite"],
        "a read-only read creates nothing"
    );

    // Empty and path-less URLs, and device files, are refused.
    for db in [
        "",
        "sqlite://",
        "sqlite:",
        "sqlite://?mode=ro",
        "sqlite::memory:",
    ] {
        let err = refused(&["history", "add", t, "--db", db]);
        assert!(err.contains("history database"), "{db:?}: {err}");
    }
    let err = refused(&["history", "add", t, "--db", "sqlite:/dev/null"]);
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!std::path::Path::new("/dev/null-journal").exists());

    let missing_dir = format!("sqlite://{}/no/such/dir/h.sqlite", dir.path().display());
    let err = refused(&["history", "runs", "--db", &missing_dir]);
    assert!(err.contains("history database"), "{err}");
}

#[test]
fn a_failing_history_write_warns_and_keeps_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("t");
    write_run(&traces, "verdict", Shape::Polluted, days_ago(1));
    let t = traces.to_str().unwrap();
    let plain = analyzer(&["report", t]);
    let broken = analyzer(&[
        "report",
        t,
        "--history=postgres://ci:hunter22@127.0.0.1:1/h",
    ]);
    assert_eq!(broken.status.code(), plain.status.code());
    assert_eq!(
        plain.status.code(),
        Some(1),
        "the polluted run has an error finding"
    );
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(
        err.contains("warning: history not updated") && !err.contains("hunter22"),
        "{err}"
    );
}

#[test]
fn the_default_database_lives_under_xdg_data_home() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("t");
    write_run(&traces, "default-db", Shape::Polluted, days_ago(1));
    let out = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(["history", "add", traces.to_str().unwrap()])
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env_remove("TRACE_ANALYZER_HISTORY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.path().join("data/trace-analyzer/history.sqlite");
    assert!(file.is_file());
    let url = format!("sqlite://{}", file.display());
    assert_eq!(count(&url, "runs"), 1);
    assert_eq!(
        scalar(
            &url,
            "SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"
        ),
        1
    );
    // TRACE_ANALYZER_HISTORY overrides it.
    let other = dir.path().join("other.sqlite");
    let out = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(["history", "add", traces.to_str().unwrap()])
        .env("TRACE_ANALYZER_HISTORY", &other)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(other.is_file());
}

/// `history add demo-output`: the demo's layout
/// (`demo-output/<stamp>/attempt-N/traces/`) is found; a folder with no
/// traces is refused with where discovery looked.
#[test]
fn sqlite_history_add_finds_the_demo_output_folder() {
    let db = sqlite();
    let root = tempfile::tempdir().unwrap();
    let demo = root.path().join("demo-output");
    write_run(
        &demo.join("20261207T101010Z/attempt-2/traces"),
        "demo-20261207T101010-2",
        Shape::Polluted,
        0,
    );
    let said = ok(&["history", "add", demo.to_str().unwrap(), "--db", &db.url]);
    assert_eq!(count(&db.url, "runs"), 1, "{said}");
    let empty = root.path().join("empty/a");
    std::fs::create_dir_all(&empty).unwrap();
    let err = refused(&[
        "history",
        "add",
        empty.parent().unwrap().to_str().unwrap(),
        "--db",
        &db.url,
    ]);
    assert!(
        err.contains("no trace files found in")
            && err.contains("searched 5 folder levels deep: 2 folders, 0 files"),
        "{err}"
    );
}
