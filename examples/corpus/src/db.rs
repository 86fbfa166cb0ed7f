//! The database side shared by the runner and the shapes: which engine a
//! URL names, running statements untraced (migrations, ground-truth reads),
//! and the whole-table cleanups whose removed rows the database itself names.
//!
//! Every table a shape creates has a unique `tag` column; that is what
//! `RETURNING` (or the read under a `TRUNCATE`'s lock) hands the truth file.

use std::future::Future;

use std::str::FromStr as _;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions as _, Executor as _, Row as _};
use tracing::instrument::WithSubscriber as _;
use tracing::subscriber::NoSubscriber;

use crate::truth::{self, Who};

/// Which engine a run uses (the `db` of `meta.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn from_url(url: &str) -> DbKind {
        if url.starts_with("postgres") {
            DbKind::Postgres
        } else {
            DbKind::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
        }
    }

    /// The auto-increment key column type.
    pub fn serial(self) -> &'static str {
        match self {
            DbKind::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            DbKind::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }
}

/// A pool the way a suite opens it (sqlx's defaults: a 5 s busy timeout on
/// SQLite).
pub async fn connect(url: &str, max: u32) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(max)
        .connect(url)
        .await
}

/// A pool whose statements are never logged (sqlx's statement logging off),
/// so never traced on either engine: the harness's reads that need no
/// transaction of the suite's (ground truth read after a failure).
pub async fn quiet_pool(url: &str) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let opts = AnyConnectOptions::from_str(url)?.disable_statement_logging();
    AnyPoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await
}

/// `fut` with no subscriber at all: what it does never reaches the trace.
/// For the harness's own reads (ground truth), not for the suite's work.
///
/// Only where sqlx logs on the polling task (PostgreSQL). SQLite runs each
/// connection's statements on a thread of its own, which logs to the global
/// subscriber whatever the task's: use a [`quiet_pool`] there.
pub async fn untraced<F: Future>(fut: F) -> F::Output {
    fut.with_subscriber(NoSubscriber::default()).await
}

/// The `written_by` value naming `who` (read back by [`who_from_tag`]).
pub fn who_tag(who: &Who) -> String {
    who.to_json().to_string()
}

pub fn who_from_tag(tag: &str) -> Option<Who> {
    Who::from_json(&serde_json::from_str(tag).ok()?)
}

/// Tags of the rows that went, as the database listed them.
fn tags(rows: &[sqlx::any::AnyRow]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .collect()
}

/// Empties `tables` as `by`'s cleanup and appends to the truth what each
/// statement really removed. SQLite: `DELETE FROM t RETURNING tag`, the
/// suite's own statement naming its rows. PostgreSQL: one `TRUNCATE` of all
/// of them (no row count in the trace), the tags read untraced in the same
/// transaction under the lock the `TRUNCATE` takes anyway.
pub async fn clean_whole_tables(
    pool: &AnyPool,
    kind: DbKind,
    by: &Who,
    tables: &[&str],
) -> Result<(), sqlx::Error> {
    match kind {
        DbKind::Postgres => {
            let mut tx = pool.begin().await?;
            let seen = untraced(async {
                tx.execute(
                    format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", tables.join(", ")).as_str(),
                )
                .await?;
                let mut seen = Vec::new();
                for t in tables {
                    let rows = sqlx::query(&format!("SELECT tag FROM {t}"))
                        .fetch_all(&mut *tx)
                        .await?;
                    seen.push((*t, tags(&rows)));
                }
                Ok::<_, sqlx::Error>(seen)
            })
            .await?;
            tx.execute(format!("TRUNCATE {}", tables.join(", ")).as_str())
                .await?;
            tx.commit().await?;
            for (t, tags) in seen {
                truth::removed(by, t, &tags);
            }
        }
        DbKind::Sqlite => {
            for t in tables {
                let rows = sqlx::query(&format!("DELETE FROM {t} RETURNING tag"))
                    .fetch_all(pool)
                    .await?;
                truth::removed(by, t, &tags(&rows));
            }
        }
    }
    Ok(())
}
