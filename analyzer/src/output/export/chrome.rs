//! `export --format chrome`: the run as a Chrome Trace Event file, for
//! Perfetto UI (ui.perfetto.dev) and `chrome://tracing`.
//!
//! Written while the merge streams ([`ChromeStream`] is a [`Tap`], drawing
//! the run's one interpretation from `crate::engine::track`: scenario, slot and
//! resolved resource come with each record): each
//! scenario is a `B` event when it starts and an `E` event when it ends,
//! each state action an instant, so memory does not grow with the records
//! (only a small fixed-size entry per scenario, kept to place the findings'
//! flows at the end). Mapping (see `docs/timeline.md`):
//! - one trace process per traced process, named by `process_name` metadata
//!   (`label (pid N)`); the trace pid is the OS pid, remapped when it is 0 or
//!   repeats (Perfetto treats pid 0 as the kernel);
//! - tid 1 of each process holds actions outside any scenario; tid `2 + slot`
//!   holds the scenarios of one concurrency slot, so overlapping scenarios
//!   never share a track;
//! - state actions are thread-scoped instant (`i`) events with their
//!   resource and details in `args`;
//! - each polluter → victim finding is a flow (`s` inside the polluter's
//!   slice at the mutation, `f` with binding point `e` inside the victim's
//!   slice), plus an instant on the victim carrying the explanation;
//! - `ts` are µs since the run's first record, one wall clock for all.
//!
//! [`ChromeWriter`] always leaves a closed JSON document, even when dropped
//! early; [`Output`] writes a file through a temporary one (gzip when the
//! name ends in `.gz`), so a failed export never leaves half a file behind.
use std::collections::HashSet;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use serde_json::{json, Value};

use std::rc::Rc;

use crate::engine::resources::Target;
use crate::engine::state::Scn;
use crate::engine::track::{Step, Tracked, Tracker};
use crate::input::discover::Run;
use crate::input::record::{to_time, FastMap, Micros, Rec};
use crate::model::{Report, ScenarioRef};
use crate::output::render::html::timeline::MarkerKind;
use crate::Tap;

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

fn slot_tid(slot: u32) -> u64 {
    2 + u64::from(slot)
}

/// Trace pids: the OS pid unless it is 0 or already taken in this trace.
fn trace_pids(os_pids: &[u32]) -> Vec<u64> {
    let mut taken: HashSet<u64> = HashSet::new();
    let mut next = os_pids.iter().map(|&p| u64::from(p)).max().unwrap_or(0) + 1;
    os_pids
        .iter()
        .map(|&p| {
            let mut pid = u64::from(p);
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

/// One trace event; `args` is whatever the event carries.
#[derive(Serialize)]
struct Ev<'a, A: Serialize> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'a str>,
    ph: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<i64>,
    pid: u64,
    tid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<A>,
}

impl<'a> Ev<'a, ()> {
    fn new(name: &'a str, ph: &'a str, pid: u64, tid: u64) -> Self {
        Ev {
            name,
            cat: None,
            ph,
            ts: None,
            pid,
            tid,
            s: None,
            args: None,
        }
    }
}

#[derive(Serialize)]
struct ActionArgs<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scenario: Option<&'a str>,
}

/// Where a scenario's slice lies, kept for the findings' flows.
#[derive(Clone, Copy)]
struct Bar {
    file: u32,
    slot: u32,
    start: i64,
    end: i64,
}

/// Writes the Chrome trace of a run while the merge streams it.
pub struct ChromeStream<W: Write> {
    out: Option<W>,
    w: Option<ChromeWriter<W>>,
    run_id: String,
    /// Resource labels by target (a label never changes once resolved).
    labels_of: FastMap<Target, Box<str>>,
    /// Scenarios never ended, with their process's last record time.
    open: Vec<(Rc<Scn>, Micros)>,
    pids: Vec<u64>,
    labels: Vec<String>,
    /// Per process: slots whose track is named already.
    named: Vec<u32>,
    origin: Micros,
    bars: Vec<Bar>,
    error: Option<io::Error>,
}

impl<W: Write> ChromeStream<W> {
    pub fn new(out: W) -> Self {
        ChromeStream {
            out: Some(out),
            w: None,
            run_id: String::new(),
            labels_of: FastMap::default(),
            open: Vec::new(),
            pids: Vec::new(),
            labels: Vec::new(),
            named: Vec::new(),
            origin: 0,
            bars: Vec::new(),
            error: None,
        }
    }

    fn writer(&mut self, first_ts: Micros) -> io::Result<&mut ChromeWriter<W>> {
        if self.w.is_none() {
            let out = self
                .out
                .take()
                .ok_or_else(|| io::Error::other("no output"))?;
            self.origin = first_ts;
            let other = json!({
                "run_id": self.run_id,
                "origin": state_tracer_format::wall_time_string(to_time(first_ts)),
                "generator": concat!("trace-analyzer ", env!("CARGO_PKG_VERSION")),
            });
            let mut w = ChromeWriter::new(out, &other)?;
            for (i, label) in self.labels.iter().enumerate() {
                let pid = self.pids[i];
                w.event(
                    &Ev::new("process_name", "M", pid, PROCESS_TID).with(json!({"name": label})),
                )?;
                w.event(
                    &Ev::new("process_sort_index", "M", pid, PROCESS_TID)
                        .with(json!({"sort_index": i})),
                )?;
                w.event(
                    &Ev::new("thread_name", "M", pid, PROCESS_TID)
                        .with(json!({"name": "outside scenarios"})),
                )?;
                w.event(
                    &Ev::new("thread_sort_index", "M", pid, PROCESS_TID)
                        .with(json!({"sort_index": 0})),
                )?;
            }
            self.w = Some(w);
        }
        Ok(self.w.as_mut().expect("just set"))
    }

    fn write_record(&mut self, t: &Tracked<'_>, track: &Tracker) -> io::Result<()> {
        let rec = t.rec;
        self.writer(rec.ts)?;
        let w = self.w.as_mut().expect("created above");
        let pid = self.pids[rec.file as usize];
        let ts = rec.ts - self.origin;
        match (t.step, &t.scn) {
            (Step::Start, Some(s)) => {
                let named = &mut self.named[s.file as usize];
                while *named <= s.slot {
                    let tid = slot_tid(*named);
                    let name = format!("scenarios (slot {})", *named + 1);
                    w.event(&Ev::new("thread_name", "M", pid, tid).with(json!({"name": name})))?;
                    w.event(
                        &Ev::new("thread_sort_index", "M", pid, tid)
                            .with(json!({"sort_index": *named + 1})),
                    )?;
                    *named += 1;
                }
                if self.bars.len() <= s.id {
                    self.bars.resize(
                        s.id + 1,
                        Bar {
                            file: 0,
                            slot: 0,
                            start: 0,
                            end: 0,
                        },
                    );
                }
                self.bars[s.id] = Bar {
                    file: s.file,
                    slot: s.slot,
                    start: ts,
                    end: ts,
                };
                let mut e = Ev::new(&s.name, "B", pid, slot_tid(s.slot))
                    .with(json!({"feature": &*s.feature}));
                e.cat = Some("scenario");
                e.ts = Some(ts);
                w.event(&e)?;
            }
            (Step::End, Some(s)) => {
                let end = s.end.get().unwrap_or(rec.ts).max(s.start) - self.origin;
                self.bars[s.id].end = end;
                end_slice(w, s, rec.error(), pid, end)?;
            }
            (Step::Action, scn) => {
                let tid = scn.as_ref().map_or(PROCESS_TID, |s| slot_tid(s.slot));
                let recorded;
                let label = match t.target() {
                    Some(target) => Some(
                        &**self
                            .labels_of
                            .entry(target)
                            .or_insert_with(|| track.view().resources.label(&target).into()),
                    ),
                    None => {
                        recorded = t.resource_label(track);
                        recorded.as_deref()
                    }
                };
                let args = ActionArgs {
                    resource: label,
                    details: rec.details().or(rec.name()),
                    scenario: scn.as_ref().map(|s| &*s.name),
                };
                let mut e = Ev::new(rec.action.as_str(), "i", pid, tid).with(args);
                e.cat = Some(kind_name(rec));
                e.ts = Some(ts);
                e.s = Some("t");
                w.event(&e)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends the unfinished slices, writes the findings and closes the
    /// document. Returns the output, flushed.
    pub fn finish(mut self, report: &Report) -> io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let first = report.start.map_or(0, |t| t.timestamp_micros());
        self.writer(first)?;
        let origin = self.origin;
        let w = self.w.as_mut().expect("created above");
        for (s, last) in std::mem::take(&mut self.open) {
            let end = last - origin;
            self.bars[s.id].end = end;
            end_slice(w, &s, None, self.pids[s.file as usize], end)?;
        }
        // Crashed processes say so, and legacy labels are known only now:
        // the name is stated again where it changed (the last one wins).
        for (i, p) in report.processes.iter().enumerate().take(self.pids.len()) {
            let mut name = format!("{} (pid {})", p.label, p.pid);
            if p.crashed {
                name.push_str(" [crashed]");
            }
            if name != self.labels[i] {
                w.event(
                    &Ev::new("process_name", "M", self.pids[i], PROCESS_TID)
                        .with(json!({"name": name})),
                )?;
            }
        }
        for (n, f) in report.findings.iter().enumerate() {
            let describe =
                |r: &ScenarioRef| format!("{} / {} (pid {})", r.feature, r.scenario, r.pid);
            let args = json!({
                "rule": f.rule, "severity": f.severity, "likely_cause": f.likely_cause,
                "resource": f.resource, "explanation": f.explanation,
                "polluter": f.polluter.as_ref().map(describe),
                "victim": f.victim.as_ref().map(describe),
            });
            let at = f.at.timestamp_micros() - origin;
            // Each end resolved to a slice: (trace pid, tid, ts clamped inside it).
            let locate = |r: &ScenarioRef| {
                let b = self.bars.get(r.id)?;
                let last = (b.end - 1).max(b.start);
                Some((
                    self.pids[b.file as usize],
                    slot_tid(b.slot),
                    at.clamp(b.start, last),
                ))
            };
            let victim = f.victim.as_ref().and_then(locate);
            if let Some((pid, tid, ts)) = victim {
                let name = format!("{}: {}", f.severity, f.rule);
                let mut e = Ev::new(&name, "i", pid, tid).with(args);
                e.cat = Some("finding");
                e.ts = Some(ts);
                e.s = Some("t");
                w.event(&e)?;
            }
            let polluter = f.polluter.as_ref().and_then(locate);
            if let (Some((ppid, ptid, pts)), Some((vpid, vtid, vts))) = (polluter, victim) {
                // Perfetto pairs legacy flow events by name and category, so the
                // name is unique per finding; the id is unique too for chrome://tracing.
                let name = format!("{} #{}", f.rule, n + 1);
                w.event(&json!({"name": name, "cat": "finding", "ph": "s", "id": n + 1, "ts": pts, "pid": ppid, "tid": ptid}))?;
                w.event(&json!({"name": name, "cat": "finding", "ph": "f", "bp": "e", "id": n + 1, "ts": vts, "pid": vpid, "tid": vtid}))?;
            }
        }
        self.w.take().expect("created above").finish()
    }
}

/// Closes a scenario's slice; `error` is its `SCENARIO_END`'s.
fn end_slice<W: Write>(
    w: &mut ChromeWriter<W>,
    s: &Scn,
    error: Option<&str>,
    pid: u64,
    ts: i64,
) -> io::Result<()> {
    let outcome = s.outcome();
    let mut e = Ev::new(&s.name, "E", pid, slot_tid(s.slot)).with(json!({
        "outcome": outcome.as_str().to_ascii_lowercase(),
        "error": error,
    }));
    e.cat = Some("scenario");
    e.ts = Some(ts);
    w.event(&e)
}

impl<'a, A: Serialize> Ev<'a, A> {
    fn with<B: Serialize>(self, args: B) -> Ev<'a, B> {
        Ev {
            name: self.name,
            cat: self.cat,
            ph: self.ph,
            ts: self.ts,
            pid: self.pid,
            tid: self.tid,
            s: self.s,
            args: Some(args),
        }
    }
}

fn kind_name(rec: &Rec) -> &'static str {
    MarkerKind::of(rec.action.kind()).as_str()
}

impl<W: Write> Tap for ChromeStream<W> {
    fn begin(&mut self, run: &Run) {
        self.run_id = run.id.clone();
        let os: Vec<u32> = run.files.iter().map(|f| f.pid).collect();
        self.pids = trace_pids(&os);
        self.labels = run
            .files
            .iter()
            .map(|f| format!("{} (pid {})", f.label, f.pid))
            .collect();
        self.named = vec![0; run.files.len()];
    }

    fn record(&mut self, t: &Tracked<'_>, track: &Tracker) {
        if self.error.is_none() {
            if let Err(e) = self.write_record(t, track) {
                self.error = Some(e);
            }
        }
    }

    fn end(&mut self, track: &Tracker) {
        // Unfinished scenarios run to their process's last record.
        self.open = track
            .open()
            .iter()
            .map(|s| {
                let last = track.last(s.file).unwrap_or(s.last.get());
                (s.clone(), last.max(s.last.get()))
            })
            .collect();
    }
}

/// Where an export goes: stdout, or a file written through a temporary one
/// (gzip-compressed when its name ends in `.gz`) and renamed when complete.
pub enum Output {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    /// An existing file that is not a regular one (`/dev/null`, a FIFO):
    /// written in place, since renaming over it would replace it.
    Special(Box<dyn FinishWrite>),
    File {
        tmp: PathBuf,
        path: PathBuf,
        out: Box<dyn FinishWrite>,
    },
}

/// A writer that must be finished (gzip writes its trailer) before the file is complete.
pub trait FinishWrite: Write {
    fn finish_file(self: Box<Self>) -> io::Result<fs::File>;
}

impl FinishWrite for BufWriter<fs::File> {
    fn finish_file(self: Box<Self>) -> io::Result<fs::File> {
        self.into_inner().map_err(|e| e.into_error())
    }
}

impl FinishWrite for BufWriter<GzEncoder<BufWriter<fs::File>>> {
    fn finish_file(self: Box<Self>) -> io::Result<fs::File> {
        let gz = self.into_inner().map_err(|e| e.into_error())?;
        gz.finish()?.into_inner().map_err(|e| e.into_error())
    }
}

impl Output {
    /// Opens `path` (via a temporary file beside it), or stdout.
    pub fn open(path: Option<&Path>) -> io::Result<Output> {
        let Some(path) = path else {
            return Ok(Output::Stdout(BufWriter::new(io::stdout().lock())));
        };
        if fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            let file = fs::OpenOptions::new().write(true).open(path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
            })?;
            return Ok(Output::Special(Box::new(BufWriter::new(file))));
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "trace.json".into());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = fs::File::create(&tmp).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
        })?;
        let buf = BufWriter::with_capacity(1 << 16, file);
        let out: Box<dyn FinishWrite> = if name.ends_with(".gz") {
            // Buffered in front too: the JSON comes in many small writes,
            // and each write to the encoder runs the compressor.
            Box::new(BufWriter::with_capacity(
                1 << 16,
                GzEncoder::new(buf, Compression::default()),
            ))
        } else {
            Box::new(buf)
        };
        Ok(Output::File {
            tmp,
            path: path.to_owned(),
            out,
        })
    }

    /// Completes the output: the file is renamed into place only now.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut out) => out.flush(),
            Output::Special(out) => out.finish_file().map(drop),
            Output::File { tmp, path, out } => {
                let result = out
                    .finish_file()
                    .and_then(|f| f.sync_all())
                    .and_then(|()| fs::rename(&tmp, &path));
                if let Err(e) = result {
                    let _ = fs::remove_file(&tmp);
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot write {}: {e}", path.display()),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Gives up: removes the temporary file.
    pub fn discard(self) {
        if let Output::File { tmp, out, .. } = self {
            drop(out);
            let _ = fs::remove_file(tmp);
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(o) => o.write(buf),
            Output::Special(out) | Output::File { out, .. } => out.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(o) => o.flush(),
            Output::Special(out) | Output::File { out, .. } => out.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_zero_and_repeated_pids_are_remapped() {
        let pids = trace_pids(&[0, 7, 7, 8]);
        assert!(!pids.contains(&0));
        assert_eq!(pids.iter().collect::<HashSet<_>>().len(), pids.len());
        assert_eq!(pids[1], 7, "a free OS pid is kept");
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
    #[cfg(unix)]
    fn an_existing_special_file_is_written_in_place_not_replaced() {
        // A FIFO stands for `/dev/null`: renaming a finished temporary file
        // over it would replace it with a regular file (as root, even
        // `/dev/null` itself).
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(&fifo).unwrap())
        };
        let mut out = Output::open(Some(&fifo)).unwrap();
        out.write_all(b"{}").unwrap();
        out.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"{}");
        use std::os::unix::fs::FileTypeExt as _;
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_gz_output_is_gzip_and_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.json.gz");
        let mut out = Output::open(Some(&path)).unwrap();
        out.write_all(b"{\"traceEvents\":[]}").unwrap();
        assert!(!path.exists(), "nothing at the target before commit");
        out.commit().unwrap();
        let mut text = String::new();
        io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(fs::File::open(&path).unwrap()),
            &mut text,
        )
        .unwrap();
        assert_eq!(text, "{\"traceEvents\":[]}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );

        let missing = dir.path().join("no/such/dir/trace.json");
        let err = Output::open(Some(&missing)).err().unwrap();
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
