//! What `concurrent-mutation` remembers per table (and per schema): the
//! scenarios using it, with their first use, writes and last read, and
//! the recent changes to it, so each access finds who changed what it uses
//! and whom its own change may hit without scanning the run.

use std::rc::Rc;

use state_tracer_format::Action;

use crate::input::record::{Micros, RowsHint};
use crate::rules::{Access, ReadBack, Scn, Target};

#[derive(Clone)]
pub(super) struct Mutation {
    pub(super) scn: Rc<Scn>,
    /// `scn.id`, inline: compared on every access.
    pub(super) id: usize,
    pub(super) at: Micros,
    /// When the statement began (`at` is when it ended).
    pub(super) started: Micros,
    pub(super) action: Action,
    pub(super) destructive: bool,
    /// A whole-table destroy (cleanup, truncate, drop).
    pub(super) whole: bool,
    pub(super) target: Target,
    pub(super) rows: RowsHint,
    /// By when it surely saw what others had written: its end on a
    /// database that runs one write at a time, else its start.
    pub(super) sees_from: Micros,
    /// The log's [`Log::seq`] when this entry was added or last changed
    /// ([`Log::again`]): a user that looked since has seen it.
    pub(super) seq: u64,
    /// An update or upsert ([`Access::overwrites`]).
    pub(super) overwrites: bool,
}

impl Mutation {
    /// Scenario `s`'s access `a` as a mutation.
    pub(super) fn new(s: &Rc<Scn>, a: &Access<'_>, destructive: bool) -> Mutation {
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
            seq: 0,
            overwrites: a.overwrites,
        }
    }

    /// On a database that runs one write at a time.
    pub(super) fn serialized(mut self, yes: bool) -> Mutation {
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
pub(super) struct User {
    pub(super) scn: Rc<Scn>,
    pub(super) id: usize,
    pub(super) first: Micros,
    /// First and last write (insert, update), if it wrote.
    pub(super) writes: Option<(Micros, Micros)>,
    /// When its latest read ended.
    pub(super) last_read: Option<Micros>,
    /// That read missed no row ([`ReadBack::Full`]).
    pub(super) last_read_full: bool,
    /// When its latest use (read or write) ended.
    pub(super) last_use: Micros,
    /// The log's [`Log::seq`] when it last looked for others' changes:
    /// entries up to it were reported to it then (see [`Mutation::seq`]).
    pub(super) seen: u64,
}

impl User {
    /// Folds `other` (the same scenario's use of another table) into this.
    pub(super) fn merge(&mut self, other: &User) {
        self.first = self.first.min(other.first);
        self.writes = match (self.writes, other.writes) {
            (Some((f1, l1)), Some((f2, l2))) => Some((f1.min(f2), l1.max(l2))),
            (x, y) => x.or(y),
        };
        if other.last_read > self.last_read {
            self.last_read = other.last_read;
            self.last_read_full = other.last_read_full;
        }
        self.last_use = self.last_use.max(other.last_use);
    }

    pub(super) fn wrote(&mut self, at: Micros) {
        self.last_use = self.last_use.max(at);
        self.writes = Some(
            self.writes
                .map_or((at, at), |(f, l)| (f.min(at), l.max(at))),
        );
    }
}

#[derive(Default)]
pub(super) struct Log {
    /// Each user with its id (compared on every access without chasing
    /// the pointer), first use and writes.
    pub(super) users: Vec<User>,
    /// Id of the last of `users`, inline: usually the one asking again.
    pub(super) last_user: Option<usize>,
    pub(super) muts: Vec<Mutation>,
    /// `muts` is in time order (always, unless a process's clock went
    /// backwards), so the ones since a time are a suffix.
    pub(super) unsorted: bool,
    /// The scenario whose last full check saw this log, if no other
    /// scenario has added a user or a mutation since. Removals only shrink
    /// what a check finds, and a scenario's own additions never concern it,
    /// so what that check found empty is still empty for it.
    pub(super) owner: Option<usize>,
    /// For `owner`: no mutation by another scenario during its window.
    pub(super) no_hits: bool,
    /// For `owner`: no other user still running.
    pub(super) no_victims: bool,
    /// Counts additions and changes of `muts` (see [`Mutation::seq`]).
    pub(super) seq: u64,
}

impl Log {
    /// The last mutation's scenario changed this again, at `at`: one entry
    /// per polluter, with the latest time (a victim that starts later must
    /// still see it) and the worst action.
    pub(super) fn again(&mut self, at: Micros, action: Action, target: Target, overwrites: bool) {
        let n = self.muts.len();
        if n >= 2 && self.muts[n - 2].at > at {
            self.unsorted = true;
        }
        let Some(last) = self.muts.last_mut() else {
            return;
        };
        self.seq += 1;
        last.seq = self.seq;
        last.at = at;
        last.overwrites |= overwrites;
        last.action = action;
        last.target = target;
    }

    /// `s` uses this at `at`; `write`: it inserts or updates. Users that
    /// ended within `linger` of `at` are kept: a destructive statement
    /// already running (as long as the longest seen so far) may still be
    /// recorded as having started before their last read.
    pub(super) fn add_user(
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
            if read.is_some() {
                u.last_use = u.last_use.max(at);
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
            // A destroy is no use (a write sets it below), and reports
            // nothing it finds.
            last_use: if read.is_some() { at } else { 0 },
            seen: if write || read.is_some() { self.seq } else { 0 },
        };
        if write {
            u.wrote(at);
        }
        self.users.push(u);
        self.last_user = Some(s.id);
    }

    pub(super) fn user(&self, s: &Scn) -> Option<&User> {
        // Ids are unique here; the asking scenario is usually the newest.
        self.users.iter().rev().find(|u| u.id == s.id)
    }

    /// Scenario `id` changed this log: other scenarios' results may change.
    pub(super) fn touched_by(&mut self, id: usize) {
        if self.owner != Some(id) {
            self.owner = None;
        }
    }

    /// Whether a check by scenario `id` would find nothing here (hits, and
    /// victims too if `mutation`), known without looking at the lists.
    pub(super) fn quiet_for(&self, id: usize, mutation: bool) -> bool {
        self.owner == Some(id) && self.no_hits && (self.no_victims || !mutation)
    }

    /// Records what a full check by scenario `id` found here.
    pub(super) fn checked_by(&mut self, id: usize, no_hits: bool, victims: Option<bool>) {
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
    pub(super) fn muts_since(&self, t: Micros) -> &[Mutation] {
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

    pub(super) fn add_mutation(&mut self, m: &Mutation, active: &[Rc<Scn>]) {
        self.touched_by(m.id);
        // Repeated non-destructive changes of one scenario are one entry;
        // each destructive one is kept, as the first one after a victim's
        // write is its likely cause.
        if self
            .muts
            .last()
            .is_some_and(|l| l.id == m.id && !l.destructive && !m.destructive)
        {
            self.again(m.at, m.action, m.target, m.overwrites);
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
        self.seq += 1;
        let mut m = m.clone();
        m.seq = self.seq;
        self.muts.push(m);
    }
}
