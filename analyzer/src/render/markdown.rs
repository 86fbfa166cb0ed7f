//! `report --format markdown`: for CI job summaries (e.g. append to
//! `$GITHUB_STEP_SUMMARY`). Likely causes first, each with its reproduction.

use std::io::{self, Write};

use crate::model::{Report, Severity};
use crate::render::{confidence_text, who};

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    writeln!(out, "## State trace report: run `{}`\n", r.run_id)?;
    writeln!(
        out,
        "{} processes, {} records, **{} findings** ({} errors, {} warnings), {} overlapping process pairs, {} input warnings.\n",
        r.processes.len(),
        r.records,
        r.findings.len(),
        errors,
        r.findings.len() - errors,
        r.overlaps.len(),
        r.warnings.len()
    )?;
    if !r.other_runs.is_empty() {
        writeln!(
            out,
            "Other runs in the inputs (pick one with `--run`): {}\n",
            r.other_runs.join(", ")
        )?;
    }
    if !r.findings.is_empty() {
        writeln!(out, "### Findings\n")?;
        writeln!(
            out,
            "| # | severity | rule | victim | polluter | resource | at |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|")?;
        for (i, f) in r.findings.iter().enumerate() {
            let sev = if f.likely_cause {
                format!("**{}** (likely cause)", f.severity)
            } else {
                f.severity.to_string()
            };
            writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | `{}` | {} |",
                i + 1,
                sev,
                f.rule,
                cell(&who(f.victim.as_ref())),
                cell(&who(f.polluter.as_ref())),
                cell(&f.resource),
                f.at.format("%H:%M:%S%.6f")
            )?;
        }
        writeln!(out)?;
        for (i, f) in r.findings.iter().enumerate() {
            write!(out, "{}. **{}** — {}", i + 1, f.rule, f.explanation)?;
            if f.occurrences > 1 {
                write!(out, " ({} times)", f.occurrences)?;
            }
            if let Some(c) = confidence_text(f) {
                write!(out, " Confidence: {c}.")?;
            }
            if let Some(h) = &f.history {
                write!(out, " History: {}.", h.sentence())?;
            }
            writeln!(out)?;
            if let Some(rep) = &f.reproduce {
                writeln!(
                    out,
                    "   Reproduce ({}):\n   ```sh\n   {}\n   ```",
                    rep.scenarios.join(" → "),
                    rep.command
                )?;
            }
        }
        writeln!(out)?;
    }
    writeln!(out, "### Processes\n")?;
    writeln!(out, "| pid | label | scenarios | passed | failed | exit |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for p in &r.processes {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            p.pid,
            cell(&p.label),
            p.scenarios,
            p.passed,
            p.failed,
            if p.crashed { "**crashed**" } else { "clean" }
        )?;
    }
    writeln!(out)?;
    if !r.overlaps.is_empty() {
        writeln!(out, "### Overlapping scenarios\n")?;
        writeln!(out, "| process a | process b | pairs | first example |")?;
        writeln!(out, "|---|---|---|---|")?;
        for o in &r.overlaps {
            writeln!(
                out,
                "| {} ({}) | {} ({}) | {} | {} / {} |",
                cell(&o.a.label),
                o.a.pid,
                cell(&o.b.label),
                o.b.pid,
                o.count,
                cell(&who(Some(&o.example.a))),
                cell(&who(Some(&o.example.b)))
            )?;
        }
        writeln!(out)?;
    }
    if !r.warnings.is_empty() {
        writeln!(out, "### Input warnings\n")?;
        for w in &r.warnings {
            writeln!(out, "- `{}` line {}: {}", w.file, w.line, w.message)?;
        }
    }
    Ok(())
}
