//! `report --format html`: one self-contained HTML file with the run's
//! timeline, for people who need to *see* which scenario ran alongside which.
//!
//! The page is a single file: the CSS and JS in `analyzer/assets/` are inlined
//! with `include_str!`, nothing is loaded from the network (a Content Security
//! Policy with `default-src 'none'` makes sure of it), so it opens from a CI
//! artifact with a double-click. The page draws on a canvas, so 100,000
//! records stay fluid.
//!
//! # View model
//!
//! The Rust side computes everything layout-related ([`timeline::TimelineView`],
//! sub-lanes included) and embeds it as JSON in
//! `<script type="application/json" id="timeline-data">`. Shape (version 1):
//!
//! ```text
//! { "version": 1,
//!   "run_id": "…", "origin": "RFC 3339 wall time of t=0", "span_us": 123456,
//!   "summary": { "processes": 3, "scenarios": 40, "failures": 2, "unfinished": 0,
//!                "records": 1234, "findings_by_rule": { "concurrent-mutation": 2 } },
//!   "processes": [ { "pid": 4242, "label": "auth", "crashed": false, "lanes": 2 } ],
//!   "scenarios": [ { "proc": 0, "lane": 1, "feature": "…", "name": "…",
//!                    "outcome": "passed|failed|skipped|unfinished",
//!                    "start_us": 10, "end_us": 900, "error": "…"? } ],
//!   "markers":   [ { "proc": 0, "scenario": 3|null, "lane": 1,
//!                    "kind": "cleanup|write|schema|secret|config|http|read|tx|custom",
//!                    "action": "DB_CLEANUP", "t_us": 450, "details": "…" } ],
//!   "findings":  [ { "rule": "…", "severity": "error|warning", "likely_cause": true,
//!                    "polluter": { "proc": 1|null, "pid": 77, "scenario": 5|null,
//!                                  "feature": "…", "name": "…", "t_us": 440 } | null,
//!                    "victim":   { …same… } | null,
//!                    "resource": "…", "explanation": "…", "at_us": 440,
//!                    "action": "DB_CLEANUP"?, "occurrences": 1,
//!                    "reproduce": "feature: polluter → feature: victim   $ command"? } ] }
//! ```
//!
//! `report --format html` streams its page ([`lod`]) in a compact encoding of
//! the same content (version 3): scenarios as rows
//! `[id, proc, lane, feature, "name", outcome, start_us − the previous row's
//! start_us, end_us − start_us, "error"?]` in the order they ended; markers as
//! one array per field (`{"t_us": [difference to the previous marker's], "proc": […],
//! "scenario": [… −1 for none], "lane": […], "kind": [index into lod.kinds],
//! "action": […], "details": […]}`); `feature`, `action` and `details` are
//! indices into `"strings": […]`, `outcome` into `"outcomes": […]`. The page's
//! script expands them to the objects above when it loads ([`page_data`] does
//! the same in Rust). Streamed pages also carry `aggregates` and `lod` (see
//! [`lod`]).
//!
//! `proc` and `scenario` are indices into `processes` and `scenarios`
//! (scenario names repeat across runs of an outline). All times are
//! µs since the run's first record, on the wall clock shared by all
//! processes. Markers are sorted by time; findings come likely causes first.
//!
//! # Escaping
//!
//! Every string in the view model is user text (scenario names, SQL, error
//! messages). The JSON is made inert inside the `<script>` element by
//! escaping `<`, `>`, `&`, U+2028 and U+2029, and the page only ever inserts
//! text with `textContent`, never `innerHTML`.

pub mod lod;
pub(crate) mod timeline;

use std::io::{self, Write};

pub use timeline::TimelineView;

use crate::model;

const TEMPLATE: &str = include_str!("../../../assets/timeline.html");
const STYLE: &str = include_str!("../../../assets/timeline.css");
const SCRIPT: &str = include_str!("../../../assets/timeline.js");

/// Writes the HTML report of an analyzed run: `timeline` is the analyzer's
/// in-memory timeline (ask the analysis for it when the format is HTML).
pub fn write_report(
    report: &model::Report,
    timeline: &model::Timeline,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_html(&TimelineView::build(report, timeline), out)
}

/// Writes the self-contained HTML page of a view model to `out`.
pub fn write_html(timeline: &TimelineView, out: &mut dyn Write) -> io::Result<()> {
    let data = serde_json::to_string(timeline).map_err(io::Error::other)?;
    let data = script_safe_json(&data);
    // The template has three slots; everything around them is static text.
    let (head, rest) = split_once(TEMPLATE, "/*@STYLE@*/")?;
    let (middle, rest) = split_once(rest, "@DATA@")?;
    let (before_script, tail) = split_once(rest, "/*@SCRIPT@*/")?;
    out.write_all(head.as_bytes())?;
    out.write_all(STYLE.as_bytes())?;
    out.write_all(middle.as_bytes())?;
    out.write_all(data.as_bytes())?;
    out.write_all(before_script.as_bytes())?;
    out.write_all(SCRIPT.as_bytes())?;
    out.write_all(tail.as_bytes())?;
    out.flush()
}

/// The view model embedded in a page, as objects whatever the page's
/// version (a streamed page's compact rows and columns are expanded as its
/// script expands them: [`lod::expand`]); `None` if the page has none.
pub fn page_data(html: &str) -> Option<serde_json::Value> {
    let open = "id=\"timeline-data\">";
    let start = html.find(open)? + open.len();
    let end = start + html[start..].find("</script>")?;
    serde_json::from_str(&html[start..end])
        .ok()
        .map(lod::expand)
}

/// [`write_html`] into a `String`, for tests and small reports.
pub fn to_html_string(timeline: &TimelineView) -> String {
    let mut out = Vec::new();
    write_html(timeline, &mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("template, assets and JSON are UTF-8")
}

fn split_once<'a>(s: &'a str, slot: &str) -> io::Result<(&'a str, &'a str)> {
    s.split_once(slot).ok_or_else(|| {
        io::Error::other(format!(
            "HTML template is missing the {slot} slot (build bug)"
        ))
    })
}

/// Makes serialized JSON safe to embed in a `<script>` element: no `</script>`,
/// no `<!--`, no HTML entities, and no line separators that old JS parsers
/// treat as newlines. Outside strings JSON never contains these characters,
/// so the escapes only ever land inside string literals, where `\uXXXX`
/// means the same character.
pub fn script_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Hand-built analyzer results for the render and export tests.
    use crate::model::*;
    use chrono::{DateTime, Duration, Utc};
    use state_tracer_format::parse_wall_time;

    pub fn t(ms: i64) -> DateTime<Utc> {
        parse_wall_time("2026-04-11T10:10:53.000000Z").unwrap() + Duration::milliseconds(ms)
    }

    pub fn span(
        id: usize,
        pid: u32,
        name: &str,
        start: i64,
        end: Option<i64>,
        outcome: ScenarioOutcome,
    ) -> ScenarioSpan {
        ScenarioSpan {
            id,
            pid,
            label: format!("proc{pid}"),
            feature: "feat".into(),
            name: name.into(),
            outcome,
            start: t(start),
            end: end.map(t),
            last: t(end.unwrap_or(start)),
            tid: 0,
            error: None,
        }
    }

    pub fn action(
        ms: i64,
        pid: u32,
        scenario: Option<usize>,
        action: &str,
        kind: &str,
        details: &str,
    ) -> ActionMark {
        ActionMark {
            ts: t(ms),
            pid,
            scenario,
            action: action.into(),
            kind: kind.into(),
            resource: Some("shared:sqlite:/x.db/main/users".into()),
            details: Some(details.into()),
            mutation: kind != "read",
        }
    }

    pub fn sref(s: &ScenarioSpan) -> ScenarioRef {
        ScenarioRef {
            pid: s.pid,
            label: s.label.clone(),
            feature: s.feature.clone(),
            scenario: s.name.clone(),
            outcome: s.outcome,
            start: s.start,
            end: s.end,
            id: s.id,
        }
    }

    pub fn finding(
        rule: RuleId,
        severity: Severity,
        likely: bool,
        polluter: Option<&ScenarioSpan>,
        victim: Option<&ScenarioSpan>,
        at: i64,
    ) -> Finding {
        Finding {
            rule,
            severity,
            likely_cause: likely,
            victim: victim.map(sref),
            polluter: polluter.map(sref),
            role: polluter.map(|_| "polluter".into()),
            resource: "shared:sqlite:/x.db/main/*".into(),
            at: t(at),
            action: Some("DB_CLEANUP".into()),
            explanation: format!("{rule} explained"),
            occurrences: 1,
            reproduce: None,
            confidence: None,
            why: None,
            evidence: None,
            history: None,
            verdict: None,
            confirm: None,
        }
    }

    pub fn report(run_id: &str, timeline: &Timeline, findings: Vec<Finding>) -> Report {
        Report {
            run_id: run_id.into(),
            other_runs: Vec::new(),
            start: timeline.start,
            end: timeline.end,
            records: (timeline.actions.len() + 2 * timeline.scenarios.len()) as u64,
            processes: Vec::new(),
            findings,
            overlaps: Vec::new(),
            overlap_pairs: 0,
            warnings: Vec::new(),
            hazards: Vec::new(),
            suite: None,
        }
    }

    /// Two processes; pid 2 runs two overlapping scenarios; pid 1's cleanup
    /// hits pid 2's failing victim; one scenario never ends; one has a
    /// hostile name.
    pub fn sample() -> (Report, Timeline) {
        use ScenarioOutcome::*;
        let scenarios = vec![
            span(0, 1, "Polluter cleans up", 0, Some(100), Passed),
            span(1, 2, "Victim reads users", 10, Some(150), Failed),
            span(2, 2, "<img src=x onerror=alert(1)>", 20, Some(60), Passed),
            span(3, 2, "Runs in freed lane", 70, Some(90), Passed),
            span(4, 1, "Never ends", 120, None, Unfinished),
        ];
        let actions = vec![
            action(
                5,
                1,
                Some(0),
                "DB_INSERT",
                "write",
                "INSERT INTO users VALUES (?)",
            ),
            action(30, 2, Some(1), "DB_SELECT", "read", "SELECT * FROM users"),
            action(40, 1, Some(0), "DB_CLEANUP", "cleanup", "all tables"),
            action(45, 2, Some(2), "JWT_ROTATE", "secret", "fp 1a2b"),
            action(130, 1, Some(4), "HTTP_REQUEST", "http", "GET /health 200"),
            action(135, 1, None, "CUSTOM", "custom", "outside any scenario"),
        ];
        let timeline = Timeline {
            run_id: "run-</script>-1".into(),
            start: Some(t(0)),
            end: Some(t(150)),
            processes: vec![
                TimelineProcess {
                    pid: 1,
                    label: "worker-a".into(),
                    crashed: true,
                },
                TimelineProcess {
                    pid: 2,
                    label: "worker-b".into(),
                    crashed: false,
                },
            ],
            scenarios,
            actions,
        };
        let findings = vec![
            finding(
                RuleId::UnfinishedScenario,
                Severity::Error,
                false,
                None,
                Some(&timeline.scenarios[4]),
                120,
            ),
            finding(
                RuleId::ConcurrentMutation,
                Severity::Error,
                true,
                Some(&timeline.scenarios[0]),
                Some(&timeline.scenarios[1]),
                40,
            ),
        ];
        (report("run-</script>-1", &timeline, findings), timeline)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::timeline::*;
    use super::*;
    use crate::model::*;

    #[test]
    fn overlapping_scenarios_get_sub_lanes_and_reuse_freed_ones() {
        let (report, timeline) = sample();
        let view = TimelineView::build(&report, &timeline);
        let lanes: Vec<(u32, u32)> = view.scenarios.iter().map(|s| (s.proc, s.lane)).collect();
        // pid 2: victim (10..150) lane 0, hostile (20..60) lane 1, freed lane 1 reused at 70.
        assert_eq!(lanes, [(0, 0), (1, 0), (1, 1), (1, 1), (0, 0)]);
        assert_eq!(view.processes[1].lanes, 2);
        assert_eq!(view.processes[0].lanes, 1);
        assert_eq!(
            view.markers[3].lane, 1,
            "a marker sits on its scenario's lane"
        );
    }

    #[test]
    fn many_overlaps_use_exactly_the_peak_concurrency() {
        use ScenarioOutcome::Passed;
        // Ten scenarios each overlapping the next: never more than two at once.
        let scenarios: Vec<ScenarioSpan> = (0..10)
            .map(|i| {
                span(
                    i,
                    7,
                    &format!("s{i}"),
                    i as i64 * 10,
                    Some(i as i64 * 10 + 15),
                    Passed,
                )
            })
            .collect();
        let timeline = Timeline {
            run_id: "r".into(),
            scenarios,
            ..Timeline::default()
        };
        let view = TimelineView::build(&report("r", &timeline, vec![]), &timeline);
        assert_eq!(view.processes[0].lanes, 2);
        for pair in view.scenarios.windows(2) {
            assert_ne!(
                pair[0].lane, pair[1].lane,
                "overlapping neighbours share no lane"
            );
        }
    }

    #[test]
    fn times_are_relative_to_the_run_start_and_unfinished_bars_have_length() {
        let (report, timeline) = sample();
        let view = TimelineView::build(&report, &timeline);
        assert_eq!(view.origin, "2026-04-11T10:10:53.000000Z");
        assert_eq!(
            (view.scenarios[1].start_us, view.scenarios[1].end_us),
            (10_000, 150_000)
        );
        assert_eq!(view.scenarios[4].outcome, BarOutcome::Unfinished);
        assert_eq!(
            view.scenarios[4].end_us,
            120_000.max(view.scenarios[4].start_us)
        );
        assert_eq!(view.span_us, 150_000);
        assert_eq!((view.summary.failures, view.summary.unfinished), (1, 1));
        assert!(view.processes[0].crashed);
    }

    #[test]
    fn findings_point_from_the_mutation_to_the_victim_likely_causes_first() {
        let (report, timeline) = sample();
        let view = TimelineView::build(&report, &timeline);
        let f = &view.findings[0];
        assert_eq!(
            (f.rule.as_str(), f.likely_cause),
            ("concurrent-mutation", true)
        );
        let (p, v) = (f.polluter.as_ref().unwrap(), f.victim.as_ref().unwrap());
        assert_eq!((p.proc, p.scenario, p.t_us), (Some(0), Some(0), 40_000));
        assert_eq!((v.proc, v.scenario, v.t_us), (Some(1), Some(1), 40_000));
        let u = &view.findings[1];
        assert!(u.polluter.is_none());
        assert_eq!(u.victim.as_ref().unwrap().scenario, Some(4));
        assert_eq!(view.summary.findings_by_rule["unfinished-scenario"], 1);
    }

    #[test]
    fn hostile_text_cannot_close_the_data_script() {
        let (report, timeline) = sample();
        let mut view = TimelineView::build(&report, &timeline);
        view.markers[0].details = "a\u{2028}b\u{2029} & <!-- -->".into();
        let html = to_html_string(&view);
        let open = "id=\"timeline-data\">";
        let start = html.find(open).unwrap() + open.len();
        let data = &html[start..start + html[start..].find("</script>").unwrap()];
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!data.contains(bad), "{bad:?} is escaped");
        }
        let back: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(back["scenarios"][2]["name"], "<img src=x onerror=alert(1)>");
        assert_eq!(back["run_id"], "run-</script>-1");
        assert_eq!(
            back["markers"][0]["details"],
            "a\u{2028}b\u{2029} & <!-- -->"
        );
        assert!(!html.contains("<img"), "no raw tag anywhere in the page");
    }

    #[test]
    fn page_is_self_contained() {
        let (report, timeline) = sample();
        let mut out = Vec::new();
        write_report(&report, &timeline, &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("default-src 'none'"), "CSP forbids any load");
        for remote in [
            "http://",
            "https://",
            "//cdn",
            "@import",
            "src=\"",
            "url(",
            "innerHTML",
        ] {
            assert!(!html.contains(remote), "page contains {remote}");
        }
    }

    #[test]
    fn empty_run_still_renders() {
        let timeline = Timeline::default();
        let html = to_html_string(&TimelineView::build(
            &report("", &timeline, vec![]),
            &timeline,
        ));
        assert!(html.contains("\"scenarios\":[]"));
    }

    #[test]
    fn long_details_are_cut_for_the_page() {
        let (report, mut timeline) = sample();
        timeline.actions[0].details = Some("é".repeat(10_000));
        let view = TimelineView::build(&report, &timeline);
        assert!(view.markers[0].details.len() <= 300 + '…'.len_utf8());
        assert!(view.markers[0].details.ends_with('…'));
    }
}
