//! The commands of a pair, read from the trace headers: each process's own
//! command narrowed to its scenario (or both scenarios of one process), or
//! what the user passed instead, with why there is none when there is none.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Cmd, Pair, PairCmds, Shape, Who};
use crate::confirm::options::ConfirmOptions;
use crate::input::discover::SourceFile;
use crate::model::{ScenarioSpan, Timeline};
use crate::repro::{Runner, Together};

/// Variables set for a command, in order.
type Env = Vec<(String, String)>;

/// A process's command as a [`Runner`] and its working directory, or why
/// there is none.
pub(super) fn runner(
    file: Option<&SourceFile>,
    who: &Who,
    flag: &str,
) -> Result<(Runner, Option<PathBuf>, Env), String> {
    let Some(f) = file else {
        return Err(format!(
            "no trace file of pid {} (which ran {:?}) in the run; pass {flag}",
            who.pid,
            who.name()
        ));
    };
    let format = f.format.provides();
    if !format.records_command() || (f.argv.is_empty() && f.rerun.is_none()) {
        return Err(format!(
            "{} records no command for {:?} ({} file): pass {flag} with a command that runs only it",
            f.display(),
            who.name(),
            if format.records_command() { "no argv in its header" } else { format.title() }
        ));
    }
    let r = Runner::of(&f.argv, f.rerun.as_ref()).ok_or_else(|| {
        format!(
            "cannot narrow the command of {:?} to one scenario: {:?} is not recognised as cucumber-rs, libtest, nextest, go test or pytest and its header has no `rerun` template (docs/format.md); pass {flag}",
            who.name(),
            f.argv.join(" ")
        )
    })?;
    let env = f
        .env
        .iter()
        .filter(|(_, v)| !crate::repro::is_masked(v))
        .cloned()
        .collect();
    Ok((r, f.cwd.as_ref().map(PathBuf::from), env))
}

/// The commands of a pair (or why there are none) and the shape's caveat.
pub(super) fn pair_cmds(
    p: &Pair,
    victim: &Who,
    vs: &ScenarioSpan,
    tl: &Timeline,
    files: &HashMap<u32, &SourceFile>,
    opts: &ConfirmOptions,
) -> (Result<PairCmds, String>, Option<String>) {
    let traced = |who: &Who, flag: &str, pick: &dyn Fn(&Runner) -> Vec<String>| {
        runner(files.get(&who.pid).copied(), who, flag).map(|(r, cwd, env)| Cmd {
            argv: pick(&r),
            cwd,
            env,
            from_trace: true,
        })
    };
    match p.shape {
        Shape::TwoAtOnce | Shape::TwoInOrder => {
            let v = match &opts.victim_cmd {
                Some(c) => Ok(Cmd::shell(c)),
                None => traced(victim, "--victim-cmd", &|r| r.one(victim.pick())),
            };
            let pl = match &opts.polluter_cmd {
                Some(c) => Ok(Cmd::shell(c)),
                None => traced(&p.polluter, "--polluter-cmd", &|r| r.one(p.polluter.pick())),
            };
            (
                v.and_then(|victim| pl.map(|polluter| PairCmds::Two { victim, polluter })),
                None,
            )
        }
        Shape::OneAtOnce | Shape::OneInOrder => {
            if let Some(c) = &opts.victim_cmd {
                return (
                    Ok(PairCmds::One(Cmd::shell(c))),
                    Some(
                        "--victim-cmd runs both scenarios in one process: it must select both"
                            .into(),
                    ),
                );
            }
            let how = if p.shape == Shape::OneAtOnce {
                Together::AtOnce
            } else {
                Together::InOrder
            };
            let first_ran_first = tl
                .scenarios
                .iter()
                .find(|s| s.pid == vs.pid && p.polluter.is(&s.feature, &s.name))
                .is_none_or(|s| s.start <= vs.start);
            let mut caveat = None;
            let cmd = runner(files.get(&victim.pid).copied(), victim, "--victim-cmd").map(
                |(r, cwd, env)| {
                    let n = r.two_as_traced(p.polluter.pick(), victim.pick(), how, first_ran_first);
                    caveat = n.caveat;
                    Cmd {
                        argv: n.argv,
                        cwd,
                        env,
                        from_trace: true,
                    }
                },
            );
            (cmd.map(PairCmds::One), caveat)
        }
    }
}
