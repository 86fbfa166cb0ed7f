//! Streaming k-way merge of a run's files into one timeline.
//!
//! Each file is parsed on its own thread (so both cores work) and handed
//! over in small batches through a bounded channel; the merge keeps only
//! one batch per file in memory, so memory does not grow with the number of
//! records. Order: wall time, then file, then sequence number.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::discover::SourceFile;
use crate::model::Warning;
use crate::read::{read_file, FileEnd, ReadOptions};
use crate::record::{FileIdx, Micros, Rec};

/// Records per batch sent from a reader thread.
const BATCH: usize = 1024;
/// Batches in flight per file (besides the one being merged).
const IN_FLIGHT: usize = 2;

enum Msg {
    Batch(Vec<Rec>),
    Done(FileEnd, Vec<Warning>),
}

struct Source {
    rx: Receiver<Msg>,
    /// The current batch, reversed so `pop` yields file order.
    batch: Vec<Rec>,
    /// Emptied batches go back to the reader: no allocation per batch, and
    /// no memory freed on another thread than the one that allocated it.
    recycle: Option<SyncSender<Vec<Rec>>>,
    end: Option<(FileEnd, Vec<Warning>)>,
}

impl Source {
    /// The next record of this file, waiting for its reader if needed.
    fn next(&mut self) -> Option<Rec> {
        loop {
            if let Some(r) = self.batch.pop() {
                return Some(r);
            }
            if self.end.is_some() {
                return None;
            }
            match self.rx.recv() {
                Ok(Msg::Batch(mut b)) => {
                    b.reverse();
                    let empty = std::mem::replace(&mut self.batch, b);
                    if let Some(tx) = &self.recycle {
                        let _ = tx.try_send(empty);
                    }
                }
                Ok(Msg::Done(end, w)) => self.end = Some((end, w)),
                // The reader thread died (it cannot panic by design, but be safe).
                Err(_) => self.end = Some((FileEnd::default(), Vec::new())),
            }
        }
    }
}

/// Iterator over the merged records of several files.
pub struct Merger {
    sources: Vec<Source>,
    heads: Vec<Option<Rec>>,
    heap: BinaryHeap<Reverse<(Micros, FileIdx, u64, usize)>>,
    threads: Vec<JoinHandle<()>>,
    started: bool,
}

impl Merger {
    /// Starts one reader thread per file. `files[i]` gets file index `i`.
    pub fn new(files: &[SourceFile], opts: &ReadOptions) -> Merger {
        let mut sources = Vec::with_capacity(files.len());
        let mut threads = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            let (tx, rx) = sync_channel(IN_FLIGHT);
            let (recycle_tx, recycle_rx) = sync_channel::<Vec<Rec>>(IN_FLIGHT + 1);
            let src = f.clone();
            let thread_opts = opts.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("read-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut batch = Vec::with_capacity(BATCH);
                    let (end, warnings) = read_file(&src, i as FileIdx, &thread_opts, &mut |r| {
                        batch.push(r);
                        if batch.len() == BATCH {
                            let next = recycle_rx
                                .try_recv()
                                .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                            let full = std::mem::replace(&mut batch, next);
                            // A closed channel means the merge stopped early: keep reading
                            // is pointless but harmless, so just drop.
                            let _ = tx.send(Msg::Batch(full));
                        }
                    });
                    if !batch.is_empty() {
                        let _ = tx.send(Msg::Batch(batch));
                    }
                    let _ = tx.send(Msg::Done(end, warnings));
                });
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => {
                    // Could not start a thread: read this file inline, fully.
                    let (tx2, rx2) = std::sync::mpsc::channel();
                    let mut all = Vec::new();
                    let (end, mut warnings) =
                        read_file(f, i as FileIdx, opts, &mut |r| all.push(r));
                    warnings.push(Warning {
                        file: f.display(),
                        line: 0,
                        message: format!("could not start a reader thread ({e}); read inline"),
                    });
                    let _ = tx2.send(Msg::Batch(all));
                    let _ = tx2.send(Msg::Done(end, warnings));
                    sources.push(Source {
                        rx: rx2,
                        batch: Vec::new(),
                        recycle: None,
                        end: None,
                    });
                    continue;
                }
            }
            sources.push(Source {
                rx,
                batch: Vec::new(),
                recycle: Some(recycle_tx),
                end: None,
            });
        }
        let n = sources.len();
        Merger {
            sources,
            heads: (0..n).map(|_| None).collect(),
            heap: BinaryHeap::with_capacity(n),
            threads,
            started: false,
        }
    }

    fn refill(&mut self, i: usize) {
        if let Some(r) = self.sources[i].next() {
            self.heap.push(Reverse((r.ts, r.file, r.seq, i)));
            self.heads[i] = Some(r);
        }
    }

    /// Waits for every reader and returns how each file ended, with its
    /// warnings, indexed like the input files. Call after the iterator is
    /// exhausted (records not yet merged are drained and dropped).
    pub fn finish(mut self) -> Vec<(FileEnd, Vec<Warning>)> {
        for s in &mut self.sources {
            while s.next().is_some() {}
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.sources
            .iter_mut()
            .map(|s| s.end.take().unwrap_or_default())
            .collect()
    }
}

impl Iterator for Merger {
    type Item = Rec;

    fn next(&mut self) -> Option<Rec> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                self.refill(i);
            }
        }
        // Replace the top in place: one sift instead of a pop and a push.
        let mut top = self.heap.peek_mut()?;
        let i = top.0 .3;
        let rec = self.heads[i].take();
        match self.sources[i].next() {
            Some(r) => {
                *top = Reverse((r.ts, r.file, r.seq, i));
                self.heads[i] = Some(r);
            }
            None => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
        }
        rec
    }
}
