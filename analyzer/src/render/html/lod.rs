//! The HTML report of a run of any size: written while the run is merged,
//! next to the analysis, with a level of detail, in memory that does not
//! grow with the records.
//!
//! It draws the run's one interpretation ([`crate::track`], the one the
//! findings use): scenario, slot (lane), resource and whether an action
//! mutates come with each record, so the page cannot disagree with the
//! findings about them.
//!
//! [`HtmlStream`] is a [`Tap`]: it writes each scenario bar as soon as the
//! scenario ends and decides for each state action whether it is drawn one
//! by one (a marker) or counted into an aggregate (a per-lane time bucket
//! with counts by kind, its real time span and the scenarios it belongs
//! to, which the page draws as such and never as invented records).
//! Drawn one by one, up to [`MARKER_BUDGET`] markers:
//! - every mutation of shared state: of a resource another process touches
//!   too (a mutation waits, up to [`PENDING_PER_RESOURCE`] per resource,
//!   until its resource turns out shared or the run ends), and of
//!   in-process state (shared by the scenarios of one process);
//! - every action of a scenario that failed or never ended, the victims'
//!   windows (an action waits in its open scenario until the scenario ends,
//!   up to [`PER_SCENARIO`]).
//!
//! Everything else (reads, HTTP calls, private writes, passing scenarios'
//! inner actions) is aggregated. Findings come from the analysis at the end
//! and are always drawn (arrow or badge on their bars); a polluter's
//! mutation is a shared-state mutation, so it is a marker too.
//!
//! Runs of up to [`FULL_DETAIL_RECORDS`] records (the page's old budget of
//! 100,000 plus a margin), and any run with `--detail full`, keep every
//! action: the page then looks as it always did.

use std::collections::hash_map::Entry;
use std::io::{self, Write};
use std::sync::Arc;

use serde::Serialize;
use state_tracer_format::{Action, Resource};

use crate::discover::Run;
use crate::model::{Report, ScenarioOutcome};
use crate::record::{to_time, FastMap, Micros};
use crate::resources::Target;
use crate::state::Scn;
use crate::track::{Step, Tracked, Tracker};
use crate::Tap;

use super::timeline::{
    describe, finding_view, rank_findings, BarOutcome, MarkerKind, ProcIdx, ProcessView,
    ScenarioIdx, Summary,
};
use super::{script_safe_json, split_once, SCRIPT, STYLE, TEMPLATE};

/// `--detail`: how much of a big run the HTML page draws one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Detail {
    /// Every action up to 125,000 records; above, what matters for triage
    /// one by one and the rest aggregated.
    #[default]
    Auto,
    /// Every action, however big the page gets.
    Full,
    /// Always aggregate, even a small run (what a big run's page looks like).
    Summary,
}

/// Runs of at most this many records are drawn at full detail: the page's
/// budget of 100,000 records (loaded in about half a second) plus a margin.
/// The decision waits for the count: until it is passed, actions are kept
/// as candidates, then sorted as a summarised page would have.
pub const FULL_DETAIL_RECORDS: u64 = 125_000;
/// Most markers a summarised page draws one by one; the rest is aggregated.
pub const MARKER_BUDGET: usize = 100_000;
/// Most actions of one failed or unfinished scenario drawn one by one.
pub const PER_SCENARIO: usize = 2_000;
/// Most mutations kept waiting per resource until it turns out shared, and
/// in all (the rest of a private resource's mutations is aggregated).
pub const PENDING_PER_RESOURCE: usize = 256;
pub const PENDING_TOTAL: usize = 65_536;
/// Time buckets per lane at most: about a pixel at the default zoom. The
/// bucket width starts at 1 µs and doubles (merging neighbours) whenever a
/// record would need more, so it fits the run without knowing its length.
const BUCKETS_PER_LANE: i64 = 2048;

/// The kinds in the order the page's aggregates count them.
const AGG_KINDS: [MarkerKind; 9] = [
    MarkerKind::Cleanup,
    MarkerKind::Schema,
    MarkerKind::Secret,
    MarkerKind::Config,
    MarkerKind::Write,
    MarkerKind::Http,
    MarkerKind::Custom,
    MarkerKind::Read,
    MarkerKind::Tx,
];

fn agg_index(k: MarkerKind) -> usize {
    AGG_KINDS.iter().position(|&a| a == k).unwrap_or(6)
}

/// One aggregate: actions of one lane within one time bucket.
#[derive(Clone, Copy)]
struct Bucket {
    t0: Micros,
    t1: Micros,
    counts: [u32; 9],
    /// First scenario seen in it (u32::MAX: none), and how many scenario
    /// changes followed (distinct scenarios, as they come in time order).
    scenario: u32,
    last_scenario: u32,
    scenarios: u32,
}

/// The page's version of the view model: 3 is the compact encoding below
/// (2 was the same content as objects, three times the bytes).
pub const PAGE_VERSION: u32 = 3;

/// The outcomes in the order the page's scenario rows number them.
const OUTCOMES: [BarOutcome; 4] = [
    BarOutcome::Passed,
    BarOutcome::Failed,
    BarOutcome::Skipped,
    BarOutcome::Unfinished,
];

/// Strings a page repeats (features, action names, marker details), each
/// written once in the page's `strings` and referred to by index: one
/// resource label on 100,000 markers was most of a shared run's page.
#[derive(Default)]
struct Strings {
    index: FastMap<Arc<str>, u32>,
    list: Vec<Arc<str>>,
    /// Bytes of the strings listed so far, for the page's size estimate.
    bytes: u64,
}

impl Strings {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        let s: Arc<str> = Arc::from(s);
        self.bytes += s.len() as u64 + 3;
        self.list.push(s.clone());
        self.index.insert(s, i);
        i
    }
}

/// A marker drawn one by one, its text interned in [`Strings`].
struct Drawn {
    t_us: i64,
    proc: ProcIdx,
    scenario: Option<ScenarioIdx>,
    lane: u32,
    kind: MarkerKind,
    action: u32,
    details: u32,
}

/// What the page says about its level of detail.
#[derive(Serialize, Default)]
struct LodInfo {
    /// `full` or `summary`.
    detail: &'static str,
    records: u64,
    /// State actions drawn one by one, and aggregated.
    detailed: u64,
    aggregated: u64,
    aggregated_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Actions left aggregated only because the marker budget was spent.
    over_budget: u64,
    /// Rough size of the page with `--detail full`, in bytes.
    full_estimate_bytes: u64,
    marker_budget: usize,
    kinds: Vec<&'static str>,
}

/// Counts what goes through, for the page's size estimate.
struct Counting<'w> {
    inner: &'w mut dyn Write,
    bytes: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An action not yet drawn or counted: small, and without the text it
/// would be drawn with (built only for the actions drawn).
struct Mark {
    t_us: i64,
    proc: u32,
    lane: u32,
    scenario: Option<u32>,
    kind: MarkerKind,
    action: Action,
    mutation: bool,
    res: Option<Target>,
    /// The recorded resource of an action that is no access (a schema
    /// switch, a transaction): shown as recorded, as the engine's timeline does.
    recorded: Option<Arc<Resource<'static>>>,
    details: Option<Arc<str>>,
}

/// Writes the HTML page of a run while the merge streams it.
pub struct HtmlStream<'w> {
    out: Counting<'w>,
    detail: Detail,
    full: bool,
    /// `--detail auto` below its record count: everything kept, as
    /// candidates that can still be sorted out.
    provisional: bool,
    candidates: Vec<Mark>,
    records: u64,
    /// The page's head and `{"scenarios":[` are written at the first record.
    started: bool,
    run_id: String,
    /// Whether `begin` saw a run (else there is nothing to draw).
    begun: bool,
    /// Lanes per process, known once the last record is seen.
    lanes: Vec<u32>,
    origin: Micros,
    /// Each scenario's bar (process, start, end), for the findings, and
    /// whether it failed or never ended.
    bars: Vec<(ProcIdx, i64, i64, bool)>,
    markers: Vec<Drawn>,
    strings: Strings,
    /// The start of the scenario row written last (rows give theirs as a
    /// difference to it).
    last_start: i64,
    /// Actions of open scenarios, waiting for the outcome.
    in_scenario: FastMap<u32, Vec<Mark>>,
    /// Mutations of resources only one process touched so far.
    in_resource: FastMap<Target, Vec<Mark>>,
    pending: usize,
    buckets: FastMap<(u32, u32, i64), Bucket>,
    width: i64,
    scenarios: u32,
    summary: Summary,
    lod: LodInfo,
    marker_bytes: u64,
    error: Option<io::Error>,
}

impl<'w> HtmlStream<'w> {
    pub fn new(out: &'w mut dyn Write, detail: Detail) -> Self {
        HtmlStream {
            out: Counting {
                inner: out,
                bytes: 0,
            },
            detail,
            full: detail == Detail::Full,
            provisional: false,
            candidates: Vec::new(),
            records: 0,
            started: false,
            run_id: String::new(),
            begun: false,
            lanes: Vec::new(),
            origin: 0,
            bars: Vec::new(),
            markers: Vec::new(),
            strings: Strings::default(),
            last_start: 0,
            in_scenario: FastMap::default(),
            in_resource: FastMap::default(),
            pending: 0,
            buckets: FastMap::default(),
            width: 1,
            scenarios: 0,
            summary: Summary::default(),
            lod: LodInfo::default(),
            marker_bytes: 0,
            error: None,
        }
    }

    fn json(&mut self, value: &impl Serialize) -> io::Result<()> {
        let text = serde_json::to_string(value).map_err(io::Error::other)?;
        self.out.write_all(script_safe_json(&text).as_bytes())
    }

    fn start(&mut self, origin: Micros) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        self.origin = origin;
        let (head, rest) = split_once(TEMPLATE, "/*@STYLE@*/")?;
        let (middle, _) = split_once(rest, "@DATA@")?;
        self.out.write_all(head.as_bytes())?;
        self.out.write_all(STYLE.as_bytes())?;
        self.out.write_all(middle.as_bytes())?;
        write!(self.out, "{{\"version\":{PAGE_VERSION},\"scenarios\":[")
    }

    /// Writes a scenario's bar; `error` is its `SCENARIO_END`'s.
    fn scenario(
        &mut self,
        track: &Tracker,
        s: &Scn,
        end: Micros,
        error: Option<&str>,
    ) -> io::Result<()> {
        let outcome: BarOutcome = s.outcome().into();
        match outcome {
            BarOutcome::Failed => self.summary.failures += 1,
            BarOutcome::Unfinished => self.summary.unfinished += 1,
            _ => {}
        }
        let start_us = s.start - self.origin;
        let end_us = (end - self.origin).max(start_us);
        let victim = matches!(outcome, BarOutcome::Failed | BarOutcome::Unfinished);
        if self.bars.len() <= s.id {
            self.bars.resize(s.id + 1, (0, 0, 0, false));
        }
        self.bars[s.id] = (s.file, start_us, end_us, victim);
        if self.scenarios > 0 {
            self.out.write_all(b",")?;
        }
        self.scenarios += 1;
        // [id, proc, lane, feature, name, outcome, start − previous row's
        // start, end − start, error?]: rows come in end order, so starts
        // are close to each other.
        let feature = self.strings.id(&s.feature);
        let outcome = OUTCOMES.iter().position(|&o| o == outcome).unwrap_or(0);
        write!(self.out, "[{},{},{},{feature},", s.id, s.file, s.slot)?;
        self.json(&&*s.name)?;
        write!(
            self.out,
            ",{outcome},{},{}",
            start_us - self.last_start,
            end_us - start_us
        )?;
        self.last_start = start_us;
        if let Some(error) = error {
            self.out.write_all(b",")?;
            self.json(&error)?;
        }
        self.out.write_all(b"]")?;
        // Its waiting actions: drawn if it failed or never ended.
        if let Some(marks) = self.in_scenario.remove(&(s.id as ScenarioIdx)) {
            for m in marks {
                if victim {
                    self.keep(track, m);
                } else {
                    self.settle(track, m);
                }
            }
        }
        Ok(())
    }

    /// Draws an action one by one, within the budget.
    fn keep(&mut self, track: &Tracker, m: Mark) {
        if self.provisional {
            self.candidates.push(m);
            return;
        }
        if !self.full && self.markers.len() >= MARKER_BUDGET {
            self.lod.over_budget += 1;
            self.aggregate(&m);
            return;
        }
        let label = match m.res {
            Some(r) => Some(track.view().resources.label(&r)),
            None => m.recorded.as_ref().map(|r| r.to_string()),
        };
        let details = describe(label.as_deref(), m.details.as_deref());
        let known = self.strings.bytes;
        let details = self.strings.id(&details);
        let action = self.strings.id(m.action.as_str());
        // About 20 bytes of numbers, and its text if new.
        self.marker_bytes += 20 + self.strings.bytes - known;
        self.lod.detailed += 1;
        self.markers.push(Drawn {
            t_us: m.t_us,
            proc: m.proc,
            scenario: m.scenario,
            lane: m.lane,
            kind: m.kind,
            action,
            details,
        });
    }

    /// An action no scenario keeps: a shared mutation is drawn, a mutation
    /// of a resource not shared (yet) waits, the rest is aggregated.
    fn settle(&mut self, track: &Tracker, m: Mark) {
        match m.res {
            Some(r) if m.mutation && track.shared(r) => self.keep(track, m),
            Some(r) if m.mutation => {
                let waiting = self.in_resource.entry(r).or_default();
                if waiting.len() < PENDING_PER_RESOURCE && self.pending < PENDING_TOTAL {
                    waiting.push(m);
                    self.pending += 1;
                } else {
                    self.aggregate(&m);
                }
            }
            _ => self.aggregate(&m),
        }
    }

    fn aggregate(&mut self, m: &Mark) {
        self.lod.aggregated += 1;
        *self
            .lod
            .aggregated_by_kind
            .entry(m.kind.as_str())
            .or_default() += 1;
        let t = m.t_us.max(0);
        while t / self.width >= BUCKETS_PER_LANE {
            self.widen();
        }
        let scn = m.scenario.unwrap_or(u32::MAX);
        let b = self
            .buckets
            .entry((m.proc, m.lane, t / self.width))
            .or_insert(Bucket {
                t0: t,
                t1: t,
                counts: [0; 9],
                scenario: scn,
                last_scenario: scn,
                scenarios: u32::from(scn != u32::MAX),
            });
        b.t0 = b.t0.min(t);
        b.t1 = b.t1.max(t);
        b.counts[agg_index(m.kind)] += 1;
        if scn != b.last_scenario {
            b.last_scenario = scn;
            if scn != u32::MAX {
                b.scenarios += 1;
            }
            if b.scenario == u32::MAX {
                b.scenario = scn;
            }
        }
    }

    /// Doubles the bucket width, merging neighbouring buckets.
    fn widen(&mut self) {
        self.width *= 2;
        let mut sorted: Vec<_> = std::mem::take(&mut self.buckets).into_iter().collect();
        sorted.sort_unstable_by_key(|(k, _)| *k);
        for ((p, l, i), b) in sorted {
            match self.buckets.entry((p, l, i / 2)) {
                Entry::Vacant(v) => {
                    v.insert(b);
                }
                Entry::Occupied(mut o) => {
                    let a = o.get_mut();
                    let continues = a.last_scenario == b.scenario && b.scenarios > 0;
                    a.t0 = a.t0.min(b.t0);
                    a.t1 = a.t1.max(b.t1);
                    for (x, y) in a.counts.iter_mut().zip(b.counts) {
                        *x += y;
                    }
                    a.scenarios += b.scenarios - u32::from(continues);
                    if a.scenario == u32::MAX {
                        a.scenario = b.scenario;
                    }
                    if b.last_scenario != u32::MAX {
                        a.last_scenario = b.last_scenario;
                    }
                }
            }
        }
    }

    /// `--detail auto` passed its record count: the candidates kept so far
    /// are sorted out as they would have been, and so is the rest.
    fn summarise(&mut self, track: &Tracker) {
        self.provisional = false;
        self.full = false;
        let open: std::collections::HashSet<u32> =
            track.open().iter().map(|s| s.id as ScenarioIdx).collect();
        for m in std::mem::take(&mut self.candidates) {
            match m.scenario {
                Some(id) if open.contains(&id) => {
                    let waiting = self.in_scenario.entry(id).or_default();
                    if waiting.len() < PER_SCENARIO {
                        waiting.push(m);
                    } else {
                        self.settle(track, m);
                    }
                }
                Some(id) if self.bars.get(id as usize).is_some_and(|b| b.3) => self.keep(track, m),
                _ => self.settle(track, m),
            }
        }
    }

    fn record_inner(&mut self, t: &Tracked<'_>, track: &Tracker) -> io::Result<()> {
        self.records += 1;
        if self.provisional && self.records > FULL_DETAIL_RECORDS {
            self.summarise(track);
        }
        if !self.begun {
            return Ok(());
        }
        let rec = t.rec;
        self.start(rec.ts)?;
        match (t.step, &t.scn) {
            (Step::End, Some(s)) => {
                let end = s.end.get().unwrap_or(rec.ts).max(s.start);
                self.scenario(track, s, end, rec.error())?;
            }
            (Step::Action, scn) => {
                let resource = t.target();
                let shared = resource.filter(|&r| track.shared(r));
                let m = Mark {
                    t_us: rec.ts - self.origin,
                    proc: rec.file,
                    lane: scn.as_ref().map_or(0, |s| s.slot),
                    scenario: scn.as_ref().map(|s| s.id as ScenarioIdx),
                    kind: MarkerKind::of(rec.action.kind()),
                    action: rec.action,
                    mutation: t.mutation(),
                    res: resource,
                    recorded: rec.resource.clone().filter(|_| resource.is_none()),
                    details: rec
                        .extra
                        .as_ref()
                        .and_then(|e| e.details.clone().or_else(|| e.name.clone())),
                };
                // A resource just found shared draws its waiting mutations.
                if let Some(waiting) = shared.and_then(|r| self.in_resource.remove(&r)) {
                    self.pending -= waiting.len();
                    for w in waiting {
                        self.keep(track, w);
                    }
                }
                if self.full {
                    self.keep(track, m);
                } else {
                    match scn {
                        Some(s) if s.end.get().is_none() => {
                            let waiting = self.in_scenario.entry(s.id as ScenarioIdx).or_default();
                            if waiting.len() < PER_SCENARIO {
                                waiting.push(m);
                            } else {
                                self.settle(track, m);
                            }
                        }
                        // After-hooks of a failed scenario belong to its window.
                        Some(s) if s.outcome() == ScenarioOutcome::Failed => self.keep(track, m),
                        _ => self.settle(track, m),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The last record was seen: what still needs the run's interpretation
    /// (resource labels, open scenarios, lanes) is settled now.
    fn end_inner(&mut self, track: &Tracker) -> io::Result<()> {
        self.lanes = (0..track.view().procs.len() as u32)
            .map(|f| track.slots(f))
            .collect();
        if !self.started {
            return Ok(());
        }
        if self.provisional {
            // Small enough: every candidate is drawn.
            self.provisional = false;
            for m in std::mem::take(&mut self.candidates) {
                self.keep(track, m);
            }
        }
        // Scenarios that never ended run to their process's last record.
        for s in track.open() {
            let last = track.last(s.file).unwrap_or(s.last.get()).max(s.last.get());
            self.scenario(track, s, last, None)?;
        }
        Ok(())
    }

    /// The markers as one array per field: `t_us` as the difference to the
    /// previous marker's (they are sorted by time), `scenario` −1 for none,
    /// `kind` an index into `lod.kinds`, `action` and `details` into
    /// `strings`.
    fn marker_columns(&mut self, markers: &[Drawn]) -> io::Result<()> {
        type Field = fn(&Drawn) -> i64;
        let columns: [(&str, Field); 6] = [
            ("proc", |m| i64::from(m.proc)),
            ("scenario", |m| m.scenario.map_or(-1, i64::from)),
            ("lane", |m| i64::from(m.lane)),
            ("kind", |m| agg_index(m.kind) as i64),
            ("action", |m| i64::from(m.action)),
            ("details", |m| i64::from(m.details)),
        ];
        self.out.write_all(b"{\"t_us\":[")?;
        let mut last = 0;
        for (n, m) in markers.iter().enumerate() {
            let sep = if n > 0 { "," } else { "" };
            write!(self.out, "{sep}{}", m.t_us - last)?;
            last = m.t_us;
        }
        for (name, field) in columns {
            write!(self.out, "],\"{name}\":[")?;
            for (n, m) in markers.iter().enumerate() {
                let sep = if n > 0 { "," } else { "" };
                write!(self.out, "{sep}{}", field(m))?;
            }
        }
        self.out.write_all(b"]}")
    }

    /// Ends the page: unfinished bars, markers, aggregates, then findings
    /// and counts from the analysis' `report`.
    pub fn finish(mut self, report: &Report) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.start(report.start.map_or(0, |t| t.timestamp_micros()))?;
        // Mutations of resources no other process touched: aggregated.
        let mut waiting: Vec<Mark> = self.in_resource.drain().flat_map(|(_, v)| v).collect();
        waiting.sort_by_key(|m| m.t_us);
        for m in waiting {
            self.aggregate(&m);
        }
        let origin = self.origin;
        let span = report
            .end
            .map_or(0, |t| t.timestamp_micros() - origin)
            .max(0);
        let processes: Vec<ProcessView> = report
            .processes
            .iter()
            .enumerate()
            .map(|(i, p)| ProcessView {
                pid: p.pid,
                label: p.label.clone(),
                crashed: p.crashed,
                lanes: self.lanes.get(i).copied().unwrap_or(1),
            })
            .collect();

        let mut markers = std::mem::take(&mut self.markers);
        markers.sort_by_key(|m| m.t_us); // stable: merge order within a µs
        self.out.write_all(b"],\"markers\":")?;
        self.marker_columns(&markers)?;
        drop(markers);

        self.out.write_all(b",\"aggregates\":[")?;
        let mut buckets: Vec<_> = self.buckets.drain().collect();
        buckets.sort_unstable_by_key(|(k, _)| *k);
        for (n, ((proc, lane, _), b)) in buckets.iter().enumerate() {
            if n > 0 {
                self.out.write_all(b",")?;
            }
            let scn = if b.scenario == u32::MAX {
                -1
            } else {
                i64::from(b.scenario)
            };
            write!(
                self.out,
                "[{proc},{lane},{},{},{scn},{}",
                b.t0, b.t1, b.scenarios
            )?;
            for c in b.counts {
                write!(self.out, ",{c}")?;
            }
            self.out.write_all(b"]")?;
        }
        drop(buckets);

        self.summary.processes = processes.len() as u32;
        self.summary.scenarios = self.scenarios;
        self.summary.records = report.records;
        let mut findings = Vec::with_capacity(report.findings.len());
        for f in &report.findings {
            *self
                .summary
                .findings_by_rule
                .entry(f.rule.as_str().to_owned())
                .or_default() += 1;
            let bar = |r: &crate::model::ScenarioRef| {
                let &(proc, start, end, _) = self.bars.get(r.id)?;
                Some((r.id as ScenarioIdx, proc, start, end))
            };
            let proc_of_pid = |pid: u32| {
                processes
                    .iter()
                    .position(|p| p.pid == pid)
                    .map(|i| i as ProcIdx)
            };
            findings.push(finding_view(
                f,
                f.at.timestamp_micros() - origin,
                bar,
                proc_of_pid,
            ));
        }
        rank_findings(&mut findings);
        self.out.write_all(b"],\"findings\":")?;
        self.json(&findings)?;
        self.out.write_all(b",\"processes\":")?;
        self.json(&processes)?;
        self.out.write_all(b",\"run_id\":")?;
        let run_id = if report.run_id.is_empty() {
            std::mem::take(&mut self.run_id)
        } else {
            report.run_id.clone()
        };
        self.json(&run_id)?;
        self.out.write_all(b",\"origin\":")?;
        let origin_text = state_tracer_format::wall_time_string(to_time(origin));
        self.json(&origin_text)?;
        write!(self.out, ",\"span_us\":{span},\"summary\":")?;
        let summary = std::mem::take(&mut self.summary);
        self.json(&summary)?;
        let avg = self
            .marker_bytes
            .checked_div(self.lod.detailed)
            .unwrap_or(120);
        self.lod.detail = if self.full { "full" } else { "summary" };
        self.lod.records = report.records;
        self.lod.marker_budget = MARKER_BUDGET;
        self.lod.kinds = AGG_KINDS.iter().map(|k| k.as_str()).collect();
        self.lod.full_estimate_bytes =
            self.out.bytes + SCRIPT.len() as u64 + self.lod.aggregated * avg;
        self.out.write_all(b",\"lod\":")?;
        let lod = std::mem::take(&mut self.lod);
        self.json(&lod)?;
        self.out.write_all(b",\"outcomes\":")?;
        self.json(&OUTCOMES)?;
        self.out.write_all(b",\"strings\":")?;
        let strings = std::mem::take(&mut self.strings.list);
        self.json(&strings)?;
        self.out.write_all(b"}")?;
        let (_, rest) = split_once(TEMPLATE, "@DATA@")?;
        let (before_script, tail) = split_once(rest, "/*@SCRIPT@*/")?;
        self.out.write_all(before_script.as_bytes())?;
        self.out.write_all(SCRIPT.as_bytes())?;
        self.out.write_all(tail.as_bytes())?;
        self.out.flush()
    }
}

impl Tap for HtmlStream<'_> {
    fn begin(&mut self, run: &Run) {
        self.run_id = run.id.clone();
        self.full = self.detail != Detail::Summary;
        self.provisional = self.detail == Detail::Auto;
        self.begun = true;
    }

    fn record(&mut self, t: &Tracked<'_>, track: &Tracker) {
        if self.error.is_none() {
            if let Err(e) = self.record_inner(t, track) {
                self.error = Some(e);
            }
        }
    }

    fn end(&mut self, track: &Tracker) {
        if self.error.is_none() {
            if let Err(e) = self.end_inner(track) {
                self.error = Some(e);
            }
        }
    }
}

/// A page's view model as objects: a version 3 page's scenario rows and
/// marker columns expanded to the objects of the documented shape (what the
/// page's script does when it loads), for tests and tools that read pages.
/// Other versions are returned as they are.
pub fn expand(mut data: serde_json::Value) -> serde_json::Value {
    use serde_json::{json, Value};
    if data["version"].as_u64() != Some(u64::from(PAGE_VERSION)) {
        return data;
    }
    let strings = data["strings"].as_array().cloned().unwrap_or_default();
    let outcomes = data["outcomes"].clone();
    let kinds = data["lod"]["kinds"].clone();
    let text = |v: &Value, table: &Value| table[v.as_u64().unwrap_or(u64::MAX) as usize].clone();
    let string = |v: &Value| match v.as_u64() {
        Some(i) => strings.get(i as usize).cloned().unwrap_or(Value::Null),
        None => Value::Null,
    };
    let mut start = 0;
    let scenarios: Vec<Value> = data["scenarios"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            start += r[6].as_i64().unwrap_or(0);
            let mut s = json!({
                "id": r[0], "proc": r[1], "lane": r[2], "feature": string(&r[3]),
                "name": r[4], "outcome": text(&r[5], &outcomes),
                "start_us": start, "end_us": start + r[7].as_i64().unwrap_or(0),
            });
            if let Some(error) = r.get(8) {
                s["error"] = error.clone();
            }
            s
        })
        .collect();
    let columns = &data["markers"];
    let column = |name: &str| columns[name].as_array().cloned().unwrap_or_default();
    let (t_us, procs, scns, lanes, kind, action, details) = (
        column("t_us"),
        column("proc"),
        column("scenario"),
        column("lane"),
        column("kind"),
        column("action"),
        column("details"),
    );
    let mut t = 0;
    let markers: Vec<Value> = (0..t_us.len())
        .map(|i| {
            t += t_us[i].as_i64().unwrap_or(0);
            json!({
                "proc": procs[i],
                "scenario": if scns[i].as_i64() == Some(-1) { Value::Null } else { scns[i].clone() },
                "lane": lanes[i], "kind": text(&kind[i], &kinds),
                "action": string(&action[i]), "t_us": t, "details": string(&details[i]),
            })
        })
        .collect();
    data["scenarios"] = Value::Array(scenarios);
    data["markers"] = Value::Array(markers);
    data
}
