//! The repro hint runs as given: the analyzer's command for the JWT leak,
//! copied from the report and run by a shell, selects just the polluter and
//! the victim, in order, and the victim fails again.

mod support;

use std::process::Command;

use support::*;

#[test]
fn the_leaked_secret_hint_reproduces_the_failure_when_run_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jwt.sqlite").display());
    let run = run_traced(
        dir.path(),
        "repro",
        &["feature", "auth"],
        &[("DATABASE_URL", &url), ("BDD_JWT_RESET", "false")],
    );
    let finding = run
        .findings()
        .iter()
        .find(|f| f["rule"] == "leaked-state" && f["victim"]["scenario"] == JWT_VICTIM)
        .unwrap_or_else(|| panic!("no leaked-state finding: {:#}", run.report));
    let command = finding["reproduce"]["command"].as_str().unwrap();
    assert!(
        command.contains("--name") && command.contains("--concurrency 1"),
        "cucumber, from the header's rerun template: {command}"
    );

    // The line sets its own run ID and trace folder (`bdd-traces/repro-<shell
    // pid>` under the folder it is run from) and the traced database: run
    // it from a scratch folder with none of that in the environment.
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(&scratch)
        .env_remove("DATABASE_URL")
        .env_remove("BDD_TRACE_DIR")
        .env_remove("BDD_TRACE_RUN_ID")
        .env_remove("BDD_TRACE_STATE")
        .env("BDD_JWT_RESET", "false")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let repro_dirs: Vec<std::path::PathBuf> = std::fs::read_dir(scratch.join("bdd-traces"))
        .expect("the line wrote its traces under ./bdd-traces")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(repro_dirs.len(), 1, "one repro run: {repro_dirs:?}");
    let traces = repro_dirs[0].clone();
    let output = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the victim fails again:\n{output}");
    assert!(
        output.contains("2 scenarios (1 passed, 1 failed)"),
        "exactly the two scenarios ran:\n{output}"
    );
    let order: Vec<String> = records(&traces)
        .iter()
        .filter(|r| r["action"] == "SCENARIO_START")
        .map(|r| r["scenario"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, [JWT_POLLUTER, JWT_VICTIM], "polluter first");
}
