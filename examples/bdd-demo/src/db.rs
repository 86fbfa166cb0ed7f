//! The database: one shared SQLite file by default, PostgreSQL when
//! `DATABASE_URL=postgres://…`, and the isolation mode that fixes the
//! cross-process cleanup bug (`BDD_SCHEMA_ISOLATION=true`: a schema per
//! process with `search_path` on PostgreSQL, a database file per process on
//! SQLite).
//!
//! All SQL goes through sqlx, so state-tracer sees every statement (inserts,
//! reads, the after-scenario cleanup) without any call from here.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor as _, Row as _};
use tracing::instrument::WithSubscriber as _;
use tracing::subscriber::NoSubscriber;

use crate::truth::{self, Deleted};
use crate::Result;

/// The provenance column of every table: which scenario wrote the row
/// ([`truth::writer_tag`]). Only the accuracy harness reads it.
const WRITTEN_BY: &str = "written_by TEXT NOT NULL DEFAULT ''";

/// Which engine the URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The tables the suite creates and the after hook empties.
pub const TABLES: &[&str] = &["greetings", "audit_log", "users"];

/// A pool plus where it points.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// URL actually connected to (per-process file under SQLite isolation).
    pub url: String,
    /// Private schema under PostgreSQL isolation.
    pub schema: Option<String>,
}

impl Db {
    /// Connects, applies the isolation mode, creates the tables. `tag` names
    /// this process's private schema or file (e.g. `greet_1234`).
    pub async fn connect(url: &str, isolation: bool, tag: &str) -> Result<Db> {
        let db = Db::open(url, isolation, tag).await?;
        db.migrate_with_retry().await?;
        Ok(db)
    }

    /// [`Db::connect`] without the demo's tables: for suite shapes that
    /// create their own (see [`crate::mixed`]).
    pub async fn open(url: &str, isolation: bool, tag: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(format!(
                "DATABASE_URL must start with sqlite: or postgres:// (got {:?})",
                redact(url)
            )
            .into());
        };
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let (url, schema) = match (backend, isolation) {
            (Backend::Sqlite, true) => (sqlite_file_per_process(url, &tag), None),
            (Backend::Postgres, true) => (url.to_owned(), Some(format!("bdd_{tag}"))),
            _ => (url.to_owned(), None),
        };
        let url = if backend == Backend::Sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url
        };
        state_tracer::set_database(&url);

        if let Some(schema) = &schema {
            // Created once, outside the pool, so every pooled connection can
            // switch to it.
            // The statement itself becomes the trace's SCHEMA_CREATE record.
            let opts = AnyConnectOptions::from_str(&url)?;
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?;
            pool.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str())
                .await?;
            pool.close().await;
        }

        let search_path = schema.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _meta| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    match (backend, search_path) {
                        (Backend::Postgres, Some(schema)) => {
                            // Every pooled connection, or the isolation leaks.
                            conn.execute(format!("SET search_path TO {schema}").as_str())
                                .await?;
                        }
                        (Backend::Sqlite, _) => {
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            // WAL without an fsync per commit: test data.
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                        }
                        _ => {}
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Db {
            pool,
            backend,
            url,
            schema,
        })
    }

    /// Creates the demo's tables.
    async fn migrate_with_retry(&self) -> Result<()> {
        let ddl = self.demo_tables();
        self.create_tables(&ddl).await
    }

    /// Runs `CREATE TABLE IF NOT EXISTS` statements the way every feature
    /// process can at once: under an advisory lock on PostgreSQL, after
    /// switching to WAL on SQLite. Feature processes start together on one
    /// fresh SQLite file; switching it to WAL can answer "database is
    /// locked" without waiting on the busy timeout. That is start-up
    /// contention, not the pollution the suite demonstrates, so retry it
    /// briefly.
    pub async fn create_tables(&self, ddl: &[String]) -> Result<()> {
        let mut attempt = 0;
        loop {
            match self.migrate(ddl).await {
                Err(e) if attempt < 50 && e.to_string().contains("database is locked") => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    /// The column type of an auto-incremented primary key on this engine.
    pub fn id_column(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Backend::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }

    fn demo_tables(&self) -> Vec<String> {
        let id = self.id_column();
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS users (id {id}, username TEXT NOT NULL UNIQUE, \
                 password_hash TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'user', {WRITTEN_BY})"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS greetings (id {id}, username TEXT NOT NULL, message TEXT NOT NULL, {WRITTEN_BY})"
            ),
            format!("CREATE TABLE IF NOT EXISTS audit_log (id {id}, username TEXT NOT NULL, event TEXT NOT NULL, {WRITTEN_BY})"),
        ]
    }

    async fn migrate(&self, ddl: &[String]) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                // WAL lets the feature processes read while one writes.
                self.pool.execute("PRAGMA journal_mode = WAL").await?;
                for stmt in ddl {
                    self.pool.execute(stmt.as_str()).await?;
                }
            }
            Backend::Postgres => {
                // Concurrent CREATE TABLE IF NOT EXISTS races in the catalog;
                // serialise the feature processes' migrations.
                let mut tx = self.pool.begin().await?;
                tx.execute("SELECT pg_advisory_xact_lock(74201)").await?;
                for stmt in ddl {
                    tx.execute(stmt.as_str()).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// The after-scenario hook's cleanup: every row of every table. Returns
    /// what it really deleted, by table and writer (ground truth for the
    /// accuracy harness, see [`crate::truth`]).
    pub async fn clean_all_tables(&self) -> Result<Vec<Deleted>> {
        let mut deleted = Vec::new();
        match self.backend {
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // What the TRUNCATE is about to remove, read under the lock
                // it takes anyway, and untraced: the trace shows the suite's
                // own cleanup (one TRUNCATE, no row count), nothing more.
                let seen = async {
                    tx.execute(
                        format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", TABLES.join(", "))
                            .as_str(),
                    )
                    .await?;
                    let mut seen = Vec::new();
                    for table in TABLES {
                        let rows = sqlx::query(&format!("SELECT written_by FROM {table}"))
                            .fetch_all(&mut *tx)
                            .await?;
                        seen.extend(truth::tally(table, rows.iter().map(|r| r.get(0))));
                    }
                    Ok::<_, sqlx::Error>(seen)
                }
                .with_subscriber(NoSubscriber::default())
                .await?;
                tx.execute(format!("TRUNCATE {}", TABLES.join(", ")).as_str())
                    .await?;
                tx.commit().await?;
                deleted = seen;
            }
            Backend::Sqlite => {
                let mut tx = self.pool.begin().await?;
                for table in TABLES {
                    // RETURNING: exactly the rows this statement deleted.
                    let rows = sqlx::query(&format!("DELETE FROM {table} RETURNING written_by"))
                        .fetch_all(&mut *tx)
                        .await?;
                    deleted.extend(truth::tally(table, rows.iter().map(|r| r.get(0))));
                }
                tx.commit().await?;
            }
        }
        Ok(deleted)
    }

    /// Drops this process's private schema (PostgreSQL isolation) and closes
    /// the pool.
    pub async fn close(&self) {
        if let (Backend::Postgres, Some(schema)) = (self.backend, &self.schema) {
            let _ = self
                .pool
                .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
                .await;
        }
        self.pool.close().await;
    }
}

/// `sqlite:///x/run.db` → `sqlite:///x/run-<tag>.db`.
fn sqlite_file_per_process(url: &str, tag: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let path = base.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = PathBuf::from(path);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("bdd-demo");
    let ext = path
        .extension()
        .and_then(|s| s.to_str())
        .unwrap_or("sqlite");
    let file = path.with_file_name(format!("{stem}-{tag}.{ext}"));
    match query {
        Some(q) => format!("sqlite://{}?{q}", file.display()),
        None => format!("sqlite://{}", file.display()),
    }
}

/// The URL without its password, for error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_isolation_names_a_file_per_process() {
        assert_eq!(
            sqlite_file_per_process("sqlite:///tmp/run/demo.sqlite?mode=rwc", "greet_42"),
            "sqlite:///tmp/run/demo-greet_42.sqlite?mode=rwc"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:pw@h:5/d"), "postgres://u:***@h:5/d");
        assert_eq!(redact("sqlite:///x.db"), "sqlite:///x.db");
    }
}
