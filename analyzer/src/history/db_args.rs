//! The `--db` option every history subcommand shares (and `history synth`,
//! which is dispatched by `command`): its own module, so neither of the two
//! imports the other for it.

use clap::Args;

/// Where the history lives.
#[derive(Debug, Args, Clone, Default)]
pub struct DbArgs {
    /// History database: sqlite://PATH (or a file path) or postgres://USER@HOST/DB
    /// [default: $TRACE_ANALYZER_HISTORY, else $XDG_DATA_HOME/trace-analyzer/history.sqlite].
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
}
