//! A synthetic history for the benchmark (`history synth`, hidden): N runs
//! of S scenario runs each, written through the same [`add`] path as real
//! runs. A few victims fail now and then, mostly with a likely cause, so
//! `flaky` and `pairs` have real work.

use clap::Args;

use super::add::add;
use super::record::{FindingRow, ProcessRow, RunMeta, RunRecord, ScenarioKey, ScenarioRow};
use super::shared::{CmdError, DbArgs};
use super::{Access, DbUrl, Store};

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Runs to generate.
    #[arg(long, default_value_t = 10_000)]
    pub runs: u32,
    /// Scenario runs per run.
    #[arg(long, default_value_t = 200)]
    pub scenarios: u32,
    /// Run IDs start with this prefix (different prefixes add more runs).
    #[arg(long, default_value = "synth")]
    pub prefix: String,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A small deterministic generator (xorshift): the same history every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// Names follow `trace-analyzer gen` (`feature-P`, `Scenario J of process P`,
/// three processes), so a generated run's scenarios have a long record.
/// Every 20th scenario and the first six are victims that fail 10% of the
/// time; the polluter is the scenario 7 further on, the likely cause of 80%
/// of those failures.
fn synth_run(i: u32, scenarios: u32, prefix: &str, now_us: i64, rng: &mut Rng) -> RunRecord {
    const PROCS: u32 = 3;
    let started = now_us - i64::from(i) * 60_000_000;
    let name = |k: u32| {
        (
            format!("feature-{}", k % PROCS),
            format!("Scenario {} of process {}", k / PROCS + 1, k % PROCS),
        )
    };
    let mut rec = RunRecord {
        run_key: format!("{prefix}-{i:06}"),
        started_us: started,
        ended_us: Some(started + 30_000_000),
        meta: RunMeta {
            rev: Some(format!("rev{}", i / 100)),
            branch: Some("main".into()),
            labels: [("ci.job".to_owned(), format!("job-{}", i % 4))].into(),
        },
        processes: (0..PROCS)
            .map(|p| ProcessRow {
                pid: i64::from(1000 + p),
                label: format!("feature-{p}"),
                exit_state: "exited",
                scenarios: i64::from(scenarios / PROCS),
                failed: 0,
            })
            .collect(),
        scenarios: Vec::new(),
        findings: Vec::new(),
    };
    for k in 0..scenarios {
        let (feature, scenario) = name(k);
        let victim = k % 20 == 0 || k < 6;
        let failed = victim && rng.chance(10);
        rec.scenarios.push(ScenarioRow {
            seq: i64::from(k),
            feature: feature.clone(),
            name: scenario.clone(),
            pid: i64::from(1000 + k % PROCS),
            outcome: if failed { "FAILED" } else { "PASSED" },
            started_us: started + i64::from(k) * 100_000,
            duration_us: Some(90_000),
        });
        if victim && (failed || rng.chance(20)) {
            let p = (k + 7) % scenarios;
            let (pf, ps) = name(p);
            let likely = failed && rng.chance(80);
            rec.findings.push(FindingRow {
                rule: "concurrent-mutation",
                severity: if failed { "error" } else { "warning" },
                likely_cause: likely,
                victim: Some(ScenarioKey {
                    feature,
                    name: scenario,
                    seq: i64::from(k),
                    outcome: if failed { "FAILED" } else { "PASSED" },
                }),
                polluter: Some(ScenarioKey {
                    feature: pf,
                    name: ps,
                    seq: i64::from(p),
                    outcome: "PASSED",
                }),
                resource: "shared:postgres://db/app/public/users".into(),
                occurrences: 1,
                confidence: Some("high"),
            });
        }
    }
    rec
}

pub(crate) async fn run(a: SynthArgs) -> Result<i32, CmdError> {
    let url = DbUrl::resolve(a.db.db.as_deref())?;
    let store = Store::open(&url, Access::Write).await?;
    let now = chrono::Utc::now().timestamp_micros();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..a.runs {
        let rec = synth_run(i, a.scenarios.max(1), &a.prefix, now, &mut rng);
        add(&store, &rec).await?;
    }
    eprintln!(
        "synthesized {} runs × {} scenario runs into {}",
        a.runs,
        a.scenarios,
        url.redacted()
    );
    Ok(0)
}
