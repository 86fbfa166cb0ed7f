//! `clean`: delete old trace files the tracer made.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, EXIT_ERROR, EXIT_OK};

#[derive(Debug, Args)]
pub(super) struct CleanArgs {
    /// Folders or files, searched five folder levels deep [default: the top level of $BDD_TRACE_DIR, else of the OS temp dir].
    inputs: Vec<PathBuf>,
    /// Age, e.g. `7d`, `12h`, `30m`, `2w`.
    #[arg(long, value_name = "AGE", value_parser = trace_analyzer::clean::parse_age)]
    older_than: std::time::Duration,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(super) fn cmd_clean(a: &CleanArgs) -> Result<i32, CliError> {
    use trace_analyzer::clean::{self, Depth};
    // Named folders are searched like `report` searches them; the default
    // folder is shared with other programs, so only its top level is.
    let (inputs, depth) = if a.inputs.is_empty() {
        let inputs = trace_analyzer::inputs_or_default(&a.inputs);
        for dir in &inputs {
            eprintln!(
                "looking only at the top level of {} (no subfolders); name a folder to search it and its subfolders",
                dir.display()
            );
        }
        (inputs, Depth::TopLevel)
    } else {
        (a.inputs.clone(), Depth::Search)
    };
    let found = clean::candidates(&inputs, depth, a.older_than);
    for f in &found.in_use {
        eprintln!("skipped {}: still open for writing", f.display());
    }
    let mut failed = false;
    let mut done = 0;
    for f in &found.old {
        if a.dry_run {
            println!("would delete {}", f.display());
            done += 1;
            continue;
        }
        match clean::delete(f) {
            Ok(true) => {
                println!("deleted {}", f.display());
                done += 1;
            }
            Ok(false) => eprintln!(
                "skipped {}: changed or reopened since it was found",
                f.display()
            ),
            Err(e) => {
                failed = true;
                eprintln!("trace-analyzer: cannot delete {}: {e}", f.display());
            }
        }
    }
    eprintln!(
        "{} {} older than {}",
        if a.dry_run { "would delete" } else { "deleted" },
        trace_analyzer::count(done as u64, "trace file", "trace files"),
        clean::humantime(a.older_than)
    );
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}
