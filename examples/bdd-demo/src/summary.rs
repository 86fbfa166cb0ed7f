//! The end of `scripts/validate-test-suite.sh`: reads the analyzer's JSON
//! report of every iteration and says, per iteration, pass/fail and
//! findings, then which scenarios are flaky (failed in some iterations, not
//! all), which findings explain their failures, and how often each named
//! polluter was present (mutating while the victim ran) at all.
//!
//! It reads only the analyzer's stable JSON contract, so it works for any
//! traced suite, not just this demo.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One iteration's folder: `report.json` from the analyzer, `rc` with the
/// suite's exit code.
#[derive(Debug)]
pub struct Iteration {
    pub name: String,
    pub passed: bool,
    pub report: Value,
}

impl Iteration {
    pub fn load(dir: &Path) -> Result<Iteration, String> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let report_path = dir.join("report.json");
        let text = std::fs::read_to_string(&report_path).map_err(|e| {
            format!(
                "{}: {e} (did the analyzer run for this iteration?)",
                report_path.display()
            )
        })?;
        let report: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a JSON report: {e}", report_path.display()))?;
        let rc = std::fs::read_to_string(dir.join("rc")).unwrap_or_default();
        Ok(Iteration {
            name,
            passed: rc.trim() == "0",
            report,
        })
    }

    fn findings(&self) -> &[Value] {
        self.report["findings"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// (feature, scenario) → failed?, for every scenario that ran.
    fn outcomes(&self) -> BTreeMap<(String, String), bool> {
        let mut out = BTreeMap::new();
        for p in self.report["processes"].as_array().into_iter().flatten() {
            for e in p["order"].as_array().into_iter().flatten() {
                let key = (text(&e["feature"]), text(&e["scenario"]));
                let failed = e["outcome"] == "FAILED";
                *out.entry(key).or_insert(false) |= failed;
            }
        }
        out
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("?").to_owned()
}

fn who(v: &Value) -> String {
    if v.is_null() {
        "-".to_owned()
    } else {
        format!("{}: {}", text(&v["feature"]), text(&v["scenario"]))
    }
}

/// Loads every iteration folder, in name order.
pub fn load_all(dirs: &[PathBuf]) -> (Vec<Iteration>, Vec<String>) {
    let mut dirs = dirs.to_vec();
    dirs.sort();
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for d in &dirs {
        match Iteration::load(d) {
            Ok(i) => ok.push(i),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// The per-iteration table and the flaky-scenario list.
pub fn render(iterations: &[Iteration]) -> String {
    let mut out = String::new();
    let n = iterations.len();
    let _ = writeln!(out, "== per iteration");
    for it in iterations {
        let mut rules: BTreeMap<String, usize> = BTreeMap::new();
        for f in it.findings() {
            *rules
                .entry(format!("{} {}", text(&f["severity"]), text(&f["rule"])))
                .or_default() += 1;
        }
        let failed: Vec<String> = it
            .outcomes()
            .into_iter()
            .filter(|(_, failed)| *failed)
            .map(|((f, s), _)| format!("{f}: {s}"))
            .collect();
        let rules = if rules.is_empty() {
            "no findings".to_owned()
        } else {
            rules
                .iter()
                .map(|(r, c)| format!("{c}× {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "{:<10} {:<6} run {}  findings: {}",
            it.name,
            if it.passed { "passed" } else { "FAILED" },
            text(&it.report["run_id"]),
            rules
        );
        for s in failed {
            let _ = writeln!(out, "{:<17} failed: {s}", "");
        }
    }

    // Scenario → iterations it ran in / failed in.
    let mut ran: BTreeMap<(String, String), Vec<(usize, bool)>> = BTreeMap::new();
    for (i, it) in iterations.iter().enumerate() {
        for (key, failed) in it.outcomes() {
            ran.entry(key).or_default().push((i, failed));
        }
    }
    let flaky: Vec<_> = ran
        .iter()
        .filter(|(_, runs)| runs.iter().any(|r| r.1) && runs.iter().any(|r| !r.1))
        .collect();
    let always: Vec<_> = ran
        .iter()
        .filter(|(_, runs)| !runs.is_empty() && runs.iter().all(|r| r.1))
        .collect();

    let _ = writeln!(
        out,
        "\n== flaky scenarios (failed in some of {n} iterations, not all)"
    );
    if flaky.is_empty() {
        let _ = writeln!(out, "none");
    }
    for ((feature, scenario), runs) in &flaky {
        let failed_in: Vec<usize> = runs.iter().filter(|r| r.1).map(|r| r.0).collect();
        let _ = writeln!(
            out,
            "{feature}: {scenario} — failed {}/{} ({})",
            failed_in.len(),
            runs.len(),
            failed_in
                .iter()
                .map(|&i| iterations[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        explain(
            &mut out,
            iterations,
            feature,
            scenario,
            &failed_in,
            runs.len(),
        );
    }
    if !always.is_empty() {
        let _ = writeln!(
            out,
            "\n== failing in every iteration (not flaky: a plain bug or a deterministic leak)"
        );
        for ((feature, scenario), runs) in &always {
            let failed_in: Vec<usize> = runs.iter().map(|r| r.0).collect();
            let _ = writeln!(
                out,
                "{feature}: {scenario} — failed {}/{}",
                runs.len(),
                runs.len()
            );
            explain(
                &mut out,
                iterations,
                feature,
                scenario,
                &failed_in,
                runs.len(),
            );
        }
    }
    out
}

/// The findings that name this victim as failed, grouped by polluter, with
/// how often that polluter was present at all (named for this victim in any
/// iteration, failed or not).
fn explain(
    out: &mut String,
    iterations: &[Iteration],
    feature: &str,
    scenario: &str,
    failed_in: &[usize],
    ran: usize,
) {
    #[derive(Default)]
    struct Polluter {
        rule: String,
        action: String,
        explained: usize,
        present: usize,
    }
    let is_victim =
        |f: &Value| f["victim"]["feature"] == feature && f["victim"]["scenario"] == scenario;
    let mut polluters: BTreeMap<String, Polluter> = BTreeMap::new();
    for (i, it) in iterations.iter().enumerate() {
        let mut seen: BTreeMap<String, bool> = BTreeMap::new();
        for f in it.findings().iter().filter(|f| is_victim(f)) {
            let key = format!("{} ({})", who(&f["polluter"]), text(&f["rule"]));
            let p = polluters.entry(key.clone()).or_default();
            if p.rule.is_empty() {
                p.rule = text(&f["rule"]);
                p.action = f["action"].as_str().unwrap_or("").to_owned();
            }
            let explains = failed_in.contains(&i) && f["likely_cause"] == true;
            let e = seen.entry(key).or_insert(false);
            *e |= explains;
        }
        for (key, explains) in seen {
            let p = polluters.get_mut(&key).expect("inserted above");
            p.present += 1;
            p.explained += usize::from(explains);
        }
    }
    let mut list: Vec<_> = polluters
        .into_iter()
        .filter(|(_, p)| p.explained > 0)
        .collect();
    list.sort_by(|a, b| b.1.explained.cmp(&a.1.explained).then(a.0.cmp(&b.0)));
    if list.is_empty() {
        let _ = writeln!(
            out,
            "    no finding explains its failures (a bug of its own, or untraced state)"
        );
    }
    for (name, p) in list.iter().take(5) {
        let _ = writeln!(
            out,
            "    ← {name}{}: explains {}/{} failures; present in {}/{} iterations",
            if p.action.is_empty() {
                String::new()
            } else {
                format!(", {}", p.action)
            },
            p.explained,
            failed_in.len(),
            p.present,
            ran
        );
    }
    if list.len() > 5 {
        let _ = writeln!(out, "    … and {} more polluters", list.len() - 5);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn iteration(name: &str, failed: &[&str], findings: Value) -> Iteration {
        let order: Vec<Value> = ["Welcome page", "Login"]
            .iter()
            .map(|s| {
                json!({"feature": "greet", "scenario": s,
                       "outcome": if failed.contains(s) { "FAILED" } else { "PASSED" }})
            })
            .collect();
        Iteration {
            name: name.to_owned(),
            passed: failed.is_empty(),
            report: json!({"run_id": name, "processes": [{"order": order}], "findings": findings}),
        }
    }

    fn cleanup_by_auth(outcome: &str, likely: bool) -> Value {
        json!({"rule": "concurrent-mutation", "severity": "error", "likely_cause": likely,
               "action": "DB_CLEANUP",
               "victim": {"feature": "greet", "scenario": "Welcome page", "outcome": outcome},
               "polluter": {"feature": "auth", "scenario": "Logout"}})
    }

    #[test]
    fn a_scenario_failing_in_some_iterations_is_flaky_and_explained_by_its_polluter() {
        let runs = [
            iteration(
                "iter-001",
                &["Welcome page"],
                json!([cleanup_by_auth("FAILED", true)]),
            ),
            iteration("iter-002", &[], json!([cleanup_by_auth("PASSED", false)])),
            iteration("iter-003", &[], json!([])),
        ];
        let text = render(&runs);
        assert!(
            text.contains("greet: Welcome page — failed 1/3 (iter-001)"),
            "{text}"
        );
        assert!(
            text.contains("← auth: Logout (concurrent-mutation), DB_CLEANUP: explains 1/1 failures; present in 2/3 iterations"),
            "{text}"
        );
        assert!(
            !text.contains("greet: Login —"),
            "a scenario that always passed is not flaky: {text}"
        );
    }

    #[test]
    fn a_scenario_failing_every_time_is_listed_apart_from_the_flaky_ones() {
        let runs = [
            iteration("iter-001", &["Login"], json!([])),
            iteration("iter-002", &["Login"], json!([])),
        ];
        let text = render(&runs);
        assert!(
            text.contains("== flaky scenarios (failed in some of 2 iterations, not all)\nnone"),
            "{text}"
        );
        assert!(text.contains("greet: Login — failed 2/2"), "{text}");
        assert!(text.contains("no finding explains its failures"), "{text}");
    }
}
