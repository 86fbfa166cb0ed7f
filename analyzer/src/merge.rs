//! Streaming k-way merge of a run's files into one timeline.
//!
//! Files are parsed by a small pool of threads (one per core) that take
//! turns on resumable per-file readers, a batch at a time, so 64 files do
//! not mean 64 threads fighting over 2 cores. Each file may be at most
//! `IN_FLIGHT` batches ahead of the merge, so memory does not grow with the
//! number of records. When the merge needs a file whose next batch nobody
//! is parsing yet, it parses it itself instead of waiting. Order: wall time,
//! then file, then sequence number, kept by a loser tree over the files'
//! heads. The report borrows each record where its reader put it
//! ([`Merger::next_ref`]); the batch then goes back to its reader, which
//! drops the records on its own thread.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::input::discover::SourceFile;
use crate::input::read::{FileEnd, FileReader, ReadOptions};
use crate::input::record::{FileIdx, Micros, Rec};
use crate::model::Warning;

/// Records per batch.
const BATCH: usize = 1024;
/// Records in a file's first batch: the merge cannot start before every
/// file has a head, so small first batches let it start after 64 records
/// of each file instead of 1,024 (about 10 ms sooner at 64 files).
const FIRST_BATCH: usize = 64;
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

/// A file's reader.
struct Task {
    reader: FileReader,
    /// No batch parsed yet (the next one is a [`FIRST_BATCH`]).
    first: bool,
}

/// What passes between a file's reader and the merge: at most
/// `IN_FLIGHT` batches and the end one way, emptied batches the other (no
/// allocation per batch, and records dropped on the thread that made
/// them). A plain queue under a lock, not a pair of channels: 20,000
/// one-test files made 40,000 channels, 1.6 KB each.
#[derive(Default)]
struct Inbox {
    msgs: VecDeque<Msg>,
    recycled: Vec<Vec<Rec>>,
}

struct Pool {
    sched: Mutex<Sched>,
    wake: Condvar,
    /// Only the thread that took a file's turn locks its task, so these
    /// locks are never contended.
    tasks: Vec<Mutex<Option<Task>>>,
    inboxes: Vec<Mutex<Inbox>>,
    /// Signalled (under its lock) after each message, for a merge waiting
    /// on a file another thread is parsing.
    arrived: Mutex<()>,
    arrival: Condvar,
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
                    let max = if std::mem::take(&mut task.first) {
                        FIRST_BATCH
                    } else {
                        BATCH
                    };
                    let recycled = lock(&self.inboxes[i]).recycled.pop();
                    let mut batch = match recycled {
                        Some(mut b) => {
                            // The merge only borrowed these records: they
                            // are dropped here, on the thread that made
                            // them, so their shared strings' reference
                            // counts never bounce between cores.
                            b.clear();
                            b
                        }
                        // Sized for this batch: every file's first batch is
                        // held at once (the merge needs every head), and a
                        // one-test file fits in it whole.
                        None => Vec::with_capacity(max),
                    };
                    let done = task.reader.fill(&self.opts, &mut batch, max);
                    if done {
                        // The file's last batch waits for the merge: with
                        // thousands of tiny files, all of them at once.
                        batch.shrink_to_fit();
                    }
                    // Credits keep the file within `IN_FLIGHT` batches.
                    if !batch.is_empty() {
                        self.send(i, Msg::Batch(batch));
                    }
                    if done {
                        if let Some(task) = slot.take() {
                            let (end, warnings) = task.reader.finish();
                            self.send(i, Msg::Done(end, warnings));
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

    /// Hands file `i`'s merge a message, waking it if it waits.
    fn send(&self, i: usize, msg: Msg) {
        lock(&self.inboxes[i]).msgs.push_back(msg);
        let _guard = lock(&self.arrived);
        self.arrival.notify_all();
    }

    /// File `i`'s next message, waiting for it when `wait` (another thread
    /// is parsing it); `None` when there is none and `!wait`.
    fn receive(&self, i: usize, wait: bool) -> Option<Msg> {
        if let Some(m) = lock(&self.inboxes[i]).msgs.pop_front() {
            return Some(m);
        }
        if !wait {
            return None;
        }
        // The sender pushes, then takes `arrived` to notify: holding it
        // while looking, the merge cannot miss that notification.
        let mut guard = lock(&self.arrived);
        loop {
            if let Some(m) = lock(&self.inboxes[i]).msgs.pop_front() {
                return Some(m);
            }
            guard = self.arrival.wait(guard).unwrap_or_else(|e| e.into_inner());
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
    /// The current batch, in file order; `batch[pos]` is the file's head.
    batch: Vec<Rec>,
    pos: usize,
    end: Option<(FileEnd, Vec<Warning>)>,
}

impl Source {
    /// Makes `batch[pos]` the next record of file `i`, parsing or waiting
    /// for it if needed; false at the end of the file.
    #[inline(always)]
    fn advance(&mut self, i: usize, pool: &Pool) -> bool {
        self.has_head() || self.next_batch(i, pool)
    }

    /// Whether the batch holds a head; if so, its successor is fetched
    /// into cache: the merge reads it only after the other files' heads,
    /// and 64 interleaved streams defeat the hardware prefetcher.
    #[inline(always)]
    fn has_head(&self) -> bool {
        if self.pos >= self.batch.len() {
            return false;
        }
        if let Some(next) = self.batch.get(self.pos + 1) {
            prefetch(next);
        }
        true
    }

    /// [`Source::advance`] past the end of the current batch.
    #[cold]
    #[inline(never)]
    fn next_batch(&mut self, i: usize, pool: &Pool) -> bool {
        loop {
            if self.has_head() {
                return true;
            }
            if self.end.is_some() {
                return false;
            }
            let msg = match pool.receive(i, false) {
                Some(m) => m,
                None => {
                    if pool.take_turn(i) {
                        pool.run_turn(i);
                        continue;
                    }
                    match pool.receive(i, true) {
                        Some(m) => m,
                        None => unreachable!("a waiting receive returns a message"),
                    }
                }
            };
            match msg {
                Msg::Batch(b) => {
                    let used = std::mem::replace(&mut self.batch, b);
                    self.pos = 0;
                    let mut inbox = lock(&pool.inboxes[i]);
                    if inbox.recycled.len() <= IN_FLIGHT as usize {
                        inbox.recycled.push(used);
                    }
                    drop(inbox);
                    pool.give_credit(i);
                }
                Msg::Done(end, warnings) => self.end = Some((end, warnings)),
            }
        }
    }

    /// The head's place in merge order.
    fn key(&self) -> Option<Key> {
        self.head().map(|r| (r.ts, r.file))
    }

    fn head(&self) -> Option<&Rec> {
        self.batch.get(self.pos)
    }
}

/// Merge order of a file's head record: wall time, then file. A source is
/// one file, so two heads never share a file and the sequence number (which
/// orders records within a file) never decides between them.
type Key = (Micros, FileIdx);

/// A [`Key`] packed into one integer, so a match is one branch-free
/// comparison: a finished source is the maximum, after every other. The
/// position of the source (which, as each source is one file, is also the
/// key's file) is the low bits. See [`Losers`] for the two widths.
trait Packed: Copy + Ord {
    const DONE: Self;
    /// The position, from the low `bits` bits.
    fn position(self, bits: u32) -> usize;
}

impl Packed for u64 {
    const DONE: u64 = u64::MAX;
    fn position(self, bits: u32) -> usize {
        (self & ((1 << bits) - 1)) as usize
    }
}

impl Packed for u128 {
    const DONE: u128 = u128::MAX;
    fn position(self, bits: u32) -> usize {
        (self & ((1 << bits) - 1)) as usize
    }
}

/// Any key: the time with its sign bit flipped (so i64 order is u64
/// order), the file, the position.
fn pack_wide(key: Option<Key>, i: usize) -> u128 {
    match key {
        Some((ts, file)) => {
            (u128::from((ts as u64) ^ (1 << 63)) << 64)
                | (u128::from(file) << 32)
                | (i as u32 as u128)
        }
        None => u128::DONE,
    }
}

/// The time since `base` above the position's `shift` bits, if it fits; the
/// file is the position, so it decides ties just as in [`pack_wide`].
fn pack_narrow(key: Option<Key>, i: usize, base: i64, shift: u32) -> Option<u64> {
    let Some((ts, file)) = key else {
        return Some(u64::DONE);
    };
    debug_assert_eq!(file as usize, i, "a source is one file");
    let since = u64::try_from(ts.checked_sub(base)?).ok()?;
    (since < (1u64 << (64 - shift)) - 1).then(|| (since << shift) | i as u64)
}

/// A tournament ("loser") tree over the files' heads: replacing the winner
/// costs one comparison per level against the loser stored there, with the
/// packed keys inline, instead of a binary heap's two per level. The order
/// is total and deterministic.
struct Tree<K> {
    /// `tree[0]` is the winner; `tree[1..]` the loser of each match, leaves
    /// being at `n + i` in heap layout.
    tree: Vec<K>,
    n: usize,
    /// Low bits of a key that hold its position.
    bits: u32,
}

impl<K: Packed> Tree<K> {
    fn new(leaves: Vec<K>, bits: u32) -> Tree<K> {
        let n = leaves.len();
        // Winners of every node, bottom-up; each node keeps its loser.
        let mut win = vec![K::DONE; 2 * n];
        win[n..].copy_from_slice(&leaves);
        let mut tree = vec![K::DONE; n.max(1)];
        for node in (1..n).rev() {
            let (a, b) = (win[2 * node], win[2 * node + 1]);
            win[node] = a.min(b);
            tree[node] = a.max(b);
        }
        if n > 0 {
            tree[0] = win[1];
        }
        Tree { tree, n, bits }
    }

    fn winner(&self) -> Option<usize> {
        let w = self.tree[0];
        (w != K::DONE).then(|| w.position(self.bits))
    }

    /// Leaf `i` is now `leaf`: play its matches up to the root. Returns the
    /// new winner (reading it back from memory right after storing it
    /// would stall on the store).
    fn set(&mut self, i: usize, leaf: K) -> Option<usize> {
        let mut winner = leaf;
        let mut node = (self.n + i) / 2;
        while node > 0 {
            let other = self.tree[node];
            // Branch-free: which side wins is unpredictable.
            let lose = winner.max(other);
            winner = winner.min(other);
            self.tree[node] = lose;
            node /= 2;
        }
        self.tree[0] = winner;
        (winner != K::DONE).then(|| winner.position(self.bits))
    }
}

/// The merge's loser tree. Keys are 64 bits while every time fits in the
/// bits the positions leave (about 9,000 years from the earliest first
/// record for 64 files), which halves the cost of each match; a key that
/// does not fit switches the tree to 128-bit keys for the rest of the run.
enum Losers {
    Narrow {
        tree: Tree<u64>,
        base: i64,
        shift: u32,
    },
    Wide(Tree<u128>),
}

/// How far before the earliest first record a narrow tree's base lies, in
/// microseconds (about twelve days), for clocks that go back.
const NARROW_SLACK: i64 = 1 << 40;

impl Losers {
    fn new(heads: Vec<Option<Key>>) -> Losers {
        let shift = (usize::BITS - heads.len().leading_zeros()).max(1);
        let base = heads
            .iter()
            .flatten()
            .map(|k| k.0)
            .min()
            .unwrap_or(0)
            .saturating_sub(NARROW_SLACK);
        let narrow: Option<Vec<u64>> = heads
            .iter()
            .enumerate()
            .map(|(i, &k)| pack_narrow(k, i, base, shift))
            .collect();
        match narrow {
            Some(leaves) => Losers::Narrow {
                tree: Tree::new(leaves, shift),
                base,
                shift,
            },
            None => Losers::wide(heads),
        }
    }

    fn wide(heads: Vec<Option<Key>>) -> Losers {
        let leaves = heads
            .into_iter()
            .enumerate()
            .map(|(i, k)| pack_wide(k, i))
            .collect();
        Losers::Wide(Tree::new(leaves, 32))
    }

    /// The file whose head comes first, unless every file is finished.
    fn winner(&self) -> Option<usize> {
        match self {
            Losers::Narrow { tree, .. } => tree.winner(),
            Losers::Wide(tree) => tree.winner(),
        }
    }

    /// File `i`'s head is now `key`; returns the new winner. A key that
    /// does not fit this narrow tree switches it to a wide one, built from
    /// all the current `heads` (`key` among them).
    fn set(
        &mut self,
        i: usize,
        key: Option<Key>,
        heads: impl FnOnce() -> Vec<Option<Key>>,
    ) -> Option<usize> {
        match self {
            Losers::Narrow { tree, base, shift } => match pack_narrow(key, i, *base, *shift) {
                Some(leaf) => tree.set(i, leaf),
                None => self.widen(heads()),
            },
            Losers::Wide(tree) => tree.set(i, pack_wide(key, i)),
        }
    }

    #[cold]
    fn widen(&mut self, heads: Vec<Option<Key>>) -> Option<usize> {
        *self = Losers::wide(heads);
        self.winner()
    }
}

/// Hints the CPU to load `r` into cache; a no-op where unsupported.
#[inline(always)]
fn prefetch(r: &Rec) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = (r as *const Rec).cast::<i8>();
        // SAFETY: a prefetch never faults nor reads into the program, and
        // SSE is part of every x86_64 CPU. A `Rec` is one cache line.
        // std has no safe prefetch; without it `report` takes 7 % (v1) and
        // 17 % (text) longer (docs/performance.md, issue 20's A/B).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Iterator over the merged records of several files.
///
/// [`Merger::next_ref`] lends each record (the report's fast path: no
/// record is moved or dropped by the merging thread); the `Iterator`
/// implementation hands out owned records.
pub struct Merger {
    pool: Arc<Pool>,
    sources: Vec<Source>,
    /// Built on first use (the heads must be read first).
    losers: Option<Losers>,
    threads: Vec<JoinHandle<()>>,
    /// The winner was lent out: advance its file before the next record.
    lent: bool,
}

impl Merger {
    /// Starts the reader pool. `files[i]` gets file index `i`.
    pub fn new(files: &[SourceFile], opts: &ReadOptions) -> Merger {
        let n = files.len();
        let mut sources = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        for (i, f) in files.iter().enumerate() {
            tasks.push(Mutex::new(Some(Task {
                reader: FileReader::new(f.clone(), i as FileIdx),
                first: true,
            })));
            sources.push(Source {
                batch: Vec::new(),
                pos: 0,
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
            inboxes: (0..n).map(|_| Mutex::new(Inbox::default())).collect(),
            arrived: Mutex::new(()),
            arrival: Condvar::new(),
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
            losers: None,
            threads,
            lent: false,
        }
    }

    /// Orders the heads: the first call reads every file's first record,
    /// later ones move the file whose record was taken last to its next.
    fn settle(&mut self) -> Option<usize> {
        let losers = match &mut self.losers {
            Some(l) => l,
            None => {
                let heads = (0..self.sources.len())
                    .map(|i| {
                        let src = &mut self.sources[i];
                        src.advance(i, &self.pool);
                        src.key()
                    })
                    .collect();
                self.losers.insert(Losers::new(heads))
            }
        };
        if std::mem::take(&mut self.lent) {
            let i = losers.winner()?;
            let src = &mut self.sources[i];
            src.pos += 1;
            src.advance(i, &self.pool);
            let key = src.key();
            let sources = &self.sources;
            return losers.set(i, key, || sources.iter().map(Source::key).collect());
        }
        losers.winner()
    }

    /// The next record in merge order, lent until the next call.
    pub fn next_ref(&mut self) -> Option<&Rec> {
        let i = self.settle()?;
        self.lent = true;
        self.sources[i].head()
    }

    /// Waits for every reader and returns how each file ended, with its
    /// warnings, indexed like the input files. Call after the iterator is
    /// exhausted (records not yet merged are drained and dropped).
    pub fn finish(mut self) -> Vec<(FileEnd, Vec<Warning>)> {
        for (i, s) in self.sources.iter_mut().enumerate() {
            loop {
                s.pos = s.batch.len();
                if !s.advance(i, &self.pool) {
                    break;
                }
            }
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
        let i = self.settle()?;
        self.lent = true;
        let src = &mut self.sources[i];
        // Moved out; the placeholder left behind is never read again.
        let hole = Rec::new(0, 0, 0, 0, state_tracer_format::Action::Custom);
        src.batch
            .get_mut(src.pos)
            .map(|r| std::mem::replace(r, hole))
    }
}

impl Drop for Merger {
    /// Stops the pool if the merge ends early.
    fn drop(&mut self) {
        lock(&self.pool.sched).stop = true;
        self.pool.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes every key out of a loser tree over `files` (each sorted), and
    /// says whether the tree ended up wide.
    fn drain(files: &[Vec<Key>]) -> (Vec<(Key, usize)>, bool) {
        let mut pos = vec![0; files.len()];
        let mut t = Losers::new(files.iter().map(|f| f.first().copied()).collect());
        let mut out = Vec::new();
        while let Some(i) = t.winner() {
            out.push((files[i][pos[i]], i));
            pos[i] += 1;
            let heads = || {
                (0..files.len())
                    .map(|j| files[j].get(pos[j]).copied())
                    .collect()
            };
            let w = t.set(i, files[i].get(pos[i]).copied(), heads);
            assert_eq!(w, t.winner());
        }
        let wide = matches!(t, Losers::Wide(_));
        (out, wide)
    }

    #[test]
    fn the_loser_tree_yields_keys_in_order_with_ties_by_file() {
        // Deterministic pseudo-random files of any count, some empty.
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        let mut went_wide = false;
        for n in 0..=40 {
            // Small times use the narrow tree; the extremes of every third
            // run force the switch to the wide one part-way.
            let extreme = n % 3 == 2;
            let files: Vec<Vec<Key>> = (0..(n % 10) as FileIdx)
                .map(|i| {
                    let len = next(6) as usize;
                    // Keys of one file carry its index, as the readers'.
                    let mut f: Vec<Key> = (0..len)
                        .map(|_| {
                            let ts = match next(8) {
                                0 if extreme => i64::MAX - next(2) as i64,
                                1 if extreme => i64::MIN + next(2) as i64,
                                _ => next(5) as i64 - 2,
                            };
                            (ts, i)
                        })
                        .collect();
                    f.sort();
                    f
                })
                .collect();
            let mut want: Vec<(Key, usize)> = files
                .iter()
                .enumerate()
                .flat_map(|(i, f)| f.iter().map(move |&k| (k, i)))
                .collect();
            want.sort();
            let (got, wide) = drain(&files);
            assert_eq!(got, want, "{n} files");
            went_wide |= wide;
        }
        assert!(went_wide, "the extremes switch the tree to wide keys");
    }
}
