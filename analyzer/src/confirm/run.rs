//! Child processes for `confirm`: each traced into its own folder, each in
//! a process group of its own with a deadline, the whole group killed when
//! the deadline passes or the user presses Ctrl-C.
//!
//! A process group, not just the child: test commands are often wrappers
//! (`cargo test`, `sh -c`, a suite runner) whose grandchildren would
//! otherwise outlive the kill and keep the database busy.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};
use serde::Serialize;
use signal_hook::consts::{SIGINT, SIGTERM};
use state_tracer_format::env::{ENV_DIR, ENV_RUN_ID, ENV_STATE};

use super::plan::Cmd;

/// Set by SIGINT or SIGTERM (signal-hook's handler stores `true`).
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);

/// Makes Ctrl-C (SIGINT) and SIGTERM stop the runs instead of this process:
/// the children, in their own process groups, do not get the terminal's
/// SIGINT, so [`wait`] kills them and the caller reports what it has.
pub fn stop_on_ctrl_c() {
    for signal in [SIGINT, SIGTERM] {
        // Fails only for a signal that cannot be caught, which these are
        // not; were it to, Ctrl-C would end this process as it did before.
        let _ = signal_hook::flag::register(signal, Arc::clone(&INTERRUPTED));
    }
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "end", content = "detail")]
pub enum End {
    /// Exit code (or 128 + signal).
    Exited(i32),
    /// Killed (with its process group) at the deadline.
    TimedOut,
    /// Killed because the user pressed Ctrl-C.
    Interrupted,
    /// Could not be started.
    NotStarted(String),
}

/// Where a traced child writes: `BDD_TRACE_DIR` and `BDD_TRACE_RUN_ID`.
#[derive(Debug, Clone)]
pub struct Traced {
    pub dir: PathBuf,
    pub run_id: String,
    /// Set for the child on top of ours (e.g. `DATABASE_URL`).
    pub env: Vec<(String, String)>,
}

/// A started child and its deadline.
pub struct Running {
    child: Option<Child>,
    deadline: Instant,
    end: Option<End>,
}

/// Starts `cmd` traced into `t`, its output in `t.dir/<log>.log`.
pub fn start(cmd: &Cmd, t: &Traced, log: &str, timeout: Duration) -> Running {
    let deadline = Instant::now() + timeout;
    let not_started = |e: String| Running {
        child: None,
        deadline,
        end: Some(End::NotStarted(e)),
    };
    if let Err(e) = std::fs::create_dir_all(&t.dir) {
        return not_started(format!("cannot create {}: {e}", t.dir.display()));
    }
    let out = match File::create(t.dir.join(format!("{log}.log"))) {
        Ok(f) => f,
        Err(e) => return not_started(format!("cannot write the log: {e}")),
    };
    let err = match out.try_clone() {
        Ok(f) => f,
        Err(e) => return not_started(format!("cannot write the log: {e}")),
    };
    let Some((program, args)) = cmd.argv.split_first() else {
        return not_started("empty command".into());
    };
    if let Some(d) = cmd.cwd.as_deref().filter(|d| !d.is_dir()) {
        // Else spawn's ENOENT reads as if the program were missing.
        return not_started(format!(
            "its working folder {} (the traced process's cwd) does not exist",
            d.display()
        ));
    }
    let mut c = Command::new(program);
    c.args(args)
        .env(ENV_STATE, "1")
        .env(ENV_RUN_ID, &t.run_id)
        .env(ENV_DIR, &t.dir)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .envs(t.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    if let Some(d) = &cmd.cwd {
        c.current_dir(d);
    }
    match c.spawn() {
        Ok(child) => Running {
            child: Some(child),
            deadline,
            end: None,
        },
        Err(e) => not_started(format!("cannot run {program:?}: {e}")),
    }
}

impl Running {
    /// Polls once; true when ended.
    fn poll(&mut self) -> bool {
        if self.end.is_some() {
            return true;
        }
        let Some(child) = &mut self.child else {
            return true;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                self.end = Some(End::Exited(code));
                true
            }
            Ok(None) if interrupted() => {
                self.kill(End::Interrupted);
                true
            }
            Ok(None) if Instant::now() >= self.deadline => {
                self.kill(End::TimedOut);
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.kill(End::NotStarted(format!("cannot wait for it: {e}")));
                true
            }
        }
    }

    /// Kills the child's whole process group and reaps the child.
    fn kill(&mut self, why: End) {
        if let Some(child) = &mut self.child {
            kill_group(child.id());
            let _ = child.wait();
        }
        self.end = Some(why);
    }

    /// Whether it has ended (without waiting).
    pub fn done(&mut self) -> bool {
        self.poll()
    }
}

/// SIGKILL to the process group `pgid` (the child is its leader).
fn kill_group(pgid: u32) {
    // Best effort: the group may already be gone (all of it exited).
    if let Some(pgid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pgid, Signal::KILL);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.end.is_none() {
            self.kill(End::Interrupted);
        }
    }
}

const POLL: Duration = Duration::from_millis(5);

/// Waits for every child; each is killed at its deadline or on Ctrl-C.
pub fn wait(children: &mut [Running]) -> Vec<End> {
    loop {
        let mut all = true;
        for c in children.iter_mut() {
            all &= c.poll();
        }
        if all {
            break;
        }
        std::thread::sleep(POLL);
    }
    children
        .iter()
        .map(|c| c.end.clone().unwrap_or(End::Interrupted))
        .collect()
}

/// Sleeps `d` unless Ctrl-C comes first (false then).
pub fn pause(d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if interrupted() {
            return false;
        }
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    !interrupted()
}

/// Runs the `--reset` command (by `sh -c`, untraced, output in
/// `t.dir/reset.log`) and waits; `Ok` if it exited 0, else what happened.
pub fn reset(cmd: &str, t: &Traced, timeout: Duration) -> Result<(), String> {
    let c = Cmd {
        argv: vec!["sh".into(), "-c".into(), cmd.into()],
        env: vec![(ENV_STATE.into(), "0".into())],
        cwd: None,
        from_trace: false,
    };
    match run_one(&c, t, "reset", timeout) {
        End::Exited(0) => Ok(()),
        End::Exited(n) => Err(format!("exited with {n}")),
        End::TimedOut => Err("timed out".into()),
        End::Interrupted => Err("interrupted".into()),
        End::NotStarted(e) => Err(e),
    }
}

/// Runs one command traced into `t` and waits.
pub fn run_one(cmd: &Cmd, t: &Traced, log: &str, timeout: Duration) -> End {
    let mut c = [start(cmd, t, log, timeout)];
    wait(&mut c).remove(0)
}

/// Runs two commands at once, the second started `offset` after the first
/// (before it when negative); returns (first, second).
pub fn run_two_at_once(
    first: (&Cmd, &str),
    second: (&Cmd, &str),
    t: &Traced,
    offset_us: i64,
    timeout: Duration,
) -> (End, End) {
    let delay = Duration::from_micros(offset_us.unsigned_abs());
    let ((a, la), (b, lb), swapped) = if offset_us >= 0 {
        (first, second, false)
    } else {
        (second, first, true)
    };
    let mut kids = vec![start(a, t, la, timeout)];
    if pause(delay) {
        kids.push(start(b, t, lb, timeout));
    }
    let mut ends = wait(&mut kids);
    let eb = if ends.len() == 2 {
        ends.pop().unwrap()
    } else {
        End::Interrupted
    };
    let ea = ends.pop().unwrap_or(End::Interrupted);
    if swapped {
        (eb, ea)
    } else {
        (ea, eb)
    }
}
