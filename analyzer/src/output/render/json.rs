//! `report --format json`: the stable contract (see [`crate::model::Report`]).
//!
//! Written one item per line: the report's fields and each element of its
//! lists are indented, each element itself is compact. A run of 20,000
//! one-test processes is then 8 MB, not 12 (indenting every nested field
//! is a third of the bytes), and still reads and diffs line by line.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::model::Report;

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    // serde writes many small pieces: buffer them in a concrete type, so
    // each is an inlined copy rather than a call through `dyn Write`.
    let mut buffered = io::BufWriter::with_capacity(1 << 16, &mut *out);
    let mut ser = serde_json::Serializer::with_formatter(&mut buffered, ItemPerLine::default());
    report.serialize(&mut ser)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// Containers down to this depth are indented; deeper ones are compact.
const PRETTY_DEPTH: usize = 2;

/// serde_json's pretty formatter down to [`PRETTY_DEPTH`], compact below.
#[derive(Default)]
struct ItemPerLine {
    depth: usize,
    has_value: bool,
}

impl ItemPerLine {
    fn pretty(&self) -> bool {
        self.depth <= PRETTY_DEPTH
    }

    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        if self.pretty() {
            self.has_value = false;
        }
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        let pretty = self.pretty();
        self.depth -= 1;
        if pretty && self.has_value {
            self.newline(w)?;
        }
        w.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        if self.pretty() {
            self.newline(w)?;
        }
        Ok(())
    }
}

impl Formatter for ItemPerLine {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(if self.pretty() { b": " } else { b":" })
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_hold_one_compact_item_per_line() {
        let v = serde_json::json!({"a": 1, "list": [{"x": [1, 2], "y": {"z": null}}, {"x": []}], "empty": []});
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, ItemPerLine::default());
        v.serialize(&mut ser).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\n  \"a\": 1,\n  \"empty\": [],\n  \"list\": [\n    {\"x\":[1,2],\"y\":{\"z\":null}},\n    {\"x\":[]}\n  ]\n}"
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
    }
}
