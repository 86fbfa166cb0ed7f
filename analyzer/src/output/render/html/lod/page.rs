//! The page's bytes: the template around the data, and the data's compact
//! encoding (interned strings, scenario rows, marker columns), written as
//! the run streams and ended by [`HtmlStream::finish`].

use std::io::{self, Write};
use std::sync::Arc;

use serde::Serialize;

use super::super::timeline::{
    finding_view, rank_findings, BarOutcome, MarkerKind, ProcIdx, ProcessView, ScenarioIdx,
};
use super::super::{script_safe_json, split_once, SCRIPT, STYLE, TEMPLATE};
use super::aggregate::{agg_index, AGG_KINDS};
use super::{HtmlStream, Mark, MARKER_BUDGET, PAGE_VERSION};
use crate::input::record::{to_time, FastMap, Micros};
use crate::model::Report;

/// The outcomes in the order the page's scenario rows number them.
pub(super) const OUTCOMES: [BarOutcome; 4] = [
    BarOutcome::Passed,
    BarOutcome::Failed,
    BarOutcome::Skipped,
    BarOutcome::Unfinished,
];

/// Strings a page repeats (features, action names, marker details), each
/// written once in the page's `strings` and referred to by index: one
/// resource label on 100,000 markers was most of a shared run's page.
#[derive(Default)]
pub(super) struct Strings {
    pub(super) index: FastMap<Arc<str>, u32>,
    pub(super) list: Vec<Arc<str>>,
    /// Bytes of the strings listed so far, for the page's size estimate.
    pub(super) bytes: u64,
}

impl Strings {
    pub(super) fn id(&mut self, s: &str) -> u32 {
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
pub(super) struct Drawn {
    pub(super) t_us: i64,
    pub(super) proc: ProcIdx,
    pub(super) scenario: Option<ScenarioIdx>,
    pub(super) lane: u32,
    pub(super) kind: MarkerKind,
    pub(super) action: u32,
    pub(super) details: u32,
}

/// What the page says about its level of detail.
#[derive(Serialize, Default)]
pub(super) struct LodInfo {
    /// `full` or `summary`.
    pub(super) detail: &'static str,
    pub(super) records: u64,
    /// State actions drawn one by one, and aggregated.
    pub(super) detailed: u64,
    pub(super) aggregated: u64,
    pub(super) aggregated_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Actions left aggregated only because the marker budget was spent.
    pub(super) over_budget: u64,
    /// Rough size of the page with `--detail full`, in bytes.
    pub(super) full_estimate_bytes: u64,
    pub(super) marker_budget: usize,
    pub(super) kinds: Vec<&'static str>,
}

/// Counts what goes through, for the page's size estimate.
pub(super) struct Counting<'w> {
    pub(super) inner: &'w mut dyn Write,
    pub(super) bytes: u64,
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

impl HtmlStream<'_> {
    pub(super) fn json(&mut self, value: &impl Serialize) -> io::Result<()> {
        let text = serde_json::to_string(value).map_err(io::Error::other)?;
        self.out.write_all(script_safe_json(&text).as_bytes())
    }

    pub(super) fn start(&mut self, origin: Micros) -> io::Result<()> {
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

        self.write_aggregates()?;

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
