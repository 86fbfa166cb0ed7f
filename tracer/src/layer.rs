//! The `tracing-subscriber` layer that turns spans and events into records.
//!
//! - A span named `scenario` on target `bdd_state` is a scenario: it gets a
//!   file-unique id (span ids are reused, so they won't do) stored in the
//!   span's extensions; its creation is `SCENARIO_START`, its end (an
//!   explicit `SCENARIO_END` event inside it, or its close) is
//!   `SCENARIO_END`. A span named `step` works the same way for steps.
//! - Any event is attributed to the nearest scenario (and step) among its
//!   span ancestors, whatever thread or task it runs on (see
//!   [`crate::scenario`]).
//! - Events on target `bdd_state` carry an `action`; events on target
//!   `sqlx::query` are SQL statements, classified by [`crate::sql`]; the
//!   [`Recorder`] decides and writes each record.
//!
//! The layer carries its own per-layer filter (only those two targets, any
//! level), so it sees sqlx's DEBUG events even when the rest of the
//! subscriber logs at INFO, and it makes no other callsite interesting.

use std::any::TypeId;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing_core::span::{Attributes, Id, Record as SpanRecord};
use tracing_core::{Event, Interest, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::config::{Config, Flush};
use crate::encoder::scenario_members;
use crate::fields::{FieldSource, HelperFields, Slot};
use crate::format::{Action, TARGET};
use crate::process::Finish;
use crate::records::{with_scratch, Recorder, Scratch};
use crate::scenario::span_stack;
use crate::scenario::{self, EndState, Node, NodeKind, OpenScenarios, ScenarioData, StepData};
use crate::sqlx::RunScope;
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
    shared: Arc<Recorder>,
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

fn build<S>(mut cfg: Config) -> io::Result<(StateLayer<S>, TraceGuard)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // Recorded absolute: a relative folder means nothing to a reader in
    // another working directory (each package's, in a Cargo workspace).
    cfg.dir = std::path::absolute(&cfg.dir)?;
    let start = chrono::Utc::now();
    let (file, path) = crate::file::create(&cfg.dir, &cfg.run_id, start)?;
    let header = crate::process::header(&cfg, start);
    let writer = Writer::new(file, path, cfg.flush, &header)?;
    let shared = Arc::new(Recorder {
        writer,
        open: OpenScenarios::default(),
    });
    let weak: std::sync::Weak<dyn Finish> = Arc::downgrade(&shared) as _;
    crate::process::at_exit(weak);
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
    let run_id = cfg.run_id;
    Ok((layer, TraceGuard { shared, run_id }))
}

/// Keeps the trace file open; dropping it writes `PROCESS_END` and the
/// footer. If it is never dropped (`std::process::exit`, a leaked guard),
/// the same happens at `exit(3)`; either way only once.
#[must_use = "dropping the guard ends the trace file; keep it alive for the whole run"]
pub struct TraceGuard {
    shared: Arc<Recorder>,
    run_id: String,
}

impl TraceGuard {
    /// Path of the trace file.
    pub fn path(&self) -> &Path {
        self.shared.writer.path()
    }

    /// The run ID in this file's header. Child processes inherit it through
    /// `BDD_TRACE_RUN_ID` when it came from the environment or was
    /// generated at start-up (see [`crate::config`]); otherwise pass it on:
    /// `cmd.env("BDD_TRACE_RUN_ID", guard.run_id())`.
    pub fn run_id(&self) -> &str {
        &self.run_id
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

/// The layer proper, wrapped in its filter by [`StateLayer`].
struct Inner {
    shared: Arc<Recorder>,
    /// Tells this layer's entries on [`span_stack`] from others'.
    layer_id: u64,
}

static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

impl Inner {
    /// [`record_direct`]'s work for this layer: the same record a helper's
    /// event would have produced through [`Layer::on_event`].
    #[inline(always)]
    fn on_helper(&self, action: Action, fields: &HelperFields<'_>) -> bool {
        if self.shared.writer.is_finished() {
            return true;
        }
        with_scratch(|s| {
            span_stack::with_current(self.layer_id, |current| {
                let (found, step) = scenario::attribute(current, &self.shared.open);
                let step = step.map(|st| st.text.as_str());
                self.shared
                    .state(fields, Some(Some(action)), found.get(), step, &mut s.enc);
            })
            .is_some()
        })
    }

    /// Writes the record of `event` (fields `fields`), attributed to
    /// `scenario` and `step`.
    #[inline(always)]
    fn record<S>(
        &self,
        event: &Event<'_>,
        ctx: &Context<'_, S>,
        fields: &crate::fields::Fields,
        scenario: Option<&ScenarioData>,
        step: Option<&StepData>,
        enc: &mut crate::encoder::Encoder,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if event.metadata().target() == SQLX_TARGET {
            let step = step.map(|st| st.text.as_str());
            // Inside a `state_tracer::sqlx` run: its pool and its outcome.
            let run = crate::sqlx::any_run()
                .then(|| ctx.event_scope(event))
                .flatten()
                .and_then(|mut scope| {
                    scope.find_map(|sp| sp.extensions().get::<Arc<RunScope>>().cloned())
                });
            self.shared.sql(fields, scenario, step, run.as_deref(), enc);
        } else {
            let step_of_event = || scenario::step_from_registry(event, ctx);
            self.shared
                .state_event(fields, scenario, step, step_of_event, enc);
        }
    }
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
        if meta.target() == TARGET && meta.name() == crate::sqlx::RUN_SPAN {
            let run = with_scratch(|s| {
                s.fields.clear();
                attrs.record(&mut s.fields);
                RunScope::new(s.fields.get(Slot::Db).unwrap_or(""))
            });
            span.extensions_mut().insert(Arc::new(run));
        }
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
            let outcome = f.get(Slot::Outcome).and_then(|o| o.parse().ok());
            let end = EndState::new(outcome, f.get(Slot::Error));
            if meta.name() == "scenario" {
                let id = self.shared.open.next_id();
                let feature = f.get(Slot::Feature).unwrap_or("");
                let name = f.get(Slot::Scenario).or(f.get(Slot::Name)).unwrap_or("");
                let data = Arc::new(ScenarioData {
                    id,
                    encoded: scenario_members(id, feature, name),
                    start: Instant::now(),
                    end,
                    schema: Mutex::new(None),
                });
                self.shared.scenario_start(&data, &mut s.enc);
                span.extensions_mut().insert(data.clone());
                NodeKind::Scenario(data)
            } else {
                let scenario = span
                    .scope()
                    .skip(1)
                    .find_map(|p| p.extensions().get::<Arc<ScenarioData>>().cloned())
                    .or_else(|| self.shared.open.sole_open());
                let data = Arc::new(StepData {
                    text: f
                        .get(Slot::Text)
                        .or(f.get(Slot::Name))
                        .unwrap_or("")
                        .to_owned(),
                    start: Instant::now(),
                    end,
                    scenario,
                });
                self.shared.step_start(&data, &mut s.enc);
                span.extensions_mut().insert(data.clone());
                NodeKind::Step(data)
            }
        });
        span.extensions_mut()
            .insert(Arc::new(Node { kind, parent }));
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        span_stack::enter(self.layer_id, id.into_u64(), || {
            ctx.span(id)
                .and_then(|s| s.extensions().get::<Arc<Node>>().cloned())
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        span_stack::pop(self.layer_id, id.into_u64());
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        if let Some(run) = ext.get::<Arc<RunScope>>() {
            with_scratch(|s| {
                s.fields.clear();
                values.record(&mut s.fields);
                run.failed(s.fields.get(Slot::Error));
            });
            return;
        }
        let end = if let Some(sc) = ext.get::<Arc<ScenarioData>>() {
            &sc.end
        } else if let Some(st) = ext.get::<Arc<StepData>>() {
            &st.end
        } else {
            return;
        };
        with_scratch(|s| {
            s.fields.clear();
            values.record(&mut s.fields);
            let f = &s.fields;
            end.report(
                f.get(Slot::Outcome).and_then(|o| o.parse().ok()),
                f.get(Slot::Error),
            );
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
            let Scratch { enc, fields } = s;
            let fast = event.is_contextual()
                && span_stack::with_current(self.layer_id, |current| {
                    let (found, step) = scenario::attribute(current, &self.shared.open);
                    self.record(event, &ctx, fields, found.get(), step, enc);
                })
                .is_some();
            if !fast {
                let (scenario, step) = scenario::from_registry(event, &ctx, &self.shared.open);
                self.record(
                    event,
                    &ctx,
                    fields,
                    scenario.as_deref(),
                    step.as_deref(),
                    enc,
                );
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        span_stack::closed();
        let Some(span) = ctx.span(&id) else { return };
        if span.metadata().target() != TARGET {
            // A cucumber span that adopted a scenario closing is not its end.
            return;
        }
        let ext = span.extensions();
        if let Some(run) = ext.get::<Arc<RunScope>>() {
            run.finish(|body| self.shared.writer.write_event(body));
        } else if let Some(sc) = ext.get::<Arc<ScenarioData>>() {
            self.shared.scenario_end(sc);
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
                    *scenario::lock(adopted) = Some(sc.clone());
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
    /// tracing's only way for `Dispatch::downcast_ref::<Inner>()` (the
    /// typed helpers, which cannot name the generic `StateLayer<S>`) to
    /// find the layer; the trait declares it `unsafe fn`, so no safe
    /// override exists.
    #[doc(hidden)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        // SAFETY (the trait's contract): each pointer returned points to a
        // value of exactly the type `id` names (`Inner` or `Self`), borrowed
        // from `self`, so it lives as long as the subscriber holding it.
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
