//! Follows scenarios while the merge streams records, for the outputs that
//! draw the run (Chrome export, HTML timeline) without keeping it in memory.
//!
//! The analysis engine keeps its own scenario state private (and its
//! opt-in [`crate::model::Timeline`] holds every action). The visual
//! outputs need less, but per record and right away: which scenario a
//! record belongs to (by id, else by names; ended scenarios still match, so
//! after-hooks are attributed to them, as the engine does), on which slot
//! (track) of its process that scenario is drawn, and which shared resource
//! an action touches. Scenario ids are ordinals of `SCENARIO_START` records
//! in merge order, the same numbering as the engine's, so a finding's
//! `ScenarioRef::id` names the scenario this module followed.
//!
//! Memory is bounded by what is open at once (active scenarios, a few
//! ended ones per process for their after-hooks, distinct resources), not
//! by the number of records.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use state_tracer::format::{Action, ActionKind, Outcome, Scope};

use crate::analysis::default_schema;
use crate::discover::SourceFile;
use crate::model::ScenarioOutcome;
use crate::record::{FastMap, Micros, Rec, RecKind};

/// A scenario as followed while streaming.
#[derive(Debug)]
pub struct Scn {
    /// Ordinal of its `SCENARIO_START` in merge order (the engine's id).
    pub id: u32,
    /// Index of its file (process) in the run.
    pub file: u32,
    /// Track inside the process; scenarios that overlap never share one.
    pub slot: u32,
    pub feature: Arc<str>,
    pub name: Arc<str>,
    pub start: Micros,
    pub end: Cell<Option<Micros>>,
    /// Last record attributed to it (after-hooks included).
    pub last: Cell<Micros>,
    pub outcome: Cell<Option<Outcome>>,
    pub error: RefCell<Option<Box<str>>>,
    /// Schema switched to inside this scenario (SCHEMA_SET/CREATE).
    schema: Cell<Option<u32>>,
}

impl Scn {
    pub fn outcome(&self) -> ScenarioOutcome {
        self.outcome
            .get()
            .map_or(ScenarioOutcome::Unfinished, Into::into)
    }
}

/// What a record was, for the outputs.
pub enum Seen {
    /// A scenario started (the first record of its bar).
    Start(Rc<Scn>),
    /// A scenario ended (its first `SCENARIO_END`).
    End(Rc<Scn>),
    /// A state action (not a lifecycle record), with its scenario if any.
    Action {
        scn: Option<Rc<Scn>>,
        /// Changes state visible to other scenarios (write, cleanup, DDL,
        /// secret or config change).
        mutation: bool,
        /// The resource it touches ([`Follower::resource`] names it).
        resource: Option<ResId>,
    },
    /// Anything else: steps, repeated ends, footers.
    Other(Option<Rc<Scn>>),
}

/// A distinct resource seen in the run: `db/schema/tables` for shared
/// state (unqualified tables resolved by the schema in force), or
/// `process:name` for in-process state.
pub type ResId = u32;

struct ResInfo {
    label: String,
    /// Its database schema (`db/schema`) in `Follower::scopes`.
    scope: u32,
    process: bool,
}

/// Whether more than one process touched a database schema. Sharing is
/// judged per schema, not per table set: a cleanup of "all tables" and a
/// read of one table of the same schema touch the same state.
struct ScopeInfo {
    first: u32,
    shared: bool,
}

struct Proc {
    by_id: FastMap<u64, Rc<Scn>>,
    by_name: FastMap<(Arc<str>, Arc<str>), Rc<Scn>>,
    ended_ids: VecDeque<u64>,
    /// Per slot: when it is free again (`None`: an open scenario holds it).
    slots: Vec<Option<Micros>>,
    schema: Option<u32>,
    last: Option<Micros>,
}

/// Streams records into scenarios, slots and resources.
pub struct Follower {
    procs: Vec<Proc>,
    next_id: u32,
    resources: Vec<ResInfo>,
    res_by_label: FastMap<String, ResId>,
    scopes: Vec<ScopeInfo>,
    scope_by_name: FastMap<String, u32>,
    /// Schema names switched to, interned (few per run).
    schemas: Vec<Arc<str>>,
    schema_ids: FastMap<Arc<str>, u32>,
    /// The reader's shared resource plus the schema in force → resource;
    /// holds the `Arc`s so their addresses stay unique while cached.
    res_cache: FastMap<(usize, usize), (ResId, Arc<state_tracer::format::Resource<'static>>)>,
    open: Vec<Rc<Scn>>,
}

/// Ended scenarios kept reachable per process for their after-hooks (the
/// engine keeps the same number).
const ENDED_KEPT: usize = 64;
const RES_CACHE_MAX: usize = 4096;

impl Follower {
    pub fn new(files: &[SourceFile]) -> Follower {
        Follower {
            procs: files
                .iter()
                .map(|_| Proc {
                    by_id: FastMap::default(),
                    by_name: FastMap::default(),
                    ended_ids: VecDeque::new(),
                    slots: Vec::new(),
                    schema: None,
                    last: None,
                })
                .collect(),
            next_id: 0,
            resources: Vec::new(),
            res_by_label: FastMap::default(),
            scopes: Vec::new(),
            scope_by_name: FastMap::default(),
            schemas: Vec::new(),
            schema_ids: FastMap::default(),
            res_cache: FastMap::default(),
            open: Vec::new(),
        }
    }

    /// Number of slots process `file` has used so far (at least 1).
    pub fn slots(&self, file: u32) -> u32 {
        self.procs[file as usize].slots.len().max(1) as u32
    }

    /// Last record time of process `file`.
    pub fn last(&self, file: u32) -> Option<Micros> {
        self.procs[file as usize].last
    }

    /// The scenarios started and never ended, in start order.
    pub fn open(&self) -> &[Rc<Scn>] {
        &self.open
    }

    pub fn resource(&self, id: ResId) -> &str {
        &self.resources[id as usize].label
    }

    /// Whether more than one process touched the resource's schema so far
    /// (always true for in-process state, shared by the scenarios of one
    /// process).
    pub fn shared(&self, id: ResId) -> bool {
        let r = &self.resources[id as usize];
        r.process || self.scopes[r.scope as usize].shared
    }

    /// [`Follower::shared`] for an id this follower has seen, else `None`.
    pub fn shared_known(&self, id: ResId) -> Option<bool> {
        (id < self.resources.len() as ResId).then(|| self.shared(id))
    }

    /// Feeds one record, in merge order.
    pub fn feed(&mut self, rec: &Rec) -> Seen {
        let file = rec.file as usize;
        let p = &mut self.procs[file];
        p.last = Some(p.last.map_or(rec.ts, |l| l.max(rec.ts)));
        if rec.kind == RecKind::Footer {
            return Seen::Other(None);
        }
        let seen = match rec.action {
            Action::ScenarioStart => return Seen::Start(self.start(rec)),
            Action::ScenarioEnd => {
                let Some(s) = self.attribute(rec) else {
                    return Seen::Other(None);
                };
                if s.end.get().is_some() {
                    Seen::Other(Some(s))
                } else {
                    self.end(rec, &s);
                    Seen::End(s)
                }
            }
            _ => {
                let scn = self.attribute(rec);
                if matches!(rec.action.kind(), ActionKind::Lifecycle) {
                    Seen::Other(scn)
                } else {
                    self.schema_tracking(rec, scn.as_ref());
                    let resource = self.resource_of(rec, scn.as_ref());
                    Seen::Action {
                        mutation: is_mutation(rec),
                        resource,
                        scn,
                    }
                }
            }
        };
        if let Seen::End(s) | Seen::Other(Some(s)) | Seen::Action { scn: Some(s), .. } = &seen {
            if rec.ts > s.last.get() {
                s.last.set(rec.ts);
            }
        }
        seen
    }

    fn start(&mut self, rec: &Rec) -> Rc<Scn> {
        let p = &mut self.procs[rec.file as usize];
        // The lowest slot free by this start, else a new one.
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
            feature: rec.feature().cloned().unwrap_or_else(|| Arc::from("")),
            name: rec.scenario().cloned().unwrap_or_else(|| Arc::from("")),
            start: rec.ts,
            end: Cell::new(None),
            last: Cell::new(rec.ts),
            outcome: Cell::new(None),
            error: RefCell::new(None),
            schema: Cell::new(None),
        });
        self.next_id += 1;
        match rec.scenario_id() {
            Some(id) => {
                p.by_id.insert(id, s.clone());
            }
            None => {
                if p.by_name.len() >= 256 {
                    p.by_name.retain(|_, s| s.end.get().is_none());
                }
                p.by_name
                    .insert((s.feature.clone(), s.name.clone()), s.clone());
            }
        }
        self.open.push(s.clone());
        s
    }

    fn end(&mut self, rec: &Rec, s: &Rc<Scn>) {
        let end = rec.ts.max(s.start);
        s.end.set(Some(end));
        s.outcome
            .set(Some(rec.outcome.unwrap_or(if rec.error().is_some() {
                Outcome::Failed
            } else {
                Outcome::Passed
            })));
        *s.error.borrow_mut() = rec.error().map(Into::into);
        let p = &mut self.procs[s.file as usize];
        if let Some(free) = p.slots.get_mut(s.slot as usize) {
            *free = Some(end);
        }
        if let Some(id) = rec.scenario_id() {
            p.ended_ids.push_back(id);
            if p.ended_ids.len() > ENDED_KEPT {
                if let Some(old) = p.ended_ids.pop_front() {
                    p.by_id.remove(&old);
                }
            }
        }
        self.open.retain(|o| o.id != s.id);
    }

    fn attribute(&self, rec: &Rec) -> Option<Rc<Scn>> {
        let p = &self.procs[rec.file as usize];
        if let Some(s) = rec.scenario_id().and_then(|id| p.by_id.get(&id)) {
            return Some(s.clone());
        }
        let feature = rec.feature().cloned().unwrap_or_else(|| Arc::from(""));
        let name = rec.scenario()?.clone();
        p.by_name.get(&(feature, name)).cloned()
    }

    fn schema_tracking(&mut self, rec: &Rec, scn: Option<&Rc<Scn>>) {
        let set = match rec.action {
            Action::SchemaCreate | Action::SchemaSet => true,
            Action::SchemaDrop => false,
            _ => return,
        };
        let Some(name) = rec.schema_named() else {
            return;
        };
        let id = match self.schema_ids.get(name) {
            Some(&id) => id,
            None => {
                let name: Arc<str> = Arc::from(name);
                self.schemas.push(name.clone());
                self.schema_ids.insert(name, self.schemas.len() as u32 - 1);
                self.schemas.len() as u32 - 1
            }
        };
        let p = &mut self.procs[rec.file as usize];
        let current = scn.map_or(p.schema, |s| s.schema.get());
        let new = if set {
            Some(id)
        } else if current == Some(id) {
            None
        } else {
            current
        };
        match scn {
            Some(s) => s.schema.set(new),
            None => p.schema = new,
        }
    }

    fn resource_of(&mut self, rec: &Rec, scn: Option<&Rc<Scn>>) -> Option<ResId> {
        let res = rec.resource.as_ref()?;
        let p = &self.procs[rec.file as usize];
        let current = scn.and_then(|s| s.schema.get()).or(p.schema);
        let key = (
            Arc::as_ptr(res) as usize,
            current.map_or(0, |c| c as usize + 1),
        );
        let id = match self.res_cache.get(&key) {
            Some((id, _)) => *id,
            None => {
                let process = res.scope == Scope::Process;
                let mut scope = String::new();
                let label = if process {
                    format!("process:{}", res.name.as_deref().unwrap_or("state"))
                } else {
                    let db = res.db.as_deref().unwrap_or("");
                    let schema = res
                        .schema
                        .as_deref()
                        .or(current.map(|c| &*self.schemas[c as usize]))
                        .unwrap_or(default_schema(db));
                    let tables = if res.tables.is_empty() {
                        "*".to_owned()
                    } else {
                        res.tables.join(",")
                    };
                    scope = format!("{db}/{schema}");
                    format!("shared:{db}/{schema}/{tables}")
                };
                let id = match self.res_by_label.get(&label) {
                    Some(&id) => id,
                    None => {
                        let id = self.resources.len() as ResId;
                        let scope = match self.scope_by_name.get(&scope) {
                            Some(&s) => s,
                            None => {
                                self.scopes.push(ScopeInfo {
                                    first: rec.file,
                                    shared: false,
                                });
                                let s = self.scopes.len() as u32 - 1;
                                self.scope_by_name.insert(scope, s);
                                s
                            }
                        };
                        self.resources.push(ResInfo {
                            label: label.clone(),
                            scope,
                            process,
                        });
                        self.res_by_label.insert(label, id);
                        id
                    }
                };
                if self.res_cache.len() >= RES_CACHE_MAX {
                    self.res_cache.clear();
                }
                // The cache holds the resource's `Arc`, so its address
                // names it for as long as the entry lives.
                self.res_cache.insert(key, (id, res.clone()));
                id
            }
        };
        let scope = &mut self.scopes[self.resources[id as usize].scope as usize];
        if scope.first != rec.file {
            scope.shared = true;
        }
        Some(id)
    }
}

/// Whether an action changes state other scenarios can see (the engine's
/// write and destroy operations).
pub fn is_mutation(rec: &Rec) -> bool {
    matches!(
        rec.action,
        Action::DbInsert
            | Action::DbUpdate
            | Action::DbDelete
            | Action::DbCleanup
            | Action::DbDdl
            | Action::SchemaDrop
            | Action::JwtSet
            | Action::JwtRotate
            | Action::JwtReset
            | Action::ConfigReload
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::Format;
    use state_tracer::format::Resource;

    fn files(n: u32) -> Vec<SourceFile> {
        (0..n)
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
                size: 0,
            })
            .collect()
    }

    fn rec(ts: Micros, file: u32, id: Option<u64>, action: Action) -> Rec {
        let mut r = Rec::new(ts, file, ts as u64, 1, action);
        r.set_scenario_id(id);
        r
    }

    fn scn(seen: Seen) -> Rc<Scn> {
        match seen {
            Seen::Start(s) | Seen::End(s) => s,
            Seen::Action { scn: Some(s), .. } | Seen::Other(Some(s)) => s,
            _ => panic!("no scenario"),
        }
    }

    #[test]
    fn overlapping_scenarios_take_the_lowest_free_slot() {
        let mut f = Follower::new(&files(1));
        let a = scn(f.feed(&rec(0, 0, Some(1), Action::ScenarioStart)));
        let b = scn(f.feed(&rec(5, 0, Some(2), Action::ScenarioStart)));
        assert_eq!((a.id, a.slot, b.id, b.slot), (0, 0, 1, 1));
        f.feed(&rec(10, 0, Some(1), Action::ScenarioEnd));
        let c = scn(f.feed(&rec(20, 0, Some(3), Action::ScenarioStart)));
        assert_eq!(c.slot, 0, "slot 0 is free again");
        assert_eq!(f.slots(0), 2);
        assert_eq!(f.open().iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn after_hooks_belong_to_their_ended_scenario() {
        let mut f = Follower::new(&files(1));
        f.feed(&rec(0, 0, Some(7), Action::ScenarioStart));
        let ended = scn(f.feed(&rec(10, 0, Some(7), Action::ScenarioEnd)));
        assert_eq!(ended.outcome(), ScenarioOutcome::Passed);
        let hook = scn(f.feed(&rec(12, 0, Some(7), Action::DbCleanup)));
        assert_eq!((hook.id, hook.last.get()), (ended.id, 12));
        assert!(matches!(
            f.feed(&rec(13, 0, Some(7), Action::ScenarioEnd)),
            Seen::Other(Some(_))
        ));
    }

    #[test]
    fn a_schema_is_shared_once_a_second_process_touches_it() {
        let mut f = Follower::new(&files(2));
        let touch = |f: &mut Follower, file: u32, action: Action, tables: &[&str]| {
            let mut r = rec(1, file, None, action);
            r.resource = Some(Arc::new(Resource::tables(
                "postgres://db/app",
                "public",
                tables.iter().map(|t| t.to_string().into()),
            )));
            match f.feed(&r) {
                Seen::Action {
                    resource: Some(id),
                    mutation,
                    ..
                } => (id, mutation),
                _ => panic!("an action on a resource"),
            }
        };
        let (cleanup, mutation) = touch(&mut f, 0, Action::DbCleanup, &[]);
        assert!(mutation && !f.shared(cleanup), "one process so far");
        let (read, mutation) = touch(&mut f, 1, Action::DbSelect, &["users"]);
        assert!(!mutation);
        assert!(
            f.shared(cleanup) && f.shared(read),
            "same schema, two processes"
        );
        assert_eq!(f.resource(cleanup), "shared:postgres://db/app/public/*");
        let mut secret = rec(2, 0, None, Action::JwtSet);
        secret.resource = Some(Arc::new(Resource::process("jwt_secret")));
        let Seen::Action {
            resource: Some(s), ..
        } = f.feed(&secret)
        else {
            panic!("a secret action");
        };
        assert!(f.shared(s), "in-process state is shared by its scenarios");
    }
}
