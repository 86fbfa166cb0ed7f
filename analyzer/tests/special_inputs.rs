//! Only regular files are read: a FIFO, socket or device named on the
//! command line is refused with one line and exit 2, never opened (a FIFO
//! would block the reader forever).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs the analyzer; a run still going after a minute is killed and fails
/// the test (a hang, not a slow machine).
fn analyzer(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_fifo_named_on_the_command_line_is_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "plain-fifo",
        "bdd-state-trace-20200101-000000-1.log",
        "bdd-state-trace-r-20200101T000000.000000Z-1-00000001.jsonl",
    ];
    // A file of our own as export's output: never a device.
    let out = dir.path().join("trace.json");
    let out = out.to_str().unwrap();
    for name in names {
        let fifo = dir.path().join(name);
        mkfifo(&fifo);
        let f = fifo.to_str().unwrap();
        for args in [
            vec!["report", f],
            vec!["report", f, "--format", "json"],
            vec!["merge", f],
            vec!["runs", f],
            vec!["export", f, "-o", out],
        ] {
            let (code, err) = analyzer(&args);
            assert_eq!(code, Some(2), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(err.contains(f) && err.contains("a FIFO"), "{err}");
        }
    }
    // The same FIFOs inside a named folder are passed over, not opened.
    let (code, err) = analyzer(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "nothing to analyze: {err}");
}

#[test]
fn a_device_is_refused_too() {
    let (code, err) = analyzer(&["report", "/dev/zero"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a device"), "{err}");
}
