//! CSV for `merge` (one row per record) and `report` (one row per finding),
//! RFC 4180 quoting by the `csv` crate.

use std::io::{self, Write};

use state_tracer_format::wall_time_string;

use crate::escape::text;
use crate::input::record::{Rec, RecKind};
use crate::model::Report;

/// Writes one CSV line, `\n`-terminated: a field holding `,`, `"`, CR or
/// LF is quoted, its quotes doubled (RFC 4180, the `csv` crate's
/// `QuoteStyle::Necessary`); every other field as it is.
pub fn line<I>(out: &mut dyn Write, fields: I) -> io::Result<()>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    // Into a Vec, then `out`: the csv writer's flush would flush `out`
    // too, a `write(2)` per line under a `BufWriter`.
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(512)
        .from_writer(Vec::with_capacity(512));
    w.write_record(fields)?;
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    out.write_all(&bytes)
}

fn row(out: &mut dyn Write, fields: &[String]) -> io::Result<()> {
    // Control characters escaped (see `escape`): a CSV is often `cat`ed.
    let escaped: Vec<_> = fields.iter().map(|f| text(f)).collect();
    line(out, escaped.iter().map(|f| f.as_bytes()))
}

pub fn write_merge_header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "ts,pid,process,seq,scenario_id,feature,scenario,step,action,resource,details,outcome,error,duration_us,rows")
}

pub fn write_merge_record(
    rec: &Rec,
    pid: u32,
    process: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let opt = |s: Option<&str>| s.unwrap_or("").to_owned();
    let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    let action = if rec.kind == RecKind::Footer {
        "PROCESS_END"
    } else {
        rec.action.as_str()
    };
    row(
        out,
        &[
            wall_time_string(rec.time()),
            pid.to_string(),
            process.to_owned(),
            rec.seq.to_string(),
            num(rec.scenario_id()),
            opt(rec.feature().map(|s| &**s)),
            opt(rec.scenario().map(|s| &**s)),
            opt(rec.step()),
            action.to_owned(),
            rec.resource
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_default(),
            opt(rec.details()),
            rec.outcome
                .map(|o| o.as_str().to_owned())
                .unwrap_or_default(),
            opt(rec.error()),
            num(rec.duration_us()),
            num(rec.rows()),
        ],
    )
}

pub fn write_report(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "rule,severity,likely_cause,victim_pid,victim_feature,victim_scenario,victim_outcome,polluter_pid,polluter_feature,polluter_scenario,resource,at,occurrences,explanation,reproduce,confidence,why,evidence,verdict")?;
    for f in &report.findings {
        let v = f.victim.as_ref();
        let p = f.polluter.as_ref();
        row(
            out,
            &[
                f.rule.as_str().to_owned(),
                f.severity.as_str().to_owned(),
                f.likely_cause.to_string(),
                v.map(|v| v.pid.to_string()).unwrap_or_default(),
                v.map(|v| v.feature.clone()).unwrap_or_default(),
                v.map(|v| v.scenario.clone()).unwrap_or_default(),
                v.map(|v| v.outcome.as_str().to_owned()).unwrap_or_default(),
                p.map(|p| p.pid.to_string()).unwrap_or_default(),
                p.map(|p| p.feature.clone()).unwrap_or_default(),
                p.map(|p| p.scenario.clone()).unwrap_or_default(),
                f.resource.clone(),
                wall_time_string(f.at),
                f.occurrences.to_string(),
                f.explanation.clone(),
                f.reproduce
                    .as_ref()
                    .map(|r| r.command.clone())
                    .unwrap_or_default(),
                f.confidence
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                f.why.clone().unwrap_or_default(),
                f.evidence.clone().unwrap_or_default(),
                f.verdict.map(|v| v.as_str().to_owned()).unwrap_or_default(),
            ],
        )?;
    }
    Ok(())
}
