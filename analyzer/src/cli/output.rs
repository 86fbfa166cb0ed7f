//! What every subcommand prints besides its own output: the output file or
//! stdout, input warnings and the note about other runs, on stderr.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use trace_analyzer::discover;

use super::{CliError, InputArgs};

pub(super) fn open_output(path: &Option<PathBuf>) -> Result<(Box<dyn Write>, bool), CliError> {
    Ok(match path {
        Some(p) => {
            let f = File::create(p).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            (Box::new(BufWriter::new(f)), false)
        }
        None => {
            let tty = io::stdout().is_terminal();
            (
                Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
                tty,
            )
        }
    })
}

/// On stderr, before the output: the inputs hold runs besides the one
/// analyzed, and which of them hold failed scenarios the output leaves out.
/// `d` is the discovery already made, if the caller has it.
pub(super) fn warn_other_runs(
    input: &InputArgs,
    d: Option<&discover::Discovery>,
    others: &[String],
    chosen: &str,
) {
    if others.is_empty() {
        return;
    }
    eprintln!(
        "note: {} in the inputs; using the most recent, {chosen:?} (pick another with --run ID; list them with `trace-analyzer runs`)",
        plural(others.len(), "other run", "other runs")
    );
    let found;
    let d = match d {
        Some(d) => d,
        None => {
            let inputs = trace_analyzer::inputs_or_default(&input.inputs);
            found = discover::discover(&inputs, &input.legacy_tz);
            &found
        }
    };
    let failing = discover::other_runs_with_failures(d, chosen);
    if failing.is_empty() {
        return;
    }
    let total: u64 = failing.iter().map(|(_, n)| n).sum();
    const SHOWN: usize = 3;
    let mut named: Vec<String> = failing
        .iter()
        .take(SHOWN)
        .map(|(id, n)| format!("{} ({n} failed)", trace_analyzer::escape::text(id)))
        .collect();
    if failing.len() > SHOWN {
        named.push(format!("and {} more", failing.len() - SHOWN));
    }
    eprintln!(
        "warning: this output leaves out {} in {} of the inputs: {}; analyze {} with --run ID",
        plural(total as usize, "failed scenario", "failed scenarios"),
        plural(failing.len(), "other run", "other runs"),
        named.join(", "),
        if failing.len() == 1 { "it" } else { "one" },
    );
}

/// `1 file`, `2 files`.
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How many input warnings stderr shows before a count.
const SHOWN_WARNINGS: usize = 5;

/// The one warning printer: `warning: FILE[:LINE]: MESSAGE` on stderr for
/// the first few, then a count.
pub(super) fn print_warnings(w: &[trace_analyzer::model::Warning]) {
    print_warnings_then(w, "`report` lists them all");
}

/// A report's warnings on stderr, and a line of its own when whole files
/// were not read: a failure in them is missing from the report, which
/// would otherwise exit 0 (`--strict` makes it 2).
pub(super) fn report_warnings(w: &[trace_analyzer::model::Warning]) {
    print_warnings_then(w, "the report lists them all");
    let dropped = w.iter().filter(|w| w.drops_file()).count();
    if dropped > 0 {
        eprintln!(
            "warning: {} not read at all: any failure in {} is missing from this report (--strict makes this exit 2)",
            trace_analyzer::count(dropped as u64, "input file", "input files"),
            if dropped == 1 { "it" } else { "them" }
        );
    }
}

/// [`print_warnings`], saying where the rest are listed. File names and
/// messages quote trace-controlled text: control characters are escaped.
fn print_warnings_then(w: &[trace_analyzer::model::Warning], rest: &str) {
    use trace_analyzer::escape::text;
    for w in w.iter().take(SHOWN_WARNINGS) {
        if w.line > 0 {
            eprintln!(
                "warning: {}:{}: {}",
                text(&w.file),
                w.line,
                text(&w.message)
            );
        } else {
            eprintln!("warning: {}: {}", text(&w.file), text(&w.message));
        }
    }
    if w.len() > SHOWN_WARNINGS {
        eprintln!(
            "warning: {} more input warning(s); {rest}",
            w.len() - SHOWN_WARNINGS
        );
    }
}
