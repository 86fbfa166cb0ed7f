//! trace-analyzer: merges a run's trace files and names polluters and victims.
//!
//! The command line (clap, exit codes, messages and the progress bar on
//! stderr) is this binary's [`cli`] and [`bar`] modules, a thin layer over the `trace_analyzer` library, which
//! returns data.

mod bar;
mod cli;

fn main() {
    std::process::exit(cli::main());
}
