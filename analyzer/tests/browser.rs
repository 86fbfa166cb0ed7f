//! The HTML timeline in a real headless Chromium: the report of a fixture
//! run (a planted pollution, overlapping scenarios, a hostile scenario name)
//! is loaded by `tests/browser/driver.js` (playwright-core driving Debian's
//! `/usr/bin/chromium`), which reports what the page shows; this test decides.
//!
//! Needs `node` and `chromium` (`scripts/setup.sh` installs them). Missing
//! either fails with what to install, unless
//! `STATE_TRACER_ALLOW_MISSING_TOOLS=1` is set: then it says so on stderr
//! and skips.
//! The screenshot goes to `<target>/test-artifacts/timeline.png`; the page
//! drawn with a level of detail to `timeline-lod.{html,png}`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use trace_analyzer::render::html::write_report;
use trace_analyzer::{AnalyzeOptions, Analyzer};

#[path = "browser/fixture.rs"]
mod fixture;
use fixture::{busy_run, fixture_run, html_report, HOSTILE};

fn node_and_chromium() -> Result<(), String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!("{chromium} not found: install Debian's chromium (`apt-get install -y chromium`, as .ci/run does)"));
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("node not found: install Node.js (Debian package `nodejs`)".into()),
    }
}

/// Installs playwright-core from the committed lockfile if it is not there yet.
fn driver_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("run npm ci in analyzer/tests/browser");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    }
    dir
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// False (skip) only when a tool is missing and the run opted out with
/// `STATE_TRACER_ALLOW_MISSING_TOOLS=1`; a missing tool otherwise fails.
fn tools_present(test: &str) -> bool {
    let Err(why) = node_and_chromium() else {
        return true;
    };
    if std::env::var("STATE_TRACER_ALLOW_MISSING_TOOLS").as_deref() != Ok("1") {
        panic!("browser test cannot run: {why} (run scripts/setup.sh, or set STATE_TRACER_ALLOW_MISSING_TOOLS=1 to skip)");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
}

#[test]
fn html_timeline_in_headless_chromium() {
    if !tools_present("html_timeline_in_headless_chromium") {
        return;
    }
    let traces = tempfile::tempdir().unwrap();
    fixture_run(traces.path());
    let analysis = Analyzer::new(&AnalyzeOptions {
        inputs: vec![traces.path().to_path_buf()],
        timeline: true,
        ..AnalyzeOptions::default()
    })
    .run()
    .unwrap();
    let timeline = analysis.timeline.as_ref().expect("timeline requested");
    let html_path = artifacts().join("timeline.html");
    let mut file = std::fs::File::create(&html_path).unwrap();
    write_report(&analysis.report, timeline, &mut file).unwrap();
    drop(file);

    let shot = artifacts().join("timeline.png");
    let _ = std::fs::remove_file(&shot);
    let seen = drive("check", &html_path, &shot, Some("login"));
    eprintln!("driver saw: {seen:#}");

    // Nothing went wrong in the page, and it loaded nothing from anywhere.
    assert_eq!(
        seen["pageErrors"],
        serde_json::json!([]),
        "no script errors"
    );
    assert_eq!(
        seen["console"],
        serde_json::json!([]),
        "no console errors or warnings"
    );
    assert_eq!(seen["dialogs"], serde_json::json!([]), "no alert ran");
    assert_eq!(
        seen["foreignRequests"],
        serde_json::json!([]),
        "self-contained: no requests"
    );

    // The expected bars, markers and findings are drawn.
    assert_eq!(seen["counts"]["processes"], 2);
    assert_eq!(seen["counts"]["scenarios"], 3);
    assert_eq!(
        seen["counts"]["rows"], 3,
        "pid 202 needs a second lane for its overlap"
    );
    assert_eq!(seen["drawn"]["bars"], 3);
    assert!(
        seen["drawn"]["markers"].as_u64().unwrap() >= 4,
        "insert, cleanup, HTTP, select"
    );
    let text = seen["findingsText"].as_str().unwrap();
    assert!(
        text.contains("concurrent-mutation"),
        "the planted pollution is listed: {text}"
    );
    assert!(
        text.contains("Cleanup wipes users") && text.contains("Login works"),
        "{text}"
    );
    assert!(seen["findingRows"].as_u64().unwrap() >= 1);
    assert!(
        seen["drawn"]["arrows"].as_u64().unwrap() >= 1,
        "an arrow polluter → victim"
    );

    // Every bar answers a hover with its own name; the hostile one as text.
    let hovers: Vec<&str> = seen["hoverTexts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in ["Cleanup wipes users", "Login works", HOSTILE] {
        assert!(
            hovers.contains(&name),
            "hovering shows {name:?}: {hovers:?}"
        );
    }
    assert_eq!(
        seen["imgElements"], 0,
        "the hostile name created no element"
    );
    assert_eq!(seen["scriptElements"], 2, "only the page's own scripts");

    // Clicking the first finding moves the view onto it.
    let (before, after) = (&seen["viewBefore"], &seen["viewAfter"]);
    assert_ne!(
        (&before["t0"], &before["t1"]),
        (&after["t0"], &after["t1"]),
        "the view moved"
    );
    assert_eq!(after["selected"], 0);
    assert_eq!(seen["selectedRow"], 0);
    let cleanup_at = 40_000.0;
    let (t0, t1) = (after["t0"].as_f64().unwrap(), after["t1"].as_f64().unwrap());
    assert!(
        t0 < cleanup_at && cleanup_at < t1,
        "the mutation is in view: {t0}..{t1}"
    );
    assert!(
        t1 - t0 < before["t1"].as_f64().unwrap() - before["t0"].as_f64().unwrap(),
        "zoomed in"
    );
    assert_eq!(seen["wheelZoomedIn"], true, "the wheel zooms");
    assert_eq!(
        seen["dragPannedLater"], true,
        "dragging left pans to later times"
    );
    assert_eq!(
        seen["barsByProcess"],
        serde_json::json!({"pid 101 · api-tests": 1, "pid 202 · auth-tests": 2}),
        "the process filter leaves that process's bars"
    );
    assert_eq!(
        seen["searchCount"], "1 match",
        "searching \"login\" finds \"Login works\""
    );

    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "screenshot at {}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
}

/// Runs the driver in `mode` over `page` (with the mode's `extra`
/// argument, if any); its JSON observations.
fn drive(mode: &str, page: &Path, shot: &Path, extra: Option<&str>) -> Value {
    let out = Command::new("node")
        .arg("driver.js")
        .arg(mode)
        .arg(page)
        .arg(shot)
        .args(extra)
        .current_dir(driver_dir())
        .output()
        .expect("run the node driver");
    assert!(
        out.status.success(),
        "driver failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("driver prints JSON")
}

#[test]
fn aggregated_page_keeps_findings_drawn_and_counts_the_rest() {
    if !tools_present("aggregated_page_keeps_findings_drawn_and_counts_the_rest") {
        return;
    }
    let traces = tempfile::tempdir().unwrap();
    busy_run(traces.path());
    let page = artifacts().join("timeline-lod.html");
    std::fs::write(&page, html_report(traces.path(), "summary")).unwrap();
    let shot = artifacts().join("timeline-lod.png");
    let seen = drive("lod", &page, &shot, None);
    eprintln!("driver saw: {seen:#}");

    for key in ["pageErrors", "console", "dialogs", "foreignRequests"] {
        assert_eq!(
            seen[key],
            serde_json::json!([]),
            "{key}: nothing went wrong"
        );
    }
    // The page says it aggregated, and how to get everything.
    assert_eq!(seen["lod"]["detail"], "summary");
    let note = seen["note"].as_str().expect("a level-of-detail note");
    assert!(note.contains("--detail full"), "{note}");
    assert!(seen["counts"]["aggregates"].as_u64().unwrap() > 0);
    assert!(
        seen["drawn"]["aggregates"].as_u64().unwrap() > 0,
        "aggregates drawn"
    );
    assert_eq!(seen["counts"]["scenarios"], 6, "every scenario bar is kept");

    // Every finding is drawn where hit-testing finds it, inside an
    // aggregated stretch of its victim's lane, and its row selects it.
    let findings = seen["findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "the planted pollution is found");
    for (i, f) in findings.iter().enumerate() {
        // Hit-testing its victim end finds it (or a finding with an end at
        // that very point, which the driver counts as this one).
        assert_eq!(f["hit"], i, "finding {i} is drawn and hit-tested: {f}");
    }
    assert!(
        findings
            .iter()
            .any(|f| f["aggregatesBefore"].as_u64() > Some(0)
                && f["aggregatesAfter"].as_u64() > Some(0)),
        "a finding lies between aggregates of its own lane: {findings:?}"
    );
    let selected: Vec<u64> = seen["selectedAfterClick"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(
        selected,
        (0..findings.len() as u64).collect::<Vec<_>>(),
        "each row selects its finding"
    );

    // Hovering an aggregate tells what it holds: counts by kind and time span,
    // and the scenario it belongs to, a hostile name as plain text.
    let tips = seen["aggregateTips"].as_array().unwrap();
    assert!(!tips.is_empty(), "aggregates answer a hover");
    for t in tips {
        let title = t["title"].as_str().unwrap();
        assert!(title.ends_with("actions aggregated"), "{title}");
        let rows: Vec<&str> = t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            rows.iter()
                .any(|r| r.starts_with("kinds") && (r.contains(" read") || r.contains(" HTTP"))),
            "counts by kind: {rows:?}"
        );
        assert!(
            rows.iter().any(|r| r.starts_with("from")) && rows.iter().any(|r| r.starts_with("to")),
            "{rows:?}"
        );
    }
    let hostile = tips.iter().find(|t| {
        t["rows"].as_array().unwrap().iter().any(|r| {
            r.as_str()
                .is_some_and(|r| r.starts_with("scenario") && r.contains(HOSTILE))
        })
    });
    assert!(
        hostile.is_some(),
        "the hostile scenario's aggregate names it: {tips:?}"
    );
    assert_eq!(
        seen["imgElements"], 0,
        "the hostile name created no element"
    );
}
