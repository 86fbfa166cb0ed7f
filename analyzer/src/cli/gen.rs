//! `gen` (hidden): write a synthetic run for benchmarks.

use super::{CliError, EXIT_OK};

pub(super) fn cmd_gen(g: &trace_analyzer::gen::GenArgs) -> Result<i32, CliError> {
    let files = trace_analyzer::gen::generate(g)?;
    eprintln!("wrote {} files under {}", files.len(), g.dir.display());
    Ok(EXIT_OK)
}
