//! `report --format table`: what a human reads in a terminal. First one
//! block per failed scenario (culprit, evidence, repro), then the grouped
//! hazards, then processes, overlaps and input warnings; every finding
//! only with `--verbose`.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};

use crate::model::{Report, Severity};
use crate::render::{confidence_text, triage, who, RenderOptions};

fn table(opts: &RenderOptions) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = opts.width {
        t.set_width(w);
    }
    if opts.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t
}

/// The table names a table by `schema/table`; the full resource (with the
/// database identity) is in the explanation and the JSON.
pub(crate) fn short_resource(resource: &str) -> &str {
    match resource.strip_prefix("shared:") {
        Some(rest) => match rest.rmatch_indices('/').nth(1) {
            Some((i, _)) => &rest[i + 1..],
            None => rest,
        },
        None => resource,
    }
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
fn write_failures(r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    if let Some(v) = &r.suite {
        writeln!(out, "{}: {}.", paint(opts, RED, "Suite verdict"), v.summary)?;
        writeln!(out, "     Fix: {}.\n", v.fix)?;
    }
    let failures = triage::failures(r);
    if !failures.is_empty() {
        writeln!(out, "Failed scenarios")?;
    }
    for (i, f) in failures.iter().enumerate() {
        writeln!(
            out,
            "{:>3}. {} {}",
            i + 1,
            f.title(),
            paint(opts, RED, "FAILED")
        )?;
        if f.causes.is_empty() {
            writeln!(out, "     {}.", triage::NO_TRACED_CAUSE)?;
            if f.identity_unknown() {
                writeln!(out, "     A finding would name a cause, but the database identity is unknown: name it (state_tracer::set_database or DATABASE_URL) and run again.")?;
            }
        }
        for c in &f.causes {
            writeln!(
                out,
                "     Culprit [{}]: {}: {} (pid {}), {} on {} at {}",
                c.rule,
                c.polluter.as_ref().map_or("", |p| p.feature.as_str()),
                c.polluter.as_ref().map_or("-", |p| p.scenario.as_str()),
                c.polluter.as_ref().map_or(0, |p| p.pid),
                c.action.as_deref().unwrap_or("change"),
                c.resource,
                time(c.at)
            )?;
            if let Some(e) = c.evidence.as_deref().or(c.why.as_deref()) {
                writeln!(out, "     Evidence: {e}")?;
            }
            if let Some(h) = &c.history {
                writeln!(out, "     History: {}", h.sentence())?;
            }
            if let Some(v) = verdict_text(c) {
                writeln!(out, "     Confirmed by reruns? {v}")?;
            }
            if let Some(rep) = &c.reproduce {
                writeln!(out, "     Reproduce: {}", rep.command)?;
            }
        }
        if !f.others.is_empty() {
            writeln!(
                out,
                "     {} other finding{} name{} it, none the cause (--verbose).",
                f.others.len(),
                if f.others.len() == 1 { "" } else { "s" },
                if f.others.len() == 1 { "s" } else { "" }
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
            writeln!(out, "  - [{}] {}", f.rule, f.explanation)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Hazards: overlaps on shared state that harmed no failed scenario, one
/// line per group.
fn write_hazards(r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    if r.hazards.is_empty() {
        return Ok(());
    }
    let pairs: u64 = r.hazards.iter().map(|h| h.pairs).sum();
    writeln!(
        out,
        "Hazards ({} groups, {pairs} scenario pairs; no failure traced to them)",
        r.hazards.len()
    )?;
    for h in &r.hazards {
        writeln!(
            out,
            "  {} {}",
            paint(opts, YELLOW, "-"),
            triage::hazard_line(h)
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
    for (i, f) in r.findings.iter().enumerate() {
        write!(out, "{:>3}. {}", i + 1, f.explanation)?;
        if let Some(n) = triage::occurrences_text(f) {
            write!(out, " ({n})")?;
        }
        writeln!(out)?;
        if let Some(c) = confidence_text(f) {
            writeln!(out, "     Confidence: {c}")?;
        }
        if let Some(e) = &f.evidence {
            writeln!(out, "     Evidence: {e}")?;
        }
        if let Some(h) = &f.history {
            writeln!(out, "     History: {}", h.sentence())?;
        }
        if let Some(v) = verdict_text(f) {
            writeln!(out, "     Confirmed by reruns? {v}")?;
        }
        if let Some(rep) = &f.reproduce {
            writeln!(
                out,
                "     Reproduce ({}):\n       {}",
                rep.scenarios.join(" -> "),
                rep.command
            )?;
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
    writeln!(
        out,
        "run {}  |  {} processes  |  {} records  |  {span}",
        if r.run_id.is_empty() {
            "(none)"
        } else {
            &r.run_id
        },
        r.processes.len(),
        r.records
    )?;
    if !r.other_runs.is_empty() {
        writeln!(
            out,
            "other runs in the inputs (use --run ID): {}",
            r.other_runs.join(", ")
        )?;
    }
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    writeln!(
        out,
        "{} failed scenarios, {} errors, {} hazard groups, {} findings, {} overlapping process pairs, {} input warnings\n",
        r.processes.iter().map(|p| p.failed).sum::<u64>(),
        errors,
        r.hazards.len(),
        r.findings.len(),
        // The list holds the most overlapping pairs; the count is all of them.
        r.overlap_pairs.max(r.overlaps.len() as u64),
        r.warnings.len()
    )?;

    write_failures(r, opts, out)?;
    write_hazards(r, opts, out)?;
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
                Cell::new(format!("{} (pid {})", o.b.label, o.b.pid)),
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
    if opts.verbose && !r.findings.is_empty() {
        write_findings(r, opts, out)?;
    } else if !r.findings.is_empty() {
        writeln!(
            out,
            "All {} findings with explanations and evidence: --verbose, --format json or --format csv.",
            r.findings.len()
        )?;
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
