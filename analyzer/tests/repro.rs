//! Repro hints run as given: each process's own command, narrowed with its
//! framework's own flags, or given whole when the framework is unknown.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use state_tracer_format::{Action, Outcome};
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

/// What every line starts with: tracing on, one run ID for all its
/// processes, traces under the current folder.
const RUN: &str = r#"(export BDD_TRACE_STATE=1 BDD_TRACE_RUN_ID=repro-$$ BDD_TRACE_DIR="$PWD/bdd-traces/repro-$$""#;

#[test]
fn plain_programs_get_their_whole_commands_started_together_and_no_invented_flags() {
    let r = cleanup_between(&["target/debug/greet-tests"], &["./admin.sh", "--fast"]);
    let cmd = command(likely(&r));
    assert!(
        cmd.starts_with(&format!(
            "{RUN} && {{ target/debug/greet-tests & ./admin.sh --fast; wait; }})  #"
        )),
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
        cmd.starts_with(&format!("{RUN} && {{ /w/target/debug/deps/greet-0123456789abcdef --nocapture --exact 'Welcome (new user)' & /w/target/debug/deps/admin-fedcba9876543210 --exact List; wait; }})")),
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
        cmd.starts_with(&format!("{RUN} && bin/api-tests -v)  #")),
        "{cmd}"
    );
    assert!(cmd.contains("the order cannot be forced"), "{cmd}");
    assert!(!cmd.contains("--concurrency"), "{cmd}");
}

#[test]
fn a_template_without_placeholder_and_no_command_line_describes_the_runs() {
    use state_tracer_format::Rerun;
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

/// A victim and a polluter in two processes, each run by `argv` in `cwd`
/// with the header `config` entries `config`, each with its rerun template.
fn two_with(
    argv: [&[&str]; 2],
    rerun: [Option<state_tracer_format::Rerun<'static>>; 2],
    cwd: &str,
    config: &[(&str, &str)],
) -> Report {
    let [rv, rp] = rerun;
    let mut v = Proc::new(1, "greet")
        .with_command(argv[0], rv)
        .with_setting(cwd, config);
    v.start(0, 1, "greet", "Welcome")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "greet", "Welcome", Failed);
    let mut p = Proc::new(2, "admin")
        .with_command(argv[1], rp)
        .with_setting(cwd, config);
    p.start(5, 1, "admin", "List")
        .act(30, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(40, 1, "admin", "List", Passed);
    let dir = write_all(&[&v, &p]);
    report_of(dir.path())
}

/// Runs `line` with `sh -c` from `from`, with none of the tracing or
/// database variables of ours (the line must carry them), plus `extra`.
fn run_line(line: &str, from: &Path, path: Option<&Path>, extra: &[(&str, &str)]) -> Output {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(line).current_dir(from).env("PWD", from);
    for (k, _) in std::env::vars() {
        if k.starts_with("BDD_") || k.starts_with("NEXTEST") || k == "DATABASE_URL" {
            sh.env_remove(k);
        }
    }
    if let Some(bin) = path {
        let old = std::env::var("PATH").unwrap_or_default();
        sh.env("PATH", format!("{}:{old}", bin.display()));
    }
    sh.envs(extra.iter().copied());
    sh.output().expect("sh runs")
}

/// An executable script `name` in `dir` that writes its arguments, working
/// folder and environment to `$BDD_TRACE_DIR/<its first argument>.env`.
fn recorder(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        "#!/bin/sh\nmkdir -p \"$BDD_TRACE_DIR\"\n{ echo \"ARGS=$*\"; echo \"CWD=$(pwd)\"; env; } > \"$BDD_TRACE_DIR/$1.env\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// What the recorder wrote for each of its runs, by first argument.
fn recorded(from: &Path) -> Vec<(String, String)> {
    let traces = from.join("bdd-traces");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&traces)
        .unwrap_or_else(|e| panic!("no {}: {e}", traces.display()))
        .map(|d| d.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one folder for the line's traces: {dirs:?}");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dirs[0])
        .unwrap()
        .map(|f| {
            let f = f.unwrap();
            (
                f.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(f.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn var<'a>(env: &'a str, key: &str) -> Option<&'a str> {
    env.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn the_line_runs_as_printed_with_the_traced_environment_as_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let traced_cwd = tmp.path().join("traced cwd");
    std::fs::create_dir(&traced_cwd).unwrap();
    let bin = recorder(tmp.path(), "record-env");
    let bin = bin.to_str().unwrap();
    let url = "sqlite:///srv/app it's.sqlite?mode=rwc";
    let r = two_with(
        [&[bin, "greet"], &[bin, "admin"]],
        [None, None],
        traced_cwd.to_str().unwrap(),
        &[
            ("DATABASE_URL", url),
            ("BDD_SCHEMA_ISOLATION", "false"),
            ("flush", "line"),
        ],
    );
    let line = command(likely(&r));
    let from = tmp.path().join("here");
    std::fs::create_dir(&from).unwrap();
    let out = run_line(line, &from, None, &[]);
    assert!(out.status.success(), "{line}\n{out:?}");
    let runs = recorded(&from);
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["admin.env", "greet.env"], "{line}");
    let ids: Vec<Option<&str>> = runs
        .iter()
        .map(|(_, env)| var(env, "BDD_TRACE_RUN_ID"))
        .collect();
    assert!(ids[0].is_some_and(|id| id.starts_with("repro-")), "{ids:?}");
    assert_eq!(ids[0], ids[1], "one run: {line}");
    for (name, env) in &runs {
        assert_eq!(var(env, "BDD_TRACE_STATE"), Some("1"), "{name}");
        assert_eq!(var(env, "DATABASE_URL"), Some(url), "{name}: {line}");
        assert_eq!(var(env, "BDD_SCHEMA_ISOLATION"), Some("false"), "{name}");
        assert_eq!(var(env, "CWD"), traced_cwd.to_str(), "{name}: {line}");
        // Only what a replay needs: the tracer's own settings are not replayed.
        assert_eq!(var(env, "flush"), None, "{name}");
    }
    // Nothing leaks into the shell the line is pasted in.
    assert!(line.starts_with("(export "), "{line}");
}

#[test]
fn a_masked_database_url_must_be_supplied_and_is_never_printed_as_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = recorder(tmp.path(), "record-env");
    let bin = bin.to_str().unwrap();
    let masked = "postgres://app:***@db.internal/shop";
    let r = two_with(
        [&[bin, "greet"], &[bin, "admin"]],
        [None, None],
        tmp.path().to_str().unwrap(),
        &[("DATABASE_URL", masked)],
    );
    let line = command(likely(&r));
    assert!(!line.contains("DATABASE_URL=postgres"), "{line}");
    assert!(line.contains("set DATABASE_URL first"), "{line}");
    // Not supplied: the line stops before running anything, and says why.
    let from = tmp.path().join("a");
    std::fs::create_dir(&from).unwrap();
    let out = run_line(line, &from, None, &[]);
    assert!(!out.status.success(), "{line}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("set DATABASE_URL to the traced run's value"),
        "{err}"
    );
    assert!(!from.join("bdd-traces").exists(), "nothing ran: {line}");
    // Supplied: used.
    let from = tmp.path().join("b");
    std::fs::create_dir(&from).unwrap();
    let real = "postgres://app:s3cret@db.internal/shop";
    let out = run_line(line, &from, None, &[("DATABASE_URL", real)]);
    assert!(out.status.success(), "{line}\n{out:?}");
    for (name, env) in recorded(&from) {
        assert_eq!(var(&env, "DATABASE_URL"), Some(real), "{name}");
    }
}

#[test]
fn two_nextest_processes_are_one_nextest_invocation_selecting_both() {
    use state_tracer_format::Rerun;
    let tmp = tempfile::tempdir().unwrap();
    // A `cargo` that records how it was called, first on PATH.
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/sh\nmkdir -p \"$BDD_TRACE_DIR\"\n{ for a in \"$@\"; do echo \"ARG=$a\"; done; env; } > \"$BDD_TRACE_DIR/cargo-$$.env\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let template = |bin: &str| {
        Some(Rerun {
            framework: "nextest".into(),
            argv: vec![
                "cargo".into(),
                "nextest".into(),
                "run".into(),
                "--run-ignored".into(),
                "all".into(),
                "-E".into(),
                format!("binary_id({bin}) & test(={{scenario}})").into(),
            ],
        })
    };
    let exe = "/w/target/debug/deps/greet-0123456789abcdef";
    let r = two_with(
        [&[exe, "--exact", "Welcome"], &[exe, "--exact", "List"]],
        [template("=app::greet"), template("=app::admin")],
        tmp.path().to_str().unwrap(),
        &[("DATABASE_URL", "sqlite://x.db"), ("NEXTEST_RUN_ID", "n-1")],
    );
    let line = command(likely(&r));
    assert_eq!(line.matches("cargo nextest").count(), 1, "{line}");
    let from = tmp.path().join("here");
    std::fs::create_dir(&from).unwrap();
    let out = run_line(line, &from, Some(&bin), &[]);
    assert!(out.status.success(), "{line}\n{out:?}");
    let runs = recorded(&from);
    assert_eq!(runs.len(), 1, "one cargo: {line}");
    let env = &runs[0].1;
    let args: Vec<&str> = env.lines().filter_map(|l| l.strip_prefix("ARG=")).collect();
    assert_eq!(
        args,
        [
            "nextest",
            "run",
            "--run-ignored",
            "all",
            "-E",
            "(binary_id(=app::admin) & test(=List)) | (binary_id(=app::greet) & test(=Welcome))",
            "--no-fail-fast",
            "--test-threads",
            "2",
        ],
        "{line}"
    );
    assert!(var(env, "BDD_TRACE_RUN_ID").is_some_and(|id| id.starts_with("repro-")));
    assert_eq!(var(env, "DATABASE_URL"), Some("sqlite://x.db"));
    // nextest's own run ID is nextest's to set, not replayed.
    assert_eq!(var(env, "NEXTEST_RUN_ID"), None, "{line}");
}
