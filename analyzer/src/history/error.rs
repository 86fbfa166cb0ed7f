//! The one error type of the history: a problem with the database, said in
//! one line that names the database (password redacted) and the problem.

use std::fmt;

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
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "history database {}: {}", self.database, self.problem)
    }
}

impl std::error::Error for HistoryError {}
