//! `merge`: one timeline of a run's files, streamed to the output.

use std::io::{self, Write};

use clap::Args;

use trace_analyzer::discover;
use trace_analyzer::read::ReadOptions;
use trace_analyzer::render::{MergeFormat, RecordWriter};
use trace_analyzer::select_run;

use super::output::{open_output, print_warnings, warn_other_runs};
use super::{CliError, InputArgs, EXIT_ERROR, EXIT_OK};

#[derive(Debug, Args)]
pub(super) struct MergeArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    #[arg(long, value_enum, default_value_t = MergeFormat::Text)]
    format: MergeFormat,
}

pub(super) fn cmd_merge(a: MergeArgs) -> Result<i32, CliError> {
    let inputs = trace_analyzer::inputs_or_default(&a.input.inputs);
    let d = discover::discover(&inputs, &a.input.legacy_tz);
    let mut warnings = d.warnings.clone();
    let Some((run, others)) = select_run(&d, a.input.run.as_deref())? else {
        print_warnings(&warnings);
        return Err(d.nothing_found().into());
    };
    if a.input.run.is_none() {
        warn_other_runs(&a.input, Some(&d), &others, &run.id);
    }
    let (mut out, _) = open_output(&a.input.output)?;
    let opts = ReadOptions {
        full: true,
        legacy_tz: a.input.legacy_tz,
        progress: None,
    };
    let mut writer = RecordWriter::new(a.format, &run.files);
    let mut merger = trace_analyzer::merge::Merger::new(&run.files, &opts);
    let mut result = writer.begin(&mut out);
    if result.is_ok() {
        for rec in merger.by_ref() {
            if let Err(e) = writer.write(&rec, &mut out) {
                result = Err(e);
                break;
            }
        }
    }
    let ends = merger.finish();
    if let Err(e) = result.and_then(|_| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(EXIT_OK);
        }
        return Err(e.into());
    }
    for (_, w) in ends {
        warnings.extend(w);
    }
    print_warnings(&warnings);
    Ok(if a.input.strict && !warnings.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}
