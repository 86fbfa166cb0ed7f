//! Causal narrowing: for each failed victim, the one mutation the trace
//! evidence singles out, with hand-built traces for every case of
//! `docs/rules.md` ("Causal narrowing"). Other candidates stay findings
//! that are not likely causes; passing victims give hazards, not errors.

mod common;

use std::fs;

use common::*;
use state_tracer_format::{Action, Outcome};
use trace_analyzer::render::{write_report, RenderOptions, ReportFormat};
use trace_analyzer::{AnalyzeOptions, Analyzer, Finding, Report, RuleId, Severity};

use Outcome::{Failed, Passed};

fn likely(r: &Report) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.likely_cause).collect()
}

fn polluter_pid(f: &Finding) -> u32 {
    f.polluter.as_ref().unwrap().pid
}

/// Finding of polluter process `pid` on victim scenario `victim`.
fn by<'a>(r: &'a Report, pid: u32, victim: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| {
            f.polluter.as_ref().is_some_and(|p| p.pid == pid)
                && f.victim.as_ref().is_some_and(|v| v.scenario == victim)
        })
        .unwrap_or_else(|| panic!("no finding by pid {pid} on {victim}: {:#?}", r.findings))
}

fn table_text(r: &Report) -> String {
    let mut out = Vec::new();
    let opts = RenderOptions {
        color: false,
        width: Some(140),
        verbose: false,
    };
    write_report(ReportFormat::Table, r, None, &opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The victim inserts at 10 and reads back at 100; three other processes
/// clean the table at 20, 40 and 60. `rows` of each cleanup, if given.
fn insert_wait_read(rows: [Option<u64>; 3]) -> Report {
    let mut v = Proc::new(1, "greet");
    v.start(0, 1, "greet", "Greet")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(100, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(110, 1, "greet", "Greet", Failed);
    let mut procs = vec![v];
    for (k, rows) in rows.into_iter().enumerate() {
        let pid = 2 + k as u32;
        let ms = 20 + 20 * k as i64;
        let mut p = Proc::new(pid, &format!("p{pid}"));
        p.start(ms - 5, 1, "admin", &format!("Clean {pid}"));
        p.act_with(
            ms,
            Some(1),
            Action::DbCleanup,
            Some(table(None, "users")),
            |e| e.rows = rows,
        );
        p.end(ms + 5, 1, "admin", &format!("Clean {pid}"), Passed);
        procs.push(p);
    }
    let refs: Vec<&Proc> = procs.iter().collect();
    let dir = write_all(&refs);
    report_of(dir.path())
}

#[test]
fn the_first_cleanup_after_the_victims_write_is_its_one_likely_cause() {
    let r = insert_wait_read([None, None, None]);
    let causes = likely(&r);
    assert_eq!(causes.len(), 1, "{:#?}", r.findings);
    assert_eq!(polluter_pid(causes[0]), 2);
    assert_eq!(causes[0].severity, Severity::Error);
    let e = causes[0].evidence.as_deref().unwrap();
    assert!(
        e.contains("first destructive change after the victim's last write"),
        "{e}"
    );
    assert!(e.contains("found nothing left to destroy"), "{e}");
    for pid in [3, 4] {
        let f = by(&r, pid, "Greet");
        assert!(!f.likely_cause);
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.evidence
                .as_deref()
                .unwrap()
                .contains("found nothing left to destroy"),
            "{f:#?}"
        );
    }
}

#[test]
fn a_cleanup_that_removed_zero_rows_is_not_the_cause() {
    let r = insert_wait_read([Some(0), Some(3), Some(0)]);
    let causes = likely(&r);
    assert_eq!(causes.len(), 1, "{:#?}", r.findings);
    assert_eq!(polluter_pid(causes[0]), 3);
    let e = causes[0].evidence.as_deref().unwrap();
    assert!(e.contains("removed 3 rows"), "{e}");
    assert!(e.contains("removed 0 rows"), "{e}");
    let zero = by(&r, 2, "Greet");
    assert!(!zero.likely_cause);
    assert!(zero.evidence.as_deref().unwrap().contains("removed 0 rows"));
}

#[test]
fn rows_known_for_none_still_picks_by_order_and_says_rows_are_unknown() {
    let r = insert_wait_read([None, Some(2), None]);
    let causes = likely(&r);
    assert_eq!(causes.len(), 1);
    assert_eq!(polluter_pid(causes[0]), 2);
    assert!(causes[0]
        .evidence
        .as_deref()
        .unwrap()
        .contains("rows unknown"));
}

#[test]
fn legacy_files_narrow_by_order_alone() {
    let dir = tempfile::tempdir().unwrap();
    let write = |pid: u32, lines: &str| {
        fs::write(
            dir.path()
                .join(format!("bdd-state-trace-20260411-100000-{pid}.log")),
            lines,
        )
        .unwrap()
    };
    write(
        100,
        "\
2026-04-11T10:00:00.000000 | greet | Greet | SCENARIO_START |
2026-04-11T10:00:00.010000 | greet | Greet | DB_INSERT | users
2026-04-11T10:00:00.100000 | greet | Greet | DB_SELECT | users
2026-04-11T10:00:00.110000 | greet | Greet | SCENARIO_END | FAILED
",
    );
    for (pid, ms) in [(200, 20), (300, 40), (400, 60)] {
        write(
            pid,
            &format!(
                "\
2026-04-11T10:00:00.{:03}000 | admin{pid} | Clean | SCENARIO_START |
2026-04-11T10:00:00.{ms:03}000 | admin{pid} | Clean | DB_CLEANUP | users
2026-04-11T10:00:00.{:03}000 | admin{pid} | Clean | SCENARIO_END | PASSED
",
                ms - 5,
                ms + 5
            ),
        );
    }
    let r = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        legacy_tz: "UTC".parse().unwrap(),
        ..Default::default()
    })
    .run()
    .unwrap()
    .report;
    let causes = likely(&r);
    assert_eq!(causes.len(), 1, "{:#?}", r.findings);
    assert_eq!(polluter_pid(causes[0]), 200);
    let e = causes[0].evidence.as_deref().unwrap();
    assert!(
        e.contains("rows unknown: legacy files do not record them"),
        "{e}"
    );
    assert_eq!(
        r.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count(),
        1,
        "only the cause is an error"
    );
}

#[test]
fn the_victims_own_cleanup_after_its_last_use_is_not_a_use() {
    // "Reader" reads, another process cleans, then Reader's own after-hook
    // cleans too. It passed: no error, no high confidence.
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Reader")
        .act(10, Some(1), Action::DbSelect, Some(table(None, "users")))
        .act(40, Some(1), Action::DbCleanup, Some(table(None, "users")))
        .end(50, 1, "f", "Reader", Passed);
    let mut b = Proc::new(2, "b");
    b.start(15, 1, "g", "Cleaner")
        .act(20, Some(1), Action::DbCleanup, Some(table(None, "users")))
        .end(25, 1, "g", "Cleaner", Passed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    assert!(r.findings.iter().all(|f| f.severity == Severity::Warning));
    let f = by(&r, 2, "Reader");
    assert_ne!(
        f.confidence,
        Some(trace_analyzer::Confidence::High),
        "{f:#?}"
    );
}

#[test]
fn a_failed_cleanup_changed_nothing_and_is_not_the_cause() {
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "f", "Victim")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(100, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(110, 1, "f", "Victim", Failed);
    let mut p = Proc::new(2, "p");
    p.start(15, 1, "g", "Broken cleanup")
        .act_with(
            20,
            Some(1),
            Action::DbCleanup,
            Some(table(None, "users")),
            |e| e.error = Some("no such table".into()),
        )
        .end(25, 1, "g", "Broken cleanup", Passed);
    let dir = write_all(&[&v, &p]);
    let r = report_of(dir.path());
    assert!(likely(&r).is_empty(), "{:#?}", r.findings);
    assert!(table_text(&r).contains("no traced state explains this failure"));
}

#[test]
fn a_failed_victim_no_finding_explains_gets_no_invented_culprit() {
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "f", "Buggy")
        .act(10, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(20, 1, "f", "Buggy", Failed);
    let mut other = Proc::new(2, "o");
    other
        .start(30, 1, "g", "Later")
        .act(40, Some(1), Action::DbCleanup, Some(table(None, "users")))
        .end(50, 1, "g", "Later", Passed);
    let dir = write_all(&[&v, &other]);
    let r = report_of(dir.path());
    assert!(likely(&r).is_empty());
    assert!(r.findings.iter().all(|f| f.severity == Severity::Warning));
    let text = table_text(&r);
    assert!(text.contains("f: Buggy (v, pid 1) FAILED"), "{text}");
    assert!(
        text.contains("no traced state explains this failure"),
        "{text}"
    );
}

/// "Seed" inserts `inserted` rows, deletes `deleted` of them with a scoped
/// DELETE, and ends; "Reader" then reads the table and fails.
fn seed_then_read(inserted: u64, deleted: u64) -> Report {
    let mut p = Proc::new(1, "p");
    p.start(0, 1, "f", "Seed")
        .act_rows(
            5,
            Some(1),
            Action::DbInsert,
            Some(table(None, "users")),
            inserted,
        )
        .act_rows(
            8,
            Some(1),
            Action::DbDelete,
            Some(table(None, "users")),
            deleted,
        )
        .end(10, 1, "f", "Seed", Passed)
        .start(20, 2, "f", "Reader")
        .act(25, Some(2), Action::DbSelect, Some(table(None, "users")))
        .end(30, 2, "f", "Reader", Failed);
    let dir = write_all(&[&p]);
    report_of(dir.path())
}

#[test]
fn a_scenario_that_deleted_what_it_inserted_left_nothing_behind() {
    let r = seed_then_read(1, 1);
    assert!(
        of_rule(&r, RuleId::LeftoverData).is_empty(),
        "{:#?}",
        r.findings
    );
    assert!(likely(&r).is_empty());
}

#[test]
fn a_scenario_that_deleted_less_than_it_inserted_left_data_behind() {
    let r = seed_then_read(2, 1);
    let left = of_rule(&r, RuleId::LeftoverData);
    assert_eq!(left.len(), 1);
    assert!(left[0].likely_cause);
    assert_eq!(left[0].severity, Severity::Error);
}

#[test]
fn an_insert_of_zero_rows_wrote_nothing() {
    let mut p = Proc::new(1, "p");
    p.start(0, 1, "f", "Seed")
        .act_rows(5, Some(1), Action::DbInsert, Some(table(None, "users")), 0)
        .end(10, 1, "f", "Seed", Passed)
        .start(20, 2, "f", "Reader")
        .act(25, Some(2), Action::DbSelect, Some(table(None, "users")))
        .end(30, 2, "f", "Reader", Failed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert!(of_rule(&r, RuleId::LeftoverData).is_empty());
}

/// "Set" changes the secret and ends; the victim then either resets it
/// first (a before-hook) or uses the database first and resets it late.
fn leak(reset_first: bool) -> Report {
    let mut p = Proc::new(1, "api");
    p.start(0, 1, "auth", "Set")
        .act(1, Some(1), Action::JwtSet, None)
        .end(2, 1, "auth", "Set", Passed)
        .start(10, 2, "auth", "Victim");
    if reset_first {
        p.act(11, Some(2), Action::JwtReset, None).act(
            12,
            Some(2),
            Action::DbSelect,
            Some(table(None, "users")),
        );
    } else {
        p.act(11, Some(2), Action::DbSelect, Some(table(None, "users")))
            .act(12, Some(2), Action::JwtReset, None);
    }
    p.end(20, 2, "auth", "Victim", Failed);
    let dir = write_all(&[&p]);
    report_of(dir.path())
}

#[test]
fn a_reset_in_the_victims_own_before_hook_ends_the_leak_for_it() {
    let r = leak(true);
    assert!(
        of_rule(&r, RuleId::LeakedState).is_empty(),
        "{:#?}",
        r.findings
    );
}

#[test]
fn a_reset_after_the_victim_used_the_state_does_not_end_the_leak() {
    let r = leak(false);
    let l = of_rule(&r, RuleId::LeakedState);
    assert_eq!(l.len(), 1);
    assert!(l[0].likely_cause);
}

#[test]
fn of_several_changes_not_reset_the_last_is_the_likely_cause_the_value_the_victim_saw() {
    let mut p = Proc::new(1, "api");
    p.start(0, 1, "auth", "First")
        .act(1, Some(1), Action::JwtSet, None)
        .end(2, 1, "auth", "First", Passed)
        .start(3, 2, "auth", "Second")
        .act(4, Some(2), Action::JwtSet, None)
        .end(5, 2, "auth", "Second", Passed)
        .start(10, 3, "auth", "Victim")
        .end(20, 3, "auth", "Victim", Failed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    let causes = likely(&r);
    assert_eq!(causes.len(), 1, "{:#?}", r.findings);
    assert_eq!(causes[0].polluter.as_ref().unwrap().scenario, "Second");
    let first = r
        .findings
        .iter()
        .find(|f| f.polluter.as_ref().is_some_and(|p| p.scenario == "First"))
        .expect("the earlier leak is still reported");
    assert!(!first.likely_cause);
    assert!(
        first.why.as_deref().unwrap().contains("replaced it"),
        "{first:#?}"
    );
}

#[test]
fn candidates_the_trace_cannot_separate_stay_tied_and_say_why() {
    // The victim never wrote: two cleanups before its first read, rows
    // unknown. Either may have removed what it expected.
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "f", "Victim")
        .act(100, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(110, 1, "f", "Victim", Failed);
    let mut a = Proc::new(2, "a");
    a.start(5, 1, "g", "A")
        .act(20, Some(1), Action::DbCleanup, Some(table(None, "users")))
        .end(25, 1, "g", "A", Passed);
    let mut b = Proc::new(3, "b");
    b.start(5, 1, "h", "B")
        .act(40, Some(1), Action::DbCleanup, Some(table(None, "users")))
        .end(45, 1, "h", "B", Passed);
    let dir = write_all(&[&v, &a, &b]);
    let r = report_of(dir.path());
    let causes = likely(&r);
    assert_eq!(causes.len(), 2, "{:#?}", r.findings);
    for c in causes {
        let e = c.evidence.as_deref().unwrap();
        assert!(e.contains("tied") && e.contains("rows unknown"), "{e}");
    }
}

#[test]
fn two_processes_on_databases_they_do_not_name_get_no_error() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "A")
        .act(10, Some(1), Action::DbInsert, Some(table_in(None, "users")))
        .act(
            100,
            Some(1),
            Action::DbSelect,
            Some(table_in(None, "users")),
        )
        .end(110, 1, "f", "A", Failed);
    let mut b = Proc::new(2, "b");
    b.start(5, 1, "g", "B")
        .act(
            50,
            Some(1),
            Action::DbCleanup,
            Some(table_in(None, "users")),
        )
        .end(60, 1, "g", "B", Passed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    assert!(r.findings.iter().all(|f| f.severity == Severity::Warning));
    assert!(likely(&r).is_empty());
    let f = by(&r, 2, "A");
    assert!(f.evidence.as_deref().unwrap().contains("set_database"));
    let text = table_text(&r);
    assert!(text.contains("DATABASE_URL"), "{text}");
}

#[test]
fn in_memory_sqlite_is_private_to_its_process() {
    let mem = Some("sqlite::memory:");
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "A")
        .act(10, Some(1), Action::DbInsert, Some(table_in(mem, "users")))
        .act(100, Some(1), Action::DbSelect, Some(table_in(mem, "users")))
        .end(110, 1, "f", "A", Failed);
    let mut b = Proc::new(2, "b");
    b.start(5, 1, "g", "B")
        .act(50, Some(1), Action::DbCleanup, Some(table_in(mem, "users")))
        .end(60, 1, "g", "B", Passed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn removing_rows_a_passing_victim_wrote_is_a_hazard_not_an_error() {
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "f", "Lucky")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(100, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(110, 1, "f", "Lucky", Passed);
    let mut p = Proc::new(2, "p");
    p.start(5, 1, "g", "Wipe")
        .act_rows(50, Some(1), Action::DbDelete, Some(table(None, "users")), 2)
        .end(60, 1, "g", "Wipe", Passed);
    let dir = write_all(&[&v, &p]);
    let r = report_of(dir.path());
    let f = by(&r, 2, "Lucky");
    // `error` means a failed victim with a proven cause: a scenario that
    // passed is never given one.
    assert_eq!(f.severity, Severity::Warning);
    assert!(!f.likely_cause, "the victim passed");
}

#[test]
fn hazards_are_grouped_and_keep_only_a_few_examples() {
    // 40 passing reader scenarios, each overlapped by one cleanup of another
    // process: one hazard group, a few example findings.
    let mut a = Proc::new(1, "reader");
    let mut b = Proc::new(2, "cleaner");
    for k in 0..40u64 {
        let t0 = k as i64 * 100;
        a.start(t0, k + 1, "read", &format!("Read {k}"))
            .act(
                t0 + 10,
                Some(k + 1),
                Action::DbSelect,
                Some(table(None, "users")),
            )
            .end(t0 + 50, k + 1, "read", &format!("Read {k}"), Passed);
        b.start(t0 + 5, k + 1, "clean", &format!("Clean {k}"))
            .act(
                t0 + 20,
                Some(k + 1),
                Action::DbCleanup,
                Some(table(None, "users")),
            )
            .end(t0 + 30, k + 1, "clean", &format!("Clean {k}"), Passed);
    }
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    let cm: Vec<_> = r
        .hazards
        .iter()
        .filter(|h| h.rule == RuleId::ConcurrentMutation)
        .collect();
    assert_eq!(cm.len(), 1, "{:#?}", r.hazards);
    assert_eq!(cm[0].pairs, 40);
    assert_eq!((cm[0].polluter.pid, cm[0].victim.pid), (Some(2), Some(1)));
    assert!(
        cm[0].fix.contains("isolate clean and read"),
        "{}",
        cm[0].fix
    );
    assert!(of_rule(&r, RuleId::ConcurrentMutation).len() <= 3);
    assert!(r.findings.iter().all(|f| f.severity == Severity::Warning));
}

#[test]
fn deny_still_turns_a_hazard_into_an_error() {
    let mut a = Proc::new(1, "reader");
    a.start(0, 1, "read", "Read")
        .act(10, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(50, 1, "read", "Read", Passed);
    let mut b = Proc::new(2, "cleaner");
    b.start(5, 1, "clean", "Clean")
        .act(20, Some(1), Action::DbCleanup, Some(table(None, "users")))
        .end(30, 1, "clean", "Clean", Passed);
    let dir = write_all(&[&a, &b]);
    let r = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        deny: vec![RuleId::ConcurrentMutation],
        ..Default::default()
    })
    .run()
    .unwrap()
    .report;
    let h = &r.hazards[0];
    assert_eq!(h.rule, RuleId::ConcurrentMutation);
    assert_eq!(h.severity, Severity::Error);
    assert_eq!(r.max_severity(), Some(Severity::Error));
}
