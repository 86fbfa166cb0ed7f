//! The one interpretation of a run: follows scenarios, slots, schemas,
//! resources and mutations once per record, for every consumer.
//!
//! It exists so that the findings engine (`crate::engine::analysis`), the HTML
//! page ([`crate::output::render::html::lod`]) and the Chrome export
//! ([`crate::output::export::chrome`]) cannot disagree about a record: which
//! scenario it belongs to, on which slot (track) that scenario is drawn,
//! which resource it touches (schema tracking applied, in-memory SQLite
//! qualified by its process) and whether it changes state others can see.
//! Each record goes through [`Tracker::track`] once and comes out as a
//! [`Tracked`]: the record plus its interpretation. The engine hands it to
//! the rules, then to the [`crate::Tap`]s that draw the run.
//!
//! The tracker also keeps the row ledger (`crate::engine::rows::RowLedger`) that
//! tells a scenario's own rows from others', updated by [`Tracker::settle`]
//! once the rules have judged an access against the rows as they were.
//!
//! Memory is bounded by what later records can still refer to (active
//! scenarios, a few ended ones per process for their after-hooks, distinct
//! resources), never by the number of records.

use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;
use std::hash::BuildHasher as _;
use std::rc::Rc;
use std::sync::Arc;

use state_tracer_format::{default_schema, Action, ActionKind, Outcome, Scope};

use crate::engine::resources::{Resources, Target};
use crate::engine::rows::{Owner, RowLedger, Writer};
use crate::engine::state::{Proc, Resolved, Scn, RES_CACHE};
use crate::input::discover::SourceFile;
use crate::input::read::FileEnd;
use crate::input::record::{FastMap, FileIdx, Micros, Rec, RecKind};
use crate::input::sql;
use crate::model::ScenarioOutcome;
use crate::rules::{Access, Op, ReadBack, RunView};

/// What a record was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A file's footer (no scenario, no state).
    Footer,
    /// A scenario started (the first record of its bar).
    Start,
    /// A scenario ended (its first `SCENARIO_END`).
    End,
    /// Any other lifecycle record: steps, repeated ends.
    Lifecycle,
    /// A state action (DB, schema, transaction, secret, config, HTTP, custom).
    Action,
}

/// How an action changes what it touches, resolved once.
#[derive(Debug, Clone, Copy)]
struct Interp {
    target: Target,
    op: Op,
    cleanup: bool,
    reset: bool,
    own_rows: bool,
    back: ReadBack,
    inert: bool,
    overwrites: bool,
    seed: bool,
    missing: bool,
}

/// One record and its interpretation.
pub struct Tracked<'r> {
    pub rec: &'r Rec,
    pub step: Step,
    /// Its scenario (after-hooks belong to their ended scenario).
    pub scn: Option<Rc<Scn>>,
    /// Time of the previous record of its process (for clock anomalies).
    pub prev: Micros,
    interp: Option<Interp>,
}

impl Tracked<'_> {
    /// The normalised access, for actions that touch shared or in-process state.
    #[inline]
    pub fn access(&self) -> Option<Access<'_>> {
        let i = self.interp?;
        let rec = self.rec;
        let value = match i.target {
            Target::Process(_) => rec
                .details()
                .map(|d| foldhash::fast::FixedState::default().hash_one(d)),
            Target::Tables { .. } => None,
        };
        let started = rec.duration_us().map_or(rec.ts, |d| {
            rec.ts.saturating_sub(d.min(i64::MAX as u64) as i64)
        });
        Some(Access {
            scn: self.scn.as_ref(),
            file: self.rec.file,
            ts: self.rec.ts,
            action: self.rec.action,
            target: i.target,
            op: i.op,
            cleanup: i.cleanup,
            reset: i.reset,
            rows: self.rec.rows_hint,
            own_rows: i.own_rows,
            inert: i.inert,
            overwrites: i.overwrites,
            seed: i.seed,
            missing: i.missing,
            value,
            started,
            stmt: self.rec.stmt,
            back: i.back,
            sql: rec.details(),
        })
    }

    /// The resolved resource, if the action is an access.
    pub fn target(&self) -> Option<Target> {
        self.interp.map(|i| i.target)
    }

    /// Whether it changes state visible to other scenarios (a failed
    /// statement changes nothing).
    pub fn mutation(&self) -> bool {
        self.interp.is_some_and(|i| i.op != Op::Read)
    }

    /// The resource as the outputs show it: resolved if it is an access,
    /// else as recorded.
    pub fn resource_label(&self, track: &Tracker) -> Option<String> {
        match self.target() {
            Some(t) => Some(track.view().resources.label(&t)),
            None => self.rec.resource.as_ref().map(|r| r.to_string()),
        }
    }
}

/// Ended scenarios kept reachable per process for their after-hooks.
const ENDED_KEPT: usize = 64;

/// Follows a run record by record; see the module docs.
pub struct Tracker {
    run: RunView,
    next_id: usize,
    /// Per table and query ([`Rec::stmt`]): the most rows it returned so
    /// far, in any scenario ([`ReadBack`]).
    returned: FastMap<(u32, u16), u64>,
}

impl Tracker {
    pub fn new(
        run_id: &str,
        files: &[SourceFile],
        other_runs: Vec<String>,
        run_selected: bool,
    ) -> Tracker {
        let procs = files
            .iter()
            .enumerate()
            .map(|(i, f)| Proc {
                file: i as FileIdx,
                pid: f.pid,
                header_label: f.label.clone(),
                format: f.format,
                path: f.display(),
                argv: f.argv.clone(),
                rerun: f.rerun.clone(),
                cwd: f.cwd.clone(),
                env: f.env.clone(),
                first_feature: None,
                by_id: FastMap::default(),
                last_by_id: None,
                by_name: FastMap::default(),
                ended_ids: VecDeque::new(),
                schema: None,
                active: Vec::new(),
                order: Vec::new(),
                first: None,
                last: None,
                prev_ts: Micros::MIN,
                end: FileEnd::default(),
                res_cache: [Resolved {
                    res: std::ptr::null(),
                    schema: 0,
                    target: Target::Process(0),
                }; RES_CACHE],
                res_len: 0,
                res_alive: Vec::new(),
                slots: Vec::new(),
            })
            .collect();
        Tracker {
            run: RunView {
                procs,
                resources: Resources::default(),
                active: Vec::new(),
                isolation_seen: false,
                rows: RowLedger::default(),
                run_id: run_id.to_owned(),
                other_runs,
                run_selected,
            },
            next_id: 0,
            returned: FastMap::default(),
        }
    }

    /// What the rules see of the run (read-only).
    pub fn view(&self) -> &RunView {
        &self.run
    }

    /// Number of slots process `file` has used so far (at least 1).
    pub fn slots(&self, file: FileIdx) -> u32 {
        self.run.procs[file as usize].slots.len().max(1) as u32
    }

    /// Last record time of process `file`.
    pub fn last(&self, file: FileIdx) -> Option<Micros> {
        self.run.procs[file as usize].last
    }

    /// Scenarios started and not ended, in start order.
    pub fn open(&self) -> &[Rc<Scn>] {
        &self.run.active
    }

    /// Whether more than one process touched the target's schema so far
    /// (always true for in-process state, shared by the scenarios of one
    /// process). Sharing is judged per schema: a cleanup of all tables and
    /// a read of one table of the same schema touch the same state.
    pub fn shared(&self, target: Target) -> bool {
        match target {
            Target::Process(_) => true,
            Target::Tables { schema, .. } => self.run.resources.shared(schema),
        }
    }

    /// Follows one record, in merge order. Inlined into the engine's
    /// `feed` (its one caller per record), so the interpretation is not
    /// copied through memory on the way.
    #[inline(always)]
    pub fn track<'r>(&mut self, rec: &'r Rec) -> Tracked<'r> {
        let file = rec.file as usize;
        let p = &mut self.run.procs[file];
        p.first.get_or_insert(rec.ts);
        p.last = Some(p.last.map_or(rec.ts, |l| l.max(rec.ts)));
        if p.first_feature.is_none() {
            p.first_feature = rec.feature().cloned();
        }
        if rec.kind == RecKind::Footer {
            p.end.footer = true;
            return Tracked {
                rec,
                step: Step::Footer,
                scn: None,
                prev: p.prev_ts,
                interp: None,
            };
        }
        let (step, scn) = match rec.action {
            Action::ScenarioStart => (Step::Start, Some(self.start(rec))),
            Action::ScenarioEnd => match self.attribute(rec) {
                Some(s) if s.is_active() => {
                    self.end(rec, &s);
                    (Step::End, Some(s))
                }
                other => (Step::Lifecycle, other),
            },
            _ if matches!(rec.action.kind(), ActionKind::Lifecycle) => {
                (Step::Lifecycle, self.attribute(rec))
            }
            _ => (Step::Action, self.attribute(rec)),
        };
        if let Some(s) = &scn {
            match rec.action {
                Action::StepStart => s.step_start.set(Some(rec.ts)),
                Action::StepEnd if rec.outcome == Some(Outcome::Failed) => {
                    let from = s.step_start.get().unwrap_or(s.start);
                    s.failed_step.set(Some((from, rec.ts)));
                    if let Some(e) = rec.error() {
                        let _ = s.failure.set(e.into());
                    }
                }
                _ => {}
            }
            if rec.ts > s.last.get() {
                s.last.set(rec.ts);
            }
        }
        let prev = std::mem::replace(&mut self.run.procs[file].prev_ts, rec.ts);
        let interp = if step == Step::Action {
            self.schema_tracking(rec, scn.as_ref());
            self.interpret(rec, scn.as_ref())
        } else {
            None
        };
        Tracked {
            rec,
            step,
            scn,
            prev,
            interp,
        }
    }

    /// Keeps the row ledger up to date once the consumers have judged the
    /// access (against the rows as they were before it).
    pub fn settle(&mut self, a: &Access<'_>) {
        let Target::Tables { schema, set } = a.target else {
            return;
        };
        if let Some(s) = a.scn {
            s.last_schema.set(Some(schema));
        }
        // Reads, updates and DDL change no counts: the usual access returns here.
        // (`ALTER TABLE … DROP/RENAME` breaks others' statements but
        // removes no row.)
        let insert = a.op == Op::Write && a.action == Action::DbInsert;
        let removes = a.op == Op::Destroy && (a.action != Action::DbDdl || a.cleanup);
        if !(insert || removes) {
            return;
        }
        let run = &mut self.run;
        let tables = match run.resources.tables_of(set) {
            [] => run.resources.schema_tables(schema),
            some => some,
        };
        // A seed's rows are no one scenario's own (see `input::sql`).
        let owner = if a.seed {
            Owner::Outside(a.file)
        } else {
            a.owner()
        };
        match (a.op, a.action) {
            (Op::Destroy, _) if a.cleanup => tables.iter().for_each(|&t| run.rows.cleared(t)),
            (Op::Destroy, _) => tables
                .iter()
                .for_each(|&t| run.rows.deleted(t, owner, a.rows)),
            (Op::Write, Action::DbInsert) => {
                for &t in run.resources.tables_of(set) {
                    if let Some(s) = a.scn {
                        s.inserted.set(s.inserted.get() | 1 << (t % 64));
                    }
                    run.rows.inserted(
                        t,
                        owner,
                        Writer {
                            scn: a.scn.filter(|_| !a.seed),
                            file: a.file,
                            at: a.ts,
                            action: a.action,
                            rows: a.rows,
                        },
                    );
                }
            }
            _ => {}
        }
    }

    /// The files ended (footers, truncation): the view as the end-of-run
    /// rules see it.
    pub fn finish(&mut self, ends: Vec<FileEnd>) -> &RunView {
        for (i, e) in ends.into_iter().enumerate() {
            let footer = self.run.procs[i].end.footer || e.footer;
            self.run.procs[i].end = FileEnd { footer, ..e };
        }
        &self.run
    }

    fn start(&mut self, rec: &Rec) -> Rc<Scn> {
        let feature = rec.feature().cloned().unwrap_or_else(|| Arc::from(""));
        let name = rec.scenario().cloned().unwrap_or_else(|| Arc::from(""));
        let p = &mut self.run.procs[rec.file as usize];
        // The lowest slot free by this start, else a new one: scenarios
        // that overlap never share a slot.
        let slot = match p
            .slots
            .iter()
            .position(|f| f.is_some_and(|free| free <= rec.ts))
        {
            Some(i) => i,
            None => {
                p.slots.push(None);
                p.slots.len() - 1
            }
        };
        p.slots[slot] = None;
        let s = Rc::new(Scn {
            id: self.next_id,
            file: rec.file,
            slot: slot as u32,
            feature: feature.clone(),
            name: name.clone(),
            start: rec.ts,
            end: Cell::new(None),
            last: Cell::new(rec.ts),
            outcome: Cell::new(None),
            schema: Cell::new(None),
            step_start: Cell::new(None),
            failed_step: Cell::new(None),
            failure: OnceCell::new(),
            inserted: Cell::new(0),
            last_schema: Cell::new(None),
            order_pos: p.order.len(),
        });
        self.next_id += 1;
        p.order
            .push((feature.clone(), name.clone(), ScenarioOutcome::Unfinished));
        match rec.scenario_id() {
            Some(id) => {
                p.by_id.insert(id, s.clone());
                if p.last_by_id.as_ref().is_some_and(|l| l.0 == id) {
                    p.last_by_id = None;
                }
            }
            None => {
                // Names only identify scenarios without an id; keep this map
                // small so memory does not grow with the number of scenarios.
                if p.by_name.len() >= 256 {
                    p.by_name.retain(|_, s| s.is_active());
                }
                p.by_name.insert((feature, name), s.clone());
            }
        }
        p.active.push(s.clone());
        self.run.active.push(s.clone());
        s
    }

    fn end(&mut self, rec: &Rec, s: &Rc<Scn>) {
        s.end.set(Some(rec.ts));
        if let Some(e) = rec.error() {
            let _ = s.failure.set(e.into());
        }
        s.outcome
            .set(Some(rec.outcome.unwrap_or(if rec.error().is_some() {
                Outcome::Failed
            } else {
                Outcome::Passed
            })));
        let p = &mut self.run.procs[s.file as usize];
        p.order[s.order_pos].2 = s.outcome();
        p.active.retain(|a| a.id != s.id);
        if let Some(free) = p.slots.get_mut(s.slot as usize) {
            *free = Some(rec.ts.max(s.start));
        }
        if let Some(id) = rec.scenario_id() {
            // Keep a few ended scenarios reachable for their after-hooks.
            p.ended_ids.push_back(id);
            if p.ended_ids.len() > ENDED_KEPT {
                if let Some(old) = p.ended_ids.pop_front() {
                    if let Some(gone) = p.by_id.remove(&old) {
                        self.run.rows.forget(Owner::Scenario(gone.id));
                    }
                    if p.last_by_id.as_ref().is_some_and(|l| l.0 == old) {
                        p.last_by_id = None;
                    }
                }
            }
        }
        self.run.active.retain(|a| a.id != s.id);
    }

    /// The scenario a record belongs to: by id (v1), else by names; ended
    /// scenarios still match, so after-hooks are attributed to them.
    fn attribute(&mut self, rec: &Rec) -> Option<Rc<Scn>> {
        let p = &mut self.run.procs[rec.file as usize];
        if let Some(id) = rec.scenario_id() {
            if let Some((_, s)) = p.last_by_id.as_ref().filter(|l| l.0 == id) {
                return Some(s.clone());
            }
            if let Some(s) = p.by_id.get(&id) {
                p.last_by_id = Some((id, s.clone()));
                return Some(s.clone());
            }
        }
        match (rec.feature(), rec.scenario()) {
            (Some(f), Some(n)) => p.by_name.get(&(f.clone(), n.clone())).cloned(),
            (None, Some(n)) => p.by_name.get(&(Arc::from(""), n.clone())).cloned(),
            _ => None,
        }
    }

    /// Schema switches and drops. Schemas are keyed by database and name
    /// (an in-memory SQLite database by its process too), so a drop on one
    /// database leaves a switch on another alone; a drop ends the schema
    /// for the scenario and for its process, whichever had switched to it.
    fn schema_tracking(&mut self, rec: &Rec, scn: Option<&Rc<Scn>>) {
        if !matches!(
            rec.action,
            Action::SchemaCreate | Action::SchemaSet | Action::SchemaDrop
        ) {
            return;
        }
        let Some(name) = rec.schema_named() else {
            return;
        };
        let db = db_key(
            rec.resource.as_ref().and_then(|r| r.db.as_deref()),
            self.run.procs[rec.file as usize].pid,
        );
        let id = self.run.resources.schema(&db, name);
        let p = &mut self.run.procs[rec.file as usize];
        if rec.action == Action::SchemaDrop {
            if let Some(s) = scn {
                if s.schema.get() == Some(id) {
                    s.schema.set(None);
                }
            }
            if p.schema == Some(id) {
                p.schema = None;
            }
            return;
        }
        self.run.isolation_seen = true;
        match scn {
            Some(s) => s.schema.set(Some(id)),
            None => p.schema = Some(id),
        }
        // `res_cache` needs no flush: its entries are keyed by the schema
        // current when they were resolved.
    }

    /// What an action does to what it touches, if it touches state.
    fn interpret(&mut self, rec: &Rec, scn: Option<&Rc<Scn>>) -> Option<Interp> {
        let failed = rec.error().is_some();
        // A statement that changed no row and read none: nothing anyone
        // wrote is gone, and nothing the scenario does depends on it.
        let mut inert = false;
        let insert = match rec.action {
            Action::DbInsert => rec.details().map_or(sql::Insert::Plain, sql::insert),
            _ => sql::Insert::Plain,
        };
        let (op, cleanup, reset) = match rec.action {
            Action::DbSelect => (Op::Read, false, false),
            Action::DbInsert | Action::DbUpdate => (Op::Write, false, false),
            Action::DbDelete => (Op::Destroy, false, false),
            Action::DbCleanup | Action::SchemaDrop => (Op::Destroy, true, false),
            Action::DbDdl => match sql::ddl(rec.details().unwrap_or("")) {
                sql::Ddl::Drops => (Op::Destroy, true, false),
                sql::Ddl::Breaks => (Op::Destroy, false, false),
                sql::Ddl::Ensures => {
                    inert = true;
                    (Op::Read, false, false)
                }
                sql::Ddl::Changes => (Op::Write, false, false),
            },
            Action::JwtSet => (Op::Write, false, false),
            Action::JwtRotate => (Op::Destroy, false, false),
            Action::JwtReset => (Op::Destroy, false, true),
            Action::ConfigReload => {
                let d = rec.details().unwrap_or("").to_ascii_lowercase();
                if d.contains("reset") || d.contains("default") {
                    (Op::Destroy, false, true)
                } else {
                    (Op::Write, false, false)
                }
            }
            Action::Custom if rec.resource.is_some() => (Op::Read, false, false),
            _ => return None,
        };
        // A failed statement changed nothing; it still touched the state.
        let (op, cleanup, reset) = if failed {
            (Op::Read, false, false)
        } else {
            (op, cleanup, reset)
        };
        let target = self.target(rec, scn)?;
        let overwrites = rec.action == Action::DbUpdate || insert == sql::Insert::Upsert;
        // An insert or update that reports no row changed nothing.
        let wrote_nothing = op == Op::Write
            && matches!(rec.action, Action::DbInsert | Action::DbUpdate)
            && rec.rows_hint.exact() == Some(0);
        // A seed that found its row did what it is for. A plain insert of
        // no row met something (a key others hold): sqlx reports a refused
        // insert as 0 rows, with no error, so it stays a use.
        if wrote_nothing && insert == sql::Insert::Seed {
            inert = true;
        }
        let touches_rows = op == Op::Destroy || overwrites;
        let own_rows = wrote_nothing
            || touches_rows
                && match target {
                    Target::Tables { schema, set } => {
                        let tables = match self.run.resources.tables_of(set) {
                            [] => self.run.resources.schema_tables(schema),
                            some => some,
                        };
                        let owner = scn.map_or(Owner::Outside(rec.file), |s| Owner::Scenario(s.id));
                        self.run.rows.only_own(tables, owner, rec.rows_hint)
                    }
                    Target::Process(_) => false,
                };
        let back = match (target, rec.rows_hint.exact()) {
            (Target::Tables { set, .. }, Some(got)) if op == Op::Read && rec.stmt != 0 => {
                match self.run.resources.tables_of(set) {
                    &[t] => self.read_back(t, rec.stmt, got),
                    _ => ReadBack::Unknown,
                }
            }
            _ => ReadBack::Unknown,
        };
        Some(Interp {
            target,
            op,
            cleanup,
            reset,
            own_rows,
            back,
            inert,
            overwrites: overwrites && !failed,
            seed: insert == sql::Insert::Seed,
            missing: rec.error().is_some_and(sql::missing_object),
        })
    }

    /// Compares a read's row count with the most the same query returned
    /// before, and records it.
    fn read_back(&mut self, table: u32, stmt: u16, got: u64) -> ReadBack {
        use std::collections::hash_map::Entry;
        match self.returned.entry((table, stmt)) {
            // The first time: nothing to compare with.
            Entry::Vacant(v) => {
                v.insert(got);
                ReadBack::Unknown
            }
            Entry::Occupied(mut o) => {
                let most = *o.get();
                *o.get_mut() = most.max(got);
                match got {
                    0 => ReadBack::Unknown,
                    _ if got < most => ReadBack::Short { got, most },
                    _ => ReadBack::Full,
                }
            }
        }
    }

    /// Resolves a record's resource, applying schema tracking to unqualified
    /// ones. Secret and config records without a resource are the process's
    /// `jwt_secret` / config state.
    fn target(&mut self, rec: &Rec, scn: Option<&Rc<Scn>>) -> Option<Target> {
        let file = rec.file as usize;
        let current = scn
            .and_then(|s| s.schema.get())
            .or(self.run.procs[file].schema);
        // Most records repeat one of a few resources: look them up by the
        // identity of the reader's shared copy (whose contents never change)
        // before reading the resource itself, which the reader thread's
        // cache still holds. Only table targets are cached.
        if let Some(res) = &rec.resource {
            let p = &self.run.procs[file];
            let key = Resolved::new(res, current, Target::Process(0));
            if let Some(hit) = p.res_cache[..p.res_len]
                .iter()
                .find(|r| r.res == key.res && r.schema == key.schema)
            {
                return Some(hit.target);
            }
        }
        let default_process = match rec.action.kind() {
            ActionKind::Secret => Some("jwt_secret"),
            ActionKind::Config => Some(rec.name().unwrap_or("config")),
            _ => None,
        };
        let Some(res) = &rec.resource else {
            let name = default_process?;
            return Some(Target::Process(self.run.resources.process(rec.file, name)));
        };
        if res.scope == Scope::Process {
            let name = res.name.as_deref().or(default_process).unwrap_or("state");
            return Some(Target::Process(self.run.resources.process(rec.file, name)));
        }
        let effective = if res.schema.is_none() { current } else { None };
        let db = db_key(res.db.as_deref(), self.run.procs[file].pid);
        let schema = match (&res.schema, effective) {
            (Some(s), _) => self.run.resources.schema(&db, s),
            (None, Some(id)) => id,
            (None, None) => self.run.resources.schema(&db, default_schema(Some(&db))),
        };
        let tables: Vec<u32> = res
            .tables
            .iter()
            .map(|t| self.run.resources.table(schema, t))
            .collect();
        let set = self.run.resources.table_set(&tables);
        // Only here, on a miss: a hit means this process resolved (and so
        // touched) the same schema before.
        self.run.resources.touch(schema, rec.file);
        let t = Target::Tables { schema, set };
        let p = &mut self.run.procs[file];
        if p.res_len == RES_CACHE {
            p.res_cache.copy_within(1.., 0);
            p.res_alive.remove(0);
            p.res_len -= 1;
        }
        p.res_cache[p.res_len] = Resolved::new(res, current, t);
        p.res_len += 1;
        p.res_alive.push(res.clone());
        Some(t)
    }
}

/// The identity a record's `db` is compared by: absent (or the old
/// literal `unknown`) is unknown, kept as the empty string (see
/// [`RunView::identity_unknown`]); an in-memory SQLite database is private to
/// the process that opened it, so it is qualified by its pid.
fn db_key(db: Option<&str>, pid: u32) -> std::borrow::Cow<'_, str> {
    match db {
        None | Some("unknown") => "".into(),
        Some(d) if d.starts_with("sqlite::memory:") => format!("{d}@pid {pid}").into(),
        Some(d) => d.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::discover::Format;
    use state_tracer_format::Resource;

    fn tracker(n: u32) -> Tracker {
        let files: Vec<SourceFile> = (0..n)
            .map(|i| SourceFile {
                path: format!("f{i}").into(),
                format: Format::V1,
                run_id: "r".into(),
                pid: 100 + i,
                label: format!("p{i}"),
                start: None,
                argv: Vec::new(),
                rerun: None,
                cwd: None,
                env: Vec::new(),
                size: 0,
            })
            .collect();
        Tracker::new("r", &files, Vec::new(), false)
    }

    fn rec(ts: Micros, file: u32, id: Option<u64>, action: Action) -> Rec {
        let mut r = Rec::new(ts, file, ts as u64, 1, action);
        r.set_scenario_id(id);
        r
    }

    /// A table record on `db`: `schema` None is an unqualified name.
    fn on(mut r: Rec, db: &str, schema: Option<&str>, tables: &[&str]) -> Rec {
        r.resource = Some(Arc::new(Resource {
            scope: Scope::Shared,
            db: Some(db.to_owned().into()),
            schema: schema.map(|s| s.to_owned().into()),
            tables: tables.iter().map(|t| t.to_string().into()).collect(),
            name: None,
        }));
        r
    }

    fn label(t: &mut Tracker, r: &Rec) -> String {
        let tracked = t.track(r);
        let label = tracked.resource_label(t).expect("a resource");
        if let Some(a) = tracked.access() {
            t.settle(&a);
        }
        label
    }

    #[test]
    fn overlapping_scenarios_take_the_lowest_free_slot() {
        let mut t = tracker(1);
        let slot = |t: &mut Tracker, r: Rec| {
            let s = t.track(&r).scn.expect("a scenario");
            (s.id, s.slot)
        };
        assert_eq!(
            slot(&mut t, rec(0, 0, Some(1), Action::ScenarioStart)),
            (0, 0)
        );
        assert_eq!(
            slot(&mut t, rec(5, 0, Some(2), Action::ScenarioStart)),
            (1, 1)
        );
        t.track(&rec(10, 0, Some(1), Action::ScenarioEnd));
        assert_eq!(
            slot(&mut t, rec(20, 0, Some(3), Action::ScenarioStart)),
            (2, 0),
            "slot 0 is free again"
        );
        assert_eq!(t.slots(0), 2);
        assert_eq!(t.open().iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn after_hooks_belong_to_their_ended_scenario() {
        let mut t = tracker(1);
        t.track(&rec(0, 0, Some(7), Action::ScenarioStart));
        let end_rec = rec(10, 0, Some(7), Action::ScenarioEnd);
        let end = t.track(&end_rec);
        assert_eq!(end.step, Step::End);
        let ended = end.scn.clone().unwrap();
        assert_eq!(ended.outcome(), ScenarioOutcome::Passed);
        let hook_rec = on(
            rec(12, 0, Some(7), Action::DbCleanup),
            "sqlite:/a.db",
            None,
            &[],
        );
        let hook = t.track(&hook_rec);
        let s = hook.scn.clone().unwrap();
        assert_eq!((s.id, s.last.get()), (ended.id, 12));
        assert_eq!(
            t.track(&rec(13, 0, Some(7), Action::ScenarioEnd)).step,
            Step::Lifecycle,
            "a repeated end is no second end"
        );
    }

    #[test]
    fn a_schema_is_shared_once_a_second_process_touches_it() {
        let mut t = tracker(2);
        let db = "postgres://db/app";
        let cleanup_rec = on(rec(1, 0, None, Action::DbCleanup), db, Some("public"), &[]);
        let cleanup = t.track(&cleanup_rec);
        let (c, mutation) = (cleanup.target().unwrap(), cleanup.mutation());
        assert!(mutation && !t.shared(c), "one process so far");
        let read_rec = on(
            rec(2, 1, None, Action::DbSelect),
            db,
            Some("public"),
            &["users"],
        );
        let read = t.track(&read_rec);
        let r = read.target().unwrap();
        assert!(!read.mutation());
        assert!(t.shared(c) && t.shared(r), "same schema, two processes");
        assert_eq!(
            t.view().resources.label(&c),
            "shared:postgres://db/app/public/*"
        );
    }

    /// Disagreement 1. The page drew the in-memory SQLite databases of two
    /// processes as one shared resource; the engine keeps them apart. The
    /// engine is right: `sqlite::memory:` is private to the connection's
    /// process, so two processes cannot pollute each other through it.
    #[test]
    fn in_memory_sqlite_of_different_processes_is_not_shared() {
        let mut t = tracker(2);
        let mem = |file| {
            on(
                rec(1, file, None, Action::DbInsert),
                "sqlite::memory:",
                Some("main"),
                &["users"],
            )
        };
        let a = t.track(&mem(0)).target().unwrap();
        let b = t.track(&mem(1)).target().unwrap();
        assert_ne!(a, b, "one database per process");
        assert!(!t.shared(a) && !t.shared(b));
        assert_eq!(
            t.view().resources.label(&a),
            "shared:sqlite::memory:@pid 100/main/users"
        );
        // A file database of two processes is shared.
        let file = |f| {
            on(
                rec(2, f, None, Action::DbInsert),
                "sqlite:/data/app.db",
                Some("main"),
                &["users"],
            )
        };
        let c = t.track(&file(0)).target().unwrap();
        assert_eq!(t.track(&file(1)).target(), Some(c));
        assert!(t.shared(c));
    }

    /// Disagreement 2. On a schema drop inside a scenario, the page cleared
    /// only the scenario's current schema, the engine also the process's.
    /// The engine is right: a dropped schema no longer exists, so nothing
    /// unqualified can resolve to it, whoever had switched to it.
    #[test]
    fn a_schema_drop_ends_the_schema_for_the_scenario_and_its_process() {
        let mut t = tracker(1);
        let db = "postgres://db/app";
        t.track(&on(
            rec(1, 0, None, Action::SchemaSet),
            db,
            Some("tenant"),
            &[],
        ));
        assert_eq!(
            label(
                &mut t,
                &on(rec(2, 0, None, Action::DbSelect), db, None, &["users"])
            ),
            "shared:postgres://db/app/tenant/users"
        );
        t.track(&rec(3, 0, Some(1), Action::ScenarioStart));
        t.track(&on(
            rec(4, 0, Some(1), Action::SchemaDrop),
            db,
            Some("tenant"),
            &[],
        ));
        t.track(&rec(5, 0, Some(1), Action::ScenarioEnd));
        assert_eq!(
            label(
                &mut t,
                &on(rec(6, 0, None, Action::DbSelect), db, None, &["users"])
            ),
            "shared:postgres://db/app/public/users",
            "the process no longer resolves names in the dropped schema"
        );
    }

    /// Disagreement 3. A failed `DELETE` was a mutation marker on the page
    /// and a read for the findings. The engine is right: a failed statement
    /// changed nothing (it still touched, so it stays a read of the table).
    #[test]
    fn a_failed_delete_is_a_read_not_a_mutation() {
        let mut t = tracker(1);
        let mut r = on(
            rec(1, 0, None, Action::DbDelete),
            "postgres://db/app",
            Some("public"),
            &["users"],
        );
        r.extra_mut().error = Some("permission denied for table users".into());
        let tracked = t.track(&r);
        assert!(!tracked.mutation());
        assert_eq!(tracked.access().map(|a| a.op), Some(Op::Read));
        let ok = on(
            rec(2, 0, None, Action::DbDelete),
            "postgres://db/app",
            Some("public"),
            &["users"],
        );
        assert!(
            t.track(&ok).mutation(),
            "the same delete that worked is one"
        );
    }

    /// Disagreement 4. Secret and config records without a resource had no
    /// resource on the page (never a shared mutation marker) but were the
    /// process's `jwt_secret` / config state for the findings. The engine is
    /// right: the format gives them that default, and a rotation is exactly
    /// the in-process state change the leaked-state rule is about.
    #[test]
    fn secret_and_config_records_without_a_resource_are_process_state() {
        let mut t = tracker(1);
        let rotate_rec = rec(1, 0, None, Action::JwtRotate);
        let rotate = t.track(&rotate_rec);
        let secret = rotate.target().expect("the process's secret");
        assert!(rotate.mutation() && t.shared(secret));
        assert_eq!(t.view().resources.label(&secret), "process:jwt_secret");
        let mut reload = rec(2, 0, None, Action::ConfigReload);
        reload.extra_mut().name = Some("feature_flags".into());
        let reload = t.track(&reload);
        assert!(reload.mutation());
        assert_eq!(
            reload.resource_label(&t).as_deref(),
            Some("process:feature_flags")
        );
    }

    /// Disagreement 5. The page keyed schemas by name alone, the engine by
    /// database and name. The engine is right: dropping schema `tenant` on
    /// one database does not end a switch to `tenant` on another.
    #[test]
    fn schemas_are_keyed_by_database_and_name() {
        let mut t = tracker(1);
        let (a, b) = ("postgres://db/a", "postgres://db/b");
        t.track(&on(
            rec(1, 0, None, Action::SchemaSet),
            a,
            Some("tenant"),
            &[],
        ));
        t.track(&on(
            rec(2, 0, None, Action::SchemaDrop),
            b,
            Some("tenant"),
            &[],
        ));
        assert_eq!(
            label(
                &mut t,
                &on(rec(3, 0, None, Action::DbSelect), a, None, &["users"])
            ),
            "shared:postgres://db/a/tenant/users"
        );
    }
}
