//! `report --format html` with a level of detail, checked on the page's
//! embedded data: a small run's page draws what the in-memory timeline
//! draws (it looks as it always did), and a summarised page keeps every
//! scenario and finding, draws the actions of failed scenarios (the
//! victims' windows) and shared-state mutations (the polluters') one by
//! one, and counts every other action in an aggregate.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use trace_analyzer::render::html::to_html_string;
use trace_analyzer::render::html::TimelineView;
use trace_analyzer::{AnalyzeOptions, Analyzer};

#[path = "browser/fixture.rs"]
mod fixture;
use fixture::{busy_run, fixture_run, html_report, HOSTILE};

/// The view model embedded in a page.
fn page_data(html: &str) -> Value {
    trace_analyzer::render::html::page_data(html).expect("embedded JSON")
}

fn cli_page(traces: &Path, detail: &str) -> Value {
    page_data(&html_report(traces, detail))
}

/// Scenarios by id: (name, outcome, start, end).
fn bars(d: &Value) -> Vec<(String, String, i64, i64)> {
    let mut v: Vec<(u64, (String, String, i64, i64))> = d["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s["id"].as_u64().unwrap_or(i as u64),
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["outcome"].as_str().unwrap().to_owned(),
                    s["start_us"].as_i64().unwrap(),
                    s["end_us"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, b)| b).collect()
}

fn markers(d: &Value) -> BTreeSet<(String, i64, u64)> {
    d["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["action"].as_str().unwrap().to_owned(),
                m["t_us"].as_i64().unwrap(),
                m["scenario"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

#[test]
fn a_small_run_is_drawn_in_full_as_the_in_memory_timeline_draws_it() {
    let traces = tempfile::tempdir().unwrap();
    fixture_run(traces.path());
    let streamed = cli_page(traces.path(), "auto");
    let analysis = Analyzer::new(&AnalyzeOptions {
        inputs: vec![traces.path().to_path_buf()],
        timeline: true,
        ..AnalyzeOptions::default()
    })
    .run()
    .unwrap();
    let view = TimelineView::build(&analysis.report, analysis.timeline.as_ref().unwrap());
    let in_memory = page_data(&to_html_string(&view));

    assert_eq!(streamed["lod"]["detail"], "full");
    assert_eq!(streamed["lod"]["aggregated"], 0);
    assert_eq!(streamed["aggregates"], serde_json::json!([]));
    assert_eq!(bars(&streamed), bars(&in_memory), "same bars");
    assert_eq!(markers(&streamed), markers(&in_memory), "same markers");
    assert_eq!(streamed["summary"], in_memory["summary"]);
    assert_eq!(streamed["span_us"], in_memory["span_us"]);
    let lanes = |d: &Value| -> Vec<u64> {
        d["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["lanes"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(lanes(&streamed), lanes(&in_memory), "same overlap lanes");
    let ends = |d: &Value| -> Vec<(Value, Value)> {
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["polluter"].clone(), f["victim"].clone()))
            .collect()
    };
    assert_eq!(
        ends(&streamed),
        ends(&in_memory),
        "findings end on the same bars"
    );
}

#[test]
fn a_summarised_page_keeps_what_triage_needs_and_counts_the_rest() {
    let traces = tempfile::tempdir().unwrap();
    busy_run(traces.path());
    let full = cli_page(traces.path(), "full");
    let summary = cli_page(traces.path(), "summary");
    assert_eq!(summary["lod"]["detail"], "summary");

    // Every scenario and every finding, unchanged.
    assert_eq!(bars(&summary), bars(&full));
    assert_eq!(summary["findings"], full["findings"]);
    assert!(!summary["findings"].as_array().unwrap().is_empty());

    // Nothing is lost: each action is either a marker or counted once in an aggregate.
    let kept = markers(&summary);
    let all = markers(&full);
    assert!(kept.is_subset(&all), "markers are real records");
    let counted: u64 = summary["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_array().unwrap()[6..]
                .iter()
                .map(|c| c.as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    assert_eq!(kept.len() as u64 + counted, all.len() as u64);
    assert_eq!(summary["lod"]["aggregated"], counted);

    // One by one: the failed victim's window and the polluter's shared-state
    // mutation, so every action of a scenario a finding names here.
    let named: BTreeSet<u64> = summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| [&f["polluter"], &f["victim"]])
        .filter_map(|e| e["scenario"].as_u64())
        .collect();
    for m in &all {
        if named.contains(&m.2) {
            assert!(kept.contains(m), "{m:?} of a finding's scenario is drawn");
        }
    }
    assert!(
        kept.iter().any(|m| m.0 == "DB_CLEANUP"),
        "the polluter's mutation"
    );
    // The busy scenarios' reads and HTTP calls are aggregated, each bucket
    // within one lane and with its real time span.
    assert!(kept.iter().all(|m| named.contains(&m.2)), "{kept:?}");
    let hostile_id = bars(&summary).iter().position(|b| b.0 == HOSTILE).unwrap() as i64;
    assert!(summary["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a[4] == hostile_id && a[2].as_i64() <= a[3].as_i64()));
}

#[test]
fn auto_detail_summarises_a_run_past_its_record_budget_as_summary_does() {
    let dir = tempfile::tempdir().unwrap();
    let gen = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args([
            "gen",
            "--processes",
            "4",
            "--records",
            "33000",
            "--pollutions",
            "2",
        ])
        .args(["--format", "v1", "--run-id", "lod-auto", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let traces = dir.path().join("v1");
    let auto = cli_page(&traces, "auto");
    let summary = cli_page(&traces, "summary");
    assert!(auto["summary"]["records"].as_u64().unwrap() > 125_000);
    assert_eq!(auto["lod"]["detail"], "summary", "past the budget");
    // Deciding late (after 125,000 records) sorts the early actions out as
    // deciding from the start does.
    assert_eq!(markers(&auto), markers(&summary));
    assert_eq!(auto["aggregates"], summary["aggregates"]);
    assert_eq!(auto["lod"], summary["lod"]);
    assert!(auto["lod"]["aggregated"].as_u64().unwrap() > 100_000);
    assert!(!auto["findings"].as_array().unwrap().is_empty());
}

#[test]
fn the_page_shows_each_likely_cause_with_its_evidence() {
    let traces = tempfile::tempdir().unwrap();
    fixture_run(traces.path());
    let page = cli_page(traces.path(), "auto");
    let likely: Vec<&Value> = page["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["likely_cause"] == true)
        .collect();
    assert!(!likely.is_empty(), "the fixture has a failed victim");
    for f in likely {
        let evidence = f["evidence"].as_str().unwrap_or_default();
        assert!(
            evidence.contains("first destructive change"),
            "likely cause without its evidence on the page: {f:#}"
        );
    }
}

/// Every process overlapping every other (`gen --sharing`): the page lists
/// every finding of the report, each end on a drawn bar, and stays small
/// (scenarios as rows, markers as columns, repeated text once; the same
/// page as objects was about five times the size).
#[test]
fn an_all_overlap_run_lists_every_finding_in_a_compact_page() {
    let dir = tempfile::tempdir().unwrap();
    let gen = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(["gen", "--processes", "8", "--records", "20000"])
        .args(["--sharing", "8", "--format", "v1", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let traces = dir.path().join("v1");
    let html = html_report(&traces, "auto");
    let page = page_data(&html);
    let json = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .arg("report")
        .arg(&traces)
        .args(["--format", "json", "--fail-on", "never"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON report");

    let findings = page["findings"].as_array().unwrap();
    assert_eq!(findings.len(), report["findings"].as_array().unwrap().len());
    assert!(findings.len() > 10, "an all-overlap run has many findings");
    let bars = bars(&page);
    for f in findings {
        let victim = &f["victim"];
        let id = victim["scenario"].as_u64().expect("victim on a bar") as usize;
        assert_eq!(bars[id].0, victim["name"], "{f:#}");
        if let Some(id) = f["polluter"]["scenario"].as_u64() {
            assert_eq!(bars[id as usize].0, f["polluter"]["name"]);
        }
    }
    // Markers resolve to their text and kind.
    let markers = page["markers"].as_array().unwrap();
    assert!(!markers.is_empty());
    for m in markers {
        assert!(m["action"].is_string() && m["details"].is_string() && m["kind"].is_string());
    }
    let drawn = markers.len() + bars.len() + page["aggregates"].as_array().unwrap().len();
    assert!(
        html.len() < 40 * drawn + 200_000,
        "{} bytes for {drawn} bars, markers and aggregates",
        html.len()
    );
}
