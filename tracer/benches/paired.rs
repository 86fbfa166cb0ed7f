//! `line` mode against its floor, measured in alternating rounds.
//!
//! The criterion bench (`benches/tracer.rs`) times each case in its own
//! window, seconds apart; on a shared VM the cost of `write(2)` itself
//! drifts between windows by more than the difference being measured. Here
//! every round runs the same number of events of each case back to back
//! (floor, typed helper, plain event, fmt json), so all of them see the
//! same kernel and page-cache state, and the ratio is taken per round.
//!
//! - `floor`: one raw `write(2)` of a pre-formatted line as long as the
//!   records state-tracer writes in this run;
//! - `helper`: `state_tracer::custom(..)` in an entered scenario span;
//! - `plain event`: the same record from a plain `tracing::info!` event;
//! - `fmt json`: `tracing_subscriber::fmt().json()` writing to a `File`;
//! - `floor + work`: the floor followed by ~90 ns of register-only
//!   arithmetic (about what a record costs in memory, `profile interval`),
//!   a control: how much more any user work costs right after a `write(2)`
//!   than in a loop of its own, on this machine.
//!
//! The state layer is the global default subscriber, as `init()` and
//! `registry().with(layer).init()` install it; fmt json runs under a
//! scoped default, inside a scenario span of its own (so it formats it). Times are the calling thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`, user + kernel, so the write counts).
//!
//! Run: `cargo bench -p state-tracer --bench paired [-- ROUNDS [EVENTS_PER_ROUND]]`

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use state_tracer::{Flush, StateLayer};
use tracing_subscriber::layer::SubscriberExt;

mod common;

use common::{helper, plain_event, thread_cpu};

/// CPU ns per call of `f`, over `n` calls.
fn per_call(n: u64, f: impl FnMut()) -> f64 {
    common::cpu_time(n, f).as_nanos() as f64 / n as f64
}

/// 10th percentile, median and 90th percentile.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.1), at(0.5), at(0.9))
}

/// Length of the last record in the trace file in `dir`.
fn last_record_len(dir: &std::path::Path) -> usize {
    let path = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("trace file");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().last().map_or(0, str::len) + 1
}

/// A dependent chain of `k` multiply-xorshift steps: register work only,
/// no memory, no branches but the loop's.
#[inline(never)]
fn register_work(k: u64) -> u64 {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15u64);
    for _ in 0..k {
        x = (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
    x
}

/// Steps of [`register_work`] that take about `ns` of CPU time here
/// (refined once at the size found, which is what the rounds run).
fn calibrate_register_work(ns: f64) -> u64 {
    let mut steps = 1000;
    for _ in 0..3 {
        let took = per_call(20_000, || {
            black_box(register_work(steps));
        });
        steps = ((steps as f64) * ns / took).round().max(1.0) as u64;
    }
    steps
}

/// `N` typed-helper records in a scenario; `benches/instructions.sh`
/// counts the instructions executed in here.
#[inline(never)]
fn profile_loop(n: u64) {
    let scenario = state_tracer::scenario("bench", "Ship an order");
    let _in = scenario.enter();
    for _ in 0..n {
        helper();
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let trace_dir = dir.path().join("trace");
    // `profile line|interval N`: only the records, for instruction counts.
    let profile = args.first().is_some_and(|a| a == "profile");
    let flush = match args.get(1).map(String::as_str) {
        Some("interval") if profile => Flush::Interval(Duration::from_millis(100)),
        _ => Flush::Line,
    };
    let (layer, _guard) = StateLayer::builder()
        .dir(&trace_dir)
        .run_id("paired")
        .flush(flush)
        .build()
        .expect("trace file");
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    if profile {
        let n = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
        let start = thread_cpu();
        profile_loop(n);
        let ns = (thread_cpu() - start).as_nanos() as f64 / n as f64;
        println!("{n} records, {ns:.1} ns CPU per record");
        return;
    }
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let fmt_file = Arc::new(File::create(dir.path().join("fmt.json")).unwrap());
    let fmt = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(fmt_file)
            .finish(),
    );

    let scenario = state_tracer::scenario("bench", "Ship an order");
    let _in = scenario.enter();
    // Warm up, and learn how long the records of this run are.
    per_call(n, helper);
    let len = last_record_len(&trace_dir);
    let mut line = vec![b'x'; len - 1];
    line.push(b'\n');
    let mut floor_file = File::create(dir.path().join("floor.jsonl")).unwrap();
    let mut floor = || floor_file.write_all(black_box(&line)).unwrap();
    per_call(n, &mut floor);
    let steps = calibrate_register_work(90.0);

    let (mut f, mut h, mut p, mut j) = (vec![], vec![], vec![], vec![]);
    let (mut w, mut fw) = (vec![], vec![]);
    for _ in 0..rounds {
        f.push(per_call(n, &mut floor));
        w.push(per_call(n, || {
            black_box(register_work(steps));
        }));
        fw.push(per_call(n, || {
            floor();
            black_box(register_work(steps));
        }));
        h.push(per_call(n, helper));
        p.push(per_call(n, plain_event));
        j.push(tracing::dispatcher::with_default(&fmt, || {
            // fmt json writes the span it is in, as it would in a suite.
            let scenario = state_tracer::scenario("bench", "Ship an order");
            let _in = scenario.enter();
            per_call(n, plain_event)
        }));
    }
    let ratio = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>();
    // Per round: what the work cost beyond itself when it followed a write.
    let penalty: Vec<f64> = fw
        .iter()
        .zip(&f)
        .zip(&w)
        .map(|((b, f), w)| b - f - w)
        .collect();
    println!("{rounds} rounds x {n} events per case, record length {len} bytes, CPU ns per event");
    println!("{:<40} {:>8} {:>8} {:>8}", "", "p10", "median", "p90");
    let row = |name: &str, v: Vec<f64>, unit: &str| {
        let (a, b, c) = spread(v);
        let fmt = |x: f64| {
            if unit == "x" {
                format!("{x:.2}x")
            } else {
                format!("{x:.0}")
            }
        };
        println!("{name:<40} {:>8} {:>8} {:>8}", fmt(a), fmt(b), fmt(c));
    };
    row("floor: write(2) of a same-size line", f.clone(), "ns");
    row("state-tracer line, typed helper", h.clone(), "ns");
    row("state-tracer line, plain tracing event", p.clone(), "ns");
    row("fmt().json() to a File", j.clone(), "ns");
    row("control: register work alone", w.clone(), "ns");
    row("control: floor + register work", fw.clone(), "ns");
    row("control: after-write extra of the work", penalty, "ns");
    row("helper / floor (per round)", ratio(&h, &f), "x");
    row("plain event / floor (per round)", ratio(&p, &f), "x");
    row("fmt json / helper (per round)", ratio(&j, &h), "x");
    row("fmt json / plain event (per round)", ratio(&j, &p), "x");
    row("control: (floor + work) / floor", ratio(&fw, &f), "x");
}
