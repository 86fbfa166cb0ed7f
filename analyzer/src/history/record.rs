//! One analyzed run as the rows the history stores: the run (ID, times,
//! revision, labels), its processes, its scenario runs and its findings.
//!
//! Pure conversion from the report model, so what is stored is exactly what
//! `report` shows; revision and labels come from flags or CI variables.

use std::collections::BTreeMap;

use crate::model::{Analysis, Finding, ScenarioOutcome, ScenarioRef};

/// CI variables that name the commit, first present wins.
pub const REV_VARS: &[&str] = &[
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
    "BUILDKITE_COMMIT",
    "CIRCLE_SHA1",
    "GIT_COMMIT",
];
/// CI variables that name the branch, first present wins.
pub const BRANCH_VARS: &[&str] = &[
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",
    "BUILDKITE_BRANCH",
    "CIRCLE_BRANCH",
    "GIT_BRANCH",
];
/// CI variables kept as labels (`ci.<name>`), when present.
pub const LABEL_VARS: &[(&str, &str)] = &[
    ("GITHUB_WORKFLOW", "ci.workflow"),
    ("GITHUB_JOB", "ci.job"),
    ("GITHUB_RUN_ID", "ci.run"),
    ("CI_JOB_NAME", "ci.job"),
    ("CI_PIPELINE_ID", "ci.run"),
    ("BUILDKITE_BUILD_NUMBER", "ci.run"),
];

/// What the trace files do not say about a run: who ran it, on what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunMeta {
    pub rev: Option<String>,
    pub branch: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl RunMeta {
    /// Flags first, then the CI variables of `env` (use `std::env::var`).
    pub fn from_flags_and_env(
        rev: Option<String>,
        labels: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> RunMeta {
        let first = |vars: &[&str]| vars.iter().find_map(|v| env(v).filter(|s| !s.is_empty()));
        let mut meta = RunMeta {
            rev: rev.filter(|r| !r.is_empty()).or_else(|| first(REV_VARS)),
            branch: first(BRANCH_VARS),
            labels: BTreeMap::new(),
        };
        for (var, key) in LABEL_VARS {
            if let Some(v) = env(var).filter(|s| !s.is_empty()) {
                meta.labels.entry((*key).to_owned()).or_insert(v);
            }
        }
        for (k, v) in labels {
            meta.labels.insert(k.clone(), v.clone());
        }
        meta
    }

    /// From the flags and this process's environment.
    pub fn from_flags(rev: Option<String>, labels: &[(String, String)]) -> RunMeta {
        RunMeta::from_flags_and_env(rev, labels, |v| std::env::var(v).ok())
    }
}

/// Parses `KEY=VALUE` (for `--label`).
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// A run ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The trace run ID: the key that makes adding idempotent.
    pub run_key: String,
    pub started_us: i64,
    pub ended_us: Option<i64>,
    pub meta: RunMeta,
    pub processes: Vec<ProcessRow>,
    pub scenarios: Vec<ScenarioRow>,
    pub findings: Vec<FindingRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessRow {
    pub pid: i64,
    pub label: String,
    /// `exited` (footer written) or `crashed`.
    pub exit_state: &'static str,
    pub scenarios: i64,
    pub failed: i64,
}

/// One scenario run; `seq` is its ordinal in the run (`ScenarioRef::id`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRow {
    pub seq: i64,
    pub feature: String,
    pub name: String,
    pub pid: i64,
    pub outcome: &'static str,
    pub started_us: i64,
    pub duration_us: Option<i64>,
}

/// A scenario named by a finding: which one, and which run of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioKey {
    pub feature: String,
    pub name: String,
    pub seq: i64,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub rule: &'static str,
    pub severity: &'static str,
    pub likely_cause: bool,
    pub victim: Option<ScenarioKey>,
    pub polluter: Option<ScenarioKey>,
    pub resource: String,
    pub occurrences: i64,
    pub confidence: Option<&'static str>,
}

impl RunRecord {
    /// The rows of an analysis. Scenario runs come from the timeline (with
    /// durations) when the analysis kept one, else from each process's order.
    pub fn from_analysis(a: &Analysis, meta: RunMeta) -> RunRecord {
        let r = &a.report;
        let now = chrono::Utc::now().timestamp_micros();
        let processes = r
            .processes
            .iter()
            .map(|p| ProcessRow {
                pid: i64::from(p.pid),
                label: p.label.clone(),
                exit_state: if p.crashed { "crashed" } else { "exited" },
                scenarios: p.scenarios as i64,
                failed: p.failed as i64,
            })
            .collect();
        let start = r.start.map(|t| t.timestamp_micros()).unwrap_or(now);
        let scenarios = match &a.timeline {
            Some(t) if !t.scenarios.is_empty() || r.processes.is_empty() => t
                .scenarios
                .iter()
                .map(|s| ScenarioRow {
                    seq: s.id as i64,
                    feature: s.feature.clone(),
                    name: s.name.clone(),
                    pid: i64::from(s.pid),
                    outcome: s.outcome.as_str(),
                    started_us: s.start.timestamp_micros(),
                    duration_us: s
                        .end
                        .map(|e| (e - s.start).num_microseconds().unwrap_or(i64::MAX)),
                })
                .collect(),
            _ => r
                .processes
                .iter()
                .flat_map(|p| p.order.iter().map(move |o| (p.pid, o)))
                .enumerate()
                .map(|(i, (pid, o))| ScenarioRow {
                    seq: i as i64,
                    feature: o.feature.to_string(),
                    name: o.scenario.to_string(),
                    pid: i64::from(pid),
                    outcome: o.outcome.as_str(),
                    started_us: start,
                    duration_us: None,
                })
                .collect(),
        };
        RunRecord {
            run_key: r.run_id.clone(),
            started_us: start,
            ended_us: r.end.map(|t| t.timestamp_micros()),
            meta,
            processes,
            scenarios,
            findings: r.findings.iter().map(finding_row).collect(),
        }
    }

    pub fn failed(&self) -> i64 {
        self.scenarios
            .iter()
            .filter(|s| s.outcome == ScenarioOutcome::Failed.as_str())
            .count() as i64
    }
}

fn key(s: &ScenarioRef) -> ScenarioKey {
    ScenarioKey {
        feature: s.feature.clone(),
        name: s.scenario.clone(),
        seq: s.id as i64,
        outcome: s.outcome.as_str(),
    }
}

fn finding_row(f: &Finding) -> FindingRow {
    FindingRow {
        rule: f.rule.as_str(),
        severity: f.severity.as_str(),
        likely_cause: f.likely_cause,
        victim: f.victim.as_ref().map(key),
        polluter: f.polluter.as_ref().map(key),
        resource: f.resource.clone(),
        occurrences: f.occurrences as i64,
        confidence: f.confidence.map(|c| c.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_ci_variables_and_ci_labels_are_kept() {
        let env = |v: &str| match v {
            "GITHUB_SHA" => Some("abc123".to_owned()),
            "GITHUB_REF_NAME" => Some("main".to_owned()),
            "GITHUB_JOB" => Some("test".to_owned()),
            _ => None,
        };
        let m = RunMeta::from_flags_and_env(None, &[("os".into(), "linux".into())], env);
        assert_eq!(m.rev.as_deref(), Some("abc123"));
        assert_eq!(m.branch.as_deref(), Some("main"));
        assert_eq!(m.labels["ci.job"], "test");
        assert_eq!(m.labels["os"], "linux");
        let m = RunMeta::from_flags_and_env(Some("v2".into()), &[], env);
        assert_eq!(m.rev.as_deref(), Some("v2"));
    }

    #[test]
    fn labels_need_a_key_and_an_equals_sign() {
        assert_eq!(
            parse_label("os=linux").unwrap(),
            ("os".into(), "linux".into())
        );
        assert_eq!(
            parse_label("empty=").unwrap(),
            ("empty".into(), String::new())
        );
        assert!(parse_label("novalue").is_err());
        assert!(parse_label("=x").is_err());
    }
}
