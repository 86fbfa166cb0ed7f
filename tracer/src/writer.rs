//! The one writer of a trace file: sequence numbers, durability, errors.
//!
//! Records are numbered under one mutex, so the file's `seq` values are
//! exactly 0, 1, 2, ... in file order, and every record goes out in a single
//! `writev(2)` (line and fsync modes), so a crash can only lose the record
//! being written, never tear an earlier one.
//!
//! A failed write (disk full, file size limit, folder on a dead mount) never
//! reaches the traced code: the first failure prints one warning on stderr,
//! failed records are counted as dropped (their `seq` is skipped, so a
//! reader sees the gap), a partially written record is cut off again with
//! `ftruncate(2)`, and the footer reports the count.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::Flush;
use crate::format::{format_wall_time, Footer, Header, Record};

/// Bytes reserved at the front of every event buffer for the
/// `{"type":"event","seq":N,"ts":"...","mono_ns":N` prefix, which is only
/// known under the lock; the record then leaves in one contiguous write.
pub const HEADROOM: usize = 128;

/// Resets an event buffer: headroom, then the caller appends the body.
pub fn start_body(buf: &mut Vec<u8>) {
    buf.clear();
    buf.resize(HEADROOM, b' ');
}

/// Interval mode writes early once this much is buffered.
const INTERVAL_BUFFER_LIMIT: usize = 256 * 1024;

pub struct Writer {
    state: Mutex<State>,
    flush: Flush,
    path: PathBuf,
    start: Instant,
    warned: AtomicBool,
    finished: AtomicBool,
    /// Wakes the interval flusher early at shutdown.
    wake: Condvar,
}

struct State {
    file: File,
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
    /// `YYYY-MM-DDTHH:MM:SS` of second `ts_secs`.
    ts: Vec<u8>,
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
            state: Mutex::new(State {
                file,
                seq: 1,
                records: 1,
                dropped: 0,
                good_len: line.len() as u64,
                pending: Vec::new(),
                pending_records: 0,
                ts: Vec::with_capacity(32),
                ts_secs: i64::MIN,
                finished: false,
            }),
            flush,
            path,
            start: Instant::now(),
            warned: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        if let Flush::Interval(period) = flush {
            let weak = Arc::downgrade(&writer);
            let spawned = std::thread::Builder::new()
                .name("state-tracer-flush".into())
                .spawn(move || flusher(weak, period));
            if let Err(e) = spawned {
                writer.warn(&format!("cannot start the flush thread ({e}); records are written when the buffer fills and at exit"));
            }
        }
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Nanoseconds since tracing started in this process.
    pub fn mono_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
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
        let seq = st.seq;
        st.seq += 1;
        let mut prefix = [0u8; 128];
        let prefix_len = {
            let mut p = PrefixBuf::new(&mut prefix);
            p.push(b"{\"type\":\"event\",\"seq\":");
            p.uint(seq);
            p.push(b",\"ts\":\"");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            // The `YYYY-MM-DDTHH:MM:SS` part changes once a second; reuse it.
            let secs = now.as_secs() as i64;
            if secs != st.ts_secs || st.ts.len() < 19 {
                st.ts.clear();
                let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
                format_wall_time(t, &mut st.ts);
                st.ts.truncate(19);
                st.ts_secs = secs;
            }
            p.push(&st.ts);
            p.push(b".");
            p.digits6(now.subsec_micros());
            p.push(b"Z");
            p.push(b"\",\"mono_ns\":");
            p.uint(self.mono_ns());
            p.len
        };
        let start = HEADROOM - prefix_len;
        buf[start..HEADROOM].copy_from_slice(&prefix[..prefix_len]);
        let record = &buf[start..];
        match self.flush {
            Flush::Interval(_) => {
                st.pending.extend_from_slice(record);
                st.pending_records += 1;
                if st.pending.len() >= INTERVAL_BUFFER_LIMIT {
                    self.flush_pending(&mut st);
                }
            }
            Flush::Line | Flush::Fsync => {
                let ok = self.write_record(&mut st, &[record]);
                if ok && self.flush == Flush::Fsync {
                    // SAFETY: fdatasync on our own open descriptor.
                    unsafe { libc::fdatasync(st.file.as_raw_fd()) };
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
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
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
        if self.write_record(&mut st, &[&line]) {
            // Counted above as a record; the footer's own count excludes it.
            st.records -= 1;
        }
        let _ = st.file.sync_data();
        st.finished = true;
        self.finished.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    /// One writev of the parts; on failure counts a drop and cuts off any
    /// partial record. Returns whether the record is in the file.
    fn write_record(&self, st: &mut State, parts: &[&[u8]]) -> bool {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        match write_all_vectored(&st.file, parts) {
            Ok(()) => {
                st.records += 1;
                st.good_len += total as u64;
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
        match write_all_vectored(&st.file, &[&buf]) {
            Ok(()) => {
                st.records += n;
                st.good_len += buf.len() as u64;
            }
            Err(e) => {
                // Whole lines may have landed before the error; keep the
                // complete ones, count the rest as dropped.
                let landed = file_len(&st.file).unwrap_or(st.good_len);
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
        let mut buf = buf;
        buf.clear();
        st.pending = buf;
    }

    /// Removes a torn record so the next one starts on a fresh line.
    fn repair(&self, st: &mut State) {
        if file_len(&st.file).is_ok_and(|len| len != st.good_len) {
            let _ = st.file.set_len(st.good_len);
        }
        use std::io::Seek;
        let _ = (&st.file).seek(io::SeekFrom::Start(st.good_len));
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
        let st = match w.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (mut st, _) = match w.wake.wait_timeout(st, period) {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        if st.finished {
            return;
        }
        w.flush_pending(&mut st);
    }
}

fn file_len(f: &File) -> io::Result<u64> {
    f.metadata().map(|m| m.len())
}

/// `writev` until everything is written; retries EINTR and short writes.
fn write_all_vectored(file: &File, parts: &[&[u8]]) -> io::Result<()> {
    let mut f = file;
    // (part index, offset in it) of the first unwritten byte.
    let (mut part, mut offset) = (0usize, 0usize);
    while part < parts.len() {
        // Records have at most a few parts: no allocation on this path.
        let mut slices = [IoSlice::new(&[]); 4];
        let mut count = 0;
        for (i, p) in parts[part..].iter().take(slices.len()).enumerate() {
            slices[i] = IoSlice::new(if i == 0 { &p[offset..] } else { p });
            count += 1;
        }
        let slices = &slices[..count];
        let written = if count == 1 {
            f.write(&slices[0]) // the common case: one plain write(2)
        } else {
            f.write_vectored(slices)
        };
        match written {
            Ok(0) if slices.iter().any(|s| !s.is_empty()) => {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote nothing"))
            }
            Ok(mut n) => {
                while part < parts.len() && n >= parts[part].len() - offset {
                    n -= parts[part].len() - offset;
                    part += 1;
                    offset = 0;
                }
                offset += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A tiny fixed-capacity byte buffer for the record prefix (no allocation).
struct PrefixBuf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> PrefixBuf<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        PrefixBuf { buf, len: 0 }
    }
    fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.buf.len());
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&bytes[..n]);
        self.len = end;
    }
    fn digits6(&mut self, v: u32) {
        let mut d = [b'0'; 6];
        let mut v = v;
        for slot in d.iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.push(&d);
    }
    fn uint(&mut self, v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = v;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}
