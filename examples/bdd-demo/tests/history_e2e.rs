//! The demo suite run several times into one history: `history flaky`
//! names the greet victim and, as its top cause, the polluter the per-run
//! reports blamed most often for its failures.

mod support;

use std::collections::BTreeMap;

use support::*;
use trace_analyzer::history::add::add;
use trace_analyzer::history::query::{flaky, Window};
use trace_analyzer::history::record::{RunMeta, RunRecord};
use trace_analyzer::history::{Access, DbUrl, Store};

/// Suite runs at most: bounded time (each run takes a few seconds).
const MAX_RUNS: u32 = 12;

#[test]
fn history_flaky_ranks_the_demo_victim_with_its_true_polluter_first() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = DbUrl::parse(root.join("history.sqlite").to_str().unwrap()).unwrap();
    let store = rt.block_on(Store::open(&url, Access::Write)).unwrap();

    let (mut runs, mut failures, mut passes) = (0i64, 0i64, 0i64);
    // Ground truth from each run's own report: who was the likely cause.
    let mut blamed: BTreeMap<(String, String), i64> = BTreeMap::new();
    for attempt in 0..MAX_RUNS {
        // Every third run isolates the processes (the fix): the victim passes.
        let isolated = attempt % 3 == 2;
        let db = format!(
            "sqlite://{}",
            root.join(format!("suite-{attempt}.sqlite")).display()
        );
        let mut env = vec![("DATABASE_URL", db.as_str())];
        if isolated {
            env.push(("BDD_SCHEMA_ISOLATION", "true"));
        }
        let run = run_traced(&root, "history", &["suite"], &env);
        let run_id = run.report["run_id"].as_str().unwrap().to_owned();
        let analysis = trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
            inputs: vec![run.traces.clone()],
            run: Some(run_id),
            timeline: true,
            ..Default::default()
        })
        .run()
        .unwrap();
        let victim_outcomes: Vec<_> = analysis
            .report
            .processes
            .iter()
            .flat_map(|p| &p.order)
            .filter(|o| &*o.scenario == VICTIM)
            .map(|o| o.outcome)
            .collect();
        assert_eq!(victim_outcomes.len(), 1, "the victim ran once");
        runs += 1;
        match victim_outcomes[0] {
            trace_analyzer::ScenarioOutcome::Failed => failures += 1,
            trace_analyzer::ScenarioOutcome::Passed => passes += 1,
            other => panic!("victim {other}"),
        }
        for f in analysis.report.findings.iter().filter(|f| f.likely_cause) {
            if let (Some(v), Some(p)) = (&f.victim, &f.polluter) {
                if v.scenario == VICTIM {
                    *blamed
                        .entry((p.feature.clone(), p.scenario.clone()))
                        .or_default() += 1;
                }
            }
        }
        let rec = RunRecord::from_analysis(&analysis, RunMeta::default());
        rt.block_on(add(&store, &rec)).unwrap();
        if failures >= 3 && passes >= 1 && !blamed.is_empty() {
            break;
        }
    }
    assert!(
        failures >= 1 && passes >= 1,
        "the victim must both fail and pass in {runs} runs ({failures} failures)"
    );

    let list = rt.block_on(flaky(&store, &Window::default(), 2)).unwrap();
    let victim = list
        .iter()
        .find(|f| f.feature == "greet" && f.scenario == VICTIM)
        .unwrap_or_else(|| panic!("the victim is flaky: {list:#?}"));
    assert_eq!(
        (victim.runs, victim.failures, victim.passes),
        (runs, failures, passes)
    );
    // Ranked by failures: nobody above it failed less often.
    assert!(list
        .iter()
        .take_while(|f| f.scenario != VICTIM)
        .all(|f| f.failures >= victim.failures));

    let most = *blamed
        .values()
        .max()
        .expect("the reports blamed a polluter");
    let top = &victim.causes[0];
    let top_key = (top.feature.clone().unwrap(), top.scenario.clone().unwrap());
    assert_eq!(
        blamed.get(&top_key),
        Some(&most),
        "top cause {top:?} vs the reports' {blamed:?}"
    );
    assert_eq!(top.failures, most);
    assert!(
        top_key.0 == "auth" || top_key.0 == "admin",
        "another feature's cleanup: {top:?}"
    );
    assert!(top.resource.contains("users"), "{top:?}");
}
