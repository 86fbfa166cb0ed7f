//! Planted pollution for each rule gives exactly the expected findings;
//! near misses give none.

mod common;

use common::*;
use state_tracer_format::{Action, Outcome};
use trace_analyzer::{AnalyzeOptions, Analyzer, Confidence, Finding, Report, RuleId, Severity};

use Outcome::{Failed, Passed};

#[test]
fn a_cleanup_while_another_process_reads_is_a_concurrent_mutation_and_the_likely_cause() {
    let mut auth = Proc::new(1, "auth");
    auth.start(0, 1, "auth", "Register")
        .act(10, Some(1), Action::DbSelect, Some(table(None, "users")))
        .act(80, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(100, 1, "auth", "Register", Failed);
    let mut greet = Proc::new(2, "greet");
    greet
        .start(5, 1, "greet", "Greet")
        .act(50, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(60, 1, "greet", "Greet", Passed);
    let dir = write_all(&[&auth, &greet]);
    let r = report_of(dir.path());
    assert_eq!(
        summary(&r),
        [
            "error concurrent-mutation Register<-Greet",
            "warning shared-schema Greet<-Register"
        ]
    );
    let f = &r.findings[0];
    assert!(f.likely_cause);
    assert_eq!(f.resource, "shared:postgres://localhost:5432/app/public/*");
    assert_eq!(f.at, t(50));
    assert_eq!(f.action.as_deref(), Some("DB_CLEANUP"));
    assert_eq!(f.polluter.as_ref().unwrap().pid, 2);
    assert_eq!(f.victim.as_ref().unwrap().pid, 1);
    let rep = f.reproduce.as_ref().unwrap();
    assert_eq!(rep.scenarios, ["greet: Greet", "auth: Register"]);
    assert!(rep.command.contains("target/debug/auth"), "{}", rep.command);
    assert!(!r.findings[1].likely_cause);
}

#[test]
fn a_non_destructive_write_next_to_a_passing_reader_is_only_a_warning() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Reader")
        .act(
            10,
            Some(1),
            Action::DbSelect,
            Some(table(Some("public"), "users")),
        )
        .end(100, 1, "f", "Reader", Passed);
    let mut b = Proc::new(2, "b");
    b.start(20, 1, "f", "Writer")
        .act(
            30,
            Some(1),
            Action::DbInsert,
            Some(table(Some("public"), "users")),
        )
        .end(40, 1, "f", "Writer", Passed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    let cm = of_rule(&r, RuleId::ConcurrentMutation);
    assert_eq!(cm.len(), 1);
    assert_eq!(short(cm[0]), "warning concurrent-mutation Reader<-Writer");
}

#[test]
fn a_mutation_before_the_victim_uses_the_table_still_counts_if_the_victim_was_running() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Victim")
        .act(50, Some(1), Action::DbSelect, Some(table(None, "orders")))
        .end(100, 1, "f", "Victim", Failed);
    let mut b = Proc::new(2, "b");
    b.start(1, 1, "f", "Polluter")
        .act(20, Some(1), Action::DbDelete, Some(table(None, "orders")))
        .end(30, 1, "f", "Polluter", Passed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    assert_eq!(
        short(of_rule(&r, RuleId::ConcurrentMutation)[0]),
        "error concurrent-mutation Victim<-Polluter"
    );
}

#[test]
fn a_secret_rotation_hits_only_scenarios_of_the_same_process() {
    let mut p = Proc::new(1, "api");
    p.start(0, 1, "auth", "Login")
        .start(5, 2, "auth", "Rotate")
        .act(10, Some(2), Action::JwtRotate, None)
        .end(20, 2, "auth", "Rotate", Passed)
        .act(25, Some(2), Action::JwtReset, None)
        .end(30, 1, "auth", "Login", Failed);
    let mut other = Proc::new(2, "other");
    other
        .start(0, 1, "x", "Elsewhere")
        .end(40, 1, "x", "Elsewhere", Passed);
    let dir = write_all(&[&p, &other]);
    let r = report_of(dir.path());
    assert_eq!(summary(&r), ["error concurrent-mutation Login<-Rotate"]);
    assert_eq!(r.findings[0].resource, "process:jwt_secret");
}

#[test]
fn a_secret_set_and_not_reset_leaks_into_the_next_scenario() {
    let mut p = Proc::new(1, "api");
    p.start(0, 1, "auth", "Set secret")
        .act(10, Some(1), Action::JwtSet, None)
        .end(20, 1, "auth", "Set secret", Passed)
        .start(30, 2, "auth", "Login")
        .end(40, 2, "auth", "Login", Failed)
        .start(50, 3, "auth", "Later")
        .end(60, 3, "auth", "Later", Passed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    // The secret stays changed for every later scenario: the one that
    // failed gets the error, the one that passed a hazard.
    assert_eq!(
        summary(&r),
        [
            "error leaked-state Login<-Set secret",
            "warning leaked-state Later<-Set secret"
        ]
    );
    assert!(r.findings[0].likely_cause);
    assert_eq!(r.hazards.len(), 1);
    assert_eq!(r.hazards[0].victim.feature, "auth");
}

#[test]
fn a_reset_in_the_after_hook_prevents_the_leak() {
    let mut p = Proc::new(1, "api");
    p.start(0, 1, "auth", "Set secret")
        .act(10, Some(1), Action::JwtSet, None)
        .end(20, 1, "auth", "Set secret", Passed)
        // After-hook: logged after SCENARIO_END, naming the scenario.
        .act(21, Some(1), Action::JwtReset, None)
        .start(30, 2, "auth", "Login")
        .end(40, 2, "auth", "Login", Failed);
    let dir = write_all(&[&p]);
    assert_eq!(summary(&report_of(dir.path())), Vec::<String>::new());
}

#[test]
fn data_left_by_a_finished_scenario_and_read_by_a_later_one_is_leftover_data() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Seed")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(20, 1, "f", "Seed", Passed);
    let mut b = Proc::new(2, "b");
    b.start(30, 1, "f", "Count users")
        .act(40, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(50, 1, "f", "Count users", Failed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    assert_eq!(summary(&r), ["error leftover-data Count users<-Seed"]);
    assert_eq!(r.findings[0].role.as_deref(), Some("polluter"));
    assert_eq!(r.findings[0].at, t(10));
}

#[test]
fn leftover_data_read_by_a_passing_scenario_makes_the_writer_a_state_setter() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Seed")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(20, 1, "f", "Seed", Passed)
        .start(30, 2, "f", "Count users")
        .act(40, Some(2), Action::DbSelect, Some(table(None, "users")))
        .end(50, 2, "f", "Count users", Passed);
    let dir = write_all(&[&a]);
    let r = report_of(dir.path());
    assert_eq!(summary(&r), ["warning leftover-data Count users<-Seed"]);
    assert_eq!(r.findings[0].role.as_deref(), Some("state-setter"));
}

#[test]
fn near_miss_a_cleanup_one_ms_before_the_victim_starts_means_no_finding() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Seed")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(20, 1, "f", "Seed", Passed)
        .act(29, Some(1), Action::DbCleanup, Some(all_tables(None)));
    let mut b = Proc::new(2, "b");
    b.start(30, 1, "f", "Count users")
        .act(40, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(50, 1, "f", "Count users", Failed);
    let dir = write_all(&[&a, &b]);
    assert_eq!(summary(&report_of(dir.path())), Vec::<String>::new());
}

#[test]
fn near_miss_a_cleanup_of_another_table_does_not_clear_leftover_data() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Seed")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(20, 1, "f", "Seed", Passed)
        .act(29, Some(1), Action::DbCleanup, Some(table(None, "orders")));
    let mut b = Proc::new(2, "b");
    b.start(30, 1, "f", "Count users")
        .act(40, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(50, 1, "f", "Count users", Passed);
    let dir = write_all(&[&a, &b]);
    assert_eq!(
        summary(&report_of(dir.path())),
        ["warning leftover-data Count users<-Seed"]
    );
}

#[test]
fn near_miss_a_mutation_after_the_victim_ended_is_not_concurrent() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Reader")
        .act(10, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(20, 1, "f", "Reader", Failed);
    let mut b = Proc::new(2, "b");
    b.start(21, 1, "f", "Cleaner")
        .act(22, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(30, 1, "f", "Cleaner", Passed);
    let dir = write_all(&[&a, &b]);
    assert_eq!(summary(&report_of(dir.path())), Vec::<String>::new());
}

#[test]
fn isolated_schemas_with_overlap_have_no_pollution() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "A")
        .schema(1, Some(1), Action::SchemaCreate, "test_a")
        .schema(2, Some(1), Action::SchemaSet, "test_a")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(50, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(60, 1, "f", "A", Failed)
        .act(61, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .schema(62, Some(1), Action::SchemaDrop, "test_a");
    let mut b = Proc::new(2, "b");
    b.start(5, 1, "f", "B")
        .schema(6, Some(1), Action::SchemaCreate, "test_b")
        .schema(7, Some(1), Action::SchemaSet, "test_b")
        .act(20, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .act(30, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(40, 1, "f", "B", Passed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    assert_eq!(summary(&r), Vec::<String>::new());
    assert_eq!(r.overlaps.len(), 1, "they did overlap");
}

#[test]
fn after_leaving_its_schema_a_scenario_cleans_the_shared_one_again() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "A")
        .schema(1, Some(1), Action::SchemaSet, "test_a")
        .act(10, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .schema(20, Some(1), Action::SchemaDrop, "test_a")
        .act(30, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(40, 1, "f", "A", Passed);
    let mut b = Proc::new(2, "b");
    b.start(5, 1, "f", "B")
        .act(
            6,
            Some(1),
            Action::DbSelect,
            Some(table(Some("public"), "users")),
        )
        .end(50, 1, "f", "B", Failed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    let cm = of_rule(&r, RuleId::ConcurrentMutation);
    assert_eq!(cm.len(), 1);
    assert_eq!(
        cm[0].at,
        t(30),
        "only the cleanup after SCHEMA_DROP touches public"
    );
}

#[test]
fn concurrent_scenarios_in_one_schema_while_others_isolate_are_flagged() {
    let mut iso = Proc::new(1, "iso");
    iso.start(0, 1, "f", "Isolated")
        .schema(1, Some(1), Action::SchemaCreate, "test_x")
        .schema(1, Some(1), Action::SchemaSet, "test_x")
        .act(2, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(100, 1, "f", "Isolated", Passed);
    let mut a = Proc::new(2, "a");
    a.start(0, 1, "f", "A")
        .act(10, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(50, 1, "f", "A", Passed);
    let mut b = Proc::new(3, "b");
    b.start(20, 1, "f", "B")
        .act(30, Some(1), Action::DbSelect, Some(table(None, "orders")))
        .end(60, 1, "f", "B", Passed);
    let dir = write_all(&[&iso, &a, &b]);
    let r = report_of(dir.path());
    assert_eq!(summary(&r), ["warning shared-schema B<-A"]);
    assert!(
        r.findings[0]
            .explanation
            .contains("while other scenarios isolate"),
        "{}",
        r.findings[0].explanation
    );
}

#[test]
fn a_killed_process_gives_an_unfinished_scenario_and_a_crashed_process() {
    let mut p = Proc::new(7, "worker");
    p.start(0, 1, "f", "Done").end(10, 1, "f", "Done", Passed);
    p.start(20, 2, "f", "Killed midway")
        .act(30, Some(2), Action::DbInsert, Some(table(None, "users")))
        .crash();
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(
        summary(&r),
        [
            "error unfinished-scenario Killed midway<--",
            "error crashed-process Killed midway<--"
        ]
    );
    let proc = &r.processes[0];
    assert!(proc.crashed);
    assert_eq!((proc.scenarios, proc.passed, proc.unfinished), (2, 1, 1));
}

#[test]
fn wall_time_going_backwards_is_a_clock_anomaly() {
    let mut p = Proc::new(1, "p");
    p.start(100, 1, "f", "S")
        .act(50, Some(1), Action::DbSelect, Some(table(None, "users")))
        .act(40, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(120, 1, "f", "S", Passed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(summary(&r), ["warning clock-anomaly S<--"]);
    assert_eq!(r.findings[0].occurrences, 2);
}

#[test]
fn several_runs_without_run_analyze_the_latest_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = Proc::in_run_at(1, "p", "old-run", 0);
    old.start(0, 1, "f", "Old").end(1, 1, "f", "Old", Passed);
    let mut new = Proc::in_run_at(2, "p", "new-run", 5000);
    new.start(5000, 1, "f", "New")
        .end(5001, 1, "f", "New", Passed);
    old.write(dir.path());
    new.write(dir.path());
    let r = report_of(dir.path());
    assert_eq!(r.run_id, "new-run");
    assert_eq!(r.other_runs, ["old-run"]);
    assert_eq!(summary(&r), ["warning mixed-runs -<--"]);

    let picked = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        run: Some("old".into()),
        ..Default::default()
    })
    .run()
    .unwrap()
    .report;
    assert_eq!(picked.run_id, "old-run");
    assert!(picked.findings.is_empty());
}

#[test]
fn allow_removes_a_rule_and_deny_makes_it_an_error() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "A")
        .act(10, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(50, 1, "f", "A", Passed);
    let mut b = Proc::new(2, "b");
    b.start(20, 1, "f", "B")
        .act(30, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(60, 1, "f", "B", Passed);
    let dir = write_all(&[&a, &b]);
    let with = |allow: Vec<RuleId>, deny: Vec<RuleId>| {
        Analyzer::new(&AnalyzeOptions {
            inputs: vec![dir.path().to_path_buf()],
            allow,
            deny,
            ..Default::default()
        })
        .run()
        .unwrap()
        .report
    };
    assert_eq!(with(vec![], vec![]).findings[0].severity, Severity::Warning);
    assert_eq!(
        with(vec![], vec![RuleId::SharedSchema]).findings[0].severity,
        Severity::Error
    );
    assert!(with(vec![RuleId::SharedSchema], vec![]).findings.is_empty());
}

#[test]
fn failed_victims_rank_first() {
    let mut p = Proc::new(1, "p");
    // A warning-level leak into a passing scenario, early...
    p.start(0, 1, "f", "Set")
        .act(1, Some(1), Action::JwtSet, None)
        .end(2, 1, "f", "Set", Passed)
        .start(3, 2, "f", "Passes anyway")
        .end(4, 2, "f", "Passes anyway", Passed)
        // A reset between scenarios ends the leak.
        .act(5, None, Action::JwtReset, None);
    // ...and a later leftover that a failing scenario read.
    p.start(10, 3, "f", "Seed")
        .act(11, Some(3), Action::DbInsert, Some(table(None, "users")))
        .end(12, 3, "f", "Seed", Passed)
        .start(20, 4, "f", "Fails")
        .act(21, Some(4), Action::DbSelect, Some(table(None, "users")))
        .end(22, 4, "f", "Fails", Failed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(
        summary(&r),
        [
            "error leftover-data Fails<-Seed",
            "warning leaked-state Passes anyway<-Set"
        ]
    );
    assert!(r.findings[0].likely_cause && !r.findings[1].likely_cause);
}

#[test]
fn overlaps_are_aggregated_by_process_pair_unless_all_are_asked_for() {
    let mut a = Proc::new(1, "a");
    let mut b = Proc::new(2, "b");
    for i in 0..3u64 {
        let base = i as i64 * 100;
        a.start(base, i + 1, "f", &format!("A{i}")).end(
            base + 50,
            i + 1,
            "f",
            &format!("A{i}"),
            Passed,
        );
        b.start(base + 10, i + 1, "f", &format!("B{i}")).end(
            base + 60,
            i + 1,
            "f",
            &format!("B{i}"),
            Passed,
        );
    }
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    assert_eq!(r.overlaps.len(), 1);
    assert_eq!(r.overlaps[0].count, 3);
    assert_eq!((r.overlaps[0].a.pid, r.overlaps[0].b.pid), (1, 2));
    assert_eq!(r.overlaps[0].example.a.scenario, "A0");
    let all = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        all_overlaps: true,
        ..Default::default()
    })
    .run()
    .unwrap()
    .report;
    assert_eq!(all.overlaps.len(), 3);
}

#[test]
fn the_timeline_has_every_scenario_and_state_action() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "A")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(20, 1, "f", "A", Failed)
        .act(21, Some(1), Action::DbCleanup, Some(all_tables(None)));
    let dir = write_all(&[&a]);
    let an = Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.path().to_path_buf()],
        timeline: true,
        ..Default::default()
    })
    .run()
    .unwrap();
    let tl = an.timeline.unwrap();
    assert_eq!(tl.scenarios.len(), 1);
    let s = &tl.scenarios[0];
    assert_eq!((s.start, s.end, s.last), (t(0), Some(t(20)), t(21)));
    assert_eq!(s.outcome, trace_analyzer::ScenarioOutcome::Failed);
    let actions: Vec<_> = tl
        .actions
        .iter()
        .map(|m| (m.action.as_str(), m.scenario, m.mutation))
        .collect();
    assert_eq!(
        actions,
        [("DB_INSERT", Some(0), true), ("DB_CLEANUP", Some(0), true)]
    );
    assert_eq!(
        tl.actions[1].resource.as_deref(),
        Some("shared:postgres://localhost:5432/app/public/*")
    );
}

#[test]
fn repeated_mutations_still_hit_a_victim_that_starts_between_them() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "Writer")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(50, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(60, 1, "f", "Writer", Passed);
    let mut b = Proc::new(2, "b");
    // Starts after the first insert, reads after the second.
    b.start(20, 1, "f", "Reader")
        .act(55, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "f", "Reader", Failed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    let cm = of_rule(&r, RuleId::ConcurrentMutation);
    assert_eq!(cm.len(), 1);
    // Plain inserts destroy nothing: a hazard, never a failure's cause.
    assert_eq!(short(cm[0]), "warning concurrent-mutation Reader<-Writer");
    assert!(!cm[0].likely_cause);
    assert_eq!(cm[0].at, t(50));
}

/// The demo's shape: "Greet" inserts a user, waits, reads it back. Process
/// "admin" cleans the table inside that window; process "auth" only inserts
/// its own rows meanwhile; process "early" cleaned before Greet touched the
/// table at all.
fn greet_with_an_in_window_cleanup_a_concurrent_insert_and_an_early_cleanup() -> Report {
    let mut greet = Proc::new(1, "greet");
    greet
        .start(0, 1, "greet", "Greet")
        .act(20, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(120, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(130, 1, "greet", "Greet", Failed);
    let mut early = Proc::new(2, "early");
    early
        .start(0, 1, "early", "Tidy")
        .act(5, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(8, 1, "early", "Tidy", Passed);
    let mut auth = Proc::new(3, "auth");
    auth.start(30, 1, "auth", "Register")
        .act(40, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(50, 1, "auth", "Register", Passed);
    let mut admin = Proc::new(4, "admin");
    admin
        .start(40, 1, "admin", "List")
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "admin", "List", Passed)
        // After-hook cleanup, inside Greet's insert-then-read window.
        .act(80, Some(1), Action::DbCleanup, Some(all_tables(None)));
    let dir = write_all(&[&greet, &early, &auth, &admin]);
    report_of(dir.path())
}

#[test]
fn only_the_cleanup_inside_the_victims_window_is_the_likely_cause() {
    let r = greet_with_an_in_window_cleanup_a_concurrent_insert_and_an_early_cleanup();
    let on_greet: Vec<_> = of_rule(&r, RuleId::ConcurrentMutation)
        .into_iter()
        .filter(|f| f.victim.as_ref().unwrap().scenario == "Greet")
        .collect();
    let by = |pid: u32| {
        *on_greet
            .iter()
            .find(|f| f.polluter.as_ref().unwrap().pid == pid)
            .unwrap_or_else(|| panic!("no finding by pid {pid}: {on_greet:#?}"))
    };
    let (admin, auth) = (by(4), by(3));
    assert!(admin.likely_cause);
    assert_eq!(admin.confidence, Some(Confidence::High));
    assert_eq!(
        (admin.at, admin.action.as_deref()),
        (t(80), Some("DB_CLEANUP"))
    );
    assert!(
        admin
            .why
            .as_deref()
            .unwrap()
            .contains("after the victim's last write"),
        "{admin:#?}"
    );
    assert!(
        !auth.likely_cause,
        "a concurrent insert is not the likely cause"
    );
    assert_eq!(auth.confidence, Some(Confidence::Low));
    assert_eq!(
        auth.severity,
        Severity::Warning,
        "the victim failed, but not because of it"
    );
    assert_eq!(&r.findings[0], admin, "ranked first");
    assert_eq!(r.findings.iter().filter(|f| f.likely_cause).count(), 1);
    // Two processes: each one's own command, narrowed to its scenario.
    let cmd = &admin.reproduce.as_ref().unwrap().command;
    assert!(
        cmd.contains("target/debug/greet --name '^Greet$' &")
            && cmd.contains("target/debug/admin --name '^List$'"),
        "{cmd}"
    );
}

#[test]
fn a_cleanup_before_the_victim_first_touched_the_table_is_not_the_likely_cause() {
    let r = greet_with_an_in_window_cleanup_a_concurrent_insert_and_an_early_cleanup();
    let early = of_rule(&r, RuleId::ConcurrentMutation)
        .into_iter()
        .find(|f| f.polluter.as_ref().unwrap().pid == 2)
        .expect("the early cleanup ran while Greet was running");
    assert!(!early.likely_cause);
    assert_eq!(early.confidence, Some(Confidence::Medium));
    assert!(early.confidence < Some(Confidence::High));
    let pos = |f: &Finding| r.findings.iter().position(|x| x == f).unwrap();
    assert!(pos(early) > 0);
}

#[test]
fn an_aggregated_pair_shows_its_most_incriminating_occurrence() {
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "f", "Victim")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "f", "Victim", Failed);
    let mut p = Proc::new(2, "p");
    p.start(0, 1, "f", "Polluter")
        // First a harmless insert of its own, then the cleanup in the window.
        .act(5, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(20, Some(1), Action::DbSelect, Some(table(None, "users")))
        .act(30, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(40, 1, "f", "Polluter", Passed);
    let dir = write_all(&[&v, &p]);
    let r = report_of(dir.path());
    let f = of_rule(&r, RuleId::ConcurrentMutation)
        .into_iter()
        .find(|f| f.victim.as_ref().unwrap().scenario == "Victim")
        .unwrap();
    assert!(f.occurrences > 1);
    assert_eq!((f.at, f.action.as_deref()), (t(30), Some("DB_CLEANUP")));
    assert_eq!(f.confidence, Some(Confidence::High));
    assert!(f.explanation.contains("DB_CLEANUP"), "{}", f.explanation);
}

#[test]
fn two_passing_writers_that_never_read_each_other_give_at_most_one_warning() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "A")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(30, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(40, 1, "f", "A", Passed);
    let mut b = Proc::new(2, "b");
    b.start(0, 1, "f", "B")
        .act(20, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(35, Some(1), Action::DbInsert, Some(table(None, "users")))
        .end(40, 1, "f", "B", Passed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    let cm = of_rule(&r, RuleId::ConcurrentMutation);
    assert_eq!(cm.len(), 1, "{cm:#?}");
    assert_eq!(cm[0].severity, Severity::Warning);
    assert_eq!(cm[0].confidence, Some(Confidence::Low));
}

#[test]
fn writers_that_read_each_others_rows_afterwards_are_reported_both_ways() {
    let mut a = Proc::new(1, "a");
    a.start(0, 1, "f", "A")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(30, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(40, 1, "f", "A", Passed);
    let mut b = Proc::new(2, "b");
    b.start(0, 1, "f", "B")
        .act(20, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(35, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(40, 1, "f", "B", Passed);
    let dir = write_all(&[&a, &b]);
    let r = report_of(dir.path());
    let mut cm: Vec<_> = of_rule(&r, RuleId::ConcurrentMutation)
        .into_iter()
        .map(short)
        .collect();
    cm.sort();
    assert_eq!(
        cm,
        [
            "warning concurrent-mutation A<-B",
            "warning concurrent-mutation B<-A"
        ]
    );
}
