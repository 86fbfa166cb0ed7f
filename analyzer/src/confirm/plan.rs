//! What to re-run: the victim, the polluter(s) to try it with, the shape the
//! finding's rule implies, and the commands, read from the trace headers and
//! narrowed to one scenario by `repro`.
//!
//! Nothing here runs anything: a plan is shown to the user before any
//! command read from a trace file is started.
//!
//! The parts: `candidates` finds the polluters to try when only a victim
//! is named, `cmds` reads each pair's commands from the trace headers; this
//! file builds the plan.

mod candidates;
mod cmds;

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::options::{parse_scenario, ConfirmOptions, Target};
use crate::input::discover::{self, SourceFile};
use crate::model::{Analysis, Finding, RuleId, ScenarioOutcome, ScenarioSpan, Timeline};
use crate::repro::{shell_quote, Pick};
use crate::{select_run, AnalyzeOptions, Analyzer};

pub use candidates::{candidates, same_state};
use cmds::{pair_cmds, runner};

/// A scenario of the traced run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Who {
    pub feature: String,
    pub scenario: String,
    /// Process that ran it in the traced run.
    pub pid: u32,
}

impl Who {
    /// `feature: scenario`, as `--victim` takes it.
    pub fn name(&self) -> String {
        format!("{}: {}", self.feature, self.scenario)
    }

    fn pick(&self) -> Pick<'_> {
        Pick {
            feature: &self.feature,
            name: &self.scenario,
        }
    }

    fn of(s: &ScenarioSpan) -> Who {
        Who {
            feature: s.feature.clone(),
            scenario: s.name.clone(),
            pid: s.pid,
        }
    }

    pub fn is(&self, feature: &str, scenario: &str) -> bool {
        self.feature == feature && self.scenario == scenario
    }
}

/// How the victim and the polluter run together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Two processes at once, the polluter started at an offset.
    TwoAtOnce,
    /// Polluter's process to its end, then the victim's, same database.
    TwoInOrder,
    /// One process running both at once.
    OneAtOnce,
    /// One process, polluter first.
    OneInOrder,
}

impl Shape {
    /// The shape a rule's harm needs; `None` for rules that name no
    /// polluter whose effect a re-run could show.
    pub fn of_rule(rule: RuleId, same_process: bool) -> Option<Shape> {
        use crate::rules::Replay;
        Some(match (crate::rules::meta(rule).replay, same_process) {
            (Replay::AtOnce, false) => Shape::TwoAtOnce,
            (Replay::AtOnce, true) => Shape::OneAtOnce,
            (Replay::InOrder, false) => Shape::TwoInOrder,
            (Replay::InOrder, true) | (Replay::InOneProcess, _) => Shape::OneInOrder,
            (Replay::Never, _) => return None,
        })
    }

    pub fn describe(self) -> &'static str {
        match self {
            Shape::TwoAtOnce => "both at once, each in its own process",
            Shape::TwoInOrder => {
                "the polluter's process to its end, then the victim's, on the same database"
            }
            Shape::OneAtOnce => "both at once in one process",
            Shape::OneInOrder => "both in one process, the polluter first",
        }
    }
}

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cmd {
    pub argv: Vec<String>,
    /// Working directory (the traced process's `cwd`), else ours.
    pub cwd: Option<PathBuf>,
    /// Set for it (under the user's `--env`): the traced process's recorded
    /// environment that decides what is shared (`repro::REPLAY_ENV`,
    /// `DATABASE_URL`, …), masked values left out; the Reproduce line sets
    /// the same.
    pub env: Vec<(String, String)>,
    /// Read from a trace file (needs the user's consent to run), not given
    /// by the user.
    pub from_trace: bool,
}

impl Cmd {
    /// A command the user typed: run by `sh -c`.
    pub fn shell(text: &str) -> Cmd {
        Cmd {
            argv: vec!["sh".into(), "-c".into(), text.into()],
            cwd: None,
            env: Vec::new(),
            from_trace: false,
        }
    }

    /// As a shell line (what the user is asked to agree to).
    pub fn shown(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        words.extend(self.argv.iter().map(|a| shell_quote(a)));
        match &self.cwd {
            Some(d) => format!(
                "(cd {} && {})",
                shell_quote(&d.display().to_string()),
                words.join(" ")
            ),
            None => words.join(" "),
        }
    }
}

/// The commands of one pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairCmds {
    Two { victim: Cmd, polluter: Cmd },
    One(Cmd),
}

impl PairCmds {
    pub fn all(&self) -> Vec<&Cmd> {
        match self {
            PairCmds::Two { victim, polluter } => vec![polluter, victim],
            PairCmds::One(c) => vec![c],
        }
    }
}

/// A victim/polluter pair to try.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub polluter: Who,
    /// The rule whose finding names the pair; `None` when the pair comes
    /// from the trace's accesses only (a search candidate).
    pub rule: Option<RuleId>,
    pub shape: Shape,
    /// Polluter's start minus the victim's in the traced run (µs): where a
    /// two-process attempt starts the polluter.
    pub offset_us: i64,
    /// The state involved.
    pub resource: Option<String>,
    /// The polluting action (`DB_CLEANUP`, …): what an attempt aims.
    pub action: Option<String>,
    /// Why this pair, in a few words.
    pub evidence: String,
    /// The commands, or why there are none (then the pair is inconclusive).
    pub cmds: Result<PairCmds, String>,
    /// What the framework cannot promise about the shape.
    pub caveat: Option<String>,
}

/// Everything to run, before anything runs.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub run_id: String,
    pub victim: Who,
    /// The victim's outcome in the traced run.
    pub victim_outcome: ScenarioOutcome,
    /// The victim alone, or why it cannot be run.
    pub alone: Result<Cmd, String>,
    /// In evidence order; one for a named polluter.
    pub pairs: Vec<Pair>,
    /// The polluter was not named: the pairs are candidates.
    pub search: bool,
    /// Candidates found before `max_candidates` cut the list.
    pub candidates_found: usize,
    /// Scenarios of the traced run (what a whole-suite bisection splits).
    pub suite_scenarios: usize,
}

impl Plan {
    /// The commands read from trace files, as shown to the user: running
    /// them needs consent.
    pub fn needs_consent(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.from_trace() {
            let s = c.shown();
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Every command read from a trace file that would run (repeats
    /// included); none when no pair has commands.
    pub fn from_trace(&self) -> Vec<&Cmd> {
        if !self.pairs.iter().any(|p| p.cmds.is_ok()) {
            // Nothing will run: no pair has commands.
            return Vec::new();
        }
        let mut out: Vec<&Cmd> = self.alone.iter().collect();
        for p in &self.pairs {
            if let Ok(cmds) = &p.cmds {
                out.extend(cmds.all());
            }
        }
        out.retain(|c| c.from_trace);
        out
    }
}

/// Reads the run and plans what to re-run. `Err` is a usage or input error.
pub fn plan(opts: &ConfirmOptions) -> Result<Plan, String> {
    let inputs = crate::inputs_or_default(&opts.inputs);
    let d = discover::discover(&inputs, &opts.legacy_tz);
    let Some((run, others)) = select_run(&d, opts.run.as_deref()).map_err(|e| e.to_string())?
    else {
        return Err(d.nothing_found());
    };
    let analyze = AnalyzeOptions {
        legacy_tz: opts.legacy_tz,
        timeline: true,
        ..AnalyzeOptions::default()
    };
    let analysis = Analyzer::for_run(&run, &analyze)
        .other_runs(others)
        .warnings(d.warnings.clone())
        .run()
        .map_err(|e| e.to_string())?;
    let files: HashMap<u32, &SourceFile> = run.files.iter().map(|f| (f.pid, f)).collect();
    let tl = analysis.timeline.as_ref().ok_or("no timeline")?;
    let (victim_span, pairs, search, found) = match &opts.target {
        Target::Finding(n) => {
            let f = finding(&analysis, *n)?;
            let (Some(v), Some(p)) = (f.victim.as_ref(), f.polluter.as_ref()) else {
                return Err(format!(
                    "finding {n} ({}) names no polluter and victim: nothing to confirm",
                    f.rule
                ));
            };
            if p.id == v.id {
                return Err(format!(
                    "finding {n} ({}) is about one scenario alone: nothing to re-run against it",
                    f.rule
                ));
            }
            let vs = &tl.scenarios[v.id];
            (vs, vec![from_finding(f, tl)?], false, 1)
        }
        Target::Victim { victim, polluter } => {
            let (vf, vn) = parse_scenario(victim)?;
            let vs = find_span(tl, &vf, &vn, None).ok_or_else(|| no_such(&run.id, victim, tl))?;
            match polluter {
                Some(p) => {
                    let (pf, pn) = parse_scenario(p)?;
                    if (&pf, &pn) == (&vf, &vn) {
                        return Err(format!(
                            "{p:?} is the victim itself: name another scenario as --polluter, or leave it out to search"
                        ));
                    }
                    let ps = find_span(tl, &pf, &pn, Some(vs.pid))
                        .ok_or_else(|| no_such(&run.id, p, tl))?;
                    (vs, vec![named_pair(&analysis, tl, vs, ps)], false, 1)
                }
                None => {
                    let all = candidates(&analysis, tl, vs);
                    let found = all.len();
                    let mut pairs = all;
                    pairs.truncate(opts.max_candidates);
                    (vs, pairs, true, found)
                }
            }
        }
    };
    let victim = Who::of(victim_span);
    let vfile = files.get(&victim.pid).copied();
    let alone = match &opts.victim_cmd {
        Some(c) => Ok(Cmd::shell(c)),
        None => runner(vfile, &victim, "--victim-cmd").map(|(r, cwd, env)| Cmd {
            argv: r.one(victim.pick()),
            cwd,
            env,
            from_trace: true,
        }),
    };
    let pairs = pairs
        .into_iter()
        .map(|mut p| {
            let (cmds, caveat) = pair_cmds(&p, &victim, victim_span, tl, &files, opts);
            p.cmds = cmds;
            p.caveat = caveat;
            p
        })
        .collect();
    Ok(Plan {
        run_id: run.id.clone(),
        victim,
        victim_outcome: victim_span.outcome,
        alone,
        pairs,
        search,
        candidates_found: found,
        suite_scenarios: tl.scenarios.len(),
    })
}

fn finding(a: &Analysis, n: usize) -> Result<&Finding, String> {
    let all = &a.report.findings;
    n.checked_sub(1).and_then(|i| all.get(i)).ok_or_else(|| {
        format!(
            "no finding {n}: the report of run {} has {} (numbered from 1, as `report` shows them)",
            a.report.run_id,
            all.len()
        )
    })
}

fn no_such(run: &str, name: &str, tl: &Timeline) -> String {
    let mut near: Vec<String> = tl
        .scenarios
        .iter()
        .filter(|s| s.outcome == ScenarioOutcome::Failed)
        .map(|s| format!("{}: {}", s.feature, s.name))
        .collect();
    near.dedup();
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("; failed in that run: {}", near.join(", "))
    };
    format!("no scenario {name:?} in run {run}{hint}")
}

/// The span of a named scenario: its failed run first, else (preferring
/// process `pid`) its first.
fn find_span<'a>(
    tl: &'a Timeline,
    feature: &str,
    name: &str,
    pid: Option<u32>,
) -> Option<&'a ScenarioSpan> {
    let all: Vec<&ScenarioSpan> = tl
        .scenarios
        .iter()
        .filter(|s| s.feature == feature && s.name == name)
        .collect();
    all.iter()
        .find(|s| s.outcome == ScenarioOutcome::Failed)
        .or_else(|| all.iter().find(|s| Some(s.pid) == pid))
        .or_else(|| all.first())
        .copied()
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn span_end(s: &ScenarioSpan) -> i64 {
    micros(s.end.unwrap_or(s.last).max(s.last))
}

/// A pair from a finding.
fn from_finding(f: &Finding, tl: &Timeline) -> Result<Pair, String> {
    let (v, p) = (f.victim.as_ref().unwrap(), f.polluter.as_ref().unwrap());
    let shape = Shape::of_rule(f.rule, v.pid == p.pid).ok_or_else(|| {
        format!(
            "{} does not say how the polluter harms the victim: nothing to re-run",
            f.rule
        )
    })?;
    let (vs, ps) = (&tl.scenarios[v.id], &tl.scenarios[p.id]);
    Ok(Pair {
        polluter: Who::of(ps),
        rule: Some(f.rule),
        shape,
        offset_us: micros(ps.start) - micros(vs.start),
        resource: Some(f.resource.clone()),
        action: f.action.clone(),
        evidence: f.why.clone().unwrap_or_else(|| f.rule.to_string()),
        cmds: Err(String::new()),
        caveat: None,
    })
}

/// A pair the user named: the report's finding for it when there is one,
/// else what the trace's accesses say, else the plain order of the run.
fn named_pair(a: &Analysis, tl: &Timeline, vs: &ScenarioSpan, ps: &ScenarioSpan) -> Pair {
    let names = |r: &Option<crate::model::ScenarioRef>, s: &ScenarioSpan| {
        r.as_ref()
            .is_some_and(|r| r.feature == s.feature && r.scenario == s.name)
    };
    if let Some(pair) = a
        .report
        .findings
        .iter()
        .filter(|f| names(&f.victim, vs) && names(&f.polluter, ps))
        .find_map(|f| from_finding(f, tl).ok())
    {
        return pair;
    }
    if let Some(c) = candidates(a, tl, vs)
        .into_iter()
        .find(|c| c.polluter == Who::of(ps))
    {
        return c;
    }
    let same = vs.pid == ps.pid;
    let overlapped = micros(ps.start) < span_end(vs) && span_end(ps) > micros(vs.start);
    let shape = match (same, overlapped) {
        (true, true) => Shape::OneAtOnce,
        (true, false) => Shape::OneInOrder,
        (false, true) => Shape::TwoAtOnce,
        (false, false) => Shape::TwoInOrder,
    };
    Pair {
        polluter: Who::of(ps),
        rule: None,
        shape,
        offset_us: micros(ps.start) - micros(vs.start),
        resource: None,
        action: None,
        evidence: "named by you; the trace shows it changing nothing the victim used".into(),
        cmds: Err(String::new()),
        caveat: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_of_one_schema_are_the_same_state_when_they_share_a_table() {
        let users = "shared:sqlite:/d.db/main/users";
        assert!(same_state(users, users));
        assert!(same_state(users, "shared:sqlite:/d.db/main/*"));
        assert!(same_state(
            "shared:sqlite:/d.db/main/{greetings,users}",
            users
        ));
        assert!(!same_state(users, "shared:sqlite:/d.db/main/greetings"));
        assert!(!same_state(users, "shared:sqlite:/other.db/main/users"));
        assert!(same_state("process:jwt_secret", "process:jwt_secret"));
        assert!(!same_state("process:jwt_secret", users));
    }

    #[test]
    fn each_rule_has_the_shape_its_harm_needs() {
        use RuleId::*;
        assert_eq!(
            Shape::of_rule(ConcurrentMutation, false),
            Some(Shape::TwoAtOnce)
        );
        assert_eq!(
            Shape::of_rule(ConcurrentMutation, true),
            Some(Shape::OneAtOnce)
        );
        assert_eq!(Shape::of_rule(LeftoverData, false), Some(Shape::TwoInOrder));
        assert_eq!(Shape::of_rule(LeftoverData, true), Some(Shape::OneInOrder));
        assert_eq!(Shape::of_rule(LeakedState, true), Some(Shape::OneInOrder));
        assert_eq!(Shape::of_rule(UnfinishedScenario, false), None);
    }

    #[test]
    fn scenarios_are_named_feature_colon_scenario() {
        assert_eq!(
            parse_scenario("greet: Welcome: a page").unwrap(),
            ("greet".into(), "Welcome: a page".into())
        );
        assert!(parse_scenario("no colon").is_err());
        assert!(parse_scenario(": empty feature").is_err());
    }

    #[test]
    fn a_shown_command_quotes_for_the_shell_and_says_where_it_runs() {
        let c = Cmd {
            argv: vec!["bdd-demo".into(), "--name".into(), "^It's$".into()],
            cwd: Some(PathBuf::from("/tmp/a b")),
            env: vec![("DATABASE_URL".into(), "sqlite:///tmp/a b/x.db".into())],
            from_trace: true,
        };
        assert_eq!(
            c.shown(),
            r"(cd '/tmp/a b' && DATABASE_URL='sqlite:///tmp/a b/x.db' bdd-demo --name '^It'\''s$')"
        );
    }
}
