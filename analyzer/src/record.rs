//! The normalised, owned record both readers produce and the merge orders.
//!
//! v1 and legacy lines differ on the wire but mean the same things, so the
//! rest of the analyzer sees one shape. Strings repeated on many lines
//! (feature, scenario, resource) are shared `Arc`s handed out by each
//! reader's small cache, so a record costs few allocations.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use state_tracer::format::{Action, Outcome, Resource};

/// Index of a source file in the [`crate::discover::Run`] being read.
pub type FileIdx = u32;

/// Microseconds since the Unix epoch, UTC: cheap to compare and merge on.
pub type Micros = i64;

/// Converts [`Micros`] back to a wall time.
pub fn to_time(us: Micros) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// What a line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecKind {
    Event,
    /// The v1 footer: the process exited cleanly.
    Footer,
}

/// One trace record, from any format.
///
/// Kept small (it is moved through channels and the merge heap millions of
/// times): rarely used fields live in [`Extra`], allocated only when present.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub ts: Micros,
    pub file: FileIdx,
    /// 1-based line in its file.
    pub line: u32,
    /// Per-file sequence number (v1), or the line number (legacy).
    pub seq: u64,
    /// Small integer naming the writing thread.
    pub tid: u32,
    pub kind: RecKind,
    /// For a footer, `PROCESS_END`.
    pub action: Action,
    pub outcome: Option<Outcome>,
    /// The scenario within its file (v1: written by the tracer; legacy:
    /// assigned by the reader from the scenario names).
    pub scenario_id: Option<u64>,
    /// Names; the report's readers keep them only on scenario boundaries
    /// and on records without a `scenario_id`.
    pub feature: Option<Arc<str>>,
    pub scenario: Option<Arc<str>>,
    pub resource: Option<Arc<Resource<'static>>>,
    /// Free text; the report's readers keep it only where it carries
    /// meaning (DDL verbs, config and schema names, custom actions).
    pub details: Option<Box<str>>,
    pub extra: Option<Box<Extra>>,
}

/// The rarely present parts of a record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extra {
    pub step: Option<Arc<str>>,
    /// For `CUSTOM`, the user-chosen name; for `CONFIG_RELOAD`, the config.
    pub name: Option<Arc<str>>,
    pub error: Option<Box<str>>,
    pub duration_us: Option<u64>,
    pub rows: Option<u64>,
    /// HTTP method/path/status and user fields (kept for `merge` only).
    pub fields: Vec<(Box<str>, Box<str>)>,
}

impl Rec {
    /// A bare event; readers fill in the rest.
    pub fn new(ts: Micros, file: FileIdx, seq: u64, line: u64, action: Action) -> Rec {
        Rec {
            ts,
            file,
            line: line.min(u64::from(u32::MAX)) as u32,
            seq,
            tid: 0,
            kind: RecKind::Event,
            action,
            outcome: None,
            scenario_id: None,
            feature: None,
            scenario: None,
            resource: None,
            details: None,
            extra: None,
        }
    }

    /// Merge order: wall time, then file, then sequence number.
    pub fn order_key(&self) -> (Micros, FileIdx, u64) {
        (self.ts, self.file, self.seq)
    }

    pub fn time(&self) -> DateTime<Utc> {
        to_time(self.ts)
    }

    /// The extra fields, created on first use.
    pub fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    pub fn name(&self) -> Option<&str> {
        self.extra.as_ref()?.name.as_deref()
    }

    pub fn error(&self) -> Option<&str> {
        self.extra.as_ref()?.error.as_deref()
    }

    pub fn step(&self) -> Option<&str> {
        self.extra.as_ref()?.step.as_deref()
    }

    pub fn duration_us(&self) -> Option<u64> {
        self.extra.as_ref()?.duration_us
    }

    pub fn rows(&self) -> Option<u64> {
        self.extra.as_ref()?.rows
    }

    pub fn fields(&self) -> &[(Box<str>, Box<str>)] {
        self.extra.as_ref().map_or(&[], |e| &e.fields)
    }
}

/// Hands out shared copies of strings and resources seen recently, so
/// repeated values are allocated once per file instead of once per record.
#[derive(Default)]
pub struct Interner {
    strings: Vec<Arc<str>>,
    next: usize,
    hot: [usize; 2],
    resources: Vec<Arc<Resource<'static>>>,
    next_res: usize,
    hot_res: usize,
}

const CACHE: usize = 32;

impl Interner {
    pub fn str(&mut self, s: &str) -> Arc<str> {
        // Feature and scenario repeat line after line: try the last two hits first.
        for &h in &self.hot {
            if let Some(c) = self.strings.get(h) {
                if &**c == s {
                    return c.clone();
                }
            }
        }
        if let Some(i) = self.strings.iter().position(|c| &**c == s) {
            self.hot = [i, self.hot[0]];
            return self.strings[i].clone();
        }
        let new: Arc<str> = Arc::from(s);
        let slot = if self.strings.len() < CACHE {
            self.strings.push(new.clone());
            self.strings.len() - 1
        } else {
            let slot = self.next;
            self.strings[slot] = new.clone();
            self.next = (self.next + 1) % CACHE;
            slot
        };
        self.hot = [slot, self.hot[0]];
        new
    }

    pub fn resource(&mut self, r: Resource<'_>) -> Arc<Resource<'static>> {
        if let Some(c) = self.resources.get(self.hot_res) {
            if **c == r {
                return c.clone();
            }
        }
        if let Some(i) = self.resources.iter().position(|c| **c == r) {
            self.hot_res = i;
            return self.resources[i].clone();
        }
        let new = Arc::new(r.into_owned());
        if self.resources.len() < CACHE {
            self.resources.push(new.clone());
            self.hot_res = self.resources.len() - 1;
        } else {
            self.resources[self.next_res] = new.clone();
            self.hot_res = self.next_res;
            self.next_res = (self.next_res + 1) % CACHE;
        }
        new
    }
}

/// A fast non-cryptographic hasher for small integer keys (scenario ids,
/// file pairs) on the hot path; inputs are trace data, not attacker-chosen
/// keys a DoS could exploit in a one-shot CLI run.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
