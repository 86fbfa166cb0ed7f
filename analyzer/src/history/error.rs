//! The one error type of the history: a problem with the database, said in
//! one line that names the database (password redacted) and the problem.

use std::fmt;

use super::location::{Backend, DbUrl};

/// What went wrong with a history database. Displays as one line, e.g.
/// `history database sqlite:///x.sqlite: not an SQLite database (corrupt, or another kind of file)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryError {
    /// The database, password redacted (`DbUrl::redacted`).
    pub database: String,
    pub problem: String,
    /// SQLite said "busy" or "locked" at once, without waiting out its busy
    /// timeout (a lock upgrade it refuses to wait for, a journal-mode
    /// switch): trying the whole operation again is safe and succeeds.
    pub busy: bool,
}

impl HistoryError {
    pub fn new(database: impl Into<String>, problem: impl Into<String>) -> Self {
        HistoryError {
            database: database.into(),
            problem: problem.into(),
            busy: false,
        }
    }

    /// Names a sqlx error in words a user can act on. The URL's password
    /// is scrubbed from whatever the driver said.
    pub fn from_sqlx(url: &DbUrl, e: &sqlx::Error) -> Self {
        let sqlite = url.backend() == Backend::Sqlite;
        let problem = match e {
            sqlx::Error::Database(db) if sqlite => {
                let code = db.code().unwrap_or_default();
                match code.as_ref() {
                    // SQLite primary result codes (extended codes keep them in the low byte).
                    c if sqlite_code(c) == Some(26) => {
                        "not an SQLite database (corrupt, or another kind of file)".to_owned()
                    }
                    c if sqlite_code(c) == Some(11) => {
                        format!("the SQLite file is corrupt: {}", db.message())
                    }
                    c if sqlite_code(c) == Some(8) => {
                        "read-only: cannot write to it (file permissions, or ?mode=ro)".to_owned()
                    }
                    c if sqlite_code(c) == Some(14) => {
                        format!("cannot open the file: {}", db.message())
                    }
                    _ => db.message().to_owned(),
                }
            }
            sqlx::Error::Io(io) => format!("cannot connect: {io}"),
            sqlx::Error::PoolTimedOut => {
                "cannot connect: timed out (is the server up and reachable?)".to_owned()
            }
            sqlx::Error::Configuration(c) => format!("bad URL: {c}"),
            sqlx::Error::Tls(t) => format!("TLS: {t}"),
            sqlx::Error::Migrate(m) => format!("migration failed: {m}"),
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        };
        let busy = sqlite && sqlite_busy(e);
        HistoryError {
            busy,
            ..HistoryError::new(url.redacted(), url.scrub(&problem).replace('\n', " "))
        }
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), also inside a migration error.
fn sqlite_busy(e: &sqlx::Error) -> bool {
    use sqlx::migrate::MigrateError;
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref().and_then(sqlite_code), Some(5 | 6))
        }
        sqlx::Error::Migrate(m) => match m.as_ref() {
            MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => sqlite_busy(e),
            _ => false,
        },
        _ => false,
    }
}

/// The SQLite primary result code of a sqlx error code string, if numeric.
fn sqlite_code(code: &str) -> Option<i64> {
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "history database {}: {}", self.database, self.problem)
    }
}

impl std::error::Error for HistoryError {}
