//! What every history subcommand shares (`history synth`, dispatched by
//! `command`, included): the `--db` option and the command error. Its own
//! module, so neither of the two imports the other for it.

use std::io;

use clap::Args;

use super::HistoryError;

/// Where the history lives.
#[derive(Debug, Args, Clone, Default)]
pub struct DbArgs {
    /// History database: sqlite://PATH (or a file path) or postgres://USER@HOST/DB
    /// [default: $TRACE_ANALYZER_HISTORY, else $XDG_DATA_HOME/trace-analyzer/history.sqlite].
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
}

/// A database problem (printed as its one line) or anything else.
pub(crate) enum CmdError {
    History(HistoryError),
    Other(Box<dyn std::error::Error>),
}

impl From<HistoryError> for CmdError {
    fn from(e: HistoryError) -> Self {
        CmdError::History(e)
    }
}

impl From<io::Error> for CmdError {
    fn from(e: io::Error) -> Self {
        CmdError::Other(e.into())
    }
}

impl From<crate::InputError> for CmdError {
    fn from(e: crate::InputError) -> Self {
        CmdError::Other(e.into())
    }
}

impl From<String> for CmdError {
    fn from(e: String) -> Self {
        CmdError::Other(e.into())
    }
}
