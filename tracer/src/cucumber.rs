//! cucumber-rs integration (cargo feature `cucumber`): one call on the
//! builder records every scenario, step and hook action.
//!
//! ```no_run
//! # #[derive(Debug, Default, cucumber::World)] struct MyWorld;
//! use cucumber::World as _;
//! use futures::FutureExt as _;
//! use state_tracer::cucumber::{CucumberExt as _, Hooks};
//! # async fn demo() {
//! let _trace = state_tracer::init(); // None unless BDD_TRACE_STATE=1
//! MyWorld::cucumber()
//!     .trace_state(Hooks::new().after(|_feature, _rule, _scenario, _finished, _world| {
//!         async { /* clean tables, reset secrets: recorded for this scenario */ }.boxed_local()
//!     }))
//!     .run("tests/features")
//!     .await;
//! # }
//! ```
//!
//! # What is recorded, and from where
//!
//! cucumber allows one before and one after hook and one writer, so the
//! integration takes all three and wraps yours:
//!
//! - **`SCENARIO_START`** in the before hook, i.e. at the real start,
//!   before the World's first step runs. Your before hook then runs inside
//!   the scenario's span.
//! - **Hook actions**: your after hook runs inside the scenario span, so its
//!   cleanup statements and secret resets carry the scenario, even when
//!   several scenarios run at once.
//! - **Steps** (`STEP_START`/`STEP_END` with outcome and error) and the
//!   **scenario outcome** come from the writer's events (`Step::Started`,
//!   `Step::Failed`, ...) and the after hook's [`event::ScenarioFinished`].
//!   Writer events reach the writer a little after they happen (cucumber
//!   queues them), so step boundaries are approximate to a poll; the
//!   scenario's start is exact.
//! - **`SCENARIO_END`** when the writer sees `Scenario::Finished`, which
//!   cucumber emits after the after hook: a scenario's interval covers its
//!   hooks.
//!
//! Events and the writer are matched to a running scenario by the identity
//! of cucumber's shared `gherkin::Scenario` (the hooks and every event of one
//! scenario run refer to the same allocation), so concurrent scenarios never
//! mix.
//!
//! # Statements inside steps: nothing to do
//!
//! cucumber polls every running scenario inside one task, so "the current
//! scenario" is only known through spans. This feature turns on cucumber's
//! own `tracing` feature, with which cucumber runs each scenario (before
//! hook, steps, after hook) inside a span of its own (`scenario` on target
//! `cucumber::tracing`). The before hook links our scenario to that span
//! (`follows_from`), and the layer then attributes every event inside it,
//! sqlx statements of your steps included, on whatever thread, to our
//! scenario, however many run at once (see `crate::cucumber_spans`).
//!
//! Two limits: work your steps hand to `tokio::spawn` leaves the span
//! unless you pass it on (`.in_current_span()`), as with any span; and a
//! subscriber-wide filter (not the layer's own) that drops target
//! `cucumber::tracing` removes the link (level filters keep it: cucumber
//! creates its spans at ERROR level). Step code does not get
//! the step's text on its records (cucumber reports steps to the writer
//! only after the fact); the scenario is always right.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use cucumber::gherkin;
use cucumber::{
    event, parser, runner, writer, Cucumber, Event, Parser, World, Writer, WriterExt as _,
};
use futures::future::LocalBoxFuture;
use futures::FutureExt as _;
use tracing::field::Empty;
use tracing::{Instrument as _, Level, Span};

use crate::api::Scenario;

/// A before hook, boxed so the traced builder has a nameable type.
pub type BeforeHook<W> = Box<
    dyn for<'a> Fn(
        &'a gherkin::Feature,
        Option<&'a gherkin::Rule>,
        &'a gherkin::Scenario,
        &'a mut W,
    ) -> LocalBoxFuture<'a, ()>,
>;

/// An after hook, boxed so the traced builder has a nameable type.
pub type AfterHook<W> = Box<
    dyn for<'a> Fn(
        &'a gherkin::Feature,
        Option<&'a gherkin::Rule>,
        &'a gherkin::Scenario,
        &'a event::ScenarioFinished,
        Option<&'a mut W>,
    ) -> LocalBoxFuture<'a, ()>,
>;

/// The builder after [`CucumberExt::trace_state`].
pub type Traced<W, P, I, F, Wr, Cli> =
    Cucumber<W, P, I, runner::Basic<W, F, BeforeHook<W>, AfterHook<W>>, StateWriter<Wr>, Cli>;

/// cucumber's default writer (`World::cucumber()`'s): summarized output on stdout.
pub type DefaultWriter<W> = writer::Summarize<writer::Normalize<W, writer::Basic>>;

/// Your before and after hooks, run inside each scenario's span.
pub struct Hooks<W> {
    before: Option<BeforeHook<W>>,
    after: Option<AfterHook<W>>,
}

impl<W> Default for Hooks<W> {
    fn default() -> Self {
        Hooks {
            before: None,
            after: None,
        }
    }
}

impl<W> Hooks<W> {
    /// No hooks of your own.
    pub fn new() -> Self {
        Self::default()
    }

    /// Same signature as `Cucumber::before`.
    pub fn before<B>(mut self, hook: B) -> Self
    where
        B: for<'a> Fn(
                &'a gherkin::Feature,
                Option<&'a gherkin::Rule>,
                &'a gherkin::Scenario,
                &'a mut W,
            ) -> LocalBoxFuture<'a, ()>
            + 'static,
    {
        self.before = Some(Box::new(hook));
        self
    }

    /// Same signature as `Cucumber::after`.
    pub fn after<A>(mut self, hook: A) -> Self
    where
        A: for<'a> Fn(
                &'a gherkin::Feature,
                Option<&'a gherkin::Rule>,
                &'a gherkin::Scenario,
                &'a event::ScenarioFinished,
                Option<&'a mut W>,
            ) -> LocalBoxFuture<'a, ()>
            + 'static,
    {
        self.after = Some(Box::new(hook));
        self
    }
}

/// One call on the cucumber builder that records scenarios, steps and hooks.
///
/// Call it instead of `before`/`after` (pass your hooks in [`Hooks`], they
/// run inside the scenario's span) and before `with_cli`/`with_default_cli`
/// (cucumber resets the CLI when the writer changes).
pub trait CucumberExt<W, P, I, F, Cli>: Sized
where
    W: World,
    P: Parser<I>,
    Cli: cucumber::cli::Args,
    F: Fn(&gherkin::Feature, Option<&gherkin::Rule>, &gherkin::Scenario) -> cucumber::ScenarioType
        + 'static,
{
    /// With cucumber's default writer.
    fn trace_state(self, hooks: Hooks<W>) -> Traced<W, P, I, F, DefaultWriter<W>, Cli>
    where
        W: std::fmt::Debug,
    {
        self.trace_state_with_writer(writer::Basic::stdout().summarized(), hooks)
    }

    /// With your writer (it receives every event unchanged).
    fn trace_state_with_writer<Wr: Writer<W>>(
        self,
        writer: Wr,
        hooks: Hooks<W>,
    ) -> Traced<W, P, I, F, Wr, Cli>;
}

impl<W, P, I, F, B, A, Wr, Cli> CucumberExt<W, P, I, F, Cli>
    for Cucumber<W, P, I, runner::Basic<W, F, B, A>, Wr, Cli>
where
    W: World,
    P: Parser<I>,
    Wr: Writer<W>,
    Cli: cucumber::cli::Args,
    F: Fn(&gherkin::Feature, Option<&gherkin::Rule>, &gherkin::Scenario) -> cucumber::ScenarioType
        + 'static,
    B: for<'a> Fn(
            &'a gherkin::Feature,
            Option<&'a gherkin::Rule>,
            &'a gherkin::Scenario,
            &'a mut W,
        ) -> LocalBoxFuture<'a, ()>
        + 'static,
    A: for<'a> Fn(
            &'a gherkin::Feature,
            Option<&'a gherkin::Rule>,
            &'a gherkin::Scenario,
            &'a event::ScenarioFinished,
            Option<&'a mut W>,
        ) -> LocalBoxFuture<'a, ()>
        + 'static,
{
    fn trace_state_with_writer<NewWr: Writer<W>>(
        self,
        writer: NewWr,
        hooks: Hooks<W>,
    ) -> Traced<W, P, I, F, NewWr, Cli> {
        let active = Active::default();
        let before = before_hook(active.clone(), hooks.before);
        let after = after_hook(active.clone(), hooks.after);
        self.with_writer(StateWriter {
            inner: writer,
            active,
        })
        .before(before)
        .after(after)
    }
}

/// Scenario runs in flight, keyed by the address of cucumber's shared
/// `gherkin::Scenario` (stable and unique while the scenario runs: the hooks
/// and every event of the run hold the same `Arc`).
#[derive(Clone, Default)]
struct Active(Arc<Mutex<HashMap<usize, Run>>>);

struct Run {
    scenario: Scenario,
    step: Option<Span>,
    failed: bool,
}

fn key(scenario: &gherkin::Scenario) -> usize {
    scenario as *const gherkin::Scenario as usize
}

impl Active {
    fn lock(&self) -> MutexGuard<'_, HashMap<usize, Run>> {
        // A panic elsewhere never stops the recording.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The scenario's span, starting the scenario if this is its first sign.
    fn start(&self, feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> Span {
        let mut runs = self.lock();
        let run = runs.entry(key(scenario)).or_insert_with(|| Run {
            scenario: crate::api::scenario(&feature.name, &scenario.name),
            step: None,
            failed: false,
        });
        run.scenario.span().clone()
    }

    fn with<R>(&self, scenario: &gherkin::Scenario, f: impl FnOnce(&mut Run) -> R) -> Option<R> {
        self.lock().get_mut(&key(scenario)).map(f)
    }

    fn finish(&self, scenario: &gherkin::Scenario) {
        let run = self.lock().remove(&key(scenario));
        // Dropped outside the lock: ending writes a record.
        if let Some(mut run) = run {
            drop(run.step.take());
            drop(run);
        }
    }
}

impl Run {
    fn fail(&mut self, error: &str) {
        if !self.failed {
            self.failed = true;
            self.scenario.fail(error);
        }
    }
}

fn before_hook<W: World>(active: Active, user: Option<BeforeHook<W>>) -> BeforeHook<W> {
    Box::new(move |feature, rule, scenario, world| {
        let span = active.start(feature, scenario);
        link_to_cucumber_span(&span);
        match &user {
            // Entered while the hook builds its future too, so even its
            // synchronous part sees the scenario as the current span.
            Some(hook) => span
                .in_scope(|| hook(feature, rule, scenario, world))
                .instrument(span)
                .boxed_local(),
            None => futures::future::ready(()).boxed_local(),
        }
    })
}

fn after_hook<W: World>(active: Active, user: Option<AfterHook<W>>) -> AfterHook<W> {
    Box::new(move |feature, rule, scenario, finished, world| {
        let span = active.start(feature, scenario);
        // Again, in case the before hook never ran (the World failed to build).
        link_to_cucumber_span(&span);
        active.with(scenario, |run| match finished {
            event::ScenarioFinished::StepPassed => {}
            event::ScenarioFinished::StepSkipped => run.scenario.skip(),
            event::ScenarioFinished::StepFailed(_, _, err) => {
                let msg = step_error(err);
                if let Some(step) = run.step.take() {
                    // The writer has not seen the failure yet.
                    record_outcome(&step, "FAILED", Some(&msg));
                }
                run.fail(&msg);
            }
            event::ScenarioFinished::BeforeHookFailed(info) => {
                run.fail(&format!("before hook failed: {}", panic_message(info)))
            }
        });
        let Some(hook) = &user else {
            return futures::future::ready(()).boxed_local();
        };
        let active = active.clone();
        let fut = span.in_scope(|| hook(feature, rule, scenario, finished, world));
        async move {
            let outcome = std::panic::AssertUnwindSafe(fut).catch_unwind().await;
            if let Err(payload) = outcome {
                let msg = format!("after hook failed: {}", panic_message_box(&payload));
                active.with(scenario, |run| run.fail(&msg));
                std::panic::resume_unwind(payload);
            }
        }
        .instrument(span)
        .boxed_local()
    })
}

/// Called from inside cucumber's per-scenario span (the hooks run in it):
/// from now on, every event in that span, i.e. in this scenario's steps, is
/// attributed to our scenario. See `crate::cucumber_spans`.
fn link_to_cucumber_span(scenario: &Span) {
    scenario.follows_from(Span::current());
}

fn record_outcome(span: &Span, outcome: &str, error: Option<&str>) {
    span.record("outcome", outcome);
    if let Some(e) = error {
        span.record("error", e);
    }
}

fn step_error(err: &event::StepError) -> String {
    match err {
        event::StepError::Panic(info) => panic_message(info),
        other => other.to_string(),
    }
}

fn panic_message(info: &event::Info) -> String {
    if let Some(s) = info.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = info.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "panicked".to_owned()
    }
}

fn panic_message_box(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "panicked".to_owned()
    }
}

fn step_text(step: &gherkin::Step) -> String {
    format!("{} {}", step.keyword.trim(), step.value)
}

/// The writer the traced builder runs with: records steps and scenario
/// ends, then passes every event on, unchanged, to the writer you had.
pub struct StateWriter<Wr> {
    inner: Wr,
    active: Active,
}

impl<Wr> StateWriter<Wr> {
    /// The wrapped writer.
    pub fn inner(&self) -> &Wr {
        &self.inner
    }

    fn observe<W>(&self, event: &event::Cucumber<W>) {
        let event::Cucumber::Feature(feature, ev) = event else {
            return;
        };
        let (scenario, ev) = match ev {
            event::Feature::Scenario(sc, ev) => (sc, &ev.event),
            event::Feature::Rule(_, event::Rule::Scenario(sc, ev)) => (sc, &ev.event),
            _ => return,
        };
        match ev {
            event::Scenario::Started => {
                self.active.start(feature, scenario);
            }
            event::Scenario::Step(step, ev) | event::Scenario::Background(step, ev) => {
                self.step(feature, scenario, step, ev);
            }
            event::Scenario::Hook(ty, event::Hook::Failed(_, info)) => {
                let msg = format!("{ty:?} hook failed: {}", panic_message(info)).to_lowercase();
                self.active.with(scenario, |run| run.fail(&msg));
            }
            event::Scenario::Finished => self.active.finish(scenario),
            _ => {}
        }
    }

    fn step<W>(
        &self,
        feature: &gherkin::Feature,
        scenario: &gherkin::Scenario,
        step: &gherkin::Step,
        ev: &event::Step<W>,
    ) {
        let parent = self.active.start(feature, scenario);
        self.active.with(scenario, |run| match ev {
            event::Step::Started => {
                drop(run.step.take());
                run.step = Some(tracing::span!(
                    target: "bdd_state",
                    parent: &parent,
                    Level::INFO,
                    "step",
                    text = step_text(step).as_str(),
                    outcome = Empty,
                    error = Empty
                ));
            }
            event::Step::Passed(..) => drop(run.step.take()),
            event::Step::Skipped => {
                if let Some(span) = run.step.take() {
                    record_outcome(&span, "SKIPPED", None);
                }
            }
            event::Step::Failed(_, _, _, err) => {
                let msg = step_error(err);
                if let Some(span) = run.step.take() {
                    record_outcome(&span, "FAILED", Some(&msg));
                }
                run.fail(&msg);
            }
        });
    }
}

impl<W, Wr> Writer<W> for StateWriter<Wr>
where
    W: World,
    Wr: Writer<W>,
{
    type Cli = Wr::Cli;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<event::Cucumber<W>>>,
        cli: &Self::Cli,
    ) {
        if let Ok(ev) = &event {
            self.observe(&ev.value);
        }
        self.inner.handle_event(event, cli).await;
    }
}

impl<W, Wr, Val> writer::Arbitrary<W, Val> for StateWriter<Wr>
where
    W: World,
    Wr: writer::Arbitrary<W, Val>,
{
    async fn write(&mut self, val: Val) {
        self.inner.write(val).await;
    }
}

impl<W, Wr> writer::Stats<W> for StateWriter<Wr>
where
    W: World,
    Wr: writer::Stats<W>,
{
    fn passed_steps(&self) -> usize {
        self.inner.passed_steps()
    }
    fn skipped_steps(&self) -> usize {
        self.inner.skipped_steps()
    }
    fn failed_steps(&self) -> usize {
        self.inner.failed_steps()
    }
    fn retried_steps(&self) -> usize {
        self.inner.retried_steps()
    }
    fn parsing_errors(&self) -> usize {
        self.inner.parsing_errors()
    }
    fn hook_errors(&self) -> usize {
        self.inner.hook_errors()
    }
    fn execution_has_failed(&self) -> bool {
        self.inner.execution_has_failed()
    }
}

impl<Wr: writer::Normalized> writer::Normalized for StateWriter<Wr> {}

impl<Wr: writer::NonTransforming> writer::NonTransforming for StateWriter<Wr> {}
