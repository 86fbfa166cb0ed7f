//! `confirm` on the real demo suite, through the analyzer's library: the
//! commands come from the demo processes' own trace headers, every re-run
//! is a real `bdd-demo` process on a real SQLite file, traced and analyzed.
//!
//! - the cross-process victim is confirmed against the polluter its run's
//!   report named, not reproduced with a scenario that only ever cleaned up
//!   before it started, and found by search when no polluter is given;
//! - the leaked JWT secret is confirmed in one process;
//! - a trace whose headers lost their argv is inconclusive.
//!
//! Bounded: at most 15 suite runs to get a failing victim, then at most
//! 2 + 20 + 1 + 3 + 2 + 10 short runs of one or two scenarios.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::{run_traced, SuiteRun, JWT_POLLUTER, JWT_VICTIM, VICTIM};
use trace_analyzer::confirm::{self, ConfirmOptions, Confirmation, Target, Verdict};

fn options(traces: &Path, target: Target, work: &Path, env: &[(&str, &str)]) -> ConfirmOptions {
    ConfirmOptions {
        inputs: vec![traces.to_path_buf()],
        run: None,
        legacy_tz: Default::default(),
        target,
        alone: 2,
        attempts: 10,
        timeout: Duration::from_secs(60),
        victim_cmd: None,
        polluter_cmd: None,
        dir: work.to_path_buf(),
        max_candidates: 10,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        reset: None,
        deadline: None,
        enough: None,
    }
}

fn confirm_with(opts: &ConfirmOptions) -> Confirmation {
    let plan = confirm::plan::plan(opts).expect("a plan");
    assert!(
        !plan.needs_consent().is_empty(),
        "the demo's commands come from its trace files"
    );
    let alone = plan.alone.as_ref().expect("the victim's command");
    assert!(
        alone.cwd.is_some(),
        "the tracer records the working directory the command runs in"
    );
    let c = confirm::execute(&plan, opts, &mut |_| {});
    // Every run's folder is there to open with `report`.
    for r in c
        .alone
        .iter()
        .chain(c.tried.iter().flat_map(|t| &t.attempts))
    {
        assert!(r.folder.is_dir(), "{}", r.folder.display());
    }
    c
}

fn show(c: &Confirmation) -> String {
    let mut out = Vec::new();
    confirm::verdict::write_table(c, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// 1-based number of the report's likely-cause finding for `victim`.
fn likely_cause(run: &SuiteRun, victim: &str) -> Option<(usize, Value)> {
    run.findings()
        .iter()
        .position(|f| f["likely_cause"] == true && f["victim"]["scenario"] == victim)
        .map(|i| (i + 1, run.findings()[i].clone()))
}

/// The suite in parallel on one SQLite file until the greet victim fails
/// with a named likely cause.
fn failing_suite_run(root: &Path) -> (SuiteRun, String) {
    for attempt in 0..15 {
        let url = format!("sqlite://{}/suite-{attempt}.sqlite", root.display());
        let run = run_traced(root, "confirm", &["suite"], &[("DATABASE_URL", &url)]);
        if run.scenario_failed(VICTIM) && likely_cause(&run, VICTIM).is_some() {
            return (run, url);
        }
    }
    panic!("the greet victim never failed with a named cause in 15 suite runs");
}

fn dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

#[test]
fn the_cross_process_victim_is_confirmed_refuted_and_found_by_search() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let (run, url) = failing_suite_run(root);
    let env = [("DATABASE_URL", url.as_str())];
    let (n, finding) = likely_cause(&run, VICTIM).unwrap();
    let polluter = format!(
        "{}: {}",
        finding["polluter"]["feature"].as_str().unwrap(),
        finding["polluter"]["scenario"].as_str().unwrap()
    );

    // Its named polluter: both at once, offset from the traced run.
    let mut opts = options(&run.traces, Target::Finding(n), &dir(root, "finding"), &env);
    opts.attempts = 20;
    let c = confirm_with(&opts);
    assert_eq!(c.verdict, Verdict::Confirmed, "{}", show(&c));
    assert_eq!(c.polluter.as_ref().unwrap().name(), polluter);
    assert_eq!(c.alone.len(), 2, "the victim ran alone first");
    let tried = &c.tried[0];
    assert_eq!(tried.shape, confirm::Shape::TwoAtOnce);
    assert!(tried.reproduced >= 1 && tried.attempts.len() == 20);
    // A reproduction is a failed victim whose own run names the polluter.
    for r in tried.attempts.iter().filter(|r| r.reproduced) {
        let again = trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
            inputs: vec![r.folder.clone()],
            ..Default::default()
        })
        .run()
        .unwrap();
        assert!(again.report.findings.iter().any(|f| f.likely_cause
            && f.victim.as_ref().is_some_and(|v| v.scenario == VICTIM)
            && f.polluter
                .as_ref()
                .is_some_and(|p| format!("{}: {}", p.feature, p.scenario) == polluter)));
    }

    // A scenario of the victim's own process that ran (and cleaned up)
    // before it: it never touches the victim's tables while it runs.
    let mut opts = options(
        &run.traces,
        Target::Victim {
            victim: format!("greet: {VICTIM}"),
            polluter: Some("greet: Greeting an unknown user is refused".into()),
        },
        &dir(root, "unrelated"),
        &env,
    );
    opts.attempts = 3;
    let c = confirm_with(&opts);
    assert_eq!(c.verdict, Verdict::NotReproduced, "{}", show(&c));
    assert_eq!(c.tried[0].attempts.len(), 3);
    assert!(c.tried[0].attempts.iter().all(|r| r.victim.is_some()));

    // No polluter given: the candidates from the trace, one pair at a time.
    let opts = options(
        &run.traces,
        Target::Victim {
            victim: format!("greet: {VICTIM}"),
            polluter: None,
        },
        &dir(root, "search"),
        &env,
    );
    let c = confirm_with(&opts);
    assert_eq!(c.verdict, Verdict::Confirmed, "{}", show(&c));
    let found = c.polluter.as_ref().unwrap();
    assert_ne!(
        found.feature,
        "greet",
        "another process's cleanup: {}",
        show(&c)
    );
    let s = c.search.as_ref().expect("search stats");
    let attempts: usize = c.tried.iter().map(|t| t.attempts.len()).sum();
    assert_eq!(s.reruns, c.alone.len() + attempts);
    assert!(s.tried >= 1 && s.tried <= s.candidates);
    assert_eq!(s.suite_scenarios, 12);
    assert_eq!(s.bisection_runs, 4);
    eprintln!("{}", show(&c));
}

/// The auth feature in one process with the JWT reset off (the leak), on
/// a SQLite file of its own; returns the run and the database URL.
fn auth_without_jwt_reset(root: &Path, label: &str) -> (SuiteRun, String) {
    let url = format!("sqlite://{}/{label}.sqlite", root.display());
    let env = [("DATABASE_URL", url.as_str()), ("BDD_JWT_RESET", "false")];
    let run = run_traced(
        root,
        label,
        &["feature", "auth", "--concurrency", "1"],
        &env,
    );
    (run, url)
}

#[test]
fn the_leaked_jwt_secret_is_confirmed_in_one_process() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let (run, url) = auth_without_jwt_reset(root, "jwt");
    let env = [("DATABASE_URL", url.as_str()), ("BDD_JWT_RESET", "false")];
    let (n, f) = likely_cause(&run, JWT_VICTIM).expect("the leak is named");
    assert_eq!(f["polluter"]["scenario"], JWT_POLLUTER);
    let mut opts = options(&run.traces, Target::Finding(n), &dir(root, "jwt"), &env);
    opts.attempts = 3;
    let c = confirm_with(&opts);
    assert_eq!(c.verdict, Verdict::Confirmed, "{}", show(&c));
    let tried = &c.tried[0];
    assert_eq!(tried.shape, confirm::Shape::OneInOrder);
    assert_eq!(tried.reproduced, 3, "{}", show(&c));
    assert!(
        tried.commands[0].contains("--concurrency 1"),
        "{:?}",
        tried.commands
    );
}

#[test]
fn a_demo_trace_without_argv_is_inconclusive() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let (run, url) = auth_without_jwt_reset(root, "noargv");
    let env = [("DATABASE_URL", url.as_str()), ("BDD_JWT_RESET", "false")];
    // The same files as a producer that records no command would write.
    let stripped = root.join("stripped");
    std::fs::create_dir(&stripped).unwrap();
    for file in testkit::trace_files(&run.traces) {
        let text = std::fs::read_to_string(&file).unwrap();
        let (head, rest) = text.split_once('\n').unwrap();
        let mut h: Value = serde_json::from_str(head).unwrap();
        // No command at all: neither argv nor a re-run template.
        let h_obj = h.as_object_mut().unwrap();
        h_obj.remove("argv");
        h_obj.remove("rerun");
        std::fs::write(
            stripped.join(file.file_name().unwrap()),
            format!("{h}\n{rest}"),
        )
        .unwrap();
    }
    let (n, _) = likely_cause(&run, JWT_VICTIM).expect("the leak is named");
    let opts = options(&stripped, Target::Finding(n), &dir(root, "runs"), &env);
    let plan = confirm::plan::plan(&opts).unwrap();
    assert!(plan.needs_consent().is_empty(), "nothing to run");
    let c = confirm::execute(&plan, &opts, &mut |_| {});
    assert_eq!(c.verdict, Verdict::Inconclusive, "{}", show(&c));
    assert!(c.summary.contains("no argv"), "{}", c.summary);
    assert!(c.alone.is_empty() && !dir(root, "runs").exists());
}

/// `run --confirm`'s library half: the traced suite's report, then every
/// failed victim's likely causes confirmed within one budget, the verdicts
/// written onto the report's findings.
fn auto_options(
    run: &SuiteRun,
    url: &str,
    work: &Path,
    budget: Duration,
) -> confirm::auto::AutoOptions {
    confirm::auto::AutoOptions {
        inputs: vec![run.traces.clone()],
        run: run.report["run_id"].as_str().map(str::to_owned),
        legacy_tz: Default::default(),
        budget,
        dir: work.to_path_buf(),
        env: vec![("DATABASE_URL".into(), url.into())],
        reset: None,
    }
}

fn analyzed(run: &SuiteRun) -> trace_analyzer::model::Report {
    trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
        inputs: vec![run.traces.clone()],
        run: run.report["run_id"].as_str().map(str::to_owned),
        ..Default::default()
    })
    .run()
    .expect("the run's traces are analyzable")
    .report
}

#[test]
fn run_confirm_confirms_the_victims_likely_cause_within_its_budget() {
    let root = tempfile::tempdir().unwrap();
    let (run, url) = failing_suite_run(root.path());
    let mut report = analyzed(&run);
    let work = dir(root.path(), "auto");
    let started = std::time::Instant::now();
    let done = confirm::auto::confirm_likely_causes(
        &mut report,
        &auto_options(&run, &url, &work, Duration::from_secs(90)),
        &mut |_| {},
    );
    assert!(
        started.elapsed() < Duration::from_secs(90 + 60),
        "{:?}",
        started.elapsed()
    );
    let cause = report
        .findings
        .iter()
        .find(|f| f.likely_cause && f.victim.as_ref().is_some_and(|v| v.scenario == VICTIM))
        .expect("the victim's likely cause");
    let c = cause.confirm.as_ref().expect("reruns were made for it");
    assert_eq!(cause.verdict, Some(Verdict::Confirmed), "{}", c.summary);
    assert!(c.reproduced >= 1 && c.attempts >= c.reproduced, "{c:?}");
    assert_eq!((c.alone, c.passed_alone), (2, 2), "{c:?}");
    assert!(c.folder.is_dir(), "{}", c.folder.display());
    assert!(done.confirmed >= 1 && done.judged >= 1, "{done:?}");
    // Findings that are not likely causes get no verdict.
    assert!(report
        .findings
        .iter()
        .filter(|f| !f.likely_cause)
        .all(|f| f.verdict.is_none()));
    // The JSON report carries it.
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["verdict"] == "confirmed" && f["confirm"]["reproduced"].as_u64() >= Some(1)));
}

#[test]
fn run_confirm_with_no_budget_left_runs_nothing_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let (run, url) = failing_suite_run(root.path());
    let mut report = analyzed(&run);
    let work = dir(root.path(), "none");
    let started = std::time::Instant::now();
    let done = confirm::auto::confirm_likely_causes(
        &mut report,
        &auto_options(&run, &url, &work, Duration::ZERO),
        &mut |_| {},
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(done.reruns, 0, "{done:?}");
    assert_eq!(done.not_reached, done.victims, "{done:?}");
    assert!(done.victims >= 1);
    // Every likely cause says it was not tried, and why; nothing else
    // gets a verdict.
    for f in &report.findings {
        if f.likely_cause
            && f.victim
                .as_ref()
                .is_some_and(|v| v.outcome == trace_analyzer::model::ScenarioOutcome::Failed)
        {
            assert_eq!(f.verdict, Some(Verdict::Inconclusive));
            let c = f.confirm.as_ref().unwrap();
            assert!(
                c.summary.starts_with("not tried: the budget ran out"),
                "{}",
                c.summary
            );
            assert_eq!(c.attempts, 0);
        } else {
            assert_eq!(f.verdict, None);
        }
    }
}

#[test]
fn run_confirm_stops_within_a_short_budget_plus_one_attempt() {
    let root = tempfile::tempdir().unwrap();
    let (run, url) = failing_suite_run(root.path());
    let mut report = analyzed(&run);
    let work = dir(root.path(), "short");
    let started = std::time::Instant::now();
    let done = confirm::auto::confirm_likely_causes(
        &mut report,
        &auto_options(&run, &url, &work, Duration::from_millis(1500)),
        &mut |_| {},
    );
    // One run of the demo takes well under 10 s even on a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(1) + Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // Whatever was reached has a verdict, and an unfinished one is not
    // called "not reproduced".
    for f in report.findings.iter().filter(|f| f.verdict.is_some()) {
        let c = f.confirm.as_ref().unwrap();
        assert!(
            f.verdict != Some(Verdict::NotReproduced) || c.attempts >= 40,
            "{:?}: {}",
            f.verdict,
            c.summary
        );
    }
    assert!(done.judged + done.not_reached >= 1, "{done:?}");
}
