//! `report --format table`: what a human reads in a terminal. Findings
//! first (likely causes on top), then processes, overlaps and input warnings.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};

use crate::model::{Report, Severity};
use crate::render::{who, RenderOptions};

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
        writeln!(out, "Findings")?;
        let mut t = table(opts);
        t.set_header(vec![
            "#", "severity", "rule", "victim", "polluter", "resource", "at",
        ]);
        for (i, f) in r.findings.iter().enumerate() {
            let sev = Cell::new(if f.likely_cause {
                format!("{} (likely cause)", f.severity)
            } else {
                f.severity.to_string()
            });
            let sev = match (opts.color, f.severity) {
                (false, _) => sev,
                (true, Severity::Error) => sev.fg(Color::Red),
                (true, Severity::Warning) => sev.fg(Color::Yellow),
            };
            t.add_row(vec![
                Cell::new(i + 1),
                sev,
                Cell::new(f.rule),
                Cell::new(who(f.victim.as_ref())),
                Cell::new(who(f.polluter.as_ref())),
                Cell::new(&f.resource),
                Cell::new(time(f.at)),
            ]);
        }
        writeln!(out, "{t}")?;
        for (i, f) in r.findings.iter().enumerate() {
            write!(out, "{:>3}. {}", i + 1, f.explanation)?;
            if f.occurrences > 1 {
                write!(out, " ({} times)", f.occurrences)?;
            }
            if let Some(c) = f.confidence {
                write!(out, " Confidence: {c}")?;
                if let Some(why) = &f.why {
                    write!(out, " ({why})")?;
                }
                write!(out, ".")?;
            }
            writeln!(out)?;
            if let Some(rep) = &f.reproduce {
                writeln!(
                    out,
                    "     Reproduce ({}):\n       {}",
                    rep.scenarios.join(" -> "),
                    rep.command
                )?;
            }
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
