//! The accuracy gate: every recorded run under `fixtures/` (traces and
//! ground truth of a real suite run, one folder each) is analyzed by the
//! analyzer as it is now, scored against its truth, and compared per suite
//! shape and database with `fixtures/scores.json`. A score that drops, a
//! genuine failure or a passing scenario that gets blamed, or a failure the
//! truth says nothing about fails the test. After a change that raises
//! scores, `UPDATE_SCORES=1` writes the new floor (say why in the commit).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use corpus::score::{parse_truth, render, score, Meta, Score};
use serde_json::{json, Value};
use trace_analyzer::render::{write_report, RenderOptions, ReportFormat};
use trace_analyzer::{AnalyzeOptions, Analyzer};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The report as `trace-analyzer report --format json` writes it.
fn report_json(traces: &Path) -> Value {
    let analysis = Analyzer::new(&AnalyzeOptions {
        inputs: vec![traces.to_path_buf()],
        ..Default::default()
    })
    .run()
    .unwrap_or_else(|e| panic!("{}: {e}", traces.display()));
    let mut out = Vec::new();
    let opts = RenderOptions {
        color: false,
        width: None,
        verbose: false,
    };
    write_report(ReportFormat::Json, &analysis.report, None, &opts, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn score_all() -> BTreeMap<Meta, Score> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("traces").is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "expected the recorded runs under {}",
        fixtures().display()
    );
    let mut out: BTreeMap<Meta, Score> = BTreeMap::new();
    for d in dirs {
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
        let meta = Meta {
            shape: meta["shape"].as_str().unwrap().to_owned(),
            db: meta["db"].as_str().unwrap().to_owned(),
        };
        let truth = parse_truth(&std::fs::read_to_string(d.join("truth.jsonl")).unwrap())
            .unwrap_or_else(|(line, e)| panic!("{}:{line}: {e}", d.display()));
        let s = score(&report_json(&d.join("traces")), &truth);
        out.entry(meta).or_default().add(&s);
    }
    out
}

fn floor(s: &Score) -> Value {
    json!({
        "judged": s.judged,
        "top1": s.top1,
        "recalled": s.recalled,
        "explained": s.explained,
        "likely_polluters": s.likely_polluters,
        "genuine_blamed": s.genuine_blamed,
        "errors_on_passing": s.errors_on_passing,
    })
}

#[test]
fn recorded_suite_shapes_score_no_worse_than_their_floor() {
    let scores = score_all();
    println!("{}", render(&scores));
    let path = fixtures().join("scores.json");
    let now: BTreeMap<String, Value> = scores
        .iter()
        .map(|(m, s)| (format!("{}/{}", m.shape, m.db), floor(s)))
        .collect();
    if std::env::var_os("UPDATE_SCORES").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
        return;
    }
    let pinned: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut worse = Vec::new();
    for (key, was) in &pinned {
        let Some(is) = now.get(key) else {
            worse.push(format!("{key}: no longer in the fixtures"));
            continue;
        };
        let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
        // Higher is better for these, lower for the rest.
        for k in ["top1", "recalled", "explained"] {
            if n(is, k) < n(was, k) {
                worse.push(format!("{key}: {k} {} < {}", n(is, k), n(was, k)));
            }
        }
        for k in ["genuine_blamed", "errors_on_passing"] {
            if n(is, k) > n(was, k) {
                worse.push(format!("{key}: {k} {} > {}", n(is, k), n(was, k)));
            }
        }
        // More victims explained means more likely polluters: only more
        // than one per explained victim, and more than before, is worse.
        let (likely, explained) = (n(is, "likely_polluters"), n(is, "explained"));
        if likely > n(was, "likely_polluters") && likely > explained {
            worse.push(format!(
                "{key}: likely_polluters {likely} > {} (and > {explained} explained victims)",
                n(was, "likely_polluters")
            ));
        }
        if n(is, "judged") != n(was, "judged") {
            worse.push(format!(
                "{key}: judged {} != {}",
                n(is, "judged"),
                n(was, "judged")
            ));
        }
    }
    for (m, s) in &scores {
        assert_eq!(
            s.unknown, 0,
            "{}/{}: failures the truth says nothing about",
            m.shape, m.db
        );
        assert_eq!(
            s.errors_on_passing, 0,
            "{}/{}: an error on a passing scenario",
            m.shape, m.db
        );
    }
    assert!(worse.is_empty(), "scores dropped:\n{}", worse.join("\n"));
}
