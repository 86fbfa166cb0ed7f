//! The one writer of a trace file: sequence numbers, durability, errors.
//!
//! Records are numbered under one mutex, so the file's `seq` values are
//! exactly 0, 1, 2, ... in file order, and every record goes out in a single
//! `write(2)` (line and fsync modes), so a crash can only lose the record
//! being written, never tear an earlier one. In interval mode records are
//! appended to a buffer under the same mutex, and a background thread
//! writes it (each period, or as soon as it fills, without holding the lock
//! while it writes); a caller writes it itself only if that thread falls
//! far behind, so memory stays bounded and nothing is dropped.
//!
//! A failed write (disk full, file size limit, folder on a dead mount) never
//! reaches the traced code: the first failure prints one warning on stderr,
//! failed records are counted as dropped (their `seq` is skipped, so a
//! reader sees the gap), a partially written record is cut off again with
//! `ftruncate(2)`, and the footer reports the count.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::Utc;

use crate::config::Flush;
use crate::format::{format_wall_time, Footer, Header, Record};

/// Bytes reserved at the front of every event buffer for the
/// `{"type":"event","seq":N,"ts":"...","mono_ns":N` prefix, which is only
/// known under the lock; the record then leaves in one contiguous write.
pub const HEADROOM: usize = 128;

/// Resets an event buffer: headroom, then the caller appends the body.
pub fn start_body(buf: &mut Vec<u8>) {
    // What the headroom holds does not matter (the prefix overwrites its
    // tail, the rest is never written): keep a reused buffer's bytes.
    if buf.len() >= HEADROOM {
        buf.truncate(HEADROOM);
    } else {
        buf.clear();
        buf.resize(HEADROOM, b' ');
    }
}

/// Interval mode writes early once this much is buffered (by the flusher
/// thread, which the caller wakes)...
const INTERVAL_BUFFER_LIMIT: usize = 256 * 1024;
/// ...and the caller writes itself if the flusher falls this far behind,
/// so memory stays bounded and nothing is dropped.
const INTERVAL_BUFFER_HARD_LIMIT: usize = 4 * INTERVAL_BUFFER_LIMIT;

pub struct Writer {
    /// Written under `state`'s lock, or by the interval flusher while
    /// `State::writing` keeps every other writer waiting.
    file: File,
    state: Mutex<State>,
    flush: Flush,
    path: PathBuf,
    /// When the file was created: `mono_ns` counts from here.
    start: Instant,
    warned: AtomicBool,
    finished: AtomicBool,
    /// Wakes the interval flusher early: at shutdown, or when the buffer
    /// is full.
    wake: Condvar,
    /// Signalled when the interval flusher finishes a write.
    idle: Condvar,
}

struct State {
    /// Next sequence number.
    seq: u64,
    /// Records known to be in the file (or, in interval mode, in `pending`).
    records: u64,
    dropped: u64,
    /// File length up to the last complete record.
    good_len: u64,
    /// Interval mode: encoded records not yet written, and how many.
    pending: Vec<u8>,
    pending_records: u64,
    /// The previous `pending` allocation, reused once written.
    spare: Vec<u8>,
    /// The interval flusher is writing a buffer outside the lock.
    writing: bool,
    /// An interval flusher thread is running.
    flusher: bool,
    /// `,"ts":"YYYY-MM-DDTHH:MM:SS.` of second `ts_secs`.
    ts: [u8; TS_BLOCK],
    ts_secs: i64,
    finished: bool,
}

impl Writer {
    /// Writes the header (seq 0) and returns the writer; for interval mode it
    /// also starts the background flusher.
    pub fn new(
        file: File,
        path: PathBuf,
        flush: Flush,
        header: &Header<'_>,
    ) -> io::Result<Arc<Writer>> {
        let mut line = Vec::with_capacity(512);
        Record::Header(header.clone()).write_line(&mut line);
        let mut f = &file;
        f.write_all(&line)?;
        if flush == Flush::Fsync {
            file.sync_all()?;
        }
        let writer = Arc::new(Writer {
            file,
            state: Mutex::new(State {
                seq: 1,
                records: 1,
                dropped: 0,
                good_len: line.len() as u64,
                // Allocated (not touched) up front: growing it record by
                // record would copy it again and again.
                pending: match flush {
                    Flush::Interval(_) => Vec::with_capacity(INTERVAL_BUFFER_LIMIT + 4096),
                    _ => Vec::new(),
                },
                pending_records: 0,
                spare: Vec::new(),
                writing: false,
                flusher: false,
                ts: [b' '; TS_BLOCK],
                ts_secs: i64::MIN,
                finished: false,
            }),
            flush,
            path,
            start: Instant::now(),
            warned: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            wake: Condvar::new(),
            idle: Condvar::new(),
        });
        if let Flush::Interval(period) = flush {
            let weak = Arc::downgrade(&writer);
            let spawned = std::thread::Builder::new()
                .name("state-tracer-flush".into())
                .spawn(move || flusher(weak, period));
            match spawned {
                Ok(_) => writer.lock().flusher = true,
                Err(e) => writer.warn(&format!("cannot start the flush thread ({e}); records are written when the buffer fills and at exit")),
            }
        }
        Ok(writer)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Waits until the interval flusher is not writing: only then may the
    /// caller write to the file (or hand it to the flusher again).
    fn wait_idle<'a>(&self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        while st.writing {
            st = match self.idle.wait(st) {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
        st
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Nanoseconds since tracing started in this process.
    pub fn mono_ns(&self) -> u64 {
        // Instant subtraction saturates: never before `start`.
        let d = self.start.elapsed();
        d.as_secs()
            .wrapping_mul(1_000_000_000)
            .wrapping_add(u64::from(d.subsec_nanos()))
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    /// Writes one event. `buf` is [`HEADROOM`] bytes (see [`start_body`])
    /// followed by the record after the `mono_ns` member: `,"tid":1,...}\n`.
    /// The seq, ts and mono_ns prefix is put into the headroom here, under
    /// the lock, so sequence and time order agree.
    pub fn write_event(&self, buf: &mut [u8]) {
        if buf.len() < HEADROOM {
            return;
        }
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if st.finished {
            return;
        }
        let Some(head) = buf.first_chunk_mut::<HEADROOM>() else {
            return;
        };
        let seq = st.seq;
        st.seq += 1;
        // Both clocks read for each record, under the lock, so time order
        // is seq order: `mono_ns` from `Instant` (`CLOCK_MONOTONIC`), `ts`
        // from `SystemTime`, the system's real-time clock (the analyzer
        // orders processes by it). std's clocks, not `clock_gettime`
        // itself: +124 instructions a record, +0.3 % of an sqlx statement
        // (docs/performance.md, "std clocks").
        let mono = self.mono_ns();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
            d.as_secs()
                .wrapping_mul(1_000_000_000)
                .wrapping_add(u64::from(d.subsec_nanos()))
        });
        // `,"ts":"YYYY-MM-DDTHH:MM:SS.` changes once a second; reuse it.
        let secs = (wall / 1_000_000_000) as i64;
        if secs != st.ts_secs {
            st.ts = ts_block(secs);
            st.ts_secs = secs;
        }
        // The prefix, written backwards so it ends where the body starts.
        let mut digits = itoa::Buffer::new();
        let mut at = put_back(head, HEADROOM, digits.format(mono).as_bytes());
        at = put_back_n(head, at, b"Z\",\"mono_ns\":");
        at = put_back_n(head, at, &six_digits((wall % 1_000_000_000 / 1_000) as u32));
        at = put_back_n(head, at, &st.ts);
        at = put_back(head, at, digits.format(seq).as_bytes());
        let start = put_back_n(head, at, b"{\"type\":\"event\",\"seq\":");
        let record = &buf[start..];
        match self.flush {
            Flush::Interval(_) => {
                let before = st.pending.len();
                st.pending.extend_from_slice(record);
                st.pending_records += 1;
                let len = st.pending.len();
                if len >= INTERVAL_BUFFER_LIMIT {
                    if st.flusher && len < INTERVAL_BUFFER_HARD_LIMIT {
                        // Full: the flusher thread writes it, off this thread.
                        if before < INTERVAL_BUFFER_LIMIT {
                            self.wake.notify_one();
                        }
                    } else {
                        // No flusher, or it cannot keep up: write here (this
                        // blocks the caller, so nothing is lost).
                        let mut st = self.wait_idle(st);
                        self.flush_pending(&mut st);
                    }
                }
            }
            Flush::Line | Flush::Fsync => {
                let ok = self.write_record(&mut st, record);
                if ok && self.flush == Flush::Fsync {
                    let _ = self.file.sync_data();
                }
            }
        }
    }

    /// Writes PROCESS_END's body (given) and then the footer, once. Later
    /// events are ignored.
    pub fn finish(&self, process_end_body: Option<&mut [u8]>) {
        if self.finished.load(Ordering::Acquire) {
            return;
        }
        if let Some(body) = process_end_body {
            self.write_event(body);
        }
        let mut st = self.wait_idle(self.lock());
        if st.finished {
            return;
        }
        self.flush_pending(&mut st);
        let footer = Footer {
            seq: st.seq,
            ts: Utc::now(),
            mono_ns: self.mono_ns(),
            records: st.records,
            dropped: st.dropped,
        };
        let mut line = Vec::with_capacity(160);
        Record::Footer(footer).write_line(&mut line);
        st.seq += 1;
        if self.write_record(&mut st, &line) {
            // Counted above as a record; the footer's own count excludes it.
            st.records -= 1;
        }
        let _ = self.file.sync_data();
        st.finished = true;
        self.finished.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    /// Writes one record; on failure counts a drop and cuts off any
    /// partial record. Returns whether the record is in the file.
    #[inline(always)]
    fn write_record(&self, st: &mut State, record: &[u8]) -> bool {
        match write_all(&self.file, record) {
            Ok(()) => {
                st.records += 1;
                st.good_len += record.len() as u64;
                true
            }
            Err(e) => {
                st.dropped += 1;
                self.repair(st);
                self.warn_dropping(&e);
                false
            }
        }
    }

    /// Interval mode: writes everything buffered.
    fn flush_pending(&self, st: &mut State) {
        if st.pending.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut st.pending);
        let n = std::mem::take(&mut st.pending_records);
        let result = write_all(&self.file, &buf);
        self.account(st, &buf, n, result);
        let mut buf = buf;
        buf.clear();
        st.pending = buf;
    }

    /// Interval flusher: writes everything buffered without holding the
    /// lock, so callers keep appending meanwhile.
    fn flush_in_background(&self, mut st: MutexGuard<'_, State>) {
        if st.pending.is_empty() || st.writing || st.finished {
            return;
        }
        let mut spare = std::mem::take(&mut st.spare);
        if spare.capacity() == 0 {
            spare.reserve(INTERVAL_BUFFER_LIMIT + 4096);
        }
        let mut buf = std::mem::replace(&mut st.pending, spare);
        let n = std::mem::take(&mut st.pending_records);
        st.writing = true;
        drop(st);
        let result = write_all(&self.file, &buf);
        let mut st = self.lock();
        self.account(&mut st, &buf, n, result);
        buf.clear();
        st.spare = buf;
        st.writing = false;
        self.idle.notify_all();
    }

    /// Counts the `n` records of `buf` as written or dropped.
    fn account(&self, st: &mut State, buf: &[u8], n: u64, result: io::Result<()>) {
        match result {
            Ok(()) => {
                st.records += n;
                st.good_len += buf.len() as u64;
            }
            Err(e) => {
                // Whole lines may have landed before the error; keep the
                // complete ones, count the rest as dropped.
                let landed = file_len(&self.file).unwrap_or(st.good_len);
                let written = landed.saturating_sub(st.good_len) as usize;
                let complete = buf[..written.min(buf.len())]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let kept = buf[..complete].iter().filter(|&&b| b == b'\n').count() as u64;
                st.records += kept;
                st.dropped += n - kept;
                st.good_len += complete as u64;
                self.repair(st);
                self.warn_dropping(&e);
            }
        }
    }

    #[cold]
    fn warn_dropping(&self, e: &io::Error) {
        self.warn(&format!(
            "cannot write trace file {}: {e}; records are being dropped (the footer counts them)",
            self.path.display()
        ));
    }

    /// Removes a torn record so the next one starts on a fresh line.
    fn repair(&self, st: &mut State) {
        if file_len(&self.file).is_ok_and(|len| len != st.good_len) {
            let _ = self.file.set_len(st.good_len);
        }
        use std::io::Seek;
        let _ = (&self.file).seek(io::SeekFrom::Start(st.good_len));
    }

    fn warn(&self, msg: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            // stderr may itself be broken; ignore that too.
            let _ = writeln!(io::stderr(), "state-tracer: {msg}");
        }
    }
}

fn flusher(writer: Weak<Writer>, period: Duration) {
    loop {
        let Some(w) = writer.upgrade() else { return };
        let mut st = w.lock();
        // A buffer that filled while the last one was being written is
        // written at once, without waiting for the next wake-up.
        if st.pending.len() < INTERVAL_BUFFER_LIMIT {
            st = match w.wake.wait_timeout(st, period) {
                Ok(r) => r.0,
                Err(p) => p.into_inner().0,
            };
        }
        if st.finished {
            return;
        }
        w.flush_in_background(st);
    }
}

fn file_len(f: &File) -> io::Result<u64> {
    f.metadata().map(|m| m.len())
}

/// `write(2)` until everything is written; `Write::write_all` retries
/// EINTR and short writes. A record normally leaves in one call.
#[inline(always)]
fn write_all(mut file: &File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)
}

/// Length of `,"ts":"YYYY-MM-DDTHH:MM:SS.`.
const TS_BLOCK: usize = 27;

/// `,"ts":"YYYY-MM-DDTHH:MM:SS.` for second `secs` since the epoch.
fn ts_block(secs: i64) -> [u8; TS_BLOCK] {
    let mut text = Vec::with_capacity(40);
    text.extend_from_slice(b",\"ts\":\"");
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    format_wall_time(t, &mut text);
    text.truncate(TS_BLOCK - 1);
    text.push(b'.');
    let mut block = [b' '; TS_BLOCK];
    let n = text.len().min(TS_BLOCK);
    block[..n].copy_from_slice(&text[..n]);
    block
}

/// Writes `bytes` so they end at `end`; returns where they start. The
/// prefix is at most ~110 bytes, well inside [`HEADROOM`]; should it not
/// fit, it is left out rather than written out of bounds.
#[inline(always)]
fn put_back(head: &mut [u8; HEADROOM], end: usize, bytes: &[u8]) -> usize {
    match end.checked_sub(bytes.len()) {
        Some(start) => {
            if let Some(dst) = head.get_mut(start..end) {
                dst.copy_from_slice(bytes);
            }
            start
        }
        None => end,
    }
}

/// [`put_back`] of a fixed-size block: a couple of moves, no `memcpy` call.
#[inline(always)]
fn put_back_n<const N: usize>(head: &mut [u8; HEADROOM], end: usize, bytes: &[u8; N]) -> usize {
    match end.checked_sub(N) {
        Some(start) => {
            if let Some(dst) = head
                .get_mut(start..end)
                .and_then(|d| d.first_chunk_mut::<N>())
            {
                *dst = *bytes;
            }
            start
        }
        None => end,
    }
}

/// `v` (< 1,000,000) as exactly six digits, zero-padded.
#[inline(always)]
fn six_digits(mut v: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_zero_padded_micros() {
        for v in [0, 7, 42, 999, 100_000, 123_456, 999_999] {
            assert_eq!(&six_digits(v), format!("{v:06}").as_bytes());
        }
    }
}
