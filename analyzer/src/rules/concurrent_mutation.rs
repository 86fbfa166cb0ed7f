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

use crate::model::{RuleId, Severity};
use crate::record::{to_time, FastMap, FileIdx, Micros, RowsHint};
use crate::rules::{
    slot, Access, Cx, Findings, Op, PairText, Pending, ProcResId, ReadBack, Replay, Rule, RuleMeta,
    Scn, Strength, Target,
};
use crate::state::Proc;

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
    occurrences: Some("change/use pairs: each change counted once per later use by the victim"),
};

#[derive(Clone)]
struct Mutation {
    scn: Rc<Scn>,
    /// `scn.id`, inline: compared on every access.
    id: usize,
    at: Micros,
    /// When the statement began (`at` is when it ended).
    started: Micros,
    action: Action,
    destructive: bool,
    /// A whole-table destroy (cleanup, truncate, drop).
    whole: bool,
    target: Target,
    rows: RowsHint,
    /// By when it surely saw what others had written: its end on a
    /// database that runs one write at a time, else its start.
    sees_from: Micros,
}

impl Mutation {
    /// Scenario `s`'s access `a` as a mutation.
    fn new(s: &Rc<Scn>, a: &Access<'_>, destructive: bool) -> Mutation {
        Mutation {
            scn: s.clone(),
            id: s.id,
            at: a.ts,
            started: a.started,
            action: a.action,
            destructive,
            whole: a.cleanup,
            target: a.target,
            rows: a.rows,
            sees_from: a.started,
        }
    }

    /// On a database that runs one write at a time.
    fn serialized(mut self, yes: bool) -> Mutation {
        if yes {
            self.sees_from = self.at;
        }
        self
    }
}

/// Users (with their first use) and recent mutations of one table (or of
/// a whole schema).
/// A scenario using a table: when it first did, and its writes to it.
#[derive(Clone)]
struct User {
    scn: Rc<Scn>,
    id: usize,
    first: Micros,
    /// First and last write (insert, update), if it wrote.
    writes: Option<(Micros, Micros)>,
    /// When its latest read ended.
    last_read: Option<Micros>,
    /// That read missed no row ([`ReadBack::Full`]).
    last_read_full: bool,
}

impl User {
    /// Folds `other` (the same scenario's use of another table) into this.
    fn merge(&mut self, other: &User) {
        self.first = self.first.min(other.first);
        self.writes = match (self.writes, other.writes) {
            (Some((f1, l1)), Some((f2, l2))) => Some((f1.min(f2), l1.max(l2))),
            (x, y) => x.or(y),
        };
        if other.last_read > self.last_read {
            self.last_read = other.last_read;
            self.last_read_full = other.last_read_full;
        }
    }

    fn wrote(&mut self, at: Micros) {
        self.writes = Some(
            self.writes
                .map_or((at, at), |(f, l)| (f.min(at), l.max(at))),
        );
    }
}

#[derive(Default)]
struct Log {
    /// Each user with its id (compared on every access without chasing
    /// the pointer), first use and writes.
    users: Vec<User>,
    /// Id of the last of `users`, inline: usually the one asking again.
    last_user: Option<usize>,
    muts: Vec<Mutation>,
    /// `muts` is in time order (always, unless a process's clock went
    /// backwards), so the ones since a time are a suffix.
    unsorted: bool,
    /// The scenario whose last full check saw this log, if no other
    /// scenario has added a user or a mutation since. Removals only shrink
    /// what a check finds, and a scenario's own additions never concern it,
    /// so what that check found empty is still empty for it.
    owner: Option<usize>,
    /// For `owner`: no mutation by another scenario during its window.
    no_hits: bool,
    /// For `owner`: no other user still running.
    no_victims: bool,
}

impl Log {
    /// The last mutation's scenario changed this again, at `at`: one entry
    /// per polluter, with the latest time (a victim that starts later must
    /// still see it) and the worst action.
    fn again(&mut self, at: Micros, action: Action, target: Target) {
        let n = self.muts.len();
        if n >= 2 && self.muts[n - 2].at > at {
            self.unsorted = true;
        }
        let Some(last) = self.muts.last_mut() else {
            return;
        };
        last.at = at;
        last.action = action;
        last.target = target;
    }

    /// `s` uses this at `at`; `write`: it inserts or updates. Users that
    /// ended within `linger` of `at` are kept: a destructive statement
    /// already running (as long as the longest seen so far) may still be
    /// recorded as having started before their last read.
    fn add_user(
        &mut self,
        s: &Rc<Scn>,
        at: Micros,
        write: bool,
        read: Option<ReadBack>,
        linger: Micros,
    ) {
        if let Some(u) = self.users.iter_mut().rev().find(|u| u.id == s.id) {
            if write {
                u.wrote(at);
            }
            if let Some(back) = read {
                u.last_read = Some(at);
                u.last_read_full = back == ReadBack::Full;
            }
            return;
        }
        self.touched_by(s.id);
        if self.users.len() >= 8 {
            let since = at.saturating_sub(linger);
            self.users
                .retain(|u| u.scn.end.get().is_none_or(|e| e >= since));
        }
        let mut u = User {
            scn: s.clone(),
            id: s.id,
            first: at,
            writes: None,
            last_read: read.map(|_| at),
            last_read_full: read == Some(ReadBack::Full),
        };
        if write {
            u.wrote(at);
        }
        self.users.push(u);
        self.last_user = Some(s.id);
    }

    fn user(&self, s: &Scn) -> Option<&User> {
        // Ids are unique here; the asking scenario is usually the newest.
        self.users.iter().rev().find(|u| u.id == s.id)
    }

    /// Scenario `id` changed this log: other scenarios' results may change.
    fn touched_by(&mut self, id: usize) {
        if self.owner != Some(id) {
            self.owner = None;
        }
    }

    /// Whether a check by scenario `id` would find nothing here (hits, and
    /// victims too if `mutation`), known without looking at the lists.
    fn quiet_for(&self, id: usize, mutation: bool) -> bool {
        self.owner == Some(id) && self.no_hits && (self.no_victims || !mutation)
    }

    /// Records what a full check by scenario `id` found here.
    fn checked_by(&mut self, id: usize, no_hits: bool, victims: Option<bool>) {
        let known = if self.owner == Some(id) {
            self.no_victims
        } else {
            false
        };
        self.owner = Some(id);
        self.no_hits = no_hits;
        self.no_victims = victims.map_or(known, |none| none);
    }

    /// The mutations at or after `t`, in order.
    fn muts_since(&self, t: Micros) -> &[Mutation] {
        if self.unsorted {
            return &self.muts;
        }
        // From the end: usually none or one is that recent.
        let from = self
            .muts
            .iter()
            .rposition(|m| m.at < t)
            .map_or(0, |i| i + 1);
        &self.muts[from..]
    }

    fn add_mutation(&mut self, m: &Mutation, active: &[Rc<Scn>]) {
        self.touched_by(m.id);
        // Repeated non-destructive changes of one scenario are one entry;
        // each destructive one is kept, as the first one after a victim's
        // write is its likely cause.
        if self
            .muts
            .last()
            .is_some_and(|l| l.id == m.id && !l.destructive && !m.destructive)
        {
            self.again(m.at, m.action, m.target);
            return;
        }
        if self.muts.len() >= 16 {
            // Mutations older than every active scenario cannot hit anyone new.
            let floor = active.iter().map(|s| s.start).min().unwrap_or(Micros::MAX);
            self.muts.retain(|x| x.at >= floor);
        }
        if self.muts.last().is_some_and(|l| l.at > m.at) {
            self.unsorted = true;
        }
        self.muts.push(m.clone());
    }
}

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
                    log.again(a.ts, a.action, a.target);
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
    hits: Vec<Mutation>,
    victims: Vec<User>,
    /// The longest destructive statement so far (`ts` − its start): how
    /// long an ended user may still matter to one in flight.
    longest: Micros,
    /// In-memory state per process: its value now (a fingerprint, `None`
    /// unknown), and the value each scenario found before it first changed
    /// it (dropped when it puts that value back).
    values: FastMap<(FileIdx, ProcResId), Option<u64>>,
    found: FastMap<(FileIdx, ProcResId, usize), Option<u64>>,
}

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
        _ => Strength::ChangedThenUsed,
    }
}

/// What one occurrence's explanation and `why` are built from, kept in
/// its pending finding instead of the text: most findings are folded into
/// hazard groups and their text is never shown, so it is built only for
/// those that reach the report ([`crate::rules::PairText::render`]).
#[derive(Clone, Copy)]
pub struct MutationText {
    /// When the mutation ended, and began.
    at: Micros,
    started: Micros,
    action: Action,
    level: Strength,
    /// [`Use`], for the mutation.
    before: Option<Micros>,
    after: Option<(Micros, bool)>,
    wrote_before: Option<Micros>,
    overlap: bool,
}

impl MutationText {
    /// The explanation (polluter `a`, victim `b`, on `resource`) and the
    /// strength's reason in words.
    pub(crate) fn render(
        &self,
        a: &Scn,
        b: &Scn,
        resource: &str,
        procs: &[Proc],
    ) -> (String, String) {
        let describe = |s: &Scn| {
            let p = &procs[s.file as usize];
            format!(
                "\"{}: {}\" ({}, pid {})",
                s.feature,
                s.name,
                p.label(),
                p.pid
            )
        };
        let explanation = format!(
            "{} ran {} on {} at {} while {} (started {}) was running and uses it.",
            describe(a),
            self.action,
            resource,
            to_time(self.at).format("%H:%M:%S%.6f"),
            describe(b),
            to_time(b.start).format("%H:%M:%S%.6f"),
        );
        (explanation, self.why())
    }

    /// Why [`level`] is what it is, in words.
    fn why(&self) -> String {
        let hms = |t: Micros| to_time(t).format("%H:%M:%S%.6f").to_string();
        let action = self.action;
        match (self.level, self.before, self.after) {
            (Strength::RemovedNothing, _, _) => {
                format!("{action} removed 0 rows: it cannot have removed the victim's data")
            }
            (Strength::DestroyedAfterWrite, _, Some((a, _))) if self.overlap => format!(
                "{} ran from {} to {}; the victim's last write ended at {} and its read at {}, so the database may have run the {} between them (the trace cannot order overlapping statements)",
                action,
                hms(self.started),
                hms(self.at),
                hms(self.wrote_before.unwrap_or(self.started)),
                hms(a),
                action
            ),
            (Strength::DestroyedAfterWrite, _, Some((a, _))) => format!(
                "{} after the victim's last write (at {}) and before it read the state back (at {})",
                action,
                hms(self.wrote_before.unwrap_or(self.at)),
                hms(a)
            ),
            (_, _, None) => format!("the victim used it only before the {action}"),
            (Strength::DestroyedInWindow, Some(b), Some((a, _))) => format!(
                "{} inside the victim's window: it used the state at {} and again at {}",
                action,
                hms(b),
                hms(a)
            ),
            (Strength::DestroyedReadFull, _, Some((a, _))) => format!(
                "{} before the victim read the state (at {}), and that read returned as many rows as the same query ever had: it removed nothing the victim reads",
                action,
                hms(a)
            ),
            (Strength::DestroyedBeforeInsert, _, Some((a, _))) => format!(
                "{} before the victim first used the state, with an insert (at {}): it removed nothing the victim had written or read",
                action,
                hms(a)
            ),
            (Strength::DestroyedThenUsed, _, Some((a, _))) => format!(
                "{} before the victim first used the state (at {}): it removed nothing the victim had written",
                action,
                hms(a)
            ),
            (_, _, Some((a, read))) => format!(
                "non-destructive {}; the victim {} it afterwards (at {})",
                action,
                if read { "read" } else { "only wrote" },
                hms(a)
            ),
        }
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
    if cx
        .findings
        .count_again(key, severity, level, (destructive, read_after), use_at)
    {
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
    // A destroy, or an update of rows others wrote (updates of its own rows
    // never get here) that the victim used afterwards: it changed what the
    // victim read. A plain insert explains nothing.
    p.can_explain = destructive || action == Action::DbUpdate && level >= Strength::ChangedThenUsed;
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

impl Rule for ConcurrentMutation {
    fn id(&self) -> RuleId {
        RuleId::ConcurrentMutation
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn on_access(&mut self, cx: &mut Cx<'_>, a: &Access<'_>) {
        let Some(s) = a.scn else { return };
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
                    let mut check = |log: &mut Log| {
                        let n = hits.len();
                        hits.extend(
                            log.muts_since(s.start)
                                .iter()
                                .filter(|m| during(m))
                                .cloned(),
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
                            check(log);
                        }
                    }
                    if let Some(log) = schemas.get_mut(schema) {
                        check(log);
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
                // The victim's own cleanups, deletes and resets, and what it
                // does after its end (after-hooks), depend on nothing: they
                // are not uses.
                let real_use = s.is_active() && a.op != Op::Destroy;
                if !self.hits.is_empty() && real_use {
                    let read = a.op == Op::Read;
                    // Drained, not taken: the scratch keeps its capacity.
                    for m in self.hits.drain(..) {
                        let mut u = Use::of(first.as_ref(), &m, Some((a.ts, read)));
                        u.read_full = read && a.back == ReadBack::Full;
                        u.after_insert = a.action == Action::DbInsert;
                        report(cx, &m, s, u);
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
                            },
                            None => Use {
                                before: Some(v.scn.start),
                                after: None,
                                wrote_before: None,
                                overlap: false,
                                read_full: false,
                                after_insert: false,
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
