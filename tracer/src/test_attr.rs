//! Run-time half of `#[state_tracer::test]` (crate `state-tracer-macros`):
//! the expanded test calls [`run_sync`] or [`run_async`] with its body.
//!
//! It exists so that the attribute stays a thin syntactic wrapper: the
//! once-per-process installation, the scenario, its attribution and its
//! outcome are plain library code over the public API ([`crate::init`],
//! [`crate::scenario`]), tested like the rest. Not a public API: the macro
//! is the only caller.
//!
//! With `BDD_TRACE_STATE` unset, each call costs one load of an
//! initialised `OnceLock` and runs the body as it is.

use std::fmt::Debug;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::thread::ThreadId;

use tracing::Instrument as _;

use crate::{Scenario, TraceGuard};

/// What libtest expects of the test: its `#[should_panic]`, as the macro
/// read it from the function's attributes (libtest's own three cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShouldPanic {
    /// No `#[should_panic]`: a panic fails the test.
    No,
    /// `#[should_panic]`: the test passes when it panics.
    Yes,
    /// `#[should_panic(expected = "msg")]`: it passes when the panic
    /// message contains `msg`.
    YesWithMessage(&'static str),
}

/// The test attribute the body runs under, as far as the tracer cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Harness {
    /// Any other: it may share its runtime or thread between tests.
    Other,
    /// `tokio::test`: a runtime for this test alone, driven from its thread.
    Tokio,
    /// `sqlx::test`: the same, and a database for this test alone.
    Sqlx,
}

/// What a test returned, as the scenario's outcome.
pub trait Outcome {
    /// `Some(error)` when the test failed without panicking.
    fn failure(&self) -> Option<String>;
}

impl Outcome for () {
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<T, E: Debug> Outcome for Result<T, E> {
    fn failure(&self) -> Option<String> {
        // libtest prints `Error: {e:?}`; the layer scrubs secrets from it.
        self.as_ref().err().map(|e| format!("{e:?}"))
    }
}

/// Whether tracing is on; the first call installs the tracer (once per
/// process). The guard lives in a static, so it is never dropped: the
/// tracer's `exit(3)` hook writes the footer when the test binary ends.
fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    static GUARD: OnceLock<Option<TraceGuard>> = OnceLock::new();
    *ON.get_or_init(|| {
        if !crate::config::enabled_from_env() {
            return false;
        }
        // None when the suite installed its own subscriber: it carries the
        // StateLayer then (or nothing is traced, as init() says on stderr).
        GUARD.get_or_init(crate::init);
        true
    })
}

/// Feature and scenario for a test in `module` (from `module_path!()`):
/// the crate (test binary) name, and the test's name as libtest and
/// nextest print and select it (`--exact NAME`, `test(=NAME)`).
fn names(module: &str, test: &str) -> (String, String) {
    match module.split_once("::") {
        Some((krate, path)) => (krate.to_owned(), format!("{path}::{test}")),
        None => (module.to_owned(), test.to_owned()),
    }
}

fn begin(module: &str, test: &str) -> Option<Scenario> {
    if !enabled() {
        return None;
    }
    let (feature, name) = names(module, test);
    Some(crate::scenario(&feature, &name))
}

/// Records the outcome, ends the scenario, then hands the result back (or
/// resumes the panic, after `SCENARIO_END` is written). The outcome is
/// libtest's verdict, `#[should_panic]` included, so a test that panics as
/// expected is `PASSED`.
fn finish<T: Outcome>(
    scenario: Scenario,
    expect: ShouldPanic,
    result: std::thread::Result<T>,
) -> T {
    let failure = verdict(expect, &result);
    if let Some(error) = failure {
        scenario.fail(error);
    }
    drop(scenario);
    match result {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// `Some(error)` when libtest will call the test failed, with libtest's
/// wording for the `#[should_panic]` cases (test/src/test_result.rs).
fn verdict<T: Outcome>(expect: ShouldPanic, result: &std::thread::Result<T>) -> Option<String> {
    match (expect, result) {
        (ShouldPanic::No, Ok(value)) => value.failure(),
        (ShouldPanic::No, Err(payload)) => Some(panic_message(payload.as_ref())),
        (_, Ok(_)) => Some("test did not panic as expected".to_owned()),
        (ShouldPanic::Yes, Err(_)) => None,
        (ShouldPanic::YesWithMessage(expected), Err(payload)) => {
            match panic_text(payload.as_ref()) {
                Some(text) if text.contains(expected) => None,
                Some(text) => Some(format!(
                    "panic did not contain expected string: panicked: {text}; expected substring: {expected}"
                )),
                None => Some(format!(
                    "expected panic with string value, found non-string value; expected substring: {expected}"
                )),
            }
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match panic_text(payload) {
        Some(s) => format!("panicked: {s}"),
        None => "panicked".to_owned(),
    }
}

/// A synchronous test body, run inside its scenario's span on this thread.
pub fn run_sync<T: Outcome, F: FnOnce() -> T>(
    module: &str,
    test: &str,
    expect: ShouldPanic,
    body: F,
) -> T {
    let Some(scenario) = begin(module, test) else {
        return body();
    };
    let result = scenario.in_scope(|| panic::catch_unwind(AssertUnwindSafe(body)));
    finish(scenario, expect, result)
}

/// An async test body, instrumented with its scenario's span: on whatever
/// thread polls it, and in tasks it spawns with `.in_current_span()`.
///
/// `harness`: `tokio::test` and `sqlx::test` build a runtime for this test
/// alone and drive it from the test's thread. That thread then runs
/// nothing but this test, so the scenario's span stays entered on it from
/// the first poll to the end ([`HoldThread`]): tasks the test spawns that
/// run there (all of them, on tokio's default current-thread runtime) are
/// inside the span, and so is the work they hand on (sqlx's SQLite worker
/// takes the caller's span), with no `.in_current_span()`. Under
/// `sqlx::test` the statements carry the test's own database (see
/// [`crate::sqlx_test`]).
pub async fn run_async<T: Outcome, F: Future<Output = T>>(
    module: &str,
    test: &str,
    expect: ShouldPanic,
    harness: Harness,
    body: F,
) -> T {
    let Some(scenario) = begin(module, test) else {
        return body.await;
    };
    if harness == Harness::Sqlx {
        crate::sqlx_test::test_started(&format!("{module}::{test}"));
    }
    let own_runtime = harness != Harness::Other;
    let caught = HoldThread {
        inner: CatchUnwind(Box::pin(body)).instrument(scenario.span().clone()),
        span: scenario.span().clone(),
        test: own_runtime.then(|| names(module, test).1),
        held: None,
    }
    .await;
    finish(scenario, expect, caught)
}

/// Keeps `span` entered on the thread of the first poll until the test
/// ends, when that thread is libtest's thread for this very test (named
/// as the test; libtest gives each test a thread of its own, which ends
/// with it): never a runtime worker or a thread other tests use. The span
/// is exited on that thread when the test completes or is dropped there.
struct HoldThread<F> {
    inner: F,
    span: tracing::Span,
    /// The test's libtest name, while the thread is yet to be checked.
    test: Option<String>,
    /// The thread the span is held entered on.
    held: Option<ThreadId>,
}

impl<F> HoldThread<F> {
    fn release(&mut self) {
        if self.held.take() == Some(std::thread::current().id()) {
            self.span
                .with_subscriber(|(id, dispatch)| dispatch.exit(id));
        }
    }
}

impl<F: Future + Unpin> Future for HoldThread<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if let Some(test) = this.test.take() {
            let thread = std::thread::current();
            if thread.name() == Some(test.as_str()) {
                this.span
                    .with_subscriber(|(id, dispatch)| dispatch.enter(id));
                this.held = Some(thread.id());
            }
        }
        let poll = Pin::new(&mut this.inner).poll(cx);
        if poll.is_ready() {
            this.release();
        }
        poll
    }
}

impl<F> Drop for HoldThread<F> {
    fn drop(&mut self) {
        self.release();
    }
}

/// Polls a future, turning a panic inside `poll` into an `Err`, so the
/// scenario can record it before the panic goes on to the test harness.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_libtest() {
        assert_eq!(
            names("attr_tests", "sync_ok"),
            ("attr_tests".into(), "sync_ok".into())
        );
        assert_eq!(
            names("mycrate::db::tests", "insert"),
            ("mycrate".into(), "db::tests::insert".into())
        );
    }

    #[test]
    fn outcomes() {
        assert_eq!(().failure(), None);
        assert_eq!(Ok::<u8, String>(1).failure(), None);
        assert_eq!(Err::<(), _>("boom").failure().as_deref(), Some("\"boom\""));
    }

    #[test]
    fn should_panic_takes_libtests_verdict() {
        let panicked = |p: &'static str| -> std::thread::Result<()> { Err(Box::new(p)) };
        let owned = || -> std::thread::Result<()> { Err(Box::new(String::from("owned boom"))) };
        assert_eq!(verdict(ShouldPanic::Yes, &panicked("boom")), None);
        assert_eq!(
            verdict(ShouldPanic::YesWithMessage("boo"), &panicked("boom")),
            None
        );
        assert_eq!(verdict(ShouldPanic::YesWithMessage("ed b"), &owned()), None);
        let wrong = verdict(ShouldPanic::YesWithMessage("bang"), &panicked("boom")).unwrap();
        assert!(
            wrong.starts_with("panic did not contain expected string"),
            "{wrong}"
        );
        let opaque: std::thread::Result<()> = Err(Box::new(7_u8));
        assert!(verdict(ShouldPanic::YesWithMessage("x"), &opaque).is_some());
        assert_eq!(verdict(ShouldPanic::Yes, &opaque), None);
        assert_eq!(
            verdict(ShouldPanic::Yes, &Ok(())).as_deref(),
            Some("test did not panic as expected")
        );
        assert_eq!(verdict(ShouldPanic::No, &Ok(())), None);
        assert_eq!(
            verdict(ShouldPanic::No, &panicked("boom")).as_deref(),
            Some("panicked: boom")
        );
    }
}
