//! `concurrent-mutation`: scenario A changes state while scenario B, which
//! uses the same state, is running. Shared state (database tables) is
//! visible to every process; process state (JWT secret, config) only to
//! scenarios of the same process, all of which are taken to use it (an
//! in-memory secret signs and checks every request).

use std::rc::Rc;

use state_tracer::format::Action;

use crate::analysis::{Access, Cx, Op, Scn};
use crate::findings::Pending;
use crate::model::{RuleId, Severity};
use crate::record::{to_time, Micros};
use crate::resources::Target;
use crate::rules::{slot, Rule};

#[derive(Clone)]
struct Mutation {
    scn: Rc<Scn>,
    at: Micros,
    action: Action,
    destructive: bool,
    target: Target,
}

/// Users and recent mutations of one table (or of a whole schema).
#[derive(Default)]
struct Log {
    users: Vec<Rc<Scn>>,
    muts: Vec<Mutation>,
}

impl Log {
    fn add_user(&mut self, s: &Rc<Scn>) {
        if self.users.iter().rev().any(|u| u.id == s.id) {
            return;
        }
        if self.users.len() >= 8 {
            self.users.retain(|u| u.is_active());
        }
        self.users.push(s.clone());
    }

    fn add_mutation(&mut self, m: Mutation, active: &[Rc<Scn>]) {
        if let Some(last) = self.muts.last_mut() {
            if last.scn.id == m.scn.id {
                // One entry per polluter: the latest time (a victim that
                // starts later must still see it) and the worst action.
                last.at = m.at;
                if m.destructive || !last.destructive {
                    last.action = m.action;
                    last.destructive = m.destructive || last.destructive;
                    last.target = m.target;
                }
                return;
            }
        }
        if self.muts.len() >= 16 {
            // Mutations older than every active scenario cannot hit anyone new.
            let floor = active.iter().map(|s| s.start).min().unwrap_or(Micros::MAX);
            self.muts.retain(|x| x.at >= floor);
        }
        self.muts.push(m);
    }
}

#[derive(Default)]
pub struct ConcurrentMutation {
    tables: Vec<Log>,
    schemas: Vec<Log>,
    /// Scratch buffers reused across records (no allocation per record).
    hits: Vec<Mutation>,
    victims: Vec<Rc<Scn>>,
}

fn report(
    cx: &mut Cx,
    polluter: &Rc<Scn>,
    victim: &Rc<Scn>,
    at: Micros,
    action: Action,
    destructive: bool,
    target: &Target,
) {
    let resource = cx.resources.label(target);
    let explanation = format!(
        "{} ran {} on {} at {} while {} (started {}) was running and uses it.",
        cx.describe(polluter),
        action,
        resource,
        to_time(at).format("%H:%M:%S%.6f"),
        cx.describe(victim),
        to_time(victim.start).format("%H:%M:%S%.6f"),
    );
    let severity = if destructive {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut p = Pending::new(
        RuleId::ConcurrentMutation,
        severity,
        at,
        resource,
        explanation,
    );
    p.error_if_victim_failed = true;
    p.action = Some(action);
    p.polluter = Some(polluter.clone());
    p.victim = Some(victim.clone());
    cx.findings.add(p);
}

impl Rule for ConcurrentMutation {
    fn id(&self) -> RuleId {
        RuleId::ConcurrentMutation
    }

    fn on_access(&mut self, cx: &mut Cx, a: &Access<'_>) {
        let Some(s) = a.scn else { return };
        let destructive = a.op == Op::Destroy;
        match &a.target {
            Target::Process(_) => {
                if !a.mutation() {
                    return;
                }
                self.victims.clear();
                self.victims.extend(
                    cx.procs[a.file as usize]
                        .active
                        .iter()
                        .filter(|v| v.id != s.id)
                        .cloned(),
                );
                for v in std::mem::take(&mut self.victims) {
                    report(cx, s, &v, a.ts, a.action, destructive, &a.target);
                }
            }
            Target::Tables { schema, tables } => {
                let schema = *schema as usize;
                let all = tables.is_empty();
                let ids: &[u32] = if all {
                    cx.resources.schema_tables(schema as u32)
                } else {
                    tables
                };
                // 1. `s` uses these tables: was any of them changed by someone
                //    else while `s` was running?
                let during = |m: &Mutation| {
                    m.scn.id != s.id
                        && m.at >= s.start
                        && !matches!(s.end.get(), Some(e) if m.at > e)
                };
                self.hits.clear();
                for &t in ids {
                    if let Some(log) = self.tables.get(t as usize) {
                        self.hits
                            .extend(log.muts.iter().filter(|m| during(m)).cloned());
                    }
                }
                if let Some(log) = self.schemas.get(schema) {
                    self.hits
                        .extend(log.muts.iter().filter(|m| during(m)).cloned());
                }
                // 2. `s` changes them: every other running user is a victim.
                self.victims.clear();
                if a.mutation() {
                    for &t in ids {
                        if let Some(log) = self.tables.get(t as usize) {
                            self.victims.extend(
                                log.users
                                    .iter()
                                    .filter(|v| v.id != s.id && v.is_active())
                                    .cloned(),
                            );
                        }
                    }
                    if let Some(log) = self.schemas.get(schema) {
                        self.victims.extend(
                            log.users
                                .iter()
                                .filter(|v| v.id != s.id && v.is_active())
                                .cloned(),
                        );
                    }
                }
                if s.is_active() {
                    if all {
                        slot(&mut self.schemas, schema).add_user(s);
                    } else {
                        for &t in tables.iter() {
                            slot(&mut self.tables, t as usize).add_user(s);
                        }
                    }
                }
                if a.mutation() {
                    let m = Mutation {
                        scn: s.clone(),
                        at: a.ts,
                        action: a.action,
                        destructive,
                        target: a.target.clone(),
                    };
                    if all {
                        slot(&mut self.schemas, schema).add_mutation(m, &cx.active);
                    } else {
                        for &t in tables.iter() {
                            slot(&mut self.tables, t as usize).add_mutation(m.clone(), &cx.active);
                        }
                    }
                }
                if !self.hits.is_empty() {
                    for m in std::mem::take(&mut self.hits) {
                        report(cx, &m.scn, s, m.at, m.action, m.destructive, &m.target);
                    }
                }
                if !self.victims.is_empty() {
                    let mut victims = std::mem::take(&mut self.victims);
                    victims.sort_by_key(|v| v.id);
                    victims.dedup_by_key(|v| v.id);
                    for v in &victims {
                        report(cx, s, v, a.ts, a.action, destructive, &a.target);
                    }
                }
            }
        }
    }
}
