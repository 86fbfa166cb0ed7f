//! Repro hints run as given: each process's own command, narrowed with its
//! framework's own flags, or given whole when the framework is unknown.

mod common;

use common::*;
use state_tracer::format::{Action, Outcome};
use trace_analyzer::{Finding, Report, RuleId};

use Outcome::{Failed, Passed};

/// A victim that inserts and reads back, with another process's cleanup
/// in between; each process run by `cmd_*`.
fn cleanup_between(cmd_victim: &[&str], cmd_polluter: &[&str]) -> Report {
    let mut v = Proc::new(1, "greet").with_command(cmd_victim, None);
    v.start(0, 1, "greet", "Welcome (new user)")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "greet", "Welcome (new user)", Failed);
    let mut p = Proc::new(2, "admin").with_command(cmd_polluter, None);
    p.start(5, 1, "admin", "List")
        .act(30, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(40, 1, "admin", "List", Passed);
    let dir = write_all(&[&v, &p]);
    report_of(dir.path())
}

fn likely(r: &Report) -> &Finding {
    r.findings
        .iter()
        .find(|f| f.likely_cause && f.rule == RuleId::ConcurrentMutation)
        .unwrap_or_else(|| panic!("no likely cause: {r:#?}"))
}

fn command(f: &Finding) -> &str {
    &f.reproduce.as_ref().expect("a reproduction").command
}

#[test]
fn plain_programs_get_their_whole_commands_started_together_and_no_invented_flags() {
    let r = cleanup_between(&["target/debug/greet-tests"], &["./admin.sh", "--fast"]);
    let cmd = command(likely(&r));
    assert!(
        cmd.starts_with(
            "BDD_TRACE_STATE=1 target/debug/greet-tests & BDD_TRACE_STATE=1 ./admin.sh --fast; wait"
        ),
        "{cmd}"
    );
    for invented in ["--name", "--concurrency", "--exact"] {
        assert!(!cmd.contains(invented), "{invented} in {cmd}");
    }
}

#[test]
fn libtest_binaries_are_narrowed_with_exact_names() {
    let r = cleanup_between(
        &["/w/target/debug/deps/greet-0123456789abcdef", "--nocapture"],
        &["/w/target/debug/deps/admin-fedcba9876543210"],
    );
    let cmd = command(likely(&r));
    assert!(
        cmd.starts_with("BDD_TRACE_STATE=1 /w/target/debug/deps/greet-0123456789abcdef --nocapture --exact 'Welcome (new user)' & BDD_TRACE_STATE=1 /w/target/debug/deps/admin-fedcba9876543210 --exact List; wait"),
        "{cmd}"
    );
}

#[test]
fn a_plain_program_in_one_process_says_the_order_cannot_be_forced() {
    let mut p = Proc::new(1, "api").with_command(&["bin/api-tests", "-v"], None);
    p.start(0, 1, "auth", "Set secret")
        .act(10, Some(1), Action::JwtSet, None)
        .end(20, 1, "auth", "Set secret", Passed)
        .start(30, 2, "auth", "Login")
        .end(40, 2, "auth", "Login", Failed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == RuleId::LeakedState)
        .expect("the leak is found");
    let cmd = command(f);
    assert!(
        cmd.starts_with("BDD_TRACE_STATE=1 bin/api-tests -v  #"),
        "{cmd}"
    );
    assert!(cmd.contains("the order cannot be forced"), "{cmd}");
    assert!(!cmd.contains("--concurrency"), "{cmd}");
}

#[test]
fn a_template_without_placeholder_and_no_command_line_describes_the_runs() {
    use state_tracer::format::Rerun;
    let useless = || {
        Some(Rerun {
            framework: "pytest".into(),
            argv: vec!["pytest".into()],
        })
    };
    let mut v = Proc::new(1, "greet").with_command(&[], useless());
    v.start(0, 1, "greet", "Welcome")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "greet", "Welcome", Failed);
    let mut p = Proc::new(2, "admin").with_command(&[], useless());
    p.start(5, 1, "admin", "List")
        .act(30, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(40, 1, "admin", "List", Passed);
    let dir = write_all(&[&v, &p]);
    let r = report_of(dir.path());
    let cmd = command(likely(&r));
    assert!(cmd.starts_with("two processes, at the same time:"), "{cmd}");
}
