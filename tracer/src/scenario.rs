//! Scenario attribution: which scenario (and step) an event belongs to.
//!
//! A span named `scenario` (or `step`) on target `bdd_state` carries a
//! [`ScenarioData`] (or [`StepData`]) in its extensions. Every span the
//! layer sees also gets a [`Node`]: what it is and its nearest ancestor
//! among the layer's spans. An event is attributed to the nearest scenario
//! and step above it, whatever thread or task it runs on:
//! - a contextual event reads the current [`Node`] from the layer's own
//!   mirror of the entered spans ([`span_stack`]) and follows the parent
//!   pointers: no registry lookups;
//! - any other event (explicit parent, root, or a thread whose mirror
//!   could not be kept) walks the registry's scope ([`from_registry`]);
//! - with no scenario among its ancestors, an event goes to the sole open
//!   scenario when exactly one is open ([`OpenScenarios`]), else to none
//!   rather than a guess.
//!
//! Nothing here encodes or writes: this module answers "which scenario".

pub(crate) mod span_stack;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::format::Outcome;

/// A scenario, from its start to its end.
pub(crate) struct ScenarioData {
    pub(crate) id: u64,
    /// `,"scenario_id":N,"feature":"..","scenario":".."`, encoded once
    /// here so each event copies it instead of escaping the names again.
    pub(crate) encoded: Box<[u8]>,
    pub(crate) start: Instant,
    pub(crate) end: EndState,
    /// Current schema (search_path) set inside this scenario.
    pub(crate) schema: Mutex<Option<String>>,
}

/// A step, from its start to its end.
pub(crate) struct StepData {
    pub(crate) text: String,
    pub(crate) start: Instant,
    pub(crate) end: EndState,
    pub(crate) scenario: Option<Arc<ScenarioData>>,
}

/// How a scenario or step ends: its outcome and error as reported so far
/// (span fields, `SCENARIO_END`/`STEP_END` events), and whether its end
/// was already recorded.
pub(crate) struct EndState {
    ended: AtomicBool,
    outcome: Mutex<Option<Outcome>>,
    error: Mutex<Option<String>>,
}

impl EndState {
    pub(crate) fn new(outcome: Option<Outcome>, error: Option<&str>) -> EndState {
        EndState {
            ended: AtomicBool::new(false),
            outcome: Mutex::new(outcome),
            error: Mutex::new(error.map(str::to_owned)),
        }
    }

    /// Records what an event or span field says about the end.
    pub(crate) fn report(&self, outcome: Option<Outcome>, error: Option<&str>) {
        if let Some(o) = outcome {
            *lock(&self.outcome) = Some(o);
        }
        if let Some(e) = error {
            *lock(&self.error) = Some(e.to_owned());
        }
    }

    /// The outcome (`PASSED` unless told otherwise) and error, the first
    /// time only: an end is recorded once.
    pub(crate) fn take(&self) -> Option<(Outcome, Option<String>)> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return None;
        }
        let outcome = lock(&self.outcome).unwrap_or(Outcome::Passed);
        Some((outcome, lock(&self.error).clone()))
    }
}

/// The scenarios open in the process, for events that carry no scenario
/// span, and the next scenario id (span ids are reused, so they won't do).
#[derive(Default)]
pub(crate) struct OpenScenarios {
    next_id: AtomicU64,
    open: Mutex<Vec<Arc<ScenarioData>>>,
    count: AtomicUsize,
}

impl OpenScenarios {
    /// A file-unique scenario id: 1, 2, ...
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn opened(&self, sc: &Arc<ScenarioData>) {
        if let Ok(mut open) = self.open.lock() {
            open.push(sc.clone());
            self.count.store(open.len(), Ordering::Release);
        }
    }

    pub(crate) fn closed(&self, sc: &ScenarioData) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|o| o.id != sc.id);
            self.count.store(open.len(), Ordering::Release);
        }
    }

    /// The only open scenario, if exactly one is open.
    pub(crate) fn sole_open(&self) -> Option<Arc<ScenarioData>> {
        if self.count.load(Ordering::Acquire) != 1 {
            return None;
        }
        let open = self.open.lock().ok()?;
        match open.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }
}

/// One of the layer's spans as attribution sees it: what it is, and its
/// nearest ancestor among the layer's spans. Built once in `on_new_span`
/// and kept in the span's extensions and on [`span_stack`] while it
/// is entered, so an event resolves its scenario and step by following
/// these pointers instead of walking the registry.
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    pub(crate) parent: Option<Arc<Node>>,
}

pub(crate) enum NodeKind {
    Scenario(Arc<ScenarioData>),
    Step(Arc<StepData>),
    /// Any other span of ours (cucumber's): a cucumber scenario span gets
    /// the scenario it was linked to (see `crate::cucumber_spans`).
    Other(Mutex<Option<Arc<ScenarioData>>>),
}

/// The current span of a layer on this thread, as the registry would see
/// it through the layer's filter (see [`span_stack::with_current`]).
pub(crate) enum Current<'a> {
    /// None of the layer's spans is entered on this thread.
    None,
    /// This one is current.
    Node(&'a Node),
}

/// A scenario found for an event: borrowed from a span, or owned (the sole
/// open scenario, or one adopted by a cucumber span).
pub(crate) enum Found<'a> {
    None,
    Borrowed(&'a ScenarioData),
    Owned(Arc<ScenarioData>),
}

impl Found<'_> {
    pub(crate) fn get(&self) -> Option<&ScenarioData> {
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
    /// [`from_registry`]'s walk over the registry's scope.
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

/// The scenario and step of a contextual event whose current span (as
/// [`span_stack`] mirrors it) is `current`; without a scenario span, the
/// sole open scenario.
#[inline(always)]
pub(crate) fn attribute<'a>(
    current: Current<'a>,
    open: &OpenScenarios,
) -> (Found<'a>, Option<&'a StepData>) {
    let (found, step) = match current {
        Current::Node(node) => node.attribution(),
        Current::None => (Found::None, None),
    };
    let found = match found {
        Found::None => open.sole_open().map_or(Found::None, Found::Owned),
        found => found,
    };
    (found, step)
}

/// Nearest scenario and step among the event's ancestors (or the sole
/// open scenario), asking the registry: the slow path, for events with
/// an explicit parent, root events, and threads whose [`span_stack`]
/// mirror could not be kept. Contextual events normally get the same
/// answer from [`attribute`].
pub(crate) fn from_registry<S>(
    event: &Event<'_>,
    ctx: &Context<'_, S>,
    open: &OpenScenarios,
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
        scenario = open.sole_open();
    }
    (scenario, step)
}

/// The nearest step among the event's ancestors, from the registry.
pub(crate) fn step_from_registry<S>(
    event: &Event<'_>,
    ctx: &Context<'_, S>,
) -> Option<Arc<StepData>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.event_scope(event)
        .and_then(|mut scope| scope.find_map(|sp| sp.extensions().get::<Arc<StepData>>().cloned()))
}

/// A poisoned lock still holds valid data here (plain values, no
/// invariants across fields): use it rather than lose a record.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
