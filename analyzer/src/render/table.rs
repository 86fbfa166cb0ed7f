//! `report --format table`: what a human reads in a terminal. Findings
//! first (likely causes on top), then processes, overlaps and input warnings.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};

use crate::model::{Report, Severity};
use crate::render::{confidence_text, who, RenderOptions};

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

/// How many findings are spelled out when no victim failed.
const TOP: usize = 5;

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

/// The findings a reader acts on first, spelled out: what happened, how
/// sure the analyzer is, and the command that reproduces it.
fn write_likely_causes(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let likely: Vec<_> = r.findings.iter().filter(|f| f.likely_cause).collect();
    let (title, spelled_out) = if likely.is_empty() {
        ("Top findings", r.findings.iter().take(TOP).collect())
    } else {
        ("Likely causes of the failures", likely)
    };
    writeln!(out, "{title}")?;
    for (i, f) in spelled_out.iter().enumerate() {
        writeln!(
            out,
            "{:>3}. [{}] victim {}  <-  polluter {}",
            i + 1,
            f.rule,
            who(f.victim.as_ref()),
            who(f.polluter.as_ref())
        )?;
        write!(out, "     {}", f.explanation)?;
        if f.occurrences > 1 {
            write!(out, " ({} times)", f.occurrences)?;
        }
        writeln!(out)?;
        if let Some(c) = confidence_text(f) {
            writeln!(out, "     Confidence: {c}")?;
        }
        if let Some(h) = &f.history {
            writeln!(out, "     History: {}", h.sentence())?;
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
        "{} findings ({} errors, {} warnings), {} overlapping process pairs, {} input warnings\n",
        r.findings.len(),
        errors,
        r.findings.len() - errors,
        r.overlaps.len(),
        r.warnings.len()
    )?;

    if !r.findings.is_empty() {
        write_likely_causes(r, out)?;
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
                at.push_str(&format!(" (x{})", f.occurrences));
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
        let likely = r.findings.iter().filter(|f| f.likely_cause).count();
        let explained = if likely == 0 {
            TOP.min(r.findings.len())
        } else {
            likely
        };
        if explained < r.findings.len() {
            writeln!(
                out,
                "Full explanations and reproduction hints for all {} findings: --format markdown or --format json.",
                r.findings.len()
            )?;
        }
        writeln!(out)?;
    }

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
        writeln!(out, "{t}")?;
    }
    Ok(())
}
