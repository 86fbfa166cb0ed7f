//! Runs the real `bdd-demo` binary with tracing on and analyzes its traces
//! with the real analyzer library, returning the JSON report (the analyzer's
//! stable contract) for the assertions.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

pub const VICTIM: &str = "Welcome page for a newly registered user";
pub const JWT_POLLUTER: &str = "Rotating the signing secret invalidates issued tokens";
pub const JWT_VICTIM: &str = "Tokens from the identity provider are accepted";
pub const POLLUTION_RULES: &[&str] = &["concurrent-mutation", "leaked-state", "leftover-data"];

/// One traced suite run: its folder, whether it passed, the report.
pub struct SuiteRun {
    pub passed: bool,
    pub output: String,
    pub traces: PathBuf,
    pub report: Value,
}

impl SuiteRun {
    pub fn findings(&self) -> &[Value] {
        self.report["findings"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Did the scenario `name` fail in this run (per the report)?
    pub fn scenario_failed(&self, name: &str) -> bool {
        self.findings()
            .iter()
            .any(|f| f["victim"]["scenario"] == name && f["victim"]["outcome"] == "FAILED")
            || self.output.contains(&format!("Scenario: {name}"))
                && failed_in_output(&self.output, name)
    }
}

/// cucumber prints `✘` on the failed step under the scenario's header.
fn failed_in_output(output: &str, name: &str) -> bool {
    let Some(start) = output.find(&format!("Scenario: {name}")) else {
        return false;
    };
    let rest = &output[start..];
    let end = rest[1..]
        .find("Scenario:")
        .map(|i| i + 1)
        .unwrap_or(rest.len());
    rest[..end].contains('✘')
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh run ID and trace folder under `root`.
pub fn fresh(root: &Path, label: &str) -> (String, PathBuf) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!("e2e-{label}-{}-{n}", std::process::id());
    let dir = root.join(&id);
    (id, dir)
}

/// Runs `bdd-demo ARGS` with tracing into a fresh folder, then analyzes it.
pub fn run_traced(root: &Path, label: &str, args: &[&str], env: &[(&str, &str)]) -> SuiteRun {
    let (run_id, traces) = fresh(root, label);
    let out = Command::new(env!("CARGO_BIN_EXE_bdd-demo"))
        .args(args)
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", &traces)
        .env("BDD_TRACE_RUN_ID", &run_id)
        .env("NO_COLOR", "1")
        .env_remove("BDD_SCHEMA_ISOLATION")
        .env_remove("BDD_JWT_RESET")
        .env_remove("BDD_CONCURRENCY")
        .env_remove("BDD_FEATURES_DIR")
        .envs(env.iter().copied())
        .output()
        .expect("bdd-demo runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let analysis = trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
        inputs: vec![traces.clone()],
        run: Some(run_id),
        ..Default::default()
    })
    .run()
    .expect("the run's traces are analyzable");
    let report = serde_json::to_value(&analysis.report).expect("report serialises");
    assert!(
        report["warnings"].as_array().is_none_or(|w| w.is_empty()),
        "the analyzer had input warnings: {}",
        report["warnings"]
    );
    SuiteRun {
        passed: out.status.success(),
        output,
        traces,
        report,
    }
}

/// Every record of every trace file of a run, parsed.
pub fn records(traces: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for file in testkit::trace_files(traces) {
        for line in testkit::read_lines(&file).expect("trace file readable") {
            out.push(serde_json::from_str(&line).expect("every line is valid JSON"));
        }
    }
    out
}

/// Runs the suite in parallel without isolation until the greet victim
/// fails (bounded attempts), then checks the analyzer blames another
/// process's cleanup for it.
pub fn victim_is_found(root: &Path, label: &str, db_url: impl Fn(u32) -> String) {
    const ATTEMPTS: u32 = 25;
    for attempt in 0..ATTEMPTS {
        let url = db_url(attempt);
        let run = run_traced(root, label, &["suite"], &[("DATABASE_URL", &url)]);
        if !run.scenario_failed(VICTIM) {
            continue;
        }
        assert!(
            !run.passed,
            "the suite must report the failure:\n{}",
            run.output
        );
        let finding = run
            .findings()
            .iter()
            .find(|f| f["victim"]["scenario"] == VICTIM && f["rule"] == "concurrent-mutation")
            .unwrap_or_else(|| {
                panic!(
                    "no concurrent-mutation finding for the victim: {:#}",
                    run.report
                )
            });
        assert_eq!(finding["severity"], "error");
        assert_eq!(finding["likely_cause"], true, "{finding:#}");
        assert_eq!(finding["victim"]["feature"], "greet");
        assert_eq!(finding["victim"]["outcome"], "FAILED");
        let polluter = &finding["polluter"];
        assert_ne!(
            polluter["pid"], finding["victim"]["pid"],
            "another process: {finding:#}"
        );
        assert!(
            polluter["feature"] == "auth" || polluter["feature"] == "admin",
            "polluter {polluter:#}"
        );
        assert!(
            finding["resource"].as_str().unwrap_or("").contains("users"),
            "{finding:#}"
        );
        // Failed victims are ranked first.
        let first = &run.findings()[0];
        assert_eq!(first["likely_cause"], true, "ranking: {first:#}");
        return;
    }
    panic!("the greet victim never failed in {ATTEMPTS} parallel runs");
}

/// With the JWT reset off, the auth feature fails on its own and the
/// analyzer finds the leaked secret.
pub fn leaked_secret_is_found(root: &Path, label: &str, db_url: &str) {
    let run = run_traced(
        root,
        label,
        &["feature", "auth"],
        &[("DATABASE_URL", db_url), ("BDD_JWT_RESET", "false")],
    );
    assert!(
        !run.passed,
        "the leak must fail the feature:\n{}",
        run.output
    );
    let finding = run
        .findings()
        .iter()
        .find(|f| f["rule"] == "leaked-state" && f["victim"]["scenario"] == JWT_VICTIM)
        .unwrap_or_else(|| panic!("no leaked-state finding: {:#}", run.report));
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["likely_cause"], true);
    assert_eq!(finding["victim"]["outcome"], "FAILED");
    assert_eq!(finding["polluter"]["scenario"], JWT_POLLUTER);
    assert_eq!(finding["polluter"]["pid"], finding["victim"]["pid"]);
    assert!(
        finding["resource"].as_str().unwrap_or("").contains("jwt"),
        "{finding:#}"
    );
    // Only fingerprints reach the trace: never the secret itself.
    for file in testkit::trace_files(&run.traces) {
        let text = std::fs::read_to_string(&file).unwrap();
        let secret = String::from_utf8_lossy(bdd_demo::jwt::INITIAL_SECRET);
        assert!(
            !text.contains(secret.as_ref()),
            "secret leaked into {}",
            file.display()
        );
        assert!(
            !text.contains("eyJ"),
            "a token leaked into {}",
            file.display()
        );
    }
}

/// Isolation on, reset on: the suite passes every time; the analyzer sees
/// the processes overlap but finds no pollution.
pub fn isolated_runs_are_clean(root: &Path, label: &str, db_url: &str, iterations: u32) {
    for _ in 0..iterations {
        let run = run_traced(
            root,
            label,
            &["suite"],
            &[("DATABASE_URL", db_url), ("BDD_SCHEMA_ISOLATION", "true")],
        );
        assert!(run.passed, "isolated suite failed:\n{}", run.output);
        let overlaps = run.report["overlaps"].as_array().map(Vec::len).unwrap_or(0);
        assert!(
            overlaps > 0,
            "the processes ran in parallel: {:#}",
            run.report["overlaps"]
        );
        let pollution: Vec<&Value> = run
            .findings()
            .iter()
            .filter(|f| POLLUTION_RULES.contains(&f["rule"].as_str().unwrap_or("")))
            .collect();
        assert!(
            pollution.is_empty(),
            "isolated runs must not pollute: {pollution:#?}"
        );
        assert_eq!(run.report["processes"].as_array().map(Vec::len), Some(3));
    }
}
