//! Streaming k-way merge of a run's files into one timeline.
//!
//! Files are parsed by a small pool of threads (one per core) that take
//! turns on resumable per-file readers, a batch at a time, so 64 files do
//! not mean 64 threads fighting over 2 cores. Each file may be at most
//! `IN_FLIGHT` batches ahead of the merge, so memory does not grow with the
//! number of records. When the merge needs a file whose next batch nobody
//! is parsing yet, it parses it itself instead of waiting. Order: wall time,
//! then file, then sequence number.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::discover::SourceFile;
use crate::model::Warning;
use crate::read::{FileEnd, FileReader, ReadOptions};
use crate::record::{FileIdx, Micros, Rec};

/// Records per batch.
const BATCH: usize = 1024;
/// Batches a file may be ahead of the merge (besides the one being merged).
const IN_FLIGHT: u32 = 2;

enum Msg {
    Batch(Vec<Rec>),
    Done(FileEnd, Vec<Warning>),
}

/// Where a file stands in the pool's schedule.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Its allowance of batches ahead is used up.
    Idle,
    /// Waiting in the queue for a thread.
    Queued,
    /// A thread is parsing its next batch.
    Busy,
    /// Finished.
    Done,
}

struct Sched {
    queue: VecDeque<usize>,
    /// Batches each file may still produce before the merge takes one.
    credits: Vec<u32>,
    turn: Vec<Turn>,
    /// Files not finished yet; the pool stops at zero.
    remaining: usize,
    /// The merger was dropped early.
    stop: bool,
}

/// A file's reader with the ends of its channels.
struct Task {
    reader: FileReader,
    tx: SyncSender<Msg>,
    /// Emptied batches come back: no allocation per batch, and no memory
    /// freed on another thread than the one that allocated it.
    recycle: Receiver<Vec<Rec>>,
}

struct Pool {
    sched: Mutex<Sched>,
    wake: Condvar,
    /// Only the thread that took a file's turn locks its task, so these
    /// locks are never contended.
    tasks: Vec<Mutex<Option<Task>>>,
    opts: ReadOptions,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot happen in this module's code; if
    // it did, the data is still consistent enough to finish reading.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// Parses one batch of file `i` (whose turn the caller holds) and hands
    /// the turn back.
    fn run_turn(&self, i: usize) {
        let done = {
            let mut slot = lock(&self.tasks[i]);
            match slot.as_mut() {
                None => true,
                Some(task) => {
                    let mut batch = task
                        .recycle
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                    let done = task.reader.fill(&self.opts, &mut batch, BATCH);
                    // Never blocks: the channel holds `IN_FLIGHT` batches
                    // plus the end, and credits keep the file within that.
                    // An error means the merge stopped early: drop the batch.
                    if !batch.is_empty() {
                        let _ = task.tx.send(Msg::Batch(batch));
                    }
                    if done {
                        if let Some(task) = slot.take() {
                            let (end, warnings) = task.reader.finish();
                            let _ = task.tx.send(Msg::Done(end, warnings));
                        }
                    }
                    done
                }
            }
        };
        let mut s = lock(&self.sched);
        if done {
            s.turn[i] = Turn::Done;
            s.remaining -= 1;
            if s.remaining == 0 {
                self.wake.notify_all();
            }
            return;
        }
        s.credits[i] -= 1;
        if s.credits[i] > 0 {
            s.turn[i] = Turn::Queued;
            s.queue.push_back(i);
            self.wake.notify_one();
        } else {
            s.turn[i] = Turn::Idle;
        }
    }

    /// The merge took a batch of file `i`: it may produce one more.
    fn give_credit(&self, i: usize) {
        let mut s = lock(&self.sched);
        s.credits[i] += 1;
        if s.turn[i] == Turn::Idle {
            s.turn[i] = Turn::Queued;
            s.queue.push_back(i);
            self.wake.notify_one();
        }
    }

    /// Takes file `i`'s turn if it is waiting in the queue (the merge needs
    /// it now and would otherwise wait).
    fn take_turn(&self, i: usize) -> bool {
        let mut s = lock(&self.sched);
        if s.turn[i] != Turn::Queued {
            return false;
        }
        if let Some(pos) = s.queue.iter().position(|&j| j == i) {
            s.queue.remove(pos);
        }
        s.turn[i] = Turn::Busy;
        true
    }

    /// A pool thread: takes turns until every file is finished.
    fn work(&self) {
        loop {
            let i = {
                let mut s = lock(&self.sched);
                loop {
                    if s.stop || s.remaining == 0 {
                        return;
                    }
                    if let Some(i) = s.queue.pop_front() {
                        s.turn[i] = Turn::Busy;
                        break i;
                    }
                    s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            };
            self.run_turn(i);
        }
    }
}

struct Source {
    rx: Receiver<Msg>,
    /// The current batch, reversed so `pop` yields file order.
    batch: Vec<Rec>,
    recycle: SyncSender<Vec<Rec>>,
    end: Option<(FileEnd, Vec<Warning>)>,
}

impl Source {
    /// The next record of file `i`, parsing or waiting for it if needed.
    fn next(&mut self, i: usize, pool: &Pool) -> Option<Rec> {
        loop {
            if let Some(r) = self.batch.pop() {
                return Some(r);
            }
            if self.end.is_some() {
                return None;
            }
            let msg = match self.rx.try_recv() {
                Ok(m) => Ok(m),
                Err(TryRecvError::Empty) => {
                    if pool.take_turn(i) {
                        pool.run_turn(i);
                        continue;
                    }
                    self.rx.recv().map_err(|_| ())
                }
                Err(TryRecvError::Disconnected) => Err(()),
            };
            match msg {
                Ok(Msg::Batch(mut b)) => {
                    b.reverse();
                    let empty = std::mem::replace(&mut self.batch, b);
                    let _ = self.recycle.try_send(empty);
                    pool.give_credit(i);
                }
                Ok(Msg::Done(end, warnings)) => self.end = Some((end, warnings)),
                // Cannot happen (the task sends `Done` before closing).
                Err(()) => self.end = Some((FileEnd::default(), Vec::new())),
            }
        }
    }
}

/// Iterator over the merged records of several files.
pub struct Merger {
    pool: Arc<Pool>,
    sources: Vec<Source>,
    heads: Vec<Option<Rec>>,
    heap: BinaryHeap<Reverse<(Micros, FileIdx, u64, usize)>>,
    threads: Vec<JoinHandle<()>>,
    started: bool,
}

impl Merger {
    /// Starts the reader pool. `files[i]` gets file index `i`.
    pub fn new(files: &[SourceFile], opts: &ReadOptions) -> Merger {
        let n = files.len();
        let mut sources = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        for (i, f) in files.iter().enumerate() {
            let (tx, rx) = sync_channel(IN_FLIGHT as usize + 1);
            let (recycle_tx, recycle_rx) = sync_channel::<Vec<Rec>>(IN_FLIGHT as usize + 1);
            tasks.push(Mutex::new(Some(Task {
                reader: FileReader::new(f.clone(), i as FileIdx),
                tx,
                recycle: recycle_rx,
            })));
            sources.push(Source {
                rx,
                batch: Vec::new(),
                recycle: recycle_tx,
                end: None,
            });
        }
        let pool = Arc::new(Pool {
            sched: Mutex::new(Sched {
                queue: (0..n).collect(),
                credits: vec![IN_FLIGHT; n],
                turn: vec![Turn::Queued; n],
                remaining: n,
                stop: false,
            }),
            wake: Condvar::new(),
            tasks,
            opts: opts.clone(),
        });
        // One thread per core; the merge thread parses too when it would
        // otherwise wait, so a failed spawn only costs speed.
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(n);
        let mut threads = Vec::with_capacity(workers);
        for w in 0..workers {
            let p = pool.clone();
            if let Ok(h) = std::thread::Builder::new()
                .name(format!("read-{w}"))
                .spawn(move || p.work())
            {
                threads.push(h);
            }
        }
        Merger {
            pool,
            sources,
            heads: (0..n).map(|_| None).collect(),
            heap: BinaryHeap::with_capacity(n),
            threads,
            started: false,
        }
    }

    fn refill(&mut self, i: usize) {
        if let Some(r) = self.sources[i].next(i, &self.pool) {
            self.heap.push(Reverse((r.ts, r.file, r.seq, i)));
            self.heads[i] = Some(r);
        }
    }

    /// Waits for every reader and returns how each file ended, with its
    /// warnings, indexed like the input files. Call after the iterator is
    /// exhausted (records not yet merged are drained and dropped).
    pub fn finish(mut self) -> Vec<(FileEnd, Vec<Warning>)> {
        for (i, s) in self.sources.iter_mut().enumerate() {
            while s.next(i, &self.pool).is_some() {}
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
        match self.sources[i].next(i, &self.pool) {
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

impl Drop for Merger {
    /// Stops the pool if the merge ends early.
    fn drop(&mut self) {
        lock(&self.pool.sched).stop = true;
        self.pool.wake.notify_all();
    }
}
