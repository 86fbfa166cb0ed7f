//! Opening a history database: connect, make sure it is ours (or empty),
//! refuse a newer schema, apply the embedded migrations.
//!
//! A database that is not a history database, or whose schema is newer than
//! this binary knows, is refused before anything is written to it. The same
//! SQL runs on both backends; `with_pool!` compiles a body once per driver.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Row};

use super::location::{Backend, DbUrl};
use super::HistoryError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/history/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/history/postgres");

/// The marker row that says a database is a history database.
pub const APPLICATION: &str = "trace-analyzer history";

/// How long a writer waits for another one's transaction (SQLite) or for a
/// connection (both) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the caller will write (then SQLite is switched to WAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A connection pool of one of the two backends.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Whether an SQLite database has a `-wal` file (a writer has it open, or
/// one did not close cleanly).
fn wal_exists(url: &DbUrl) -> bool {
    url.sqlite_path().is_some_and(|p| {
        let mut wal = p.into_os_string();
        wal.push("-wal");
        std::path::Path::new(&wal).exists()
    })
}

/// An open, checked, migrated history database.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    url: DbUrl,
}

/// Runs `$body` with `$p` bound to the store's pool, compiled once per backend.
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::history::store::Pool::Sqlite($p) => $body,
            $crate::history::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `op` again while SQLite answers "busy" at once (see
/// [`HistoryError::busy`]), with a growing pause, for up to [`BUSY_TIMEOUT`].
/// Only for operations that are whole transactions or read-only, so a
/// second attempt starts from a clean state.
pub(crate) async fn retry_busy<T, F, Fut>(mut op: F) -> Result<T, HistoryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, HistoryError>>,
{
    let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(5);
    loop {
        match op().await {
            Err(e) if e.busy && tokio::time::Instant::now() + pause < deadline => {
                // Spread the retries of many writers over time.
                let jitter = Duration::from_micros(u64::from(std::process::id() % 997) * 7);
                tokio::time::sleep(pause + jitter).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

impl Store {
    /// Connects, checks and migrates. Never modifies a database that is not
    /// a history database or whose schema is newer than this binary's.
    /// Retried as a whole when SQLite refuses a lock at once (many first
    /// users of one new file racing to create and switch it to WAL).
    pub async fn open(url: &DbUrl, access: Access) -> Result<Store, HistoryError> {
        retry_busy(|| Store::open_once(url, access)).await
    }

    async fn open_once(url: &DbUrl, access: Access) -> Result<Store, HistoryError> {
        let err = |e: sqlx::Error| HistoryError::from_sqlx(url, &e);
        let pool = match url.backend() {
            Backend::Sqlite => {
                url.check_sqlite_file()?;
                // A read never creates the database (nor anything next to it).
                let missing = url.sqlite_path().is_some_and(|p| !p.exists());
                if access == Access::Read && missing {
                    return Err(HistoryError::new(
                        url.redacted(),
                        "no history database here yet (`history add` or `report --history` creates it)",
                    ));
                }
                let opts = SqliteConnectOptions::from_str(url.as_str())
                    .map_err(err)?
                    .create_if_missing(access == Access::Write)
                    .busy_timeout(BUSY_TIMEOUT)
                    .foreign_keys(true);
                // A read-only connection (`?mode=ro`) cannot remove the
                // `-wal`/`-shm` files SQLite makes for a WAL database, so
                // when no writer has a `-wal` open it reads the file as
                // immutable: no locks, nothing created. (Other connections
                // clean up after themselves when closed: `close`.)
                let opts = if url.sqlite_read_only() && !wal_exists(url) {
                    opts.immutable(true)
                } else {
                    opts
                };
                if url.is_default() {
                    if let Some(dir) = opts.get_filename().parent() {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            HistoryError::new(
                                url.redacted(),
                                format!("cannot create {}: {e}", dir.display()),
                            )
                        })?;
                    }
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(BUSY_TIMEOUT)
                    .connect_with(opts)
                    .await
                    .map_err(err)?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => {
                let opts = PgConnectOptions::from_str(url.as_str()).map_err(err)?;
                // One direct attempt first: the pool would retry a refused
                // connection until its timeout and then only say "timed out".
                match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&opts)).await
                {
                    Err(_) => return Err(HistoryError::new(
                        url.redacted(),
                        "cannot connect: no answer within 10 s (is the server up and reachable?)",
                    )),
                    Ok(Err(e)) => return Err(err(e)),
                    Ok(Ok(c)) => {
                        let _ = c.close().await;
                    }
                }
                let pool = PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(opts)
                    .await
                    .map_err(err)?;
                Pool::Postgres(pool)
            }
        };
        let store = Store {
            pool,
            url: url.clone(),
        };
        if let Err(e) = store.check_and_migrate(access).await {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Closes every connection, so SQLite checkpoints and removes its
    /// `-wal` and `-shm` files instead of leaving them for the next reader.
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await);
    }

    /// The URL, for messages (redacted) and errors.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// Maps a driver error to a one-line [`HistoryError`] naming this database.
    pub fn error(&self, e: sqlx::Error) -> HistoryError {
        HistoryError::from_sqlx(&self.url, &e)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// The newest schema version this binary knows.
    pub fn known_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    async fn tables(&self) -> Result<Vec<String>, HistoryError> {
        let sql = match self.pool {
            Pool::Sqlite(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Pool::Postgres(_) => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
            }
        };
        let rows: Vec<String> = with_pool!(self, p => sqlx::query_scalar(sql).fetch_all(p).await)
            .map_err(|e| self.error(e))?;
        Ok(rows)
    }

    async fn check_and_migrate(&self, access: Access) -> Result<(), HistoryError> {
        // Concurrent first users of one SQLite file race to create the
        // schema; the loser's transaction rolls back and it looks again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            if self.check().await? == Some(self.known_version()) {
                break; // up to date: nothing to migrate
            }
            let run = with_pool!(self, p => self.migrator().run(p).await);
            match run {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(self.error(sqlx::Error::Migrate(Box::new(e)))),
            }
        }
        if access == Access::Write {
            if let Pool::Sqlite(p) = &self.pool {
                // WAL: readers never block the writer; persistent in the
                // file. When another process holds the file right now the
                // mode stays as it is this once; the busy timeout still
                // serialises writers.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(p)
                    .await
                    .map_err(|e| self.error(e))?;
            }
        }
        Ok(())
    }

    /// Refuses a foreign database or a newer schema, before any write.
    /// Returns the newest schema version applied, if any.
    async fn check(&self) -> Result<Option<i64>, HistoryError> {
        let tables = self.tables().await?;
        let own: Vec<&String> = tables
            .iter()
            .filter(|t| t.as_str() != "_sqlx_migrations")
            .collect();
        if own.is_empty() {
            return Ok(None); // empty: the migrations create the schema
        }
        let marker: Option<String> = if tables.iter().any(|t| t == "history_meta") {
            with_pool!(self, p => sqlx::query_scalar(
                "SELECT value FROM history_meta WHERE key = 'application'"
            )
            .fetch_optional(p)
            .await)
            .map_err(|e| self.error(e))?
        } else {
            None
        };
        if marker.as_deref() != Some(APPLICATION) {
            let shown: Vec<&str> = own.iter().take(5).map(|s| s.as_str()).collect();
            return Err(HistoryError::new(
                self.url.redacted(),
                format!(
                    "not a trace-analyzer history database (it holds other tables: {}{}); give another --db, nothing was changed",
                    shown.join(", "),
                    if own.len() > 5 { ", …" } else { "" }
                ),
            ));
        }
        if !tables.iter().any(|t| t == "_sqlx_migrations") {
            return Ok(None);
        }
        {
            let newest: Option<i64> = with_pool!(self, p => sqlx::query(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success"
            )
            .fetch_one(p)
            .await
            .and_then(|r| r.try_get::<Option<i64>, _>(0)))
            .map_err(|e| self.error(e))?;
            let known = self.known_version();
            if let Some(v) = newest.filter(|&v| v > known) {
                return Err(HistoryError::new(
                    self.url.redacted(),
                    format!(
                        "its schema (version {v}) is newer than this trace-analyzer knows (version {known}); upgrade trace-analyzer, nothing was changed"
                    ),
                ));
            }
            Ok(newest)
        }
    }
}
