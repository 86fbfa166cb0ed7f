//! Grades one run's report (`trace-analyzer report --format json`) against
//! its ground truth ([`crate::truth`]), and sums runs per suite shape.
//!
//! It reads exactly these report members and ignores every other one:
//! `processes[].pid`, `processes[].order[].{feature,scenario,outcome}`,
//! `findings[].{severity,likely_cause}` and
//! `findings[].{victim,polluter}.{pid,feature,scenario,outcome}`.
//!
//! The true culprits of a failed scenario come from the truth file only:
//! - `needs`: whoever else changed one of those rows before the `failed`
//!   line, or removed it at any time (a row is removed once, and its
//!   remover may write its line after the victim noticed), as the database
//!   said through `RETURNING`; the first primary;
//! - `culprits`: named directly, the first primary, `also` further ones;
//! - `genuine`: none, and none may be blamed.
//!
//! Older demo truth files (`{"cleaner":…,"writer":…,"rows":…}` lines,
//! `examples/bdd-demo/src/truth.rs`) are read too: a failed scenario's
//! culprit is the earliest cleanup by someone else that deleted its rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::truth::Who;

/// What the truth says about one failed scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// True culprits, primary first.
    pub culprits: Vec<Who>,
    /// Failed for a reason that is not about shared state.
    pub genuine: bool,
}

/// One run's scores (or a sum of runs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub runs: usize,
    /// Failed scenarios (from the report's process order).
    pub failed: usize,
    /// Failed scenarios with a true culprit.
    pub judged: usize,
    /// Of those: exactly one likely-cause polluter, a true culprit.
    pub top1: usize,
    /// Of those: the primary culprit is among the likely causes.
    pub recalled: usize,
    /// Of those: some likely cause is named at all ("explained").
    pub explained: usize,
    /// Sum over judged victims of their distinct likely-cause polluters.
    pub likely_polluters: usize,
    /// Failed for a reason not about shared state, and of those how many
    /// were given a likely cause anyway.
    pub genuine: usize,
    pub genuine_blamed: usize,
    /// Failed scenarios the truth says nothing about (a harness gap).
    pub unknown: usize,
    /// `error` findings whose victim passed.
    pub errors_on_passing: usize,
    pub findings: usize,
    pub errors: usize,
}

impl Score {
    pub fn add(&mut self, o: &Score) {
        self.runs += o.runs;
        self.failed += o.failed;
        self.judged += o.judged;
        self.top1 += o.top1;
        self.recalled += o.recalled;
        self.explained += o.explained;
        self.likely_polluters += o.likely_polluters;
        self.genuine += o.genuine;
        self.genuine_blamed += o.genuine_blamed;
        self.unknown += o.unknown;
        self.errors_on_passing += o.errors_on_passing;
        self.findings += o.findings;
        self.errors += o.errors;
    }

    /// top-1 as a fraction of judged victims (1.0 when none).
    pub fn top1_rate(&self) -> f64 {
        frac(self.top1, self.judged)
    }

    pub fn recall_rate(&self) -> f64 {
        frac(self.recalled, self.judged)
    }

    pub fn explained_rate(&self) -> f64 {
        frac(self.explained, self.judged)
    }

    /// Likely-cause polluters per judged victim (0 when none).
    pub fn likely_per_victim(&self) -> f64 {
        if self.judged == 0 {
            0.0
        } else {
            self.likely_polluters as f64 / self.judged as f64
        }
    }
}

fn frac(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// A run folder's `meta.json`: which shape and database it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Meta {
    pub shape: String,
    pub db: String,
}

/// Reads one run folder (`report.json`, `truth.jsonl`, `meta.json`).
pub fn score_dir(dir: &Path) -> Result<(Meta, Score), String> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let report: Value = serde_json::from_str(&read("report.json")?)
        .map_err(|e| format!("{}: {e}", dir.join("report.json").display()))?;
    let truth = parse_truth(&read("truth.jsonl").unwrap_or_default())
        .map_err(|(line, e)| format!("{}:{line}: {e}", dir.join("truth.jsonl").display()))?;
    let meta: Value = read("meta.json")
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let meta = Meta {
        shape: meta["shape"].as_str().unwrap_or("demo").to_owned(),
        db: meta["db"].as_str().unwrap_or("?").to_owned(),
    };
    Ok((meta, score(&report, &truth)))
}

/// Parses truth lines; `Err((line, message))` names the first bad line.
pub fn parse_truth(text: &str) -> Result<Vec<Value>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| (i + 1, e.to_string()))?);
    }
    Ok(out)
}

/// The verdict on every failed scenario the truth speaks of.
pub fn verdicts(truth: &[Value]) -> BTreeMap<Who, Verdict> {
    // A row is removed once (`RETURNING` gives it to one statement), but
    // its remover may write its line after the victim wrote `failed`: every
    // removal counts. Changes can come again after the failure and did not
    // cause it: a `failed` line counts only those before it.
    let mut removed: BTreeMap<&str, Vec<Who>> = BTreeMap::new();
    for t in truth.iter().filter(|t| t["ev"] == "removed") {
        let Some(by) = Who::from_json(&t["by"]) else { continue };
        for tag in t["tags"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            removed.entry(tag).or_default().push(by.clone());
        }
    }
    let mut touched: BTreeMap<&str, Vec<Who>> = BTreeMap::new();
    // Older demo format: earliest cleaner of each writer's rows.
    let mut demo: BTreeMap<Who, (u64, Who)> = BTreeMap::new();
    let mut out: BTreeMap<Who, Verdict> = BTreeMap::new();
    for t in truth {
        match t["ev"].as_str() {
            Some("changed") => {
                let Some(by) = Who::from_json(&t["by"]) else { continue };
                for tag in t["tags"].as_array().into_iter().flatten() {
                    if let Some(tag) = tag.as_str() {
                        touched.entry(tag).or_default().push(by.clone());
                    }
                }
            }
            Some("failed") => {
                let Some(who) = Who::from_json(&t["who"]) else { continue };
                let mut v = Verdict {
                    genuine: t["genuine"] == true,
                    ..Verdict::default()
                };
                let mut push = |w: Who| {
                    if w != who && !v.culprits.contains(&w) {
                        v.culprits.push(w);
                    }
                };
                for tag in t["needs"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let gone = removed.get(tag).into_iter().flatten();
                    for w in touched.get(tag).into_iter().flatten().chain(gone) {
                        push(w.clone());
                    }
                }
                for w in ["culprits", "also"]
                    .iter()
                    .flat_map(|k| t[*k].as_array().into_iter().flatten())
                    .filter_map(Who::from_json)
                {
                    push(w);
                }
                out.insert(who, v);
            }
            None => {
                let (Some(cleaner), Some(writer)) =
                    (Who::from_json(&t["cleaner"]), Who::from_json(&t["writer"]))
                else {
                    continue;
                };
                if cleaner == writer || t["rows"].as_u64().unwrap_or(0) == 0 {
                    continue;
                }
                let ts = t["ts_us"].as_u64().unwrap_or(u64::MAX);
                let e = demo.entry(writer).or_insert((ts, cleaner.clone()));
                if ts < e.0 {
                    *e = (ts, cleaner);
                }
            }
            _ => {}
        }
    }
    for (w, (_, c)) in demo {
        out.entry(w).or_insert(Verdict {
            culprits: vec![c],
            genuine: false,
        });
    }
    out
}

/// Scores one run: its report and its truth lines.
pub fn score(report: &Value, truth: &[Value]) -> Score {
    let verdicts = verdicts(truth);
    let mut failed: Vec<Who> = Vec::new();
    for p in report["processes"].as_array().into_iter().flatten() {
        let Some(pid) = p["pid"].as_u64() else {
            continue;
        };
        for o in p["order"].as_array().into_iter().flatten() {
            if o["outcome"] == "FAILED" {
                if let (Some(f), Some(s)) = (o["feature"].as_str(), o["scenario"].as_str()) {
                    failed.push(Who {
                        pid,
                        feature: f.to_owned(),
                        scenario: s.to_owned(),
                    });
                }
            }
        }
    }
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let mut out = Score {
        runs: 1,
        failed: failed.len(),
        findings: findings.len(),
        ..Score::default()
    };
    let mut likely: BTreeMap<Who, BTreeSet<Option<Who>>> = BTreeMap::new();
    for f in &findings {
        let error = f["severity"] == "error";
        out.errors += usize::from(error);
        let victim = Who::from_json(&f["victim"]);
        if error && f["victim"]["outcome"] == "PASSED" {
            out.errors_on_passing += 1;
        }
        if f["likely_cause"] == true {
            if let Some(v) = victim {
                likely
                    .entry(v)
                    .or_default()
                    .insert(Who::from_json(&f["polluter"]));
            }
        }
    }
    for v in &failed {
        let named = likely.get(v).cloned().unwrap_or_default();
        match verdicts.get(v) {
            Some(t) if t.genuine => {
                out.genuine += 1;
                out.genuine_blamed += usize::from(!named.is_empty());
            }
            Some(t) if !t.culprits.is_empty() => {
                out.judged += 1;
                out.likely_polluters += named.len();
                out.explained += usize::from(!named.is_empty());
                let is_true = |w: &Option<Who>| w.as_ref().is_some_and(|w| t.culprits.contains(w));
                if named.len() == 1 && named.iter().all(is_true) {
                    out.top1 += 1;
                }
                if named.contains(&Some(t.culprits[0].clone())) {
                    out.recalled += 1;
                }
            }
            _ => out.unknown += 1,
        }
    }
    out
}

/// Scores every run folder and sums them per shape and database.
pub fn score_dirs(dirs: &[PathBuf]) -> Result<BTreeMap<Meta, Score>, String> {
    let mut out: BTreeMap<Meta, Score> = BTreeMap::new();
    for d in dirs {
        let (meta, s) = score_dir(d)?;
        out.entry(meta).or_default().add(&s);
    }
    Ok(out)
}

/// The per-shape table, as Markdown, with a total row.
pub fn render(rows: &BTreeMap<Meta, Score>) -> String {
    let mut out = String::from(
        "| shape | db | runs | failed | judged | top-1 | recall | explained | likely per victim | genuine blamed | unknown | errors on passing | findings (errors) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "n/a".to_owned()
        } else {
            format!("{a}/{b} = {:.1} %", 100.0 * a as f64 / b as f64)
        }
    };
    let mut total = Score::default();
    let mut line = |name: &str, db: &str, s: &Score| {
        let _ = writeln!(
            out,
            "| {name} | {db} | {} | {} | {} | {} | {} | {} | {:.2} | {}/{} | {} | {} | {} ({}) |",
            s.runs,
            s.failed,
            s.judged,
            pct(s.top1, s.judged),
            pct(s.recalled, s.judged),
            pct(s.explained, s.judged),
            s.likely_per_victim(),
            s.genuine_blamed,
            s.genuine,
            s.unknown,
            s.errors_on_passing,
            s.findings,
            s.errors
        );
    };
    for (m, s) in rows {
        line(&m.shape, &m.db, s);
        total.add(s);
    }
    line("**all**", "", &total);
    out
}
