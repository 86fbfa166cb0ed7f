//! The typed helpers write their records straight into the layer of the
//! current dispatcher. That shortcut must be invisible: the records are the
//! ones the equivalent plain events produce, every other layer still sees
//! each helper call as one ordinary event, and a layer the shortcut cannot
//! reach (behind a `reload` layer) still gets every record, once.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Calls every typed helper once inside one scenario.
fn call_every_helper() {
    let scenario = state_tracer::scenario("helpers", "Every helper once");
    scenario.in_scope(|| {
        let _step = state_tracer::step("When every helper runs");
        state_tracer::db_cleanup(None, &[]);
        state_tracer::db_cleanup(Some("billing"), &["invoices", "refunds"]);
        state_tracer::jwt_reset(b"initial-secret");
        state_tracer::jwt_rotate(b"rotated-secret");
        state_tracer::jwt_set(b"chosen-secret");
        state_tracer::config_reload("flags", "beta=on");
        state_tracer::http_request("POST", "/login?token=abc", 201, Duration::from_micros(1500));
        state_tracer::schema_create("tenant_7");
        state_tracer::schema_set("tenant_7");
        state_tracer::db_cleanup(None, &["sessions"]);
        state_tracer::schema_drop("tenant_7");
        state_tracer::custom("checkpoint", "order 42 shipped to warehouse B");
    });
}

/// Each record as JSON without the members that differ between two runs
/// (sequence, times, thread, scenario id).
fn comparable(trace: &Trace) -> Vec<Value> {
    trace
        .raw
        .lines()
        .skip(1)
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap();
            let obj = v.as_object_mut().unwrap();
            for k in ["seq", "ts", "mono_ns", "tid", "scenario_id", "duration_us"] {
                obj.remove(k);
            }
            v
        })
        .filter(|v| v["type"] == "event")
        .collect()
}

fn state_layer<S>(dir: &std::path::Path) -> (state_tracer::StateLayer<S>, state_tracer::TraceGuard)
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    state_tracer::StateLayer::builder()
        .dir(dir)
        .run_id("helpers")
        .build()
        .unwrap()
}

#[test]
fn helpers_write_the_records_their_plain_events_would() {
    let direct_dir = tempfile::tempdir().unwrap();
    let (layer, guard) = state_layer(direct_dir.path());
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(layer),
        call_every_helper,
    );
    drop(guard);

    // Behind a reload layer the layer cannot be reached by downcasting, so
    // every helper falls back to its plain `tracing` event.
    let event_dir = tempfile::tempdir().unwrap();
    let (layer, guard) = state_layer(event_dir.path());
    let (reloadable, _handle) = tracing_subscriber::reload::Layer::new(layer);
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(reloadable),
        call_every_helper,
    );
    drop(guard);

    let direct = only_trace(direct_dir.path());
    let through_events = only_trace(event_dir.path());
    direct.assert_gapless();
    through_events.assert_gapless();
    let (a, b) = (comparable(&direct), comparable(&through_events));
    assert_eq!(a.len(), 18, "{a:#?}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    assert_eq!(a.len(), b.len());
    // And the records say what the helpers were asked to record.
    let actions: Vec<&str> = direct.actions();
    assert_eq!(
        actions,
        [
            "PROCESS_START",
            "SCENARIO_START",
            "STEP_START",
            "DB_CLEANUP",
            "DB_CLEANUP",
            "JWT_RESET",
            "JWT_ROTATE",
            "JWT_SET",
            "CONFIG_RELOAD",
            "HTTP_REQUEST",
            "SCHEMA_CREATE",
            "SCHEMA_SET",
            "DB_CLEANUP",
            "SCHEMA_DROP",
            "CUSTOM",
            "STEP_END",
            "SCENARIO_END",
            "PROCESS_END",
        ]
    );
    let cleanup_after_switch = &direct.events[12];
    let res = cleanup_after_switch.resource.as_ref().unwrap();
    assert_eq!(res.schema.as_deref(), Some("tenant_7"), "{res:?}");
    assert!(
        !direct.raw.contains("token=abc") && !direct.raw.contains("rotated-secret"),
        "{}",
        direct.raw
    );
}

/// A layer that keeps the target, action and field names of every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, String)>>>);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Action(String);
        impl tracing::field::Visit for Action {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "action" {
                    self.0 = value.to_owned();
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut action = Action(String::new());
        event.record(&mut action);
        self.0
            .lock()
            .unwrap()
            .push((event.metadata().target().to_owned(), action.0));
    }
}

#[test]
fn other_layers_still_see_each_helper_call_as_one_event() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = state_layer(dir.path());
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            capture
                .clone()
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        state_tracer::custom("checkpoint", "seen by both");
        state_tracer::schema_create("tenant_1");
    });
    drop(guard);

    let seen = capture.0.lock().unwrap().clone();
    let helpers: Vec<_> = seen.iter().filter(|(_, a)| a != "SCENARIO_END").collect();
    assert_eq!(
        helpers,
        [
            &("bdd_state".to_owned(), "CUSTOM".to_owned()),
            &("bdd_state".to_owned(), "SCHEMA_CREATE".to_owned()),
        ]
    );
    let trace = only_trace(dir.path());
    assert_eq!(
        trace.actions(),
        ["PROCESS_START", "CUSTOM", "SCHEMA_CREATE", "PROCESS_END"],
        "each helper call is recorded exactly once"
    );
}

#[test]
fn helpers_record_nothing_into_a_layer_that_is_not_in_the_current_dispatcher() {
    let tmp = tempfile::tempdir().unwrap();
    // A layer exists in the process, but this thread's subscriber has none.
    let (_layer, guard) = state_layer::<tracing_subscriber::Registry>(tmp.path());
    tracing::subscriber::with_default(tracing_subscriber::registry(), call_every_helper);
    drop(guard);
    assert_eq!(
        only_trace(tmp.path()).actions(),
        ["PROCESS_START", "PROCESS_END"]
    );
}

/// Child entry point: does nothing in a normal test run.
#[test]
fn child() {
    let Some(role) = child_role() else { return };
    assert_eq!(role, "helpers_untraced");
    println!("init={}", state_tracer::init().is_some());
    call_every_helper();
    println!("survived");
}

#[test]
fn helpers_with_tracing_off_create_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("traces");
    let out = spawn_child("child", "helpers_untraced")
        .env("BDD_TRACE_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("init=false"), "{}", stdout(&out));
    assert!(stdout(&out).contains("survived"));
    assert!(!dir.exists(), "no trace folder with tracing off");
}

#[test]
fn scenario_instrument_attributes_a_future_and_secrets_can_be_strings() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = state_layer(tmp.path());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _default = tracing::dispatcher::set_default(&dispatch);
    let scenario = state_tracer::scenario("api", "Instrumented future");
    let fut = scenario.instrument(async {
        tokio::task::yield_now().await;
        let new_secret = String::from("rotated-secret");
        state_tracer::jwt_rotate(&new_secret);
        state_tracer::jwt_set(new_secret.into_bytes());
    });
    // Polled on a worker thread, whose subscriber is set inside the task.
    let d = dispatch.clone();
    runtime
        .block_on(runtime.spawn(async move {
            let _default = tracing::dispatcher::set_default(&d);
            fut.await
        }))
        .unwrap();
    drop(scenario);
    drop(guard);
    let trace = only_trace(tmp.path());
    let mine = trace.of_scenario("Instrumented future");
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["SCENARIO_START", "JWT_ROTATE", "JWT_SET", "SCENARIO_END"]
    );
    assert_eq!(
        mine[1].details, mine[2].details,
        "same secret, same fingerprint"
    );
    assert!(!trace.raw.contains("rotated-secret"));
}
