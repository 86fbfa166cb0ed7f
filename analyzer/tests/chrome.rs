//! `trace-analyzer export --format chrome` on a fixture run, checked the
//! way Perfetto UI and chrome://tracing read the file: one closed JSON
//! document (also gzip-compressed), named processes and tracks, no pid 0,
//! `B`/`E` pairs that nest on every track and never overlap, instants with
//! args, each flow's start and end inside the polluter's and the victim's
//! slices, and every finding of the report present.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

#[path = "browser/fixture.rs"]
mod fixture;
use fixture::{fixture_run, HOSTILE, RUN};

fn analyzer(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run trace-analyzer")
}

fn export(dir: &Path) -> Value {
    let out = analyzer(
        &["export", "traces", "--format", "chrome", "-o", "trace.json"],
        dir,
    );
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("trace.json"),
        "says where it wrote"
    );
    let text = std::fs::read_to_string(dir.join("trace.json")).unwrap();
    serde_json::from_str(&text).expect("a complete, valid JSON document")
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("traces")).unwrap();
    fixture_run(&dir.path().join("traces"));
    dir
}

fn track(e: &Value) -> (u64, u64) {
    (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap())
}

/// A scenario slice rebuilt from its `B`/`E` pair.
struct Slice<'a> {
    begin: &'a Value,
    end: &'a Value,
    ts: i64,
    dur: i64,
}

/// Pairs `B` and `E` per track the way a viewer does (a stack per track),
/// checking that they nest: every `E` closes the open `B` of its name,
/// nothing stays open, and time never runs backwards on a track.
fn slices(events: &[Value]) -> Vec<Slice<'_>> {
    let mut open: HashMap<(u64, u64), Vec<&Value>> = HashMap::new();
    let mut last_ts: HashMap<(u64, u64), i64> = HashMap::new();
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e["ph"] == "B" || e["ph"] == "E") {
        let ts = e["ts"].as_i64().expect("B/E carry ts");
        let prev = last_ts.insert(track(e), ts).unwrap_or(i64::MIN);
        assert!(ts >= prev, "time runs forward on a track: {e}");
        let stack = open.entry(track(e)).or_default();
        if e["ph"] == "B" {
            stack.push(e);
        } else {
            let begin = stack.pop().unwrap_or_else(|| panic!("E without B: {e}"));
            assert_eq!(begin["name"], e["name"], "E closes its own B");
            let start = begin["ts"].as_i64().unwrap();
            out.push(Slice {
                begin,
                end: e,
                ts: start,
                dur: ts - start,
            });
        }
    }
    for (t, stack) in &open {
        assert!(stack.is_empty(), "every B is closed on {t:?}: {stack:?}");
    }
    out
}

#[test]
fn export_is_a_complete_trace_with_named_processes_and_tracks() {
    let dir = fixture();
    let doc = export(dir.path());
    assert_eq!(doc["displayTimeUnit"], "ms");
    assert_eq!(doc["otherData"]["run_id"], RUN);
    let events = doc["traceEvents"].as_array().unwrap();

    for e in events {
        assert!(
            e["pid"].as_u64().is_some_and(|p| p != 0),
            "pid never 0: {e}"
        );
        assert!(e["ph"].is_string() && e["name"].is_string(), "{e}");
    }
    let process_names: HashMap<u64, &str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        process_names.get(&101).copied(),
        Some("api-tests (pid 101)")
    );
    assert_eq!(
        process_names.get(&202).copied(),
        Some("auth-tests (pid 202)")
    );
    let named_threads: HashSet<(u64, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(track)
        .collect();
    for e in events.iter().filter(|e| e["ph"] != "M") {
        assert!(
            named_threads.contains(&track(e)),
            "event on a named track: {e}"
        );
    }

    // Scenarios: B/E pairs, never overlapping on a track.
    let slices = slices(events);
    assert_eq!(slices.len(), 3);
    let mut by_track: HashMap<(u64, u64), Vec<(i64, i64)>> = HashMap::new();
    for s in &slices {
        assert!(s.ts >= 0 && s.dur > 0, "{}", s.begin);
        by_track
            .entry(track(s.begin))
            .or_default()
            .push((s.ts, s.ts + s.dur));
    }
    for spans in by_track.values_mut() {
        spans.sort();
        assert!(
            spans.windows(2).all(|w| w[0].1 <= w[1].0),
            "overlap on one track: {spans:?}"
        );
    }
    assert_eq!(
        by_track.keys().filter(|(pid, _)| *pid == 202).count(),
        2,
        "pid 202's overlap gets two tracks"
    );
    assert!(
        slices.iter().any(|s| s.begin["name"] == HOSTILE),
        "names are data, kept verbatim"
    );
    let failed = slices
        .iter()
        .find(|s| s.begin["name"] == "Login works")
        .unwrap();
    assert_eq!(failed.end["args"]["outcome"], "failed");
    assert_eq!(
        failed.end["args"]["error"],
        "expected user alice, found none"
    );
    // One clock: ts are µs since the run's first record (pid 101 at +0 ms, pid 202 at +10 ms).
    let cleanup_start = slices
        .iter()
        .find(|s| s.begin["name"] == "Cleanup wipes users")
        .unwrap();
    assert_eq!((cleanup_start.ts, failed.ts), (0, 10_000));

    // State actions: thread-scoped instants with args.
    let cleanup = events
        .iter()
        .find(|e| e["name"] == "DB_CLEANUP")
        .expect("cleanup instant");
    assert_eq!(
        (cleanup["ph"].as_str(), cleanup["s"].as_str()),
        (Some("i"), Some("t"))
    );
    assert_eq!(cleanup["ts"], 40_000);
    assert_eq!(cleanup["args"]["scenario"], "Cleanup wipes users");
    assert!(cleanup["args"]["resource"]
        .as_str()
        .unwrap()
        .contains("fixture.db"));
}

#[test]
fn every_flow_runs_from_inside_the_polluter_to_inside_the_victim() {
    let dir = fixture();
    let doc = export(dir.path());
    let events = doc["traceEvents"].as_array().unwrap();
    let slices = slices(events);
    let inside = |e: &Value| -> String {
        let ts = e["ts"].as_i64().unwrap();
        let s = slices
            .iter()
            .find(|s| track(s.begin) == track(e) && s.ts <= ts && ts <= s.ts + s.dur)
            .unwrap_or_else(|| panic!("flow event inside a slice of its track: {e}"));
        s.begin["name"].as_str().unwrap().to_owned()
    };
    let starts: Vec<&Value> = events.iter().filter(|e| e["ph"] == "s").collect();
    let ends: Vec<&Value> = events.iter().filter(|e| e["ph"] == "f").collect();
    assert_eq!(starts.len(), ends.len(), "flows are paired");
    assert!(!starts.is_empty(), "the planted pollution is a flow");
    let ids: HashSet<String> = starts.iter().map(|s| s["id"].to_string()).collect();
    assert_eq!(ids.len(), starts.len(), "flow ids are unique");
    let mut pairs = Vec::new();
    for s in &starts {
        let f = ends
            .iter()
            .find(|f| f["id"] == s["id"])
            .expect("each s has its f");
        assert_eq!(
            (&f["name"], &f["cat"], f["bp"].as_str()),
            (&s["name"], &s["cat"], Some("e"))
        );
        pairs.push((inside(s), inside(f), s["ts"].as_i64().unwrap()));
    }
    assert!(
        pairs.contains(&("Cleanup wipes users".into(), "Login works".into(), 40_000)),
        "polluter's cleanup → failed victim: {pairs:?}"
    );
}

#[test]
fn export_to_stdout_is_the_same_document_and_empty_input_is_an_error() {
    let dir = fixture();
    let file = export(dir.path());
    let out = analyzer(&["export", "traces"], dir.path());
    assert!(out.status.success());
    let piped: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(piped, file);

    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let out = analyzer(&["export", "empty", "-o", "none.json"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(2),
        "nothing to export is an input error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to export"));
    assert!(
        !dir.path().join("none.json").exists(),
        "no half file left behind"
    );
}

#[test]
fn gzip_export_holds_the_same_trace_and_every_finding_of_the_report() {
    let dir = fixture();
    let plain = export(dir.path());
    let out = analyzer(
        &[
            "export",
            "traces",
            "--format",
            "chrome",
            "-o",
            "trace.json.gz",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(dir.path().join("trace.json.gz")).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip stream");
    let gz: Value =
        serde_json::from_reader(flate2::read::GzDecoder::new(&bytes[..])).expect("valid JSON");
    assert_eq!(gz, plain, "same document, compressed");

    // Every finding of the report is in the trace: an instant on its victim,
    // and a flow when it names a polluter.
    let report = analyzer(
        &["report", "traces", "--format", "json", "--fail-on", "never"],
        dir.path(),
    );
    let report: Value = serde_json::from_slice(&report.stdout).expect("report JSON");
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "the fixture has findings");
    let events = plain["traceEvents"].as_array().unwrap();
    for f in findings {
        let name = format!(
            "{}: {}",
            f["severity"].as_str().unwrap(),
            f["rule"].as_str().unwrap()
        );
        if !f["victim"].is_null() {
            assert!(
                events.iter().any(|e| e["ph"] == "i"
                    && e["name"] == name.as_str()
                    && e["args"]["explanation"] == f["explanation"]),
                "finding {name} is noted on its victim"
            );
        }
        if !f["victim"].is_null() && !f["polluter"].is_null() {
            assert!(
                events.iter().any(|e| e["ph"] == "s"
                    && e["name"]
                        .as_str()
                        .unwrap()
                        .starts_with(f["rule"].as_str().unwrap())),
                "finding {name} is a flow"
            );
        }
    }
}
