//! The questions asked of the history: which scenarios are flaky and what
//! caused their failures, which polluter→victim pairs keep recurring, which
//! runs are stored, what an earlier record says about one likely cause; and
//! pruning old runs.
//!
//! Plain SQL that both backends run as written (`CAST(SUM(..) AS BIGINT)`
//! because PostgreSQL sums integers as NUMERIC). Times are microseconds
//! since the Unix epoch, UTC.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::QueryBuilder;

use super::store::{with_pool, Store};
use super::HistoryError;
use crate::model::CauseHistory;

// Row shapes, in SELECT order.
/// id, feature, name, runs, failures, passes, first failure, last failure.
type FlakyRow = (i64, String, String, i64, i64, i64, Option<i64>, Option<i64>);
/// scenario id, failures, first failure, last failure.
type FailRow = (i64, i64, Option<i64>, Option<i64>);
/// victim id, polluter feature, polluter name, rule, resource, failures.
type CauseRow = (i64, Option<String>, Option<String>, String, String, i64);
/// polluter feature, polluter, victim feature, victim, caused, failed other, passed, runs.
type PairRow = (String, String, String, String, i64, i64, i64, i64);
/// id, run key, started, rev, branch, scenarios, failed, findings.
type RunRow = (
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
);

/// Which runs a question is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// Runs that started at or after this time (µs); None = all.
    pub since_us: Option<i64>,
    /// Runs of this revision only.
    pub rev: Option<String>,
}

impl Window {
    /// `WITH w AS (SELECT id, started_us FROM runs WHERE …)`.
    fn push_cte<'a, DB: sqlx::Database>(&'a self, q: &mut QueryBuilder<'a, DB>)
    where
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        q.push("WITH w AS (SELECT id, started_us FROM runs WHERE 1 = 1");
        if let Some(s) = self.since_us {
            q.push(" AND started_us >= ").push_bind(s);
        }
        if let Some(r) = &self.rev {
            q.push(" AND rev = ").push_bind(r.as_str());
        }
        q.push(") ");
    }
}

/// A scenario that both passed and failed in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flaky {
    pub feature: String,
    pub scenario: String,
    /// Scenario runs in the window.
    pub runs: i64,
    pub failures: i64,
    pub passes: i64,
    /// failures / runs.
    pub rate: f64,
    /// Start of the first and last run in which it failed (µs).
    pub first_failure_us: i64,
    pub last_failure_us: i64,
    /// Polluters that were the likely cause of its failures, most first.
    pub causes: Vec<Cause>,
    /// Failures with no likely cause in the trace.
    pub unexplained: i64,
}

/// A polluter that was the likely cause of some failures of one victim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// None for findings without a polluter scenario.
    pub feature: Option<String>,
    pub scenario: Option<String>,
    pub rule: String,
    /// The resource involved (an example when runs used different databases).
    pub resource: String,
    /// Failures of the victim it explains.
    pub failures: i64,
}

/// `history flaky`: scenarios with at least one failure and one pass in the
/// window and at least `min_runs` runs, most failures first.
pub async fn flaky(store: &Store, w: &Window, min_runs: i64) -> Result<Vec<Flaky>, HistoryError> {
    let err = |e| store.error(e);
    let (rows, causes, explained) = with_pool!(store, p => {
        // Failures first, from the partial index of failed scenario runs
        // (a few percent of the rows) ...
        let mut q = QueryBuilder::new("");
        w.push_cte(&mut q);
        q.push(
            "SELECT sr.scenario, COUNT(*), MIN(w.started_us), MAX(w.started_us) \
             FROM scenario_runs sr JOIN w ON w.id = sr.run WHERE sr.outcome = 'FAILED' \
             GROUP BY sr.scenario",
        );
        let failed: Vec<FailRow> = q.build_query_as().fetch_all(p).await.map_err(err)?;
        // ... then all runs of only those scenarios, by their ids: the
        // planner sees a short list and walks the (scenario, run) index
        // instead of the whole table.
        let by_id: BTreeMap<i64, FailRow> = failed.into_iter().map(|r| (r.0, r)).collect();
        let ids: Vec<i64> = by_id.keys().copied().collect();
        let mut rows: Vec<FlakyRow> = Vec::new();
        for chunk in ids.chunks(500) {
            let mut q = QueryBuilder::new("");
            w.push_cte(&mut q);
            q.push(
                "SELECT s.id, s.feature, s.name, COUNT(*), \
                   CAST(SUM(CASE WHEN sr.outcome = 'PASSED' THEN 1 ELSE 0 END) AS BIGINT) \
                 FROM scenario_runs sr JOIN w ON w.id = sr.run JOIN scenarios s ON s.id = sr.scenario \
                 WHERE sr.scenario IN (",
            );
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            q.push(") GROUP BY s.id, s.feature, s.name");
            let totals: Vec<(i64, String, String, i64, i64)> =
                q.build_query_as().fetch_all(p).await.map_err(err)?;
            for (id, feature, name, runs, passes) in totals {
                let f = &by_id[&id];
                rows.push((id, feature, name, runs, f.1, passes, f.2, f.3));
            }
        }

        let mut q = QueryBuilder::new("");
        w.push_cte(&mut q);
        q.push(
            // One row per polluter and rule: the resource's database part
            // differs between runs (a file per CI job), so it is an example.
            "SELECT d.victim, ps.feature, ps.name, d.rule, MIN(d.resource), COUNT(*) FROM \
             (SELECT f.run, f.victim, f.victim_seq, f.polluter, f.rule, MIN(f.resource) AS resource \
              FROM findings f JOIN w ON w.id = f.run \
              WHERE f.likely_cause AND f.victim_outcome = 'FAILED' AND f.victim IS NOT NULL \
              GROUP BY f.run, f.victim, f.victim_seq, f.polluter, f.rule) d \
             LEFT JOIN scenarios ps ON ps.id = d.polluter \
             GROUP BY d.victim, ps.feature, ps.name, d.rule",
        );
        let causes: Vec<CauseRow> =
            q.build_query_as().fetch_all(p).await.map_err(err)?;

        let mut q = QueryBuilder::new("");
        w.push_cte(&mut q);
        q.push(
            "SELECT d.victim, COUNT(*) FROM \
             (SELECT DISTINCT f.run, f.victim, f.victim_seq FROM findings f JOIN w ON w.id = f.run \
              WHERE f.likely_cause AND f.victim_outcome = 'FAILED' AND f.victim IS NOT NULL) d \
             GROUP BY d.victim",
        );
        let explained: Vec<(i64, i64)> = q.build_query_as().fetch_all(p).await.map_err(err)?;
        (rows, causes, explained)
    });
    let explained: BTreeMap<i64, i64> = explained.into_iter().collect();
    let mut by_victim: BTreeMap<i64, Vec<Cause>> = BTreeMap::new();
    for (victim, feature, scenario, rule, resource, failures) in causes {
        by_victim.entry(victim).or_default().push(Cause {
            feature,
            scenario,
            rule,
            resource,
            failures,
        });
    }
    let mut out: Vec<Flaky> = rows
        .into_iter()
        .filter(|r| r.5 > 0 && r.3 >= min_runs)
        .map(
            |(id, feature, scenario, runs, failures, passes, first, last)| {
                let mut causes = by_victim.remove(&id).unwrap_or_default();
                causes.sort_by(|a, b| {
                    b.failures
                        .cmp(&a.failures)
                        .then_with(|| a.scenario.cmp(&b.scenario))
                        .then_with(|| a.rule.cmp(&b.rule))
                });
                let explained = explained.get(&id).copied().unwrap_or(0).min(failures);
                Flaky {
                    feature,
                    scenario,
                    runs,
                    failures,
                    passes,
                    rate: failures as f64 / runs.max(1) as f64,
                    first_failure_us: first.unwrap_or(0),
                    last_failure_us: last.unwrap_or(0),
                    causes,
                    unexplained: failures - explained,
                }
            },
        )
        .collect();
    out.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| b.rate.total_cmp(&a.rate))
            .then_with(|| (&a.feature, &a.scenario).cmp(&(&b.feature, &b.scenario)))
    });
    Ok(out)
}

/// A polluter→victim pair over the window's runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    pub polluter_feature: String,
    pub polluter: String,
    pub victim_feature: String,
    pub victim: String,
    /// Victim runs that failed with this polluter as the likely cause.
    pub caused: i64,
    /// Victim runs that failed with another likely cause (or none), while
    /// this polluter was flagged too.
    pub failed_other_cause: i64,
    /// Victim runs that overlapped this polluter on the resource and passed.
    pub overlapped_passed: i64,
    /// Runs in which the pair was flagged at all.
    pub runs: i64,
}

/// `history pairs`: every polluter→victim pair the findings named, ranked
/// by how often the polluter was the likely cause.
pub async fn pairs(store: &Store, w: &Window) -> Result<Vec<Pair>, HistoryError> {
    let err = |e| store.error(e);
    let rows: Vec<PairRow> = with_pool!(store, p => {
        let mut q = QueryBuilder::new("");
        w.push_cte(&mut q);
        q.push(
            "SELECT ps.feature, ps.name, vs.feature, vs.name, \
               CAST(SUM(d.caused) AS BIGINT), CAST(SUM(d.failed - d.caused) AS BIGINT), \
               CAST(SUM(1 - d.failed) AS BIGINT), COUNT(DISTINCT d.run) FROM \
             (SELECT f.run, f.polluter, f.victim, f.victim_seq, \
                MAX(CASE WHEN f.likely_cause AND f.victim_outcome = 'FAILED' THEN 1 ELSE 0 END) AS caused, \
                MAX(CASE WHEN f.victim_outcome = 'FAILED' THEN 1 ELSE 0 END) AS failed \
              FROM findings f JOIN w ON w.id = f.run \
              WHERE f.polluter IS NOT NULL AND f.victim IS NOT NULL \
              GROUP BY f.run, f.polluter, f.victim, f.victim_seq) d \
             JOIN scenarios ps ON ps.id = d.polluter JOIN scenarios vs ON vs.id = d.victim \
             GROUP BY ps.feature, ps.name, vs.feature, vs.name",
        );
        q.build_query_as().fetch_all(p).await.map_err(err)?
    });
    let mut out: Vec<Pair> = rows
        .into_iter()
        .map(|r| Pair {
            polluter_feature: r.0,
            polluter: r.1,
            victim_feature: r.2,
            victim: r.3,
            caused: r.4,
            failed_other_cause: r.5,
            overlapped_passed: r.6,
            runs: r.7,
        })
        .collect();
    out.sort_by(|a, b| {
        b.caused
            .cmp(&a.caused)
            .then_with(|| a.overlapped_passed.cmp(&b.overlapped_passed))
            .then_with(|| b.runs.cmp(&a.runs))
            .then_with(|| (&a.victim, &a.polluter).cmp(&(&b.victim, &b.polluter)))
    });
    Ok(out)
}

/// One stored run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRun {
    pub run_id: String,
    pub started_us: i64,
    pub rev: Option<String>,
    pub branch: Option<String>,
    pub scenarios: i64,
    pub failed: i64,
    pub findings: i64,
    pub labels: BTreeMap<String, String>,
}

/// `history runs`: the window's runs, newest first, at most `limit`.
pub async fn runs(store: &Store, w: &Window, limit: i64) -> Result<Vec<StoredRun>, HistoryError> {
    let err = |e| store.error(e);
    let (rows, labels) = with_pool!(store, p => {
        let mut q = QueryBuilder::new("");
        w.push_cte(&mut q);
        q.push(
            "SELECT r.id, r.run_key, r.started_us, r.rev, r.branch, r.scenarios, r.failed, r.findings \
             FROM runs r JOIN w ON w.id = r.id ORDER BY r.started_us DESC, r.id DESC LIMIT ",
        )
        .push_bind(limit);
        let rows: Vec<RunRow> =
            q.build_query_as().fetch_all(p).await.map_err(err)?;
        let mut labels: Vec<(i64, String, String)> = Vec::new();
        if !rows.is_empty() {
            let mut q = QueryBuilder::new("SELECT run, key, value FROM run_labels WHERE run IN (");
            let mut sep = q.separated(", ");
            for r in &rows {
                sep.push_bind(r.0);
            }
            q.push(") ORDER BY run, key");
            labels = q.build_query_as().fetch_all(p).await.map_err(err)?;
        }
        (rows, labels)
    });
    let mut by_run: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
    for (run, k, v) in labels {
        by_run.entry(run).or_default().insert(k, v);
    }
    Ok(rows
        .into_iter()
        .map(|r| StoredRun {
            run_id: r.1,
            started_us: r.2,
            rev: r.3,
            branch: r.4,
            scenarios: r.5,
            failed: r.6,
            findings: r.7,
            labels: by_run.remove(&r.0).unwrap_or_default(),
        })
        .collect())
}

/// `history prune`: removes the runs that started before `before_us` and
/// all their rows, in one transaction. Returns how many runs went.
pub async fn prune(store: &Store, before_us: i64) -> Result<u64, HistoryError> {
    super::store::retry_busy(|| prune_once(store, before_us)).await
}

async fn prune_once(store: &Store, before_us: i64) -> Result<u64, HistoryError> {
    let err = |e| store.error(e);
    with_pool!(store, p => {
        let mut tx = p.begin().await.map_err(err)?;
        for table in ["findings", "scenario_runs", "processes", "run_labels"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE run IN (SELECT id FROM runs WHERE started_us < $1)"
            ))
            .bind(before_us)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        let n = sqlx::query("DELETE FROM runs WHERE started_us < $1")
            .bind(before_us)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(n)
    })
}

/// What the history says about one likely cause: the victim's runs and
/// failures in other runs than `this_run`, and in how many of those
/// failures this same polluter was the likely cause.
pub async fn cause_history(
    store: &Store,
    victim: (&str, &str),
    polluter: (&str, &str),
    this_run: &str,
) -> Result<CauseHistory, HistoryError> {
    let err = |e| store.error(e);
    with_pool!(store, p => {
        let this: i64 = sqlx::query_scalar("SELECT id FROM runs WHERE run_key = $1")
            .bind(this_run)
            .fetch_optional(p)
            .await
            .map_err(err)?
            .unwrap_or(-1);
        let ids = |f: &'static str| {
            sqlx::query_scalar::<_, i64>(f)
        };
        let sql = "SELECT id FROM scenarios WHERE feature = $1 AND name = $2";
        let v: Option<i64> = ids(sql).bind(victim.0).bind(victim.1).fetch_optional(p).await.map_err(err)?;
        let pl: Option<i64> = ids(sql).bind(polluter.0).bind(polluter.1).fetch_optional(p).await.map_err(err)?;
        let Some(v) = v else {
            return Ok(CauseHistory::default());
        };
        let (runs, failures): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN outcome = 'FAILED' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM scenario_runs WHERE scenario = $1 AND run <> $2",
        )
        .bind(v)
        .bind(this)
        .fetch_one(p)
        .await
        .map_err(err)?;
        let same: i64 = match pl {
            None => 0,
            Some(pl) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT DISTINCT run, victim_seq FROM findings \
                 WHERE victim = $1 AND polluter = $2 AND likely_cause AND victim_outcome = 'FAILED' AND run <> $3) d",
            )
            .bind(v)
            .bind(pl)
            .bind(this)
            .fetch_one(p)
            .await
            .map_err(err)?,
        };
        Ok(CauseHistory {
            victim_runs: runs.max(0) as u64,
            victim_failures: failures.max(0) as u64,
            same_cause: same.max(0) as u64,
        })
    })
}

/// How many runs the window holds.
pub async fn count_runs(store: &Store, w: &Window) -> Result<i64, HistoryError> {
    let err = |e| store.error(e);
    with_pool!(store, p => {
        let mut q = QueryBuilder::new("");
        w.push_cte(&mut q);
        q.push("SELECT COUNT(*) FROM w");
        let (n,): (i64,) = q.build_query_as().fetch_one(p).await.map_err(err)?;
        Ok(n)
    })
}
