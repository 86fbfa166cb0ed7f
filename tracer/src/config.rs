//! Configuration, read from the environment so a suite can turn tracing on
//! without touching code.
//!
//! | variable | meaning |
//! |---|---|
//! | `BDD_TRACE_STATE` | `1`/`true`/`yes`/`on` turns tracing on; anything else (or unset) leaves it off |
//! | `BDD_TRACE_DIR` | folder for trace files; default the OS temp dir; created `0700` if missing |
//! | `BDD_TRACE_RUN_ID` | run tag shared by all processes of one suite run; falls back to `NEXTEST_RUN_ID`, else the nearest ancestor `cargo` process ([`cargo_run_id`]), else generated |
//! | `BDD_TRACE_FLUSH` | `line` (default), `interval:<ms>`, `fsync` |
//! | `BDD_TRACE_PROCESS` | human label of the process; default the executable name, or under nextest (a process per test) `<binary id> <test name>` from `NEXTEST_BINARY_ID`/`NEXTEST_TEST_NAME` |
//!
//! # Handing a generated run ID to child processes
//!
//! # One `cargo test`, one run
//!
//! `cargo test` runs each test binary of a crate (and of a workspace) as a
//! separate process, one after another, and sets no variable they share.
//! So when neither `BDD_TRACE_RUN_ID` nor `NEXTEST_RUN_ID` is set, the run
//! ID is derived from the nearest ancestor process named `cargo` (on Linux,
//! from `/proc`): `cargo-<pid>-<start time in clock ticks since boot>`. All
//! the binaries of one `cargo test` have that same ancestor, so they share
//! the ID; two invocations are two processes, so they get two IDs (the
//! start time keeps a reused pid apart). With no `cargo` ancestor (a test
//! binary started by hand, a CI script, another OS) the ID is generated.
//!
//! # Handing a derived or generated run ID to child processes
//!
//! When tracing is on and neither `BDD_TRACE_RUN_ID` nor `NEXTEST_RUN_ID`
//! is set, the run ID is derived or generated and written into this process's
//! environment as `BDD_TRACE_RUN_ID`, so every child process spawned with
//! the default, inherited environment joins the same run. Writing the
//! environment (`setenv`) races with any other thread reading it (`getenv`,
//! e.g. DNS resolution under sqlx), so it is done exactly once, by
//! [`export_run_id_at_start`], a constructor the loader runs before `main`,
//! when no other thread exists yet; it checks that the process really is
//! single-threaded (on Linux, `/proc/self/status`) and exports nothing
//! otherwise. The library never writes the environment after that. A run
//! ID generated later (a [`crate::Builder`] used with tracing off in the
//! environment) stays in this process: pass it to children yourself with
//! [`crate::TraceGuard::run_id`].

use std::env;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable names (defined with the format).
pub use crate::format::env::{
    ENV_DIR, ENV_FLUSH, ENV_NEXTEST_RUN_ID, ENV_PROCESS, ENV_RUN_ID, ENV_STATE,
};
/// `run-<UTC time>-<pid>-<random>`: unique and sortable (defined with the
/// format, which documents the shape).
pub use crate::format::generate_run_id;

/// Environment variables copied into the header's `config` when set: they
/// change how a suite shares state, so the analyzer wants to see them.
/// `DATABASE_URL` names the database the suite ran on (its password
/// masked), so a printed repro line can run against it again.
pub const RECORDED_ENV: &[&str] = &[
    "DATABASE_URL",
    "BDD_SCHEMA_ISOLATION",
    "RUST_TEST_THREADS",
    "NEXTEST_RUN_ID",
];

/// When a record reaches the kernel (or the disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flush {
    /// One `write(2)` per record before the traced call returns. Survives
    /// panics, aborts and SIGKILL (not an OS crash).
    #[default]
    Line,
    /// Records are buffered and written by a background thread at this
    /// period (and when the buffer fills, and at exit). A SIGKILL loses up to
    /// one period of records.
    Interval(Duration),
    /// Like `Line`, plus `fdatasync(2)` after every record: survives an OS
    /// crash, at the cost of a disk round trip per record.
    Fsync,
}

impl Flush {
    /// Parses `line`, `fsync`, `interval:<ms>` (`interval` alone = 100 ms).
    pub fn parse(raw: &str) -> Result<Flush, String> {
        let raw = raw.trim().to_ascii_lowercase();
        match raw.as_str() {
            "" | "line" => Ok(Flush::Line),
            "fsync" | "sync" => Ok(Flush::Fsync),
            "interval" => Ok(Flush::Interval(Duration::from_millis(100))),
            other => match other.strip_prefix("interval:") {
                Some(ms) => match ms.trim().trim_end_matches("ms").parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Flush::Interval(Duration::from_millis(ms))),
                    _ => Err(format!(
                        "invalid {ENV_FLUSH} value {raw:?}: interval needs a positive number of milliseconds, e.g. interval:200"
                    )),
                },
                None => Err(format!(
                    "invalid {ENV_FLUSH} value {raw:?}: expected line, fsync or interval:<ms>"
                )),
            },
        }
    }
}

impl fmt::Display for Flush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flush::Line => f.write_str("line"),
            Flush::Fsync => f.write_str("fsync"),
            Flush::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

/// Everything needed to open a trace file.
#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub run_id: String,
    /// Whether `run_id` was generated here, after start-up (so children
    /// do not inherit it; see the module docs).
    pub run_id_generated: bool,
    pub flush: Flush,
    pub process: String,
}

/// Whether `BDD_TRACE_STATE` turns tracing on.
pub fn enabled_from_env() -> bool {
    env::var(ENV_STATE).is_ok_and(|v| truthy(&v))
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn non_empty(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// The configuration from the environment, or `None` when tracing is off.
    /// Problems (an invalid flush mode) are reported on stderr and replaced
    /// by the default: configuration never fails the traced process.
    pub fn from_env() -> Option<Config> {
        if !enabled_from_env() {
            return None;
        }
        let mut cfg = Config::defaults();
        if let Some(dir) = non_empty(ENV_DIR) {
            cfg.dir = PathBuf::from(dir);
        }
        if let Some(raw) = non_empty(ENV_FLUSH) {
            match Flush::parse(&raw) {
                Ok(f) => cfg.flush = f,
                Err(e) => eprintln!("state-tracer: {e}; using line"),
            }
        }
        if let Some(p) = non_empty(ENV_PROCESS) {
            cfg.process = p;
        }
        Some(cfg)
    }

    /// Defaults, with the run ID taken from the environment when present.
    pub fn defaults() -> Config {
        // Referenced so the linker keeps the constructor's object file.
        std::hint::black_box(&EXPORT_RUN_ID_AT_START);
        let (run_id, generated) =
            match non_empty(ENV_RUN_ID).or_else(|| non_empty(ENV_NEXTEST_RUN_ID)) {
                Some(id) => (id, false),
                None => (derive_run_id(), true),
            };
        Config {
            dir: env::temp_dir(),
            run_id,
            run_id_generated: generated,
            flush: Flush::Line,
            process: default_process_label(),
        }
    }
}

/// The executable's file name, e.g. `auth_features` (test binaries lose
/// their `-<hash>` suffix so labels stay stable between builds). Under
/// nextest, where every test is a process of the same binary, the test as
/// nextest prints it: `sqlx-tests::pollution transfer_moves_money`.
pub fn default_process_label() -> String {
    if let (Some(binary), Some(test)) = (
        non_empty("NEXTEST_BINARY_ID"),
        non_empty("NEXTEST_TEST_NAME"),
    ) {
        return format!("{binary} {test}");
    }
    let exe = env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "process".to_owned());
    match exe.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            stem.to_owned()
        }
        _ => exe,
    }
}

/// The run ID when the environment names none: [`cargo_run_id`], else
/// [`generate_run_id`].
pub fn derive_run_id() -> String {
    cargo_run_id().unwrap_or_else(generate_run_id)
}

/// `cargo-<pid>-<start ticks>` of the nearest ancestor process named
/// `cargo` (see the module docs), or `None` when there is none or `/proc`
/// cannot tell (any OS but Linux).
pub fn cargo_run_id() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        let mut pid = std::os::unix::process::parent_id();
        // A bound against a cycle in a racing /proc; real chains are short.
        for _ in 0..64 {
            if pid <= 1 {
                return None;
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let p = parse_proc_stat(&stat)?;
            if p.comm == "cargo" {
                return Some(format!("cargo-{pid}-{}", p.start_ticks));
            }
            pid = p.ppid;
        }
        None
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The fields of a `/proc/<pid>/stat` line that [`cargo_run_id`] uses.
#[derive(Debug, PartialEq, Eq)]
pub struct ProcStat<'a> {
    pub comm: &'a str,
    pub ppid: u32,
    /// Field 22, `starttime`: clock ticks after boot; fixed for the life
    /// of the process.
    pub start_ticks: u64,
}

/// Parses `pid (comm) state ppid ... starttime ...`. The command name may
/// hold spaces and parentheses, so it ends at the *last* `)`.
pub fn parse_proc_stat(line: &str) -> Option<ProcStat<'_>> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?;
    // After the name: field 3 (state), 4 (ppid), ..., 22 (starttime).
    let mut rest = line.get(close + 1..)?.split_ascii_whitespace();
    let ppid = rest.nth(1)?.parse().ok()?;
    let start_ticks = rest.nth(17)?.parse().ok()?;
    Some(ProcStat {
        comm,
        ppid,
        start_ticks,
    })
}

/// The start-up constructor (see the module docs): an `.init_array` entry
/// on ELF systems, `__mod_init_func` on Apple's; the loader runs it before
/// `main`, on the only thread.
#[used]
#[cfg_attr(target_vendor = "apple", link_section = "__DATA,__mod_init_func")]
#[cfg_attr(not(target_vendor = "apple"), link_section = ".init_array")]
static EXPORT_RUN_ID_AT_START: extern "C" fn() = export_run_id_at_start;

/// Derives (or generates) the run ID and exports it as `BDD_TRACE_RUN_ID`
/// if tracing is on, none is set, and this process has one thread. Runs
/// before `main`.
pub extern "C" fn export_run_id_at_start() {
    if !enabled_from_env()
        || non_empty(ENV_RUN_ID).is_some()
        || non_empty(ENV_NEXTEST_RUN_ID).is_some()
        || !single_threaded()
    {
        return;
    }
    // Sound: no other thread exists that could read the environment.
    env::set_var(ENV_RUN_ID, derive_run_id());
}

/// Whether this process has exactly one thread. Where that cannot be
/// checked, a constructor runs before `main`, when an executable has one.
fn single_threaded() -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return false;
        };
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .is_some_and(|n| n.trim() == "1")
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_modes_parse_with_clear_errors() {
        assert_eq!(Flush::parse("line"), Ok(Flush::Line));
        assert_eq!(Flush::parse("FSYNC"), Ok(Flush::Fsync));
        assert_eq!(
            Flush::parse("interval:250"),
            Ok(Flush::Interval(Duration::from_millis(250)))
        );
        assert!(Flush::parse("interval:0").unwrap_err().contains("positive"));
        assert!(Flush::parse("sometimes")
            .unwrap_err()
            .contains("line, fsync"));
        assert_eq!(
            Flush::Interval(Duration::from_millis(5)).to_string(),
            "interval:5"
        );
    }

    #[test]
    fn truthy_values() {
        for v in ["1", "true", "YES", " on "] {
            assert!(truthy(v), "{v}");
        }
        for v in ["0", "false", "", "off", "2"] {
            assert!(!truthy(v), "{v}");
        }
    }

    #[test]
    fn proc_stat_lines_parse_whatever_the_command_name() {
        // Real lines: a name with a space and a `)` must not shift fields.
        let line = "4242 (cargo) S 4100 4242 4100 34816 4242 4194304 1 2 3 4 5 6 7 8 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(
            parse_proc_stat(line),
            Some(ProcStat {
                comm: "cargo",
                ppid: 4100,
                start_ticks: 987654
            })
        );
        let odd = "77 (a) b (c)) R 1 77 77 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 31337 1000 10 0";
        let p = parse_proc_stat(odd).unwrap();
        assert_eq!((p.comm, p.ppid, p.start_ticks), ("a) b (c)", 1, 31337));
        assert_eq!(parse_proc_stat("12 (short) S 1 2"), None);
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_parses_as_itself() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let p = parse_proc_stat(&stat).unwrap();
        assert_eq!(p.ppid, std::os::unix::process::parent_id());
        assert!(p.start_ticks > 0);
    }

    #[test]
    fn run_ids_are_unique() {
        assert_ne!(generate_run_id(), generate_run_id());
    }
}
