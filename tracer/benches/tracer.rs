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
//! - `reference/tracing_dispatch_noop_layer`: the plain event delivered by
//!   `tracing` to a layer that ignores it (the part of the plain-event
//!   figure that is `tracing`'s own dispatch, not the writer);
//! - `disabled/*`: the typed helper with no subscriber, and a typical
//!   WARN-level subscriber without and with the (absent) state layer.
//!
//! Every event is emitted inside an entered scenario span, as in a suite.
//! Every sample writes a fresh file, deleted afterwards: a case that wrote
//! gigabytes into one file would leave the page cache full of dirty pages
//! and slow down the write(2) of every case measured after it.
//!
//! Times are the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`: user
//! plus kernel time, so the `write(2)` itself counts) per event, not wall
//! time: on a shared, loaded machine wall time mostly measures waiting for
//! a core. Work moved to background threads (interval flushes, the
//! appender's writer thread) is not charged to the caller in either column.
//! Run: `cargo bench -p state-tracer --bench tracer -- --warm-up-time 1 --measurement-time 3`
//! (`benches/paired.rs` measures `line` against the floor in alternating
//! rounds, which is the steadier comparison on a shared machine.)

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use state_tracer::{Flush, StateLayer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

mod common;

use common::{cpu_time, helper as emit, plain_event as emit_plain};

/// A subscriber writing into a fresh folder, for one sample.
type Fresh = Box<dyn Fn(&Path) -> (tracing::Dispatch, Box<dyn std::any::Any>)>;

/// Times `f` in an entered scenario span under a subscriber that `make`
/// builds afresh, in its own temp folder, for every sample.
fn per_sample(c: &mut Criterion, root: &Path, name: &str, make: Fresh, f: fn()) {
    c.bench_function(name, |b| {
        b.iter_custom(|n| {
            let dir = tempfile::tempdir_in(root).unwrap();
            let (dispatch, keep) = make(dir.path());
            let t = tracing::dispatcher::with_default(&dispatch, || {
                let scenario = state_tracer::scenario("bench", "Ship an order");
                let _in = scenario.enter();
                cpu_time(n, f)
            });
            drop(dispatch);
            drop(keep);
            t
        })
    });
}

fn state_layer(flush: Flush) -> Fresh {
    Box::new(move |dir: &Path| {
        let (layer, guard) = StateLayer::builder()
            .dir(dir)
            .run_id("bench")
            .flush(flush)
            .build()
            .expect("trace file");
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        (dispatch, Box::new(guard) as Box<dyn std::any::Any>)
    })
}

/// Length of the record the layer writes for one `emit()` in a scenario.
fn record_len(dir: &Path) -> usize {
    let sub = tempfile::tempdir_in(dir).unwrap();
    let (dispatch, guard) = state_layer(Flush::Line)(sub.path());
    tracing::dispatcher::with_default(&dispatch, || {
        let scenario = state_tracer::scenario("bench", "Ship an order");
        let _in = scenario.enter();
        for _ in 0..100_000 {
            emit(); // seq and mono_ns as long as in a measured sample
        }
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
        .rfind(|l| l.contains("\"action\":\"CUSTOM\""))
        .expect("custom record");
    line.len() + 1
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // 0. Disabled: what a suite pays when BDD_TRACE_STATE is unset. First,
    // while no layer has been built in this process, as in such a suite.
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

    let len = record_len(root);
    eprintln!("state-tracer record size for this event: {len} bytes");

    // 1. The floor: one write(2) of a same-size pre-formatted line.
    {
        let mut line = vec![b'x'; len - 1];
        line.push(b'\n');
        c.bench_function("floor/write_syscall", |b| {
            b.iter_custom(|n| {
                let path = root.join("floor.jsonl");
                let mut file = File::create(&path).unwrap();
                let t = cpu_time(n, || file.write_all(black_box(&line)).unwrap());
                drop(file);
                let _ = std::fs::remove_file(path);
                t
            })
        });
    }

    // 2. state-tracer, line and interval modes.
    per_sample(c, root, "state_tracer/line", state_layer(Flush::Line), emit);
    per_sample(
        c,
        root,
        "state_tracer/line_plain_event",
        state_layer(Flush::Line),
        emit_plain,
    );
    per_sample(
        c,
        root,
        "state_tracer/interval_100ms",
        state_layer(Flush::Interval(Duration::from_millis(100))),
        emit,
    );

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
        let make: Fresh = Box::new(|_: &Path| {
            let d = tracing::Dispatch::new(tracing_subscriber::registry().with(Noop));
            (d, Box::new(()) as Box<dyn std::any::Any>)
        });
        per_sample(
            c,
            root,
            "reference/tracing_dispatch_noop_layer",
            make,
            emit_plain,
        );
    }

    // 3. fmt().json() to a File.
    let fmt_json: Fresh = Box::new(|dir: &Path| {
        let file = Arc::new(File::create(dir.join("fmt.json")).unwrap());
        let sub = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(file)
            .finish();
        (
            tracing::Dispatch::new(sub),
            Box::new(()) as Box<dyn std::any::Any>,
        )
    });
    per_sample(c, root, "fmt_json/file", fmt_json, emit);

    // 4. tracing-appender non-blocking, lossless, fmt json.
    let appender: Fresh = Box::new(|dir: &Path| {
        let file = File::create(dir.join("appender.json")).unwrap();
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(file);
        let sub = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(writer)
            .finish();
        (
            tracing::Dispatch::new(sub),
            Box::new(guard) as Box<dyn std::any::Any>,
        )
    });
    per_sample(c, root, "appender/non_blocking_lossless", appender, emit);
}

criterion_group! {
    name = tracer;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(tracer);
