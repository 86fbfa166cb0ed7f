//! `trace-analyzer export --format chrome` on a fixture run, checked the
//! way Perfetto UI and chrome://tracing read the file: one closed JSON
//! document, named processes and tracks, no pid 0, every `X` with a `dur`,
//! non-overlapping slices per track, instants with args, and each flow's
//! start and end inside the polluter's and the victim's slices.

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

    // Scenarios: complete events with a duration, never overlapping on a track.
    let slices: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(slices.len(), 3);
    let mut by_track: HashMap<(u64, u64), Vec<(i64, i64)>> = HashMap::new();
    for s in &slices {
        let (ts, dur) = (
            s["ts"].as_i64().unwrap(),
            s["dur"].as_i64().expect("every X has dur"),
        );
        assert!(ts >= 0 && dur > 0, "{s}");
        by_track.entry(track(s)).or_default().push((ts, ts + dur));
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
        slices.iter().any(|s| s["name"] == HOSTILE),
        "names are data, kept verbatim"
    );
    let failed = slices.iter().find(|s| s["name"] == "Login works").unwrap();
    assert_eq!(failed["args"]["outcome"], "failed");
    assert_eq!(failed["args"]["error"], "expected user alice, found none");
    // One clock: ts are µs since the run's first record (pid 101 at +0 ms, pid 202 at +10 ms).
    let cleanup_start = slices
        .iter()
        .find(|s| s["name"] == "Cleanup wipes users")
        .unwrap();
    assert_eq!(
        (cleanup_start["ts"].as_i64(), failed["ts"].as_i64()),
        (Some(0), Some(10_000))
    );

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
    assert!(cleanup["args"]["details"]
        .as_str()
        .unwrap()
        .contains("fixture.db"));
}

#[test]
fn every_flow_runs_from_inside_the_polluter_to_inside_the_victim() {
    let dir = fixture();
    let doc = export(dir.path());
    let events = doc["traceEvents"].as_array().unwrap();
    let slices: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    let inside = |e: &Value| -> String {
        let ts = e["ts"].as_i64().unwrap();
        let s = slices
            .iter()
            .find(|s| {
                let start = s["ts"].as_i64().unwrap();
                track(s) == track(e) && start <= ts && ts <= start + s["dur"].as_i64().unwrap()
            })
            .unwrap_or_else(|| panic!("flow event inside a slice of its track: {e}"));
        s["name"].as_str().unwrap().to_owned()
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
