//! `concurrent-mutation`: scenario A changes state while scenario B, which
//! uses the same state, is running. Shared state (database tables) is
//! visible to every process; process state (JWT secret, config) only to
//! scenarios of the same process, all of which are taken to use it (an
//! in-memory secret signs and checks every request).
//!
//! Each occurrence gets a [`Strength`]: whether the victim used the state
//! before the mutation, after it, or both (the mutation fell inside its
//! window), and whether it came after every write of the victim (it can
//! have removed what the victim wrote), computed as the accesses stream by.
//! Only real uses count: the victim's own cleanups, deletes and resets,
//! and anything after its end (after-hooks), depend on nothing.

use std::rc::Rc;

use state_tracer_format::Action;

use crate::input::record::{FastMap, FileIdx, Micros};
use crate::model::{RuleId, Severity};
use crate::rules::{
    slot, Access, Cx, Findings, Op, Owner, PairText, Pending, ProcResId, ReadBack, Replay, Rule,
    RuleMeta, Scn, Strength, Target,
};

mod log;
mod text;

use log::{Log, Mutation, User};
pub use text::MutationText;

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::ConcurrentMutation,
    new: || Box::new(ConcurrentMutation::default()),
    severity: Severity::Warning,
    summary: "a scenario changed state another running scenario uses",
    fix_within: Some(|a, resource| {
        format!("isolate the scenarios of {a} from each other: some change {resource} while others use it (a schema, database or rows of its own per scenario, or run them one at a time)")
    }),
    fix_between: Some(|a, b, resource| {
        format!("isolate {a} and {b}: {a} changes {resource} while scenarios of {b} use it (a schema or database per process or scenario, or run them one at a time)")
    }),
    replay: Replay::AtOnce,
    repro_at_once: true,
    occurrences: Some(
        "change/use pairs: each change counted once if the victim had used the state before it, and once at its first use after it (a destructive change at each later use)",
    ),
};

impl ConcurrentMutation {
    /// The usual access, decided without the general path's bookkeeping
    /// (and with the same effect): a running scenario `s` uses named tables
    /// it already uses, and, if it changes them, was the last to; and no one
    /// else has used or changed them (or their schema) since `s`'s last full
    /// check. Then there is nothing to find, and a mutation only updates
    /// `s`'s own latest entry. False: take the general path.
    fn repeat(&mut self, s: &Scn, a: &Access<'_>, tables: &[u32], schema: usize) -> bool {
        let mutation = a.changes_others();
        if tables.is_empty() || !s.is_active() || a.op == Op::Destroy {
            return false;
        }
        if !self
            .schemas
            .get(schema)
            .is_none_or(|l| l.quiet_for(s.id, mutation))
        {
            return false;
        }
        for &t in tables {
            let Some(log) = self.tables.get(t as usize) else {
                return false;
            };
            if !log.quiet_for(s.id, mutation)
                || log.last_user != Some(s.id)
                || mutation && log.muts.last().is_none_or(|m| m.id != s.id)
            {
                return false;
            }
        }
        if mutation {
            for &t in tables {
                if let Some(log) = self.tables.get_mut(t as usize) {
                    log.again(a.ts, a.action, a.target, a.overwrites);
                    // `s` is the last user (checked above).
                    if let Some(u) = log.users.last_mut() {
                        u.wrote(a.ts);
                    }
                }
            }
        } else if a.op == Op::Read {
            for &t in tables {
                if let Some(u) = self
                    .tables
                    .get_mut(t as usize)
                    .and_then(|log| log.users.last_mut())
                {
                    u.last_read = Some(a.ts);
                    u.last_use = u.last_use.max(a.ts);
                }
            }
        }
        true
    }
}

#[derive(Default)]
pub struct ConcurrentMutation {
    tables: Vec<Log>,
    schemas: Vec<Log>,
    /// Scratch buffers reused across records (no allocation per record).
    /// A hit comes with the table whose log held it (`None`: the schema's).
    hits: Vec<(Mutation, Option<u32>)>,
    victims: Vec<User>,
    /// The longest destructive statement so far (`ts` − its start): how
    /// long an ended user may still matter to one in flight.
    longest: Micros,
    /// In-memory state per process: its value now (a fingerprint, `None`
    /// unknown), and the value each scenario found before it first changed
    /// it (dropped when it puts that value back).
    values: FastMap<(FileIdx, ProcResId), Option<u64>>,
    found: FastMap<(FileIdx, ProcResId, usize), Option<u64>>,
    /// When each running scenario last emptied a table itself.
    emptied: FastMap<(usize, u32), Micros>,
    /// Per victim: the changes reported at a use of a table and not again
    /// (see [`Later`]), settled when it ends.
    later: FastMap<usize, Later>,
}

/// The changes to tables reported to a victim at its first use after them,
/// per table and polluter: the first such use. Later uses of the table are
/// not reported one by one (in a busy shared table every use would meet
/// every change in its window again); when the victim ends, its last use
/// and read of the table count for those findings as they would have
/// ([`Findings::used_again`]).
type Later = FastMap<(u32, usize), Micros>;

/// How the victim used the resource around one mutation.
struct Use {
    /// First use, if before the mutation.
    before: Option<Micros>,
    /// A use after the mutation: when, and whether it read.
    after: Option<(Micros, bool)>,
    /// The victim's writes, all before the mutation: the last one.
    wrote_before: Option<Micros>,
    /// The use after it is a read that ended while the mutation ran.
    overlap: bool,
    /// The use after it is a read that missed no row ([`ReadBack::Full`]).
    read_full: bool,
    /// The use after it is an insert.
    after_insert: bool,
    /// The use after it is a plain insert that added no row: refused on a
    /// key a row already held (sqlx reports it so, without an error).
    blocked: bool,
    /// The use after it is a read that returned more rows than the victim
    /// has there, after the victim emptied the table itself at this time:
    /// the rest came after its cleanup.
    met_after_cleanup: Option<Micros>,
}

impl Use {
    /// From a user's log entry, for mutation `m`.
    fn of(u: Option<&User>, m: &Mutation, after: Option<(Micros, bool)>) -> Use {
        Use {
            before: u.map(|u| u.first).filter(|&f| f < m.at),
            after,
            wrote_before: u
                .and_then(|u| u.writes)
                .filter(|&(_, last)| last < m.at)
                .map(|(_, last)| last),
            overlap: false,
            read_full: false,
            after_insert: false,
            blocked: false,
            met_after_cleanup: None,
        }
    }
}

fn level(m: &Mutation, u: &Use) -> Strength {
    match (u.before, u.after) {
        _ if m.destructive && m.rows.none_changed() => Strength::RemovedNothing,
        (_, None) => Strength::UsedBefore,
        // A whole-table destroy that began after the victim's write ended
        // removed that write, whatever the count of a later read (others'
        // inserts may have refilled it). One that began earlier may have
        // missed it (PostgreSQL's `DELETE` sees rows committed before it
        // started); SQLite runs one write at a time, so there one that
        // ended later came later.
        (Some(_), Some((_, true)))
            if m.whole && u.wrote_before.is_some_and(|w| w < m.sees_from) && !u.overlap =>
        {
            Strength::DestroyedAfterWrite
        }
        // The read after it missed no row: whatever it removed, the victim
        // did not read it.
        (_, Some(_)) if m.destructive && u.read_full => Strength::DestroyedReadFull,
        // Gone before the victim's first use, an insert: the victim had
        // nothing there yet. Its later reads judge the change again.
        (None, Some(_)) if m.destructive && u.after_insert => Strength::DestroyedBeforeInsert,
        (Some(_), Some((_, true))) if m.destructive && u.wrote_before.is_some() => {
            Strength::DestroyedAfterWrite
        }
        (Some(_), Some(_)) if m.destructive => Strength::DestroyedInWindow,
        (None, Some(_)) if m.destructive => Strength::DestroyedThenUsed,
        (Some(_), Some(_)) if m.overwrites => Strength::ChangedInWindow,
        _ => Strength::ChangedThenUsed,
    }
}

fn report(cx: &mut Cx<'_>, m: &Mutation, victim: &Rc<Scn>, u: Use) {
    let (polluter, at, action, destructive, target) =
        (&m.scn, m.at, m.action, m.destructive, &m.target);
    // A destructive change while the victim runs proves harm if it fails.
    let severity = if destructive {
        Severity::Error
    } else {
        META.severity
    };
    let read_after = u.after.is_some_and(|(_, read)| read);
    let level = level(m, &u);
    let destructive = destructive && level != Strength::RemovedNothing;
    let key = Findings::pair_key(RuleId::ConcurrentMutation, polluter, victim);
    let use_at = match target {
        Target::Tables { .. } => u.after.map(|(t, _)| t),
        Target::Process(_) => None,
    };
    // A destroy, or an update of rows others wrote (updates of its own rows
    // never get here) that the victim used afterwards: it changed what the
    // victim read. A plain insert explains nothing.
    // An insert the victim's own insert then ran into (it added no row: a
    // key was taken) explains that failure too.
    // So does an insert after the victim emptied the table itself, when
    // its read then returned rows it had not written: they are that
    // insert's.
    let inserted = m.action == Action::DbInsert && !destructive;
    let can_explain = destructive
        || m.overwrites && level >= Strength::ChangedThenUsed
        || inserted && u.blocked
        || inserted && u.met_after_cleanup.is_some_and(|c| m.at > c);
    if cx.findings.count_again(
        key,
        severity,
        level,
        (destructive, can_explain, read_after),
        use_at,
    ) {
        return;
    }
    let resource = cx.resources.label(target);
    let mut p = Pending::new(
        RuleId::ConcurrentMutation,
        severity,
        at,
        resource,
        String::new(),
    );
    p.action = Some(action);
    p.polluter = Some(polluter.clone());
    p.victim = Some(victim.clone());
    p.destructive = destructive;
    p.can_explain = can_explain;
    p.whole = m.whole;
    p.read_after = read_after;
    p.rows = m.rows;
    p.use_at = use_at;
    p.identity_unknown = cx.identity_unknown(target, polluter.file, victim.file);
    p.strength = Some(level);
    p.pair_text = Some(PairText::Mutation(MutationText {
        at,
        started: m.started,
        action,
        level,
        before: u.before,
        after: u.after,
        wrote_before: u.wrote_before,
        overlap: u.overlap,
    }));
    cx.findings.add(p);
}

impl ConcurrentMutation {
    /// Victim `v`'s uses of tables after the changes reported to it at an
    /// earlier use ([`Later`]) count for those findings now.
    fn settle(&mut self, cx: &mut Cx<'_>, v: usize) {
        if !self.emptied.is_empty() {
            self.emptied.retain(|k, _| k.0 != v);
        }
        let Some(later) = self.later.remove(&v) else {
            return;
        };
        let mut later: Vec<((u32, usize), Micros)> = later.into_iter().collect();
        // By table, so each table's user is looked up once.
        later.sort_unstable();
        let mut last = None;
        fn user(log: Option<&Log>, v: usize) -> Option<&User> {
            log.and_then(|l| l.users.iter().rev().find(|u| u.id == v))
        }
        for ((table, polluter), at) in later {
            // The victim's last use and read of the table (directly, or of
            // its whole schema), looked up once per table.
            let (last_use, last_read) = match last {
                Some((t, use_, read)) if t == table => (use_, read),
                _ => {
                    let (mut use_, mut read) = (0, None);
                    let schema = cx.resources.schema_of_table(table);
                    for u in [
                        user(self.tables.get(table as usize), v),
                        schema.and_then(|schema| user(self.schemas.get(schema as usize), v)),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        use_ = use_.max(u.last_use);
                        read = read.max(u.last_read);
                    }
                    last = Some((table, use_, read));
                    (use_, read)
                }
            };
            if last_use > at {
                let key = (RuleId::ConcurrentMutation, polluter as u64, v as u64);
                cx.findings
                    .used_again(key, last_use, last_read.is_some_and(|r| r > at));
            }
        }
    }
}

impl Rule for ConcurrentMutation {
    fn id(&self) -> RuleId {
        RuleId::ConcurrentMutation
    }

    fn on_end(&mut self, cx: &mut Cx<'_>, scn: &Rc<Scn>) {
        self.settle(cx, scn.id);
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        let mut open: Vec<usize> = self.later.keys().copied().collect();
        open.sort_unstable();
        for v in open {
            self.settle(cx, v);
        }
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn on_access(&mut self, cx: &mut Cx<'_>, a: &Access<'_>) {
        let Some(s) = a.scn else { return };
        if a.inert {
            return;
        }
        let destructive = a.op == Op::Destroy;
        match a.target {
            Target::Process(res) => {
                if !a.mutation() {
                    return;
                }
                // The value `s` found before its first change of this
                // state: setting it back undoes its change for everyone.
                let now = self.values.entry((a.file, res)).or_insert(None);
                let before = std::mem::replace(now, a.value);
                // Only a later change can put it back: a first one that
                // sets the value it found is still the last write.
                let restores = match self.found.entry((a.file, res, s.id)) {
                    std::collections::hash_map::Entry::Occupied(o) => {
                        a.value.is_some() && a.value == *o.get()
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(before);
                        false
                    }
                };
                if restores {
                    self.found.remove(&(a.file, res, s.id));
                }
                let running: Vec<Rc<Scn>> = cx.procs[a.file as usize]
                    .active
                    .iter()
                    .filter(|v| v.id != s.id)
                    .cloned()
                    .collect();
                // Any new value replaces the one the others are using: a
                // set or reload breaks them as surely as a rotation (the
                // narrowing names the last change before the failure).
                let m = Mutation::new(s, a, true);
                for v in running {
                    // Every scenario of the process uses its in-memory state
                    // throughout, so the change is inside its window.
                    let u = Use {
                        before: Some(v.start),
                        after: Some((a.ts, true)),
                        wrote_before: None,
                        overlap: false,
                        read_full: false,
                        after_insert: false,
                        blocked: false,
                        met_after_cleanup: None,
                    };
                    report(cx, &m, &v, u);
                    if restores {
                        let key = Findings::pair_key(RuleId::ConcurrentMutation, s, &v);
                        cx.findings.undone(key, a.ts);
                    }
                }
            }
            Target::Tables { schema, set } => {
                let tables = cx.resources.tables_of(set);
                let schema = schema as usize;
                if self.repeat(s, a, tables, schema) {
                    return;
                }
                let all = tables.is_empty();
                let ids: &[u32] = if all {
                    cx.resources.schema_tables(schema as u32)
                } else {
                    tables
                };
                // 1. `s` uses these tables: was any of them changed by someone
                //    else while `s` was running?
                // Time first: it rules out most mutations.
                let during = |m: &Mutation| {
                    m.at >= s.start && m.id != s.id && !matches!(s.end.get(), Some(e) if m.at > e)
                };
                let mutation = a.changes_others();
                // The victim's own cleanups, deletes and resets, and what it
                // does after its end (after-hooks), depend on nothing: they
                // are not uses.
                let real_use = s.is_active() && a.op != Op::Destroy;
                // Its own whole-table cleanup of a table it reads, and a read
                // (not an aggregate) that returned more rows than it has
                // written there since (a join's rows are its tables' rows).
                let met_after_cleanup = match a.rows.exact() {
                    Some(n) if real_use && a.op == Op::Read && a.stmt != 0 => {
                        tables.iter().find_map(|&t| {
                            let own = cx.rows.own(t, Owner::Scenario(s.id))?;
                            (own < n).then(|| self.emptied.get(&(s.id, t)).copied())?
                        })
                    }
                    _ => None,
                };
                if s.is_active() && a.op == Op::Destroy && a.cleanup {
                    for &t in ids {
                        self.emptied.insert((s.id, t), a.ts);
                    }
                }
                let blocked = a.action == Action::DbInsert
                    && a.op == Op::Write
                    && !a.seed
                    && a.rows.exact() == Some(0);
                // Most accesses repeat one a scenario made before, with
                // nobody else in between: nothing new to find.
                let quiet = |log: Option<&Log>| log.is_none_or(|l| l.quiet_for(s.id, mutation));
                let skip = ids.iter().all(|&t| quiet(self.tables.get(t as usize)))
                    && quiet(self.schemas.get(schema));
                self.hits.clear();
                self.victims.clear();
                let mut first = None;
                if !skip {
                    // When `s` first used them (before this access), if it did.
                    first = ids
                        .iter()
                        .filter_map(|&t| self.tables.get(t as usize)?.user(s))
                        .chain(self.schemas.get(schema).and_then(|l| l.user(s)))
                        .fold(None::<User>, |acc, u| {
                            let mut acc = acc.unwrap_or_else(|| u.clone());
                            acc.merge(u);
                            Some(acc)
                        });
                    let Self {
                        tables: table_logs,
                        schemas,
                        hits,
                        victims,
                        ..
                    } = self;
                    let mut check = |log: &mut Log, table: Option<u32>| {
                        let n = hits.len();
                        // A table's change that `s` was told of at an
                        // earlier use is not reported again (see `Later`);
                        // a destructive one is judged at each use.
                        let me = log.users.iter_mut().rev().find(|u| u.id == s.id);
                        // A refused insert looks at every change again: the
                        // rows in its way may have come before its last use.
                        let seen = match (&me, table) {
                            (Some(u), Some(_)) if !blocked => u.seen,
                            _ => 0,
                        };
                        // Only a use reports what it finds (not `s`'s own
                        // destroys, nor anything after its end).
                        if let Some(u) = me.filter(|_| real_use) {
                            u.seen = log.seq;
                        }
                        // `seq` grows along the log (only the last entry
                        // changes), so the unseen entries are a suffix.
                        let window = log.muts_since(s.start);
                        let new = window.partition_point(|m| m.seq <= seen);
                        let (old, new) = window.split_at(new);
                        hits.extend(
                            old.iter()
                                .filter(|m| m.destructive)
                                .chain(new)
                                .filter(|m| during(m))
                                .map(|m| (m.clone(), table)),
                        );
                        let no_hits = hits.len() == n;
                        // 2. `s` changes them: every other running user is a victim.
                        let mut no_victims = None;
                        if mutation {
                            let n = victims.len();
                            // Running users, and users that ended after
                            // this statement began (it may have come first).
                            victims.extend(
                                log.users
                                    .iter()
                                    .filter(|v| {
                                        v.id != s.id
                                            && v.scn.end.get().is_none_or(|e| e >= a.started)
                                    })
                                    .cloned(),
                            );
                            no_victims = Some(victims.len() == n);
                        }
                        log.checked_by(s.id, no_hits, no_victims);
                    };
                    for &t in ids {
                        if let Some(log) = table_logs.get_mut(t as usize) {
                            check(log, Some(t));
                        }
                    }
                    if let Some(log) = schemas.get_mut(schema) {
                        check(log, None);
                    }
                }
                if s.is_active() {
                    let (write, read) = (a.op == Op::Write, (a.op == Op::Read).then_some(a.back));
                    if all {
                        slot(&mut self.schemas, schema).add_user(
                            s,
                            a.ts,
                            write,
                            read,
                            self.longest,
                        );
                    } else {
                        for &t in tables.iter() {
                            slot(&mut self.tables, t as usize).add_user(
                                s,
                                a.ts,
                                write,
                                read,
                                self.longest,
                            );
                        }
                    }
                }
                if mutation {
                    if destructive {
                        self.longest = self.longest.max(a.ts.saturating_sub(a.started));
                    }
                    let m = Mutation::new(s, a, destructive)
                        .serialized(cx.resources.serialized_writes(schema as u32));
                    if all {
                        slot(&mut self.schemas, schema).add_mutation(&m, &cx.active);
                    } else {
                        for &t in tables.iter() {
                            slot(&mut self.tables, t as usize).add_mutation(&m, &cx.active);
                        }
                    }
                }
                if !self.hits.is_empty() && real_use {
                    let read = a.op == Op::Read;
                    let later = self.later.entry(s.id).or_default();
                    // Drained, not taken: the scratch keeps its capacity.
                    for (m, table) in self.hits.drain(..) {
                        let mut u = Use::of(first.as_ref(), &m, Some((a.ts, read)));
                        u.read_full = read && a.back == ReadBack::Full;
                        u.after_insert = a.action == Action::DbInsert && a.op == Op::Write;
                        u.blocked = blocked;
                        u.met_after_cleanup = met_after_cleanup;
                        report(cx, &m, s, u);
                        if let (Some(table), false) = (table, m.destructive) {
                            later.entry((table, m.id)).or_insert(a.ts);
                        }
                    }
                }
                if !self.victims.is_empty() {
                    let mut victims = std::mem::take(&mut self.victims);
                    victims.sort_by_key(|v| v.id);
                    // One entry per victim over all the tables it touches:
                    // its read of one and its write to another both count.
                    victims.dedup_by(|later, kept| {
                        if later.id != kept.id {
                            return false;
                        }
                        kept.merge(later);
                        true
                    });
                    let m = Mutation::new(s, a, destructive)
                        .serialized(cx.resources.serialized_writes(schema as u32));
                    for v in &victims {
                        // A user of the state still running: it used it
                        // before; a later use of it reports again, stronger.
                        // But a read of it that ended while this statement
                        // ran, after its last write, may have come after it
                        // in the database: the trace cannot order the two.
                        // The write may fall inside the statement too (a
                        // TRUNCATE waiting on a lock takes effect when it
                        // gets it): all it takes is a write that ended
                        // before this statement did, and a read after both
                        // the write and this statement's start.
                        let overlap = v
                            .last_read
                            .filter(|&r| destructive && r >= m.started && r < m.at)
                            .zip(v.writes.map(|w| w.1).filter(|&w| w < m.at))
                            .filter(|&(r, w)| r > w);
                        if overlap.is_none() && !v.scn.is_active() {
                            continue;
                        }
                        let u = match overlap {
                            Some((read, wrote)) => Use {
                                before: Some(v.first),
                                after: Some((read, true)),
                                wrote_before: Some(wrote),
                                overlap: true,
                                // It returned every row: it came first.
                                read_full: v.last_read_full,
                                after_insert: false,
                                blocked: false,
                                met_after_cleanup: None,
                            },
                            None => Use {
                                before: Some(v.scn.start),
                                after: None,
                                wrote_before: None,
                                overlap: false,
                                read_full: false,
                                after_insert: false,
                                blocked: false,
                                met_after_cleanup: None,
                            },
                        };
                        report(cx, &m, &v.scn, u);
                    }
                    victims.clear();
                    self.victims = victims;
                }
            }
        }
    }
}
