//! The Go tracer's text files: the original README's example lines parse,
//! PIDs come from file names, zone-less times follow `--legacy-tz`, and a
//! folder of them is one run.

mod common;

use std::fs;

use trace_analyzer::read::legacy::{parse_legacy_line, LegacyTz};
use trace_analyzer::{AnalyzeOptions, Analyzer, ScenarioOutcome};

/// The example lines of `go-state-tracer-README.md`, verbatim.
const README_EXAMPLE: &str = "\
2026-04-11T10:10:53.032156 | auth | User registration | SCENARIO_START |
2026-04-11T10:10:53.146438 | auth | User registration | SCENARIO_END | PASSED
2026-04-11T10:10:53.152398 | auth | User registration | JWT_RESET | ok
2026-04-11T10:10:53.162357 | auth | Failed authentication | SCENARIO_START |
2026-04-11T10:10:53.268273 | auth | Failed authentication | SCENARIO_END | PASSED
";

/// The "Trace File Format" block of the same README, header line included.
const README_FORMAT: &str = "\
TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS
2026-04-11T10:10:53.032156 | auth | User registration | SCENARIO_START |
2026-04-11T10:10:53.146438 | auth | User registration | SCENARIO_END | PASSED
2026-04-11T10:10:53.152398 | auth | User registration | JWT_RESET | ok
2026-04-11T10:10:53.162357 | auth | User registration | DB_CLEANUP | all_tables
";

fn utc() -> LegacyTz {
    "UTC".parse().unwrap()
}

#[test]
fn every_readme_example_line_parses() {
    for line in README_EXAMPLE.lines().chain(README_FORMAT.lines().skip(1)) {
        let l = parse_legacy_line(line, &utc()).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(l.feature, "auth");
        assert!(
            l.action.ends_with("_START")
                || l.action.ends_with("_END")
                || l.action.starts_with("JWT")
                || l.action == "DB_CLEANUP"
        );
    }
    let l = parse_legacy_line(README_EXAMPLE.lines().nth(1).unwrap(), &utc()).unwrap();
    assert_eq!(
        (l.scenario, l.action, l.details),
        ("User registration", "SCENARIO_END", "PASSED")
    );
    assert_eq!(l.ts.to_string(), "2026-04-11 10:10:53.146438");
}

#[test]
fn a_readme_trace_file_is_one_clean_process_with_pid_from_the_name() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("bdd-state-trace-20260411-101053-12345.log"),
        README_EXAMPLE,
    )
    .unwrap();
    fs::write(
        dir.path().join("bdd-state-trace-20260411-101053-777.log"),
        README_FORMAT,
    )
    .unwrap();
    let r = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        legacy_tz: utc(),
        ..Default::default()
    })
    .run()
    .unwrap()
    .report;
    assert!(r.run_id.starts_with("legacy:"), "{}", r.run_id);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.records, 9);
    let p = r.processes.iter().find(|p| p.pid == 12345).unwrap();
    assert_eq!(
        (p.label.as_str(), p.scenarios, p.passed, p.crashed),
        ("auth", 2, 2, false)
    );
    assert_eq!(&*p.order[1].scenario, "Failed authentication");
    assert_eq!(p.order[1].outcome, ScenarioOutcome::Passed);
    assert_eq!(
        p.first.unwrap().to_rfc3339(),
        "2026-04-11T10:10:53.032156+00:00"
    );
    // The JWT_RESET after SCENARIO_END is the after-hook of "User registration".
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn legacy_times_follow_the_time_zone_option() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("bdd-state-trace-20260411-101053-1.log"),
        README_EXAMPLE,
    )
    .unwrap();
    let first = |tz: &str| {
        Analyzer::new(&AnalyzeOptions {
            inputs: vec![dir.path().to_path_buf()],
            legacy_tz: tz.parse().unwrap(),
            ..Default::default()
        })
        .run()
        .unwrap()
        .report
        .start
        .unwrap()
        .to_rfc3339()
    };
    assert_eq!(first("UTC"), "2026-04-11T10:10:53.032156+00:00");
    assert_eq!(first("+02:00"), "2026-04-11T08:10:53.032156+00:00");
}

#[test]
fn a_jwt_change_without_reset_in_legacy_files_leaks_and_failed_details_are_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
2026-04-11T10:00:00.000000 | auth | Rotate keys | SCENARIO_START |
2026-04-11T10:00:00.100000 | auth | Rotate keys | JWT_ROTATE | new key
2026-04-11T10:00:00.200000 | auth | Rotate keys | SCENARIO_END | PASSED
2026-04-11T10:00:00.300000 | auth | Login | SCENARIO_START |
2026-04-11T10:00:00.400000 | auth | Login | DB_SELECT | users
2026-04-11T10:00:00.500000 | auth | Login | SCENARIO_END | FAILED: token signature invalid
";
    fs::write(
        dir.path().join("bdd-state-trace-20260411-100000-42.log"),
        text,
    )
    .unwrap();
    let r = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        legacy_tz: utc(),
        ..Default::default()
    })
    .run()
    .unwrap()
    .report;
    assert_eq!(
        common::summary(&r),
        ["error leaked-state Login<-Rotate keys"]
    );
    assert_eq!(r.processes[0].failed, 1);
}
