//! `report --format json`: the stable contract (see [`crate::model::Report`]).

use std::io::{self, Write};

use crate::model::Report;

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}
