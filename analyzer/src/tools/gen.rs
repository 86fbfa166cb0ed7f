//! `trace-analyzer gen` (hidden): writes a synthetic run for benchmarks and
//! tests — N processes × M records, each process isolated in its own
//! schema, with a few planted pollutions, as v1 files and/or as Go-tracer
//! text files with the same content.
//!
//! Planted, per pollution k: the victim process (2k) reads the shared table
//! `public.accounts` early and late in scenario j and FAILS; the polluter process (2k+1)
//! cleans that table in the middle of its own scenario j, which runs at the
//! same time. Pollution 0 also leaks a JWT secret into the polluter's next
//! scenario. With `--sharing N`, the first N processes never isolate: they
//! share the default schema for the whole run, and each one's after-hook
//! cleanup lands in the other's scenarios (thousands of overlaps). With
//! `--concurrency N`, processes run N at a time, one after the other, the
//! way nextest runs one-test processes (`--records` equal to
//! `--scenario-len` makes each process one test).

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use clap::{Args, ValueEnum};
use state_tracer_format::{
    file_name_safe, format_wall_time, Action, Event, Footer, Header, Outcome, Record, Resource,
    Scope, FORMAT_NAME, FORMAT_VERSION,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenFormat {
    V1,
    Legacy,
    Both,
}

#[derive(Debug, Args, Clone)]
pub struct GenArgs {
    /// Output folder (v1 files go to DIR/v1, text files to DIR/legacy).
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub processes: u32,
    /// Records per process (approximately; whole scenarios are written).
    #[arg(long, default_value_t = 1000)]
    pub records: u64,
    /// Records per scenario.
    #[arg(long, default_value_t = 50)]
    pub scenario_len: u64,
    #[arg(long, default_value_t = 2)]
    pub pollutions: u32,
    #[arg(long, value_enum, default_value_t = GenFormat::Both)]
    pub format: GenFormat,
    #[arg(long, default_value = "bench-run")]
    pub run_id: String,
    /// The first N processes do not isolate: they share the default schema
    /// for the whole run (inserting, reading and cleaning it while the
    /// others' scenarios run), the worst case for the findings' memory.
    #[arg(long, default_value_t = 0)]
    pub sharing: u32,
    /// Run the processes N at a time, in waves (0: all at once). Each
    /// process is then labelled like a nextest test (`binary test`).
    #[arg(long, default_value_t = 0)]
    pub concurrency: u32,
}

/// When process `i` starts: its wave's start (waves of `--concurrency`
/// processes, each as long as a process's records take).
fn process_start(g: &GenArgs, i: u32) -> DateTime<Utc> {
    let t0 = Utc.timestamp_opt(T0_SECS, 0).single().unwrap_or_default();
    if g.concurrency == 0 {
        return t0;
    }
    let len = g.scenario_len.max(6);
    let records = (g.records / len).max(1) * len;
    let wave = i64::from(i / g.concurrency);
    // 100 µs per record, plus a gap between waves.
    t0 + chrono::Duration::microseconds(wave * (records as i64 * 100 + 1_000))
}

/// What one generated line says, before it is written in either format.
struct Line {
    ts: DateTime<Utc>,
    scenario_id: u64,
    feature: String,
    scenario: String,
    action: Action,
    /// (schema, table); table None = all tables; schema None = unqualified.
    target: Option<(Option<String>, Option<&'static str>)>,
    details: Option<String>,
    outcome: Option<Outcome>,
}

const DB: &str = "postgres://localhost:5432/bench";
const T0_SECS: i64 = 1_775_901_600; // 2026-04-11T10:00:00Z

fn process_lines(
    g: &GenArgs,
    i: u32,
    mut emit: impl FnMut(&Line) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let len = g.scenario_len.max(6);
    let scenarios = (g.records / len).max(1);
    let t0 = process_start(g, i);
    let mut k: i64 = 0;
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(i);
    let victim_of = |j: u64| -> Option<u32> {
        (0..g.pollutions).find(|&p| {
            2 * p % g.processes.max(1) == i
                && j == (u64::from(p) + 1) * scenarios / (u64::from(g.pollutions) + 1)
        })
    };
    let polluter_of = |j: u64| -> Option<u32> {
        (0..g.pollutions).find(|&p| {
            (2 * p + 1) % g.processes.max(1) == i
                && j == (u64::from(p) + 1) * scenarios / (u64::from(g.pollutions) + 1)
        })
    };
    let leaks = |j: u64| {
        g.pollutions > 0
            && 1 % g.processes.max(1) == i
            && j == scenarios / (u64::from(g.pollutions) + 1) + 1
    };
    for j in 0..scenarios {
        let feature = format!("feature-{}", i % 8);
        let scenario = format!("Scenario {j} of process {i}");
        let victim = victim_of(j).is_some();
        let polluter = polluter_of(j).is_some();
        for r in 0..len {
            let ts = t0 + chrono::Duration::microseconds(k * 100 + i64::from(i));
            k += 1;
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut line = Line {
                ts,
                scenario_id: j + 1,
                feature: feature.clone(),
                scenario: scenario.clone(),
                action: Action::DbSelect,
                target: None,
                details: None,
                outcome: None,
            };
            match r {
                0 => line.action = Action::ScenarioStart,
                1 if i < g.sharing => {
                    line.action = Action::DbSelect;
                    line.target = Some((None, Some("users")));
                    line.details = Some("SELECT count(*) FROM users".into());
                }
                1 => {
                    line.action = Action::SchemaSet;
                    line.target = Some((Some(format!("p{i}")), None));
                }
                2 if victim => {
                    line.action = Action::DbSelect;
                    line.target = Some((Some("public".into()), Some("accounts")));
                    line.details = Some("SELECT balance FROM public.accounts WHERE id = $1".into());
                }
                3 if leaks(j) => {
                    line.action = Action::JwtSet;
                    line.details = Some("fp:3f9a1c".into());
                }
                // The victim reads the table again: the polluter's cleanup
                // falls between its two reads.
                r if r == len - 3 && victim => {
                    line.action = Action::DbSelect;
                    line.target = Some((Some("public".into()), Some("accounts")));
                    line.details = Some("SELECT balance FROM public.accounts WHERE id = $1".into());
                }
                r if r == len / 2 && polluter => {
                    line.action = Action::DbCleanup;
                    line.target = Some((Some("public".into()), Some("accounts")));
                }
                r if r == len - 2 => {
                    line.action = Action::ScenarioEnd;
                    line.outcome = Some(if victim {
                        Outcome::Failed
                    } else {
                        Outcome::Passed
                    });
                }
                r if r == len - 1 => {
                    // After-hook: cleanup of the scenario's own schema.
                    line.action = Action::DbCleanup;
                    line.target = Some((None, None));
                }
                _ => match rng >> 61 {
                    0 | 1 => {
                        line.action = Action::DbInsert;
                        line.target = Some((None, Some("users")));
                        line.details =
                            Some("INSERT INTO users (id, name, email) VALUES ($1, $2, $3)".into());
                    }
                    2 => {
                        line.action = Action::DbUpdate;
                        line.target = Some((None, Some("orders")));
                        line.details = Some("UPDATE orders SET status = $1 WHERE id = $2".into());
                    }
                    3 => {
                        line.action = Action::HttpRequest;
                        line.details = Some("GET /api/users 200".into());
                    }
                    _ => {
                        line.action = Action::DbSelect;
                        line.target =
                            Some((None, Some(if rng & 1 == 0 { "users" } else { "orders" })));
                        line.details =
                            Some("SELECT id, name, email FROM users WHERE id = $1".into());
                    }
                },
            }
            emit(&line)?;
        }
    }
    Ok(())
}

fn v1_event(line: &Line, seq: u64, i: u32) -> Event<'_> {
    let resource = match (&line.target, line.action) {
        (_, Action::JwtSet) => Some(Resource::process("jwt_secret")),
        (Some((schema, table)), _) => Some(Resource {
            scope: Scope::Shared,
            db: Some(DB.into()),
            schema: schema.as_deref().map(Cow::Borrowed),
            tables: table.iter().map(|t| Cow::Borrowed(*t)).collect(),
            name: None,
        }),
        (None, _) => None,
    };
    let mut fields = Vec::new();
    if line.action == Action::HttpRequest {
        fields = vec![
            ("method".into(), "GET".into()),
            ("path".into(), "/api/users".into()),
            ("status".into(), "200".into()),
        ];
    }
    Event {
        seq,
        ts: line.ts,
        mono_ns: seq * 100_000 + u64::from(i),
        tid: 1,
        scenario_id: Some(line.scenario_id),
        feature: Some(Cow::Borrowed(&line.feature)),
        scenario: Some(Cow::Borrowed(&line.scenario)),
        step: Some(Cow::Borrowed("When the user does something")),
        action: line.action,
        name: None,
        resource,
        details: if line.action == Action::HttpRequest {
            None
        } else {
            line.details.as_deref().map(Cow::Borrowed)
        },
        outcome: line.outcome,
        error: (line.outcome == Some(Outcome::Failed))
            .then_some(Cow::Borrowed("expected balance 100, got 0")),
        duration_us: Some(120),
        rows: matches!(
            line.action,
            Action::DbInsert | Action::DbUpdate | Action::DbSelect
        )
        .then_some(1),
        fields,
    }
}

fn legacy_details(line: &Line) -> String {
    if let Some(o) = line.outcome {
        return o.as_str().to_owned();
    }
    match (&line.target, line.action) {
        (_, Action::JwtSet) => "ok".into(),
        (Some((Some(s), None)), Action::SchemaSet) => s.clone(),
        (Some((schema, table)), _) => {
            let t = table.unwrap_or("all_tables");
            match schema {
                Some(s) => format!("{s}.{t}"),
                None => t.to_owned(),
            }
        }
        (None, _) => line.details.clone().unwrap_or_default(),
    }
}

/// Writes the run; returns the files written.
pub fn generate(g: &GenArgs) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for i in 0..g.processes {
        let t0 = process_start(g, i);
        let pid = 10_000 + i;
        if matches!(g.format, GenFormat::V1 | GenFormat::Both) {
            let dir = g.dir.join("v1");
            fs::create_dir_all(&dir)?;
            let mut stamp = Vec::new();
            format_wall_time(t0, &mut stamp);
            let stamp = String::from_utf8_lossy(&stamp).replace(['-', ':'], "");
            let path = dir.join(format!(
                "bdd-state-trace-{}-{stamp}-{pid}-{:08x}.jsonl",
                file_name_safe(&g.run_id),
                0x5eed_0000 + i
            ));
            let mut out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
            let mut buf = Vec::with_capacity(512);
            Record::Header(Header {
                format: FORMAT_NAME.into(),
                version: FORMAT_VERSION,
                run_id: g.run_id.as_str().into(),
                pid,
                ppid: Some(1),
                host: "bench".into(),
                process: if g.concurrency == 0 {
                    format!("bench-{i}").into()
                } else {
                    format!("bench-tests test_{i}").into()
                },
                argv: vec!["target/debug/bench-bdd".into()],
                tracer: "trace-analyzer gen".into(),
                start: t0,
                config: vec![("BDD_SCHEMA_ISOLATION".into(), "true".into())],
                rerun: None,
                cwd: None,
            })
            .write_line(&mut buf);
            out.write_all(&buf)?;
            let mut seq = 0u64;
            let mut last = t0;
            process_lines(g, i, |line| {
                seq += 1;
                last = line.ts;
                buf.clear();
                Record::Event(v1_event(line, seq, i)).write_line(&mut buf);
                out.write_all(&buf)
            })?;
            buf.clear();
            Record::Footer(Footer {
                seq: seq + 1,
                ts: last + chrono::Duration::microseconds(50),
                mono_ns: 0,
                records: seq + 1,
                dropped: 0,
            })
            .write_line(&mut buf);
            out.write_all(&buf)?;
            out.flush()?;
            written.push(path);
        }
        if matches!(g.format, GenFormat::Legacy | GenFormat::Both) {
            let dir = g.dir.join("legacy");
            fs::create_dir_all(&dir)?;
            let path = dir.join(format!(
                "bdd-state-trace-{}-{pid}.log",
                t0.format("%Y%m%d-%H%M%S")
            ));
            let mut out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
            process_lines(g, i, |line| {
                writeln!(
                    out,
                    "{} | {} | {} | {} | {}",
                    line.ts.format("%Y-%m-%dT%H:%M:%S%.6f"),
                    line.feature,
                    line.scenario,
                    line.action,
                    legacy_details(line)
                )
            })?;
            out.flush()?;
            written.push(path);
        }
    }
    Ok(written)
}
