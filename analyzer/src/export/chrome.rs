//! `export --format chrome`: the run as a Chrome Trace Event file, for
//! Perfetto UI (ui.perfetto.dev) and `chrome://tracing`.
//!
//! Mapping (see `docs/timeline.md`):
//! - one trace process per traced process, named by `process_name` metadata
//!   (`label (pid N)`); the trace pid is the OS pid, remapped when it is 0 or
//!   repeats (Perfetto treats pid 0 as the kernel);
//! - tid 1 of each process holds actions outside any scenario; tid `2 + lane`
//!   holds the scenarios of one concurrency slot as complete (`X`) events,
//!   so overlapping scenarios never collapse into one track;
//! - state actions are thread-scoped instant (`i`) events with their details
//!   in `args`;
//! - each polluter → victim finding is a flow (`s` inside the polluter's
//!   slice at the mutation, `f` with binding point `e` inside the victim's
//!   slice), plus an instant on the victim carrying the explanation;
//! - `ts`/`dur` are µs since the run's first record, one wall clock for all.
//!
//! [`ChromeWriter`] streams events and always leaves a closed JSON document,
//! even when dropped early; [`write_file`] also writes through a temporary
//! file, so a failed export never leaves half a file behind.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::render::html::timeline::{BarOutcome, TimelineView};

/// Streams trace events into `{"traceEvents":[…],"displayTimeUnit":"ms"}`.
pub struct ChromeWriter<W: Write> {
    out: Option<W>,
    events: u64,
}

impl<W: Write> ChromeWriter<W> {
    /// Starts the document; `other` goes to the top-level `otherData` object.
    pub fn new(mut out: W, other: &Value) -> io::Result<Self> {
        out.write_all(b"{\"otherData\":")?;
        serde_json::to_writer(&mut out, other)?;
        out.write_all(b",\"traceEvents\":[\n")?;
        Ok(ChromeWriter {
            out: Some(out),
            events: 0,
        })
    }

    /// Appends one event object.
    pub fn event(&mut self, event: &impl Serialize) -> io::Result<()> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("writer finished"))?;
        if self.events > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *out, event)?;
        self.events += 1;
        Ok(())
    }

    /// Events written so far.
    pub fn len(&self) -> u64 {
        self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Closes the document and hands back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let mut out = self.out.take().expect("finish is called once");
        out.write_all(b"\n],\"displayTimeUnit\":\"ms\"}\n")?;
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Drop for ChromeWriter<W> {
    /// Dropped without `finish` (an error on the way): still close the JSON.
    fn drop(&mut self) {
        if let Some(out) = self.out.as_mut() {
            let _ = out.write_all(b"\n],\"displayTimeUnit\":\"ms\"}\n");
            let _ = out.flush();
        }
    }
}

/// Thread of actions outside any scenario; scenario slots follow it.
const PROCESS_TID: u64 = 1;

fn slot_tid(lane: u32) -> u64 {
    2 + lane as u64
}

/// Trace pids: the OS pid unless it is 0 or already taken in this trace.
fn trace_pids(view: &TimelineView) -> Vec<u64> {
    let mut taken: HashSet<u64> = HashSet::new();
    let mut next = view
        .processes
        .iter()
        .map(|p| p.pid as u64)
        .max()
        .unwrap_or(0)
        + 1;
    view.processes
        .iter()
        .map(|p| {
            let mut pid = p.pid as u64;
            if pid == 0 || taken.contains(&pid) {
                while taken.contains(&next) {
                    next += 1;
                }
                pid = next;
            }
            taken.insert(pid);
            pid
        })
        .collect()
}

fn cname(outcome: BarOutcome) -> &'static str {
    // chrome://tracing's reserved colour names; Perfetto ignores them.
    match outcome {
        BarOutcome::Passed => "good",
        BarOutcome::Failed => "terrible",
        BarOutcome::Skipped => "grey",
        BarOutcome::Unfinished => "yellow",
    }
}

/// Writes the whole view as trace events to `out`.
pub fn write_chrome(view: &TimelineView, out: impl Write) -> io::Result<()> {
    let other = json!({
        "run_id": view.run_id,
        "origin": view.origin,
        "generator": concat!("trace-analyzer ", env!("CARGO_PKG_VERSION")),
    });
    let mut w = ChromeWriter::new(out, &other)?;
    let pids = trace_pids(view);

    for (i, p) in view.processes.iter().enumerate() {
        let pid = pids[i];
        let mut name = format!("{} (pid {})", p.label, p.pid);
        if p.crashed {
            name.push_str(" [crashed]");
        }
        w.event(&json!({"name": "process_name", "ph": "M", "pid": pid, "tid": PROCESS_TID, "args": {"name": name}}))?;
        w.event(&json!({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": PROCESS_TID, "args": {"sort_index": i}}))?;
        w.event(&json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": PROCESS_TID, "args": {"name": "outside scenarios"}}))?;
        w.event(&json!({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": PROCESS_TID, "args": {"sort_index": 0}}))?;
        for lane in 0..p.lanes.max(1) {
            let tid = slot_tid(lane);
            w.event(&json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": format!("scenarios (slot {})", lane + 1)}}))?;
            w.event(&json!({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": {"sort_index": lane + 1}}))?;
        }
    }

    for s in &view.scenarios {
        let mut args = json!({"feature": s.feature, "outcome": s.outcome.as_str()});
        if let Some(e) = &s.error {
            args["error"] = json!(e);
        }
        w.event(&json!({
            "name": s.name, "cat": format!("scenario,{}", s.outcome.as_str()), "ph": "X",
            "ts": s.start_us, "dur": (s.end_us - s.start_us).max(1),
            "pid": pids[s.proc as usize], "tid": slot_tid(s.lane),
            "cname": cname(s.outcome), "args": args,
        }))?;
    }

    for m in &view.markers {
        let tid = if m.scenario.is_some() {
            slot_tid(m.lane)
        } else {
            PROCESS_TID
        };
        let mut args = json!({"details": m.details});
        if let Some(s) = m.scenario {
            args["scenario"] = json!(view.scenarios[s as usize].name);
        }
        w.event(&json!({
            "name": m.action, "cat": m.kind.as_str(), "ph": "i", "s": "t",
            "ts": m.t_us, "pid": pids[m.proc as usize], "tid": tid, "args": args,
        }))?;
    }

    for (n, f) in view.findings.iter().enumerate() {
        let args = json!({
            "rule": f.rule, "severity": f.severity, "likely_cause": f.likely_cause,
            "resource": f.resource, "explanation": f.explanation,
            "polluter": f.polluter.as_ref().map(|e| format!("{} / {} (pid {})", e.feature, e.name, e.pid)),
            "victim": f.victim.as_ref().map(|e| format!("{} / {} (pid {})", e.feature, e.name, e.pid)),
        });
        // Each end resolved to a bar: (trace pid, tid, ts clamped inside the slice).
        let locate = |end: &crate::render::html::timeline::FindingEnd| {
            let s = &view.scenarios[end.scenario? as usize];
            let last = (s.end_us - 1).max(s.start_us);
            Some((
                pids[s.proc as usize],
                slot_tid(s.lane),
                end.t_us.clamp(s.start_us, last),
            ))
        };
        let victim = f.victim.as_ref().and_then(locate);
        if let Some((pid, tid, ts)) = victim {
            w.event(&json!({
                "name": format!("{}: {}", f.severity, f.rule), "cat": "finding", "ph": "i", "s": "t",
                "ts": ts, "pid": pid, "tid": tid, "args": args,
            }))?;
        }
        let polluter = f.polluter.as_ref().and_then(locate);
        if let (Some((ppid, ptid, pts)), Some((vpid, vtid, vts))) = (polluter, victim) {
            // Perfetto pairs legacy flow events by name and category, so the
            // name is unique per finding; the id is unique too for chrome://tracing.
            let name = format!("{} #{}", f.rule, n + 1);
            let id = n + 1;
            w.event(&json!({"name": name, "cat": "finding", "ph": "s", "id": id, "ts": pts, "pid": ppid, "tid": ptid}))?;
            w.event(&json!({"name": name, "cat": "finding", "ph": "f", "bp": "e", "id": id, "ts": vts, "pid": vpid, "tid": vtid}))?;
        }
    }
    w.finish()?;
    Ok(())
}

/// Writes the export to `path` via a temporary file in the same folder, so
/// the file at `path` is either the complete document or untouched.
pub fn write_file(view: &TimelineView, path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = fs::File::create(&tmp).and_then(|f| {
        let mut buf = BufWriter::new(f);
        write_chrome(view, &mut buf)?;
        buf.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    match result.and_then(|()| fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(io::Error::new(
                e.kind(),
                format!("cannot write {}: {e}", path.display()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::html::fixtures::sample;
    use std::collections::HashMap;

    fn export() -> (TimelineView, Value) {
        let (report, timeline) = sample();
        let view = TimelineView::build(&report, &timeline);
        let mut out = Vec::new();
        write_chrome(&view, &mut out).unwrap();
        let doc: Value = serde_json::from_slice(&out).expect("valid JSON");
        (view, doc)
    }

    fn events(doc: &Value) -> &Vec<Value> {
        doc["traceEvents"].as_array().unwrap()
    }

    #[test]
    fn every_process_and_slot_is_named_and_no_pid_is_zero() {
        let (view, doc) = export();
        assert_eq!(doc["displayTimeUnit"], "ms");
        let ev = events(&doc);
        assert!(ev.iter().all(|e| e["pid"].as_u64().unwrap() != 0));
        let names: Vec<&str> = ev
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["worker-a (pid 1) [crashed]", "worker-b (pid 2)"]);
        // Every (pid, tid) that carries an event has a thread_name.
        let named: HashSet<(u64, u64)> = ev
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap()))
            .collect();
        for e in ev.iter().filter(|e| e["ph"] != "M") {
            let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
            assert!(named.contains(&key), "{key:?} has a thread_name: {e}");
        }
        assert_eq!(named.len(), 2 + 3, "tid 1 per process plus one per slot");
        assert_eq!(
            ev.iter().filter(|e| e["ph"] == "X").count(),
            view.scenarios.len()
        );
    }

    #[test]
    fn overlapping_scenarios_never_share_a_track() {
        let (_, doc) = export();
        let mut by_track: HashMap<(u64, u64), Vec<(i64, i64)>> = HashMap::new();
        for e in events(&doc).iter().filter(|e| e["ph"] == "X") {
            assert!(e["dur"].as_i64().unwrap() >= 1, "every X has a dur");
            let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
            let ts = e["ts"].as_i64().unwrap();
            by_track
                .entry(key)
                .or_default()
                .push((ts, ts + e["dur"].as_i64().unwrap()));
        }
        for slices in by_track.values_mut() {
            slices.sort();
            for w in slices.windows(2) {
                assert!(
                    w[0].1 <= w[1].0,
                    "slices on one track do not overlap: {w:?}"
                );
            }
        }
    }

    #[test]
    fn actions_are_instants_with_args_and_findings_are_paired_flows() {
        let (_, doc) = export();
        let ev = events(&doc);
        let cleanup = ev.iter().find(|e| e["name"] == "DB_CLEANUP").unwrap();
        assert_eq!(
            (cleanup["ph"].as_str(), cleanup["s"].as_str()),
            (Some("i"), Some("t"))
        );
        assert_eq!(cleanup["args"]["scenario"], "Polluter cleans up");
        assert!(cleanup["args"]["details"]
            .as_str()
            .unwrap()
            .contains("all tables"));
        let starts: Vec<&Value> = ev.iter().filter(|e| e["ph"] == "s").collect();
        let ends: Vec<&Value> = ev.iter().filter(|e| e["ph"] == "f").collect();
        assert_eq!(
            (starts.len(), ends.len()),
            (1, 1),
            "one polluter→victim finding"
        );
        let (s, f) = (starts[0], ends[0]);
        assert_eq!(
            (&s["id"], &s["name"], &s["cat"]),
            (&f["id"], &f["name"], &f["cat"])
        );
        assert_eq!(f["bp"], "e");
        // The flow starts on the polluter's track, inside its slice, at the cleanup.
        assert_eq!(
            (s["pid"].as_u64(), s["ts"].as_i64()),
            (Some(1), Some(40_000))
        );
        assert_eq!(
            (f["pid"].as_u64(), f["ts"].as_i64()),
            (Some(2), Some(40_000))
        );
        let victim_note = ev
            .iter()
            .filter(|e| e["cat"] == "finding" && e["ph"] == "i")
            .count();
        assert_eq!(victim_note, 2, "both findings are noted on their victim");
    }

    #[test]
    fn pid_zero_and_repeated_pids_are_remapped() {
        let (report, mut timeline) = sample();
        timeline.processes[0].pid = 0;
        for s in timeline.scenarios.iter_mut().filter(|s| s.pid == 1) {
            s.pid = 0;
        }
        for a in timeline.actions.iter_mut().filter(|a| a.pid == 1) {
            a.pid = 0;
        }
        let mut view = TimelineView::build(&report, &timeline);
        view.processes.push(view.processes[1].clone()); // same pid twice
        let pids = trace_pids(&view);
        assert!(!pids.contains(&0));
        assert_eq!(pids.iter().collect::<HashSet<_>>().len(), pids.len());
    }

    #[test]
    fn a_writer_dropped_early_still_closes_the_document() {
        let mut out = Vec::new();
        {
            let mut w = ChromeWriter::new(&mut out, &json!({})).unwrap();
            w.event(&json!({"name": "x", "ph": "i", "ts": 0, "pid": 1, "tid": 1}))
                .unwrap();
            // dropped here, as on an error path
        }
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["traceEvents"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn write_file_replaces_the_target_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.json");
        let (report, timeline) = sample();
        write_file(&TimelineView::build(&report, &timeline), &path).unwrap();
        let doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert!(!events(&doc).is_empty());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        let missing = dir.path().join("no/such/dir/trace.json");
        let err = write_file(&TimelineView::default(), &missing).unwrap_err();
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
