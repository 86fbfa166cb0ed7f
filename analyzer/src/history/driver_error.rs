//! Turns the driver's errors into [`HistoryError`]s a user can act on.
//! Apart from `error`, so the error type does not depend on the URL type
//! whose parsing reports it.

use super::location::{Backend, DbUrl};
use super::HistoryError;

impl HistoryError {
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
