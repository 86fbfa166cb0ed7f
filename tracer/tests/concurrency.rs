//! 16 scenarios running at once on a multi-threaded tokio runtime, with
//! interleaved awaits and real SQLite statements, are never mixed up.

mod common;

use std::collections::HashMap;

use common::*;
use state_tracer::format::{Action, Outcome};
use tracing::Instrument;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_scenarios_in_one_process_never_mix() {
    let dir = global_trace_dir();
    let db_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", db_dir.path().join("c.db").display());
    state_tracer::set_database(&url);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .unwrap();
    for i in 0..16 {
        sqlx::query(&format!("CREATE TABLE t_{i} (v INTEGER)"))
            .execute(&pool)
            .await
            .unwrap();
    }

    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let pool = pool.clone();
            let scenario = state_tracer::scenario("concurrency", &format!("S{i}"));
            let span = scenario.span().clone();
            tokio::spawn(
                async move {
                    for k in 0..5 {
                        let step = state_tracer::step(&format!("S{i} step {k}"));
                        async {
                            state_tracer::custom("tick", &format!("S{i}"));
                            tokio::time::sleep(std::time::Duration::from_millis(
                                (i * 7 + k * 3) % 5,
                            ))
                            .await;
                            sqlx::query(&format!("INSERT INTO t_{i} (v) VALUES (?)"))
                                .bind(k as i64)
                                .execute(&pool)
                                .await
                                .unwrap();
                            tokio::task::yield_now().await;
                            state_tracer::custom("tock", &format!("S{i}"));
                        }
                        .instrument(step.span().clone())
                        .await;
                    }
                    drop(scenario);
                }
                .instrument(span),
            )
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    pool.close().await;

    let trace = only_trace(dir);
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut per_scenario: HashMap<String, usize> = HashMap::new();
    for e in trace
        .events
        .iter()
        .filter(|e| e.feature.as_deref() == Some("concurrency"))
    {
        let name = e.scenario.as_deref().unwrap().to_owned();
        let id = e.scenario_id.unwrap();
        assert_eq!(
            *ids.entry(name.clone()).or_insert(id),
            id,
            "one id per scenario"
        );
        *per_scenario.entry(name.clone()).or_default() += 1;
        match e.action {
            Action::Custom => assert_eq!(e.details.as_deref(), Some(name.as_str()), "{e:?}"),
            Action::DbInsert => {
                let table = &e.resource.as_ref().unwrap().tables[0];
                assert_eq!(table.as_ref(), format!("t_{}", &name[1..]), "{e:?}");
            }
            Action::ScenarioEnd => assert_eq!(e.outcome, Some(Outcome::Passed)),
            _ => {}
        }
        if let Some(step) = &e.step {
            assert!(step.starts_with(&format!("{name} step ")), "{e:?}");
        }
    }
    assert_eq!(ids.len(), 16);
    let unique: std::collections::HashSet<_> = ids.values().collect();
    assert_eq!(unique.len(), 16, "scenario ids are unique in the file");
    // START + END + 5 steps x (STEP_START, tick, INSERT, tock, STEP_END).
    for (name, n) in per_scenario {
        assert_eq!(n, 2 + 5 * 5, "{name}");
    }
    // They really ran at once: after the starts (all written before the
    // tasks were spawned), a serial run would switch scenario 15 times;
    // interleaved steps switch far more often.
    let order: Vec<&str> = trace
        .events
        .iter()
        .filter(|e| e.feature.as_deref() == Some("concurrency"))
        .filter(|e| e.action != Action::ScenarioStart)
        .map(|e| e.scenario.as_deref().unwrap())
        .collect();
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches > 15, "scenarios did not interleave: {order:?}");
    trace.assert_gapless();
}

/// Interval mode under a flood from several threads: full buffers go to the
/// flusher thread (and back to the callers when it falls behind), and still
/// every record lands, once, in `seq` order, with each thread's events in
/// the order it emitted them.
#[test]
fn interval_mode_under_a_flood_loses_and_reorders_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = state_tracer::StateLayer::builder()
        .dir(dir.path())
        .run_id("flood")
        // Long period: only full buffers trigger writes.
        .flush(state_tracer::Flush::Interval(
            std::time::Duration::from_secs(60),
        ))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    const THREADS: usize = 4;
    const EVENTS: usize = 4000;
    let padding = "x".repeat(300); // ~5 MB in all: many full buffers
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let dispatch = dispatch.clone();
            let padding = &padding;
            s.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for k in 0..EVENTS {
                        state_tracer::custom("flood", &format!("{t} {k} {padding}"));
                    }
                })
            });
        }
    });
    drop(dispatch);
    drop(guard);

    let trace = only_trace(dir.path());
    trace.assert_gapless();
    let mut next = [0usize; THREADS];
    for e in trace.events.iter().filter(|e| e.action == Action::Custom) {
        let details = e.details.as_deref().unwrap();
        let mut words = details.split(' ');
        let t: usize = words.next().unwrap().parse().unwrap();
        let k: usize = words.next().unwrap().parse().unwrap();
        assert_eq!(k, next[t], "thread {t}'s events in order");
        next[t] += 1;
    }
    assert_eq!(next, [EVENTS; THREADS], "every event is in the file");

    // Both clocks are read per record under the writer's lock: `mono_ns`
    // never goes back in seq order, and `ts` is on the wall clock of the run.
    let end = chrono::Utc::now();
    for pair in trace.events.windows(2) {
        assert!(pair[1].mono_ns >= pair[0].mono_ns, "{pair:?}");
    }
    let slack = chrono::Duration::seconds(1);
    for e in &trace.events {
        assert!(
            e.ts >= trace.header.start - slack && e.ts <= end + slack,
            "{e:?}"
        );
    }
}
