//! What a user feels: one sqlx statement on an in-memory SQLite database,
//! inside a scenario, with and without tracing.
//!
//! Cases, each the process's global subscriber (as a suite installs it),
//! each in a process of its own:
//! - `none`: no subscriber at all (sqlx then formats no log event);
//! - `line`: state-tracer, `line` mode (one `write(2)` per statement);
//! - `interval`: state-tracer, `interval:100ms`;
//! - `fmt-json`: `tracing_subscriber::fmt().json()` at DEBUG to a `File`,
//!   the reference (it also logs every statement);
//! - `noop-layer`: a layer that enables what state-tracer enables (sqlx's
//!   statements, `bdd_state` spans) and does nothing with them: what
//!   turning the event and the spans on costs before any layer works.
//!
//! Statements: `SELECT` of one row by primary key (of 1,000 rows) and an
//! `INSERT` with three binds, each awaited in a scenario instrumented with
//! `Scenario::instrument`. sqlx runs SQLite on a worker thread of its own
//! and emits its `sqlx::query` event there, inside the caller's span. Two
//! times per statement: the process's CPU time (all threads: the caller,
//! sqlx's worker, the interval flusher), which is the work tracing adds
//! and holds up on a loaded machine; and wall time as the awaiting task
//! sees it, which on an idle machine is what a user feels but on a shared
//! one mostly measures how fast the scheduler hands the statement between
//! the two threads.
//!
//! Rounds alternate the cases (each round a fresh process per case, in a
//! rotating order), and the overhead is taken per round against `none` of
//! the same round, so drift on a shared machine cancels out.
//!
//! Run: `cargo bench -p state-tracer --bench sqlx_statement [-- ROUNDS [STATEMENTS]]`

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::sqlite::SqlitePoolOptions;
use sqlx::SqlitePool;
use state_tracer::{Flush, StateLayer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

const CASES: [&str; 5] = ["none", "noop-layer", "line", "interval", "fmt-json"];
const CASE_ENV: &str = "SQLX_BENCH_CASE";

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(30);
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    if let Ok(case) = std::env::var(CASE_ENV) {
        let dir = std::env::var("SQLX_BENCH_DIR").expect("dir");
        let t = child(&case, std::path::Path::new(&dir), n);
        println!("{:.1} {:.1} {:.1} {:.1}", t[0], t[1], t[2], t[3]);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // [case] -> per round: [select cpu, insert cpu, select wall, insert wall]
    let mut results: Vec<Vec<[f64; 4]>> = vec![Vec::new(); CASES.len()];
    for round in 0..rounds {
        for k in 0..CASES.len() {
            let c = (round + k) % CASES.len();
            let case_dir = dir.path().join(format!("{round}-{}", CASES[c]));
            std::fs::create_dir_all(&case_dir).unwrap();
            let out = Command::new(&exe)
                .args([rounds.to_string(), n.to_string()])
                .env(CASE_ENV, CASES[c])
                .env("SQLX_BENCH_DIR", &case_dir)
                .env_remove("BDD_TRACE_STATE")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let nums: Vec<f64> = text
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect();
            results[c].push([nums[0], nums[1], nums[2], nums[3]]);
            std::fs::remove_dir_all(&case_dir).unwrap();
        }
    }
    report(&results, rounds, n);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.1), at(0.5), at(0.9))
}

fn report(results: &[Vec<[f64; 4]>], rounds: usize, n: u64) {
    println!(
        "{rounds} rounds, {n} statements of each kind per case and round; ns per statement, median over rounds;"
    );
    println!("overhead per round against `none` of the same round: p10 / median / p90");
    let titles = ["SELECT, CPU", "INSERT, CPU", "SELECT, wall", "INSERT, wall"];
    for (m, title) in titles.iter().enumerate() {
        println!("{title}");
        for (c, case) in CASES.iter().enumerate() {
            let med = median(results[c].iter().map(|r| r[m]).collect());
            let over: Vec<f64> = results[c]
                .iter()
                .zip(&results[0])
                .map(|(r, base)| (r[m] / base[m] - 1.0) * 100.0)
                .collect();
            let (a, b, d) = spread(over);
            println!("  {case:<10} {med:>9.0} ns   {a:+6.1} % {b:+6.1} % {d:+6.1} %");
        }
    }
}

/// One case: its subscriber, then `n` timed statements of each kind.
fn child(case: &str, dir: &std::path::Path, n: u64) -> [f64; 4] {
    let _guard = match case {
        "none" => None,
        "line" | "interval" => {
            let flush = if case == "line" {
                Flush::Line
            } else {
                Flush::Interval(Duration::from_millis(100))
            };
            let (layer, guard) = StateLayer::builder()
                .dir(dir)
                .run_id("sqlx-bench")
                .flush(flush)
                .build()
                .unwrap();
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .unwrap();
            Some(guard)
        }
        "noop-layer" => {
            let filter = tracing_subscriber::filter::filter_fn(|m| {
                m.target() == "sqlx::query" || m.target() == "bdd_state"
            });
            let layer = tracing_subscriber::layer::Identity::new().with_filter(filter);
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .unwrap();
            None
        }
        "fmt-json" => {
            let file = Arc::new(std::fs::File::create(dir.join("fmt.json")).unwrap());
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(file)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            None
        }
        other => panic!("unknown case {other}"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = setup().await;
        let scenario = state_tracer::scenario("bench", "sqlx statements");
        let timed = scenario
            .instrument(async {
                // Warm up: statement cache, allocator, page cache.
                select(&pool, 200).await;
                insert(&pool, 200).await;
                let (select_cpu, select_wall) = select(&pool, n).await;
                let (insert_cpu, insert_wall) = insert(&pool, n).await;
                [select_cpu, insert_cpu, select_wall, insert_wall]
            })
            .await;
        drop(scenario);
        pool.close().await;
        timed
    })
}

/// One connection, so every statement sees the same in-memory database.
async fn setup() -> SqlitePool {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, item TEXT NOT NULL, qty INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for i in 1..=1000i64 {
        sqlx::query("INSERT INTO users (id, name, email) VALUES (?, ?, ?)")
            .bind(i)
            .bind(format!("user {i}"))
            .bind(format!("user{i}@example.com"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    pool
}

/// This process's CPU time, all threads (user + kernel).
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// (CPU, wall) ns per statement of `n`, since `cpu` and `wall`.
fn per_statement(n: u64, cpu: Duration, wall: Instant) -> (f64, f64) {
    let cpu = (process_cpu() - cpu).as_nanos() as f64 / n as f64;
    (cpu, wall.elapsed().as_nanos() as f64 / n as f64)
}

/// (CPU, wall) ns per `SELECT` by primary key, over `n`.
async fn select(pool: &SqlitePool, n: u64) -> (f64, f64) {
    let (cpu, start) = (process_cpu(), Instant::now());
    for i in 0..n {
        let row: (i64, String, String) =
            sqlx::query_as("SELECT id, name, email FROM users WHERE id = ?")
                .bind((i % 1000 + 1) as i64)
                .fetch_one(pool)
                .await
                .unwrap();
        std::hint::black_box(row);
    }
    per_statement(n, cpu, start)
}

/// (CPU, wall) ns per `INSERT` with three binds, over `n`.
async fn insert(pool: &SqlitePool, n: u64) -> (f64, f64) {
    let (cpu, start) = (process_cpu(), Instant::now());
    for i in 0..n {
        sqlx::query("INSERT INTO orders (user_id, item, qty) VALUES (?, ?, ?)")
            .bind((i % 1000 + 1) as i64)
            .bind("widget")
            .bind(3i64)
            .execute(pool)
            .await
            .unwrap();
    }
    per_statement(n, cpu, start)
}
