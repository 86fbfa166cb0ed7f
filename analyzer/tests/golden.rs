//! Golden files for every output format. Regenerate after an intended
//! change with `UPDATE_GOLDEN=1 cargo test -p trace-analyzer --test golden`
//! and review the diff.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use state_tracer_format::{Action, Outcome};
use trace_analyzer::discover::discover;
use trace_analyzer::merge::Merger;
use trace_analyzer::read::ReadOptions;
use trace_analyzer::render::{
    write_report, MergeFormat, RecordWriter, RenderOptions, ReportFormat,
};
use trace_analyzer::{AnalyzeOptions, Analyzer};

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
    let a = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        ..Default::default()
    })
    .run()
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
    for (i, f) in v["findings"].as_array().unwrap().iter().enumerate() {
        assert_eq!(f["number"], i + 1, "findings[].number is its place from 1");
    }
    for key in [
        "number",
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

/// Seven processes on two databases whose table names are the same: every
/// process cleans `orders` while the others read it (hazards, none failed),
/// and in one process a test's cleanup breaks another test (same process).
fn crowded() -> tempfile::TempDir {
    let dbs = [
        "sqlite:/var/lib/ci/workspaces/checkout-one/target/tmp/app.db",
        "sqlite:/var/lib/ci/workspaces/checkout-two/target/tmp/app.db",
    ];
    let mut procs = Vec::new();
    for i in 0..7u32 {
        let db = dbs[(i % 2) as usize];
        let feature = format!("feature_{i}");
        let mut p = Proc::new(300 + i, &format!("binary_{i}"));
        p.start(0, 1, &feature, "reads the orders")
            .act(
                10,
                Some(1),
                Action::DbSelect,
                Some(table_in(Some(db), "orders")),
            )
            .act(
                90,
                Some(1),
                Action::DbSelect,
                Some(table_in(Some(db), "orders")),
            )
            .end(100, 1, &feature, "reads the orders", Outcome::Passed)
            .start(20, 2, &feature, "cleans the orders")
            .act(
                40 + i64::from(i),
                Some(2),
                Action::DbCleanup,
                Some(table_in(Some(db), "orders")),
            )
            .end(60, 2, &feature, "cleans the orders", Outcome::Passed);
        procs.push(p);
    }
    // Tests as threads of one process: one test's cleanup removes the rows
    // another test wrote and reads back.
    let mut same = Proc::new(400, "pollution");
    same.start(200, 1, "pollution", "transfer_moves_money")
        .act(
            210,
            Some(1),
            Action::DbInsert,
            Some(table(None, "accounts")),
        )
        .start(215, 2, "pollution", "monthly_report_cleans_up")
        .act(
            220,
            Some(2),
            Action::DbCleanup,
            Some(table(None, "accounts")),
        )
        .end(
            225,
            2,
            "pollution",
            "monthly_report_cleans_up",
            Outcome::Passed,
        )
        .act(
            230,
            Some(1),
            Action::DbSelect,
            Some(table(None, "accounts")),
        )
        .end(240, 1, "pollution", "transfer_moves_money", Outcome::Failed);
    procs.push(same);
    let refs: Vec<&Proc> = procs.iter().collect();
    write_all(&refs)
}

fn table_text(dir: &Path, verbose: bool, width: u16) -> String {
    let a = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.to_path_buf()],
        ..Default::default()
    })
    .run()
    .unwrap();
    let mut out = Vec::new();
    let opts = RenderOptions {
        color: false,
        width: Some(width),
        verbose,
    };
    write_report(ReportFormat::Table, &a.report, None, &opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn report_table_is_readable_at_a_glance() {
    let dir = crowded();
    // Asked for 300 columns (a wide terminal): still at most 160.
    let text = table_text(dir.path(), false, 300);
    for line in text.lines() {
        assert!(
            line.chars().count() <= 160,
            "{} chars: {line}\n{text}",
            line.chars().count()
        );
    }
    // Hazards: the first five groups, then how many more.
    let hazards = text
        .split("Hazards (")
        .nth(1)
        .expect("a hazards section")
        .split("\n\n")
        .next()
        .unwrap();
    let entries = hazards.lines().filter(|l| l.starts_with("  - ")).count();
    assert_eq!(entries, 5, "{hazards}");
    assert!(
        hazards.contains("  and ") && hazards.contains(" more group"),
        "{hazards}"
    );
    // The same table in two databases: the short names keep them apart
    // (the last path segment that differs), and the legend has both.
    assert!(text.contains(" checkout-one/…/main/orders"), "{text}");
    assert!(text.contains(" checkout-two/…/main/orders"), "{text}");
    assert!(!text.contains("on shared:sqlite:"), "{text}");
    assert!(
        text.contains(" = shared:sqlite:/var/lib/ci/workspaces/checkout-two/target/tmp/app.db/"),
        "{text}"
    );
    // Polluter and victim tests of one process: said so, never "X and X".
    assert!(
        text.contains("monthly_report_cleans_up (pid 400, the same process)"),
        "{text}"
    );
    assert!(!text.contains("isolate pollution and pollution"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("│ pollution (pid 400) ┆ the same process ")),
        "{text}"
    );
    assert!(text.contains("isolate feature_1 and feature_3"), "{text}");
    // Plurals.
    assert!(text.contains("1 failed scenario, "), "{text}");
    assert!(text.contains(" 8 processes "), "{text}");
    // --verbose: every group, full names, no legend.
    let verbose = table_text(dir.path(), true, 300);
    let groups = verbose
        .split("Hazards (")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  - "))
        .count();
    assert!(groups > 5, "{verbose}");
    assert!(
        verbose.contains("on shared:sqlite:/var/lib/ci/"),
        "{verbose}"
    );
    assert!(!verbose.contains("Resources (short names"), "{verbose}");
}
