//! A line reader that never holds more than `max` bytes of one line.
//!
//! `BufRead::read_until` would happily buffer a 100 MB line; a trace file
//! from a misbehaving writer must not be able to blow the analyzer's memory,
//! so over-long lines are skipped (and reported) while streaming.

use std::io::{self, BufRead};

use crate::input::read::options::Problems;

/// Longest line kept; longer lines are skipped with a warning.
pub const MAX_LINE: usize = 1 << 20;

/// What [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line without its `\n`; `complete` is false for a last line that
    /// ended without one (a killed writer).
    Text { bytes: &'a [u8], complete: bool },
    /// A line longer than the cap, skipped; `len` is its length in bytes.
    TooLong { len: u64 },
}

/// A non-blank UTF-8 line handed to a format parser by
/// [`LineReader::next_text_or_skip`].
pub struct TextLine<'a> {
    /// 1-based line number.
    pub no: u64,
    /// Without its `\n`.
    pub text: &'a str,
    /// False for a last line that ended without `\n` (a killed writer).
    pub complete: bool,
}

/// A line whose UTF-8 is not checked yet, from [`LineReader::next_raw_or_skip`].
pub struct RawLine<'a> {
    /// 1-based line number.
    pub no: u64,
    /// Without its `\n`.
    pub bytes: &'a [u8],
    /// False for a last line that ended without `\n` (a killed writer).
    pub complete: bool,
}

/// Checks a raw line's UTF-8 as [`LineReader::next_text_or_skip`] does: `None` for
/// a line to skip (reported to `problems` unless it is blank).
pub fn text_line<'a>(
    no: u64,
    bytes: &'a [u8],
    complete: bool,
    problems: &mut Problems,
) -> Option<TextLine<'a>> {
    match std::str::from_utf8(bytes) {
        Err(_) => {
            problems.push(no, "invalid UTF-8; line skipped".into());
            None
        }
        Ok(text) if text.trim().is_empty() => None,
        Ok(text) => Some(TextLine { no, text, complete }),
    }
}

/// Streams lines out of any `BufRead`, counting them (1-based).
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
    /// Number of the line last returned.
    pub line_no: u64,
    /// Bytes of the line last returned straight from `inner`'s buffer, to
    /// consume on the next call.
    pending: usize,
    /// Whether the line last returned from `buf` ended with `\n`.
    buf_complete: bool,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_LINE)
    }

    pub fn with_max(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(1024),
            max,
            line_no: 0,
            pending: 0,
            buf_complete: true,
        }
    }

    /// The next line worth parsing, `Some(None)` for a line it skipped
    /// (reported to `problems` if it was not blank), or `None` at the end of
    /// the file (a read error ends it with a warning). Each line's UTF-8 is
    /// checked once.
    pub fn next_text_or_skip(&mut self, problems: &mut Problems) -> Option<Option<TextLine<'_>>> {
        let no = self.line_no + 1;
        let (bytes, complete) = match self.next_line() {
            Ok(None) => return None,
            Err(e) => {
                problems.push(no, format!("read error: {e}; rest of file skipped"));
                return None;
            }
            Ok(Some(Line::TooLong { len })) => {
                problems.push(
                    no,
                    format!("line of {len} bytes is too long (limit 1 MiB); skipped"),
                );
                return Some(None);
            }
            Ok(Some(Line::Text { bytes, complete })) => (bytes, complete),
        };
        Some(text_line(no, bytes, complete, problems))
    }

    /// Like [`LineReader::next_text_or_skip`], but the line's UTF-8 is not
    /// checked yet: a parser that can prove most lines valid more cheaply
    /// (by comparing them with parts of lines it already checked) hands the
    /// others to [`text_line`], so every line is still checked once.
    pub fn next_raw_or_skip(&mut self, problems: &mut Problems) -> Option<Option<RawLine<'_>>> {
        let no = self.line_no + 1;
        match self.next_line() {
            Ok(None) => None,
            Err(e) => {
                problems.push(no, format!("read error: {e}; rest of file skipped"));
                None
            }
            Ok(Some(Line::TooLong { len })) => {
                problems.push(
                    no,
                    format!("line of {len} bytes is too long (limit 1 MiB); skipped"),
                );
                Some(None)
            }
            Ok(Some(Line::Text { bytes, complete })) => Some(Some(RawLine {
                no,
                bytes,
                complete,
            })),
        }
    }

    /// The next line, or `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if self.pending > 0 {
            self.inner.consume(self.pending);
            self.pending = 0;
        }
        // Fast path: the whole line is in the read buffer, so lend it out
        // without copying. Anything else (errors included) takes the
        // general path below.
        let whole = match self.inner.fill_buf() {
            Ok(avail) => memchr::memchr(b'\n', avail).filter(|&i| i <= self.max),
            Err(_) => None,
        };
        if let Some(i) = whole {
            self.pending = i + 1;
            self.line_no += 1;
            // Returns the same buffered bytes: nothing was consumed.
            let avail = self.inner.fill_buf()?;
            return Ok(Some(Line::Text {
                bytes: &avail[..i],
                complete: true,
            }));
        }
        self.buf.clear();
        let mut skipped: Option<u64> = None;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                // End of input.
                if let Some(len) = skipped {
                    self.line_no += 1;
                    return Ok(Some(Line::TooLong { len }));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.line_no += 1;
                self.buf_complete = false;
                return Ok(Some(Line::Text {
                    bytes: &self.buf,
                    complete: false,
                }));
            }
            match memchr::memchr(b'\n', avail) {
                Some(i) => {
                    match &mut skipped {
                        Some(len) => *len += i as u64,
                        None if self.buf.len() + i > self.max => {
                            skipped = Some((self.buf.len() + i) as u64);
                            self.buf.clear();
                        }
                        None => self.buf.extend_from_slice(&avail[..i]),
                    }
                    self.inner.consume(i + 1);
                    self.line_no += 1;
                    self.buf_complete = true;
                    return Ok(Some(match skipped {
                        Some(len) => Line::TooLong { len },
                        None => Line::Text {
                            bytes: &self.buf,
                            complete: true,
                        },
                    }));
                }
                None => {
                    let n = avail.len();
                    match &mut skipped {
                        Some(len) => *len += n as u64,
                        None if self.buf.len() + n > self.max => {
                            skipped = Some((self.buf.len() + n) as u64);
                            self.buf = Vec::with_capacity(1024);
                        }
                        None => self.buf.extend_from_slice(avail),
                    }
                    self.inner.consume(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::with_max(io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(match l {
                Line::Text { bytes, complete } => {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(bytes),
                        if complete { "" } else { "<cut>" }
                    )
                }
                Line::TooLong { len } => format!("<too long {len}>"),
            });
        }
        out
    }

    #[test]
    fn splits_lines_and_flags_a_cut_last_line() {
        assert_eq!(lines(b"ab\ncd\nef", 100), ["ab", "cd", "ef<cut>"]);
        assert_eq!(lines(b"ab\n\n", 100), ["ab", ""]);
    }

    #[test]
    fn lends_whole_buffered_lines_and_still_caps_them() {
        // A large read buffer holds every line whole (the no-copy path).
        let mut r = LineReader::with_max(io::BufReader::new(&b"ok\n0123456789\nend"[..]), 8);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(format!("{l:?}"));
        }
        assert_eq!(
            out,
            [
                format!(
                    "{:?}",
                    Line::Text {
                        bytes: b"ok",
                        complete: true
                    }
                ),
                format!("{:?}", Line::TooLong { len: 10 }),
                format!(
                    "{:?}",
                    Line::Text {
                        bytes: b"end",
                        complete: false
                    }
                ),
            ]
        );
        assert_eq!(r.line_no, 3);
    }

    #[test]
    fn skips_over_long_lines_without_buffering_them() {
        assert_eq!(
            lines(b"ok\n0123456789abcdef\nnext\n0123456789", 8),
            ["ok", "<too long 16>", "next", "<too long 10>"]
        );
    }
}
