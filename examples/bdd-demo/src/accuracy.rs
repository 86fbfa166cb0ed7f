//! Scores the analyzer against ground truth (`bdd-demo accuracy DIR…`,
//! driven by `scripts/accuracy.sh`).
//!
//! Why it exists: "the analyzer names the right culprit" must be a number,
//! measured on real runs against facts that do not come from the traces.
//! Each DIR holds one run's `report.json` (`trace-analyzer report --format
//! json`) and `truth.jsonl` (what each cleanup really deleted, and who had
//! written it: [`crate::truth`]).
//!
//! It reads exactly these report members and ignores every other one, so
//! new fields (`evidence`, `hazards`, ...) change nothing:
//! `processes[].pid`, `processes[].order[].{feature,scenario,outcome}`,
//! `findings[].{severity,likely_cause}` and
//! `findings[].{victim,polluter}.{pid,feature,scenario,outcome}`.
//!
//! Scores, over every failed scenario whose rows another scenario deleted
//! (its true culprit is the earliest such cleanup):
//! - **top-1**: the likely causes name exactly one polluter, the culprit;
//! - **likely-cause polluters per failed victim**: distinct polluters of its
//!   `likely_cause` findings;
//! - **errors on unharmed passing scenarios**: `error` findings whose victim
//!   passed and had no row deleted by another scenario.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A scenario of a run: pid, feature, name.
pub type Who = (u64, String, String);

/// One run's scores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunScore {
    pub dir: PathBuf,
    /// Failed scenarios (from the report's process order).
    pub failed: usize,
    /// Failed scenarios with a true culprit (ground truth).
    pub judged: usize,
    /// Of those, how many had exactly the culprit as their one likely cause.
    pub top1: usize,
    /// Sum over judged victims of their distinct likely-cause polluters.
    pub likely_polluters: usize,
    /// `error` findings on passing scenarios no one harmed.
    pub errors_on_unharmed: usize,
    /// All findings, and those at `error`.
    pub findings: usize,
    pub errors: usize,
}

/// Reads and scores one run folder.
pub fn score_dir(dir: &Path) -> Result<RunScore, String> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let report: Value = serde_json::from_str(&read("report.json")?)
        .map_err(|e| format!("{}: {e}", dir.join("report.json").display()))?;
    let truth_text = read("truth.jsonl").unwrap_or_default();
    let mut truth = Vec::new();
    for (i, line) in truth_text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: {e}", dir.join("truth.jsonl").display(), i + 1))?;
        truth.push(v);
    }
    let mut s = score(&report, &truth);
    s.dir = dir.to_path_buf();
    Ok(s)
}

fn who(v: &Value) -> Option<Who> {
    Some((
        v.get("pid")?.as_u64()?,
        v.get("feature")?.as_str()?.to_owned(),
        v.get("scenario")?.as_str()?.to_owned(),
    ))
}

/// Scores one run: its report and its ground-truth lines.
pub fn score(report: &Value, truth: &[Value]) -> RunScore {
    // The earliest cleanup by someone else that deleted each scenario's rows.
    let mut culprit: BTreeMap<Who, (u64, Who)> = BTreeMap::new();
    for t in truth {
        let (Some(cleaner), Some(writer)) = (
            t.get("cleaner").and_then(who),
            t.get("writer").and_then(who),
        ) else {
            continue;
        };
        let rows = t.get("rows").and_then(Value::as_u64).unwrap_or(0);
        if cleaner == writer || rows == 0 {
            continue;
        }
        let ts = t.get("ts_us").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let e = culprit.entry(writer).or_insert((ts, cleaner.clone()));
        if ts < e.0 {
            *e = (ts, cleaner);
        }
    }
    let mut failed: Vec<Who> = Vec::new();
    for p in report["processes"].as_array().into_iter().flatten() {
        let Some(pid) = p["pid"].as_u64() else {
            continue;
        };
        for o in p["order"].as_array().into_iter().flatten() {
            if o["outcome"] == "FAILED" {
                if let (Some(f), Some(s)) = (o["feature"].as_str(), o["scenario"].as_str()) {
                    failed.push((pid, f.to_owned(), s.to_owned()));
                }
            }
        }
    }
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let mut likely: BTreeMap<Who, BTreeSet<Option<Who>>> = BTreeMap::new();
    let mut out = RunScore {
        failed: failed.len(),
        findings: findings.len(),
        ..RunScore::default()
    };
    for f in &findings {
        let victim = f.get("victim").and_then(who);
        let error = f["severity"] == "error";
        out.errors += usize::from(error);
        if f["likely_cause"] == true {
            if let Some(v) = &victim {
                likely
                    .entry(v.clone())
                    .or_default()
                    .insert(f.get("polluter").and_then(who));
            }
        }
        let passed = f.get("victim").and_then(|v| v.get("outcome")) == Some(&Value::from("PASSED"));
        if error && passed && victim.as_ref().is_some_and(|v| !culprit.contains_key(v)) {
            out.errors_on_unharmed += 1;
        }
    }
    for v in &failed {
        let Some((_, truly)) = culprit.get(v) else {
            continue;
        };
        out.judged += 1;
        let named = likely.get(v).cloned().unwrap_or_default();
        out.likely_polluters += named.len();
        if named.len() == 1 && named.contains(&Some(truly.clone())) {
            out.top1 += 1;
        }
    }
    out
}

/// The per-run table and the totals, as Markdown.
pub fn render(scores: &[RunScore]) -> String {
    let mut out = String::new();
    out.push_str("| run | failed | judged | top-1 | likely-cause polluters | errors on unharmed passing | findings (errors) |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    let mut t = RunScore::default();
    for s in scores {
        let name = s.dir.file_name().map_or_else(
            || s.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} ({}) |",
            s.failed,
            s.judged,
            s.top1,
            s.likely_polluters,
            s.errors_on_unharmed,
            s.findings,
            s.errors
        );
        t.failed += s.failed;
        t.judged += s.judged;
        t.top1 += s.top1;
        t.likely_polluters += s.likely_polluters;
        t.errors_on_unharmed += s.errors_on_unharmed;
        t.findings += s.findings;
        t.errors += s.errors;
    }
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            "n/a".to_owned()
        } else {
            format!("{:.2}", a as f64 / b as f64)
        }
    };
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "n/a".to_owned()
        } else {
            format!("{:.1} %", 100.0 * a as f64 / b as f64)
        }
    };
    let _ = writeln!(
        out,
        "\n{} runs; {} failed scenarios, {} with a true culprit in the ground truth.\n\n\
         - top-1: {} / {} = {}\n\
         - likely-cause polluters per failed victim: {}\n\
         - errors on passing scenarios no one harmed: {} ({} per run)\n\
         - findings per run: {} ({} errors)",
        scores.len(),
        t.failed,
        t.judged,
        t.top1,
        t.judged,
        pct(t.top1, t.judged),
        ratio(t.likely_polluters, t.judged),
        t.errors_on_unharmed,
        ratio(t.errors_on_unharmed, scores.len()),
        ratio(t.findings, scores.len()),
        ratio(t.errors, scores.len()),
    );
    out
}
