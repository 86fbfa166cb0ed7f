//! `export`: the run in other tools' formats. Today, Chrome Trace Event
//! JSON for Perfetto UI and `chrome://tracing` ([`chrome`]).
//!
//! The library writes the data; the `export` subcommand (arguments, exit
//! codes, messages) lives in the binary's CLI.

pub mod chrome;

pub use chrome::Output;

use clap::ValueEnum;

/// `export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Chrome Trace Event JSON (gzip with `-o FILE.gz`): open in ui.perfetto.dev or chrome://tracing.
    Chrome,
}
