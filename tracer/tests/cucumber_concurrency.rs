//! cucumber-rs running eight scenarios at once in one task: everything their
//! steps do (sqlx statements on a real SQLite file, typed helpers) is
//! attributed to the right scenario, with no tracing code in the steps.
//!
//! The subscriber also has an INFO fmt layer, which enables cucumber's own
//! hook and step spans: the integration must then find cucumber's scenario
//! span above the hook span it runs in.
#![cfg(feature = "cucumber")]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use cucumber::writer::{Coloring, Stats as _, Verbosity};
use cucumber::{given, then, when, World as _, WriterExt as _};
use sqlx::SqlitePool;
use state_tracer::cucumber::{CucumberExt as _, Hooks};

static POOL: OnceLock<SqlitePool> = OnceLock::new();

fn pool() -> &'static SqlitePool {
    POOL.get().expect("pool is set before the run")
}

#[derive(Debug, Default, cucumber::World)]
struct Shop;

/// Long enough for the other scenarios to be polled in between.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

#[given(expr = "a shelf {word}")]
async fn shelf(_: &mut Shop, name: String) {
    sqlx::query(&format!("CREATE TABLE shelf_{name} (n INTEGER)"))
        .execute(pool())
        .await
        .unwrap();
    pause().await;
}

#[when(expr = "{int} items go on shelf {word}")]
async fn stock(_: &mut Shop, count: u32, name: String) {
    for n in 0..count {
        sqlx::query(&format!("INSERT INTO shelf_{name} (n) VALUES (?)"))
            .bind(n)
            .execute(pool())
            .await
            .unwrap();
        pause().await;
    }
}

#[then(expr = "shelf {word} holds {int} items")]
async fn holds(_: &mut Shop, name: String, count: i64) {
    let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM shelf_{name}"))
        .fetch_one(pool())
        .await
        .unwrap();
    assert_eq!(n, count);
    // Synchronous code in a step is attributed too.
    state_tracer::custom("counted", &name);
}

const SHELVES: &[&str] = &["a", "b", "c", "d", "e", "f", "g", "h"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scenarios_get_their_own_step_statements() {
    let dir = global_trace_dir();
    let work = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        work.path().join("shop.db").display()
    );
    state_tracer::set_database(&url);
    POOL.set(SqlitePool::connect(&url).await.unwrap()).unwrap();

    let mut feature = String::from("Feature: shop\n");
    for s in SHELVES {
        feature.push_str(&format!(
            "\n  Scenario: shelf {s}\n    Given a shelf {s}\n    \
             When 3 items go on shelf {s}\n    Then shelf {s} holds 3 items\n"
        ));
    }
    let path = work.path().join("shop.feature");
    std::fs::write(&path, feature).unwrap();

    let writer = Shop::cucumber()
        .max_concurrent_scenarios(SHELVES.len())
        .trace_state_with_writer(
            cucumber::writer::Basic::new(std::io::sink(), Coloring::Never, Verbosity::Default)
                .summarized(),
            Hooks::new(),
        )
        .with_default_cli()
        .run(&path)
        .await;
    assert!(!writer.execution_has_failed(), "every step passes");
    assert_eq!(writer.passed_steps(), 3 * SHELVES.len());

    let trace = only_trace(dir);
    for s in SHELVES {
        let name = format!("shelf {s}");
        let table = format!("shelf_{s}");
        // Every record naming this shelf's table belongs to its scenario.
        let touching: Vec<_> = trace
            .events
            .iter()
            .filter(|e| {
                e.resource
                    .as_ref()
                    .is_some_and(|r| r.tables.iter().any(|t| t.as_ref() == table))
            })
            .collect();
        assert_eq!(touching.len(), 5, "DDL, 3 inserts, 1 select: {touching:?}");
        for e in &touching {
            assert_eq!(e.scenario.as_deref(), Some(name.as_str()), "{e:?}");
        }
        let counted: Vec<_> = trace
            .events
            .iter()
            .filter(|e| e.action.as_str() == "CUSTOM" && e.details.as_deref() == Some(*s))
            .collect();
        assert_eq!(counted.len(), 1);
        assert_eq!(counted[0].scenario.as_deref(), Some(name.as_str()));
        let ends = trace
            .of_scenario(&name)
            .iter()
            .filter(|e| e.action.as_str() == "SCENARIO_END")
            .count();
        assert_eq!(ends, 1, "{name} ends once");
    }
    // The scenarios really overlapped: all eight started before one ended.
    let actions = trace.actions();
    let first_end = actions.iter().position(|a| *a == "SCENARIO_END").unwrap();
    let started = actions[..first_end]
        .iter()
        .filter(|a| **a == "SCENARIO_START")
        .count();
    assert_eq!(started, SHELVES.len(), "{actions:?}");
}
