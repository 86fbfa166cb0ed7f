//! The analysis result types: what `report` prints and what the HTML
//! timeline and Chrome export are built from.
//!
//! These are the analyzer's stable contract. [`Report`] serialises to the JSON
//! documented in issue 3 (exact keys; extra keys are additions). [`Timeline`]
//! is the opt-in, in-memory view of every scenario and state action of a run,
//! which the streaming report itself never keeps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// How serious a finding is. Ordered: `Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a scenario ended, as seen by the analyzer (`UNFINISHED` when its
/// `SCENARIO_END` never came).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ScenarioOutcome {
    Passed,
    Failed,
    Skipped,
    Unfinished,
}

impl ScenarioOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioOutcome::Passed => "PASSED",
            ScenarioOutcome::Failed => "FAILED",
            ScenarioOutcome::Skipped => "SKIPPED",
            ScenarioOutcome::Unfinished => "UNFINISHED",
        }
    }
}

impl From<state_tracer_format::Outcome> for ScenarioOutcome {
    fn from(o: state_tracer_format::Outcome) -> Self {
        use state_tracer_format::Outcome;
        match o {
            Outcome::Passed => ScenarioOutcome::Passed,
            Outcome::Failed => ScenarioOutcome::Failed,
            Outcome::Skipped => ScenarioOutcome::Skipped,
        }
    }
}

impl fmt::Display for ScenarioOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stable identifiers of the rules (`--allow`/`--deny` take these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    ConcurrentMutation,
    LeakedState,
    LeftoverData,
    DestroyedBefore,
    ConstraintViolation,
    SharedSchema,
    UnfinishedScenario,
    CrashedProcess,
    ClockAnomaly,
    MixedRuns,
}

impl RuleId {
    /// Every rule, in documentation order.
    pub const ALL: &'static [RuleId] = &[
        RuleId::ConcurrentMutation,
        RuleId::LeakedState,
        RuleId::LeftoverData,
        RuleId::DestroyedBefore,
        RuleId::ConstraintViolation,
        RuleId::SharedSchema,
        RuleId::UnfinishedScenario,
        RuleId::CrashedProcess,
        RuleId::ClockAnomaly,
        RuleId::MixedRuns,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::ConcurrentMutation => "concurrent-mutation",
            RuleId::LeakedState => "leaked-state",
            RuleId::LeftoverData => "leftover-data",
            RuleId::DestroyedBefore => "destroyed-before",
            RuleId::ConstraintViolation => "constraint-violation",
            RuleId::SharedSchema => "shared-schema",
            RuleId::UnfinishedScenario => "unfinished-scenario",
            RuleId::CrashedProcess => "crashed-process",
            RuleId::ClockAnomaly => "clock-anomaly",
            RuleId::MixedRuns => "mixed-runs",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuleId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown rule {s:?}; known rules: {}", known.join(", "))
            })
    }
}

/// A problem with the input (a file or one of its lines). Never fatal:
/// the rest is still analyzed; `--strict` turns warnings into exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub file: String,
    /// 1-based line number; 0 when the problem concerns the whole file.
    pub line: u64,
    pub message: String,
}

impl Warning {
    /// Whether a whole file (or folder) was not read: whatever it held,
    /// failures included, is missing from the analysis.
    pub fn drops_file(&self) -> bool {
        self.message.contains("file skipped")
            || self.message.starts_with("cannot read")
            || self.message.starts_with("cannot list folder")
    }
}

/// The whole result of `report`: serialises to the stable JSON contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The analyzed run.
    pub run_id: String,
    /// Other runs found in the inputs but not analyzed (see `--run`).
    #[serde(default)]
    pub other_runs: Vec<String>,
    /// Earliest and latest record time of the run.
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Records analyzed (events and footers).
    pub records: u64,
    pub processes: Vec<ProcessSummary>,
    /// Ranked: likely causes first, then by strength (confidence), then
    /// errors, then by time. Written with each one's `number` (its place,
    /// from 1: what the reports show and `confirm --finding N` takes).
    #[serde(serialize_with = "numbered")]
    pub findings: Vec<Finding>,
    /// Overlapping scenarios aggregated by process pair (processes that
    /// share a label count as one), the most overlapping first pairs up to
    /// a bound (or every scenario pair with `--all-overlaps`).
    pub overlaps: Vec<Overlap>,
    /// Process pairs that overlapped: `overlaps` lists at most
    /// [`crate::engine::overlap::LISTED`] of them.
    #[serde(default)]
    pub overlap_pairs: u64,
    pub warnings: Vec<Warning>,
    /// Overlaps on shared state that harmed no failed scenario, grouped by
    /// what a fix acts on: rule, severity, resource and per side the
    /// feature (and the process label when several processes share it),
    /// never by process, so the groups do not grow with the processes;
    /// most pairs first. Each group keeps one example pair (and `findings`
    /// holds a few example findings of it); `--hazard-pairs` streams every
    /// pair to a file.
    #[serde(default)]
    pub hazards: Vec<Hazard>,
    /// The suite-level verdict, when it is the truth: most scenarios empty
    /// whole tables while other scenarios run. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<SuiteVerdict>,
}

/// "This suite is not safe to run in parallel as written": most scenarios
/// that use tables empty whole ones (`DB_CLEANUP`, `TRUNCATE`, `DROP`) while
/// other scenarios are running, so per-failure blame is only part of the
/// story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteVerdict {
    /// One sentence, with the evidence.
    pub summary: String,
    /// Scenarios that used tables.
    pub scenarios: u64,
    /// Of those, how many emptied whole tables while others ran.
    pub wipers: u64,
    /// The tables they emptied (a few).
    pub tables: Vec<String>,
    pub fix: String,
}

/// One group of hazards: the same polluter and victim (feature, shared
/// label), resource and rule, counted over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hazard {
    pub rule: RuleId,
    /// `warning`, or `error` when `--deny` asked for it or a change proved
    /// harm (removed rows a passing victim had written).
    pub severity: Severity,
    pub polluter: HazardSide,
    pub victim: HazardSide,
    pub resource: String,
    /// Polluter/victim scenario pairs in the group.
    pub pairs: u64,
    /// Occurrences summed over those pairs (see [`Finding::occurrences`]).
    pub occurrences: u64,
    /// First and last polluting action of the group.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The finding rests on an unknown database identity.
    pub identity_unknown: bool,
    /// The group's first pair.
    pub example_polluter: ScenarioRef,
    pub example_victim: ScenarioRef,
    /// What to change so the group goes away.
    pub fix: String,
}

/// A side of a hazard group: a feature, and the processes it ran in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HazardSide {
    /// The process, when every pair of the group came from one (`null`:
    /// several).
    pub pid: Option<u32>,
    /// The processes' label, when they all have it (`null`: several).
    pub label: Option<String>,
    /// The feature, or with `features` > 1 the first of them.
    pub feature: String,
    /// Distinct features on this side (the victims of a group may span
    /// several; the polluter side has one).
    #[serde(default = "one")]
    pub features: u64,
}

fn one() -> u64 {
    1
}

impl HazardSide {
    /// The side with its features named in one phrase, for fix texts.
    pub fn named(&self) -> HazardSide {
        let mut s = self.clone();
        if self.features > 1 {
            s.feature = format!(
                "{} (and {} other feature{})",
                self.feature,
                self.features - 1,
                if self.features == 2 { "" } else { "s" }
            );
        }
        s
    }
}

impl Report {
    /// Highest severity among the findings, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        let hazards = self.hazards.iter().map(|h| h.severity);
        self.findings
            .iter()
            .map(|f| f.severity)
            .chain(hazards)
            .max()
    }
}

/// One traced process (one trace file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSummary {
    pub pid: u32,
    pub label: String,
    /// Scenarios started.
    pub scenarios: u64,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Started but never ended.
    pub unfinished: u64,
    /// True when the process did not exit cleanly: no footer (v1) or an
    /// unfinished scenario.
    pub crashed: bool,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub file: String,
    /// `v1` or `legacy`.
    pub format: String,
    /// Scenarios in the order this process ran them.
    pub order: Vec<OrderEntry>,
}

/// One entry of a process's execution order. The names are the reader's
/// shared copies: a long run has one entry per scenario, and copying them
/// all into fresh strings cost the report ~2 % of its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEntry {
    pub feature: Arc<str>,
    pub scenario: Arc<str>,
    pub outcome: ScenarioOutcome,
}

/// A scenario named in a finding or overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRef {
    pub pid: u32,
    pub label: String,
    pub feature: String,
    pub scenario: String,
    pub outcome: ScenarioOutcome,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// Index into [`Timeline::scenarios`] (scenario ordinal in merge order).
    pub id: usize,
}

/// A finding of one rule: who (polluter) did what (resource, at) to whom (victim).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    /// The victim failed: this is probably why.
    pub likely_cause: bool,
    pub victim: Option<ScenarioRef>,
    pub polluter: Option<ScenarioRef>,
    /// `polluter`, `state-setter` (left data a passing victim used) or null.
    pub role: Option<String>,
    /// The state involved, e.g. `shared:postgres://db:5432/app/public/users`.
    pub resource: String,
    /// When the polluting action (or the problem) happened.
    pub at: DateTime<Utc>,
    /// The polluting action, e.g. `DB_CLEANUP`.
    pub action: Option<String>,
    pub explanation: String,
    /// How many times the same pair hit this rule (first shown): for
    /// `concurrent-mutation`, each polluting change counted once per later
    /// use of the state by the victim.
    pub occurrences: u64,
    /// How to reproduce a polluter/victim pair in one process.
    pub reproduce: Option<Reproduction>,
    /// How strongly the trace ties this polluter to this victim (pollution
    /// rules only; see "Ranking and confidence" in `docs/rules.md`).
    #[serde(default)]
    pub confidence: Option<Confidence>,
    /// One line saying why that confidence (e.g. "DB_CLEANUP inside the
    /// victim's window: it used the table before and after").
    #[serde(default)]
    pub why: Option<String>,
    /// What the causal narrowing found: for a likely cause, the evidence
    /// that singles it out (e.g. "first DB_CLEANUP of … after the victim's
    /// last write …; removed 3 rows"); for another candidate, why it is not
    /// the cause ("found nothing left to destroy", "removed 0 rows", an
    /// unknown database identity).
    #[serde(default)]
    pub evidence: Option<String>,
    /// What the cross-run history says about this likely cause
    /// (`report --history`; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<CauseHistory>,
    /// What targeted reruns proved about this likely cause
    /// (`run --confirm`; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The reruns behind `verdict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<CauseConfirmation>,
}

/// The reruns `run --confirm` made for one likely cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CauseConfirmation {
    /// Attempts of the pair, and in how many the victim failed with this
    /// polluter named as its cause.
    pub attempts: usize,
    pub reproduced: usize,
    /// Runs of the victim alone, and how many of them passed.
    pub alone: usize,
    pub passed_alone: usize,
    /// One sentence, as `confirm` prints it.
    pub summary: String,
    /// Where the reruns' traces are (a folder per run).
    pub folder: std::path::PathBuf,
}

impl CauseConfirmation {
    /// One line: "confirmed: reproduced in 1 of 3 attempts; …".
    pub fn sentence(&self, verdict: Verdict) -> String {
        let alone = format!(
            "the victim passed alone {} of {} time(s)",
            self.passed_alone, self.alone
        );
        match verdict {
            Verdict::Confirmed => format!(
                "confirmed: reproduced in {} of {} attempt(s); {alone} (traces in {})",
                self.reproduced,
                self.attempts,
                self.folder.display()
            ),
            Verdict::NotReproduced => format!(
                "not reproduced in {} attempt(s), {alone}: still a suspicion",
                self.attempts
            ),
            Verdict::FailsAlone => format!("fails alone: {}", self.summary),
            Verdict::Inconclusive => format!("inconclusive: {}", self.summary),
        }
    }
}

/// The record of one likely cause in the cross-run history: the victim's
/// other runs, its failures, and in how many of those this same polluter
/// was the likely cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CauseHistory {
    /// Runs of the victim scenario stored in the history (this run excluded).
    pub victim_runs: u64,
    /// Of those, the ones that failed.
    pub victim_failures: u64,
    /// Of those failures, the ones whose likely cause was this same polluter.
    pub same_cause: u64,
}

impl CauseHistory {
    /// E.g. "also the cause in 5 of this victim's 6 earlier failures (6 of 40 runs failed)".
    pub fn sentence(&self) -> String {
        match (self.victim_runs, self.victim_failures) {
            (0, _) => "no earlier runs of this victim in the history".to_owned(),
            (runs, 0) => format!(
                "first failure of this victim in the history (it passed {})",
                crate::count(runs, "earlier run", "earlier runs")
            ),
            (runs, failures) => format!(
                "also the cause in {} of this victim's {} ({failures} of {} failed)",
                self.same_cause,
                crate::count(failures, "earlier failure", "earlier failures"),
                crate::count(runs, "earlier run", "earlier runs"),
            ),
        }
    }
}

/// How strongly a pollution finding explains its victim. Ordered: `Low < Medium < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reproduction hint: run these scenarios, in this order, in one process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reproduction {
    /// `feature: scenario`, polluter first.
    pub scenarios: Vec<String>,
    /// Command shape, e.g. the victim process's argv with a name filter.
    pub command: String,
}

/// Overlapping scenarios of one process pair (`a.pid <= b.pid`; equal for
/// overlaps inside one process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    pub a: ProcessRef,
    pub b: ProcessRef,
    pub count: u64,
    pub example: OverlapExample,
}

/// A process named by an overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: u32,
    pub label: String,
}

/// The first (or, with `--all-overlaps`, the only) overlapping pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverlapExample {
    pub a: ScenarioRef,
    pub b: ScenarioRef,
    /// When the second of the two started.
    pub at: DateTime<Utc>,
}

/// Everything the HTML timeline and Chrome export draw. Built only when
/// asked for (`AnalyzeOptions::timeline`): it keeps every scenario and every
/// state action in memory (fine for ~100k records), unlike the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Timeline {
    pub run_id: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub processes: Vec<TimelineProcess>,
    /// Indexed by `ScenarioSpan::id` (== position).
    pub scenarios: Vec<ScenarioSpan>,
    /// State actions in merge (time) order.
    pub actions: Vec<ActionMark>,
}

/// A process lane of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineProcess {
    pub pid: u32,
    pub label: String,
    pub crashed: bool,
}

/// One scenario as an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSpan {
    pub id: usize,
    pub pid: u32,
    pub label: String,
    pub feature: String,
    pub name: String,
    pub outcome: ScenarioOutcome,
    pub start: DateTime<Utc>,
    /// `SCENARIO_END`, or None when it never ended.
    pub end: Option<DateTime<Utc>>,
    /// Last record attributed to it, after-hooks included.
    pub last: DateTime<Utc>,
    /// Thread of the `SCENARIO_START` record (lanes inside a process).
    pub tid: u64,
    pub error: Option<String>,
}

/// One state action (DB, schema, secret, config, HTTP, custom) on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionMark {
    pub ts: DateTime<Utc>,
    pub pid: u32,
    /// The scenario it is attributed to (after-hooks included).
    pub scenario: Option<usize>,
    pub action: String,
    /// `cleanup`, `read`, `write`, `transaction`, `schema`, `secret`,
    /// `config`, `http`, `custom`.
    pub kind: String,
    /// Resolved resource (schema tracking applied), if any.
    pub resource: Option<String>,
    pub details: Option<String>,
    /// Whether it changes state visible to other scenarios.
    pub mutation: bool,
}

/// A report plus, when requested, the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub report: Report,
    pub timeline: Option<Timeline>,
}

/// The answer of `confirm` (reruns) about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Reproduced at least once, and the victim passed alone every time.
    Confirmed,
    /// Never reproduced in the attempts made.
    NotReproduced,
    /// The victim failed on its own: flaky alone, or its own fault.
    FailsAlone,
    /// Could not tell (no command, victim never ran, timeouts, Ctrl-C).
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::NotReproduced => "not-reproduced",
            Verdict::FailsAlone => "fails-alone",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// `findings` as written: each with `"number": N` first, its place from 1,
/// the number the human reports show and `confirm --finding N` takes.
/// Reading a report back ignores it (the place is the number).
fn numbered<S: serde::Serializer>(findings: &[Finding], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Numbered<'a> {
        number: usize,
        #[serde(flatten)]
        finding: &'a Finding,
    }
    s.collect_seq(findings.iter().enumerate().map(|(i, finding)| Numbered {
        number: i + 1,
        finding,
    }))
}
