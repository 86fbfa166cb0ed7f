//! One `cargo test`, one run: a real `cargo test` over this crate's three
//! corpus test binaries (`accounts`, `orders`, `reports`: 5 ignored tests
//! each, three processes run one after another) with `BDD_TRACE_STATE=1`
//! and no run ID set by hand. Every trace file must carry the same run ID,
//! the analyzer must see all 15 tests in that one run, and a second
//! `cargo test` must be a second run.
//!
//! The inner cargo uses this build's target folder (`CARGO_TARGET_DIR` is
//! inherited) and the workspace's feature set, so under
//! `cargo test --workspace --all-features` (`scripts/test.sh`) the three
//! binaries are already built (another selection, e.g. `-p sqlx-tests`,
//! builds them once more with those features). cargo does not hold its
//! build lock while tests run, so the nested cargo does not wait on ours.

use super::nested::{corpus_cargo_test, text, BINARIES};
use std::collections::BTreeSet;
use std::path::Path;

/// How many traced tests the corpus binaries hold.
const TESTS: u64 = 15;

/// `cargo test` over the three binaries; returns the distinct run IDs in
/// the trace files' headers and the analyzer's report of the newest run.
fn cargo_test(traces: &Path, db_url: &str) -> (BTreeSet<String>, usize, serde_json::Value) {
    let out = corpus_cargo_test()
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", traces)
        .env("DATABASE_URL", db_url)
        .env_remove("CORPUS_TRUTH")
        .output()
        .expect("cargo starts");
    let output = text(&out);
    // Each binary ran: libtest prints one summary line per binary.
    let summaries = output.matches("test result:").count();
    assert_eq!(summaries, BINARIES.len(), "{output}");

    let mut ids = BTreeSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(traces).expect("the trace folder exists") {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(header["type"], "header", "{}", path.display());
        ids.insert(header["run_id"].as_str().unwrap().to_owned());
        files += 1;
    }
    let analysis = trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
        inputs: vec![traces.to_path_buf()],
        ..Default::default()
    })
    .run()
    .expect("the run's traces are analyzable");
    (ids, files, serde_json::to_value(&analysis.report).unwrap())
}

#[test]
fn one_cargo_test_over_three_binaries_is_one_run_and_two_are_two() {
    let root = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for i in 0..2 {
        let traces = root.path().join(format!("traces-{i}"));
        let db = format!("sqlite://{}/corpus-{i}.db?mode=rwc", root.path().display());
        let (ids, files, report) = cargo_test(&traces, &db);
        assert_eq!(files, BINARIES.len(), "one trace file per test binary");
        assert_eq!(ids.len(), 1, "one run ID across the binaries: {ids:?}");
        let id = ids.into_iter().next().unwrap();
        assert!(id.starts_with("cargo-"), "{id}");
        // The report holds every test of every binary: none left in another run.
        assert_eq!(report["run_id"], id.as_str());
        assert_eq!(report["other_runs"], serde_json::json!([]));
        let processes = report["processes"].as_array().unwrap();
        assert_eq!(processes.len(), BINARIES.len(), "{processes:#?}");
        let scenarios: u64 = processes
            .iter()
            .map(|p| p["scenarios"].as_u64().unwrap())
            .sum();
        let decided: u64 = processes
            .iter()
            .map(|p| p["passed"].as_u64().unwrap() + p["failed"].as_u64().unwrap())
            .sum();
        assert_eq!((scenarios, decided), (TESTS, TESTS), "{processes:#?}");
        runs.push(id);
    }
    assert_ne!(runs[0], runs[1], "two cargo test invocations, two runs");
}
