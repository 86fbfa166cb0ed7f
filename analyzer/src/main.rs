//! trace-analyzer: merges a run's trace files and names polluters and victims.
//!
//! The command line (clap, exit codes, messages on stderr) is this binary's
//! [`cli`] module, a thin layer over the `trace_analyzer` library, which
//! returns data.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
