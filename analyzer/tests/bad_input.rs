//! Bad input never panics, is named with file and line, and the rest is
//! still analyzed.

mod common;

use std::fs;
use std::io::Write;

use common::*;
use state_tracer_format::{Action, Outcome};
use trace_analyzer::{AnalyzeOptions, Analyzer, Report};

/// A good process next to the bad file, to show the rest is analyzed.
fn good(dir: &std::path::Path) {
    let mut p = Proc::new(1, "good");
    p.start(0, 1, "f", "Fine")
        .act(1, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(2, 1, "f", "Fine", Outcome::Passed);
    p.write(dir);
}

fn report(dir: &std::path::Path) -> Report {
    Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.to_path_buf()],
        ..Default::default()
    })
    .run()
    .unwrap()
    .report
}

fn warnings_for<'a>(r: &'a Report, name: &str) -> Vec<(u64, &'a str)> {
    r.warnings
        .iter()
        .filter(|w| w.file.ends_with(name))
        .map(|w| (w.line, w.message.as_str()))
        .collect()
}

#[test]
fn an_unreadable_file_is_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    good(dir.path());
    let bad = dir
        .path()
        .join("bdd-state-trace-r-20260411T100000.000000Z-9-00000009.jsonl");
    fs::write(&bad, "x").unwrap();
    // Root can read anything, so make it unreadable as a file: a dangling symlink
    // given explicitly, and a file with no read permission.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o000)).unwrap();
    let missing = dir.path().join("bdd-state-trace-gone.jsonl");
    let r = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf(), missing.clone()],
        ..Default::default()
    })
    .run()
    .unwrap()
    .report;
    assert_eq!(r.processes.len(), 1);
    let w: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.file.ends_with("bdd-state-trace-gone.jsonl"))
        .collect();
    assert_eq!(w.len(), 1);
    assert!(w[0].message.starts_with("cannot read"), "{}", w[0].message);
}

#[test]
fn a_folder_with_no_traces_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let r = report(dir.path());
    assert!(r.processes.is_empty());
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0].message.contains("no trace files found"),
        "{}",
        r.warnings[0].message
    );
}

#[test]
fn binary_garbage_named_like_a_trace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    good(dir.path());
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(
        dir.path()
            .join("bdd-state-trace-x-20260411T100000.000000Z-5-00000005.jsonl"),
        &garbage,
    )
    .unwrap();
    fs::write(
        dir.path().join("bdd-state-trace-20260411-100000-6.log"),
        &garbage,
    )
    .unwrap();
    let r = report(dir.path());
    assert_eq!(r.processes.len(), 1);
    let jsonl = warnings_for(&r, "-5-00000005.jsonl");
    assert_eq!(jsonl.len(), 1);
    assert_eq!(jsonl[0].0, 1);
    assert!(jsonl[0].1.contains("not a trace file"), "{}", jsonl[0].1);
    let log = warnings_for(&r, "-6.log");
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].1.contains("named like a Go trace file"),
        "{}",
        log[0].1
    );
}

#[test]
fn a_truncated_last_line_is_reported_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Proc::new(3, "killed");
    p.start(0, 1, "f", "Cut")
        .act(1, Some(1), Action::DbInsert, Some(table(None, "users")))
        .crash();
    let mut bytes = p.bytes();
    bytes.extend_from_slice(br#"{"type":"event","seq":3,"ts":"2026-04-11T10:00:00.002000Z","act"#);
    fs::write(
        dir.path()
            .join("bdd-state-trace-run-1-20260411T100000.000000Z-3-00000003.jsonl"),
        bytes,
    )
    .unwrap();
    let r = report(dir.path());
    let w = warnings_for(&r, "-3-00000003.jsonl");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, 4);
    assert!(w[0].1.starts_with("truncated last line"), "{}", w[0].1);
    assert_eq!(r.records, 2);
    assert_eq!(
        summary(&r),
        [
            "error unfinished-scenario Cut<--",
            "error crashed-process Cut<--"
        ]
    );
}

#[test]
fn invalid_utf8_is_reported_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Proc::new(4, "p");
    p.start(0, 1, "f", "S");
    let mut bytes = p.bytes();
    bytes.extend_from_slice(b"{\"type\":\"event\",\"feature\":\"\xff\xfe\"}\n");
    let mut q = Proc::new(4, "p");
    q.start(0, 1, "f", "S").end(5, 1, "f", "S", Outcome::Passed);
    // The end line, after the bad one.
    let end_line = q.bytes().split(|&b| b == b'\n').nth(2).unwrap().to_vec();
    let end_line = String::from_utf8(end_line)
        .unwrap()
        .replace("\"seq\":2", "\"seq\":3");
    bytes.truncate(bytes.len() - p.bytes().split(|&b| b == b'\n').nth(2).unwrap().len() - 1);
    bytes.extend_from_slice(b"{\"type\":\"event\",\"feature\":\"\xff\xfe\"}\n");
    bytes.extend_from_slice(end_line.as_bytes());
    bytes.push(b'\n');
    fs::write(
        dir.path()
            .join("bdd-state-trace-run-1-20260411T100000.000000Z-4-00000004.jsonl"),
        bytes,
    )
    .unwrap();
    let r = report(dir.path());
    let w = warnings_for(&r, "-4-00000004.jsonl");
    assert!(
        w.iter()
            .any(|(line, m)| *line == 3 && m.contains("invalid UTF-8")),
        "{w:?}"
    );
    assert_eq!(
        r.processes[0].passed, 1,
        "the line after the bad one is still read"
    );
}

#[test]
fn a_100_mb_line_is_skipped_without_buffering_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bdd-state-trace-20260411-100000-8.log");
    let mut f = fs::File::create(&path).unwrap();
    writeln!(f, "2026-04-11T10:00:00.000000 | f | Big | SCENARIO_START |").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&chunk).unwrap();
    }
    writeln!(f).unwrap();
    writeln!(
        f,
        "2026-04-11T10:00:00.100000 | f | Big | SCENARIO_END | PASSED"
    )
    .unwrap();
    drop(f);
    let r = report(dir.path());
    let w = warnings_for(&r, "-8.log");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, 2);
    assert!(w[0].1.contains("104857600 bytes is too long"), "{}", w[0].1);
    assert_eq!(
        (r.processes[0].pid, r.processes[0].passed),
        (8, 1),
        "the lines around it are kept"
    );
}

#[test]
fn an_unknown_format_version_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    good(dir.path());
    fs::write(
        dir.path().join("bdd-state-trace-run-1-20260411T100000.000000Z-2-00000002.jsonl"),
        "{\"type\":\"header\",\"format\":\"bdd-state-trace\",\"version\":2,\"run_id\":\"run-1\"}\n{\"type\":\"event\"}\n",
    )
    .unwrap();
    let r = report(dir.path());
    assert_eq!(r.processes.len(), 1);
    let w = warnings_for(&r, "-2-00000002.jsonl");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, 1);
    assert!(w[0].1.contains("version 2 is not supported"), "{}", w[0].1);
}

#[test]
fn duplicate_files_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    good(dir.path());
    let sub = dir.path().join("copy");
    fs::create_dir(&sub).unwrap();
    good(&sub);
    let r = report(dir.path());
    assert_eq!(r.processes.len(), 1);
    assert_eq!(r.records, 4);
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0].message.starts_with("duplicate of"),
        "{}",
        r.warnings[0].message
    );
    // The same file given twice is silently read once.
    let file = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let twice = Analyzer::new(&AnalyzeOptions {
        inputs: vec![file.clone(), file],
        ..Default::default()
    })
    .run()
    .unwrap()
    .report;
    assert_eq!((twice.processes.len(), twice.warnings.len()), (1, 0));
}

#[test]
fn a_bad_line_in_the_middle_is_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bdd-state-trace-20260411-100000-9.log");
    fs::write(
        &path,
        "2026-04-11T10:00:00.000000 | f | S | SCENARIO_START |\nthis is not a trace line\n2026-04-11T10:00:01.000000 | f | S | SCENARIO_END | PASSED\n",
    )
    .unwrap();
    let r = report(dir.path());
    assert_eq!(
        warnings_for(&r, "-9.log")
            .iter()
            .map(|w| w.0)
            .collect::<Vec<_>>(),
        [2]
    );
    assert_eq!(r.processes[0].passed, 1);
}
