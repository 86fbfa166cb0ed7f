//! One bad byte costs one line, never a whole file: leading blank lines, a
//! byte order mark, a damaged header or first legacy line; sequence
//! anomalies are told apart; a dropped file is said on stderr even when
//! the report goes to the terminal, and `--strict` makes it exit 2.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use state_tracer_format::{Action, Outcome};

/// A failed scenario's file (the only failure of the run) and a passing
/// one; returns the folder and the failed file's path.
fn run() -> (tempfile::TempDir, std::path::PathBuf) {
    let mut v = Proc::new(1, "greet");
    v.start(0, 1, "greet", "Welcome")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "greet", "Welcome", Outcome::Failed);
    let mut p = Proc::new(2, "admin");
    p.start(5, 1, "admin", "Purge")
        .act(30, Some(1), Action::DbDelete, Some(table(None, "users")))
        .end(40, 1, "admin", "Purge", Outcome::Passed);
    let dir = write_all(&[&p]);
    let failed = v.write(dir.path());
    (dir, failed)
}

fn edit(path: &Path, f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, f(bytes)).unwrap();
}

fn failed_scenarios(dir: &Path) -> u64 {
    report_of(dir).processes.iter().map(|p| p.failed).sum()
}

#[test]
fn leading_blank_lines_and_a_byte_order_mark_cost_nothing() {
    let (dir, _) = run();
    let whole = report_of(dir.path()).records;
    for prefix in [&b"\n"[..], b"\r\n\n", b"\xef\xbb\xbf", b"\n\xef\xbb\xbf"] {
        let (dir, failed) = run();
        edit(&failed, |b| [prefix, &b].concat());
        let r = report_of(dir.path());
        assert_eq!(r.records, whole, "prefix {prefix:?}: {:?}", r.warnings);
        assert_eq!(failed_scenarios(dir.path()), 1, "{prefix:?}");
        assert!(r.warnings.is_empty(), "{prefix:?}: {:?}", r.warnings);
    }
}

#[test]
fn a_damaged_header_costs_the_header_only() {
    let (dir, failed) = run();
    let whole = report_of(dir.path()).records;
    // One flipped byte in the header's first key.
    edit(&failed, |mut b| {
        b[2] ^= 0x20;
        b
    });
    let r = report_of(dir.path());
    assert_eq!(r.records, whole, "{:?}", r.warnings);
    assert_eq!(failed_scenarios(dir.path()), 1);
    assert_eq!(r.run_id, "run-1", "the run id is found from the file name");
    let w = r
        .warnings
        .iter()
        .find(|w| w.line == 1)
        .expect("line 1 named");
    assert!(w.message.contains("no readable header"), "{:?}", r.warnings);
}

#[test]
fn a_damaged_first_legacy_line_costs_that_line_only() {
    let dir = tempfile::tempdir().unwrap();
    let lines = "\
2026-04-11T10:10:53.032156 | auth | Register | SCENARIO_START |
2026-04-11T10:10:53.040000 | auth | Register | DB_CLEANUP | all_tables
2026-04-11T10:10:53.146438 | auth | Register | SCENARIO_END | FAILED
";
    let mut bytes = lines.as_bytes().to_vec();
    bytes[4] = b'#'; // 2026 -> 2026 with a flipped digit: not a time
    let path = dir.path().join("bdd-state-trace-20260411-101053-12345.log");
    std::fs::write(&path, &bytes).unwrap();
    let r = report_of(dir.path());
    assert_eq!(r.processes.len(), 1, "{:?}", r.warnings);
    assert_eq!(r.records, 2, "{:?}", r.warnings);
    assert!(r.warnings.iter().any(|w| w.line == 1), "{:?}", r.warnings);
}

/// Rewrites the failed file's event and footer lines with the given
/// sequence numbers (in file order), optionally repeating one line.
fn with_seqs(path: &Path, seqs: &[u64], repeat: Option<usize>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let events: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].starts_with(r#"{"type":"header""#))
        .collect();
    for (&i, &s) in events.iter().zip(seqs) {
        let mut v: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
        v["seq"] = s.into();
        lines[i] = v.to_string();
    }
    if let Some(k) = repeat {
        let line = lines[events[k]].clone();
        lines.insert(events[k] + 1, line);
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn seq_warnings(dir: &Path) -> (u64, Vec<String>) {
    let r = report_of(dir);
    (
        r.records,
        r.warnings.into_iter().map(|w| w.message).collect(),
    )
}

#[test]
fn a_duplicated_line_counts_once_and_is_called_duplicated() {
    let (dir, failed) = run();
    let whole = report_of(dir.path()).records;
    with_seqs(&failed, &[1, 2, 3, 4, 5], Some(2));
    let (records, w) = seq_warnings(dir.path());
    assert_eq!(records, whole, "{w:?}");
    assert!(w.iter().any(|m| m.contains("duplicated line")), "{w:?}");
    assert!(!w.iter().any(|m| m.contains("lost")), "{w:?}");
}

#[test]
fn a_step_back_is_reordered_and_a_gap_is_lost() {
    let (dir, failed) = run();
    with_seqs(&failed, &[1, 3, 2, 4, 5], None);
    let (_, w) = seq_warnings(dir.path());
    assert!(w.iter().any(|m| m.contains("out of order")), "{w:?}");
    assert!(!w.iter().any(|m| m.contains("lost")), "{w:?}");

    let (dir, failed) = run();
    with_seqs(&failed, &[1, 2, 5, 6, 9], None);
    let (_, w) = seq_warnings(dir.path());
    assert!(
        w.iter()
            .any(|m| m.contains("records 4 lost") && m.contains("2 gaps")),
        "{w:?}"
    );
}

#[test]
fn a_dropped_file_is_said_on_stderr_and_strict_exits_2() {
    let (dir, failed) = run();
    // Nothing of the failed process can be read.
    std::fs::write(&failed, b"\x00\x01garbage\n\x02\n").unwrap();
    let d = dir.path().to_str().unwrap();
    let report = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
            .args(["report", d, "--color", "never"])
            .args(extra)
            .env_remove("BDD_TRACE_DIR")
            .output()
            .unwrap()
    };
    let out = report(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(failed.to_str().unwrap()) && err.contains("not read"),
        "the table run still says it on stderr: {err}"
    );
    let strict = report(&["--strict"]);
    assert_eq!(strict.status.code(), Some(2));
}
