//! `run --confirm`: right after a traced run, each failed scenario's likely
//! causes are confirmed (or not) by targeted reruns, all within one time
//! budget, and each verdict is written onto its finding in the report.
//!
//! The report alone ranks suspects; a rerun that breaks the victim with
//! just its suspect proves it. Victims are taken in report order, each
//! given an equal share of what is left of the budget, so one slow victim
//! cannot starve the others. Per victim, its likely causes are tried in
//! report order until one is confirmed (ties and unreproduced suspects get
//! the next try). The commands come from the trace headers the user's own
//! command just wrote, so no consent is asked here (the CLI's `confirm`
//! still asks for traces it did not make).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{execute, plan, ConfirmOptions, Progress, Target, Verdict};
use crate::input::read::LegacyTz;
use crate::model::{CauseConfirmation, Report, ScenarioOutcome};

/// Runs of the victim alone before its first suspect is tried: a victim
/// that fails alone is its own fault, whatever the suspects did.
const ALONE: u32 = 2;
/// Attempts per suspect at most (the budget usually ends them first); the
/// first reproduction ends them.
const ATTEMPTS: u32 = 40;
/// No child process is given less than this, however little is left.
const MIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What `run --confirm` needs besides the report.
#[derive(Debug, Clone)]
pub struct AutoOptions {
    /// The traced run's files (the folder `run` wrote).
    pub inputs: Vec<PathBuf>,
    pub run: Option<String>,
    pub legacy_tz: LegacyTz,
    /// All reruns together.
    pub budget: Duration,
    /// A folder per rerun goes under it.
    pub dir: PathBuf,
    /// Set in every rerun (the traced run's database, …).
    pub env: Vec<(String, String)>,
    /// Run before every rerun ([`ConfirmOptions::reset`]).
    pub reset: Option<String>,
}

/// What was done, for the closing line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoSummary {
    /// Failed victims with a likely cause, and how many got a confirmed one.
    pub victims: usize,
    pub confirmed: usize,
    /// Likely causes given a verdict.
    pub judged: usize,
    /// Victims not reached before the budget ran out.
    pub not_reached: usize,
    /// Reruns started.
    pub reruns: usize,
}

/// Confirms the likely causes of every failed victim in `report`, writing
/// `verdict` and `confirm` onto each finding tried.
pub fn confirm_likely_causes(
    report: &mut Report,
    opts: &AutoOptions,
    progress: Progress<'_>,
) -> AutoSummary {
    let deadline = Instant::now() + opts.budget;
    // Victims in report order, each with its likely causes in report order
    // (finding numbers are the report's, as `confirm --finding` takes them).
    let mut victims: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, f) in report.findings.iter().enumerate() {
        let (Some(v), Some(p)) = (&f.victim, &f.polluter) else {
            continue;
        };
        if !f.likely_cause || v.outcome != ScenarioOutcome::Failed || v.id == p.id {
            continue;
        }
        match victims.iter_mut().find(|(id, _)| *id == v.id) {
            Some((_, list)) => list.push(i),
            None => victims.push((v.id, vec![i])),
        }
    }
    let mut summary = AutoSummary {
        victims: victims.len(),
        ..AutoSummary::default()
    };
    for (k, (_, findings)) in victims.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline || super::run::interrupted() {
            summary.not_reached = victims.len() - k;
            for (_, rest) in &victims[k..] {
                for &i in rest {
                    not_tried(
                        report,
                        i,
                        opts,
                        "not tried: the budget ran out before this victim's turn; give more with --confirm=5m",
                    );
                }
            }
            break;
        }
        let share = (deadline - now) / (victims.len() - k) as u32;
        let victim_deadline = now + share;
        for (n, &i) in findings.iter().enumerate() {
            if Instant::now() >= victim_deadline || super::run::interrupted() {
                break;
            }
            let left = victim_deadline.saturating_duration_since(Instant::now());
            let mut o = ConfirmOptions::new(
                opts.inputs.clone(),
                Target::Finding(i + 1),
                opts.dir.join(format!("finding-{}", i + 1)),
            );
            o.run = opts.run.clone();
            o.legacy_tz = opts.legacy_tz;
            o.env = opts.env.clone();
            o.reset = opts.reset.clone();
            o.alone = if n == 0 { ALONE } else { 0 };
            o.attempts = ATTEMPTS;
            o.enough = Some(1);
            o.timeout = left.max(MIN_TIMEOUT);
            o.deadline = Some(victim_deadline);
            let (verdict, confirmation) = match plan::plan(&o) {
                Ok(p) if !same_pair(&p, &report.findings[i]) => (
                    Verdict::Inconclusive,
                    unconfirmed(&o, "the rerun plan names another pair than this finding (the traces changed since the report?)"),
                ),
                Ok(p) => {
                    let c = execute(&p, &o, progress);
                    let attempts: usize = c.tried.iter().map(|t| t.attempts.len()).sum();
                    summary.reruns += c.alone.len() + attempts;
                    let out_of_time = Instant::now() >= victim_deadline;
                    let (verdict, text) = match c.verdict {
                        Verdict::NotReproduced if out_of_time && attempts < ATTEMPTS as usize => (
                            Verdict::Inconclusive,
                            format!(
                                "the budget ran out after {attempts} attempt(s), none reproduced; give more with --confirm=5m"
                            ),
                        ),
                        v => (v, c.summary.clone()),
                    };
                    let passed_alone = c
                        .alone
                        .iter()
                        .filter(|r| r.victim == Some(ScenarioOutcome::Passed))
                        .count();
                    (
                        verdict,
                        CauseConfirmation {
                            attempts,
                            reproduced: c.tried.iter().map(|t| t.reproduced).sum(),
                            alone: c.alone.len(),
                            passed_alone,
                            summary: text,
                            folder: c.folder.clone(),
                        },
                    )
                }
                Err(e) => (Verdict::Inconclusive, unconfirmed(&o, &e)),
            };
            summary.judged += 1;
            let f = &mut report.findings[i];
            f.verdict = Some(verdict);
            f.confirm = Some(confirmation);
            match verdict {
                Verdict::Confirmed => {
                    summary.confirmed += 1;
                    break;
                }
                // Its own fault: no suspect can be proven.
                Verdict::FailsAlone => break,
                Verdict::NotReproduced | Verdict::Inconclusive => {}
            }
        }
        // A likely cause left untried says why, so no suspicion reads as
        // if reruns had looked at it.
        let why = match findings.iter().find_map(|&i| report.findings[i].verdict) {
            Some(Verdict::Confirmed) => {
                "not tried: another likely cause of this victim was confirmed"
            }
            Some(Verdict::FailsAlone) => {
                "not tried: the victim failed alone, so no other scenario is needed to break it"
            }
            _ => {
                "not tried: this victim's share of the budget ran out; give more with --confirm=5m"
            }
        };
        for &i in findings {
            if report.findings[i].verdict.is_none() {
                not_tried(report, i, opts, why);
            }
        }
    }
    summary
}

/// Marks likely cause `i` as not tried, saying why (`inconclusive`).
fn not_tried(report: &mut Report, i: usize, opts: &AutoOptions, why: &str) {
    let f = &mut report.findings[i];
    f.verdict = Some(Verdict::Inconclusive);
    f.confirm = Some(CauseConfirmation {
        attempts: 0,
        reproduced: 0,
        alone: 0,
        passed_alone: 0,
        summary: why.to_owned(),
        folder: opts.dir.clone(),
    });
}

/// Whether the plan for a finding number is about that finding's pair.
fn same_pair(p: &plan::Plan, f: &crate::model::Finding) -> bool {
    let (Some(v), Some(pol)) = (&f.victim, &f.polluter) else {
        return false;
    };
    p.victim.is(&v.feature, &v.scenario)
        && p.pairs
            .first()
            .is_some_and(|pair| pair.polluter.is(&pol.feature, &pol.scenario))
}

/// A confirmation that ran nothing, saying why.
fn unconfirmed(o: &ConfirmOptions, why: &str) -> CauseConfirmation {
    CauseConfirmation {
        attempts: 0,
        reproduced: 0,
        alone: 0,
        passed_alone: 0,
        summary: why.to_owned(),
        folder: o.dir.clone(),
    }
}
