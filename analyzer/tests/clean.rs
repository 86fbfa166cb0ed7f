//! `clean` in a shared folder: it deletes only old files the tracer made and
//! has finished with, and by default never looks into other folders.

mod common;

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::*;
use state_tracer_format::Outcome;

fn clean(dir: Option<&Path>, env_dir: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"));
    c.env("BDD_TRACE_DIR", env_dir).arg("clean");
    if let Some(d) = dir {
        c.arg(d);
    }
    if !extra.contains(&"--older-than") {
        c.args(["--older-than", "1m"]);
    }
    c.args(extra).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Backdates a file's modification time by an hour.
fn age(path: &Path) {
    let f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

/// One real v1 trace file (a passing scenario), backdated; returns its path.
fn v1_file(dir: &Path) -> std::path::PathBuf {
    let mut p = Proc::new(1, "p");
    p.start(0, 1, "f", "Alone")
        .end(2, 1, "f", "Alone", Outcome::Passed);
    let path = p.write(dir);
    age(&path);
    path
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn with_no_folder_only_the_top_level_of_the_default_folder_is_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let top = v1_file(tmp.path());
    // Another program's folder holding what looks exactly like our files.
    let other = tmp.path().join("other-program");
    fs::create_dir(&other).unwrap();
    let nested = v1_file(&other);

    let out = clean(None, tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!top.exists(), "the top-level trace file is deleted");
    assert!(
        nested.exists(),
        "no recursion into other folders by default"
    );
    assert!(
        text(&out.stderr).contains("top level"),
        "says what it looks at: {}",
        text(&out.stderr)
    );

    // Named explicitly, the folder is searched.
    let out = clean(Some(tmp.path()), tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!nested.exists(), "a named folder is searched");
}

#[test]
fn files_are_recognised_by_their_first_line_never_by_name_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let keep = [
        ("bdd-state-trace-20200101-000000-1.log", "hello\n"),
        ("bdd-state-trace-20200101-000000-2.log", ""),
        (
            "bdd-state-trace-x-20200101T000000.000000Z-1-00000001.jsonl",
            "{}\n",
        ),
    ];
    for (name, body) in keep {
        fs::write(d.join(name), body).unwrap();
        age(&d.join(name));
    }
    let go = d.join("bdd-state-trace-20200101-000000-3.log");
    fs::write(&go, "2020-01-01 00:00:00.000 | f | s | SCENARIO_START | \n").unwrap();
    age(&go);
    let v1 = v1_file(d);

    let out = clean(Some(d), d, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!go.exists() && !v1.exists(), "real trace files are deleted");
    let mut kept: Vec<&str> = keep.iter().map(|(n, _)| *n).collect();
    kept.sort();
    assert_eq!(names(d), kept);
}

#[test]
fn a_file_still_open_for_writing_is_never_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let finished = v1_file(d);
    let header = fs::read_to_string(&finished).unwrap();
    let header = header.lines().next().unwrap();
    // Created the way the tracer creates its file: locked while open.
    let (mut open, path) = state_tracer::file::create(d, "run-2", chrono::Utc::now()).unwrap();
    writeln!(open, "{header}").unwrap();
    age(&path);

    let dry = clean(Some(d), d, &["--dry-run"]);
    assert!(
        text(&dry.stderr).contains("still open for writing"),
        "{}",
        text(&dry.stderr)
    );
    assert!(!text(&dry.stdout).contains(path.to_str().unwrap()));

    let out = clean(Some(d), d, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!finished.exists());
    assert!(path.exists(), "the open file is kept");

    drop(open);
    let out = clean(Some(d), d, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!path.exists(), "once closed it is old and finished");
}

#[test]
fn a_fifo_named_like_a_trace_file_neither_hangs_nor_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("bdd-state-trace-20200101-000000-9.log");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let out = clean(Some(tmp.path()), tmp.path(), &["--older-than", "0s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(fs::symlink_metadata(&fifo).is_ok());
}
