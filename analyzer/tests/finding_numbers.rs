//! One numbering: the number a report prints next to a finding (table,
//! Markdown, `findings[].number` in JSON) is the one `confirm --finding N`
//! takes. Read off the real binary's report output, passed to the real
//! binary's `confirm`, and checked against the scenario the report printed.
//!
//! The run has a failed scenario with no traced cause first, so the failed
//! scenarios' order and the findings' order differ (what made `confirm
//! --finding 2` run another pair than the table's second failure).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use state_tracer_format::{Action, Outcome};

/// greet (pid 1): "lonely" fails touching nothing, then "v" writes and reads
/// `users` around admin's cleanup; shop (pid 3): "w" the same on `orders`.
fn run() -> tempfile::TempDir {
    let mut greet = Proc::new(1, "greet");
    greet
        .start(0, 1, "greet", "lonely")
        .end(5, 1, "greet", "lonely", Outcome::Failed)
        .start(10, 2, "greet", "v")
        .act(12, Some(2), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(2), Action::DbSelect, Some(table(None, "users")))
        .end(80, 2, "greet", "v", Outcome::Failed);
    let mut admin = Proc::new(2, "admin");
    admin
        .start(15, 1, "admin", "p")
        .act(30, Some(1), Action::DbCleanup, Some(table(None, "users")))
        .end(40, 1, "admin", "p", Outcome::Passed)
        .start(41, 2, "admin", "q")
        .act(50, Some(2), Action::DbCleanup, Some(table(None, "orders")))
        .end(55, 2, "admin", "q", Outcome::Passed);
    let mut shop = Proc::new(3, "shop");
    shop.start(20, 1, "shop", "w")
        .act(21, Some(1), Action::DbInsert, Some(table(None, "orders")))
        .act(70, Some(1), Action::DbSelect, Some(table(None, "orders")))
        .end(90, 1, "shop", "w", Outcome::Failed);
    write_all(&[&greet, &admin, &shop])
}

fn analyzer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("trace-analyzer runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (failed scenario `feature: name`, culprit finding number) per culprit
/// line of the table's failed-scenario blocks.
fn culprits_in_table(table: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut failure = None;
    for line in table.lines() {
        if let Some(rest) = line.strip_prefix("  - ").filter(|l| l.ends_with(" FAILED")) {
            failure = Some(rest.split(" (").next().unwrap().to_owned());
        } else if let Some(rest) = line.trim_start().strip_prefix("Culprit [") {
            let n = rest
                .split("finding ")
                .nth(1)
                .unwrap()
                .split(']')
                .next()
                .unwrap();
            out.push((
                failure.clone().expect("a culprit under a failure"),
                n.parse().unwrap(),
            ));
        }
    }
    out
}

/// The victim `confirm --finding N` picks, as `feature: name`. The commands
/// are given (`true`), so nothing from the trace runs and no consent is
/// asked; the verdict does not matter here, only the pair chosen.
fn confirmed_victim(traces: &Path, work: &Path, n: usize) -> String {
    let n = n.to_string();
    let out = analyzer(&[
        "confirm",
        traces.to_str().unwrap(),
        "--finding",
        &n,
        "--victim-cmd",
        "true",
        "--polluter-cmd",
        "true",
        "--alone",
        "1",
        "--attempts",
        "1",
        "--format",
        "json",
        "--dir",
        work.join(format!("confirm-{n}")).to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "confirm --finding {n}: {e}\n{}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    format!(
        "{}: {}",
        v["victim"]["feature"].as_str().unwrap(),
        v["victim"]["scenario"].as_str().unwrap()
    )
}

#[test]
fn the_number_a_report_prints_is_the_finding_confirm_runs() {
    let traces = run();
    let work = tempfile::tempdir().unwrap();
    let dir = traces.path().to_str().unwrap();

    let table = stdout(&analyzer(&["report", dir, "--color", "never"]));
    let culprits = culprits_in_table(&table);
    assert_eq!(culprits.len(), 2, "two failures with a cause:\n{table}");
    assert!(
        !table.contains("  1. ") && !table.contains("  2. "),
        "failed scenarios carry no number of their own:\n{table}"
    );
    // The numbering differs from the failures' order (the first failure has
    // no cause), which is what the one numbering is for.
    let failures: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("  - ").filter(|l| l.ends_with(" FAILED")))
        .collect();
    assert_eq!(failures.len(), 3, "{table}");
    assert!(culprits
        .iter()
        .any(|(v, n)| failures.iter().position(|f| f.starts_with(v.as_str())) != Some(n - 1)));
    for (victim, n) in &culprits {
        assert_eq!(
            &confirmed_victim(traces.path(), work.path(), *n),
            victim,
            "finding {n}:\n{table}"
        );
    }

    // Markdown prints the same numbers beside the same culprits.
    let md = stdout(&analyzer(&["report", dir, "--format", "markdown"]));
    for (victim, n) in &culprits {
        let block = md
            .split("#### ")
            .find(|b| b.starts_with(&format!("{victim} (")))
            .unwrap_or_else(|| panic!("{victim} in:\n{md}"));
        assert!(block.contains(&format!(", finding {n}): ")), "{block}");
    }

    // JSON carries each finding's number; the table's culprits are there
    // with their victims.
    let json = stdout(&analyzer(&["report", dir, "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let findings = v["findings"].as_array().unwrap();
    for (i, f) in findings.iter().enumerate() {
        assert_eq!(f["number"], i + 1);
    }
    for (victim, n) in &culprits {
        let f = &findings[n - 1];
        assert_eq!(
            &format!(
                "{}: {}",
                f["victim"]["feature"].as_str().unwrap(),
                f["victim"]["scenario"].as_str().unwrap()
            ),
            victim
        );
        assert_eq!(f["likely_cause"], true);
    }
}
