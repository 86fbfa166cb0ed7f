//! Cost per recorded event, side by side with its baselines in one run:
//!
//! - `floor/write_syscall`: one raw `write(2)` per pre-formatted line of
//!   the same size as a state-tracer record (the least a crash-safe
//!   per-record writer can do);
//! - `state_tracer/line` and `state_tracer/interval`: the layer in its two
//!   main durability modes, recording a typed helper's call;
//! - `state_tracer/line_plain_event`: the same record from a plain
//!   `tracing::info!` event (what code without a dependency on this crate
//!   emits), which goes through `tracing`'s dispatch and field visiting;
//! - `fmt_json/file`: `tracing_subscriber::fmt().json()` writing to a File;
//! - `appender/non_blocking_lossless`: fmt json through
//!   `tracing-appender`'s non-blocking writer in lossless mode;
//! - `reference/tracing_dispatch_noop_layer`: the same event delivered by
//!   `tracing` to a layer that ignores it (the part of every figure that
//!   is `tracing`'s own dispatch, not the writer);
//! - `disabled/*`: the typed helper with no subscriber, and a typical
//!   WARN-level subscriber without and with the (absent) state layer.
//!
//! Every event is emitted inside an entered scenario span, as in a suite.
//!
//! Times are the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`: user
//! plus kernel time, so the `write(2)` itself counts) per event, not wall
//! time: on a shared, loaded machine wall time mostly measures waiting for
//! a core. Work moved to background threads (interval flushes, the
//! appender's writer thread) is not charged to the caller in either column.
//! Run: `cargo bench -p state-tracer --bench tracer -- --warm-up-time 1 --measurement-time 3`

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use state_tracer::{Flush, StateLayer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

const DETAILS: &str = "order 42 shipped to warehouse B";

fn emit() {
    state_tracer::custom("bench", black_box(DETAILS));
}

fn emit_plain() {
    tracing::info!(target: "bdd_state", action = "CUSTOM", name = "bench", details = black_box(DETAILS));
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `iters` times and returns the CPU time this thread spent.
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        f();
    }
    thread_cpu() - start
}

/// Runs `emit` under `dispatch`, inside an entered scenario span.
fn in_scenario(dispatch: &tracing::Dispatch, c: &mut Criterion, name: &str) {
    in_scenario_with(dispatch, c, name, emit);
}

fn in_scenario_with(dispatch: &tracing::Dispatch, c: &mut Criterion, name: &str, f: fn()) {
    tracing::dispatcher::with_default(dispatch, || {
        let scenario = state_tracer::scenario("bench", "Ship an order");
        let _in = scenario.enter();
        c.bench_function(name, |b| b.iter_custom(|n| cpu_time(n, f)));
    });
}

fn state_layer(
    dir: &std::path::Path,
    flush: Flush,
) -> (tracing::Dispatch, state_tracer::TraceGuard) {
    let (layer, guard) = StateLayer::builder()
        .dir(dir)
        .run_id("bench")
        .flush(flush)
        .build()
        .expect("trace file");
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

/// Length of the record the layer writes for one `emit()` in a scenario.
fn record_len(dir: &std::path::Path) -> usize {
    let sub = tempfile::tempdir_in(dir).unwrap();
    let (dispatch, guard) = state_layer(sub.path(), Flush::Line);
    tracing::dispatcher::with_default(&dispatch, || {
        let scenario = state_tracer::scenario("bench", "Ship an order");
        let _in = scenario.enter();
        emit();
    });
    drop(dispatch);
    drop(guard);
    let path = std::fs::read_dir(sub.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("\"action\":\"CUSTOM\""))
        .expect("custom record");
    line.len() + 1
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let len = record_len(dir.path());
    eprintln!("state-tracer record size for this event: {len} bytes");

    // 1. The floor: one write(2) of a same-size pre-formatted line.
    {
        let mut line = vec![b'x'; len - 1];
        line.push(b'\n');
        let mut file = File::create(dir.path().join("floor.jsonl")).unwrap();
        c.bench_function("floor/write_syscall", |b| {
            b.iter_custom(|n| cpu_time(n, || file.write_all(black_box(&line)).unwrap()))
        });
        drop(file);
        let _ = std::fs::remove_file(dir.path().join("floor.jsonl"));
    }

    // 2. state-tracer, line and interval modes.
    for (name, flush) in [
        ("state_tracer/line", Flush::Line),
        (
            "state_tracer/interval_100ms",
            Flush::Interval(Duration::from_millis(100)),
        ),
    ] {
        let sub = tempfile::tempdir_in(dir.path()).unwrap();
        let (dispatch, guard) = state_layer(sub.path(), flush);
        in_scenario(&dispatch, c, name);
        if flush == Flush::Line {
            in_scenario_with(&dispatch, c, "state_tracer/line_plain_event", emit_plain);
        }
        drop(dispatch);
        drop(guard);
    }

    // Reference: what tracing itself costs to deliver this event, in its
    // span, to a layer that does nothing with it (registry + no-op layer).
    {
        struct Noop;
        impl<S: tracing::Subscriber> Layer<S> for Noop {
            fn on_event(
                &self,
                event: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                black_box(event);
            }
        }
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(Noop));
        in_scenario(&dispatch, c, "reference/tracing_dispatch_noop_layer");
    }

    // 3. fmt().json() to a File.
    {
        let file = Arc::new(File::create(dir.path().join("fmt.json")).unwrap());
        let sub = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(file)
            .finish();
        in_scenario(&tracing::Dispatch::new(sub), c, "fmt_json/file");
        let _ = std::fs::remove_file(dir.path().join("fmt.json"));
    }

    // 4. tracing-appender non-blocking, lossless, fmt json.
    {
        let file = File::create(dir.path().join("appender.json")).unwrap();
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(file);
        let sub = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(writer)
            .finish();
        in_scenario(
            &tracing::Dispatch::new(sub),
            c,
            "appender/non_blocking_lossless",
        );
        drop(guard);
        let _ = std::fs::remove_file(dir.path().join("appender.json"));
    }

    // 5. Disabled: what a suite pays when BDD_TRACE_STATE is unset.
    c.bench_function("disabled/helper_no_subscriber", |b| {
        b.iter_custom(|n| cpu_time(n, emit))
    });
    {
        let warn_fmt = || {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN)
        };
        let plain = tracing::Dispatch::new(tracing_subscriber::registry().with(warn_fmt()));
        tracing::dispatcher::with_default(&plain, || {
            c.bench_function("disabled/helper_warn_subscriber", |b| {
                b.iter_custom(|n| cpu_time(n, emit))
            });
        });
        // from_env() is None when BDD_TRACE_STATE is unset; adding that None is free.
        std::env::remove_var("BDD_TRACE_STATE");
        let none = StateLayer::from_env().map(|(layer, _guard)| layer);
        assert!(none.is_none());
        let with_none =
            tracing::Dispatch::new(tracing_subscriber::registry().with(warn_fmt()).with(none));
        tracing::dispatcher::with_default(&with_none, || {
            c.bench_function("disabled/helper_warn_subscriber_plus_absent_layer", |b| {
                b.iter_custom(|n| cpu_time(n, emit))
            });
        });
    }
}

criterion_group! {
    name = tracer;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(tracer);
