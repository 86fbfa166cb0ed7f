//! Golden files for every output format. Regenerate after an intended
//! change with `UPDATE_GOLDEN=1 cargo test -p trace-analyzer --test golden`
//! and review the diff.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use state_tracer::format::{Action, Outcome};
use trace_analyzer::discover::discover;
use trace_analyzer::merge::Merger;
use trace_analyzer::read::ReadOptions;
use trace_analyzer::render::{
    write_report, MergeFormat, RecordWriter, RenderOptions, ReportFormat,
};
use trace_analyzer::{analyze, AnalyzeOptions};

/// Two processes: a cleanup in one while the other reads, a leak, a crash.
fn fixture() -> tempfile::TempDir {
    let mut auth = Proc::new(101, "auth");
    auth.start(0, 1, "auth", "Register")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(80, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(100, 1, "auth", "Register", Outcome::Failed)
        .start(110, 2, "auth", "Login")
        .act(120, Some(2), Action::JwtSet, None)
        .end(130, 2, "auth", "Login", Outcome::Passed)
        .start(140, 3, "auth", "Logout")
        .end(150, 3, "auth", "Logout", Outcome::Passed);
    let mut greet = Proc::new(202, "greet");
    greet
        .start(5, 1, "greet", "Greet, politely")
        .act(50, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(60, 1, "greet", "Greet, politely", Outcome::Passed)
        .start(70, 2, "greet", "Wave")
        .act_details(
            75,
            Some(2),
            Action::DbDdl,
            Some(table(None, "greetings")),
            "CREATE TABLE greetings (id INT)",
        )
        .crash();
    write_all(&[&auth, &greet])
}

fn golden(name: &str, actual: &str, dir: &Path) {
    let actual = actual.replace(&dir.display().to_string(), "<dir>");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        expected == actual,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

fn merged(format: MergeFormat) -> (String, tempfile::TempDir) {
    let dir = fixture();
    let d = discover(&[dir.path().to_path_buf()], &Default::default());
    let run = &d.runs[0];
    let mut out = Vec::new();
    let mut w = RecordWriter::new(format, &run.files);
    w.begin(&mut out).unwrap();
    let opts = ReadOptions {
        full: true,
        ..Default::default()
    };
    let mut m = Merger::new(&run.files, &opts);
    for rec in m.by_ref() {
        w.write(&rec, &mut out).unwrap();
    }
    m.finish();
    (String::from_utf8(out).unwrap(), dir)
}

fn reported(format: ReportFormat) -> (String, tempfile::TempDir) {
    reported_with(format, false)
}

fn reported_with(format: ReportFormat, verbose: bool) -> (String, tempfile::TempDir) {
    let dir = fixture();
    let a = analyze(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        ..Default::default()
    })
    .unwrap();
    let mut out = Vec::new();
    let opts = RenderOptions {
        color: false,
        width: Some(140),
        verbose,
    };
    write_report(format, &a.report, a.timeline.as_ref(), &opts, &mut out).unwrap();
    (String::from_utf8(out).unwrap(), dir)
}

#[test]
fn merge_text() {
    let (out, dir) = merged(MergeFormat::Text);
    golden("merge.txt", &out, dir.path());
}

#[test]
fn merge_jsonl() {
    let (out, dir) = merged(MergeFormat::Jsonl);
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["pid"].is_u64() && v["ts"].is_string(), "{line}");
    }
    golden("merge.jsonl", &out, dir.path());
}

#[test]
fn merge_csv() {
    let (out, dir) = merged(MergeFormat::Csv);
    golden("merge.csv", &out, dir.path());
}

#[test]
fn report_table() {
    let (out, dir) = reported(ReportFormat::Table);
    assert!(!out.contains('\u{1b}'), "no colour when asked for none");
    golden("report.txt", &out, dir.path());
}

#[test]
fn report_table_verbose_adds_every_finding() {
    let (out, dir) = reported_with(ReportFormat::Table, true);
    golden("report-verbose.txt", &out, dir.path());
}

#[test]
fn report_json_keeps_the_contract_keys() {
    let (out, dir) = reported(ReportFormat::Json);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in [
        "run_id",
        "processes",
        "findings",
        "overlaps",
        "warnings",
        "hazards",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["pid", "label", "scenarios", "failed", "crashed"] {
        assert!(
            v["processes"][0].get(key).is_some(),
            "missing processes[].{key}"
        );
    }
    let f = &v["findings"][0];
    for key in [
        "rule",
        "severity",
        "likely_cause",
        "victim",
        "polluter",
        "resource",
        "at",
        "explanation",
    ] {
        assert!(f.get(key).is_some(), "missing findings[].{key}");
    }
    for key in ["pid", "feature", "scenario", "outcome"] {
        assert!(f["victim"].get(key).is_some(), "missing victim.{key}");
    }
    assert!(
        f["evidence"].is_string(),
        "the likely cause says its evidence"
    );
    let h = &v["hazards"][0];
    for key in [
        "rule",
        "severity",
        "polluter",
        "victim",
        "resource",
        "pairs",
        "occurrences",
        "first",
        "last",
        "example_polluter",
        "example_victim",
        "fix",
    ] {
        assert!(h.get(key).is_some(), "missing hazards[].{key}");
    }
    let o = &v["overlaps"][0];
    for key in ["a", "b", "count", "example"] {
        assert!(o.get(key).is_some(), "missing overlaps[].{key}");
    }
    assert!(o["a"]["pid"].is_u64() && o["a"]["label"].is_string());
    golden("report.json", &out, dir.path());
}

#[test]
fn report_markdown() {
    let (out, dir) = reported(ReportFormat::Markdown);
    golden("report.md", &out, dir.path());
}

#[test]
fn report_csv() {
    let (out, dir) = reported(ReportFormat::Csv);
    golden("report.csv", &out, dir.path());
}
