//! The whole loop on embedded SQLite: the suite's processes really pollute
//! each other, and the analyzer names polluter and victim from the traces.

mod support;

use support::*;

fn sqlite_url(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

#[test]
fn parallel_cleanup_breaks_the_greet_victim_and_the_analyzer_names_the_polluter() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    victim_is_found(&root, "sqlite-par", |attempt| {
        sqlite_url(&root, &format!("shared-{attempt}.sqlite"))
    });
}

#[test]
fn a_rotated_jwt_secret_without_reset_is_reported_as_leaked_state() {
    let dir = tempfile::tempdir().unwrap();
    leaked_secret_is_found(
        dir.path(),
        "sqlite-jwt",
        &sqlite_url(dir.path(), "jwt.sqlite"),
    );
}

#[test]
fn isolated_parallel_runs_pass_and_show_overlap_without_pollution() {
    let dir = tempfile::tempdir().unwrap();
    isolated_runs_are_clean(
        dir.path(),
        "sqlite-iso",
        &sqlite_url(dir.path(), "iso.sqlite"),
        3,
    );
}

#[test]
fn concurrent_scenarios_in_one_process_never_mix() {
    let dir = tempfile::tempdir().unwrap();
    let features = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/features");
    let url = sqlite_url(dir.path(), "conc.sqlite");
    let run = run_traced(
        dir.path(),
        "conc",
        &["feature", "concurrency"],
        &[
            ("DATABASE_URL", &url),
            ("BDD_CONCURRENCY", "6"),
            ("BDD_FEATURES_DIR", features),
        ],
    );
    let records = records(&run.traces);
    let events: Vec<&serde_json::Value> = records.iter().filter(|r| r["type"] == "event").collect();
    let count = |id: u64, f: &dyn Fn(&serde_json::Value) -> bool| {
        events
            .iter()
            .filter(|r| r["scenario_id"].as_u64() == Some(id) && f(r))
            .count()
    };
    let mut intervals = Vec::new();
    for start in events.iter().filter(|r| r["action"] == "SCENARIO_START") {
        let id = start["scenario_id"].as_u64().expect("scenario id");
        let name = start["scenario"].as_str().unwrap();
        // Every record carrying this id carries this scenario's name.
        for r in events
            .iter()
            .filter(|r| r["scenario_id"].as_u64() == Some(id))
        {
            assert_eq!(r["scenario"], name, "mixed record: {r}");
        }
        assert_eq!(count(id, &|r| r["action"] == "SCENARIO_END"), 1, "{name}");
        // Background + 2 steps, each started and ended once.
        assert_eq!(count(id, &|r| r["action"] == "STEP_START"), 3, "{name}");
        assert_eq!(count(id, &|r| r["action"] == "STEP_END"), 3, "{name}");
        // Exactly its own health check, registration and greeting, issued
        // by step code that knows nothing about tracing.
        assert_eq!(count(id, &|r| r["action"] == "HTTP_REQUEST"), 1, "{name}");
        let table = |r: &serde_json::Value, t: &str| r["resource"]["tables"][0] == t;
        assert_eq!(
            count(id, &|r| r["action"] == "DB_INSERT" && table(r, "users")),
            1,
            "{name}"
        );
        // The greeting looks the user up, then records the greeting; the
        // insert is missing when another scenario's cleanup won the race
        // (the very pollution this suite demonstrates).
        assert_eq!(
            count(id, &|r| r["action"] == "DB_SELECT" && table(r, "users")),
            1,
            "{name}"
        );
        assert!(
            count(id, &|r| r["action"] == "DB_INSERT" && table(r, "greetings")) <= 1,
            "{name}"
        );
        // Its own after hook's cleanup of the three tables.
        assert_eq!(count(id, &|r| r["action"] == "DB_CLEANUP"), 3, "{name}");
        let end = events
            .iter()
            .find(|r| r["scenario_id"].as_u64() == Some(id) && r["action"] == "SCENARIO_END")
            .unwrap();
        intervals.push((
            start["ts"].as_str().unwrap().to_owned(),
            end["ts"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(intervals.len(), 6, "six scenarios ran");
    let overlapping = intervals
        .iter()
        .enumerate()
        .any(|(i, a)| intervals.iter().skip(i + 1).any(|b| a.0 < b.1 && b.0 < a.1));
    assert!(
        overlapping,
        "scenarios really ran concurrently: {intervals:?}"
    );
    // Once scenarios run, no statement or HTTP call goes unattributed (the
    // setup's DDL comes before the first scenario starts).
    let first_start = events
        .iter()
        .position(|r| r["action"] == "SCENARIO_START")
        .unwrap();
    let stray: Vec<_> = events[first_start..]
        .iter()
        .filter(|r| r["scenario_id"].is_null())
        .filter(|r| {
            let a = r["action"].as_str().unwrap_or("");
            a.starts_with("DB_") || a == "HTTP_REQUEST"
        })
        .collect();
    assert!(stray.is_empty(), "records outside any scenario: {stray:?}");
}
