//! Writing one run: all of its rows in one transaction, keyed by the run ID,
//! so a killed `add` leaves nothing half-written and adding the same run
//! again (also from 16 runners at once) changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::QueryBuilder;

use super::record::RunRecord;
use super::store::{retry_busy, with_pool, Store};
use super::HistoryError;

/// Rows per multi-row INSERT: well under both drivers' bind limits.
const CHUNK: usize = 500;

/// What `add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The run is new and is now stored.
    New,
    /// A run with this ID was already stored: nothing changed.
    AlreadyStored,
}

/// Stores `rec` unless its run ID is already there. One transaction, tried
/// again as a whole when SQLite refuses its lock at once.
pub async fn add(store: &Store, rec: &RunRecord) -> Result<Added, HistoryError> {
    retry_busy(|| add_once(store, rec)).await
}

async fn add_once(store: &Store, rec: &RunRecord) -> Result<Added, HistoryError> {
    let err = |e| store.error(e);
    let added_us = chrono::Utc::now().timestamp_micros();
    // Every scenario named by the run, sorted: concurrent writers insert new
    // names in the same order, so they queue instead of deadlocking.
    let mut names: BTreeSet<(&str, &str)> = rec
        .scenarios
        .iter()
        .map(|s| (s.feature.as_str(), s.name.as_str()))
        .collect();
    for f in &rec.findings {
        for k in [&f.victim, &f.polluter].into_iter().flatten() {
            names.insert((k.feature.as_str(), k.name.as_str()));
        }
    }
    with_pool!(store, p => {
        let mut tx = p.begin().await.map_err(err)?;
        // The run row first: it takes the write lock (SQLite) or the key
        // (PostgreSQL), so a concurrent add of the same run waits, then sees it.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO runs (run_key, started_us, ended_us, added_us, rev, branch, scenarios, failed, findings) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (run_key) DO NOTHING RETURNING id",
        )
        .bind(&rec.run_key)
        .bind(rec.started_us)
        .bind(rec.ended_us)
        .bind(added_us)
        .bind(rec.meta.rev.as_deref())
        .bind(rec.meta.branch.as_deref())
        .bind(rec.scenarios.len() as i64)
        .bind(rec.failed())
        .bind(rec.findings.len() as i64)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some(run) = id else {
            tx.rollback().await.map_err(err)?;
            return Ok(Added::AlreadyStored);
        };

        for (k, v) in &rec.meta.labels {
            sqlx::query("INSERT INTO run_labels (run, key, value) VALUES ($1, $2, $3)")
                .bind(run)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }

        if !rec.processes.is_empty() {
            let mut q = QueryBuilder::new(
                "INSERT INTO processes (run, seq, pid, label, exit_state, scenarios, failed) ",
            );
            q.push_values(rec.processes.iter().enumerate(), |mut b, (i, pr)| {
                b.push_bind(run)
                    .push_bind(i as i64)
                    .push_bind(pr.pid)
                    .push_bind(&pr.label)
                    .push_bind(pr.exit_state)
                    .push_bind(pr.scenarios)
                    .push_bind(pr.failed);
            });
            q.build().execute(&mut *tx).await.map_err(err)?;
        }

        // Scenario ids: look the known ones up in one query, insert the rest.
        let mut ids: BTreeMap<(String, String), i64> = BTreeMap::new();
        let features: BTreeSet<&str> = names.iter().map(|(f, _)| *f).collect();
        for chunk in features.into_iter().collect::<Vec<_>>().chunks(CHUNK) {
            let mut q = QueryBuilder::new("SELECT id, feature, name FROM scenarios WHERE feature IN (");
            let mut sep = q.separated(", ");
            for f in chunk {
                sep.push_bind(*f);
            }
            q.push(")");
            let rows: Vec<(i64, String, String)> =
                q.build_query_as().fetch_all(&mut *tx).await.map_err(err)?;
            for (id, f, n) in rows {
                ids.insert((f, n), id);
            }
        }
        for (f, n) in &names {
            if ids.contains_key(&((*f).to_owned(), (*n).to_owned())) {
                continue;
            }
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO scenarios (feature, name) VALUES ($1, $2) ON CONFLICT (feature, name) DO NOTHING RETURNING id",
            )
            .bind(*f)
            .bind(*n)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
            let id = match inserted {
                Some(id) => id,
                // Another writer inserted it since our look-up.
                None => sqlx::query_scalar("SELECT id FROM scenarios WHERE feature = $1 AND name = $2")
                    .bind(*f)
                    .bind(*n)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(err)?,
            };
            ids.insert(((*f).to_owned(), (*n).to_owned()), id);
        }
        let id_of = |f: &str, n: &str| ids.get(&(f.to_owned(), n.to_owned())).copied();

        for chunk in rec.scenarios.chunks(CHUNK) {
            let mut q = QueryBuilder::new(
                "INSERT INTO scenario_runs (run, seq, scenario, pid, outcome, started_us, duration_us) ",
            );
            q.push_values(chunk, |mut b, s| {
                b.push_bind(run)
                    .push_bind(s.seq)
                    .push_bind(id_of(&s.feature, &s.name))
                    .push_bind(s.pid)
                    .push_bind(s.outcome)
                    .push_bind(s.started_us)
                    .push_bind(s.duration_us);
            });
            q.build().execute(&mut *tx).await.map_err(err)?;
        }

        for (c, chunk) in rec.findings.chunks(CHUNK).enumerate() {
            let mut q = QueryBuilder::new(
                "INSERT INTO findings (run, seq, rule, severity, likely_cause, victim, victim_seq, victim_outcome, \
                 polluter, polluter_seq, resource, occurrences, confidence) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, f)| {
                let v = f.victim.as_ref();
                let pl = f.polluter.as_ref();
                b.push_bind(run)
                    .push_bind((c * CHUNK + i) as i64)
                    .push_bind(f.rule)
                    .push_bind(f.severity)
                    .push_bind(f.likely_cause)
                    .push_bind(v.and_then(|k| id_of(&k.feature, &k.name)))
                    .push_bind(v.map(|k| k.seq))
                    .push_bind(v.map(|k| k.outcome))
                    .push_bind(pl.and_then(|k| id_of(&k.feature, &k.name)))
                    .push_bind(pl.map(|k| k.seq))
                    .push_bind(&f.resource)
                    .push_bind(f.occurrences)
                    .push_bind(f.confidence);
            });
            q.build().execute(&mut *tx).await.map_err(err)?;
        }

        tx.commit().await.map_err(err)?;
        Ok(Added::New)
    })
}
