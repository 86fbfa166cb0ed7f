//! The `tracing-subscriber` layer that turns spans and events into records.
//!
//! - A span named `scenario` on target `bdd_state` is a scenario: it gets a
//!   file-unique id (span ids are reused, so they won't do) stored in the
//!   span's extensions; its creation is `SCENARIO_START`, its end (an
//!   explicit `SCENARIO_END` event inside it, or its close) is
//!   `SCENARIO_END`. A span named `step` works the same way for steps.
//! - Any event is attributed to the nearest scenario (and step) among its
//!   span ancestors, whatever thread or task it runs on. For the usual
//!   contextual event that answer comes from the layer's own mirror of the
//!   entered spans ([`crate::span_stack`], [`Node`]), not from the registry. When an event has
//!   no scenario ancestor and exactly one scenario is open in the process,
//!   it is attributed to that one (the common one-scenario-at-a-time suite
//!   that never enters the span); with several open, it stays unattributed
//!   rather than guessing.
//! - Events on target `bdd_state` carry an `action`; events on target
//!   `sqlx::query` are SQL statements, classified by [`crate::sql`].
//!
//! The layer carries its own per-layer filter (only those two targets, any
//! level), so it sees sqlx's DEBUG events even when the rest of the
//! subscriber logs at INFO, and it makes no other callsite interesting.

use std::any::TypeId;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, RwLock, Weak};
use std::time::Instant;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record as SpanRecord};
use tracing_core::{Event, Interest, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::config::{Config, Flush, RECORDED_ENV};
use crate::format::{Action, Header, Outcome, FORMAT_NAME, FORMAT_VERSION, TARGET};
use crate::json;
use crate::secret;
use crate::span_stack::Current;
use crate::sql;
use crate::writer::Writer;

/// The `tracing` target of sqlx's per-statement events.
pub const SQLX_TARGET: &str = "sqlx::query";

type OurFilter = FilterFn<fn(&Metadata<'_>) -> bool>;

fn is_ours(meta: &Metadata<'_>) -> bool {
    let t = meta.target();
    // Cached per callsite (FilterFn), so these checks cost nothing per event.
    (t == TARGET && meta.name() != RECORDED)
        || t == SQLX_TARGET
        || crate::cucumber_spans::is_cucumber_span(meta)
}

/// Name of the typed helpers' events that the layer has already recorded
/// directly (see [`record_direct`]): its filter ignores them, other layers
/// see them like any event on target `bdd_state`.
pub(crate) const RECORDED: &str = "state_tracer::recorded";

/// Set when the first layer is built: until then (and so always, when
/// tracing is off) the typed helpers do not look for one.
static ANY_LAYER: AtomicBool = AtomicBool::new(false);

/// Whether a layer was ever built in this process (see [`record_direct`]).
#[inline(always)]
pub(crate) fn any_layer() -> bool {
    ANY_LAYER.load(Ordering::Relaxed)
}

/// The typed helpers' way in: records `action`, with `fields`, straight
/// into the [`StateLayer`] of the current dispatcher, found with
/// `Dispatch::downcast_ref` (how tracing-opentelemetry and tracing-error
/// reach their layers). That skips `tracing`'s dispatch, per-layer filter
/// bookkeeping and field visiting. Returns `false`, having
/// recorded nothing, when there is no such layer (or it cannot be
/// reached, e.g. behind a `reload` layer) or this thread's span mirror is
/// unreliable: the helper then emits a plain event, which any layer
/// handles as before.
#[inline]
pub(crate) fn record_direct(action: Action, fields: &HelperFields<'_>) -> bool {
    tracing::dispatcher::get_default(|dispatch| match dispatch.downcast_ref::<Inner>() {
        Some(inner) => inner.on_helper(action, fields),
        None => false,
    })
}

/// What the record encoder reads of an event's fields: the visitor's
/// [`Fields`], or a typed helper's [`HelperFields`] (borrowed, no copies).
trait FieldSource {
    /// The text field with this `HAS_*` flag, if present.
    fn get(&self, flag: u32) -> Option<&str>;
    /// What both sources keep alike.
    fn common(&self) -> &Common;
    /// Fields the format has no member for, pre-encoded (see [`Fields::extra`]).
    fn extra(&self) -> &[u8];

    /// Whether any of the text fields in `mask` is present.
    #[inline(always)]
    fn has(&self, mask: u32) -> bool {
        self.common().has & mask != 0
    }
    #[inline(always)]
    fn rows(&self) -> Option<u64> {
        self.common().rows
    }
    #[inline(always)]
    fn status(&self) -> Option<u64> {
        self.common().status
    }
    #[inline(always)]
    fn duration_us(&self) -> Option<u64> {
        self.common().duration_us
    }
}

/// The presence flags and numbers of an event's fields, the same for both
/// [`FieldSource`]s.
#[derive(Default, Clone, Copy)]
struct Common {
    /// `HAS_*` flags of the text fields present.
    has: u32,
    rows: Option<u64>,
    status: Option<u64>,
    duration_us: Option<u64>,
}

impl FieldSource for Fields {
    #[inline(always)]
    fn get(&self, flag: u32) -> Option<&str> {
        if self.common.has & flag == 0 {
            return None;
        }
        Some(match flag {
            HAS_ACTION => &self.action,
            HAS_DETAILS => &self.details,
            HAS_NAME => &self.name,
            HAS_TABLE => &self.table,
            HAS_SCHEMA => &self.schema,
            HAS_DB => &self.db,
            HAS_MESSAGE => &self.message,
            HAS_FEATURE => &self.feature,
            HAS_SCENARIO => &self.scenario,
            HAS_OUTCOME => &self.outcome,
            HAS_ERROR => &self.error,
            HAS_TEXT => &self.text,
            HAS_METHOD => &self.method,
            HAS_PATH => &self.path,
            _ => return None,
        })
    }
    #[inline(always)]
    fn common(&self) -> &Common {
        &self.common
    }
    #[inline(always)]
    fn extra(&self) -> &[u8] {
        &self.extra
    }
}

/// A typed helper's fields, borrowed from its arguments. Only the names
/// the helpers use exist; [`HelperFields::put`] maps each to the slot the
/// visitor fills for the same field of a plain event.
#[derive(Default)]
pub(crate) struct HelperFields<'a> {
    common: Common,
    name: &'a str,
    details: &'a str,
    table: &'a str,
    schema: &'a str,
    method: &'a str,
    path: &'a str,
}

impl<'a> HelperFields<'a> {
    /// Sets field `name`: a helper's field name, a literal, so the match
    /// below folds away.
    #[inline(always)]
    pub(crate) fn put(&mut self, name: &'static str, value: impl HelperValue<'a>) {
        value.put_into(self, name);
    }

    #[inline(always)]
    fn put_str(&mut self, name: &'static str, v: &'a str) {
        let (slot, flag) = match name {
            "name" => (&mut self.name, HAS_NAME),
            "details" => (&mut self.details, HAS_DETAILS),
            "table" | "tables" => (&mut self.table, HAS_TABLE),
            "schema" => (&mut self.schema, HAS_SCHEMA),
            "method" => (&mut self.method, HAS_METHOD),
            "path" => (&mut self.path, HAS_PATH),
            _ => unreachable!("typed helper field {name} has no slot"),
        };
        *slot = v;
        self.common.has |= flag;
    }

    #[inline(always)]
    fn put_u64(&mut self, name: &'static str, v: u64) {
        match name {
            "status" => self.common.status = Some(v),
            "duration_us" => self.common.duration_us = Some(v),
            _ => unreachable!("typed helper field {name} has no slot"),
        }
    }
}

impl FieldSource for HelperFields<'_> {
    #[inline(always)]
    fn get(&self, flag: u32) -> Option<&str> {
        if self.common.has & flag == 0 {
            return None;
        }
        match flag {
            HAS_NAME => Some(self.name),
            HAS_DETAILS => Some(self.details),
            HAS_TABLE => Some(self.table),
            HAS_SCHEMA => Some(self.schema),
            HAS_METHOD => Some(self.method),
            HAS_PATH => Some(self.path),
            _ => None,
        }
    }
    #[inline(always)]
    fn common(&self) -> &Common {
        &self.common
    }
    #[inline(always)]
    fn extra(&self) -> &[u8] {
        &[]
    }
}

/// A value a typed helper passes to [`HelperFields::put`].
pub(crate) trait HelperValue<'a> {
    fn put_into(self, fields: &mut HelperFields<'a>, name: &'static str);
}

impl<'a> HelperValue<'a> for &'a str {
    #[inline(always)]
    fn put_into(self, fields: &mut HelperFields<'a>, name: &'static str) {
        fields.put_str(name, self);
    }
}

impl HelperValue<'_> for u64 {
    #[inline(always)]
    fn put_into(self, fields: &mut HelperFields<'_>, name: &'static str) {
        fields.put_u64(name, self);
    }
}

/// The state-tracing layer. Compose it into any subscriber built on
/// [`Registry`]:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// let (state, _guard) = state_tracer::StateLayer::from_env().unzip();
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::filter::LevelFilter::INFO))
///     .with(state) // None when BDD_TRACE_STATE is off: no cost, no file
///     .init();
/// ```
///
/// `S` is the subscriber it is added to; it is inferred from `.with(..)`.
pub struct StateLayer<S = Registry> {
    inner: Filtered<Inner, OurFilter, S>,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for StateLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateLayer")
            .field("path", &self.shared.writer.path())
            .finish()
    }
}

impl StateLayer {
    /// A builder for explicit configuration (tests, custom folders).
    /// Unset options fall back to the environment's values and defaults,
    /// but the builder works whether or not `BDD_TRACE_STATE` is set.
    pub fn builder() -> Builder {
        Builder::default()
    }
}

impl<S> StateLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    /// The layer configured from the environment, or `None` when
    /// `BDD_TRACE_STATE` is off (or the trace file cannot be created, which
    /// is reported once on stderr: tracing never fails the process).
    pub fn from_env() -> Option<(StateLayer<S>, TraceGuard)> {
        let cfg = Config::from_env()?;
        match build(cfg) {
            Ok(pair) => Some(pair),
            Err(e) => {
                eprintln!("state-tracer: tracing disabled: {e}");
                None
            }
        }
    }

    /// Path of the trace file this layer writes.
    pub fn path(&self) -> &Path {
        self.shared.writer.path()
    }
}

/// Explicit configuration; see [`StateLayer::builder`].
#[derive(Debug, Default, Clone)]
pub struct Builder {
    dir: Option<PathBuf>,
    run_id: Option<String>,
    process: Option<String>,
    flush: Option<Flush>,
}

impl Builder {
    /// Folder for the trace file (created `0700` if missing).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }
    /// Run ID shared by the processes of one suite run.
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }
    /// Human label of this process.
    pub fn process_label(mut self, label: impl Into<String>) -> Self {
        self.process = Some(label.into());
        self
    }
    /// Durability mode.
    pub fn flush(mut self, flush: Flush) -> Self {
        self.flush = Some(flush);
        self
    }
    /// Creates the trace file and writes its header.
    pub fn build<S>(self) -> io::Result<(StateLayer<S>, TraceGuard)>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut cfg = Config::from_env().unwrap_or_else(Config::defaults);
        if let Some(d) = self.dir {
            cfg.dir = d;
        }
        if let Some(r) = self.run_id {
            cfg.run_id = r;
            cfg.run_id_generated = false;
        }
        if let Some(p) = self.process {
            cfg.process = p;
        }
        if let Some(f) = self.flush {
            cfg.flush = f;
        }
        build(cfg)
    }
}

fn build<S>(cfg: Config) -> io::Result<(StateLayer<S>, TraceGuard)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if cfg.run_id_generated {
        // Children spawned from now on inherit the run ID.
        std::env::set_var(crate::config::ENV_RUN_ID, &cfg.run_id);
    }
    let start = chrono::Utc::now();
    let (file, path) = crate::file::create(&cfg.dir, &cfg.run_id, start)?;
    let header = header(&cfg, start);
    let writer = Writer::new(file, path, cfg.flush, &header)?;
    let shared = Arc::new(Shared {
        writer,
        next_scenario: AtomicU64::new(1),
        open: Mutex::new(Vec::new()),
        open_count: AtomicUsize::new(0),
    });
    register_at_exit(&shared);
    shared.write_simple(Action::ProcessStart, None);
    ANY_LAYER.store(true, Ordering::Relaxed);
    let inner = Inner {
        shared: shared.clone(),
        layer_id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
    };
    let filter: OurFilter =
        tracing_subscriber::filter::filter_fn(is_ours as fn(&Metadata<'_>) -> bool);
    let layer = StateLayer {
        inner: inner.with_filter(filter),
        shared: shared.clone(),
    };
    Ok((layer, TraceGuard { shared }))
}

fn header(cfg: &Config, start: chrono::DateTime<chrono::Utc>) -> Header<'static> {
    let mut config = vec![
        ("flush".into(), cfg.flush.to_string().into()),
        ("dir".into(), cfg.dir.display().to_string().into()),
    ];
    for name in RECORDED_ENV {
        if let Ok(v) = std::env::var(name) {
            config.push(((*name).into(), secret::scrub(&v).into_owned().into()));
        }
    }
    Header {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        run_id: cfg.run_id.clone().into(),
        pid: std::process::id(),
        // SAFETY: getppid cannot fail.
        ppid: Some(unsafe { libc::getppid() } as u32),
        host: hostname().into(),
        process: cfg.process.clone().into(),
        argv: scrubbed_argv().into_iter().map(Into::into).collect(),
        tracer: concat!("state-tracer ", env!("CARGO_PKG_VERSION")).into(),
        start,
        config,
        rerun: None,
        cwd: crate::format::current_dir(),
    }
}

/// argv with secrets masked: `--password x` and `token=x` lose their values.
fn scrubbed_argv() -> Vec<String> {
    let mut out = Vec::new();
    let mut mask_next = false;
    for arg in std::env::args_os() {
        let arg = arg.to_string_lossy().into_owned();
        if mask_next {
            out.push("***".to_owned());
            mask_next = false;
            continue;
        }
        let flag = arg.trim_start_matches('-').to_ascii_lowercase();
        if arg.starts_with("--")
            && !arg.contains('=')
            && [
                "password", "passwd", "token", "secret", "api-key", "apikey", "key",
            ]
            .iter()
            .any(|k| flag == *k || flag.ends_with(&format!("-{k}")))
        {
            mask_next = true;
        }
        out.push(secret::scrub(&arg).into_owned());
    }
    out
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Keeps the trace file open; dropping it writes `PROCESS_END` and the
/// footer. If it is never dropped (`std::process::exit`, a leaked guard),
/// the same happens at `exit(3)`; either way only once.
#[must_use = "dropping the guard ends the trace file; keep it alive for the whole run"]
pub struct TraceGuard {
    shared: Arc<Shared>,
}

impl TraceGuard {
    /// Path of the trace file.
    pub fn path(&self) -> &Path {
        self.shared.writer.path()
    }
}

impl fmt::Debug for TraceGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceGuard")
            .field("path", &self.path())
            .finish()
    }
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        self.shared.finish();
    }
}

static LIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

fn register_at_exit(shared: &Arc<Shared>) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(shared));
    }
    AT_EXIT.call_once(|| {
        extern "C" fn finish_all() {
            let live: Vec<Weak<Shared>> = match LIVE.lock() {
                Ok(l) => l.clone(),
                Err(p) => p.into_inner().clone(),
            };
            for shared in live.iter().filter_map(Weak::upgrade) {
                shared.finish();
            }
        }
        // SAFETY: registering a plain extern "C" fn with no arguments.
        unsafe { libc::atexit(finish_all) };
    });
}

/// State shared by the layer, its guard and the exit hook.
pub(crate) struct Shared {
    writer: Arc<Writer>,
    next_scenario: AtomicU64,
    /// Open scenarios, for attributing events that carry no scenario span.
    open: Mutex<Vec<Arc<ScenarioData>>>,
    open_count: AtomicUsize,
}

struct ScenarioData {
    id: u64,
    /// `,"scenario_id":N,"feature":"..","scenario":".."`, encoded once
    /// here so each event copies it instead of escaping the names again.
    encoded: Box<[u8]>,
    start: Instant,
    ended: AtomicBool,
    outcome: Mutex<Option<Outcome>>,
    error: Mutex<Option<String>>,
    /// Current schema (search_path) set inside this scenario.
    schema: Mutex<Option<String>>,
}

struct StepData {
    text: String,
    start: Instant,
    ended: AtomicBool,
    outcome: Mutex<Option<Outcome>>,
    error: Mutex<Option<String>>,
    scenario: Option<Arc<ScenarioData>>,
}

/// One of the layer's spans as attribution sees it: what it is, and its
/// nearest ancestor among the layer's spans. Built once in `on_new_span`
/// and kept in the span's extensions and on [`crate::span_stack`] while it
/// is entered, so an event resolves its scenario and step by following
/// these pointers instead of walking the registry.
pub(crate) struct Node {
    kind: NodeKind,
    parent: Option<Arc<Node>>,
}

enum NodeKind {
    Scenario(Arc<ScenarioData>),
    Step(Arc<StepData>),
    /// Any other span of ours (cucumber's): a cucumber scenario span gets
    /// the scenario it was linked to (see `crate::cucumber_spans`).
    Other(Mutex<Option<Arc<ScenarioData>>>),
}

/// A scenario found for an event: borrowed from a span, or owned (the sole
/// open scenario, or one adopted by a cucumber span).
enum Found<'a> {
    None,
    Borrowed(&'a ScenarioData),
    Owned(Arc<ScenarioData>),
}

impl Found<'_> {
    fn get(&self) -> Option<&ScenarioData> {
        match self {
            Found::None => None,
            Found::Borrowed(sc) => Some(sc),
            Found::Owned(sc) => Some(sc),
        }
    }
}

impl Node {
    /// Nearest step, and the nearest scenario (the step's own if it has
    /// one), walking up from this span: the same answer as
    /// [`Inner::context`]'s walk over the registry's scope.
    #[inline(always)]
    fn attribution(&self) -> (Found<'_>, Option<&StepData>) {
        let mut step: Option<&StepData> = None;
        let mut node = Some(self);
        while let Some(n) = node {
            match &n.kind {
                NodeKind::Step(st) if step.is_none() => {
                    step = Some(st);
                    if let Some(sc) = &st.scenario {
                        return (Found::Borrowed(sc), step);
                    }
                }
                NodeKind::Step(_) => {}
                NodeKind::Scenario(sc) => return (Found::Borrowed(sc), step),
                NodeKind::Other(adopted) => {
                    if let Some(sc) = lock(adopted).clone() {
                        return (Found::Owned(sc), step);
                    }
                }
            }
            node = n.parent.as_deref();
        }
        (Found::None, step)
    }
}

/// Database identity for sqlx statements; see [`crate::set_database`].
static DB_IDENTITY: RwLock<Option<String>> = RwLock::new(None);
/// Schema selected outside any scenario.
static PROCESS_SCHEMA: Mutex<Option<String>> = Mutex::new(None);

pub(crate) fn set_database_identity(url: &str) {
    let id = secret::db_identity(url);
    if let Ok(mut g) = DB_IDENTITY.write() {
        *g = Some(id);
    }
}

fn database_identity() -> String {
    if let Some(id) = DB_IDENTITY.read().ok().and_then(|g| g.clone()) {
        return id;
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => secret::db_identity(&url),
        _ => "unknown".to_owned(),
    }
}

fn default_schema(db: &str) -> &'static str {
    if db.starts_with("sqlite") {
        "main"
    } else {
        "public"
    }
}

impl Shared {
    fn finish(&self) {
        if self.writer.is_finished() {
            return;
        }
        with_scratch(|s| {
            crate::writer::start_body(&mut s.body);
            encode_common(&mut s.body, None, None, Action::ProcessEnd);
            s.body.extend_from_slice(b"}\n");
            self.writer.finish(Some(&mut s.body));
        });
    }

    fn write_simple(&self, action: Action, details: Option<&str>) {
        with_scratch(|s| {
            crate::writer::start_body(&mut s.body);
            encode_common(&mut s.body, None, None, action);
            if let Some(d) = details {
                json::field_str(&mut s.body, json::key!("details"), d);
            }
            s.body.extend_from_slice(b"}\n");
            self.writer.write_event(&mut s.body);
        });
    }

    fn scenario_end(&self, sc: &ScenarioData, step: Option<&str>) {
        if sc.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(mut open) = self.open.lock() {
            open.retain(|o| o.id != sc.id);
            self.open_count.store(open.len(), Ordering::Release);
        }
        let outcome = lock(&sc.outcome).unwrap_or(Outcome::Passed);
        let error = lock(&sc.error).clone();
        self.write_end(
            Some(sc),
            step,
            Action::ScenarioEnd,
            outcome,
            error,
            sc.start,
        );
    }

    fn step_end(&self, st: &StepData) {
        if st.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let outcome = lock(&st.outcome).unwrap_or(Outcome::Passed);
        let error = lock(&st.error).clone();
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
            crate::writer::start_body(&mut s.body);
            encode_common(&mut s.body, sc, step, action);
            json::field_str(&mut s.body, json::key!("outcome"), outcome.as_str());
            if let Some(e) = &error {
                json::field_str(&mut s.body, json::key!("error"), &secret::scrub(e));
            }
            json::field_uint(
                &mut s.body,
                json::key!("duration_us"),
                start.elapsed().as_micros() as u64,
            );
            s.body.extend_from_slice(b"}\n");
            self.writer.write_event(&mut s.body);
        });
    }

    /// The only open scenario, if exactly one is open.
    fn sole_open(&self) -> Option<Arc<ScenarioData>> {
        if self.open_count.load(Ordering::Acquire) != 1 {
            return None;
        }
        let open = self.open.lock().ok()?;
        match open.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// `,"tid":N` + scenario identification + `,"action":"X"` (no closing brace).
#[inline(always)]
fn encode_common(out: &mut Vec<u8>, sc: Option<&ScenarioData>, step: Option<&str>, action: Action) {
    push_tid(out);
    if let Some(sc) = sc {
        out.extend_from_slice(&sc.encoded);
    }
    push_step_and_action(out, step, action);
}

/// `,"tid":N` of this thread.
#[inline(always)]
fn push_tid(out: &mut Vec<u8>) {
    let written = TID_MEMBER.try_with(|(tid, len)| {
        // A fixed-size copy and a cut are cheaper than a variable-size copy.
        out.extend_from_slice(tid);
        out.truncate(out.len() - (tid.len() - usize::from(*len).min(tid.len())));
    });
    if written.is_err() {
        // Thread teardown.
        json::field_uint(out, json::key!("tid"), thread_tid());
    }
}

/// `,"step":"..."` (if in a step) and `,"action":"X"`.
#[inline(always)]
fn push_step_and_action(out: &mut Vec<u8>, step: Option<&str>, action: Action) {
    if let Some(step) = step {
        json::field_str(out, json::key!("step"), step);
    }
    out.extend_from_slice(action.json_member().as_bytes());
}

/// `str::trim`, skipping its Unicode scan in the usual case of nothing to
/// trim (action names on every event).
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// A scenario's identification as it appears in each of its records.
fn encode_scenario(id: u64, feature: &str, name: &str) -> Box<[u8]> {
    let mut out = Vec::with_capacity(48 + feature.len() + name.len());
    json::field_uint(&mut out, json::key!("scenario_id"), id);
    json::field_str(&mut out, json::key!("feature"), feature);
    json::field_str(&mut out, json::key!("scenario"), name);
    out.into_boxed_slice()
}

static NEXT_TID: AtomicU64 = AtomicU64::new(1);

/// `,"tid":N` of this thread (padded to a fixed size) and its length.
fn tid_member() -> ([u8; 28], u8) {
    let mut v = Vec::with_capacity(28);
    json::field_uint(&mut v, json::key!("tid"), thread_tid());
    let mut member = [b' '; 28];
    member[..v.len()].copy_from_slice(&v);
    (member, v.len() as u8)
}

thread_local! {
    static TID: Cell<u64> = const { Cell::new(0) };
    /// [`tid_member`], encoded once per thread.
    static TID_MEMBER: ([u8; 28], u8) = tid_member();
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Small per-process thread number (1, 2, ...), stable for a thread's life.
fn thread_tid() -> u64 {
    TID.try_with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TID.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
    .unwrap_or(0)
}

/// Reused per-thread buffers, so recording allocates nothing in steady state.
#[derive(Default)]
struct Scratch {
    body: Vec<u8>,
    fields: Fields,
}

#[inline(always)]
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
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

/// Fields of one event, collected by name.
#[derive(Default)]
struct Fields {
    action: String,
    name: String,
    table: String,
    schema: String,
    db: String,
    details: String,
    message: String,
    feature: String,
    scenario: String,
    outcome: String,
    error: String,
    text: String,
    method: String,
    path: String,
    // sqlx
    summary: String,
    statement: String,
    rows_affected: Option<u64>,
    rows_returned: Option<u64>,
    elapsed_secs: Option<f64>,
    /// Other fields, pre-encoded as `"k":v` pairs separated by commas.
    extra: Vec<u8>,
    /// Presence flags and the numbers the encoder reads.
    common: Common,
    /// The callsite whose field names `codes` caches: a typed helper's
    /// events come from the same few callsites, so each field's slot is
    /// looked up by name once per callsite change, not once per event.
    callsite: Option<tracing_core::callsite::Identifier>,
    /// [`slot_code`] + 1 of field `i` of `callsite`; 0 = not looked up yet.
    codes: [u8; 8],
}

const HAS_ACTION: u32 = 1;
const HAS_DETAILS: u32 = 2;
const HAS_NAME: u32 = 4;
const HAS_TABLE: u32 = 8;
const HAS_SCHEMA: u32 = 16;
const HAS_DB: u32 = 32;
const HAS_MESSAGE: u32 = 64;
const HAS_FEATURE: u32 = 128;
const HAS_SCENARIO: u32 = 256;
const HAS_OUTCOME: u32 = 512;
const HAS_ERROR: u32 = 1024;
const HAS_TEXT: u32 = 2048;
const HAS_METHOD: u32 = 4096;
const HAS_PATH: u32 = 8192;

impl Fields {
    fn clear(&mut self) {
        self.common = Common::default();
        self.rows_affected = None;
        self.rows_returned = None;
        self.elapsed_secs = None;
        self.summary.clear();
        self.statement.clear();
        self.extra.clear();
    }

    fn slot(&mut self, name: &str) -> Option<(&mut String, u32)> {
        self.slot_by_code(slot_code(name))
    }

    fn slot_by_code(&mut self, code: u8) -> Option<(&mut String, u32)> {
        Some(match code {
            1 => (&mut self.action, HAS_ACTION),
            2 => (&mut self.details, HAS_DETAILS),
            3 => (&mut self.name, HAS_NAME),
            4 => (&mut self.table, HAS_TABLE),
            5 => (&mut self.schema, HAS_SCHEMA),
            6 => (&mut self.db, HAS_DB),
            7 => (&mut self.message, HAS_MESSAGE),
            8 => (&mut self.feature, HAS_FEATURE),
            9 => (&mut self.scenario, HAS_SCENARIO),
            10 => (&mut self.outcome, HAS_OUTCOME),
            11 => (&mut self.error, HAS_ERROR),
            12 => (&mut self.text, HAS_TEXT),
            13 => (&mut self.method, HAS_METHOD),
            14 => (&mut self.path, HAS_PATH),
            15 => (&mut self.summary, 0),
            16 => (&mut self.statement, 0),
            _ => return None,
        })
    }

    /// [`slot_code`] of `field`, cached per callsite (see `codes`).
    fn code(&mut self, field: &Field) -> u8 {
        let i = field.index();
        if i >= self.codes.len() {
            return slot_code(field.name());
        }
        let callsite = field.callsite();
        if self.callsite.as_ref() == Some(&callsite) {
            if let Some(code) = self.codes[i].checked_sub(1) {
                return code;
            }
        } else {
            self.callsite = Some(callsite);
            self.codes = [0; 8];
        }
        let code = slot_code(field.name());
        self.codes[i] = code + 1;
        code
    }

    #[inline]
    fn set_str(&mut self, name: &str, value: &str) {
        self.set_str_code(slot_code(name), name, value);
    }

    #[inline(always)]
    fn set_str_code(&mut self, code: u8, name: &str, value: &str) {
        if let Some((slot, flag)) = self.slot_by_code(code) {
            slot.clear();
            slot.push_str(value);
            self.common.has |= flag;
        } else {
            self.extra_pair(name, ExtraValue::Str(value));
        }
    }

    #[inline]
    fn set_u64(&mut self, name: &str, v: u64) {
        match name {
            "rows" => self.common.rows = Some(v),
            "status" => self.common.status = Some(v),
            "duration_us" => self.common.duration_us = Some(v),
            "rows_affected" => self.rows_affected = Some(v),
            "rows_returned" => self.rows_returned = Some(v),
            _ => {
                if self.slot(name).is_some() {
                    self.set_str(name, &v.to_string());
                } else {
                    self.extra_pair(name, ExtraValue::Num(v as i128));
                }
            }
        }
    }

    // Rare (fields the format has no member for): kept out of line so the
    // visitor's common path stays small.
    #[cold]
    #[inline(never)]
    fn extra_pair(&mut self, name: &str, v: ExtraValue<'_>) {
        if name == "elapsed" || name.starts_with("log.") {
            return; // sqlx's human duration and tracing-log metadata: noise.
        }
        if !self.extra.is_empty() {
            self.extra.push(b',');
        }
        json::string(&mut self.extra, name);
        self.extra.push(b':');
        if secret::is_secret_key(name) {
            json::string(&mut self.extra, "***");
            return;
        }
        match v {
            ExtraValue::Str(s) => json::string(&mut self.extra, &secret::scrub(s)),
            ExtraValue::Num(n) => self.extra.extend_from_slice(n.to_string().as_bytes()),
            ExtraValue::Bool(b) => self
                .extra
                .extend_from_slice(if b { b"true" } else { b"false" }),
        }
    }
}

/// Which [`Fields`] slot a field name fills (see [`Fields::slot_by_code`]);
/// 0 for none.
#[inline]
fn slot_code(name: &str) -> u8 {
    match name {
        "action" => 1,
        "details" => 2,
        "name" => 3,
        "table" | "tables" => 4,
        "schema" => 5,
        "db" => 6,
        "message" => 7,
        "feature" => 8,
        "scenario" => 9,
        "outcome" => 10,
        "error" => 11,
        "text" => 12,
        "method" => 13,
        "path" => 14,
        "summary" => 15,
        "db.statement" => 16,
        _ => 0,
    }
}

enum ExtraValue<'a> {
    Str(&'a str),
    Num(i128),
    Bool(bool),
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let code = self.code(field);
        self.set_str_code(code, field.name(), value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set_u64(field.name(), value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if value >= 0 {
            self.set_u64(field.name(), value as u64);
        } else if self.slot(field.name()).is_some() {
            self.set_str(field.name(), &value.to_string());
        } else {
            self.extra_pair(field.name(), ExtraValue::Num(value as i128));
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        match field.name() {
            "elapsed_secs" => self.elapsed_secs = Some(value),
            name => self.set_str(name, &value.to_string()),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.slot(field.name()).is_some() {
            self.set_str(field.name(), if value { "true" } else { "false" });
        } else {
            self.extra_pair(field.name(), ExtraValue::Bool(value));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        let name = field.name();
        if let Some((slot, flag)) = self.slot(name) {
            slot.clear();
            let _ = write!(slot, "{value:?}");
            self.common.has |= flag;
        } else {
            let text = format!("{value:?}");
            self.extra_pair(name, ExtraValue::Str(&text));
        }
    }
}

/// The layer proper, wrapped in its filter by [`StateLayer`].
struct Inner {
    shared: Arc<Shared>,
    /// Tells this layer's entries on [`crate::span_stack`] from others'.
    layer_id: u64,
}

static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

impl Inner {
    /// Nearest scenario and step among the event's ancestors (or the sole
    /// open scenario), asking the registry: the slow path, for events with
    /// an explicit parent, root events, and threads whose
    /// [`crate::span_stack`] mirror could not be kept. Contextual events
    /// normally get the same answer from [`Node::attribution`].
    fn context<S>(
        &self,
        event: &Event<'_>,
        ctx: &Context<'_, S>,
    ) -> (Option<Arc<ScenarioData>>, Option<Arc<StepData>>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut scenario = None;
        let mut step = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let ext = span.extensions();
                if step.is_none() {
                    if let Some(st) = ext.get::<Arc<StepData>>() {
                        step = Some(st.clone());
                        if let Some(sc) = &st.scenario {
                            scenario = Some(sc.clone());
                            break;
                        }
                    }
                }
                if let Some(sc) = ext.get::<Arc<ScenarioData>>() {
                    scenario = Some(sc.clone());
                    break;
                }
            }
        }
        if scenario.is_none() {
            scenario = self.shared.sole_open();
        }
        (scenario, step)
    }

    /// The scenario and step of a contextual event whose current span (as
    /// [`crate::span_stack`] mirrors it) is `current`; without a scenario
    /// span, the sole open scenario.
    #[inline(always)]
    fn attribute<'a>(&self, current: Current<'a>) -> (Found<'a>, Option<&'a StepData>) {
        let (found, step) = match current {
            Current::Node(node) => node.attribution(),
            Current::None => (Found::None, None),
        };
        let found = match found {
            Found::None => self.shared.sole_open().map_or(Found::None, Found::Owned),
            found => found,
        };
        (found, step)
    }

    /// [`record_direct`]'s work for this layer: the same record a helper's
    /// event would have produced through [`Layer::on_event`].
    #[inline(always)]
    fn on_helper(&self, action: Action, fields: &HelperFields<'_>) -> bool {
        if self.shared.writer.is_finished() {
            return true;
        }
        with_scratch(|s| {
            crate::span_stack::with_current(self.layer_id, |current| {
                let (found, step) = self.attribute(current);
                let step = step.map(|st| st.text.as_str());
                self.on_state(fields, Some(Some(action)), found.get(), step, &mut s.body);
            })
            .is_some()
        })
    }

    /// Writes the record for `event`, whose fields are `fields`, attributed
    /// to `scenario` and `step`.
    #[inline(always)]
    fn record<S>(
        &self,
        event: &Event<'_>,
        ctx: &Context<'_, S>,
        fields: &Fields,
        scenario: Option<&ScenarioData>,
        step: Option<&StepData>,
        body: &mut Vec<u8>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let step_text = step.map(|st| st.text.as_str());
        if event.metadata().target() == SQLX_TARGET {
            self.on_sql(fields, scenario, step_text, body);
            return;
        }
        // Parsed once here for on_state too: `None` without an action,
        // `Some(None)` for a name that is not one of ours.
        let action = fields
            .get(HAS_ACTION)
            .map(|a| trim(a).parse::<Action>().ok());
        match action {
            Some(Some(Action::ScenarioEnd)) => {
                if let Some(sc) = scenario {
                    if let Some(o) = fields.get(HAS_OUTCOME).and_then(|o| o.parse().ok()) {
                        *lock(&sc.outcome) = Some(o);
                    }
                    if let Some(e) = fields.get(HAS_ERROR) {
                        *lock(&sc.error) = Some(e.to_owned());
                    }
                    self.shared.scenario_end(sc, None);
                    return;
                }
            }
            Some(Some(Action::StepEnd)) => {
                let found;
                let st = match step {
                    Some(st) => Some(st),
                    None => {
                        found = ctx.event_scope(event).and_then(|mut scope| {
                            scope.find_map(|sp| sp.extensions().get::<Arc<StepData>>().cloned())
                        });
                        found.as_deref()
                    }
                };
                if let Some(st) = st {
                    if let Some(o) = fields.get(HAS_OUTCOME).and_then(|o| o.parse().ok()) {
                        *lock(&st.outcome) = Some(o);
                    }
                    if let Some(e) = fields.get(HAS_ERROR) {
                        *lock(&st.error) = Some(e.to_owned());
                    }
                    self.shared.step_end(st);
                    return;
                }
            }
            _ => {}
        }
        self.on_state(fields, action, scenario, step_text, body);
    }

    fn on_sql(&self, f: &Fields, sc: Option<&ScenarioData>, step: Option<&str>, out: &mut Vec<u8>) {
        let text = if !f.statement.trim().is_empty() {
            f.statement.trim()
        } else {
            f.summary.trim_end_matches('…').trim()
        };
        if text.is_empty() {
            return;
        }
        let st = sql::classify(text);
        if st.connection_setting {
            return;
        }
        let db = database_identity();
        if st.action == Action::SchemaSet {
            if let Some(schema) = &st.schema {
                match sc {
                    Some(sc) => *lock(&sc.schema) = Some(schema.clone()),
                    None => *lock(&PROCESS_SCHEMA) = Some(schema.clone()),
                }
            }
        }
        crate::writer::start_body(out);
        encode_common(out, sc, step, st.action);
        match st.action {
            Action::SchemaCreate | Action::SchemaDrop | Action::SchemaSet => {
                let schema = st.schema.clone().unwrap_or_else(|| current_schema(sc, &db));
                encode_shared(out, &db, &schema, &[]);
            }
            Action::TxBegin | Action::TxCommit | Action::TxRollback => {}
            _ if st.tables.is_empty() => {}
            _ => {
                let current = current_schema(sc, &db);
                let (schema, tables) = group_tables(&st.tables, &current);
                let refs: Vec<&str> = tables.iter().map(String::as_str).collect();
                encode_shared(out, &db, &schema, &refs);
            }
        }
        let mut details = st.redacted;
        truncate_utf8(&mut details, 2000);
        json::field_str(out, json::key!("details"), &details);
        if let Some(secs) = f.elapsed_secs {
            json::field_uint(out, json::key!("duration_us"), (secs * 1e6) as u64);
        }
        let rows = match st.action.kind() {
            crate::format::ActionKind::Read => f.rows_returned,
            _ => f.rows_affected.filter(|_| st.action != Action::DbDdl),
        };
        if let Some(rows) = rows {
            json::field_uint(out, json::key!("rows"), rows);
        }
        out.extend_from_slice(b"}\n");
        self.shared.writer.write_event(out);
    }

    fn on_state(
        &self,
        f: &impl FieldSource,
        parsed: Option<Option<Action>>,
        sc: Option<&ScenarioData>,
        step: Option<&str>,
        out: &mut Vec<u8>,
    ) {
        let (action, custom_name) = match parsed {
            Some(Some(a)) => (a, None),
            Some(None) => (Action::Custom, f.get(HAS_ACTION)),
            None => (Action::Custom, None),
        };
        if matches!(action, Action::ProcessStart | Action::ProcessEnd) {
            return; // The tracer writes its own process boundaries.
        }
        // Only actions with a shared resource need the identity (an env
        // read and an allocation), so compute it on first use.
        let db_cell = std::cell::OnceCell::new();
        let db = || -> &String {
            db_cell.get_or_init(|| {
                f.get(HAS_DB)
                    .map(secret::db_identity)
                    .unwrap_or_else(database_identity)
            })
        };
        if action == Action::SchemaSet {
            if let Some(schema) = f.get(HAS_SCHEMA).or(f.get(HAS_NAME)) {
                match sc {
                    Some(sc) => *lock(&sc.schema) = Some(schema.to_owned()),
                    None => *lock(&PROCESS_SCHEMA) = Some(schema.to_owned()),
                }
            }
        }
        crate::writer::start_body(out);
        // Explicit feature/scenario fields (Go-style events without spans) win.
        if sc.is_none() && f.has(HAS_FEATURE | HAS_SCENARIO) {
            push_tid(out);
            if let Some(v) = f.get(HAS_FEATURE) {
                json::field_str(out, json::key!("feature"), v);
            }
            if let Some(v) = f.get(HAS_SCENARIO) {
                json::field_str(out, json::key!("scenario"), v);
            }
            push_step_and_action(out, step, action);
        } else {
            encode_common(out, sc, step, action);
        }
        let name = custom_name.or(f.get(HAS_NAME));
        if let Some(n) = name {
            json::field_str(out, json::key!("name"), n);
        }
        match action.kind() {
            crate::format::ActionKind::Secret => {
                let n = f.get(HAS_NAME).unwrap_or("jwt_secret");
                encode_process(out, n);
            }
            crate::format::ActionKind::Config => {
                let n = f.get(HAS_NAME).unwrap_or("default");
                encode_process(out, &format!("config:{n}"));
            }
            crate::format::ActionKind::Schema if action != Action::DbDdl => {
                let schema = f
                    .get(HAS_SCHEMA)
                    .or(f.get(HAS_NAME))
                    .map(str::to_owned)
                    .unwrap_or_else(|| current_schema(sc, db()));
                encode_shared(out, db(), &schema, &[]);
            }
            crate::format::ActionKind::Cleanup
            | crate::format::ActionKind::Read
            | crate::format::ActionKind::Write
            | crate::format::ActionKind::Schema => {
                let tables: Vec<String> = f
                    .get(HAS_TABLE)
                    .map(|t| {
                        t.split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                let current = f
                    .get(HAS_SCHEMA)
                    .map(str::to_owned)
                    .unwrap_or_else(|| current_schema(sc, db()));
                if tables.is_empty() && action != Action::DbCleanup && !f.has(HAS_SCHEMA) {
                    // A read or write of nothing in particular: no resource.
                } else {
                    let (schema, tables) = group_tables(&tables, &current);
                    let refs: Vec<&str> = tables.iter().map(String::as_str).collect();
                    encode_shared(out, db(), &schema, &refs);
                }
            }
            _ if f.has(HAS_TABLE | HAS_SCHEMA) => {
                let current = f
                    .get(HAS_SCHEMA)
                    .map(str::to_owned)
                    .unwrap_or_else(|| current_schema(sc, db()));
                let tables: Vec<String> = f
                    .get(HAS_TABLE)
                    .map(|t| t.split(',').map(|s| s.trim().to_owned()).collect())
                    .unwrap_or_default();
                let (schema, tables) = group_tables(&tables, &current);
                let refs: Vec<&str> = tables.iter().map(String::as_str).collect();
                encode_shared(out, db(), &schema, &refs);
            }
            _ => {}
        }
        let details = f.get(HAS_DETAILS).or(f.get(HAS_MESSAGE));
        if let Some(d) = details {
            json::push_key(out, json::key!("details"));
            // Short clean text (the common case) is written as it is, in
            // one pass; anything else is scrubbed, then cut to 4000 bytes.
            if d.len() > 4000 || !json::string_unless_secret(out, d) {
                let mut d = secret::scrub(d).into_owned();
                truncate_utf8(&mut d, 4000);
                json::string(out, &d);
            }
        }
        if let Some(o) = f.get(HAS_OUTCOME) {
            if let Ok(o) = o.parse::<Outcome>() {
                json::field_str(out, json::key!("outcome"), o.as_str());
            }
        }
        if let Some(e) = f.get(HAS_ERROR) {
            json::field_str(out, json::key!("error"), &secret::scrub(e));
        }
        if let Some(d) = f.duration_us() {
            json::field_uint(out, json::key!("duration_us"), d);
        }
        if let Some(r) = f.rows() {
            json::field_uint(out, json::key!("rows"), r);
        }
        let http = action == Action::HttpRequest;
        let has_fields =
            !f.extra().is_empty() || f.has(HAS_METHOD | HAS_PATH) || f.status().is_some();
        if has_fields {
            out.extend_from_slice(b",\"fields\":{");
            let mut first = true;
            let mut sep = |out: &mut Vec<u8>| {
                if !first {
                    out.push(b',');
                }
                first = false;
            };
            if let Some(m) = f.get(HAS_METHOD) {
                sep(out);
                json::string(out, "method");
                out.push(b':');
                json::string(out, m);
            }
            if let Some(p) = f.get(HAS_PATH) {
                sep(out);
                json::string(out, "path");
                out.push(b':');
                // Query strings carry tokens; keep the path only.
                let p = if http {
                    p.split('?').next().unwrap_or(p)
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
        out.extend_from_slice(b"}\n");
        self.shared.writer.write_event(out);
    }
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

fn current_schema(sc: Option<&ScenarioData>, db: &str) -> String {
    if let Some(s) = sc.and_then(|sc| lock(&sc.schema).clone()) {
        return s;
    }
    if let Some(s) = lock(&PROCESS_SCHEMA).clone() {
        return s;
    }
    default_schema(db).to_owned()
}

/// One schema for the resource: the qualified tables' schema when they all
/// agree (names then lose the prefix), otherwise the current schema with
/// names kept as written.
fn group_tables(tables: &[String], current: &str) -> (String, Vec<String>) {
    let mut schema: Option<&str> = None;
    let mut uniform = true;
    for t in tables {
        let s = sql::split_qualified(t).0.unwrap_or(current);
        match schema {
            None => schema = Some(s),
            Some(prev) if prev != s => uniform = false,
            _ => {}
        }
    }
    if uniform {
        let schema = schema.unwrap_or(current).to_owned();
        let names = tables
            .iter()
            .map(|t| sql::split_qualified(t).1.to_owned())
            .collect();
        (schema, names)
    } else {
        (current.to_owned(), tables.to_vec())
    }
}

fn encode_shared(out: &mut Vec<u8>, db: &str, schema: &str, tables: &[&str]) {
    out.extend_from_slice(b",\"resource\":{\"scope\":\"shared\",\"db\":");
    json::string(out, db);
    out.extend_from_slice(b",\"schema\":");
    json::string(out, schema);
    if !tables.is_empty() {
        out.extend_from_slice(b",\"tables\":[");
        for (i, t) in tables.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::string(out, t);
        }
        out.push(b']');
    }
    out.push(b'}');
}

fn encode_process(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"resource\":{\"scope\":\"process\",\"name\":");
    json::string(out, name);
    out.push(b'}');
}

impl<S> Layer<S> for Inner
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Arc<Node>>().cloned());
        if meta.target() != TARGET || !matches!(meta.name(), "scenario" | "step") {
            let kind = NodeKind::Other(Mutex::new(None));
            span.extensions_mut()
                .insert(Arc::new(Node { kind, parent }));
            return;
        }
        let kind = with_scratch(|s| {
            s.fields.clear();
            attrs.record(&mut s.fields);
            let f = &s.fields;
            if meta.name() == "scenario" {
                let id = self.shared.next_scenario.fetch_add(1, Ordering::Relaxed);
                let feature = f.get(HAS_FEATURE).unwrap_or("");
                let name = f.get(HAS_SCENARIO).or(f.get(HAS_NAME)).unwrap_or("");
                let data = Arc::new(ScenarioData {
                    id,
                    encoded: encode_scenario(id, feature, name),
                    start: Instant::now(),
                    ended: AtomicBool::new(false),
                    outcome: Mutex::new(f.get(HAS_OUTCOME).and_then(|o| o.parse().ok())),
                    error: Mutex::new(f.get(HAS_ERROR).map(str::to_owned)),
                    schema: Mutex::new(None),
                });
                if let Ok(mut open) = self.shared.open.lock() {
                    open.push(data.clone());
                    self.shared.open_count.store(open.len(), Ordering::Release);
                }
                crate::writer::start_body(&mut s.body);
                encode_common(&mut s.body, Some(&data), None, Action::ScenarioStart);
                s.body.extend_from_slice(b"}\n");
                self.shared.writer.write_event(&mut s.body);
                span.extensions_mut().insert(data.clone());
                NodeKind::Scenario(data)
            } else {
                let scenario = span
                    .scope()
                    .skip(1)
                    .find_map(|p| p.extensions().get::<Arc<ScenarioData>>().cloned())
                    .or_else(|| self.shared.sole_open());
                let data = Arc::new(StepData {
                    text: f.get(HAS_TEXT).or(f.get(HAS_NAME)).unwrap_or("").to_owned(),
                    start: Instant::now(),
                    ended: AtomicBool::new(false),
                    outcome: Mutex::new(f.get(HAS_OUTCOME).and_then(|o| o.parse().ok())),
                    error: Mutex::new(f.get(HAS_ERROR).map(str::to_owned)),
                    scenario,
                });
                crate::writer::start_body(&mut s.body);
                encode_common(
                    &mut s.body,
                    data.scenario.as_deref(),
                    Some(&data.text),
                    Action::StepStart,
                );
                s.body.extend_from_slice(b"}\n");
                self.shared.writer.write_event(&mut s.body);
                span.extensions_mut().insert(data.clone());
                NodeKind::Step(data)
            }
        });
        span.extensions_mut()
            .insert(Arc::new(Node { kind, parent }));
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let node = ctx
            .span(id)
            .and_then(|s| s.extensions().get::<Arc<Node>>().cloned());
        crate::span_stack::push(self.layer_id, id.into_u64(), node);
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        crate::span_stack::pop(self.layer_id, id.into_u64());
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        let (outcome, error) = if let Some(sc) = ext.get::<Arc<ScenarioData>>() {
            (&sc.outcome, &sc.error)
        } else if let Some(st) = ext.get::<Arc<StepData>>() {
            (&st.outcome, &st.error)
        } else {
            return;
        };
        with_scratch(|s| {
            s.fields.clear();
            values.record(&mut s.fields);
            let f = &s.fields;
            if let Some(o) = f.get(HAS_OUTCOME).and_then(|o| o.parse().ok()) {
                *lock(outcome) = Some(o);
            }
            if let Some(e) = f.get(HAS_ERROR) {
                *lock(error) = Some(e.to_owned());
            }
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if self.shared.writer.is_finished() {
            return;
        }
        with_scratch(|s| {
            s.fields.clear();
            // Field values' Debug impls are user code: record them before
            // the span stack is borrowed below.
            event.record(&mut s.fields);
            let Scratch { body, fields } = s;
            let fast = event.is_contextual()
                && crate::span_stack::with_current(self.layer_id, |current| {
                    let (found, step) = self.attribute(current);
                    self.record(event, &ctx, fields, found.get(), step, body);
                })
                .is_some();
            if !fast {
                let (scenario, step) = self.context(event, &ctx);
                self.record(
                    event,
                    &ctx,
                    fields,
                    scenario.as_deref(),
                    step.as_deref(),
                    body,
                );
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if span.metadata().target() != TARGET {
            // A cucumber span that adopted a scenario closing is not its end.
            return;
        }
        let ext = span.extensions();
        if let Some(sc) = ext.get::<Arc<ScenarioData>>() {
            self.shared.scenario_end(sc, None);
        } else if let Some(st) = ext.get::<Arc<StepData>>() {
            self.shared.step_end(st);
        }
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        // The cucumber integration's link; see `crate::cucumber_spans`.
        let Some(adopter) =
            crate::cucumber_spans::adopt::<S, Arc<ScenarioData>>(span, follows, &ctx)
        else {
            return;
        };
        // The same link for events that resolve through `Node`s.
        if let Some(span) = ctx.span(&adopter) {
            let ext = span.extensions();
            if let (Some(node), Some(sc)) = (ext.get::<Arc<Node>>(), ext.get::<Arc<ScenarioData>>())
            {
                if let NodeKind::Other(adopted) = &node.kind {
                    *lock(adopted) = Some(sc.clone());
                }
            }
        }
    }
}

impl<S> Layer<S> for StateLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &tracing_core::Dispatch) {
        self.inner.on_register_dispatch(subscriber)
    }
    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber)
    }
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }
    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx)
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }
    fn on_record(&self, span: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx)
    }
    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx)
    }
    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.inner.on_event(event, ctx)
    }
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx)
    }
    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx)
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx)
    }
    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx)
    }
    #[doc(hidden)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        // The typed helpers' lookup (`record_direct`), on every call: first.
        if id == TypeId::of::<Inner>() {
            return Some(self.inner.inner() as *const Inner as *const ());
        }
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: forwarded to the wrapped layer, which upholds the contract.
        unsafe { self.inner.downcast_raw(id) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn helpers_reach_the_layer_directly_unless_it_is_hidden_behind_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut fields = HelperFields::default();
        fields.put("name", "direct");
        let (layer, guard) = StateLayer::builder().dir(dir.path()).build().unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            assert!(record_direct(Action::Custom, &fields));
        });
        let (layer, _guard2) = StateLayer::builder().dir(dir.path()).build().unwrap();
        let (hidden, _handle) = tracing_subscriber::reload::Layer::new(layer);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(hidden), || {
            assert!(!record_direct(Action::Custom, &fields));
        });
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            assert!(!record_direct(Action::Custom, &fields));
        });
        drop(guard);
    }
}
