//! `trace-analyzer confirm` through the real binary, on trace files written
//! with the tracer's own format types: commands read from a trace are not
//! run without consent, a trace without a command is inconclusive, and a
//! hung child is killed with its whole process group (at the timeout, or on
//! Ctrl-C). The demo-suite tests (confirmed, not-reproduced, leaked state,
//! search) are in examples/bdd-demo/tests/confirm.rs.

mod common;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use state_tracer_format::{Action, Outcome, Rerun};

/// A victim that wrote then read `users`, with another process's cleanup in
/// between; each process's header carries `argv` and `rerun` as given.
fn pair_run(
    dir: &Path,
    victim: (&[&str], Option<Rerun<'static>>),
    polluter: (&[&str], Option<Rerun<'static>>),
) {
    let mut v = Proc::new(1, "greet").with_command(victim.0, victim.1);
    v.start(0, 1, "greet", "v")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "greet", "v", Outcome::Failed);
    let mut p = Proc::new(2, "admin").with_command(polluter.0, polluter.1);
    p.start(5, 1, "admin", "p")
        .act(30, Some(1), Action::DbCleanup, Some(all_tables(None)))
        .end(40, 1, "admin", "p", Outcome::Passed);
    v.write(dir);
    p.write(dir);
}

/// A re-run template that, if run, leaves `ran-<scenario>` in `marker_dir`.
fn touching(marker_dir: &Path) -> Rerun<'static> {
    Rerun {
        framework: "other".into(),
        argv: vec![
            "sh".into(),
            "-c".into(),
            Cow::Owned(format!("touch {}/ran-$0", marker_dir.display())),
            "{scenario}".into(),
        ],
    }
}

/// A pair run whose commands would leave marks, and the folders: traces,
/// marks, and where the runs would go.
struct Marked {
    traces: tempfile::TempDir,
    marks: tempfile::TempDir,
    runs: PathBuf,
    _work: tempfile::TempDir,
}

impl Marked {
    fn new() -> Marked {
        let (traces, marks, work) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        pair_run(
            traces.path(),
            (&["greet"], Some(touching(marks.path()))),
            (&["admin"], Some(touching(marks.path()))),
        );
        let runs = work.path().join("runs");
        Marked {
            traces,
            marks,
            runs,
            _work: work,
        }
    }

    /// `confirm` of the pair (one run alone, one attempt) with `target`.
    fn args<'a>(&'a self, target: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec![self.traces.path().to_str().unwrap()];
        a.extend_from_slice(target);
        a.extend(["--alone", "1", "--attempts", "1", "--dir"]);
        a.push(self.runs.to_str().unwrap());
        a
    }

    fn victim_ran(&self) -> bool {
        self.marks.path().join("ran-v").exists()
    }
}

fn confirm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .arg("confirm")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("trace-analyzer runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn commands_read_from_a_trace_run_only_with_yes() {
    let m = Marked::new();
    let args = m.args(&["--victim", "greet: v", "--polluter", "admin: p"]);
    let refused = confirm(&args);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--yes"), "{}", text(&refused));
    assert!(
        text(&refused).contains("ran-$0"),
        "the commands are shown: {}",
        text(&refused)
    );
    assert_eq!(
        std::fs::read_dir(m.marks.path()).unwrap().count(),
        0,
        "nothing ran without --yes"
    );
    assert!(!m.runs.exists(), "no run folder without --yes");

    let agreed = confirm(&[&args[..], &["--yes"]].concat());
    assert!(
        m.victim_ran(),
        "with --yes the victim's command ran: {}",
        text(&agreed)
    );
    // It wrote no trace, so the victim is not seen to run: inconclusive.
    assert_eq!(agreed.status.code(), Some(1), "{}", text(&agreed));
    assert!(text(&agreed).contains("inconclusive"), "{}", text(&agreed));
}

#[test]
fn a_trace_without_a_command_is_inconclusive_and_runs_nothing() {
    let traces = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    pair_run(traces.path(), (&[], None), (&[], None));
    let dir = work.path().join("runs");
    let o = confirm(&[
        traces.path().to_str().unwrap(),
        "--finding",
        "1",
        "--dir",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["verdict"], "inconclusive", "{v:#}");
    assert!(
        v["summary"].as_str().unwrap().contains("no argv"),
        "says why: {v:#}"
    );
    assert_eq!(v["alone"].as_array().unwrap().len(), 0, "nothing ran");
    assert!(!dir.exists());
}

#[test]
fn an_unknown_framework_is_inconclusive_and_names_the_override() {
    let traces = tempfile::tempdir().unwrap();
    pair_run(
        traces.path(),
        (&["./run-tests.sh"], None),
        (&["./run-tests.sh"], None),
    );
    let o = confirm(&[traces.path().to_str().unwrap(), "--finding", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("inconclusive"), "{}", text(&o));
    assert!(text(&o).contains("--victim-cmd"), "{}", text(&o));
}

/// Whether `pid` is gone (or a zombie nobody waits for yet).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn wait_gone(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A victim command whose real work is a grandchild `sleep` (the shell's
/// child): killing only the shell would leave it running.
fn hanging(pidfile: &Path) -> String {
    format!("sleep 300 & echo $! > {}; wait", pidfile.display())
}

fn read_pid(pidfile: &Path) -> i32 {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < until, "the child never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_hung_child_and_its_process_group_are_killed_at_the_timeout() {
    let traces = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    pair_run(traces.path(), (&["greet"], None), (&["admin"], None));
    let pidfile = work.path().join("sleep.pid");
    let dir = work.path().join("runs");
    let o = confirm(&[
        traces.path().to_str().unwrap(),
        "--finding",
        "1",
        "--victim-cmd",
        &hanging(&pidfile),
        "--polluter-cmd",
        "true",
        "--timeout",
        "1s",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("did not finish within the timeout"),
        "{}",
        text(&o)
    );
    let sleep = read_pid(&pidfile);
    assert!(wait_gone(sleep), "the grandchild sleep {sleep} was killed");
    assert!(dir.join("alone-1").is_dir(), "the run's folder is kept");
}

#[test]
fn ctrl_c_kills_the_children_and_keeps_the_folders() {
    let traces = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    pair_run(traces.path(), (&["greet"], None), (&["admin"], None));
    let pidfile = work.path().join("sleep.pid");
    let dir = work.path().join("runs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .arg("confirm")
        .arg(traces.path())
        .args([
            "--finding",
            "1",
            "--polluter-cmd",
            "true",
            "--timeout",
            "10m",
        ])
        .arg("--victim-cmd")
        .arg(hanging(&pidfile))
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleep = read_pid(&pidfile);
    // SAFETY: plain syscall on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("confirm did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", text(&out));
    assert!(text(&out).contains("interrupted"), "{}", text(&out));
    assert!(wait_gone(sleep), "the sleep {sleep} was killed");
    assert!(dir.join("alone-1").is_dir(), "the run's folder is kept");
}

/// Runs `confirm ARGS` on a pseudo-terminal (util-linux `script`), typing
/// `answer` at the prompt.
fn confirm_on_a_terminal(args: &[&str], answer: &str) -> Output {
    use std::io::Write;
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_trace-analyzer"))
        .chain(std::iter::once("confirm"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut child = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs (it gives the command a terminal)");
    // The terminal keeps the answer until the prompt reads it.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn on_a_terminal_the_commands_run_only_after_a_yes() {
    let m = Marked::new();
    let args = m.args(&["--finding", "1"]);
    let no = confirm_on_a_terminal(&args, "n\n");
    assert!(text(&no).contains("Run them? [y/N]"), "{}", text(&no));
    assert!(!m.victim_ran(), "{}", text(&no));
    let yes = confirm_on_a_terminal(&args, "y\n");
    assert!(m.victim_ran(), "a yes runs them: {}", text(&yes));
}

#[test]
fn a_scenario_not_in_the_run_is_a_usage_error() {
    let traces = tempfile::tempdir().unwrap();
    pair_run(traces.path(), (&["greet"], None), (&["admin"], None));
    let o = confirm(&[traces.path().to_str().unwrap(), "--victim", "greet: nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no scenario \"greet: nope\"") && text(&o).contains("greet: v"),
        "names the failed scenarios instead: {}",
        text(&o)
    );
    let o = confirm(&[traces.path().to_str().unwrap(), "--finding", "99"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no finding 99"), "{}", text(&o));
}

#[test]
fn the_reset_command_runs_untraced_before_the_reruns() {
    let m = Marked::new();
    let resets = m.marks.path().join("resets");
    let reset = format!("echo \"state=$BDD_TRACE_STATE\" >> {}", resets.display());
    let o = confirm(&m.args(&["--finding", "1", "--yes", "--reset", &reset]));
    assert!(m.victim_ran(), "{}", text(&o));
    let log = std::fs::read_to_string(&resets).expect("the reset ran");
    assert!(log.lines().count() >= 1, "{log}");
    assert!(log.lines().all(|l| l == "state=0"), "{log}");
}

#[test]
fn a_failing_reset_stops_the_reruns_and_says_why() {
    let m = Marked::new();
    let o = confirm(&m.args(&["--finding", "1", "--yes", "--reset", "exit 3"]));
    assert!(!m.victim_ran(), "{}", text(&o));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("--reset command failed (exited with 3"),
        "{}",
        text(&o)
    );
}
