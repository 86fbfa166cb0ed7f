//! Judging: each run from its own trace (did the victim fail, and does that
//! run's analysis name the same polluter as the likely cause?), then the
//! verdict over all runs, and how it is printed.
//!
//! A failing victim alone is not proof: the failure must come with the
//! polluter's fingerprint in the new trace, else it could be any flake.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::plan::{same_state, Plan, Shape, Who};
use super::run::{End, Traced};
pub use crate::model::Verdict;
use crate::model::{RuleId, ScenarioOutcome};
use crate::{AnalyzeOptions, Analyzer};

/// What one run's trace says.
#[derive(Debug, Clone, Default)]
pub struct Judged {
    /// The victim's outcome; `None` when it did not run.
    pub victim: Option<ScenarioOutcome>,
    /// The run's analysis names the polluter as the victim's likely cause.
    pub cause_named: bool,
    /// The victim's window (the longest gap between two of its uses of the
    /// resource) and the polluter's change nearest its middle (µs), when
    /// both are in the trace.
    pub landed: Option<(i64, i64, i64)>,
}

/// Reads a run's traces back with the library and judges them.
pub fn judge(
    t: &Traced,
    victim: &Who,
    polluter: Option<&Who>,
    resource: Option<&str>,
    action: Option<&str>,
) -> Judged {
    let Ok(a) = Analyzer::new(&AnalyzeOptions {
        inputs: vec![t.dir.clone()],
        run: Some(t.run_id.clone()),
        timeline: true,
        ..AnalyzeOptions::default()
    })
    .run() else {
        return Judged::default();
    };
    let Some(tl) = &a.timeline else {
        return Judged::default();
    };
    let spans: Vec<_> = tl
        .scenarios
        .iter()
        .filter(|s| victim.is(&s.feature, &s.name))
        .collect();
    let outcome = if spans.iter().any(|s| s.outcome == ScenarioOutcome::Failed) {
        Some(ScenarioOutcome::Failed)
    } else {
        spans.first().map(|s| s.outcome)
    };
    let Some(p) = polluter else {
        return Judged {
            victim: outcome,
            ..Judged::default()
        };
    };
    let named = |r: &Option<crate::model::ScenarioRef>, w: &Who| {
        r.as_ref().is_some_and(|r| w.is(&r.feature, &r.scenario))
    };
    let cause_named = a
        .report
        .findings
        .iter()
        .any(|f| f.likely_cause && named(&f.victim, victim) && named(&f.polluter, p));
    let landed = spans.first().and_then(|vs| {
        let (g0, g1) = window(tl, vs, resource);
        let target = (g0 + g1) / 2;
        let pids: Vec<usize> = tl
            .scenarios
            .iter()
            .filter(|s| p.is(&s.feature, &s.name))
            .map(|s| s.id)
            .collect();
        tl.actions
            .iter()
            .filter(|m| m.mutation && m.scenario.is_some_and(|s| pids.contains(&s)))
            .filter(|m| action.is_none_or(|a| m.action == a))
            .filter(|m| {
                resource.is_none_or(|r| m.resource.as_deref().is_some_and(|mr| same_state(r, mr)))
            })
            .map(|m| m.ts.timestamp_micros())
            .min_by_key(|t| (t - target).abs())
            .map(|t| (g0, g1, t))
    });
    Judged {
        victim: outcome,
        cause_named,
        landed,
    }
}

/// Where a change hurts the victim most, in µs: the longest gap between
/// two of its uses of `resource` (it wrote, then read back), else its
/// whole span.
fn window(
    tl: &crate::model::Timeline,
    vs: &crate::model::ScenarioSpan,
    resource: Option<&str>,
) -> (i64, i64) {
    let mut uses: Vec<i64> = tl
        .actions
        .iter()
        .filter(|m| m.scenario == Some(vs.id))
        .filter(|m| {
            let r = m.resource.as_deref();
            r.is_some_and(|r| resource.is_none_or(|want| same_state(want, r)))
        })
        .map(|m| m.ts.timestamp_micros())
        .collect();
    uses.sort_unstable();
    uses.windows(2)
        .map(|w| (w[0], w[1]))
        .max_by_key(|(a, b)| b - a)
        .unwrap_or((
            vs.start.timestamp_micros(),
            vs.end.unwrap_or(vs.last).timestamp_micros(),
        ))
}

/// One run: the victim alone, or an attempt with a polluter.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub folder: PathBuf,
    pub run_id: String,
    /// Polluter's start minus the victim's (two processes at once), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<f64>,
    /// How each process ended, by role.
    pub processes: Vec<(String, End)>,
    /// The victim's outcome in this run's trace; null: it did not run.
    pub victim: Option<ScenarioOutcome>,
    /// This run's analysis names the polluter as the likely cause.
    pub cause_named: bool,
    /// Victim failed and the cause was named.
    pub reproduced: bool,
}

impl RunResult {
    pub fn new(
        t: &Traced,
        offset_us: Option<i64>,
        processes: Vec<(String, End)>,
        j: &Judged,
    ) -> RunResult {
        RunResult {
            folder: t.dir.clone(),
            run_id: t.run_id.clone(),
            offset_ms: offset_us.map(|o| o as f64 / 1000.0),
            processes,
            victim: j.victim,
            cause_named: j.cause_named,
            reproduced: j.victim == Some(ScenarioOutcome::Failed) && j.cause_named,
        }
    }

    pub fn timed_out(&self) -> bool {
        self.processes.iter().any(|(_, e)| *e == End::TimedOut)
    }

    fn victim_str(&self) -> &'static str {
        match self.victim {
            Some(o) => o.as_str(),
            None if self.timed_out() => "TIMED OUT",
            None => "DID NOT RUN",
        }
    }
}

/// The attempts with one polluter.
#[derive(Debug, Clone, Serialize)]
pub struct Tried {
    pub polluter: Who,
    pub rule: Option<RuleId>,
    pub shape: Shape,
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
    pub commands: Vec<String>,
    pub attempts: Vec<RunResult>,
    pub reproduced: usize,
    /// Why it could not be tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_tried: Option<String>,
}

/// A search's cost beside a whole-suite bisection's.
#[derive(Debug, Clone, Serialize)]
pub struct SearchStats {
    /// Candidates found in the trace, and tried.
    pub candidates: usize,
    pub tried: usize,
    /// Runs started (victim alone + attempts), each of one or two scenarios.
    pub reruns: usize,
    /// Scenarios of the traced run (n) and ⌈log2 n⌉: the suite runs a
    /// bisection of the whole suite needs.
    pub suite_scenarios: usize,
    pub bisection_runs: u32,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    pub verdict: Verdict,
    /// One sentence.
    pub summary: String,
    pub run_id: String,
    pub victim: Who,
    /// The polluter confirmed (or the one tried, when only one).
    pub polluter: Option<Who>,
    /// Where every run's folder is.
    pub folder: PathBuf,
    pub alone: Vec<RunResult>,
    pub tried: Vec<Tried>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchStats>,
    pub interrupted: bool,
}

/// ⌈log2 n⌉.
pub fn bisection_runs(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// The verdict from the runs made so far (alone first, then the pairs).
pub fn decide(
    plan: &Plan,
    alone: &[RunResult],
    tried: &[Tried],
    interrupted: bool,
) -> (Verdict, String) {
    let n_alone = alone.len();
    let passed_alone = alone
        .iter()
        .filter(|r| r.victim == Some(ScenarioOutcome::Passed))
        .count();
    if let Some(r) = alone
        .iter()
        .find(|r| r.victim == Some(ScenarioOutcome::Failed))
    {
        return (
            Verdict::FailsAlone,
            format!(
                "{:?} failed alone ({}): flaky on its own, or its own fault, not a polluter's",
                plan.victim.name(),
                r.folder.display()
            ),
        );
    }
    if let Err(why) = &plan.alone {
        return (Verdict::Inconclusive, why.clone());
    }
    let confirmed = tried.iter().any(|t| t.reproduced > 0);
    if interrupted && !confirmed {
        return (Verdict::Inconclusive, "interrupted (Ctrl-C)".into());
    }
    if let Some(r) = alone.iter().find(|r| r.victim.is_none()) {
        let not_started = r.processes.iter().find_map(|(_, e)| match e {
            End::NotStarted(why) => Some(why.as_str()),
            _ => None,
        });
        let why = if r.timed_out() {
            "did not finish within the timeout".to_owned()
        } else if let Some(e) = not_started {
            format!("could not be started: {e}")
        } else {
            "did not run: its command did not select it (see the log in the folder)".to_owned()
        };
        return (
            Verdict::Inconclusive,
            format!("the victim alone {why} ({})", r.folder.display()),
        );
    }
    if let Some(t) = tried.iter().find(|t| t.reproduced > 0) {
        return (
            Verdict::Confirmed,
            format!(
                "{:?} breaks {:?}: reproduced in {} of {} attempts ({}); the victim passed alone {} of {} times",
                t.polluter.name(),
                plan.victim.name(),
                t.reproduced,
                t.attempts.len(),
                t.shape.describe(),
                passed_alone,
                n_alone
            ),
        );
    }
    let made: usize = tried.iter().map(|t| t.attempts.len()).sum();
    let ran = tried
        .iter()
        .flat_map(|t| &t.attempts)
        .any(|r| r.victim.is_some());
    if tried.is_empty() {
        return (
            Verdict::Inconclusive,
            "no candidate: no scenario changed state the victim used before or while it ran".into(),
        );
    }
    if !ran {
        let why = tried
            .iter()
            .find_map(|t| t.not_tried.clone())
            .unwrap_or_else(|| "the victim did not run in any attempt".into());
        return (Verdict::Inconclusive, why);
    }
    let who = match tried {
        [t] => format!("{:?}", t.polluter.name()),
        _ => format!("any of {} candidates", tried.len()),
    };
    (
        Verdict::NotReproduced,
        format!(
            "{:?} never failed with {who} as the named cause in {made} attempts; it passed alone {passed_alone} of {n_alone} times",
            plan.victim.name()
        ),
    )
}

/// The human-readable result.
pub fn write_table(c: &Confirmation, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "victim    {}  (run {})", c.victim.name(), c.run_id)?;
    let alone_passed = c
        .alone
        .iter()
        .filter(|r| r.victim == Some(ScenarioOutcome::Passed))
        .count();
    if !c.alone.is_empty() {
        writeln!(
            out,
            "alone     passed {} of {} runs",
            alone_passed,
            c.alone.len()
        )?;
    }
    for t in &c.tried {
        writeln!(out)?;
        let rule = t
            .rule
            .map_or("from the trace's accesses".into(), |r| r.to_string());
        writeln!(
            out,
            "polluter  {}  ({rule}: {})",
            t.polluter.name(),
            t.evidence
        )?;
        writeln!(out, "shape     {}", t.shape.describe())?;
        if let Some(c) = &t.caveat {
            writeln!(out, "caveat    {c}")?;
        }
        if let Some(why) = &t.not_tried {
            writeln!(out, "not tried {why}")?;
            continue;
        }
        for (i, r) in t.attempts.iter().enumerate() {
            let offset = r
                .offset_ms
                .map_or(String::new(), |o| format!("  offset {o:+.0} ms"));
            writeln!(
                out,
                "  attempt {:>2}: victim {:<10} cause named: {:<3}{}{offset}  {}",
                i + 1,
                r.victim_str(),
                if r.cause_named { "yes" } else { "no" },
                if r.reproduced { "  REPRODUCED" } else { "" },
                r.folder.display()
            )?;
        }
    }
    if let Some(s) = &c.search {
        writeln!(out)?;
        writeln!(
            out,
            "search    {} reruns of one or two scenarios ({} of {} candidates tried); a bisection of the whole suite: n = {} scenarios, about log2(n) = {} runs of half the suite each",
            s.reruns, s.tried, s.candidates, s.suite_scenarios, s.bisection_runs
        )?;
    }
    writeln!(out)?;
    writeln!(out, "verdict   {}: {}", c.verdict.as_str(), c.summary)?;
    writeln!(
        out,
        "folders   {}  (open any run with `trace-analyzer report FOLDER`)",
        c.folder.display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bisection_of_n_scenarios_needs_ceil_log2_n_runs() {
        let runs: Vec<u32> = [1, 2, 3, 4, 5, 12, 16, 17, 1000]
            .iter()
            .map(|&n| bisection_runs(n))
            .collect();
        assert_eq!(runs, [0, 1, 2, 2, 3, 4, 4, 5, 10]);
    }
}
