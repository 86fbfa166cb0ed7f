//! Nextest-sized runs (issue 21): thousands of one-test processes and
//! runs where every process overlaps every other go through `report`,
//! `export` and the HTML page with an answer whose size does not grow with
//! the process pairs. Runs are written by `gen`; no timings are asserted
//! (see `scripts/bench-analyzer.sh` for those), only sizes and counts.

use std::fs;
use std::path::Path;
use std::process::Command;

use trace_analyzer::gen::{generate, GenArgs, GenFormat};
use trace_analyzer::Report;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
}

/// `processes` one-test processes, `concurrency` at a time (0: all at
/// once), all on one shared schema.
fn one_test_run(dir: &Path, processes: u32, concurrency: u32) {
    generate(&GenArgs {
        dir: dir.to_path_buf(),
        processes,
        records: 10,
        scenario_len: 10,
        pollutions: 2,
        format: GenFormat::V1,
        run_id: "scale".into(),
        sharing: processes,
        concurrency,
    })
    .unwrap();
}

/// Runs `report --format json` and returns the report and its size.
fn report(dir: &Path, extra: &[&str]) -> (Report, usize) {
    let out = bin()
        .arg("report")
        .arg(dir)
        .args(["--format", "json", "--fail-on", "never"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        out.stdout.len(),
    )
}

fn run_ok(args: &[&str], dir: &Path, out: &Path) {
    let st = bin()
        .args(args)
        .arg(dir)
        .arg("-o")
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "{args:?}");
}

/// The bounds of the issue, whatever the number of processes.
fn assert_bounded(r: &Report, json_bytes: usize) {
    assert!(r.hazards.len() <= 200, "{} hazard groups", r.hazards.len());
    assert!(json_bytes <= 10 << 20, "{json_bytes} bytes of JSON");
    assert!(r.overlaps.len() <= trace_analyzer::overlap::LISTED);
    // The planted failures are still named.
    assert!(
        r.findings.iter().any(|f| f.likely_cause),
        "no likely cause among {} findings",
        r.findings.len()
    );
}

#[test]
fn twenty_thousand_one_test_processes_give_a_bounded_answer() {
    let dir = tempfile::tempdir().unwrap();
    one_test_run(dir.path(), 20_000, 16);
    let v1 = dir.path().join("v1");
    let (r, bytes) = report(&v1, &[]);
    assert_eq!(r.processes.len(), 20_000);
    assert!(
        r.warnings.is_empty(),
        "{:?}",
        &r.warnings[..3.min(r.warnings.len())]
    );
    assert_bounded(&r, bytes);
    // Waves of 16: every process overlaps the 15 others of its wave.
    assert_eq!(r.overlap_pairs, 20_000 / 16 * (16 * 15 / 2));
    run_ok(&["export"], &v1, &dir.path().join("chrome.json"));
    run_ok(
        &["report", "--format", "html", "--fail-on", "never"],
        &v1,
        &dir.path().join("r.html"),
    );
}

#[test]
fn four_hundred_processes_at_once_give_a_bounded_answer() {
    let dir = tempfile::tempdir().unwrap();
    one_test_run(dir.path(), 400, 0);
    let v1 = dir.path().join("v1");
    let (r, bytes) = report(&v1, &[]);
    assert_eq!(r.processes.len(), 400);
    assert_bounded(&r, bytes);
    assert_eq!(r.overlap_pairs, 400 * 399 / 2);
    let pairs: u64 = r.hazards.iter().map(|h| h.pairs).sum();
    assert!(
        pairs > 10_000,
        "{pairs} pairs: every process overlaps every other"
    );
    // Groups span processes: no pid names a side of a big group.
    assert!(r
        .hazards
        .iter()
        .any(|h| h.pairs > 1 && h.polluter.pid.is_none()));
    run_ok(&["export"], &v1, &dir.path().join("chrome.json"));
    let html = dir.path().join("r.html");
    run_ok(
        &["report", "--format", "html", "--fail-on", "never"],
        &v1,
        &html,
    );
    assert!(fs::metadata(&html).unwrap().len() > 0);
}

#[test]
fn hazard_pairs_streams_every_pair_of_every_group() {
    let dir = tempfile::tempdir().unwrap();
    one_test_run(dir.path(), 64, 0);
    let v1 = dir.path().join("v1");
    let pairs_file = dir.path().join("pairs.jsonl");
    let (r, _) = report(&v1, &["--hazard-pairs", pairs_file.to_str().unwrap()]);
    let text = fs::read_to_string(&pairs_file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pairs: u64 = r.hazards.iter().map(|h| h.pairs).sum();
    assert_eq!(lines.len() as u64, pairs);
    let first = &lines[0];
    for key in ["rule", "severity", "resource", "at", "occurrences"] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    assert!(first["polluter"]["pid"].is_u64() && first["victim"]["scenario"].is_string());
    // A passing victim's pair is in the file, not kept as a finding.
    assert!(r.findings.len() < lines.len());
}

#[test]
fn a_copy_among_thousands_of_same_size_files_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    one_test_run(dir.path(), 3_000, 16);
    let v1 = dir.path().join("v1");
    let copies = dir.path().join("v1/copies");
    fs::create_dir(&copies).unwrap();
    let mut names: Vec<_> = fs::read_dir(&v1)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.path())
        .collect();
    names.sort();
    let original = &names[1234];
    fs::copy(original, copies.join(original.file_name().unwrap())).unwrap();
    let (r, _) = report(&v1, &[]);
    assert_eq!(r.processes.len(), 3_000);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].message.starts_with("duplicate of")
            && r.warnings[0]
                .message
                .contains(&*original.file_name().unwrap().to_string_lossy()),
        "{:?}",
        r.warnings
    );
}
