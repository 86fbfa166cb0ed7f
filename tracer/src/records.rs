//! Which record an event becomes, and writing it.
//!
//! The [`Recorder`] is what the layer, its guard and the exit hook share:
//! the trace file's [`Writer`] and the open scenarios. Given an event's
//! fields and its attribution, it decides the record: a scenario's or
//! step's end, a classified sqlx statement ([`crate::sql`]), or a state
//! action with its resource; and encodes it with the thread's [`Encoder`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use crate::db;
use crate::encoder::{process_resource, truncate_utf8, Encoder};
use crate::fields::{FieldSource, Fields, Slot};
use crate::format::{Action, ActionKind, Outcome};
use crate::json;
use crate::scenario::{OpenScenarios, ScenarioData, StepData};
use crate::secret;
use crate::sql;
use crate::sqlx::RunScope;
use crate::writer::Writer;

/// State shared by the layer, its guard and the exit hook.
pub(crate) struct Recorder {
    pub(crate) writer: Arc<Writer>,
    pub(crate) open: OpenScenarios,
}

/// Reused per-thread buffers, so recording allocates nothing in steady state.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) enc: Encoder,
    pub(crate) fields: Fields,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's [`Scratch`] (or a fresh one when it is
/// already in use, or the thread is being torn down).
#[inline(always)]
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut f = Some(f);
    let done = SCRATCH.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => Some((f.take().expect("once"))(&mut s)),
        Err(_) => None,
    });
    match done {
        Ok(Some(r)) => r,
        // Re-entered or during thread teardown: use a fresh buffer.
        _ => (f.take().expect("once"))(&mut Scratch::default()),
    }
}

impl crate::process::Finish for Recorder {
    /// `PROCESS_END` and the footer, once.
    fn finish(&self) {
        if self.writer.is_finished() {
            return;
        }
        with_scratch(|s| {
            s.enc.begin(None, None, Action::ProcessEnd);
            self.writer.finish(Some(s.enc.close()));
        });
    }
}

impl Recorder {
    pub(crate) fn write_simple(&self, action: Action, details: Option<&str>) {
        with_scratch(|s| {
            s.enc.begin(None, None, action);
            if let Some(d) = details {
                s.enc.str(json::key!("details"), d);
            }
            s.enc.write_to(&self.writer);
        });
    }

    /// A scenario starts: it is open from now on.
    pub(crate) fn scenario_start(&self, data: &Arc<ScenarioData>, enc: &mut Encoder) {
        self.open.opened(data);
        enc.begin(Some(data), None, Action::ScenarioStart);
        enc.write_to(&self.writer);
    }

    pub(crate) fn step_start(&self, data: &StepData, enc: &mut Encoder) {
        enc.begin(
            data.scenario.as_deref(),
            Some(&data.text),
            Action::StepStart,
        );
        enc.write_to(&self.writer);
    }

    /// `SCENARIO_END`, once.
    pub(crate) fn scenario_end(&self, sc: &ScenarioData) {
        let Some((outcome, error)) = sc.end.take() else {
            return;
        };
        self.open.closed(sc);
        self.write_end(
            Some(sc),
            None,
            Action::ScenarioEnd,
            outcome,
            error,
            sc.start,
        );
    }

    /// `STEP_END`, once.
    pub(crate) fn step_end(&self, st: &StepData) {
        let Some((outcome, error)) = st.end.take() else {
            return;
        };
        self.write_end(
            st.scenario.as_deref(),
            Some(&st.text),
            Action::StepEnd,
            outcome,
            error,
            st.start,
        );
    }

    /// `SCENARIO_END` / `STEP_END`: outcome, scrubbed error, duration since `start`.
    fn write_end(
        &self,
        sc: Option<&ScenarioData>,
        step: Option<&str>,
        action: Action,
        outcome: Outcome,
        error: Option<String>,
        start: Instant,
    ) {
        with_scratch(|s| {
            s.enc.begin(sc, step, action);
            s.enc.str(json::key!("outcome"), outcome.as_str());
            if let Some(e) = &error {
                s.enc.str(json::key!("error"), &secret::scrub(e));
            }
            s.enc.uint(
                json::key!("duration_us"),
                start.elapsed().as_micros() as u64,
            );
            s.enc.write_to(&self.writer);
        });
    }

    /// Writes the record of a plain event on target `bdd_state` (fields
    /// `f`) attributed to `sc` and `step`. `step_of_event` finds the step
    /// a `STEP_END` event ends when attribution found none.
    #[inline(always)]
    pub(crate) fn state_event(
        &self,
        f: &Fields,
        sc: Option<&ScenarioData>,
        step: Option<&StepData>,
        step_of_event: impl FnOnce() -> Option<Arc<StepData>>,
        enc: &mut Encoder,
    ) {
        // Parsed once here for `state` too: `None` without an action,
        // `Some(None)` for a name that is not one of ours.
        let action = f.get(Slot::Action).map(|a| trim(a).parse::<Action>().ok());
        let outcome = || f.get(Slot::Outcome).and_then(|o| o.parse().ok());
        match action {
            Some(Some(Action::ScenarioEnd)) => {
                if let Some(sc) = sc {
                    sc.end.report(outcome(), f.get(Slot::Error));
                    self.scenario_end(sc);
                    return;
                }
            }
            Some(Some(Action::StepEnd)) => {
                let found;
                let st = match step {
                    Some(st) => Some(st),
                    None => {
                        found = step_of_event();
                        found.as_deref()
                    }
                };
                if let Some(st) = st {
                    st.end.report(outcome(), f.get(Slot::Error));
                    self.step_end(st);
                    return;
                }
            }
            _ => {}
        }
        self.state(f, action, sc, step.map(|st| st.text.as_str()), enc);
    }

    /// Writes the records of an sqlx statement event: one per statement
    /// of its text ([`sql::classify_all`]); `rows` and `duration_us` only
    /// when the text holds one statement, as sqlx reports them for the
    /// whole text. Inside a [`crate::sqlx::Database::run`] (`run`) the
    /// records carry its pool's identity and wait for its end, to learn
    /// whether it failed.
    pub(crate) fn sql(
        &self,
        f: &Fields,
        sc: Option<&ScenarioData>,
        step: Option<&str>,
        run: Option<&RunScope>,
        enc: &mut Encoder,
    ) {
        let statement = f.get(Slot::Statement).unwrap_or("").trim();
        let text = if !statement.is_empty() {
            statement
        } else {
            f.get(Slot::Summary)
                .unwrap_or("")
                .trim_end_matches('…')
                .trim()
        };
        if text.is_empty() {
            return;
        }
        if crate::sqlx_test::bookkeeping(text) {
            // sqlx::test's own: kept as a note, not as shared state.
            enc.begin(sc, step, Action::Custom);
            enc.str(json::key!("name"), "sqlx-test");
            let mut details = secret::scrub(text).into_owned();
            truncate_utf8(&mut details, 2000);
            enc.str(json::key!("details"), &details);
            enc.write_to(&self.writer);
            return;
        }
        let all = crate::statement_cache::classify_all(text);
        // sqlx's per-connection `PRAGMA`s are settings, not state.
        let recorded = || all.iter().filter(|st| !st.connection_setting);
        let count = recorded().count();
        if count == 0 {
            return;
        }
        let db = crate::db_identity::resolve(run.and_then(|r| r.db.as_ref()));
        let db = db.as_deref();
        let sole = count == 1;
        let event_no = run.map_or(0, RunScope::next_event);
        for st in recorded() {
            if st.action == Action::SchemaSet {
                if let Some(schema) = &st.schema {
                    db::set_schema(sc, schema);
                }
            }
            enc.begin(sc, step, st.action);
            match st.action {
                Action::SchemaCreate | Action::SchemaDrop | Action::SchemaSet => {
                    let schema = match &st.schema {
                        Some(s) => Cow::Borrowed(s.as_str()),
                        None => db::current_schema(sc, db),
                    };
                    db::encode_schema(enc.members(), db, &schema);
                }
                Action::TxBegin | Action::TxCommit | Action::TxRollback => {}
                _ if st.tables.is_empty() => {}
                _ => {
                    let current = db::current_schema(sc, db);
                    db::encode_tables(enc.members(), db, &st.tables, &current);
                }
            }
            if st.redacted.len() <= 2000 {
                enc.str(json::key!("details"), &st.redacted);
            } else {
                let mut details = st.redacted.clone();
                truncate_utf8(&mut details, 2000);
                enc.str(json::key!("details"), &details);
            }
            if sole {
                if let Some(secs) = f.elapsed_secs {
                    enc.uint(json::key!("duration_us"), (secs * 1e6) as u64);
                }
                if let Some(rows) = statement_rows(st, f) {
                    enc.uint(json::key!("rows"), rows);
                }
            }
            match run {
                Some(run) => run.hold(enc.close(), event_no),
                None => enc.write_to(&self.writer),
            }
        }
    }

    /// Writes the record of a state action: a typed helper's, or a plain
    /// event's (`parsed`: see [`Recorder::state_event`]).
    pub(crate) fn state(
        &self,
        f: &impl FieldSource,
        parsed: Option<Option<Action>>,
        sc: Option<&ScenarioData>,
        step: Option<&str>,
        enc: &mut Encoder,
    ) {
        let (action, custom_name) = match parsed {
            Some(Some(a)) => (a, None),
            Some(None) => (Action::Custom, f.get(Slot::Action)),
            None => (Action::Custom, None),
        };
        if matches!(action, Action::ProcessStart | Action::ProcessEnd) {
            return; // The tracer writes its own process boundaries.
        }
        // Only actions with a shared resource need the identity (an env
        // read and an allocation), so compute it on first use.
        let db_cell = std::cell::OnceCell::new();
        let db = || -> Option<&str> {
            db_cell
                .get_or_init(
                    || match f.get(Slot::Db).and_then(crate::db_url::db_identity) {
                        Some(id) => Some(Arc::<str>::from(id)),
                        None => crate::db_identity::resolve(None),
                    },
                )
                .as_deref()
        };
        if action == Action::SchemaSet {
            if let Some(schema) = f.get(Slot::Schema).or(f.get(Slot::Name)) {
                db::set_schema(sc, schema);
            }
        }
        // Explicit feature/scenario fields (Go-style events without spans) win.
        if sc.is_none() && f.has(Slot::bits([Slot::Feature, Slot::Scenario])) {
            enc.begin_named(f.get(Slot::Feature), f.get(Slot::Scenario), step, action);
        } else {
            enc.begin(sc, step, action);
        }
        let name = custom_name.or(f.get(Slot::Name));
        if let Some(n) = name {
            enc.str(json::key!("name"), n);
        }
        let current = || match f.get(Slot::Schema) {
            Some(s) => Cow::Borrowed(s),
            None => db::current_schema(sc, db()),
        };
        match action.kind() {
            ActionKind::Secret => {
                let n = f.get(Slot::Name).unwrap_or("jwt_secret");
                process_resource(enc.members(), n);
            }
            ActionKind::Config => {
                let n = f.get(Slot::Name).unwrap_or("default");
                process_resource(enc.members(), &format!("config:{n}"));
            }
            ActionKind::Schema if action != Action::DbDdl => {
                let schema = match f.get(Slot::Schema).or(f.get(Slot::Name)) {
                    Some(s) => Cow::Borrowed(s),
                    None => db::current_schema(sc, db()),
                };
                db::encode_schema(enc.members(), db(), &schema);
            }
            ActionKind::Cleanup | ActionKind::Read | ActionKind::Write | ActionKind::Schema => {
                let tables: Vec<String> = f
                    .get(Slot::Table)
                    .map(|t| {
                        t.split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                let current = current();
                if tables.is_empty() && action != Action::DbCleanup && !f.has(Slot::Schema.bit()) {
                    // A read or write of nothing in particular: no resource.
                } else {
                    db::encode_tables(enc.members(), db(), &tables, &current);
                }
            }
            _ if f.has(Slot::bits([Slot::Table, Slot::Schema])) => {
                let current = current();
                let tables: Vec<String> = f
                    .get(Slot::Table)
                    .map(|t| t.split(',').map(|s| s.trim().to_owned()).collect())
                    .unwrap_or_default();
                db::encode_tables(enc.members(), db(), &tables, &current);
            }
            _ => {}
        }
        if let Some(d) = f.get(Slot::Details).or(f.get(Slot::Message)) {
            let out = enc.members();
            json::push_key(out, json::key!("details"));
            // Short clean text (the common case) is written as it is, in
            // one pass; anything else is scrubbed, then cut to 4000 bytes.
            if d.len() > 4000 || !json::string_unless_secret(out, d) {
                let mut d = secret::scrub(d).into_owned();
                truncate_utf8(&mut d, 4000);
                json::string(out, &d);
            }
        }
        if let Some(o) = f.get(Slot::Outcome) {
            if let Ok(o) = o.parse::<Outcome>() {
                enc.str(json::key!("outcome"), o.as_str());
            }
        }
        if let Some(e) = f.get(Slot::Error) {
            enc.str(json::key!("error"), &secret::scrub(e));
        }
        if let Some(d) = f.duration_us() {
            enc.uint(json::key!("duration_us"), d);
        }
        if let Some(r) = f.rows() {
            enc.uint(json::key!("rows"), r);
        }
        encode_fields(enc.members(), f, action == Action::HttpRequest);
        enc.write_to(&self.writer);
    }
}

/// `,"fields":{..}`: method, path (without its query string for an HTTP
/// request), status, and the fields the format has no member for.
fn encode_fields(out: &mut Vec<u8>, f: &impl FieldSource, http: bool) {
    let has_fields = !f.extra().is_empty()
        || f.has(Slot::bits([Slot::Method, Slot::Path]))
        || f.status().is_some();
    if !has_fields {
        return;
    }
    out.extend_from_slice(b",\"fields\":{");
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    if let Some(m) = f.get(Slot::Method) {
        sep(out);
        json::string(out, "method");
        out.push(b':');
        json::string(out, m);
    }
    if let Some(p) = f.get(Slot::Path) {
        sep(out);
        json::string(out, "path");
        out.push(b':');
        // Query strings and fragments (`#access_token=`) carry tokens;
        // keep the path only.
        let p = if http {
            p.split(['?', '#']).next().unwrap_or(p)
        } else {
            p
        };
        json::string(out, &secret::scrub(p));
    }
    if let Some(s) = f.status() {
        sep(out);
        json::string(out, "status");
        out.push(b':');
        json::uint(out, s);
    }
    if !f.extra().is_empty() {
        sep(out);
        out.extend_from_slice(f.extra());
    }
    out.push(b'}');
}

/// Rows returned (reads) or changed (writes, cleanups) by one statement,
/// as sqlx counted them; none where the count does not mean that: DDL,
/// transactions, and TRUNCATE (PostgreSQL reports no count for it, and
/// sqlx then says 0).
fn statement_rows(st: &sql::Statement, f: &Fields) -> Option<u64> {
    let truncate = st
        .redacted
        .get(..8)
        .is_some_and(|v| v.eq_ignore_ascii_case("TRUNCATE"));
    match st.action.kind() {
        ActionKind::Read => f.rows_returned,
        ActionKind::Write => rows_changed(f),
        ActionKind::Cleanup if !truncate => rows_changed(f),
        _ => None,
    }
}

/// Rows a data-changing statement changed. A `… RETURNING` statement
/// returns one row per row it changed, which sqlx counts in
/// `rows_returned`; it adds `rows_affected` only when the driver reaches
/// the statement's end, which SQLite's `fetch_one` and `fetch_optional`
/// never do (they stop at the first row, leaving it 0). So the larger of
/// the two: exact when the statement was read to its end, else the rows
/// read, a lower bound. Without RETURNING nothing is returned and this is
/// `rows_affected`.
fn rows_changed(f: &Fields) -> Option<u64> {
    match (f.rows_affected, f.rows_returned) {
        (Some(affected), Some(returned)) => Some(affected.max(returned)),
        (affected, returned) => affected.or(returned),
    }
}

/// `str::trim`, skipping its Unicode scan in the usual case of nothing to
/// trim (action names on every event).
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}
