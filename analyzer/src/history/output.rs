//! Printing history answers: `--format table|json|markdown|csv`, like
//! `report`. Table, Markdown and CSV share one row layout per answer; JSON
//! is the documented contract (`docs/cli.md`, "history").

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::query::{Cause, Flaky, Pair, StoredRun, Window};
use crate::output::render::csv::line;
use crate::output::render::table::short_resource;

/// `history … --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Table,
    Json,
    Markdown,
    Csv,
}

fn time(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

pub(crate) fn short_time(us: i64) -> String {
    time(us)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// `auth: 'A wrong password is refused' (concurrent-mutation on main/users)`.
fn cause_text(c: &Cause) -> String {
    let who = match (&c.feature, &c.scenario) {
        (Some(f), Some(s)) => format!("{f}: '{s}'"),
        _ => "(no polluter scenario)".to_owned(),
    };
    format!("{who} ({} on {})", c.rule, short_resource(&c.resource))
}

/// "greet: 'Welcome page' failed 7 of 40 runs; 6 explained by auth: 'X' (concurrent-mutation on main/users); 1 unexplained".
pub fn flaky_sentence(f: &Flaky) -> String {
    let mut s = format!(
        "{}: '{}' failed {} of {} runs",
        f.feature, f.scenario, f.failures, f.runs
    );
    for c in &f.causes {
        s.push_str(&format!("; {} explained by {}", c.failures, cause_text(c)));
    }
    if f.unexplained > 0 {
        s.push_str(&format!("; {} unexplained", f.unexplained));
    }
    s
}

/// A table-shaped answer: title, header, rows, then sentences under it.
struct Sheet {
    title: String,
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
    empty: &'static str,
}

/// `c` with each of its lines passed through `f`: names come from trace
/// files (see `escape`), and a cell may hold several lines on purpose.
fn per_line(c: &str, f: fn(&str) -> std::borrow::Cow<'_, str>) -> String {
    c.split('\n').map(f).collect::<Vec<_>>().join("\n")
}

fn write_sheet(format: HistoryFormat, s: &Sheet, out: &mut dyn Write) -> io::Result<()> {
    use crate::escape::{markdown, text};
    match format {
        HistoryFormat::Table => {
            writeln!(out, "{}", text(&s.title))?;
            if s.rows.is_empty() {
                return writeln!(out, "{}", s.empty);
            }
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.force_no_tty();
            t.set_header(s.header.clone());
            for r in &s.rows {
                t.add_row(r.iter().map(|c| per_line(c, text)).collect::<Vec<_>>());
            }
            writeln!(out, "{t}")?;
            for n in &s.notes {
                writeln!(out, "- {}", text(n))?;
            }
            Ok(())
        }
        HistoryFormat::Markdown => {
            writeln!(out, "### {}\n", markdown(&s.title))?;
            if s.rows.is_empty() {
                return writeln!(out, "{}", s.empty);
            }
            let cell = |c: &str| {
                per_line(c, markdown)
                    .replace('|', "\\|")
                    .replace('\n', "<br>")
            };
            writeln!(out, "| {} |", s.header.join(" | "))?;
            writeln!(out, "|{}", "---|".repeat(s.header.len()))?;
            for r in &s.rows {
                let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
                writeln!(out, "| {} |", cells.join(" | "))?;
            }
            if !s.notes.is_empty() {
                writeln!(out)?;
                for n in &s.notes {
                    writeln!(out, "- {}", markdown(n))?;
                }
            }
            Ok(())
        }
        HistoryFormat::Csv => {
            line(out, &s.header)?;
            for r in &s.rows {
                line(
                    out,
                    r.iter().map(|c| text(&c.replace('\n', "; ")).into_owned()),
                )?;
            }
            Ok(())
        }
        HistoryFormat::Json => unreachable!("JSON is written by each answer"),
    }
}

fn window_json(w: &Window) -> Value {
    json!({
        "since": w.since_us.and_then(time),
        "rev": w.rev,
    })
}

fn write_json(v: &Value, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)
}

fn window_text(w: &Window) -> String {
    let mut s = match w.since_us {
        Some(us) => format!("since {}", short_time(us)),
        None => "all runs".to_owned(),
    };
    if let Some(r) = &w.rev {
        s.push_str(&format!(", revision {r}"));
    }
    s
}

/// `history flaky`.
pub fn write_flaky(
    format: HistoryFormat,
    database: &str,
    w: &Window,
    runs_in_window: i64,
    list: &[Flaky],
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == HistoryFormat::Json {
        let flaky: Vec<Value> = list
            .iter()
            .map(|f| {
                json!({
                    "feature": f.feature,
                    "scenario": f.scenario,
                    "runs": f.runs,
                    "failures": f.failures,
                    "passes": f.passes,
                    "rate": f.rate,
                    "first_failure": time(f.first_failure_us),
                    "last_failure": time(f.last_failure_us),
                    "causes": f.causes,
                    "unexplained": f.unexplained,
                })
            })
            .collect();
        return write_json(
            &json!({"database": database, "window": window_json(w), "runs": runs_in_window, "flaky": flaky}),
            out,
        );
    }
    let sheet = Sheet {
        title: format!(
            "Flaky scenarios ({}, {runs_in_window} runs in {database})",
            window_text(w)
        ),
        header: vec![
            "scenario",
            "runs",
            "failed",
            "rate",
            "first failure (UTC)",
            "last failure (UTC)",
            "likely causes (failures explained)",
            "unexplained",
        ],
        rows: list
            .iter()
            .map(|f| {
                vec![
                    format!("{}: {}", f.feature, f.scenario),
                    f.runs.to_string(),
                    f.failures.to_string(),
                    format!("{:.0}%", f.rate * 100.0),
                    short_time(f.first_failure_us),
                    short_time(f.last_failure_us),
                    f.causes
                        .iter()
                        .map(|c| format!("{}× {}", c.failures, cause_text(c)))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    f.unexplained.to_string(),
                ]
            })
            .collect(),
        notes: list.iter().map(flaky_sentence).collect(),
        empty: "no scenario both passed and failed in these runs",
    };
    write_sheet(format, &sheet, out)
}

/// `history pairs`.
pub fn write_pairs(
    format: HistoryFormat,
    database: &str,
    w: &Window,
    list: &[Pair],
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == HistoryFormat::Json {
        return write_json(
            &json!({"database": database, "window": window_json(w), "pairs": list}),
            out,
        );
    }
    let sheet = Sheet {
        title: format!("Polluter → victim pairs ({}, {database})", window_text(w)),
        header: vec![
            "polluter",
            "victim",
            "caused its failure",
            "failed, other cause",
            "overlapped, passed",
            "runs",
        ],
        rows: list
            .iter()
            .map(|p| {
                vec![
                    format!("{}: {}", p.polluter_feature, p.polluter),
                    format!("{}: {}", p.victim_feature, p.victim),
                    p.caused.to_string(),
                    p.failed_other_cause.to_string(),
                    p.overlapped_passed.to_string(),
                    p.runs.to_string(),
                ]
            })
            .collect(),
        notes: Vec::new(),
        empty: "no polluter/victim pair in these runs",
    };
    write_sheet(format, &sheet, out)
}

/// `history runs`.
pub fn write_runs(
    format: HistoryFormat,
    database: &str,
    w: &Window,
    list: &[StoredRun],
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == HistoryFormat::Json {
        let runs: Vec<Value> = list
            .iter()
            .map(|r| {
                json!({
                    "run_id": r.run_id,
                    "start": time(r.started_us),
                    "rev": r.rev,
                    "branch": r.branch,
                    "scenarios": r.scenarios,
                    "failed": r.failed,
                    "findings": r.findings,
                    "labels": r.labels,
                })
            })
            .collect();
        return write_json(
            &json!({"database": database, "window": window_json(w), "runs": runs}),
            out,
        );
    }
    let sheet = Sheet {
        title: format!("Runs ({}, newest first, {database})", window_text(w)),
        header: vec![
            "run",
            "start (UTC)",
            "revision",
            "branch",
            "scenarios",
            "failed",
            "findings",
            "labels",
        ],
        rows: list
            .iter()
            .map(|r| {
                vec![
                    r.run_id.clone(),
                    short_time(r.started_us),
                    r.rev.clone().unwrap_or_default(),
                    r.branch.clone().unwrap_or_default(),
                    r.scenarios.to_string(),
                    r.failed.to_string(),
                    r.findings.to_string(),
                    r.labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect(),
        notes: Vec::new(),
        empty: "no runs stored",
    };
    write_sheet(format, &sheet, out)
}
