//! `report`: analyze a run and print the report; also the report half of
//! `run` (`emit_report`, `html_report`, `confirm_report`).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use trace_analyzer::model::Report;
use trace_analyzer::render::html::lod;
use trace_analyzer::render::{self, RenderOptions, ReportFormat};
use trace_analyzer::{AnalyzeOptions, Analyzer};

use super::output::{open_output, plural, print_warnings, report_warnings, warn_other_runs};
use super::{exit_code, CliError, ColorChoice, InputArgs, ReportOpts, EXIT_ERROR};
use crate::bar::Bar;

#[derive(Debug, Args)]
pub(super) struct ReportArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    #[command(flatten)]
    report: ReportOpts,
}

pub(super) fn cmd_report(a: ReportArgs) -> Result<i32, CliError> {
    if a.report.format == ReportFormat::Html {
        return html_report(
            &analyze_opts(&a.input, &a.report),
            &a.report,
            &a.input,
            None,
        );
    }
    let mut analysis = Analyzer::new(&analyze_opts(&a.input, &a.report))
        .progress(&mut Bar)
        .run()?;
    if a.input.run.is_none() {
        warn_other_runs(
            &a.input,
            None,
            &analysis.report.other_runs,
            &analysis.report.run_id,
        );
    }
    if analysis.report.processes.is_empty() {
        print_warnings(&analysis.report.warnings);
        return Err("nothing to analyze".into());
    }
    if let Some(db) = &a.report.history {
        trace_analyzer::history::command::record_and_annotate(&mut analysis, Some(db));
    }
    emit_report(analysis, &a.report, &a.input.output, a.input.strict)
}

pub(super) fn analyze_opts(input: &InputArgs, r: &ReportOpts) -> AnalyzeOptions {
    AnalyzeOptions {
        inputs: input.inputs.clone(),
        run: input.run.clone(),
        legacy_tz: input.legacy_tz,
        all_overlaps: r.all_overlaps,
        hazard_pairs: r.hazard_pairs.clone(),
        allow: r.allow.clone(),
        deny: r.deny.clone(),
        // HTML draws from the stream (`render::html::lod`), not from an
        // in-memory timeline; the history stores scenario runs with their
        // durations (timeline).
        timeline: r.history.is_some() && r.format != ReportFormat::Html,
    }
}

/// Prints a report and returns the exit code it implies. Takes the
/// analysis because the process exits next: it is not freed entry by entry
/// (~4 ms for a long run's report), the exit frees it at once.
pub(super) fn emit_report(
    analysis: trace_analyzer::model::Analysis,
    r: &ReportOpts,
    output: &Option<PathBuf>,
    strict: bool,
) -> Result<i32, CliError> {
    let report = &analysis.report;
    let (mut out, tty) = open_output(output)?;
    let color = match r.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && !no_color_env(),
    };
    let opts = RenderOptions {
        color,
        width: if tty { None } else { Some(140) },
        verbose: r.verbose,
    };
    if let Err(e) = render::write_report(
        r.format,
        report,
        analysis.timeline.as_ref(),
        &opts,
        &mut out,
    )
    .and_then(|_| out.flush())
    {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if let Some(path) = output {
        say_wrote(path, r.format, report);
    }
    // Warnings are in the report; stderr names the first few too, also
    // for the table, whose warnings section is easily scrolled past.
    report_warnings(&report.warnings);
    let code = exit_code(report, r.fail_on, strict);
    std::mem::forget(analysis);
    Ok(code)
}

/// NO_COLOR (any non-empty value) disables colour, per no-color.org.
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// `run --confirm`: the reruns, with a progress line on a terminal and a
/// closing line on stderr.
pub(super) fn confirm_report(
    report: &mut trace_analyzer::model::Report,
    c: &trace_analyzer::confirm::auto::AutoOptions,
) {
    use trace_analyzer::confirm;
    confirm::run::stop_on_ctrl_c();
    let tty = io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut progress = |s: &str| {
        if tty {
            // The line quotes scenario names from the trace.
            eprint!("\r\x1b[Kconfirm: {}", trace_analyzer::escape::text(s));
        }
    };
    let done = confirm::auto::confirm_likely_causes(report, c, &mut progress);
    if tty {
        eprint!("\r\x1b[K");
    }
    let failed = report
        .processes
        .iter()
        .flat_map(|p| &p.order)
        .filter(|o| o.outcome == trace_analyzer::model::ScenarioOutcome::Failed)
        .count();
    // Failures the trace does not explain can still be searched by reruns.
    let unexplained = failed.saturating_sub(done.victims);
    let search = |n: usize| {
        format!(
            "; {n} failed scenario(s) have no likely cause: `trace-analyzer confirm {} --victim 'FEATURE: SCENARIO'` tries the scenarios that changed what one used, a pair at a time",
            c.inputs.first().map_or(String::new(), |d| d.display().to_string())
        )
    };
    if done.victims == 0 {
        eprintln!(
            "trace-analyzer: confirm: no failed scenario has a likely cause to confirm{}",
            if unexplained > 0 {
                search(unexplained)
            } else {
                String::new()
            }
        );
        return;
    }
    eprintln!(
        "trace-analyzer: confirm: {} of {} failed scenario(s) with a likely cause confirmed, {} rerun(s) in {:.0} s{} (traces in {})",
        done.confirmed,
        done.victims,
        done.reruns,
        started.elapsed().as_secs_f64(),
        if done.not_reached > 0 {
            format!(
                "; the budget ran out before {} of them (give more with --confirm=5m)",
                done.not_reached
            )
        } else {
            String::new()
        },
        c.dir.display()
    );
    if unexplained > 0 {
        eprintln!(
            "trace-analyzer: confirm: {}",
            search(unexplained).trim_start_matches("; ")
        );
    }
}

/// `--format html`: the page is written while the analysis streams the run
/// (bounded memory; see `render::html::lod`), and replaces `-o FILE` only
/// once complete.
pub(super) fn html_report(
    opts: &AnalyzeOptions,
    r: &ReportOpts,
    input: &InputArgs,
    confirm: Option<&trace_analyzer::confirm::auto::AutoOptions>,
) -> Result<i32, CliError> {
    let mut out = trace_analyzer::export::Output::open(input.output.as_deref())?;
    let mut page = lod::HtmlStream::new(&mut out, r.detail);
    let opts = AnalyzeOptions {
        timeline: false,
        ..opts.clone()
    };
    let analyzed = Analyzer::new(&opts).progress(&mut Bar).tap(&mut page).run();
    let mut analysis = match analyzed {
        Ok(a) if !a.report.processes.is_empty() => a,
        other => {
            drop(page);
            out.discard();
            let report = other?.report;
            eprintln!("trace-analyzer: error: nothing to analyze");
            print_warnings(&report.warnings);
            return Ok(EXIT_ERROR);
        }
    };
    if let Some(c) = confirm {
        confirm_report(&mut analysis.report, c);
    }
    if let Some(db) = &r.history {
        trace_analyzer::history::command::record_and_annotate(&mut analysis, Some(db));
    }
    let report = &analysis.report;
    if input.run.is_none() {
        warn_other_runs(input, None, &report.other_runs, &report.run_id);
    }
    let written = page.finish(report);
    if let Err(e) = written.and_then(|()| out.commit()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if let Some(path) = &input.output {
        say_wrote(path, r.format, report);
    }
    report_warnings(&report.warnings);
    Ok(exit_code(report, r.fail_on, input.strict))
}

/// `report -o FILE`: one line on stderr saying what the file holds, as
/// `export -o` does.
fn say_wrote(path: &std::path::Path, format: ReportFormat, report: &Report) {
    let kind = match format {
        ReportFormat::Table => "table report",
        ReportFormat::Json => "JSON report",
        ReportFormat::Markdown => "Markdown report",
        ReportFormat::Csv => "CSV report, one row per finding,",
        ReportFormat::Html => "HTML timeline and report",
    };
    let failed: u64 = report.processes.iter().map(|p| p.failed).sum();
    eprintln!(
        "trace-analyzer: wrote {} ({kind} of run {}: {}, {}, {})",
        path.display(),
        trace_analyzer::escape::text(&report.run_id),
        plural(report.processes.len(), "process", "processes"),
        plural(failed as usize, "failed scenario", "failed scenarios"),
        plural(report.findings.len(), "finding", "findings"),
    );
}
