//! `confirm`: proves (or not) that a suspected polluter really breaks its
//! victim, by re-running just those two scenarios, each run traced and
//! analyzed again.
//!
//! One traced run only says what happened once; a polluter named by the
//! report is a suspect. Re-running the whole suite many times (iDFlakies) or
//! bisecting it (detect-test-pollution) is what people do instead; here the
//! trace already names the suspects and the shape of the harm, so a few runs
//! of two scenarios decide. One job per file:
//! - `options`: what to confirm ([`Target`]) and the limits ([`ConfirmOptions`]);
//! - [`plan`]: which pairs to try, in which shape, with which commands
//!   (from the trace headers, narrowed by `repro`);
//! - [`run`]: child processes with a timeout, killed by process group,
//!   stopped on Ctrl-C;
//! - [`verdict`]: judges each run from its own trace, and the whole;
//! - [`consent`]: what the user should know before agreeing to run them;
//! - [`auto`]: `run --confirm`, every failed victim's likely causes within
//!   one time budget, the verdicts written onto the report's findings.
//!
//! Commands read from trace files are never run by this module unless the
//! caller says so ([`Plan::needs_consent`]): the CLI asks first.

pub mod auto;
pub mod consent;
mod options;
pub mod plan;
pub mod run;
pub mod verdict;

use crate::model::ScenarioOutcome;

pub use options::{parse_scenario, ConfirmOptions, Target, MAX_ATTEMPTS};
pub use plan::{Cmd, Pair, Plan, Shape, Who};
pub use verdict::{Confirmation, Verdict};

/// One progress line (the CLI shows them on a terminal).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Runs the plan: the victim alone, then each pair until one is confirmed.
/// Every run is traced into its own folder under `opts.dir`, which is left
/// in place (Ctrl-C included) so each run can be opened with `report`.
pub fn execute(plan: &Plan, opts: &ConfirmOptions, progress: Progress<'_>) -> Confirmation {
    use run::{End, Traced};
    use verdict::{judge, RunResult, SearchStats, Tried};

    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let traced = |name: &str| Traced {
        dir: opts.dir.join(name),
        run_id: format!("confirm-{stamp}-{}-{name}", std::process::id()),
        env: opts.env.clone(),
    };
    // `--reset` before every rerun; its failure stops them (the runs
    // after it would start from state nobody knows).
    let mut reset_failed: Option<String> = None;
    let reset = |t: &Traced| -> Option<String> {
        let cmd = opts.reset.as_ref()?;
        run::reset(cmd, t, opts.timeout).err().map(|e| {
            format!(
                "the --reset command failed ({e}; its output is in {}): nothing more was rerun",
                t.dir.join("reset.log").display()
            )
        })
    };
    let mut alone = Vec::new();
    let mut tried: Vec<Tried> = Vec::new();
    let mut reruns = 0usize;
    let any_pair = plan.pairs.iter().any(|p| p.cmds.is_ok());
    if let (Ok(cmd), true) = (&plan.alone, any_pair) {
        for i in 1..=opts.alone.min(MAX_ATTEMPTS) {
            let t = traced(&format!("alone-{i}"));
            progress(&format!("victim alone, run {i}/{}", opts.alone));
            if let Some(why) = reset(&t) {
                reset_failed = Some(why);
                break;
            }
            let end = run::run_one(cmd, &t, "victim", opts.timeout);
            reruns += 1;
            let j = judge(&t, &plan.victim, None, None, None);
            let r = RunResult::new(&t, None, vec![("victim".into(), end)], &j);
            let stop = r.victim != Some(ScenarioOutcome::Passed);
            alone.push(r);
            if stop || run::interrupted() || opts.out_of_time() {
                break;
            }
        }
    }
    let alone_ok = any_pair
        && plan.alone.is_ok()
        && (alone.len() == opts.alone as usize || opts.out_of_time() && !alone.is_empty())
        && alone
            .iter()
            .all(|r| r.victim == Some(ScenarioOutcome::Passed));
    // Without commands for any pair nothing runs, but each pair says why.
    if alone_ok || !any_pair {
        for (ci, pair) in plan.pairs.iter().enumerate() {
            if run::interrupted() || reset_failed.is_some() {
                break;
            }
            let mut t_pair = Tried {
                polluter: pair.polluter.clone(),
                rule: pair.rule,
                shape: pair.shape,
                evidence: pair.evidence.clone(),
                caveat: pair.caveat.clone(),
                commands: pair
                    .cmds
                    .as_ref()
                    .map(|c| c.all().iter().map(|c| c.shown()).collect())
                    .unwrap_or_default(),
                attempts: Vec::new(),
                reproduced: 0,
                not_tried: pair.cmds.as_ref().err().cloned(),
            };
            if let Ok(cmds) = &pair.cmds {
                let mut offset = pair.offset_us;
                let limit = (opts.timeout.as_micros() / 2).min(i64::MAX as u128) as i64;
                for k in 1..=opts.attempts.min(MAX_ATTEMPTS) {
                    if opts.out_of_time() {
                        break;
                    }
                    let t = traced(&format!("c{}-attempt-{k}", ci + 1));
                    progress(&format!(
                        "{} with {:?}: attempt {k}/{} ({} so far)",
                        plan.victim.scenario,
                        pair.polluter.scenario,
                        opts.attempts,
                        t_pair.reproduced
                    ));
                    if let Some(why) = reset(&t) {
                        reset_failed = Some(why);
                        break;
                    }
                    let (ends, off) = match (cmds, pair.shape) {
                        (plan::PairCmds::Two { victim, polluter }, Shape::TwoAtOnce) => {
                            let (v, p) = run::run_two_at_once(
                                (victim, "victim"),
                                (polluter, "polluter"),
                                &t,
                                offset,
                                opts.timeout,
                            );
                            (
                                vec![("victim".to_owned(), v), ("polluter".to_owned(), p)],
                                Some(offset),
                            )
                        }
                        (plan::PairCmds::Two { victim, polluter }, _) => {
                            let p = run::run_one(polluter, &t, "polluter", opts.timeout);
                            let v = if run::interrupted() {
                                End::Interrupted
                            } else {
                                run::run_one(victim, &t, "victim", opts.timeout)
                            };
                            (
                                vec![("polluter".to_owned(), p), ("victim".to_owned(), v)],
                                None,
                            )
                        }
                        (plan::PairCmds::One(c), _) => (
                            vec![("both".to_owned(), run::run_one(c, &t, "both", opts.timeout))],
                            None,
                        ),
                    };
                    reruns += 1;
                    let j = judge(
                        &t,
                        &plan.victim,
                        Some(&pair.polluter),
                        pair.resource.as_deref(),
                        pair.action.as_deref(),
                    );
                    let r = RunResult::new(&t, off, ends, &j);
                    let hit = r.reproduced;
                    t_pair.reproduced += usize::from(hit);
                    t_pair.attempts.push(r);
                    let enough = opts.enough.is_some_and(|n| t_pair.reproduced >= n);
                    if run::interrupted() || (hit && plan.search) || enough {
                        break;
                    }
                    let landed = j.landed.filter(|_| pair.shape == Shape::TwoAtOnce && !hit);
                    if let Some((g0, g1, pm)) = landed {
                        // Move the polluter's change to the middle of the
                        // victim's window (between its write and its read
                        // back); when it lands there and still misses,
                        // try a little either side.
                        let target = (g0 + g1) / 2;
                        let nudge = if (g0..=g1).contains(&pm) {
                            let step = ((g1 - g0) / 8).max(5_000);
                            if k % 2 == 1 {
                                step
                            } else {
                                -step
                            }
                        } else {
                            0
                        };
                        // Once an offset has reproduced, a miss is mostly
                        // the noise of process start-up: correct by half.
                        let gain = if t_pair.reproduced > 0 { 2 } else { 1 };
                        offset = (offset + (target - pm) / gain + nudge).clamp(-limit, limit);
                    }
                }
            }
            let done = t_pair.reproduced > 0;
            tried.push(t_pair);
            if done {
                break;
            }
        }
    }
    let interrupted = run::interrupted();
    let (verdict, summary) = match reset_failed {
        Some(why) => (Verdict::Inconclusive, why),
        None => verdict::decide(plan, &alone, &tried, interrupted),
    };
    let polluter = tried
        .iter()
        .find(|t| t.reproduced > 0)
        .or(match tried.as_slice() {
            [one] => Some(one),
            _ => None,
        })
        .map(|t| t.polluter.clone());
    let search = plan.search.then(|| SearchStats {
        candidates: plan.candidates_found,
        tried: tried.iter().filter(|t| t.not_tried.is_none()).count(),
        reruns,
        suite_scenarios: plan.suite_scenarios,
        bisection_runs: verdict::bisection_runs(plan.suite_scenarios),
    });
    Confirmation {
        verdict,
        summary,
        run_id: plan.run_id.clone(),
        victim: plan.victim.clone(),
        polluter,
        folder: opts.dir.clone(),
        alone,
        tried,
        search,
        interrupted,
    }
}
