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
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use chrono::Utc;

use crate::clock::{monotonic_ns, Clock};
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
    /// [`monotonic_ns`] when the file was created.
    start_ns: u64,
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
    seq: Seq,
    /// The last record's `mono_ns` in decimal.
    mono: MonoDigits,
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
    /// Each record's `mono_ns` and `ts` (see [`Clock`]).
    clock: Clock,
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
                seq: Seq::one(),
                mono: MonoDigits::default(),
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
                clock: Clock::new(),
                finished: false,
            }),
            flush,
            path,
            start_ns: monotonic_ns(),
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
        monotonic_ns().saturating_sub(self.start_ns)
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
        let seq = st.seq.digits();
        st.seq.advance();
        // One clock reading per record, under the lock: time order is seq order.
        let now = st.clock.now();
        let mono = now.mono.saturating_sub(self.start_ns);
        let wall = now.wall;
        // `,"ts":"YYYY-MM-DDTHH:MM:SS.` changes once a second; reuse it.
        let secs = (wall / 1_000_000_000) as i64;
        if secs != st.ts_secs {
            st.ts = ts_block(secs);
            st.ts_secs = secs;
        }
        // The prefix, written backwards so it ends where the body starts.
        let mut at = HEADROOM;
        let len = st.mono.set(mono);
        put_back(head, at, &st.mono.digits);
        at -= len;
        at = put_back(head, at, b"Z\",\"mono_ns\":");
        let micros = (wall % 1_000_000_000 / 1_000) as u32;
        at = put_back(head, at, &six_digits(micros));
        at = put_back(head, at, &st.ts);
        put_back(head, at, &seq.0);
        at -= seq.1;
        let start = put_back(head, at, b"{\"type\":\"event\",\"seq\":");
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
                    // SAFETY: fdatasync on our own open descriptor.
                    unsafe { libc::fdatasync(self.file.as_raw_fd()) };
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
            seq: st.seq.value(),
            ts: Utc::now(),
            mono_ns: self.mono_ns(),
            records: st.records,
            dropped: st.dropped,
        };
        let mut line = Vec::with_capacity(160);
        Record::Footer(footer).write_line(&mut line);
        st.seq.advance();
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
        // SAFETY: writes from a live slice of exactly this length to a
        // descriptor this writer owns and keeps open.
        let n = unsafe { libc::write(self.file.as_raw_fd(), record.as_ptr().cast(), record.len()) };
        if usize::try_from(n) == Ok(record.len()) {
            st.records += 1;
            st.good_len += record.len() as u64;
            return true;
        }
        self.write_record_slowly(st, record, n)
    }

    /// [`Self::write_record`] after a first `write(2)` that returned `n`:
    /// an error, or a short write to finish.
    #[cold]
    fn write_record_slowly(&self, st: &mut State, record: &[u8], n: isize) -> bool {
        let result = match usize::try_from(n) {
            Ok(done) => write_all(&self.file, record.get(done..).unwrap_or_default()),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    write_all(&self.file, record)
                } else {
                    Err(e)
                }
            }
        };
        match result {
            Ok(()) => {
                st.records += 1;
                st.good_len += record.len() as u64;
                true
            }
            Err(e) => {
                st.dropped += 1;
                self.repair(st);
                self.warn(&format!(
                    "cannot write trace file {}: {e}; records are being dropped (the footer counts them)",
                    self.path.display()
                ));
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
                self.warn(&format!(
                    "cannot write trace file {}: {e}; records are being dropped (the footer counts them)",
                    self.path.display()
                ));
            }
        }
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

/// `write(2)` until everything is written; retries EINTR and short
/// writes. A record normally leaves in one call.
fn write_all(file: &File, mut bytes: &[u8]) -> io::Result<()> {
    let fd = file.as_raw_fd();
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice of exactly this length to a
        // descriptor this writer owns and keeps open.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(n) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote nothing")),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// The next sequence number, kept in decimal as well: a record's `seq` is
/// the previous one plus one, so its digits are the previous digits
/// incremented in place (nearly always one byte), not a number formatted
/// anew.
struct Seq {
    value: u64,
    /// `value` right-aligned in ASCII, `'0'` padded.
    digits: [u8; 20],
    /// How many of `digits` are significant.
    len: usize,
}

impl Seq {
    fn one() -> Seq {
        let mut digits = [b'0'; 20];
        digits[19] = b'1';
        Seq {
            value: 1,
            digits,
            len: 1,
        }
    }

    fn value(&self) -> u64 {
        self.value
    }

    /// The digits (right-aligned in the block) and how many there are.
    fn digits(&self) -> ([u8; 20], usize) {
        (self.digits, self.len)
    }

    #[inline(always)]
    fn advance(&mut self) {
        self.value = self.value.wrapping_add(1);
        if self.digits[19] < b'9' {
            self.digits[19] += 1; // nine times in ten
        } else {
            self.carry();
        }
    }

    #[cold]
    fn carry(&mut self) {
        for i in (0..self.digits.len()).rev() {
            if self.digits[i] < b'9' {
                self.digits[i] += 1;
                self.len = self.len.max(self.digits.len() - i);
                return;
            }
            self.digits[i] = b'0';
        }
        // Wrapped past u64::MAX (never in practice): start over, exactly.
        let start = crate::json::decimal(self.value, &mut self.digits);
        self.digits[..start].fill(b'0');
        self.len = self.digits.len() - start;
    }
}

/// `mono_ns` in decimal, right-aligned in a fixed block. Consecutive
/// records are microseconds apart, so the digits above the lowest eight
/// (which change every 0.1 s) are kept, and usually only the lowest eight
/// are formatted anew.
#[derive(Default)]
struct MonoDigits {
    digits: [u8; 20],
    /// `value / 10^8` of the digits in `digits[..12]`, plus one (0: none).
    high: u64,
    /// Significant digits when `high` is set.
    len: usize,
}

impl MonoDigits {
    /// Puts `v` into `digits`; returns how many digits it has.
    #[inline(always)]
    fn set(&mut self, v: u64) -> usize {
        let high = v / 100_000_000;
        if high == 0 || high + 1 != self.high {
            self.high = 0;
            let start = crate::json::decimal(v, &mut self.digits);
            if high != 0 {
                self.high = high + 1;
                self.len = 20 - start;
            }
            return 20 - start;
        }
        let low = (v - high * 100_000_000) as u32;
        self.digits[12..].copy_from_slice(&crate::json::eight_digits(low));
        self.len
    }
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

/// Writes `bytes` so they end at `end`; returns where they start. Sizes
/// are constants, so each is a couple of moves. The prefix is at most ~110
/// bytes, well inside [`HEADROOM`]; should it not fit, it is left out
/// rather than written out of bounds.
#[inline(always)]
fn put_back<const N: usize>(head: &mut [u8; HEADROOM], end: usize, bytes: &[u8; N]) -> usize {
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

/// `v` (< 1,000,000) as exactly six digits: the last six of
/// [`crate::json::eight_digits`].
#[inline(always)]
fn six_digits(v: u32) -> [u8; 6] {
    let [_, _, digits @ ..] = crate::json::eight_digits(v);
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_digits_match_to_string_as_the_high_digits_change() {
        let mut m = MonoDigits::default();
        let check = |m: &mut MonoDigits, v: u64| {
            let len = m.set(v);
            assert_eq!(&m.digits[20 - len..], v.to_string().as_bytes(), "{v}");
        };
        for v in (0..3_000_000_000u64).step_by(99_991) {
            check(&mut m, v);
        }
        for v in (123_399_999_000..123_400_001_000).step_by(7) {
            check(&mut m, v);
        }
        for v in [
            99_999_999,
            100_000_000,
            5,
            u64::MAX,
            100_000_000,
            0,
            u64::MAX - 1,
        ] {
            check(&mut m, v);
        }
    }

    #[test]
    fn six_digits_are_zero_padded_micros() {
        for v in [0, 7, 42, 999, 100_000, 123_456, 999_999] {
            assert_eq!(&six_digits(v), format!("{v:06}").as_bytes());
        }
    }

    #[test]
    fn seq_digits_follow_the_number_across_every_carry() {
        let mut seq = Seq::one();
        for expected in 1..=100_123u64 {
            let (digits, len) = seq.digits();
            assert_eq!(seq.value(), expected);
            assert_eq!(&digits[20 - len..], expected.to_string().as_bytes());
            seq.advance();
        }
        seq.value = u64::MAX - 1;
        let _ = crate::json::decimal(seq.value, &mut seq.digits);
        seq.len = 20;
        seq.advance();
        assert_eq!(&seq.digits().0[..], u64::MAX.to_string().as_bytes());
    }
}
