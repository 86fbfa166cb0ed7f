//! `run --confirm` on plain Rust tests: a real `cargo test` over the three
//! corpus binaries (`accounts`, `orders`, `reports`) on one SQLite file,
//! traced, analyzed, then every failed test's likely cause re-run with
//! just its suspect (`trace_analyzer::confirm::auto`, what `run --confirm`
//! calls), the re-runs being the test binaries the trace headers name.
//!
//! The ground truth comes from the database (`CORPUS_TRUTH`, see
//! `corpus::truth`), never from the trace: a confirmed polluter must be one
//! of the victim's true culprits, and a test that failed for a reason of
//! its own (the timing check in `reports`) is never confirmed against
//! anyone. The first run whose report has a likely cause is used (the
//! corpus tests pollute each other for real, so nearly every run has one).

use super::nested::corpus_cargo_test;
use std::path::Path;
use std::time::{Duration, Instant};

use corpus::truth::Who;
use trace_analyzer::confirm::{auto, Verdict};

/// A traced `cargo test` of the three binaries; returns the report.
fn traced_cargo_test(
    traces: &Path,
    truth: &Path,
    db_url: &str,
    run_id: &str,
) -> trace_analyzer::model::Report {
    let out = corpus_cargo_test()
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", traces)
        .env("BDD_TRACE_RUN_ID", run_id)
        .env("DATABASE_URL", db_url)
        .env("CORPUS_TRUTH", truth)
        .output()
        .expect("cargo starts");
    let output = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("test result:")
            .count(),
        3,
        "{output}"
    );
    trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
        inputs: vec![traces.to_path_buf()],
        run: Some(run_id.to_owned()),
        ..Default::default()
    })
    .run()
    .expect("the run's traces are analyzable")
    .report
}

fn who(s: &trace_analyzer::model::ScenarioRef) -> Who {
    Who::new(s.pid, &s.feature, &s.scenario)
}

#[test]
fn run_confirm_confirms_true_polluters_only_and_refutes_a_failure_of_its_own() {
    let root = tempfile::tempdir().unwrap();
    for attempt in 0..3 {
        let traces = root.path().join(format!("traces-{attempt}"));
        let truth = root.path().join(format!("truth-{attempt}.jsonl"));
        let db = format!(
            "sqlite://{}/shop-{attempt}.db?mode=rwc",
            root.path().display()
        );
        let run_id = format!("run-confirm-test-{attempt}-{}", std::process::id());
        let mut report = traced_cargo_test(&traces, &truth, &db, &run_id);
        if !report.findings.iter().any(|f| f.likely_cause) {
            continue;
        }
        let budget = Duration::from_secs(120);
        let started = Instant::now();
        let done = auto::confirm_likely_causes(
            &mut report,
            &auto::AutoOptions {
                inputs: vec![traces.clone()],
                run: Some(run_id.clone()),
                legacy_tz: Default::default(),
                budget,
                dir: root.path().join(format!("confirm-{attempt}")),
                env: vec![("DATABASE_URL".into(), db.clone())],
                reset: None,
            },
            &mut |_| {},
        );
        // Within the budget plus one re-run (a test binary runs in seconds).
        assert!(
            started.elapsed() < budget + Duration::from_secs(60),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(done.not_reached, 0, "{done:?}");
        let text = std::fs::read_to_string(&truth).unwrap_or_default();
        let truth = corpus::score::parse_truth(&text).expect("the truth file parses");
        let verdicts = corpus::score::verdicts(&truth);
        let mut confirmed = 0;
        for f in report.findings.iter().filter(|f| f.verdict.is_some()) {
            let (v, p) = (f.victim.as_ref().unwrap(), f.polluter.as_ref().unwrap());
            let c = f.confirm.as_ref().unwrap();
            let known = verdicts.get(&who(v));
            if f.verdict == Some(Verdict::Confirmed) {
                confirmed += 1;
                let true_culprit = known.is_some_and(|k| k.culprits.contains(&who(p)));
                assert!(
                    true_culprit,
                    "{:?} confirmed against {:?}, not a true culprit ({known:?}): {}",
                    v.scenario, p.scenario, c.summary
                );
                assert!(c.reproduced >= 1 && c.passed_alone == c.alone, "{c:?}");
            }
            if known.is_some_and(|k| k.genuine) {
                assert_ne!(f.verdict, Some(Verdict::Confirmed), "{}", c.summary);
            }
        }
        assert!(
            confirmed >= 1,
            "no likely cause confirmed: {:#?}",
            report
                .findings
                .iter()
                .filter_map(|f| f.confirm.as_ref().map(|c| (&f.verdict, &c.summary)))
                .collect::<Vec<_>>()
        );
        return;
    }
    panic!("three cargo test runs and no likely cause in any: the corpus tests did not pollute each other");
}
