//! The HTML report of a run of any size: written while the run is merged a
//! second time, with a level of detail, in memory that does not grow with
//! the records.
//!
//! Why two passes: what must stay at full detail depends on the whole run.
//! The first pass is the ordinary streaming analysis (findings) plus a
//! [`Census`] of which resources more than one process touched. The second
//! pass merges the files again and writes the page as it goes:
//! - every scenario bar, with its outcome, as soon as it ends;
//! - at full detail: every mutation of shared state, and every action of a
//!   scenario a finding names (the victim's window, the polluter's
//!   mutation), up to [`MARKER_BUDGET`] markers;
//! - everything else (reads, HTTP calls, private writes, …) counted into
//!   per-lane time buckets (count by kind, real time span, the scenarios
//!   they belong to), which the page draws as aggregates and never as
//!   invented records.
//!
//! Runs of up to [`FULL_DETAIL_RECORDS`] records (the page's old budget),
//! and any run with `--detail full`, keep every action: the page then looks
//! as it always did.

use std::io::{self, Write};

use serde::Serialize;

use crate::discover::Run;
use crate::follow::{Follower, Seen};
use crate::merge::Merger;
use crate::model::Report;
use crate::read::{LegacyTz, ReadOptions};
use crate::record::{FastMap, Micros, Rec};
use crate::Tap;

use super::timeline::{
    describe, finding_view, rank_findings, BarOutcome, MarkerKind, MarkerView, ProcIdx,
    ProcessView, ScenarioIdx, Summary,
};
use super::{script_safe_json, split_once, SCRIPT, STYLE, TEMPLATE};

/// `--detail`: how much of a big run the HTML page draws one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Detail {
    /// Everything up to 100,000 records; above, what matters for triage at
    /// full detail and the rest aggregated.
    #[default]
    Auto,
    /// Every action, however big the page gets.
    Full,
    /// Always aggregate, even a small run (what a big run's page looks like).
    Summary,
}

/// Runs up to this many records are drawn at full detail (the page loads
/// them in about a second).
pub const FULL_DETAIL_RECORDS: u64 = 100_000;
/// Most markers a summarised page draws one by one; the rest is aggregated.
pub const MARKER_BUDGET: usize = 100_000;
/// Most actions drawn one by one per scenario a finding names.
const PER_FINDING_SCENARIO: u32 = 2_000;
/// Aggregate buckets over all lanes (each lane gets its share of the run's
/// span, between 64 and 2048 buckets: about a pixel at the default zoom).
const BUCKETS_TOTAL: u64 = 120_000;

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

/// First pass: which resources are shared, and the run to read again.
#[derive(Default)]
pub struct Census {
    run: Option<Run>,
    follow: Option<Follower>,
}

impl Tap for Census {
    fn begin(&mut self, run: &Run) {
        self.run = Some(run.clone());
        self.follow = Some(Follower::new(&run.files));
    }

    fn record(&mut self, rec: &Rec) {
        if let Some(f) = &mut self.follow {
            f.feed(rec);
        }
    }
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

#[derive(Serialize)]
struct ScenarioOut<'a> {
    id: u32,
    proc: ProcIdx,
    lane: u32,
    feature: &'a str,
    name: &'a str,
    outcome: BarOutcome,
    start_us: i64,
    end_us: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
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

/// Second pass: writes the page while merging the run again.
struct Page<'w> {
    out: Counting<'w>,
    origin: Micros,
    full: bool,
    follow: Follower,
    census: Follower,
    /// Scenarios a finding names → actions drawn so far, and their bars.
    named: FastMap<u32, u32>,
    bars: FastMap<u32, (ProcIdx, i64, i64)>,
    markers: Vec<MarkerView>,
    buckets: FastMap<(u32, u32, u32), Bucket>,
    per_lane: u64,
    span: i64,
    scenarios: u32,
    summary: Summary,
    lod: LodInfo,
    marker_bytes: u64,
}

impl Page<'_> {
    fn json(&mut self, value: &impl Serialize) -> io::Result<()> {
        let text = serde_json::to_string(value).map_err(io::Error::other)?;
        self.out.write_all(script_safe_json(&text).as_bytes())
    }

    fn scenario(&mut self, s: &crate::follow::Scn, end: Micros) -> io::Result<()> {
        let outcome: BarOutcome = s.outcome().into();
        match outcome {
            BarOutcome::Failed => self.summary.failures += 1,
            BarOutcome::Unfinished => self.summary.unfinished += 1,
            _ => {}
        }
        let start_us = s.start - self.origin;
        let end_us = (end - self.origin).max(start_us);
        if self.named.contains_key(&s.id) {
            self.bars.insert(s.id, (s.file, start_us, end_us));
        }
        if self.scenarios > 0 {
            self.out.write_all(b",")?;
        }
        self.scenarios += 1;
        let error = s.error.borrow();
        self.json(&ScenarioOut {
            id: s.id,
            proc: s.file,
            lane: s.slot,
            feature: &s.feature,
            name: &s.name,
            outcome,
            start_us,
            end_us,
            error: error.as_deref(),
        })
    }

    fn record(&mut self, rec: &Rec) -> io::Result<()> {
        match self.follow.feed(rec) {
            Seen::End(s) => {
                let end = s.end.get().unwrap_or(rec.ts);
                self.scenario(&s, end)?;
            }
            Seen::Action {
                scn,
                mutation,
                resource,
            } => {
                let kind = MarkerKind::of(rec.action.kind());
                let shared = resource.is_some_and(|r| self.census_shared(r));
                let named = scn
                    .as_ref()
                    .and_then(|s| self.named.get_mut(&s.id))
                    .filter(|n| **n < PER_FINDING_SCENARIO);
                let wanted = self.full || (mutation && shared) || named.is_some();
                let within_budget = self.full || self.markers.len() < MARKER_BUDGET;
                let lane = scn.as_ref().map_or(0, |s| s.slot);
                let t_us = rec.ts - self.origin;
                if wanted && within_budget {
                    if let Some(n) = named {
                        *n += 1;
                    }
                    let details = describe(
                        resource.map(|r| self.follow.resource(r)),
                        rec.details().or(rec.name()),
                    );
                    self.marker_bytes += 80 + details.len() as u64;
                    self.markers.push(MarkerView {
                        proc: rec.file,
                        scenario: scn.as_ref().map(|s| s.id as ScenarioIdx),
                        lane,
                        kind,
                        action: rec.action.as_str().to_owned(),
                        t_us,
                        details,
                    });
                    self.lod.detailed += 1;
                } else {
                    if wanted {
                        self.lod.over_budget += 1;
                    }
                    self.aggregate(rec.file, lane, t_us, kind, scn.as_ref().map(|s| s.id));
                }
            }
            Seen::Start(_) | Seen::Other(_) => {}
        }
        Ok(())
    }

    fn census_shared(&self, r: crate::follow::ResId) -> bool {
        // Both passes read the same records in the same order, so resource
        // ids agree; the census knows whether another process touched it
        // later in the run too.
        self.census.shared_known(r).unwrap_or(false)
    }

    fn aggregate(&mut self, proc: u32, lane: u32, t_us: i64, kind: MarkerKind, scn: Option<u32>) {
        self.lod.aggregated += 1;
        *self
            .lod
            .aggregated_by_kind
            .entry(kind.as_str())
            .or_default() += 1;
        let idx = (t_us.clamp(0, self.span) as u128 * u128::from(self.per_lane)
            / (self.span as u128 + 1)) as u32;
        let scn = scn.unwrap_or(u32::MAX);
        let b = self.buckets.entry((proc, lane, idx)).or_insert(Bucket {
            t0: t_us,
            t1: t_us,
            counts: [0; 9],
            scenario: scn,
            last_scenario: scn,
            scenarios: u32::from(scn != u32::MAX),
        });
        b.t0 = b.t0.min(t_us);
        b.t1 = b.t1.max(t_us);
        b.counts[agg_index(kind)] += 1;
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
}

/// Writes the HTML page of an analyzed run by reading its files again:
/// `report` is the first pass's result and `census` its tap.
pub fn write_page(
    report: &Report,
    census: Census,
    legacy_tz: LegacyTz,
    detail: Detail,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (Some(run), Some(census)) = (census.run, census.follow) else {
        return Err(io::Error::other("nothing to draw: no run was read"));
    };
    let origin = report.start.map_or(0, |t| t.timestamp_micros());
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
            lanes: census.slots(i as u32),
        })
        .collect();
    let lanes: u64 = processes
        .iter()
        .map(|p| u64::from(p.lanes))
        .sum::<u64>()
        .max(1);
    let full = match detail {
        Detail::Full => true,
        Detail::Summary => false,
        Detail::Auto => report.records <= FULL_DETAIL_RECORDS,
    };
    let mut named: FastMap<u32, u32> = FastMap::default();
    for f in &report.findings {
        for r in [&f.victim, &f.polluter].into_iter().flatten() {
            named.insert(r.id as u32, 0);
        }
    }

    let (head, rest) = split_once(TEMPLATE, "/*@STYLE@*/")?;
    let (middle, rest) = split_once(rest, "@DATA@")?;
    let (before_script, tail) = split_once(rest, "/*@SCRIPT@*/")?;
    out.write_all(head.as_bytes())?;
    out.write_all(STYLE.as_bytes())?;
    out.write_all(middle.as_bytes())?;

    let mut page = Page {
        out: Counting {
            inner: out,
            bytes: 0,
        },
        origin,
        full,
        follow: Follower::new(&run.files),
        census,
        named,
        bars: FastMap::default(),
        markers: Vec::new(),
        buckets: FastMap::default(),
        per_lane: (BUCKETS_TOTAL / lanes).clamp(64, 2048),
        span,
        scenarios: 0,
        summary: Summary {
            processes: processes.len() as u32,
            records: report.records,
            ..Summary::default()
        },
        lod: LodInfo {
            detail: if full { "full" } else { "summary" },
            records: report.records,
            marker_budget: MARKER_BUDGET,
            kinds: AGG_KINDS.iter().map(|k| k.as_str()).collect(),
            ..LodInfo::default()
        },
        marker_bytes: 0,
    };
    page.out.write_all(b"{\"version\":2,\"run_id\":")?;
    page.json(&report.run_id)?;
    page.out.write_all(b",\"origin\":")?;
    let origin_text = report
        .start
        .map(state_tracer::format::wall_time_string)
        .unwrap_or_default();
    page.json(&origin_text)?;
    write!(page.out, ",\"span_us\":{span},\"processes\":")?;
    page.json(&processes)?;
    page.out.write_all(b",\"scenarios\":[")?;

    let read_opts = ReadOptions {
        full: false,
        legacy_tz,
        progress: None,
    };
    let mut merger = Merger::new(&run.files, &read_opts);
    let mut result = Ok(());
    while let Some(rec) = merger.next_ref() {
        result = page.record(rec);
        if result.is_err() {
            break;
        }
    }
    drop(merger.finish());
    result?;
    // Scenarios that never ended run to their process's last record.
    let open: Vec<_> = page.follow.open().to_vec();
    for s in open {
        let last = page
            .follow
            .last(s.file)
            .unwrap_or(s.last.get())
            .max(s.last.get());
        page.scenario(&s, last)?;
    }
    page.summary.scenarios = page.scenarios;

    let mut markers = std::mem::take(&mut page.markers);
    markers.sort_by_key(|m| m.t_us); // stable: merge order within a µs
    page.out.write_all(b"],\"markers\":")?;
    page.json(&markers)?;
    drop(markers);

    page.out.write_all(b",\"aggregates\":[")?;
    let mut buckets: Vec<((u32, u32, u32), Bucket)> = page.buckets.drain().collect();
    buckets.sort_unstable_by_key(|(k, _)| *k);
    for (n, ((proc, lane, _), b)) in buckets.iter().enumerate() {
        if n > 0 {
            page.out.write_all(b",")?;
        }
        let scn = if b.scenario == u32::MAX {
            -1
        } else {
            i64::from(b.scenario)
        };
        write!(
            page.out,
            "[{proc},{lane},{},{},{scn},{}",
            b.t0, b.t1, b.scenarios
        )?;
        for c in b.counts {
            write!(page.out, ",{c}")?;
        }
        page.out.write_all(b"]")?;
    }
    drop(buckets);

    let mut findings = Vec::with_capacity(report.findings.len());
    for f in &report.findings {
        *page
            .summary
            .findings_by_rule
            .entry(f.rule.as_str().to_owned())
            .or_default() += 1;
        let bar = |r: &crate::model::ScenarioRef| {
            let &(proc, start, end) = page.bars.get(&(r.id as u32))?;
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
    page.out.write_all(b"],\"findings\":")?;
    page.json(&findings)?;
    page.out.write_all(b",\"summary\":")?;
    let summary = std::mem::take(&mut page.summary);
    page.json(&summary)?;
    let avg = page
        .marker_bytes
        .checked_div(page.lod.detailed)
        .unwrap_or(120);
    page.lod.full_estimate_bytes = page.out.bytes
        + (head.len() + STYLE.len() + SCRIPT.len()) as u64
        + page.lod.aggregated * avg;
    page.out.write_all(b",\"lod\":")?;
    let lod = std::mem::take(&mut page.lod);
    page.json(&lod)?;
    page.out.write_all(b"}")?;
    let out = page.out.inner;
    out.write_all(before_script.as_bytes())?;
    out.write_all(SCRIPT.as_bytes())?;
    out.write_all(tail.as_bytes())?;
    out.flush()
}
