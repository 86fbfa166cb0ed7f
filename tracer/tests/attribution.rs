//! Which scenario and step an event is attributed to, in the awkward
//! cases: spans exited out of order, a span entered twice, someone else's
//! span entered inside a scenario, several layers on one thread, one span
//! entered on several threads, explicit parents. The layer answers these
//! from its own per-thread mirror of the entered spans; each case here
//! pins the answer `tracing`'s registry gives.

mod common;

use common::only_trace;
use state_tracer::format::Action;
use tracing_subscriber::prelude::*;

/// A subscriber with the state layer and a second layer that enables
/// every span (so other code's spans exist and can be entered), and the
/// guard that ends the file.
fn traced(dir: &std::path::Path) -> (tracing::Dispatch, state_tracer::TraceGuard) {
    let (layer, guard) = state_tracer::StateLayer::builder()
        .dir(dir)
        .run_id("attribution")
        .build()
        .unwrap();
    let everything = tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_filter(tracing_subscriber::filter::LevelFilter::TRACE);
    let dispatch =
        tracing::Dispatch::new(tracing_subscriber::registry().with(everything).with(layer));
    (dispatch, guard)
}

/// `(name of the CUSTOM record, its scenario, its step)`, in file order.
fn customs(dir: &std::path::Path) -> Vec<(String, Option<String>, Option<String>)> {
    let trace = only_trace(dir);
    trace.assert_gapless();
    trace
        .events
        .iter()
        .filter(|e| e.action == Action::Custom)
        .map(|e| {
            (
                e.name.as_deref().unwrap_or("").to_owned(),
                e.scenario.as_deref().map(str::to_owned),
                e.step.as_deref().map(str::to_owned),
            )
        })
        .collect()
}

fn row(
    name: &str,
    scenario: Option<&str>,
    step: Option<&str>,
) -> (String, Option<String>, Option<String>) {
    (name.into(), scenario.map(Into::into), step.map(Into::into))
}

#[test]
fn out_of_order_exits_and_re_entered_spans_follow_the_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let (dispatch, guard) = traced(tmp.path());
    tracing::dispatcher::with_default(&dispatch, || {
        let a = state_tracer::scenario("f", "A");
        let b = state_tracer::scenario("f", "B");
        let in_a = a.span().clone().entered();
        let in_b = b.span().clone().entered();
        state_tracer::custom("b on top", "");
        // Entering A again while B is entered: the registry keeps B
        // current (a re-entered span is a duplicate).
        let again_a = a.span().clone().entered();
        assert_eq!(tracing::Span::current().id(), b.span().id());
        state_tracer::custom("a re-entered", "");
        drop(again_a);
        // A exited before B: B stays current.
        drop(in_a);
        state_tracer::custom("a exited first", "");
        drop(in_b);
        // Nothing entered, two scenarios open: no guessing.
        state_tracer::custom("nothing entered", "");
    });
    drop(dispatch);
    drop(guard);
    assert_eq!(
        customs(tmp.path()),
        vec![
            row("b on top", Some("B"), None),
            row("a re-entered", Some("B"), None),
            row("a exited first", Some("B"), None),
            row("nothing entered", None, None),
        ]
    );
}

#[test]
fn a_span_entered_again_keeps_its_scenario_and_the_next_span_gets_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (dispatch, guard) = traced(tmp.path());
    tracing::dispatcher::with_default(&dispatch, || {
        let a = state_tracer::scenario("f", "A");
        // Entered and exited again and again, as sqlx's worker does with
        // the caller's span for each command.
        for _ in 0..3 {
            let _in = a.enter();
            state_tracer::custom("a again", "");
        }
        drop(a);
        // B takes A's freed slot in the registry: the thread must not
        // take it for A.
        let b = state_tracer::scenario("f", "B");
        let _in = b.enter();
        state_tracer::custom("b", "");
    });
    drop(dispatch);
    drop(guard);
    assert_eq!(
        customs(tmp.path()),
        vec![
            row("a again", Some("A"), None),
            row("a again", Some("A"), None),
            row("a again", Some("A"), None),
            row("b", Some("B"), None),
        ]
    );
}

#[test]
fn other_spans_steps_and_explicit_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let (dispatch, guard) = traced(tmp.path());
    tracing::dispatcher::with_default(&dispatch, || {
        let a = state_tracer::scenario("f", "A");
        let b = state_tracer::scenario("f", "B");
        {
            let _in = a.enter();
            // Someone else's span inside the scenario: still A.
            let _request = tracing::info_span!("request", id = 7).entered();
            state_tracer::custom("inside another span", "");
            let step = state_tracer::step("Given a step");
            let _in_step = step.enter();
            state_tracer::custom("in a step", "");
            let _deeper = tracing::debug_span!("deeper").entered();
            state_tracer::custom("below the step", "");
        }
        // An explicit parent wins over what is entered.
        let _in = a.enter();
        tracing::info!(target: "bdd_state", parent: b.span(), action = "CUSTOM", name = "explicit parent");
        tracing::info!(target: "bdd_state", parent: None, action = "CUSTOM", name = "explicit root");
        state_tracer::custom("contextual again", "");
    });
    drop(dispatch);
    drop(guard);
    assert_eq!(
        customs(tmp.path()),
        vec![
            row("inside another span", Some("A"), None),
            row("in a step", Some("A"), Some("Given a step")),
            row("below the step", Some("A"), Some("Given a step")),
            row("explicit parent", Some("B"), None),
            row("explicit root", None, None),
            row("contextual again", Some("A"), None),
        ]
    );
}

#[test]
fn two_layers_on_one_thread_keep_their_own_spans() {
    let outer_dir = tempfile::tempdir().unwrap();
    let inner_dir = tempfile::tempdir().unwrap();
    let (outer, outer_guard) = traced(outer_dir.path());
    let (inner, inner_guard) = traced(inner_dir.path());
    tracing::dispatcher::with_default(&outer, || {
        let a = state_tracer::scenario("f", "outer A");
        let _other = state_tracer::scenario("f", "outer B");
        let _in = a.enter();
        tracing::dispatcher::with_default(&inner, || {
            let x = state_tracer::scenario("f", "inner X");
            let _y = state_tracer::scenario("f", "inner Y");
            // The outer layer's entered span means nothing to the inner one.
            state_tracer::custom("inner, nothing entered", "");
            let _in = x.enter();
            state_tracer::custom("inner, X entered", "");
        });
        state_tracer::custom("outer again", "");
    });
    drop((outer, inner));
    drop((outer_guard, inner_guard));
    assert_eq!(
        customs(outer_dir.path()),
        vec![row("outer again", Some("outer A"), None)]
    );
    assert_eq!(
        customs(inner_dir.path()),
        vec![
            row("inner, nothing entered", None, None),
            row("inner, X entered", Some("inner X"), None),
        ]
    );
}

#[test]
fn one_span_entered_on_several_threads_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (dispatch, guard) = traced(tmp.path());
    tracing::dispatcher::with_default(&dispatch, || {
        let a = state_tracer::scenario("f", "A");
        let b = state_tracer::scenario("f", "B");
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|threads| {
            for t in 0..8 {
                let (dispatch, barrier) = (&dispatch, &barrier);
                let span = if t % 2 == 0 { a.span() } else { b.span() }.clone();
                threads.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        let _in = span.enter();
                        // All eight threads are inside a span at once.
                        barrier.wait();
                        for _ in 0..50 {
                            state_tracer::custom(if t % 2 == 0 { "from A" } else { "from B" }, "");
                        }
                    });
                });
            }
        });
    });
    drop(dispatch);
    drop(guard);
    let rows = customs(tmp.path());
    assert_eq!(rows.len(), 8 * 50);
    for (name, scenario, _) in rows {
        let expected = if name == "from A" { "A" } else { "B" };
        assert_eq!(scenario.as_deref(), Some(expected), "{name}");
    }
}
