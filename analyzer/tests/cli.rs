//! The real binary: exit codes, colour, `run`, `clean`, `runs`, `merge`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use state_tracer_format::{Action, Outcome};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"));
    c.env_remove("BDD_TRACE_DIR").env_remove("NO_COLOR");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A run with one warning-level finding (leftover data read by a passing scenario).
fn warning_only() -> tempfile::TempDir {
    let mut p = Proc::new(1, "p");
    p.start(0, 1, "f", "Seed")
        .act(1, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(2, 1, "f", "Seed", Outcome::Passed)
        .start(3, 2, "f", "Read")
        .act(4, Some(2), Action::DbSelect, Some(table(None, "users")))
        .end(5, 2, "f", "Read", Outcome::Passed);
    write_all(&[&p])
}

fn clean_run() -> tempfile::TempDir {
    let mut p = Proc::new(1, "p");
    p.start(0, 1, "f", "Alone")
        .end(2, 1, "f", "Alone", Outcome::Passed);
    write_all(&[&p])
}

fn d(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn exit_codes_follow_fail_on() {
    let dir = warning_only();
    assert_eq!(
        run(&["report", d(dir.path())]).status.code(),
        Some(0),
        "default fails on errors only"
    );
    assert_eq!(
        run(&["report", d(dir.path()), "--fail-on", "warning"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        run(&[
            "report",
            d(dir.path()),
            "--fail-on",
            "never",
            "--deny",
            "leftover-data"
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        run(&["report", d(dir.path()), "--deny", "leftover-data"])
            .status
            .code(),
        Some(1)
    );
    let clean = clean_run();
    assert_eq!(
        run(&["report", d(clean.path()), "--fail-on", "warning"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn usage_and_input_errors_exit_2_with_a_message() {
    let out = run(&["report", "--fail-on", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("sometimes"));
    let out = run(&["report", "--allow", "no-such-rule"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("known rules"),
        "{}",
        text(&out.stderr)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = run(&["report", d(empty.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no trace files found"),
        "{}",
        text(&out.stderr)
    );
    let dir = clean_run();
    let out = run(&["report", d(dir.path()), "--run", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("run \"nope\" not found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn strict_turns_input_warnings_into_exit_2() {
    let dir = clean_run();
    std::fs::write(
        dir.path().join("bdd-state-trace-20260411-100000-9.log"),
        "garbage\n",
    )
    .unwrap();
    let lenient = run(&["report", d(dir.path()), "--run", "run-1"]);
    assert_eq!(lenient.status.code(), Some(0));
    let strict = run(&["report", d(dir.path()), "--run", "run-1", "--strict"]);
    assert_eq!(strict.status.code(), Some(2));
}

#[test]
fn help_has_examples() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.contains("Examples:") && help.contains("trace-analyzer run -- cargo test"),
        "{help}"
    );
    for sub in ["runs", "merge", "report", "run", "clean"] {
        let out = run(&[sub, "--help"]);
        assert!(
            text(&out.stdout).contains("Examples:"),
            "{sub} --help lacks examples"
        );
    }
}

#[test]
fn no_colour_when_piped_or_no_color_and_colour_when_forced() {
    let dir = warning_only();
    let piped = run(&["report", d(dir.path())]);
    assert!(!text(&piped.stdout).contains('\u{1b}'));
    let forced = run(&["report", d(dir.path()), "--color", "always"]);
    assert!(text(&forced.stdout).contains('\u{1b}'));
    let no_color = bin()
        .args(["report", d(dir.path())])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!text(&no_color.stdout).contains('\u{1b}'));
}

#[test]
fn report_writes_json_to_a_file_with_o() {
    let dir = warning_only();
    let out_file = dir.path().join("report.json");
    let out = run(&[
        "report",
        d(dir.path()),
        "--format",
        "json",
        "-o",
        d(&out_file),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(v["findings"][0]["rule"], "leftover-data");
    assert_eq!(v["findings"][0]["role"], "state-setter");
}

#[test]
fn inputs_default_to_bdd_trace_dir() {
    let dir = warning_only();
    let out = bin()
        .args(["report", "--format", "csv"])
        .env("BDD_TRACE_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).starts_with("rule,severity"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("leftover-data"));
}

#[test]
fn runs_lists_runs_newest_first_and_merge_says_others_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Proc::in_run_at(1, "p", "older", 0);
    a.start(0, 1, "f", "A").end(1, 1, "f", "A", Outcome::Passed);
    let mut b = Proc::in_run_at(2, "p", "newer", 60_000);
    b.start(60_000, 1, "f", "B")
        .end(60_001, 1, "f", "B", Outcome::Passed);
    a.write(dir.path());
    b.write(dir.path());
    let out = run(&["runs", d(dir.path()), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["run_id"], "newer");
    assert_eq!(v["runs"][1]["run_id"], "older");
    assert_eq!(v["runs"][0]["processes"], 1);
    assert_eq!(v["runs"][0]["end"], "2026-04-11T10:01:00.001Z");
    let merged = run(&["merge", d(dir.path())]);
    assert_eq!(merged.status.code(), Some(0));
    assert!(
        text(&merged.stderr).contains("1 other run in the inputs"),
        "{}",
        text(&merged.stderr)
    );
    let lines = text(&merged.stdout);
    assert!(lines.contains("| 2 | f | B | SCENARIO_START |"), "{lines}");
    assert!(!lines.contains("| A |"));
}

#[test]
fn run_traces_a_command_and_exits_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("traces");
    // A "test suite" that writes a legacy trace file where the analyzer sends it.
    let script = r#"
        [ "$BDD_TRACE_STATE" = 1 ] || exit 9
        [ -n "$BDD_TRACE_RUN_ID" ] || exit 9
        printf '%s\n' '2026-04-11T10:00:00.000000 | f | S | SCENARIO_START |' '2026-04-11T10:00:01.000000 | f | S | SCENARIO_END | PASSED' \
          > "$BDD_TRACE_DIR/bdd-state-trace-20260411-100000-$$.log"
        exit "$1"
    "#;
    let ok = run(&[
        "run",
        "--dir",
        d(&traces),
        "--format",
        "json",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        "0",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["processes"][0]["scenarios"], 1);
    let failed = run(&[
        "run",
        "--dir",
        d(&traces),
        "--format",
        "json",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        "3",
    ]);
    assert_eq!(
        failed.status.code(),
        Some(3),
        "the command's own failure wins"
    );
    let missing = run(&["run", "--dir", d(&traces), "--", "/no/such/command"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn run_writes_an_html_page_and_says_when_the_command_traced_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("traces");
    let page = dir.path().join("page.html");
    // A legacy file carries no run ID: the folder is the run.
    let script = r#"
        printf '%s\n' '2026-04-11T10:00:00.000000 | checkout | Pay by card | SCENARIO_START |' '2026-04-11T10:00:01.000000 | checkout | Pay by card | SCENARIO_END | FAILED: declined' \
          > "$BDD_TRACE_DIR/bdd-state-trace-20260411-100000-$$.log"
    "#;
    let html = run(&[
        "run",
        "--dir",
        d(&traces),
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(html.status.code(), Some(0), "{}", text(&html.stderr));
    let page = std::fs::read_to_string(&page).unwrap();
    assert!(page.contains("Pay by card"), "the page shows the scenario");
    let silent = run(&["run", "--dir", d(&dir.path().join("empty")), "--", "true"]);
    assert_eq!(silent.status.code(), Some(2));
    assert!(
        text(&silent.stderr).contains("wrote no trace files")
            || text(&silent.stderr).contains("no trace files in"),
        "{}",
        text(&silent.stderr)
    );
}

#[test]
fn clean_dry_run_lists_only_old_tracer_files() {
    let dir = clean_run();
    let p = dir.path();
    std::fs::write(
        p.join("bdd-state-trace-20200101-000000-1.log"),
        "TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS\n",
    )
    .unwrap();
    // Named like a v1 trace but not one: never deleted.
    std::fs::write(
        p.join("bdd-state-trace-fake-20200101T000000.000000Z-1-00000001.jsonl"),
        "{}\n",
    )
    .unwrap();
    std::fs::write(p.join("notes.log"), "keep me\n").unwrap();
    std::os::unix::fs::symlink(
        p.join("notes.log"),
        p.join("bdd-state-trace-20200101-000000-2.log"),
    )
    .unwrap();
    let out = run(&["clean", d(p), "--older-than", "0s", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    let listed = text(&out.stdout);
    let mut names: Vec<&str> = listed
        .lines()
        .map(|l| l.rsplit('/').next().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bdd-state-trace-20200101-000000-1.log",
            "bdd-state-trace-run-1-20260411T100000.000000Z-1-00000001.jsonl"
        ]
    );
    assert_eq!(
        std::fs::read_dir(p).unwrap().count(),
        5,
        "dry run deletes nothing"
    );
    let young = run(&["clean", d(p), "--older-than", "7d", "--dry-run"]);
    assert_eq!(text(&young.stdout), "");
    let real = run(&["clean", d(p), "--older-than", "0s"]);
    assert_eq!(real.status.code(), Some(0));
    assert_eq!(std::fs::read_dir(p).unwrap().count(), 3);
    assert!(p.join("notes.log").exists());
}

/// Runs the newest run; an older run with failed scenarios is named on
/// stderr before the report, with how many failures it holds.
#[test]
fn report_says_on_stderr_which_other_runs_hold_failures_it_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = Proc::in_run_at(1, "p", "older", 0);
    old.start(0, 1, "f", "A")
        .end(1, 1, "f", "A", Outcome::Failed)
        .start(2, 2, "f", "B")
        .end(3, 2, "f", "B", Outcome::Failed)
        .start(4, 3, "f", "C")
        .end(5, 3, "f", "C", Outcome::Passed);
    let mut passing_old = Proc::in_run_at(3, "p", "passing", 30_000);
    passing_old
        .start(30_000, 1, "f", "P")
        .end(30_001, 1, "f", "P", Outcome::Passed);
    let mut new = Proc::in_run_at(2, "p", "newer", 60_000);
    new.start(60_000, 1, "f", "N")
        .end(60_001, 1, "f", "N", Outcome::Passed);
    for p in [&old, &passing_old, &new] {
        p.write(dir.path());
    }
    let out = run(&["report", d(dir.path())]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("this output leaves out 2 failed scenarios in 1 other run of the inputs: older (2 failed)"),
        "{err}"
    );
    assert!(!err.contains("passing ("), "{err}");
    // Named only when a run was not chosen: --run says which one is wanted.
    let out = run(&["report", d(dir.path()), "--run", "newer"]);
    assert!(
        !text(&out.stderr).contains("leaves out"),
        "{}",
        text(&out.stderr)
    );
    // Only passing runs left out: the note, no warning.
    std::fs::remove_file(
        dir.path()
            .join("bdd-state-trace-older-20260411T100000.000000Z-1-00000001.jsonl"),
    )
    .unwrap();
    let out = run(&["report", d(dir.path())]);
    let err = text(&out.stderr);
    assert!(err.contains("note: 1 other run in the inputs"), "{err}");
    assert!(!err.contains("leaves out"), "{err}");
}

#[test]
fn report_to_a_file_says_what_it_wrote() {
    let dir = warning_only();
    for (format, kind) in [
        ("table", "table report"),
        ("json", "JSON report"),
        ("markdown", "Markdown report"),
        ("csv", "CSV report"),
        ("html", "HTML timeline and report"),
    ] {
        let file = dir.path().join(format!("out.{format}"));
        let out = run(&["report", d(dir.path()), "--format", format, "-o", d(&file)]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        let said = format!("trace-analyzer: wrote {} ({kind}", file.display());
        assert!(err.contains(&said), "{format}: {err}");
        assert!(
            err.contains("of run run-1: 1 process, 0 failed scenarios, 1 finding)"),
            "{format}: {err}"
        );
        assert!(std::fs::metadata(&file).unwrap().len() > 0);
    }
    // To stdout: nothing said.
    let out = run(&["report", d(dir.path())]);
    assert!(
        !text(&out.stderr).contains("wrote"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn runs_with_nothing_found_exits_2_and_says_where_it_looked() {
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty.path().join("a/b")).unwrap();
    std::fs::write(empty.path().join("a/notes.txt"), "x").unwrap();
    for format in ["table", "json"] {
        let out = run(&["runs", d(empty.path()), "--format", format]);
        assert_eq!(out.status.code(), Some(2), "{format}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "no trace files found in {} (searched 5 folder levels deep: 3 folders, 1 file;",
                empty.path().display()
            )),
            "{err}"
        );
    }
    // JSON still prints a document, for scripts.
    let out = run(&["runs", d(empty.path()), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"], serde_json::json!([]));
}

/// `scripts/demo.sh` writes `demo-output/<stamp>/attempt-N/traces/`: four
/// folder levels below `demo-output`, five below the repository.
#[test]
fn discovery_finds_the_demo_output_layout_and_says_when_it_stops_short() {
    let root = tempfile::tempdir().unwrap();
    let traces = root
        .path()
        .join("demo-output/20261207T101010Z/attempt-3/traces");
    std::fs::create_dir_all(&traces).unwrap();
    let mut p = Proc::in_run(1, "auth", "demo-1");
    p.start(0, 1, "f", "A").end(1, 1, "f", "A", Outcome::Failed);
    p.write(&traces);
    for input in [root.path().join("demo-output"), root.path().to_path_buf()] {
        let out = run(&["runs", d(&input), "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["runs"][0]["run_id"], "demo-1", "{}", input.display());
        let out = run(&["report", d(&input), "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    // One level deeper than searched: found nothing, and says why.
    let deep = root.path().join("x");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::rename(root.path().join("demo-output"), deep.join("demo-output")).unwrap();
    let out = run(&["runs", d(root.path())]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("1 folder deeper not searched: name a deeper folder"),
        "{err}"
    );
}
