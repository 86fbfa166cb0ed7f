//! The scorer on small fixed runs, so the grading cannot silently break:
//! a demo run in the older truth format (`data/demo-run-1`: a report in the
//! analyzer's JSON shape and who deleted whose rows), and hand-written
//! truth lines of every kind.

use std::path::Path;

use corpus::score::{score, score_dir, verdicts, Score};
use corpus::truth::Who;
use serde_json::{json, Value};

fn who(pid: u64, scenario: &str) -> Value {
    json!({"pid": pid, "feature": "f", "scenario": scenario})
}

#[test]
fn each_score_counts_what_its_name_says_on_a_demo_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/demo-run-1");
    let (meta, s) = score_dir(&dir).unwrap();
    assert_eq!((meta.shape.as_str(), meta.db.as_str()), ("demo", "sqlite"));
    assert_eq!(
        s,
        Score {
            runs: 1,
            // G1, D1, D2.
            failed: 3,
            // D2's rows were deleted by no one: the truth says nothing of it.
            judged: 2,
            unknown: 1,
            // G1 <- A1 is right; D1 names two polluters (A2, the first to
            // delete its rows, and G2, which deleted them later).
            top1: 1,
            recalled: 2,
            explained: 2,
            likely_polluters: 1 + 2,
            // Errors whose victim passed (A2 and G2).
            errors_on_passing: 2,
            findings: 7,
            errors: 6,
            ..Score::default()
        }
    );
}

#[test]
fn needs_blames_removers_whenever_they_wrote_and_changers_only_before_the_failure() {
    let truth = vec![
        json!({"ev": "changed", "by": who(2, "Reprice"), "table": "t", "tags": ["a"]}),
        json!({"ev": "failed", "who": who(1, "Victim"), "needs": ["a", "b"]}),
        // The remover of "b" answered after the victim noticed: it counts.
        json!({"ev": "removed", "by": who(3, "Wipe"), "table": "t", "tags": ["b"]}),
        // A change after the failure did not cause it.
        json!({"ev": "changed", "by": who(4, "Later"), "table": "t", "tags": ["a"]}),
        json!({"ev": "failed", "who": who(5, "Bug"), "genuine": true}),
        json!({"ev": "failed", "who": who(6, "Key"), "culprits": [who(7, "Last")], "also": [who(8, "First")]}),
    ];
    let v = verdicts(&truth);
    let names = |w: &Who| w.scenario.clone();
    let victim = &v[&Who::new(1, "f", "Victim")];
    assert_eq!(
        victim.culprits.iter().map(names).collect::<Vec<_>>(),
        ["Reprice", "Wipe"]
    );
    assert!(v[&Who::new(5, "f", "Bug")].genuine);
    let key = &v[&Who::new(6, "f", "Key")];
    assert_eq!(
        key.culprits.iter().map(names).collect::<Vec<_>>(),
        ["Last", "First"]
    );
}

#[test]
fn a_blamed_genuine_failure_and_a_tie_are_counted() {
    let truth = vec![
        json!({"ev": "failed", "who": who(1, "Bug"), "genuine": true}),
        json!({"ev": "failed", "who": who(2, "Victim"), "culprits": [who(3, "Wipe")]}),
    ];
    let order = |pid: u64, s: &str| json!({"pid": pid, "order": [{"feature": "f", "scenario": s, "outcome": "FAILED"}]});
    let likely = |victim: u64, vs: &str, polluter: u64, ps: &str| {
        json!({"severity": "error", "likely_cause": true,
               "victim": {"pid": victim, "feature": "f", "scenario": vs, "outcome": "FAILED"},
               "polluter": {"pid": polluter, "feature": "f", "scenario": ps}})
    };
    let report = json!({
        "processes": [order(1, "Bug"), order(2, "Victim")],
        "findings": [likely(1, "Bug", 9, "Other"), likely(2, "Victim", 3, "Wipe"), likely(2, "Victim", 4, "Decoy")],
    });
    let s = score(&report, &truth);
    assert_eq!((s.genuine, s.genuine_blamed), (1, 1));
    assert_eq!(
        (s.judged, s.top1, s.recalled, s.likely_polluters),
        (1, 0, 1, 2)
    );
}
