//! `report --format table`: what a human reads in a terminal. First one
//! block per failed scenario (culprit, evidence, repro), then the top
//! hazard groups, then processes, overlaps and input warnings; every
//! finding and every hazard group only with `--verbose`.
//!
//! Readable at a glance: no line longer than [`MAX_WIDTH`] characters
//! (prose is wrapped, repro commands are continued with ` \`), resource
//! names shortened to their last path segments where that names one
//! resource of the report (the full names are listed at the end, in the
//! JSON, and everywhere with `--verbose`).
//!
//! The parts: `names` shortens resource names, `wrap` fits prose and
//! commands to the width; this file lays out the report.

mod names;
mod wrap;

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};

use crate::model::{Report, Severity};
use crate::output::render::{confidence_text, triage, who, RenderOptions};

pub(crate) use names::short_resource;
use names::Names;
use wrap::{wrapped, write_command};

/// The longest line the table format writes (tables and prose alike),
/// whatever the terminal's width.
pub const MAX_WIDTH: u16 = 160;

/// How many hazard groups are listed without `--verbose`.
pub const SHOWN_HAZARDS: usize = 5;

/// The width to fill: `opts.width`, else the terminal's, at most
/// [`MAX_WIDTH`].
fn line_width(opts: &RenderOptions) -> u16 {
    opts.width
        .or_else(|| Table::new().width())
        .unwrap_or(MAX_WIDTH)
        .clamp(60, MAX_WIDTH)
}

fn table(opts: &RenderOptions) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_width(line_width(opts));
    if opts.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t
}

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";

/// `text` in an ANSI colour when colour is on.
fn paint(opts: &RenderOptions, colour: &str, text: &str) -> String {
    if opts.color {
        format!("{colour}{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// The first screen: the suite-level verdict when there is one, then one
/// block per failed scenario, then other errors.
fn write_failures(
    r: &Report,
    opts: &RenderOptions,
    names: &Names,
    out: &mut dyn Write,
) -> io::Result<()> {
    let w = line_width(opts);
    let ind = "     ";
    if let Some(v) = &r.suite {
        let head = format!("{}: ", paint(opts, RED, "Suite verdict"));
        wrapped(
            out,
            w,
            &head,
            ind,
            &format!("{}.", names.shorten(&v.summary)),
        )?;
        wrapped(
            out,
            w,
            "     Fix: ",
            ind,
            &format!("{}.", names.shorten(&v.fix)),
        )?;
        writeln!(out)?;
    }
    let failures = triage::failures(r);
    if !failures.is_empty() {
        // Failures are not numbered: the only numbers shown are findings',
        // the ones `confirm --finding N` takes.
        writeln!(
            out,
            "Failed scenarios (finding N: confirm it with `trace-analyzer confirm --finding N`)"
        )?;
    }
    for f in &failures {
        let head = "  - ";
        wrapped(
            out,
            w,
            head,
            ind,
            &format!("{} {}", f.title(), paint(opts, RED, "FAILED")),
        )?;
        if f.causes.is_empty() {
            wrapped(out, w, ind, ind, &format!("{}.", triage::NO_TRACED_CAUSE))?;
            if f.identity_unknown() {
                wrapped(out, w, ind, ind, "A finding would name a cause, but the database identity is unknown: name it (state_tracer::set_database or DATABASE_URL) and run again.")?;
            }
        }
        for c in &f.causes {
            // Polluter and victim in one process (tests as threads of one
            // test binary): say so rather than repeat the pid.
            let pid = match c.polluter.as_ref() {
                Some(p) if p.pid == f.process.pid => format!("pid {}, the same process", p.pid),
                Some(p) => format!("pid {}", p.pid),
                None => "pid 0".to_owned(),
            };
            let culprit = format!(
                "{}: {} ({pid}), {} on {} at {}",
                c.polluter.as_ref().map_or("", |p| p.feature.as_str()),
                c.polluter.as_ref().map_or("-", |p| p.scenario.as_str()),
                c.action.as_deref().unwrap_or("change"),
                names.shorten(&c.resource),
                time(c.at)
            );
            wrapped(
                out,
                w,
                &format!(
                    "{ind}Culprit [{}, finding {}]: ",
                    c.rule,
                    triage::number(r, c)
                ),
                ind,
                &culprit,
            )?;
            if let Some(e) = c.evidence.as_deref().or(c.why.as_deref()) {
                wrapped(out, w, &format!("{ind}Evidence: "), ind, &names.shorten(e))?;
            }
            if let Some(h) = &c.history {
                wrapped(out, w, &format!("{ind}History: "), ind, &h.sentence())?;
            }
            if let Some(v) = verdict_text(c) {
                writeln!(out, "     Confirmed by reruns? {v}")?;
            }
            if let Some(rep) = &c.reproduce {
                writeln!(out, "{ind}Reproduce:")?;
                write_command(out, w, "       ", &names.shorten(&rep.command))?;
            }
        }
        if !f.others.is_empty() {
            wrapped(
                out,
                w,
                ind,
                ind,
                &format!(
                    "{} {} it, none the cause ({}; --verbose).",
                    crate::count(f.others.len() as u64, "other finding", "other findings"),
                    if f.others.len() == 1 { "names" } else { "name" },
                    triage::numbers(r, &f.others),
                ),
            )?;
        }
    }
    if !failures.is_empty() {
        writeln!(out)?;
    }
    let errors = triage::other_errors(r);
    if !errors.is_empty() {
        writeln!(out, "Other errors")?;
        for f in errors {
            let head = format!("  - [{}, finding {}] ", f.rule, triage::number(r, f));
            wrapped(out, w, &head, "    ", &names.shorten(&f.explanation))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Hazards: overlaps on shared state that harmed no failed scenario, one
/// entry per group; the first [`SHOWN_HAZARDS`] (the report's order: the
/// most pairs first), then how many more, unless `--verbose`.
fn write_hazards(
    r: &Report,
    opts: &RenderOptions,
    names: &Names,
    out: &mut dyn Write,
) -> io::Result<()> {
    if r.hazards.is_empty() {
        return Ok(());
    }
    let pairs: u64 = r.hazards.iter().map(|h| h.pairs).sum();
    writeln!(
        out,
        "Hazards ({}, {}; no failure traced to them)",
        crate::count(r.hazards.len() as u64, "group", "groups"),
        crate::count(pairs, "scenario pair", "scenario pairs"),
    )?;
    let shown = if opts.verbose {
        r.hazards.len()
    } else {
        SHOWN_HAZARDS
    };
    let head = format!("  {} ", paint(opts, YELLOW, "-"));
    for h in r.hazards.iter().take(shown) {
        wrapped(
            out,
            line_width(opts),
            &head,
            "    ",
            &names.shorten(&triage::hazard_line(h)),
        )?;
    }
    if r.hazards.len() > shown {
        let rest = &r.hazards[shown..];
        writeln!(
            out,
            "  and {} more {} ({}; --verbose or --format json lists them)",
            rest.len(),
            if rest.len() == 1 { "group" } else { "groups" },
            crate::count(
                rest.iter().map(|h| h.pairs).sum::<u64>(),
                "scenario pair",
                "scenario pairs"
            ),
        )?;
    }
    writeln!(out)
}

/// The short names used above, with their full names (`--verbose` uses
/// the full names throughout).
fn write_names(names: &Names, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    if names.pairs.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "Resources (short names above; full names with --verbose and in --format json)"
    )?;
    let mut pairs: Vec<&(String, String)> = names.pairs.iter().collect();
    pairs.sort_by(|a, b| a.1.cmp(&b.1));
    for (full, short) in pairs {
        wrapped(
            out,
            line_width(opts),
            &format!("  {short} = "),
            "      ",
            full,
        )?;
    }
    writeln!(out)
}

/// Every finding, one row each (`--verbose`).
fn write_findings(r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "Findings")?;
    let mut t = table(opts);
    t.set_header(vec![
        "#",
        "severity, confidence",
        "rule",
        "victim",
        "polluter",
        "action",
        "resource",
        "at",
    ]);
    for (i, f) in r.findings.iter().enumerate() {
        let mut sev = f.severity.to_string();
        if let Some(c) = f.confidence {
            sev.push_str(&format!(", {c}"));
        }
        if f.likely_cause {
            sev.push_str("\nlikely cause");
        }
        let sev = match (opts.color, f.severity) {
            (false, _) => Cell::new(sev),
            (true, Severity::Error) => Cell::new(sev).fg(Color::Red),
            (true, Severity::Warning) => Cell::new(sev).fg(Color::Yellow),
        };
        let mut at = time(f.at);
        if f.occurrences > 1 {
            at.push_str(&format!(" ({} uses)", f.occurrences));
        }
        t.add_row(vec![
            Cell::new(i + 1),
            sev,
            Cell::new(f.rule),
            Cell::new(who(f.victim.as_ref())),
            Cell::new(who(f.polluter.as_ref())),
            Cell::new(f.action.as_deref().unwrap_or("")),
            Cell::new(short_resource(&f.resource)),
            Cell::new(at),
        ]);
    }
    writeln!(out, "{t}")?;
    let w = line_width(opts);
    let ind = "     ";
    for (i, f) in r.findings.iter().enumerate() {
        let mut text = f.explanation.clone();
        if let Some(n) = triage::occurrences_text(f) {
            text.push_str(&format!(" ({n})"));
        }
        wrapped(out, w, &format!("{:>3}. ", i + 1), ind, &text)?;
        if let Some(c) = confidence_text(f) {
            wrapped(out, w, &format!("{ind}Confidence: "), ind, &c)?;
        }
        if let Some(e) = &f.evidence {
            wrapped(out, w, &format!("{ind}Evidence: "), ind, e)?;
        }
        if let Some(h) = &f.history {
            wrapped(out, w, &format!("{ind}History: "), ind, &h.sentence())?;
        }
        if let Some(v) = verdict_text(f) {
            writeln!(out, "     Confirmed by reruns? {v}")?;
        }
        if let Some(rep) = &f.reproduce {
            wrapped(
                out,
                w,
                &format!("{ind}Reproduce ("),
                ind,
                &format!("{}):", rep.scenarios.join(" -> ")),
            )?;
            write_command(out, w, "       ", &rep.command)?;
        }
    }
    writeln!(out)
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%H:%M:%S%.6f").to_string()
}

pub fn write(r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let span = match (r.start, r.end) {
        (Some(s), Some(e)) => format!(
            "{} .. {}",
            s.format("%Y-%m-%d %H:%M:%S%.3f"),
            e.format("%H:%M:%S%.3f UTC")
        ),
        _ => "no records".into(),
    };
    let names = if opts.verbose {
        Names::none()
    } else {
        Names::of(r)
    };
    writeln!(
        out,
        "run {}  |  {}  |  {}  |  {span}",
        if r.run_id.is_empty() {
            "(none)"
        } else {
            &r.run_id
        },
        crate::count(r.processes.len() as u64, "process", "processes"),
        crate::count(r.records, "record", "records"),
    )?;
    if !r.other_runs.is_empty() {
        wrapped(
            out,
            line_width(opts),
            "other runs in the inputs (use --run ID): ",
            "  ",
            &r.other_runs.join(", "),
        )?;
    }
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    writeln!(
        out,
        "{}, {}, {}, {}, {}, {}\n",
        crate::count(
            r.processes.iter().map(|p| p.failed).sum::<u64>(),
            "failed scenario",
            "failed scenarios"
        ),
        crate::count(errors as u64, "error", "errors"),
        crate::count(r.hazards.len() as u64, "hazard group", "hazard groups"),
        crate::count(r.findings.len() as u64, "finding", "findings"),
        // The list holds the most overlapping pairs; the count is all of them.
        crate::count(
            r.overlap_pairs.max(r.overlaps.len() as u64),
            "overlapping process pair",
            "overlapping process pairs"
        ),
        crate::count(r.warnings.len() as u64, "input warning", "input warnings"),
    )?;

    write_failures(r, opts, &names, out)?;
    write_hazards(r, opts, &names, out)?;
    writeln!(out, "Processes")?;
    let mut t = table(opts);
    t.set_header(vec![
        "pid",
        "label",
        "scenarios",
        "passed",
        "failed",
        "exit",
        "first",
        "last",
    ]);
    for p in &r.processes {
        let exit = if p.crashed { "CRASHED" } else { "clean" };
        let exit = if opts.color && p.crashed {
            Cell::new(exit).fg(Color::Red)
        } else {
            Cell::new(exit)
        };
        t.add_row(vec![
            Cell::new(p.pid),
            Cell::new(&p.label),
            Cell::new(p.scenarios),
            Cell::new(p.passed),
            Cell::new(p.failed),
            exit,
            Cell::new(p.first.map(time).unwrap_or_default()),
            Cell::new(p.last.map(time).unwrap_or_default()),
        ]);
    }
    writeln!(out, "{t}\n")?;

    if !r.overlaps.is_empty() {
        writeln!(out, "Overlapping scenarios")?;
        let mut t = table(opts);
        t.set_header(vec!["process a", "process b", "pairs", "first example"]);
        for o in &r.overlaps {
            t.add_row(vec![
                Cell::new(format!("{} (pid {})", o.a.label, o.a.pid)),
                // Tests as threads of one process overlap with each other.
                Cell::new(if o.a.pid == o.b.pid {
                    "the same process".to_owned()
                } else {
                    format!("{} (pid {})", o.b.label, o.b.pid)
                }),
                Cell::new(o.count),
                Cell::new(format!(
                    "{} / {} at {}",
                    who(Some(&o.example.a)),
                    who(Some(&o.example.b)),
                    time(o.example.at)
                )),
            ]);
        }
        writeln!(out, "{t}\n")?;
    }

    if !r.warnings.is_empty() {
        writeln!(out, "Input warnings")?;
        let mut t = table(opts);
        t.set_header(vec!["file", "line", "problem"]);
        for w in &r.warnings {
            t.add_row(vec![
                Cell::new(&w.file),
                Cell::new(w.line),
                Cell::new(&w.message),
            ]);
        }
        writeln!(out, "{t}\n")?;
    }
    write_names(&names, opts, out)?;
    if opts.verbose && !r.findings.is_empty() {
        write_findings(r, opts, out)?;
    } else if !r.findings.is_empty() {
        let all = match r.findings.len() {
            1 => "The finding with its explanation and evidence".to_owned(),
            n => format!("All {n} findings with explanations and evidence"),
        };
        writeln!(out, "{all}: --verbose, --format json or --format csv.")?;
    }
    Ok(())
}

/// `run --confirm`'s verdict on a likely cause, as one line; a likely cause
/// it did not reach says it is still a suspicion.
pub(crate) fn verdict_text(f: &crate::model::Finding) -> Option<String> {
    match (&f.verdict, &f.confirm) {
        (Some(v), Some(c)) => Some(c.sentence(*v)),
        (Some(v), None) => Some(v.as_str().to_owned()),
        _ => None,
    }
}
