//! The timeline view model: what the HTML report draws and what the Chrome
//! export writes, derived from the analyzer's [`model::Timeline`] and
//! [`model::Report`].
//!
//! It exists so that the two visual outputs agree (same lanes, same times,
//! same findings) and so that the front end receives data that is already
//! laid out: sub-lanes are assigned here, in Rust, where it is cheap and
//! testable, and the page only has to draw. Times are microseconds relative
//! to the run's first record, on the wall clock shared by every process.
//!
//! The JSON shape of [`TimelineView`] is documented in `render/html.rs`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{self, ScenarioOutcome, Severity};

/// Index of a process in [`TimelineView::processes`].
pub type ProcIdx = u32;
/// Index of a scenario in [`TimelineView::scenarios`] (same as the
/// analyzer's scenario id).
pub type ScenarioIdx = u32;

/// Everything the timeline shows. Serialised as the page's view model.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimelineView {
    /// Format version of this view model, bumped on incompatible changes.
    pub version: u32,
    pub run_id: String,
    /// Wall time of `t_us == 0`, RFC 3339 UTC.
    pub origin: String,
    /// Length of the run in µs (last record − first record).
    pub span_us: i64,
    pub summary: Summary,
    pub processes: Vec<ProcessView>,
    pub scenarios: Vec<ScenarioView>,
    /// Sorted by time.
    pub markers: Vec<MarkerView>,
    /// Likely causes first, then errors, then by time.
    pub findings: Vec<FindingView>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub processes: u32,
    pub scenarios: u32,
    pub failures: u32,
    pub unfinished: u32,
    /// Records the analyzer read for this run.
    pub records: u64,
    /// Finding count per rule id, sorted by rule id.
    pub findings_by_rule: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessView {
    /// The OS pid as traced.
    pub pid: u32,
    pub label: String,
    /// No footer, or a scenario that never ended.
    pub crashed: bool,
    /// Number of sub-lanes: the most scenarios this process ran at once (≥ 1).
    pub lanes: u32,
}

/// How a scenario bar is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BarOutcome {
    Passed,
    Failed,
    Skipped,
    /// START without END: the bar runs to its last record.
    Unfinished,
}

impl From<ScenarioOutcome> for BarOutcome {
    fn from(o: ScenarioOutcome) -> Self {
        match o {
            ScenarioOutcome::Passed => BarOutcome::Passed,
            ScenarioOutcome::Failed => BarOutcome::Failed,
            ScenarioOutcome::Skipped => BarOutcome::Skipped,
            ScenarioOutcome::Unfinished => BarOutcome::Unfinished,
        }
    }
}

impl BarOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            BarOutcome::Passed => "passed",
            BarOutcome::Failed => "failed",
            BarOutcome::Skipped => "skipped",
            BarOutcome::Unfinished => "unfinished",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioView {
    /// Index of the process in `processes`.
    pub proc: ProcIdx,
    /// Sub-lane inside the process; overlapping scenarios never share one.
    pub lane: u32,
    pub feature: String,
    pub name: String,
    pub outcome: BarOutcome,
    pub start_us: i64,
    pub end_us: i64,
    /// Failure message, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The marker families the page knows how to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkerKind {
    Cleanup,
    Write,
    Schema,
    Secret,
    Config,
    Http,
    Read,
    Tx,
    Custom,
}

impl MarkerKind {
    /// From the analyzer's action kind name; unknown kinds draw as custom.
    pub fn from_name(kind: &str) -> MarkerKind {
        match kind {
            "cleanup" => MarkerKind::Cleanup,
            "write" => MarkerKind::Write,
            "schema" => MarkerKind::Schema,
            "secret" => MarkerKind::Secret,
            "config" => MarkerKind::Config,
            "http" => MarkerKind::Http,
            "read" => MarkerKind::Read,
            "transaction" | "tx" => MarkerKind::Tx,
            _ => MarkerKind::Custom,
        }
    }

    /// The marker family of an action kind (lifecycle records draw as custom).
    pub fn of(kind: state_tracer_format::ActionKind) -> MarkerKind {
        use state_tracer_format::ActionKind as K;
        match kind {
            K::Cleanup => MarkerKind::Cleanup,
            K::Write => MarkerKind::Write,
            K::Schema => MarkerKind::Schema,
            K::Secret => MarkerKind::Secret,
            K::Config => MarkerKind::Config,
            K::Http => MarkerKind::Http,
            K::Read => MarkerKind::Read,
            K::Transaction => MarkerKind::Tx,
            K::Custom | K::Lifecycle => MarkerKind::Custom,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MarkerKind::Cleanup => "cleanup",
            MarkerKind::Write => "write",
            MarkerKind::Schema => "schema",
            MarkerKind::Secret => "secret",
            MarkerKind::Config => "config",
            MarkerKind::Http => "http",
            MarkerKind::Read => "read",
            MarkerKind::Tx => "tx",
            MarkerKind::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MarkerView {
    pub proc: ProcIdx,
    /// The scenario the action belongs to (after-hooks included), if any.
    pub scenario: Option<ScenarioIdx>,
    /// Sub-lane it is drawn on: its scenario's lane, else 0.
    pub lane: u32,
    pub kind: MarkerKind,
    /// The action name, e.g. `DB_CLEANUP`.
    pub action: String,
    pub t_us: i64,
    /// Resource and details, one line for the tooltip.
    pub details: String,
}

/// One end of a finding, resolved to a scenario bar.
#[derive(Debug, Clone, Serialize)]
pub struct FindingEnd {
    pub proc: Option<ProcIdx>,
    pub pid: u32,
    pub scenario: Option<ScenarioIdx>,
    pub feature: String,
    pub name: String,
    /// Where the arrow starts (polluter: the mutation) or ends (victim).
    pub t_us: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub rule: String,
    pub severity: String,
    pub likely_cause: bool,
    pub polluter: Option<FindingEnd>,
    pub victim: Option<FindingEnd>,
    pub resource: String,
    pub explanation: String,
    pub at_us: i64,
    /// The polluting action, e.g. `DB_CLEANUP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// How many times the same pair hit this rule (the first is shown).
    pub occurrences: u64,
    /// How to reproduce: the scenarios in order, then the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    /// What the causal narrowing found (see `Finding::evidence`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The cross-run record of this likely cause (`report --history`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<String>,
    /// What reruns proved (`run --confirm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

/// Longest text kept per marker: a 100 MB statement helps nobody in a tooltip.
const DETAILS_MAX: usize = 300;

impl TimelineView {
    /// Builds the view of an analyzed run. `timeline` is the analyzer's
    /// in-memory timeline (scenarios and actions), `report` gives findings,
    /// process summaries and counts.
    pub fn build(report: &model::Report, timeline: &model::Timeline) -> TimelineView {
        let origin = [
            timeline.start,
            report.start,
            timeline.scenarios.iter().map(|s| s.start).min(),
            timeline.actions.iter().map(|a| a.ts).min(),
        ]
        .into_iter()
        .flatten()
        .min();
        let origin_abs = origin.map_or(0, |t| t.timestamp_micros());
        let rel = |t: DateTime<Utc>| t.timestamp_micros() - origin_abs;

        // Processes: the timeline's list, plus any the report knows of.
        let mut processes: Vec<ProcessView> = Vec::new();
        let mut by_pid: HashMap<u32, ProcIdx> = HashMap::new();
        let mut add_proc =
            |processes: &mut Vec<ProcessView>, pid: u32, label: &str, crashed: bool| {
                let idx = *by_pid.entry(pid).or_insert_with(|| {
                    processes.push(ProcessView {
                        pid,
                        label: label.to_owned(),
                        crashed: false,
                        lanes: 1,
                    });
                    (processes.len() - 1) as ProcIdx
                });
                processes[idx as usize].crashed |= crashed;
                idx
            };
        for p in &timeline.processes {
            add_proc(&mut processes, p.pid, &p.label, p.crashed);
        }
        for p in &report.processes {
            add_proc(&mut processes, p.pid, &p.label, p.crashed);
        }
        let proc_last: HashMap<u32, i64> = report
            .processes
            .iter()
            .filter_map(|p| Some((p.pid, rel(p.last?))))
            .collect();

        let mut scenarios: Vec<ScenarioView> = Vec::with_capacity(timeline.scenarios.len());
        // Busy-until per scenario: the bar end, or later after-hook records.
        let mut busy_until: Vec<i64> = Vec::with_capacity(timeline.scenarios.len());
        for s in &timeline.scenarios {
            let proc = add_proc(&mut processes, s.pid, &s.label, false);
            let start_us = rel(s.start);
            let last_us = rel(s.last).max(start_us);
            let end_us = match s.end {
                Some(end) => rel(end).max(start_us),
                // Unfinished: up to its last record, or its process's last.
                None => last_us.max(proc_last.get(&s.pid).copied().unwrap_or(last_us)),
            };
            scenarios.push(ScenarioView {
                proc,
                lane: 0,
                feature: s.feature.clone(),
                name: s.name.clone(),
                outcome: s.outcome.into(),
                start_us,
                end_us,
                error: s.error.clone(),
            });
            busy_until.push(end_us.max(last_us));
        }
        assign_lanes(&mut scenarios, &busy_until, &mut processes);

        let mut markers: Vec<MarkerView> = Vec::with_capacity(timeline.actions.len());
        for a in &timeline.actions {
            let scenario = a
                .scenario
                .filter(|&i| i < scenarios.len())
                .map(|i| i as ScenarioIdx);
            let proc = match scenario {
                Some(i) => scenarios[i as usize].proc,
                None => add_proc(&mut processes, a.pid, "", false),
            };
            markers.push(MarkerView {
                proc,
                scenario,
                lane: scenario.map_or(0, |i| scenarios[i as usize].lane),
                kind: MarkerKind::from_name(&a.kind),
                action: a.action.clone(),
                t_us: rel(a.ts),
                details: describe(a.resource.as_deref(), a.details.as_deref()),
            });
        }
        markers.sort_by_key(|m| m.t_us); // stable: merge order within a µs

        let mut summary = Summary {
            processes: processes.len() as u32,
            scenarios: scenarios.len() as u32,
            records: report.records,
            ..Summary::default()
        };
        for s in &scenarios {
            match s.outcome {
                BarOutcome::Failed => summary.failures += 1,
                BarOutcome::Unfinished => summary.unfinished += 1,
                _ => {}
            }
        }

        let mut findings = Vec::with_capacity(report.findings.len());
        for f in &report.findings {
            *summary
                .findings_by_rule
                .entry(f.rule.as_str().to_owned())
                .or_default() += 1;
            let bar = |r: &model::ScenarioRef| {
                let b = scenarios.get(r.id)?;
                Some((r.id as ScenarioIdx, b.proc, b.start_us, b.end_us))
            };
            findings.push(finding_view(f, rel(f.at), bar, |pid| {
                by_pid_lookup(&processes, pid)
            }));
        }
        rank_findings(&mut findings);

        let last_abs = [
            timeline.end,
            report.end,
            scenarios
                .iter()
                .map(|s| s.end_us + origin_abs)
                .max()
                .and_then(from_us),
            markers.last().and_then(|m| from_us(m.t_us + origin_abs)),
        ]
        .into_iter()
        .flatten()
        .max();
        let span_us = last_abs.map_or(0, |t| rel(t).max(0));

        TimelineView {
            version: 1,
            run_id: if timeline.run_id.is_empty() {
                report.run_id.clone()
            } else {
                timeline.run_id.clone()
            },
            origin: state_tracer_format::wall_time_string(from_us(origin_abs).unwrap_or_default()),
            span_us,
            summary,
            processes,
            scenarios,
            markers,
            findings,
        }
    }
}

/// A finding as drawn: each end resolved to its bar by `bar` (index,
/// process, start, end), else to its process by pid.
pub(crate) fn finding_view(
    f: &model::Finding,
    at_us: i64,
    bar: impl Fn(&model::ScenarioRef) -> Option<(ScenarioIdx, ProcIdx, i64, i64)>,
    proc_of_pid: impl Fn(u32) -> Option<ProcIdx>,
) -> FindingView {
    let end = |r: &model::ScenarioRef, polluter: bool| {
        let b = bar(r);
        let t_us = match b {
            // The arrow leaves the polluter at the mutation itself.
            Some(_) if polluter => at_us,
            // It lands on the victim where the victim was affected:
            // the mutation time, or the victim's start if it came later.
            Some((_, _, start, end)) => at_us.clamp(start, end.max(start)),
            None => at_us,
        };
        FindingEnd {
            proc: b.map(|b| b.1).or_else(|| proc_of_pid(r.pid)),
            pid: r.pid,
            scenario: b.map(|b| b.0),
            feature: r.feature.clone(),
            name: r.scenario.clone(),
            t_us,
        }
    };
    FindingView {
        rule: f.rule.as_str().to_owned(),
        severity: f.severity.as_str().to_owned(),
        likely_cause: f.likely_cause,
        polluter: f.polluter.as_ref().map(|r| end(r, true)),
        victim: f.victim.as_ref().map(|r| end(r, false)),
        resource: f.resource.clone(),
        explanation: f.explanation.clone(),
        at_us,
        action: f.action.clone(),
        occurrences: f.occurrences,
        reproduce: f.reproduce.as_ref().map(|r| {
            let order = r.scenarios.join(" → ");
            if r.command.is_empty() {
                order
            } else {
                format!("{order}   $ {}", r.command)
            }
        }),
        evidence: f.evidence.clone(),
        verdict: crate::output::render::table::verdict_text(f),
        history: f.history.map(|h| h.sentence()),
    }
}

/// The report is ranked already; keep its order, but make sure the table's
/// promise (likely causes first, then errors) holds.
pub(crate) fn rank_findings(findings: &mut [FindingView]) {
    findings.sort_by_key(|f| (!f.likely_cause, f.severity != Severity::Error.as_str()));
}

fn from_us(us: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(us)
}

fn by_pid_lookup(processes: &[ProcessView], pid: u32) -> Option<ProcIdx> {
    processes
        .iter()
        .position(|p| p.pid == pid)
        .map(|i| i as ProcIdx)
}

/// Greedy interval partitioning per process: scenarios in start order each
/// take the lowest lane that is free by their start, so overlapping
/// scenarios never share a lane and the lane count is the peak concurrency.
fn assign_lanes(scenarios: &mut [ScenarioView], busy_until: &[i64], processes: &mut [ProcessView]) {
    let mut order: Vec<usize> = (0..scenarios.len()).collect();
    order.sort_by_key(|&i| (scenarios[i].proc, scenarios[i].start_us, i));
    // Per process: busy lanes as a min-heap of (free-at, lane), free lanes as a min-heap.
    let mut busy: BinaryHeap<Reverse<(i64, u32)>> = BinaryHeap::new();
    let mut free: BinaryHeap<Reverse<u32>> = BinaryHeap::new();
    let mut current: Option<ProcIdx> = None;
    let mut allocated = 0u32;
    for i in order {
        let (proc, start) = (scenarios[i].proc, scenarios[i].start_us);
        if current != Some(proc) {
            current = Some(proc);
            busy.clear();
            free.clear();
            allocated = 0;
        }
        // A lane whose scenario ended at or before this start is free again.
        while let Some(&Reverse((until, lane))) = busy.peek() {
            if until > start {
                break;
            }
            busy.pop();
            free.push(Reverse(lane));
        }
        let lane = match free.pop() {
            Some(Reverse(lane)) => lane,
            None => {
                allocated += 1;
                allocated - 1
            }
        };
        scenarios[i].lane = lane;
        busy.push(Reverse((busy_until[i], lane)));
        let p = &mut processes[proc as usize];
        p.lanes = p.lanes.max(allocated);
    }
}

/// One line describing an action for the tooltip.
pub(crate) fn describe(resource: Option<&str>, details: Option<&str>) -> String {
    let mut line = match (resource, details) {
        (Some(r), Some(d)) => format!("{r} · {d}"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => String::new(),
    };
    if line.len() > DETAILS_MAX {
        let cut = (0..=DETAILS_MAX)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}
