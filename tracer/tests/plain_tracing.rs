//! Code that does not depend on this crate can emit the documented spans
//! and events with plain `tracing`; the layer's own filter lets them (and
//! sqlx's DEBUG events) through even when the other layers log at INFO,
//! and makes no other callsite interesting.

mod common;

use common::*;
use state_tracer::format::{Action, Outcome, Scope};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

#[test]
fn plain_tracing_spans_and_events_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = state_tracer::StateLayer::builder()
        .dir(tmp.path())
        .run_id("plain")
        .process_label("plain-suite")
        .build()
        .unwrap();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let subscriber = tracing_subscriber::registry().with(fmt).with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // Another library's DEBUG event is not interesting to anyone here.
        assert!(!tracing::enabled!(target: "hyper::proto", Level::DEBUG));
        assert!(tracing::enabled!(target: "sqlx::query", Level::DEBUG));
        assert!(tracing::enabled!(target: "bdd_state", Level::TRACE));

        let scenario = tracing::info_span!(target: "bdd_state", "scenario",
            feature = "billing", scenario = "Refund", outcome = tracing::field::Empty,
            error = tracing::field::Empty);
        scenario.in_scope(|| {
            let step = tracing::info_span!(target: "bdd_state", "step", text = "When I refund");
            step.in_scope(|| {
                tracing::debug!(target: "bdd_state", action = "DB_CLEANUP", schema = "billing", table = "invoices,refunds");
                tracing::info!(target: "bdd_state", action = "SCHEMA_SET", schema = "tenant_9");
                tracing::info!(target: "bdd_state", action = "DB_UPDATE", table = "ledger", rows = 3u64, shard = 7u64, region = "eu");
                tracing::trace!(target: "bdd_state", action = "JWT_ROTATE", details = "sha256:abcd1234");
                tracing::info!(target: "bdd_state", action = "FLAGS_FLIPPED", details = "beta on");
                // Exactly what sqlx 0.8 emits for a short and a long statement.
                tracing::debug!(target: "sqlx::query", summary = "SELECT 1", db.statement = "",
                    rows_affected = 0u64, rows_returned = 1u64, elapsed_secs = 0.0002f64);
                tracing::debug!(target: "sqlx::query", summary = "DELETE FROM sessions WHERE …",
                    db.statement = "\n\nDELETE FROM sessions WHERE user_id = 'u-77'\n",
                    rows_affected = 2u64, rows_returned = 0u64, elapsed_secs = 0.001f64);
            });
            drop(step);
            scenario.record("outcome", "FAILED");
            scenario.record("error", "refund total mismatch");
        });
        drop(scenario);
    });
    drop(guard);

    let trace = only_trace(tmp.path());
    assert_eq!(trace.header.process, "plain-suite");
    let mine = trace.of_scenario("Refund");
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "SCENARIO_START",
            "STEP_START",
            "DB_CLEANUP",
            "SCHEMA_SET",
            "DB_UPDATE",
            "JWT_ROTATE",
            "CUSTOM",
            "DB_SELECT",
            "DB_DELETE",
            "STEP_END",
            "SCENARIO_END"
        ]
    );
    let cleanup = mine[2];
    assert_eq!(cleanup.step.as_deref(), Some("When I refund"));
    let r = cleanup.resource.as_ref().unwrap();
    assert_eq!(
        (r.scope, r.schema.as_deref()),
        (Scope::Shared, Some("billing"))
    );
    assert_eq!(r.tables, ["invoices", "refunds"]);
    // SCHEMA_SET changed the scenario's current schema.
    let update = mine[4];
    assert_eq!(
        update.resource.as_ref().unwrap().schema.as_deref(),
        Some("tenant_9")
    );
    assert_eq!(update.rows, Some(3));
    assert!(update.fields.iter().any(|(k, v)| k == "shard" && v == "7"));
    assert!(update
        .fields
        .iter()
        .any(|(k, v)| k == "region" && v == "eu"));
    assert_eq!(mine[5].resource.as_ref().unwrap().scope, Scope::Process);
    assert_eq!(mine[6].name.as_deref(), Some("FLAGS_FLIPPED"));
    assert_eq!(
        mine[7].details.as_deref(),
        Some("SELECT ?"),
        "literals go, even tiny ones"
    );
    assert_eq!(mine[7].rows, Some(1));
    assert_eq!(
        mine[8].details.as_deref(),
        Some("DELETE FROM sessions WHERE user_id = ?")
    );
    assert_eq!(mine[8].rows, Some(2));
    assert_eq!(mine[8].duration_us, Some(1000));
    let end = mine[10];
    assert_eq!(end.outcome, Some(Outcome::Failed));
    assert_eq!(end.error.as_deref(), Some("refund total mismatch"));
    assert!(end.duration_us.is_some());
    assert!(trace
        .events
        .iter()
        .all(|e| e.action != Action::Custom || e.scenario.is_some()));
    trace.assert_gapless();
}

#[test]
fn tricky_strings_survive_the_hand_written_encoder() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = state_tracer::StateLayer::builder()
        .dir(tmp.path())
        .build()
        .unwrap();
    let tricky = [
        "quote \" backslash \\ slash /",
        "control \u{0} \u{1f} \n \r \t \u{8} \u{c} \u{7f}",
        "unicode żółć ✓ 🚀 \u{2028}",
        "",
    ];
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let s = state_tracer::scenario("enc \"feature\"\n", "scénario\t✓");
        let _in = s.enter();
        for t in tricky {
            state_tracer::custom(t, t);
        }
    });
    drop(guard);
    let trace = only_trace(tmp.path());
    let customs: Vec<_> = trace
        .events
        .iter()
        .filter(|e| e.action == Action::Custom)
        .collect();
    assert_eq!(customs.len(), tricky.len());
    for (e, t) in customs.iter().zip(tricky) {
        assert_eq!(e.name.as_deref(), Some(t));
        assert_eq!(e.details.as_deref().unwrap_or(""), t);
        assert_eq!(e.feature.as_deref(), Some("enc \"feature\"\n"));
        assert_eq!(e.scenario.as_deref(), Some("scénario\t✓"));
    }
}

/// Child entry point: does nothing in a normal test run.
#[test]
fn child() {
    let Some(role) = child_role() else { return };
    assert_eq!(role, "no_subscriber");
    // Tracing on in the environment, but no subscriber and no layer:
    // guards, helpers and plain events must not create anything by themselves.
    let s = state_tracer::scenario("f", "s");
    state_tracer::db_cleanup(Some("x"), &["a"]);
    state_tracer::jwt_rotate(b"k");
    let st = state_tracer::step("t");
    st.fail("nope");
    s.skip();
    drop(st);
    drop(s);
    tracing::info!(target: "bdd_state", action = "DB_CLEANUP", table = "users");
    println!("survived");
}

#[test]
fn typed_helpers_and_plain_events_are_no_ops_without_a_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("traces");
    let out = spawn_child("child", "no_subscriber")
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("survived"), "{}", stdout(&out));
    assert!(!dir.exists(), "nothing is created without a layer");
    assert!(!stderr(&out).contains("state-tracer"), "{}", stderr(&out));
}
