//! `docs/format.md` stays true: its complete example parses with the
//! format module and follows the seq/footer rules, and its Python writer
//! (python3 required, see `scripts/setup.sh`) produces a file this crate reads.

mod common;

use common::*;
use state_tracer::format::{Action, Record};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/format.md")).unwrap()
}

fn block(doc: &str, lang: &str) -> String {
    let start = doc
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no {lang} block"))
        + lang.len()
        + 4;
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_owned()
}

#[test]
fn the_complete_example_is_a_valid_file() {
    let text = block(&doc(), "jsonl");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bdd-state-trace-example.jsonl");
    std::fs::write(&path, &text).unwrap();
    let trace = read_trace(&path);
    assert_eq!(trace.header.run_id, "ci-1234");
    trace.assert_gapless();
    let footer = trace.footer.unwrap();
    assert_eq!(footer.records + footer.dropped, footer.seq);
    assert!(trace.events.iter().any(|e| e.action == Action::DbCleanup));
    for line in text.lines() {
        assert!(Record::parse(line).is_ok());
    }
}

fn python3_missing() -> bool {
    let missing = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err();
    if missing {
        // A missing tool fails the test unless the run opts out explicitly.
        assert!(
            testkit::allow_missing_tools(),
            "python3 not installed: run scripts/setup.sh (or set {}=1 to skip)",
            testkit::ALLOW_MISSING_TOOLS
        );
        eprintln!("python3 not installed; skipping the Python example check");
    }
    missing
}

#[test]
fn the_python_writer_produces_a_readable_file() {
    if python3_missing() {
        return;
    }
    let code = block(&doc(), "python");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&code)
        .env("BDD_TRACE_DIR", dir.path())
        .env("BDD_TRACE_RUN_ID", "py-run")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let trace = only_trace(dir.path());
    assert_eq!(trace.header.run_id, "py-run");
    assert_eq!(trace.header.process, "auth");
    trace.assert_gapless();
    assert_eq!(
        trace.actions(),
        [
            "PROCESS_START",
            "SCENARIO_START",
            "DB_CLEANUP",
            "DB_DELETE",
            "JWT_ROTATE",
            "SCENARIO_END",
            "PROCESS_END"
        ]
    );
    assert_eq!(
        trace.events[2].rows, None,
        "a TRUNCATE-like cleanup reports no count"
    );
    assert_eq!(
        trace.events[3].rows,
        Some(2),
        "the scoped delete says what it deleted"
    );
    let end = &trace.events[5];
    assert_eq!(end.scenario_id, Some(1));
    assert_eq!(end.outcome, Some(state_tracer::format::Outcome::Passed));
}

#[test]
fn the_python_writer_keeps_file_names_ascii() {
    if python3_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(block(&doc(), "python"))
        .env("BDD_TRACE_DIR", dir.path())
        .env("BDD_TRACE_RUN_ID", "ci-\u{e9}\u{540d}-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("bdd-state-trace-ci-__-1-"),
        "non-ASCII letters become _: {names:?}"
    );
}
