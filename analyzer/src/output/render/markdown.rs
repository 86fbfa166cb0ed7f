//! `report --format markdown`: for CI job summaries (e.g. append to
//! `$GITHUB_STEP_SUMMARY`). The same order as the table: one block per
//! failed scenario, the grouped hazards, the processes, then every finding
//! folded away in a `<details>` block.

use std::io::{self, Write};

use crate::escape;
use crate::model::{Report, Severity};
use crate::output::render::{confidence_text, triage, who};

// The report reaching this renderer has its strings passed through
// `escape::text` already (no control characters); these helpers add the
// Markdown part: HTML-significant characters and table pipes.

/// Escapes text for a table cell or a line: HTML as entities, `|` as `\|`.
fn cell(s: &str) -> String {
    escape::markdown(s).replace('|', "\\|")
}

/// Text outside a table: HTML as entities.
fn md(s: &str) -> String {
    escape::markdown(s).into_owned()
}

/// A code span for a table cell. A value with a backtick (which would end
/// the span) or HTML-significant characters (renderers differ on which of
/// a span and a tag starts first) is written as escaped text instead.
fn code(s: &str) -> String {
    if s.contains(['`', '<', '>', '&']) {
        cell(s)
    } else {
        format!("`{}`", s.replace('|', "\\|"))
    }
}

/// A shell command in a fenced block (shown literally, so `&&` and `<` stay
/// copyable); one containing a fence marker is written as escaped text.
fn fenced(indent: &str, command: &str) -> String {
    if command.contains("```") {
        format!("{indent}{}", md(command))
    } else {
        format!("{indent}```sh\n{indent}{command}\n{indent}```")
    }
}

pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    writeln!(out, "## State trace report: run {}\n", code(&r.run_id))?;
    writeln!(
        out,
        "{} processes, {} records, **{} failed scenarios**, {} errors, {} hazard groups, {} findings, {} overlapping process pairs, {} input warnings.\n",
        r.processes.len(),
        r.records,
        r.processes.iter().map(|p| p.failed).sum::<u64>(),
        errors,
        r.hazards.len(),
        r.findings.len(),
        // The list holds the most overlapping pairs; the count is all of them.
        r.overlap_pairs.max(r.overlaps.len() as u64),
        r.warnings.len()
    )?;
    if !r.other_runs.is_empty() {
        writeln!(
            out,
            "Other runs in the inputs (pick one with `--run`): {}\n",
            md(&r.other_runs.join(", "))
        )?;
    }
    write_failures(r, out)?;
    if !r.hazards.is_empty() {
        writeln!(out, "### Hazards\n")?;
        writeln!(
            out,
            "Overlaps on shared state that no failure was traced to, one line per group.\n"
        )?;
        for h in &r.hazards {
            writeln!(out, "- {}", cell(&triage::hazard_line(h)))?;
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
    if !r.findings.is_empty() {
        writeln!(
            out,
            "<details><summary>All {} findings</summary>\n",
            r.findings.len()
        )?;
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
                "| {} | {} | `{}` | {} | {} | {} | {} |",
                i + 1,
                sev,
                f.rule,
                cell(&who(f.victim.as_ref())),
                cell(&who(f.polluter.as_ref())),
                code(&f.resource),
                f.at.format("%H:%M:%S%.6f")
            )?;
        }
        writeln!(out)?;
        for (i, f) in r.findings.iter().enumerate() {
            write!(out, "{}. **{}** — {}", i + 1, f.rule, md(&f.explanation))?;
            if let Some(n) = triage::occurrences_text(f) {
                write!(out, " ({})", md(&n))?;
            }
            if let Some(c) = confidence_text(f) {
                write!(out, " Confidence: {}.", md(&c))?;
            }
            if let Some(e) = &f.evidence {
                write!(out, " Evidence: {}.", md(e))?;
            }
            if let Some(h) = &f.history {
                write!(out, " History: {}.", md(&h.sentence()))?;
            }
            if let Some(v) = super::table::verdict_text(f) {
                write!(out, " **Confirmed by reruns?** {}.", md(&v))?;
            }
            writeln!(out)?;
            if let Some(rep) = &f.reproduce {
                writeln!(
                    out,
                    "   Reproduce ({}):\n{}",
                    md(&rep.scenarios.join(" → ")),
                    fenced("   ", &rep.command)
                )?;
            }
        }
        writeln!(out, "\n</details>\n")?;
    }
    if !r.warnings.is_empty() {
        writeln!(out, "### Input warnings\n")?;
        for w in &r.warnings {
            writeln!(
                out,
                "- {} line {}: {}",
                code(&w.file),
                w.line,
                md(&w.message)
            )?;
        }
    }
    Ok(())
}

/// One section per failed scenario: culprit, evidence, repro; or why none.
fn write_failures(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    if let Some(v) = &r.suite {
        writeln!(out, "### Suite verdict\n")?;
        writeln!(out, "{}.\n\n**Fix:** {}.\n", cell(&v.summary), cell(&v.fix))?;
    }
    let failures = triage::failures(r);
    if !failures.is_empty() {
        writeln!(out, "### Failed scenarios\n")?;
        writeln!(
            out,
            "Finding numbers are the ones `trace-analyzer confirm --finding N` takes.\n"
        )?;
    }
    for f in &failures {
        writeln!(out, "#### {} FAILED\n", cell(&f.title()))?;
        if f.causes.is_empty() {
            writeln!(out, "{}.", cell(triage::NO_TRACED_CAUSE))?;
            if f.identity_unknown() {
                writeln!(out, " A finding would name a cause, but the database identity is unknown: name it (`state_tracer::set_database` or `DATABASE_URL`) and run again.")?;
            }
            writeln!(out)?;
        }
        for c in &f.causes {
            writeln!(
                out,
                "- **Culprit** (`{}`, finding {}): {} — {} on {} at {}",
                c.rule,
                triage::number(r, c),
                cell(&who(c.polluter.as_ref())),
                code(c.action.as_deref().unwrap_or("change")),
                code(&c.resource),
                c.at.format("%H:%M:%S%.6f")
            )?;
            if let Some(e) = c.evidence.as_deref().or(c.why.as_deref()) {
                writeln!(out, "- Evidence: {}", cell(e))?;
            }
            if let Some(h) = &c.history {
                writeln!(out, "- History: {}", cell(&h.sentence()))?;
            }
            if let Some(v) = super::table::verdict_text(c) {
                writeln!(out, "- Confirmed by reruns? {}", cell(&v))?;
            }
            if let Some(rep) = &c.reproduce {
                writeln!(out, "- Reproduce:\n{}", fenced("  ", &rep.command))?;
            }
        }
        if !f.others.is_empty() {
            writeln!(
                out,
                "- {} {} it, none the cause ({}, below).",
                crate::count(f.others.len() as u64, "other finding", "other findings"),
                if f.others.len() == 1 { "names" } else { "name" },
                triage::numbers(r, &f.others),
            )?;
        }
        writeln!(out)?;
    }
    let errors = triage::other_errors(r);
    if !errors.is_empty() {
        writeln!(out, "### Other errors\n")?;
        for f in errors {
            writeln!(
                out,
                "- `{}` (finding {}): {}",
                f.rule,
                triage::number(r, f),
                cell(&f.explanation)
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}
