//! A small fixture run written as real v1 trace files, shared by the
//! browser and Chrome export tests (`#[path]`-included by both).
//!
//! pid 101 (api-tests) wipes every table while pid 202 (auth-tests) runs
//! "Login works", which then reads users and fails; pid 202 also runs a
//! scenario with a hostile name at the same time (an overlap in one process).

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use state_tracer_format::{
    parse_wall_time, Action, Event, Footer, Header, Outcome, Record, Resource,
};

pub const HOSTILE: &str = "<img src=x onerror=alert(1)>";
pub const RUN: &str = "browser-fixture-run";

fn t(ms: i64) -> DateTime<Utc> {
    parse_wall_time("2026-04-11T10:10:53.000000Z").unwrap() + Duration::milliseconds(ms)
}

/// Writes one v1 trace file: header, events, and a footer unless `crashed`.
struct TraceFile {
    pid: u32,
    label: &'static str,
    seq: u64,
    lines: Vec<u8>,
}

impl TraceFile {
    fn new(pid: u32, label: &'static str) -> Self {
        let mut f = TraceFile {
            pid,
            label,
            seq: 0,
            lines: Vec::new(),
        };
        Record::Header(Header {
            format: "bdd-state-trace".into(),
            version: 1,
            run_id: RUN.into(),
            pid,
            ppid: None,
            host: "ci".into(),
            process: label.into(),
            argv: Vec::new(),
            tracer: "fixture".into(),
            start: t(0),
            config: Vec::new(),
            rerun: None,
            cwd: None,
        })
        .write_line(&mut f.lines);
        f
    }

    fn event(
        &mut self,
        ms: i64,
        id: u64,
        scenario: &str,
        action: Action,
        edit: impl FnOnce(&mut Event<'static>),
    ) {
        self.seq += 1;
        let mut e = Event {
            mono_ns: ms as u64 * 1_000_000,
            tid: id,
            scenario_id: Some(id),
            feature: Some("accounts".into()),
            scenario: Some(scenario.to_owned().into()),
            ..Event::new(self.seq, t(ms), action)
        };
        edit(&mut e);
        Record::Event(e).write_line(&mut self.lines);
    }

    fn scenario(&mut self, id: u64, name: &str, start: i64) {
        self.event(start, id, name, Action::ScenarioStart, |_| {});
    }

    fn end(&mut self, id: u64, name: &str, ms: i64, outcome: Outcome) {
        self.event(ms, id, name, Action::ScenarioEnd, |e| {
            e.outcome = Some(outcome);
            if outcome == Outcome::Failed {
                e.error = Some("expected user alice, found none".into());
            }
        });
    }

    fn save(mut self, dir: &Path, end_ms: i64) {
        self.seq += 1;
        Record::Footer(Footer {
            seq: self.seq,
            ts: t(end_ms),
            mono_ns: 0,
            records: self.seq,
            dropped: 0,
        })
        .write_line(&mut self.lines);
        let name = format!(
            "bdd-state-trace-{RUN}-20260411T101053.000000Z-{}-0000abcd.jsonl",
            self.pid
        );
        std::fs::write(dir.join(name), &self.lines).unwrap();
        let _ = self.label;
    }
}

fn users(tables: &[&str]) -> Resource<'static> {
    Resource::tables(
        "sqlite:/tmp/fixture.db",
        "main",
        tables.iter().map(|t| t.to_string().into()),
    )
}

/// pid 101 wipes every table while pid 202's "Login works" reads users and
/// then fails; pid 202 also runs a hostile-named scenario at the same time.
pub fn fixture_run(dir: &Path) {
    let mut a = TraceFile::new(101, "api-tests");
    a.scenario(1, "Cleanup wipes users", 0);
    a.event(5, 1, "Cleanup wipes users", Action::DbInsert, |e| {
        e.resource = Some(users(&["orders"]));
        e.details = Some("INSERT INTO orders (id) VALUES (?)".into());
    });
    a.event(40, 1, "Cleanup wipes users", Action::DbCleanup, |e| {
        e.resource = Some(users(&[]))
    });
    a.end(1, "Cleanup wipes users", 100, Outcome::Passed);
    a.save(dir, 110);

    let mut b = TraceFile::new(202, "auth-tests");
    b.scenario(1, "Login works", 10);
    b.event(15, 1, "Login works", Action::DbInsert, |e| {
        e.resource = Some(users(&["users"]));
        e.details = Some("INSERT INTO users (name) VALUES (?)".into());
    });
    b.scenario(2, HOSTILE, 20);
    b.event(30, 2, HOSTILE, Action::HttpRequest, |e| {
        e.fields = vec![
            ("method".into(), "GET".into()),
            ("path".into(), "/health".into()),
            ("status".into(), "200".into()),
        ];
    });
    b.event(60, 1, "Login works", Action::DbSelect, |e| {
        e.resource = Some(users(&["users"]));
        e.details = Some("SELECT * FROM users WHERE name = ?".into());
        e.rows = Some(0);
    });
    b.end(2, HOSTILE, 70, Outcome::Passed);
    b.end(1, "Login works", 150, Outcome::Failed);
    b.save(dir, 160);
}

/// A run drawn with a level of detail (`--detail summary`): each process
/// runs a busy passing scenario before and after the planted pollution
/// (reads of its own database and HTTP calls, which get aggregated), so the
/// finding sits inside an aggregated stretch of its lanes; one busy
/// scenario has the hostile name.
#[allow(dead_code)] // used by the browser test only
pub fn busy_run(dir: &Path) {
    let busy = |f: &mut TraceFile, id: u64, name: &str, from: i64, n: i64| {
        let own = format!("sqlite:/tmp/busy-{}.db", f.pid);
        f.scenario(id, name, from);
        for k in 0..n {
            let action = if k % 3 == 0 {
                Action::HttpRequest
            } else {
                Action::DbSelect
            };
            f.event(from + 1 + k, id, name, action, |e| {
                if action == Action::DbSelect {
                    e.resource = Some(Resource::tables(own.clone(), "main", ["cache".into()]));
                    e.details = Some("SELECT * FROM cache".into());
                }
            });
        }
        f.end(id, name, from + 2 + n, Outcome::Passed);
    };
    let mut a = TraceFile::new(101, "api-tests");
    busy(&mut a, 1, HOSTILE, 0, 30);
    a.scenario(2, "Cleanup wipes users", 40);
    a.event(60, 2, "Cleanup wipes users", Action::DbCleanup, |e| {
        e.resource = Some(users(&[]))
    });
    a.end(2, "Cleanup wipes users", 100, Outcome::Passed);
    busy(&mut a, 3, "Reads after cleanup", 110, 40);
    a.save(dir, 160);

    let mut b = TraceFile::new(202, "auth-tests");
    busy(&mut b, 1, "Warms the cache", 0, 35);
    b.scenario(2, "Login works", 45);
    b.event(50, 2, "Login works", Action::DbInsert, |e| {
        e.resource = Some(users(&["users"]));
        e.details = Some("INSERT INTO users (name) VALUES (?)".into());
    });
    b.event(70, 2, "Login works", Action::DbSelect, |e| {
        e.resource = Some(users(&["users"]));
        e.details = Some("SELECT * FROM users WHERE name = ?".into());
        e.rows = Some(0);
    });
    b.end(2, "Login works", 90, Outcome::Failed);
    busy(&mut b, 3, "Cools down", 100, 50);
    b.save(dir, 160);
}

/// `trace-analyzer report TRACES --format html --detail DETAIL`: the page.
#[allow(dead_code)] // used by the browser and page-data tests only
pub fn html_report(traces: &Path, detail: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .arg("report")
        .arg(traces)
        .args(["--format", "html", "--fail-on", "never", "--detail", detail])
        .output()
        .expect("run trace-analyzer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the page is UTF-8")
}
