//! The accuracy scorer on a small fixed run (tests/accuracy/run-1: a
//! report in the analyzer's JSON shape, with the newer `evidence` and
//! `hazards` members, and its ground truth), so the scoring cannot silently
//! break.

use std::path::Path;
use std::process::Command;

use bdd_demo::accuracy::{score_dir, RunScore};

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/accuracy/run-1")
}

#[test]
fn each_score_counts_what_its_name_says() {
    let s = score_dir(&fixture()).unwrap();
    assert_eq!(
        s,
        RunScore {
            dir: fixture(),
            // G1, D1, D2.
            failed: 3,
            // D2's rows were deleted by no one: no culprit to judge against.
            judged: 2,
            // G1 <- A1 is right; D1 names two polluters (A2, the first to
            // delete its rows, and G2, which deleted them later).
            top1: 1,
            likely_polluters: 1 + 2,
            // A2 passed and only a 0-row cleanup touched its rows; G2's
            // rows were deleted by D1, so its error is not counted.
            errors_on_unharmed: 1,
            findings: 7,
            errors: 6,
        }
    );
}

#[test]
fn the_command_prints_the_totals() {
    let out = Command::new(env!("CARGO_BIN_EXE_bdd-demo"))
        .arg("accuracy")
        .arg(fixture())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("| run-1 | 3 | 2 | 1 | 3 | 1 | 7 (6) |"),
        "{text}"
    );
    assert!(text.contains("top-1: 1 / 2 = 50.0 %"), "{text}");
    assert!(
        text.contains("likely-cause polluters per failed victim: 1.50"),
        "{text}"
    );
}

#[test]
fn a_missing_report_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = score_dir(dir.path()).unwrap_err();
    assert!(e.contains("report.json"), "{e}");
}
