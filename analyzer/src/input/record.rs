//! The normalised, owned record both readers produce and the merge orders.
//!
//! v1 and legacy lines differ on the wire but mean the same things, so the
//! rest of the analyzer sees one shape. Strings repeated on many lines
//! (feature, scenario, resource) are shared `Arc`s handed out by each
//! reader's small cache, so a record costs few allocations.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use state_tracer_format::{Action, Outcome, Resource};

/// Index of a source file in the [`crate::input::discover::Run`] being read.
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
/// Exactly one cache line (a test pins it): records are written by the
/// reader threads and read by the merging thread millions of times, and
/// moving a second line per record cost about a fifth of the report's CPU
/// time. Rarely used fields live in [`Extra`], allocated only when present
/// and shared where a reader can (a legacy line's extra parts all come from
/// its ACTION and DETAILS); names are shared too ([`Names`]).
#[derive(Debug, Clone, PartialEq)]
#[repr(align(64))]
pub struct Rec {
    pub ts: Micros,
    /// Per-file sequence number (v1), or the line number (legacy).
    pub seq: u64,
    /// The scenario within its file plus one; 0 for none. See
    /// [`Rec::scenario_id`].
    sid: u64,
    /// Feature and scenario names; the report's readers keep them only on
    /// scenario boundaries and on records without a scenario id.
    pub names: Option<Arc<Names>>,
    pub resource: Option<Arc<Resource<'static>>>,
    pub extra: Option<Arc<Extra>>,
    pub file: FileIdx,
    /// 1-based line in its file.
    pub line: u32,
    /// Small integer naming the writing thread (`docs/format.md`: 1, 2, …
    /// per process), saturating.
    pub tid: u16,
    /// A fingerprint of a read's statement text (`details`), 0 for none:
    /// what one query returned in several scenarios can be compared
    /// without keeping the text. 16 bits tell a table's few queries apart.
    pub stmt: u16,
    pub kind: RecKind,
    /// For a footer, `PROCESS_END`.
    pub action: Action,
    pub outcome: Option<Outcome>,
    /// `rows` in the record's one spare byte, so the report keeps it
    /// without allocating an [`Extra`] (see [`RowsHint`]).
    pub rows_hint: RowsHint,
}

/// A record's `rows` in one byte: absent, an exact count below 254, or
/// "254 or more". The rules need to tell 0 from some from unknown, and
/// to compare small counts (rows a scenario inserted against rows it
/// deleted); a bulk statement saturates, which only makes such a
/// comparison "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowsHint(u8);

impl RowsHint {
    const MANY: u8 = u8::MAX;

    pub fn new(rows: Option<u64>) -> RowsHint {
        match rows {
            None => RowsHint(0),
            Some(n) if n < u64::from(Self::MANY - 1) => RowsHint(n as u8 + 1),
            Some(_) => RowsHint(Self::MANY),
        }
    }

    /// The exact count, if known and small.
    pub fn exact(self) -> Option<u64> {
        match self.0 {
            0 | Self::MANY => None,
            n => Some(u64::from(n - 1)),
        }
    }

    /// Known to be 0 / known to be more than 0.
    pub fn none_changed(self) -> bool {
        self.0 == 1
    }

    pub fn some_changed(self) -> bool {
        self.0 > 1
    }

    /// A lower bound of the count, if known at all.
    pub fn at_least(self) -> Option<u64> {
        match self.0 {
            0 => None,
            n => Some(u64::from(n - 1)),
        }
    }
}

/// A record's feature and scenario names, shared by the records of one
/// scenario.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names {
    pub feature: Option<Arc<str>>,
    pub scenario: Option<Arc<str>>,
}

/// The rarely present parts of a record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extra {
    /// Free text; the report's readers keep it only where it carries
    /// meaning (DDL verbs, config and schema names, custom actions).
    pub details: Option<Arc<str>>,
    pub step: Option<Arc<str>>,
    /// For `CUSTOM`, the user-chosen name; for `CONFIG_RELOAD`, the config.
    pub name: Option<Arc<str>>,
    pub error: Option<Box<str>>,
    pub duration_us: Option<u64>,
    pub rows: Option<u64>,
    /// HTTP method/path/status and user fields (kept for `merge` only).
    pub fields: Vec<(Box<str>, Box<str>)>,
}

/// The [`Rec::stmt`] fingerprint of a statement text, or 0 when its row
/// count says nothing about the rows it reads: an aggregate (`SELECT
/// COUNT(*) …`, `SELECT EXISTS (…)`) returns one row whatever the table
/// holds.
pub fn stmt_fingerprint(sql: &str) -> u16 {
    use std::hash::BuildHasher;
    if is_aggregate(sql) {
        return 0;
    }
    let h = foldhash::fast::FixedState::default().hash_one(sql);
    (h as u16).max(1)
}

/// A `SELECT` whose select list starts with an aggregate call and that
/// has no `GROUP BY`: it returns one row however many it reads. Looks at
/// the first words only (every read's text comes through here).
fn is_aggregate(sql: &str) -> bool {
    /// `s` starts with `word`, any case.
    fn starts(s: &str, word: &str) -> bool {
        s.len() >= word.len() && s.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
    }
    let s = sql.trim_start();
    if !starts(s, "SELECT") {
        return false;
    }
    let list = s["SELECT".len()..].trim_start();
    let call = ["COUNT", "SUM", "MAX", "MIN", "AVG", "EXISTS", "TOTAL"]
        .iter()
        .any(|f| starts(list, f) && list[f.len()..].trim_start().starts_with('('));
    call && !sql.to_ascii_uppercase().contains("GROUP BY")
}

impl Rec {
    /// A bare event; readers fill in the rest.
    pub fn new(ts: Micros, file: FileIdx, seq: u64, line: u64, action: Action) -> Rec {
        Rec {
            ts,
            seq,
            sid: 0,
            names: None,
            resource: None,
            extra: None,
            file,
            line: line.min(u64::from(u32::MAX)) as u32,
            tid: 0,
            stmt: 0,
            kind: RecKind::Event,
            action,
            outcome: None,
            rows_hint: RowsHint::default(),
        }
    }

    /// The scenario within its file (v1: written by the tracer; legacy:
    /// assigned by the reader from the scenario names).
    pub fn scenario_id(&self) -> Option<u64> {
        self.sid.checked_sub(1)
    }

    /// Sets [`Rec::scenario_id`]. The one id that cannot be kept,
    /// `u64::MAX`, reads back as none (the record is then attributed by its
    /// names, which the readers keep for records without an id).
    pub fn set_scenario_id(&mut self, id: Option<u64>) {
        self.sid = id.map_or(0, |id| id.wrapping_add(1));
    }

    pub fn feature(&self) -> Option<&Arc<str>> {
        self.names.as_ref()?.feature.as_ref()
    }

    pub fn scenario(&self) -> Option<&Arc<str>> {
        self.names.as_ref()?.scenario.as_ref()
    }

    pub fn details(&self) -> Option<&str> {
        self.extra.as_ref()?.details.as_deref()
    }

    /// Merge order: wall time, then file, then sequence number.
    pub fn order_key(&self) -> (Micros, FileIdx, u64) {
        (self.ts, self.file, self.seq)
    }

    pub fn time(&self) -> DateTime<Utc> {
        to_time(self.ts)
    }

    /// The extra fields, created on first use (and unshared if shared).
    pub fn extra_mut(&mut self) -> &mut Extra {
        Arc::make_mut(self.extra.get_or_insert_with(Default::default))
    }

    pub fn name(&self) -> Option<&str> {
        self.extra.as_ref()?.name.as_deref()
    }

    /// The schema a `SCHEMA_*` record names: its resource's `schema`, else
    /// `name`, else `details` (older producers put it there).
    pub fn schema_named(&self) -> Option<&str> {
        self.resource
            .as_ref()
            .and_then(|r| r.schema.as_deref())
            .or(self.name())
            .or(self.details())
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

    /// `rows` as written (merge keeps it exactly; the report, as
    /// [`RowsHint`], whose lower bound this returns when no exact count
    /// was kept).
    pub fn rows(&self) -> Option<u64> {
        self.extra
            .as_ref()
            .and_then(|e| e.rows)
            .or(self.rows_hint.at_least())
    }

    pub fn fields(&self) -> &[(Box<str>, Box<str>)] {
        self.extra.as_ref().map_or(&[], |e| &e.fields)
    }
}

/// Hands out shared copies of strings and resources seen recently, so
/// repeated values are allocated once per file instead of once per record.
#[derive(Default)]
pub struct Interner {
    strings: Recent<str>,
    resources: Recent<Resource<'static>>,
    names: Recent<Names>,
    /// What the last [`CACHE`] distinct insert texts say
    /// ([`crate::input::sql::insert`]): a file repeats a few statements,
    /// and reading each again cost more than the rest of its line.
    inserts: Vec<(u64, Box<str>, crate::input::sql::Insert)>,
    next_insert: usize,
}

const CACHE: usize = 32;

/// The last [`CACHE`] distinct values handed out, replaced round-robin,
/// with the last two hits tried first (lines repeat their neighbours', and
/// feature and scenario alternate). Each value has a key its caller
/// computes (equal values, equal keys), compared before the value: a new
/// scenario name is in no entry, and comparing it with 32 names of the
/// same length cost more than the rest of its line.
struct Recent<T: ?Sized> {
    items: Vec<(u64, Arc<T>)>,
    next: usize,
    hot: [usize; 2],
}

impl<T: ?Sized> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            items: Vec::new(),
            next: 0,
            hot: [0; 2],
        }
    }
}

impl<T: ?Sized> Recent<T> {
    /// The kept value with `key` that `is` accepts, or a new one `make`
    /// builds (and keeps).
    fn get(&mut self, key: u64, is: impl Fn(&T) -> bool, make: impl FnOnce() -> Arc<T>) -> Arc<T> {
        let hit = |item: &(u64, Arc<T>)| item.0 == key && is(&item.1);
        for &h in &self.hot {
            if let Some(c) = self.items.get(h).filter(|c| hit(c)) {
                return c.1.clone();
            }
        }
        if let Some(i) = self.items.iter().position(hit) {
            self.hot = [i, self.hot[0]];
            return self.items[i].1.clone();
        }
        let new = make();
        let slot = if self.items.len() < CACHE {
            self.items.push((key, new.clone()));
            self.items.len() - 1
        } else {
            let slot = self.next;
            self.items[slot] = (key, new.clone());
            self.next = (self.next + 1) % CACHE;
            slot
        };
        self.hot = [slot, self.hot[0]];
        new
    }
}

impl Interner {
    /// [`crate::input::sql::insert`] of `sql`, remembered for the texts
    /// seen last.
    pub fn insert_kind(&mut self, sql: &str) -> crate::input::sql::Insert {
        let key = foldhash::fast::FixedState::default().hash_one(sql);
        if let Some(e) = self.inserts.iter().find(|e| e.0 == key && &*e.1 == sql) {
            return e.2;
        }
        let kind = crate::input::sql::insert(sql);
        let entry = (key, Box::from(sql), kind);
        if self.inserts.len() < CACHE {
            self.inserts.push(entry);
        } else {
            self.inserts[self.next_insert % CACHE] = entry;
            self.next_insert = self.next_insert.wrapping_add(1);
        }
        kind
    }

    pub fn str(&mut self, s: &str) -> Arc<str> {
        let key = foldhash::fast::FixedState::default().hash_one(s);
        self.strings.get(key, |c| c == s, || Arc::from(s))
    }

    /// Shared names for this pair (`None` when both are absent). The
    /// strings come from [`Interner::str`], so the same pair is the same
    /// two allocations; a string evicted and made again only costs a
    /// second copy of the pair.
    pub fn names(
        &mut self,
        feature: Option<Arc<str>>,
        scenario: Option<Arc<str>>,
    ) -> Option<Arc<Names>> {
        if feature.is_none() && scenario.is_none() {
            return None;
        }
        let addr = |a: &Option<Arc<str>>| {
            a.as_ref()
                .map_or(0, |a| Arc::as_ptr(a).cast::<u8>() as usize as u64)
        };
        let key = addr(&feature) ^ addr(&scenario).rotate_left(32);
        let same = |a: &Option<Arc<str>>, b: &Option<Arc<str>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        let is = |n: &Names| same(&n.feature, &feature) && same(&n.scenario, &scenario);
        let names = self.names.get(key, is, || {
            Arc::new(Names {
                feature: feature.clone(),
                scenario: scenario.clone(),
            })
        });
        Some(names)
    }

    /// Resources are few per file (and a legacy file's are cached per
    /// ACTION/DETAILS already): compared whole.
    pub fn resource(&mut self, r: Resource<'_>) -> Arc<Resource<'static>> {
        self.resources
            .get(0, |c| *c == r, || Arc::new(r.clone().into_owned()))
    }
}

/// `HashMap` for the hot path's keys (scenario ids, file pairs, scenario
/// names) with foldhash, hashbrown's own default hasher. Inputs are trace
/// data, not keys chosen to attack a one-shot CLI run, and the fixed seed
/// keeps every iteration order, and so every report, the same from run to
/// run.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Rec>(), 64);
        assert_eq!(std::mem::align_of::<Rec>(), 64);
    }

    #[test]
    fn scenario_ids_round_trip() {
        let mut r = Rec::new(0, 0, 0, 1, Action::Custom);
        assert_eq!(r.scenario_id(), None);
        for id in [0, 1, 7, u64::MAX - 1] {
            r.set_scenario_id(Some(id));
            assert_eq!(r.scenario_id(), Some(id));
        }
        r.set_scenario_id(None);
        assert_eq!(r.scenario_id(), None);
    }

    #[test]
    fn names_are_shared_while_they_repeat() {
        let mut i = Interner::default();
        let f = i.str("feature");
        let s = i.str("scenario");
        let a = i.names(Some(f.clone()), Some(s.clone())).unwrap();
        let equal = i.str("scenario");
        let b = i.names(Some(f.clone()), Some(equal)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(i.names(None, None).is_none());
        for n in 0..100 {
            let other = i.str(&format!("s{n}"));
            let x = i.names(Some(f.clone()), Some(other)).unwrap();
            assert_eq!(x.scenario.as_deref(), Some(format!("s{n}").as_str()));
        }
        let again = i.names(Some(f), Some(s)).unwrap();
        assert_eq!(again.scenario.as_deref(), Some("scenario"));
    }

    #[test]
    fn aggregates_have_no_statement_identity_and_row_reads_do() {
        for sql in [
            "SELECT COUNT (*) FROM products WHERE sku = $1",
            "select count(*) from users",
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)",
            "SELECT MAX(price) FROM products",
        ] {
            assert_eq!(stmt_fingerprint(sql), 0, "{sql}");
        }
        for sql in [
            "SELECT tag, sku FROM products WHERE category = $1",
            "SELECT category, COUNT(*) FROM products GROUP BY category",
            "SELECT counter FROM stats",
        ] {
            assert_ne!(stmt_fingerprint(sql), 0, "{sql}");
        }
    }
}
