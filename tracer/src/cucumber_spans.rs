//! Attribution through cucumber-rs's own per-scenario span.
//!
//! With its `tracing` feature, cucumber runs each scenario (before hook,
//! steps, after hook) inside a span `scenario` on target
//! `cucumber::tracing`, field `__cucumber_scenario_id`. cucumber polls every
//! running scenario in one task, so that span is the only thing that says,
//! inside a step, which scenario is running.
//!
//! The cucumber integration links its state-tracer scenario to that span
//! once, from its before hook: `our_span.follows_from(Span::current())`.
//! [`adopt`] then stores the scenario's data in the cucumber span's
//! extensions (and the layer puts it in the span's `Node` too), where the
//! layer's ordinary ancestor walk finds it for every later event of that
//! scenario run. Nothing is added to the per-event path;
//! without cucumber spans this module is never reached.

use tracing_core::span::Id;
use tracing_core::{Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Target of cucumber's spans (`tracing::error_span!` in `cucumber::tracing`).
pub(crate) const CUCUMBER_TARGET: &str = "cucumber::tracing";

/// Field that marks cucumber's per-scenario span.
const SCENARIO_ID_FIELD: &str = "__cucumber_scenario_id";

/// cucumber's spans (scenario, step, hook) must exist in the registry for
/// the layer, so its filter lets them through even when no other layer
/// wants them: the link is made from inside a hook span.
pub(crate) fn is_cucumber_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target() == CUCUMBER_TARGET
}

fn is_cucumber_scenario(meta: &Metadata<'_>) -> bool {
    meta.target() == CUCUMBER_TARGET
        && meta.name() == "scenario"
        && meta.fields().field(SCENARIO_ID_FIELD).is_some()
}

/// `span` follows from `follows`: if `span` carries a `T` (a scenario's
/// data) and `follows` is, or is inside, a cucumber scenario span, that
/// cucumber span gets a copy of the `T`. Returns that cucumber span.
pub(crate) fn adopt<S, T>(span: &Id, follows: &Id, ctx: &Context<'_, S>) -> Option<Id>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    T: Clone + Send + Sync + 'static,
{
    let follows = ctx.span(follows)?;
    if follows.metadata().target() != CUCUMBER_TARGET {
        return None;
    }
    let data = ctx
        .span(span)
        .and_then(|s| s.extensions().get::<T>().cloned())?;
    let scenario = follows
        .scope()
        .find(|s| is_cucumber_scenario(s.metadata()))?;
    scenario.extensions_mut().replace(data);
    Some(scenario.id())
}
