//! `#[state_tracer::test]` with tracing off against the same test without
//! it, in alternating rounds (as `paired.rs` does, so both see the same
//! machine state), with `BDD_TRACE_STATE` unset.
//!
//! `#[test]` functions are compiled out of a bench, so the attribute is
//! given test attributes that keep the function callable and expand the
//! same way as the real ones:
//!
//! - async: `tokio::main(flavor = "current_thread")`, which is what
//!   `#[tokio::test]` expands to (minus `#[test]`): build a current-thread
//!   runtime, `block_on` the body. Baseline: the same attribute alone.
//! - sync: `inline(never)` for `#[test]`. Baseline: the plain function.
//!
//! The bodies are small on purpose (a yield and a little arithmetic), so
//! any cost of the wrapper is as visible as it can be.
//!
//! Run: `cargo bench -p state-tracer --features macros --bench test_attr [-- ROUNDS]`

use std::hint::black_box;

mod common;

fn work() -> u64 {
    (0..black_box(64u64)).fold(0, |a, b| a.wrapping_mul(31).wrapping_add(b))
}

#[tokio::main(flavor = "current_thread")]
async fn plain_tokio_test() {
    tokio::task::yield_now().await;
    black_box(work());
}

#[state_tracer::test(tokio::main(flavor = "current_thread"))]
async fn attr_tokio_test() {
    tokio::task::yield_now().await;
    black_box(work());
}

#[inline(never)]
fn plain_test() {
    black_box(work());
}

#[state_tracer::test(inline(never))]
fn attr_test() {
    black_box(work());
}

/// CPU ns per call of `f`, over `n` calls.
fn per_call(n: u64, f: fn()) -> f64 {
    common::cpu_time(n, f).as_nanos() as f64 / n as f64
}

fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.1), at(0.5), at(0.9))
}

fn pair(name: &str, rounds: usize, n: u64, plain: fn(), attr: fn()) {
    let (mut p, mut a, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate the order, so neither case always runs first.
        let (tp, ta) = if round % 2 == 0 {
            let tp = per_call(n, plain);
            (tp, per_call(n, attr))
        } else {
            let ta = per_call(n, attr);
            (per_call(n, plain), ta)
        };
        p.push(tp);
        a.push(ta);
        ratio.push(ta / tp);
    }
    let (p10, p50, p90) = spread(p);
    let (a10, a50, a90) = spread(a);
    let (r10, r50, r90) = spread(ratio);
    println!("{name}: {rounds} rounds x {n} calls, CPU ns per test (p10 / median / p90)");
    println!("  plain            {p10:9.1} / {p50:9.1} / {p90:9.1}");
    println!("  with attribute   {a10:9.1} / {a50:9.1} / {a90:9.1}");
    println!("  ratio per round  {r10:9.3} / {r50:9.3} / {r90:9.3}");
}

fn main() {
    assert!(
        !state_tracer::config::enabled_from_env(),
        "unset BDD_TRACE_STATE: this bench measures the attribute with tracing off"
    );
    let rounds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    // Warm up both (the first call initialises the attribute's OnceLock).
    attr_test();
    attr_tokio_test();
    pair(
        "#[tokio::test] body",
        rounds,
        2_000,
        plain_tokio_test,
        attr_tokio_test,
    );
    pair("#[test] body", rounds, 200_000, plain_test, attr_test);
}
