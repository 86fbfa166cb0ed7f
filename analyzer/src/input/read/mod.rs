//! Streaming readers, one per on-disk format, producing [`Rec`]s.
//!
//! A reader never panics and never gives up on a file because of one bad
//! line: every problem is recorded in [`Problems`] with its line number and
//! the reader carries on.

mod format;
pub mod legacy;
pub(crate) mod lines;
pub(crate) mod options;
pub(crate) mod seq;
pub mod v1;
pub mod v1_scan;

use std::fs::File;
use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::input::record::{FileIdx, Rec};
use crate::input::source::{Format, SourceFile};
use crate::model::Warning;
pub use format::TraceFormat;
pub use options::{FileEnd, LegacyTz, Problems, ReadOptions, MAX_PROBLEMS};

impl Format {
    /// What files of this format provide.
    pub fn provides(self) -> &'static dyn TraceFormat {
        match self {
            Format::V1 => &v1::V1,
            Format::Legacy => &legacy::Legacy,
        }
    }
}

/// Counts bytes read for the progress bar.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Runs a resumable parser's `fill` (one batch per call, true at the end
/// of the file) to the end, handing every record to `emit` in order.
fn drain(mut fill: impl FnMut(&mut Vec<Rec>) -> bool, emit: &mut dyn FnMut(Rec)) {
    let mut batch = Vec::with_capacity(1024);
    loop {
        let done = fill(&mut batch);
        batch.drain(..).for_each(&mut *emit);
        if done {
            return;
        }
    }
}

/// Reads a whole file with the right reader, streaming records into `emit`.
pub fn read_file(
    src: &SourceFile,
    idx: FileIdx,
    opts: &ReadOptions,
    emit: &mut dyn FnMut(Rec),
) -> (FileEnd, Vec<Warning>) {
    let mut problems = Problems::new(src.display());
    let file = match File::open(&src.path) {
        Ok(f) => f,
        Err(e) => {
            problems.push(0, format!("cannot read: {e}"));
            return (FileEnd::default(), problems.into_warnings());
        }
    };
    let input: Box<dyn Read> = match &opts.progress {
        Some(c) => Box::new(Counting {
            inner: file,
            counter: c.clone(),
        }),
        None => Box::new(file),
    };
    let input = BufReader::with_capacity(1 << 16, input);
    let end = match src.format {
        Format::V1 => v1::read(input, idx, opts, &mut problems, emit),
        Format::Legacy => legacy::read(input, idx, opts, &mut problems, emit),
    };
    (end, problems.into_warnings())
}

/// The byte source of a [`FileReader`]; `Send` so pool threads can share it.
type Input = BufReader<Box<dyn Read + Send>>;

enum Parser {
    // Boxed: the parsers' states differ in size (one allocation per file).
    V1(Box<v1::Parser<Input>>),
    Legacy(Box<legacy::Parser<Input>>),
}

/// One file's resumable reader: opened on first use, then filled a batch at
/// a time by whichever thread has a turn (see `merge`).
pub struct FileReader {
    src: SourceFile,
    idx: FileIdx,
    parser: Option<Parser>,
    problems: Problems,
    end: FileEnd,
    done: bool,
}

/// Read buffer per file: few system calls, yet small enough that filling
/// one per file before the merge can start stays cheap (64 files × 64 KiB;
/// 256 KiB made the first record 8 ms later, docs/performance.md).
const READ_BUF: usize = 1 << 16;

impl FileReader {
    pub fn new(src: SourceFile, idx: FileIdx) -> Self {
        let problems = Problems::new(src.display());
        FileReader {
            src,
            idx,
            parser: None,
            problems,
            end: FileEnd::default(),
            done: false,
        }
    }

    /// Appends up to `max` records to `out`; true once the file is finished.
    pub fn fill(&mut self, opts: &ReadOptions, out: &mut Vec<Rec>, max: usize) -> bool {
        if self.done {
            return true;
        }
        if self.parser.is_none() {
            let file = match File::open(&self.src.path) {
                Ok(f) => f,
                Err(e) => {
                    self.problems.push(0, format!("cannot read: {e}"));
                    self.done = true;
                    return true;
                }
            };
            let input: Box<dyn Read + Send> = match &opts.progress {
                Some(c) => Box::new(Counting {
                    inner: file,
                    counter: c.clone(),
                }),
                None => Box::new(file),
            };
            // A one-test trace is a few KiB: thousands of them are open at
            // once while the merge reads every file's first record.
            let cap = READ_BUF.min(usize::try_from(self.src.size).unwrap_or(READ_BUF) + 1);
            let input = BufReader::with_capacity(cap.max(512), input);
            self.parser = Some(match self.src.format {
                Format::V1 => Parser::V1(Box::new(v1::Parser::new(input, self.idx))),
                Format::Legacy => {
                    Parser::Legacy(Box::new(legacy::Parser::new(input, self.idx, opts)))
                }
            });
        }
        let done = match &mut self.parser {
            Some(Parser::V1(p)) => {
                let done = p.fill(opts, &mut self.problems, out, max);
                if done {
                    self.end = std::mem::take(&mut p.end);
                }
                done
            }
            Some(Parser::Legacy(p)) => {
                let done = p.fill(opts, &mut self.problems, out, max);
                if done {
                    self.end = std::mem::take(&mut p.end);
                }
                done
            }
            None => true,
        };
        if done {
            // Close the file and free the parser's caches now.
            self.parser = None;
            self.done = true;
        }
        done
    }

    /// How the file ended and its warnings.
    pub fn finish(self) -> (FileEnd, Vec<Warning>) {
        (self.end, self.problems.into_warnings())
    }
}
