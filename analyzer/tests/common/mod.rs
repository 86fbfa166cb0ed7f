//! Fixture builder: writes real v1 trace files with the tracer's own
//! format types, so tests read like the scenario they plant.
#![allow(dead_code)]

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use state_tracer_format::{
    Action, Event, Footer, Header, Outcome, Record, Rerun, Resource, FORMAT_NAME, FORMAT_VERSION,
};
use trace_analyzer::{AnalyzeOptions, Analyzer, Finding, Report, RuleId};

pub const DB: &str = "postgres://localhost:5432/app";

/// 2026-04-11T10:00:00Z plus `ms` milliseconds.
pub fn t(ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 11, 10, 0, 0).unwrap() + Duration::milliseconds(ms)
}

/// One table of the shared database; `schema` None = unqualified.
pub fn table(schema: Option<&str>, name: &str) -> Resource<'static> {
    Resource {
        scope: state_tracer_format::Scope::Shared,
        db: Some(DB.into()),
        schema: schema.map(|s| Cow::Owned(s.to_owned())),
        tables: if name.is_empty() {
            vec![]
        } else {
            vec![Cow::Owned(name.to_owned())]
        },
        name: None,
    }
}

/// One table of a database named `db` (None: no `db`, identity unknown).
pub fn table_in(db: Option<&str>, name: &str) -> Resource<'static> {
    Resource {
        db: db.map(|d| Cow::Owned(d.to_owned())),
        ..table(None, name)
    }
}

/// Every table of a schema (None = the current one).
pub fn all_tables(schema: Option<&str>) -> Resource<'static> {
    table(schema, "")
}

/// One process's trace file under construction.
pub struct Proc {
    pub pid: u32,
    pub label: String,
    pub run: String,
    lines: Vec<u8>,
    seq: u64,
    last: DateTime<Utc>,
    footer: bool,
}

impl Proc {
    pub fn new(pid: u32, label: &str) -> Proc {
        Proc::in_run(pid, label, "run-1")
    }

    pub fn in_run(pid: u32, label: &str, run: &str) -> Proc {
        Proc::in_run_at(pid, label, run, 0)
    }

    /// A process of `run` whose header says it started at `t(start_ms)`.
    pub fn in_run_at(pid: u32, label: &str, run: &str, start_ms: i64) -> Proc {
        let mut lines = Vec::new();
        Record::Header(Header {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            run_id: run.to_owned().into(),
            pid,
            ppid: None,
            host: "test".into(),
            process: label.to_owned().into(),
            argv: vec![Cow::Owned(format!("target/debug/{label}"))],
            tracer: "fixture".into(),
            start: t(start_ms),
            config: vec![],
            // Recorded as the Rust tracer does for cucumber-rs.
            rerun: Some(Rerun {
                framework: "cucumber".into(),
                argv: vec![
                    Cow::Owned(format!("target/debug/{label}")),
                    "--name".into(),
                    "^{scenario}$".into(),
                ],
            }),
            cwd: None,
        })
        .write_line(&mut lines);
        Proc {
            pid,
            label: label.into(),
            run: run.into(),
            lines,
            seq: 0,
            last: t(0),
            footer: true,
        }
    }

    /// The same process with another command line in its header, and the
    /// given re-run template (None: none recorded).
    pub fn with_command(mut self, argv: &[&str], rerun: Option<Rerun<'static>>) -> Proc {
        let end = self.lines.iter().position(|&b| b == b'\n').unwrap() + 1;
        let first = String::from_utf8(self.lines[..end - 1].to_vec()).unwrap();
        let Ok(Record::Header(mut h)) = Record::parse(&first) else {
            panic!("line 1 is a header");
        };
        h.argv = argv.iter().map(|a| Cow::Owned(a.to_string())).collect();
        h.rerun = rerun;
        let mut lines = Vec::new();
        Record::Header(h).write_line(&mut lines);
        lines.extend_from_slice(&self.lines[end..]);
        self.lines = lines;
        self
    }

    /// The header's `cwd` and `config` entries (e.g. `DATABASE_URL`).
    pub fn with_setting(mut self, cwd: &str, config: &[(&str, &str)]) -> Proc {
        let end = self.lines.iter().position(|&b| b == b'\n').unwrap() + 1;
        let first = String::from_utf8(self.lines[..end - 1].to_vec()).unwrap();
        let Ok(Record::Header(mut h)) = Record::parse(&first) else {
            panic!("line 1 is a header");
        };
        h.cwd = Some(Cow::Owned(cwd.to_owned()));
        h.config.extend(
            config
                .iter()
                .map(|(k, v)| (Cow::Owned(k.to_string()), Cow::Owned(v.to_string()))),
        );
        let mut lines = Vec::new();
        Record::Header(h).write_line(&mut lines);
        lines.extend_from_slice(&self.lines[end..]);
        self.lines = lines;
        self
    }

    fn event(
        &mut self,
        ms: i64,
        id: Option<u64>,
        scenario: Option<(&str, &str)>,
        action: Action,
    ) -> Event<'static> {
        self.seq += 1;
        self.last = t(ms);
        Event {
            tid: 1,
            scenario_id: id,
            feature: scenario.map(|s| Cow::Owned(s.0.to_owned())),
            scenario: scenario.map(|s| Cow::Owned(s.1.to_owned())),
            ..Event::new(self.seq, t(ms), action)
        }
    }

    fn push(&mut self, e: Event<'_>) -> &mut Self {
        Record::Event(e).write_line(&mut self.lines);
        self
    }

    /// SCENARIO_START of scenario `id` named `feature: name`.
    pub fn start(&mut self, ms: i64, id: u64, feature: &str, name: &str) -> &mut Self {
        let e = self.event(ms, Some(id), Some((feature, name)), Action::ScenarioStart);
        self.push(e)
    }

    pub fn end(
        &mut self,
        ms: i64,
        id: u64,
        feature: &str,
        name: &str,
        outcome: Outcome,
    ) -> &mut Self {
        let mut e = self.event(ms, Some(id), Some((feature, name)), Action::ScenarioEnd);
        e.outcome = Some(outcome);
        self.push(e)
    }

    /// A state action inside scenario `id` (or outside any with None).
    pub fn act(
        &mut self,
        ms: i64,
        id: Option<u64>,
        action: Action,
        resource: Option<Resource<'static>>,
    ) -> &mut Self {
        let mut e = self.event(ms, id, None, action);
        e.resource = resource;
        self.push(e)
    }

    /// A state action whose event `edit` completes (rows, error, db).
    pub fn act_with(
        &mut self,
        ms: i64,
        id: Option<u64>,
        action: Action,
        resource: Option<Resource<'static>>,
        edit: impl FnOnce(&mut Event<'static>),
    ) -> &mut Self {
        let mut e = self.event(ms, id, None, action);
        e.resource = resource;
        edit(&mut e);
        self.push(e)
    }

    /// A state action that reports `rows`.
    pub fn act_rows(
        &mut self,
        ms: i64,
        id: Option<u64>,
        action: Action,
        resource: Option<Resource<'static>>,
        rows: u64,
    ) -> &mut Self {
        self.act_with(ms, id, action, resource, |e| e.rows = Some(rows))
    }

    /// A state action with details (DDL text, schema name).
    pub fn act_details(
        &mut self,
        ms: i64,
        id: Option<u64>,
        action: Action,
        resource: Option<Resource<'static>>,
        details: &str,
    ) -> &mut Self {
        let mut e = self.event(ms, id, None, action);
        e.resource = resource;
        e.details = Some(Cow::Owned(details.to_owned()));
        self.push(e)
    }

    /// SCHEMA_CREATE/SET/DROP of `schema`.
    pub fn schema(&mut self, ms: i64, id: Option<u64>, action: Action, schema: &str) -> &mut Self {
        self.act(ms, id, action, Some(all_tables(Some(schema))))
    }

    /// The process dies: no footer.
    pub fn crash(&mut self) -> &mut Self {
        self.footer = false;
        self
    }

    /// File bytes, footer included unless crashed.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.lines.clone();
        if self.footer {
            Record::Footer(Footer {
                seq: self.seq + 1,
                ts: self.last,
                mono_ns: 0,
                records: self.seq + 1,
                dropped: 0,
            })
            .write_line(&mut out);
        }
        out
    }

    /// Writes the file with the tracer's naming scheme.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!(
            "bdd-state-trace-{}-20260411T100000.000000Z-{}-{:08x}.jsonl",
            self.run, self.pid, self.pid
        ));
        std::fs::write(&path, self.bytes()).unwrap();
        path
    }
}

/// Writes the processes into a fresh temp dir.
pub fn write_all(procs: &[&Proc]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in procs {
        p.write(dir.path());
    }
    dir
}

/// Analyzes a folder with default options.
pub fn report_of(dir: &Path) -> Report {
    Analyzer::new(&AnalyzeOptions {
        inputs: vec![dir.to_path_buf()],
        ..Default::default()
    })
    .run()
    .unwrap()
    .report
}

/// `rule victim<-polluter` summaries, for compact assertions.
pub fn summary(r: &Report) -> Vec<String> {
    r.findings.iter().map(short).collect()
}

pub fn short(f: &Finding) -> String {
    let name = |s: &Option<trace_analyzer::ScenarioRef>| {
        s.as_ref().map_or("-".to_owned(), |s| s.scenario.clone())
    };
    format!(
        "{} {} {}<-{}",
        f.severity,
        f.rule,
        name(&f.victim),
        name(&f.polluter)
    )
}

/// Findings of one rule.
pub fn of_rule(r: &Report, rule: RuleId) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.rule == rule).collect()
}
