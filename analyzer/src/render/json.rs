//! `report --format json`: the stable contract (see [`crate::model::Report`]).

use std::io::{self, Write};

use crate::model::Report;

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    // serde writes many small pieces: buffer them in a concrete type, so
    // each is an inlined copy rather than a call through `dyn Write`.
    let mut buffered = io::BufWriter::with_capacity(1 << 16, &mut *out);
    serde_json::to_writer_pretty(&mut buffered, report)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
}
