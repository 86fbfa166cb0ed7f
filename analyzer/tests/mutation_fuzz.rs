//! Mutation fuzzing on stable (proptest): valid v1 and Go trace files are
//! damaged — bytes flipped, truncated, invalid UTF-8, NUL, CRLF, BOM, a huge
//! line, deep nesting, bad numbers and times, header/footer/sequence chaos —
//! and run through the real binary's `report` (json, table, html) and
//! `export`. Each must exit without a panic in bounded time with valid
//! output, and the run's undamaged file must keep every record.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use state_tracer_format::{Action, Outcome};

/// One damage to a file's bytes; positions are fractions of the length so
/// any file size works.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: f64,
        bit: u8,
    },
    Truncate {
        at: f64,
    },
    Insert {
        at: f64,
        bytes: Vec<u8>,
    },
    Bom,
    LeadingBlank,
    HugeLine,
    DeepNesting,
    /// Replaces a numeric or time member's value on some line.
    BadValue {
        line: f64,
        key: &'static str,
        value: &'static str,
    },
    DuplicateLine {
        line: f64,
    },
    SwapLines {
        a: f64,
        b: f64,
    },
    DeleteLine {
        line: f64,
    },
    DuplicateHeader,
    RemoveFooter,
    Crlf,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let frac = 0.0..1.0f64;
    let odd_bytes = prop_oneof![
        Just(vec![0u8]),
        Just(vec![0xff, 0xfe]),
        Just(vec![0xc3]),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\x1b[2J".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"{".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..16),
    ];
    let key = prop_oneof![
        Just("seq"),
        Just("ts"),
        Just("scenario_id"),
        Just("rows"),
        Just("pid"),
        Just("start"),
        Just("version"),
        Just("mono_ns"),
    ];
    let value = prop_oneof![
        Just("-1"),
        Just("1e999"),
        Just("18446744073709551616"),
        Just("\"2026-13-45T99:99:99Z\""),
        Just("\"\""),
        Just("null"),
        Just("0"),
        Just("3.5"),
        Just("\"9999-12-31T23:59:59.999999Z\""),
        Just("\"0001-01-01T00:00:00Z\""),
    ];
    prop_oneof![
        (frac.clone(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        frac.clone().prop_map(|at| Mutation::Truncate { at }),
        (frac.clone(), odd_bytes).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        Just(Mutation::Bom),
        Just(Mutation::LeadingBlank),
        Just(Mutation::HugeLine),
        Just(Mutation::DeepNesting),
        (frac.clone(), key, value).prop_map(|(line, key, value)| Mutation::BadValue {
            line,
            key,
            value
        }),
        frac.clone()
            .prop_map(|line| Mutation::DuplicateLine { line }),
        (frac.clone(), frac.clone()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        frac.prop_map(|line| Mutation::DeleteLine { line }),
        Just(Mutation::DuplicateHeader),
        Just(Mutation::RemoveFooter),
        Just(Mutation::Crlf),
    ]
}

fn index(len: usize, at: f64) -> usize {
    ((len as f64 * at) as usize).min(len.saturating_sub(1))
}

fn lines_of(b: &[u8]) -> Vec<Vec<u8>> {
    b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect()
}

fn apply(m: &Mutation, mut b: Vec<u8>) -> Vec<u8> {
    let join = |l: Vec<Vec<u8>>| l.join(&b'\n');
    match m {
        Mutation::FlipBit { at, bit } if !b.is_empty() => {
            let i = index(b.len(), *at);
            b[i] ^= 1 << bit;
            b
        }
        Mutation::Truncate { at } => {
            b.truncate(index(b.len(), *at));
            b
        }
        Mutation::Insert { at, bytes } => {
            let i = index(b.len() + 1, *at);
            b.splice(i..i, bytes.iter().copied());
            b
        }
        Mutation::Bom => [&b"\xef\xbb\xbf"[..], &b].concat(),
        Mutation::LeadingBlank => [&b"\n\n"[..], &b].concat(),
        // Over the 1 MiB line limit.
        Mutation::HugeLine => {
            let mut l = lines_of(&b);
            let i = l.len() / 2;
            l.insert(i, vec![b'x'; (1 << 20) + 10]);
            join(l)
        }
        Mutation::DeepNesting => {
            let mut l = lines_of(&b);
            let deep = format!(
                r#"{{"type":"event","seq":2,"ts":"2026-04-11T10:00:00Z","action":"CUSTOM","fields":{{"x":{}1{}}}}}"#,
                "[".repeat(5000),
                "]".repeat(5000)
            );
            l.insert(1.min(l.len()), deep.into_bytes());
            join(l)
        }
        Mutation::BadValue { line, key, value } => {
            let mut l = lines_of(&b);
            let i = index(l.len(), *line);
            if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&l[i]) {
                if v.get(*key).is_some() {
                    v[*key] = serde_json::from_str(value).unwrap_or(serde_json::Value::Null);
                    let mut text = v.to_string();
                    // serde_json cannot hold 1e999; write it raw.
                    if *value == "1e999" {
                        text = text.replacen(
                            &format!("\"{key}\":null"),
                            &format!("\"{key}\":1e999"),
                            1,
                        );
                    }
                    l[i] = text.into_bytes();
                }
            }
            join(l)
        }
        Mutation::DuplicateLine { line } => {
            let mut l = lines_of(&b);
            let i = index(l.len(), *line);
            let dup = l[i].clone();
            l.insert(i, dup);
            join(l)
        }
        Mutation::SwapLines { a, b: c } => {
            let mut l = lines_of(&b);
            let (i, j) = (index(l.len(), *a), index(l.len(), *c));
            l.swap(i, j);
            join(l)
        }
        Mutation::DeleteLine { line } => {
            let mut l = lines_of(&b);
            let i = index(l.len(), *line);
            l.remove(i);
            join(l)
        }
        Mutation::DuplicateHeader => {
            let mut l = lines_of(&b);
            let h = l[0].clone();
            let mid = l.len() / 2;
            l.insert(mid, h);
            join(l)
        }
        Mutation::RemoveFooter => {
            let mut l = lines_of(&b);
            l.retain(|x| !x.starts_with(br#"{"type":"footer""#));
            join(l)
        }
        Mutation::Crlf => {
            let l = lines_of(&b);
            l.join(&b"\r\n"[..])
        }
        _ => b,
    }
}

/// The run: a v1 file to damage (pid 1), a v1 file left alone (pid 2).
fn v1_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut v = Proc::new(1, "greet");
    v.start(0, 1, "greet", "Welcome")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "greet", "Welcome", Outcome::Failed)
        .start(80, 2, "greet", "Bye")
        .end(90, 2, "greet", "Bye", Outcome::Passed);
    let mut p = Proc::new(2, "admin");
    p.start(5, 1, "admin", "Purge")
        .act(30, Some(1), Action::DbDelete, Some(table(None, "users")))
        .end(40, 1, "admin", "Purge", Outcome::Passed);
    (v.write(dir), p.write(dir))
}

const LEGACY: &str = "\
TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS
2026-04-11T10:00:00.000000 | auth | Register | SCENARIO_START |
2026-04-11T10:00:00.010000 | auth | Register | DB_CLEANUP | all_tables
2026-04-11T10:00:00.020000 | auth | Register | SCENARIO_END | FAILED
2026-04-11T10:00:00.030000 | auth | Login | SCENARIO_START |
2026-04-11T10:00:00.040000 | auth | Login | JWT_RESET | ok
2026-04-11T10:00:00.050000 | auth | Login | SCENARIO_END | PASSED
";

/// Runs the binary; panics on a hang (killed after a minute), a panic, or
/// a crash.
fn analyzer(args: &[&str]) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(args)
        .env_remove("BDD_TRACE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the pipes on threads so a large output cannot block the child.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).unwrap();
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).unwrap();
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let err = String::from_utf8_lossy(&err).into_owned();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{args:?} killed by a signal: {err}"));
    assert!(
        code != 101 && !err.contains("panicked"),
        "{args:?} panicked: {err}"
    );
    assert!(code <= 2, "{args:?} exit {code}: {err}");
    (code, out, err)
}

/// Every output of a folder; returns the JSON report (None when there was
/// nothing to analyze, exit 2).
fn outputs(dir: &Path, run: &str) -> Option<serde_json::Value> {
    let d = dir.to_str().unwrap();
    let (code, json, err) = analyzer(&["report", d, "--run", run, "--format", "json"]);
    if code == 2 && json.is_empty() {
        return None;
    }
    let report: serde_json::Value =
        serde_json::from_slice(&json).unwrap_or_else(|e| panic!("report json invalid: {e}: {err}"));
    let (_, table, _) = analyzer(&["report", d, "--run", run, "--color", "never"]);
    assert!(std::str::from_utf8(&table).is_ok(), "table is UTF-8");
    let html = dir.join("out.html");
    let (code, _, err) = analyzer(&[
        "report",
        d,
        "--run",
        run,
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
    ]);
    if code != 2 {
        let page = std::fs::read_to_string(&html).unwrap_or_else(|e| panic!("{e}: {err}"));
        assert!(page.trim_end().ends_with("</html>"), "html complete");
        std::fs::remove_file(&html).unwrap();
    }
    let chrome = dir.join("out.json");
    let (code, _, err) = analyzer(&["export", d, "--run", run, "-o", chrome.to_str().unwrap()]);
    if code == 0 {
        let text = std::fs::read(&chrome).unwrap();
        let _: serde_json::Value =
            serde_json::from_slice(&text).unwrap_or_else(|e| panic!("export invalid: {e}: {err}"));
        std::fs::remove_file(&chrome).unwrap();
    }
    Some(report)
}

/// The report's entry for a process, found by pid and label.
fn process(report: &serde_json::Value, pid: u64, label: &str) -> Option<serde_json::Value> {
    report["processes"]
        .as_array()?
        .iter()
        .find(|p| p["pid"] == pid && p["label"] == label)
        .map(|p| {
            let mut p = p.clone();
            // Ordering among other processes' records may shift.
            p.as_object_mut().unwrap().remove("file");
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn damaged_v1_files_never_panic_or_cost_the_undamaged_file(
        muts in proptest::collection::vec(mutation(), 1..4)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (damaged, intact) = v1_files(dir.path());
        let baseline = outputs(dir.path(), "run-1").expect("the sound run is analyzed");
        let want = process(&baseline, 2, "admin").unwrap();
        let mut bytes = std::fs::read(&damaged).unwrap();
        for m in &muts {
            bytes = apply(m, bytes);
        }
        std::fs::write(&damaged, &bytes).unwrap();
        let report = outputs(dir.path(), "run-1").expect("the intact file is still a run");
        prop_assert_eq!(
            process(&report, 2, "admin"),
            Some(want),
            "the undamaged file {} lost records", intact.display()
        );
    }

    #[test]
    fn damaged_go_files_never_panic(muts in proptest::collection::vec(mutation(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bdd-state-trace-20260411-100000-77.log");
        let mut bytes = LEGACY.as_bytes().to_vec();
        for m in &muts {
            bytes = apply(m, bytes);
        }
        std::fs::write(&path, &bytes).unwrap();
        let canon = std::fs::canonicalize(dir.path()).unwrap();
        outputs(dir.path(), &format!("legacy:{}", canon.display()));
    }
}
