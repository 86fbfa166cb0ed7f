//! state-tracer: records what each test process does to shared state, so
//! `trace-analyzer` can tell which scenario polluted which.
//!
//! With `BDD_TRACE_STATE=1`, every process of a suite run writes its own
//! trace file (JSON Lines, format v1, see `docs/format.md` and [`format`](mod@format)):
//! scenario and step boundaries, database reads, writes and cleanups (sqlx
//! statements are captured automatically), transactions, schema switches,
//! JWT secret changes (as fingerprints), config reloads, HTTP calls. Each
//! record reaches the kernel in one `write(2)` before the traced call
//! returns, so a crash loses nothing. When the variable is unset, nothing
//! is created and the helpers cost an atomic load and one disabled-callsite
//! check.
//!
//! # Quick start
//!
//! A program or test binary without its own subscriber:
//!
//! ```no_run
//! let _trace = state_tracer::init(); // None unless BDD_TRACE_STATE=1
//! state_tracer::set_database("postgres://app:secret@localhost/app"); // password never recorded
//!
//! let scenario = state_tracer::scenario("auth", "Login with a valid token");
//! {
//!     let _in = scenario.enter(); // sync code; async: scenario.instrument(fut).await
//!     let _step = state_tracer::step("Given a registered user");
//!     state_tracer::db_cleanup(None, &[]); // all tables of the current schema
//!     state_tracer::jwt_rotate(b"new-secret"); // only a fingerprint is written
//! }
//! drop(scenario); // SCENARIO_END: PASSED, or FAILED when panicking / after fail()
//! ```
//!
//! With your own subscriber, add the layer (it brings its own filter, so
//! sqlx's DEBUG statements are captured even if the rest logs at INFO):
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! let (state, _guard) = state_tracer::StateLayer::from_env().unzip();
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::filter::LevelFilter::INFO))
//!     .with(state)
//!     .init();
//! ```
//!
//! Then run the suite with `BDD_TRACE_STATE=1 BDD_TRACE_DIR=target/traces`
//! and point `trace-analyzer` at the folder.
//!
//! # API
//!
//! - [`StateLayer`]`<S>`: the layer; `S` (the subscriber it is added to) is
//!   inferred from `.with(..)`. [`StateLayer::from_env`] →
//!   `Option<(StateLayer, TraceGuard)>`, `None` when tracing is off;
//!   [`StateLayer::builder`] → [`Builder`] (`.dir() .run_id()
//!   .process_label() .flush() .build()` → `io::Result<(StateLayer,
//!   TraceGuard)>`), which works whatever the environment says.
//! - [`TraceGuard`]: dropping it writes `PROCESS_END` and the footer; if it
//!   is never dropped, an `exit(3)` hook does it; exactly once either way.
//!   [`TraceGuard::path`] names the file.
//! - [`init`]: registry + layer as the global default → `Option<TraceGuard>`.
//! - [`scenario`] → [`Scenario`]: `SCENARIO_START` now, `SCENARIO_END` on
//!   drop with the duration; `FAILED` when the thread is panicking or after
//!   [`Scenario::fail`], `SKIPPED` after [`Scenario::skip`]. The guard is
//!   `Send` and does **not** enter its span by itself (an entered span must
//!   not cross an `.await` or a thread): use [`Scenario::enter`] /
//!   [`Scenario::in_scope`] in synchronous code and
//!   [`Scenario::instrument`] in async code; events on any
//!   thread or task inside the span are attributed to that scenario, and
//!   concurrent scenarios never mix. When exactly one scenario is open in
//!   the process, events outside any scenario span are attributed to it.
//! - [`step`] → [`Step`], the same for `STEP_START`/`STEP_END`.
//! - Typed helpers, no-ops without a layer, each writing the record its
//!   plain event would: straight into the [`StateLayer`] of the current
//!   dispatcher (found with `Dispatch::downcast_ref`, as
//!   tracing-opentelemetry finds its layer), which skips `tracing`'s
//!   dispatch and field visiting; the event is still emitted for the
//!   subscriber's other layers, which see nothing different. A layer that
//!   cannot be reached that way (behind a `reload` layer) gets the event
//!   instead. Since the helpers bypass the subscriber's filters, a global
//!   filter that hides `bdd_state` does not hide their records (it does
//!   hide scenario spans: give `bdd_state` its own directive or use
//!   per-layer filters). [`set_database`] (identity for
//!   later sqlx statements; credentials dropped), [`db_cleanup`],
//!   [`jwt_reset`], [`jwt_rotate`], [`jwt_set`] (fingerprints only),
//!   [`config_reload`], [`http_request`] (query string dropped),
//!   [`schema_create`], [`schema_set`], [`schema_drop`], [`custom`].
//! - sqlx: statements on target `sqlx::query` become `DB_*`, `TX_*` and
//!   `SCHEMA_*` records with tables, schema and row counts, text with
//!   placeholders only. sqlx 0.8 does not log the `BEGIN`/`COMMIT` sent by
//!   `Pool::begin()`/`Transaction::commit()`, so those appear only through
//!   their statements; explicit `BEGIN`/`COMMIT` statements are recorded.
//!
//! # Environment
//!
//! See [`config`]: `BDD_TRACE_STATE`, `BDD_TRACE_DIR`, `BDD_TRACE_RUN_ID`
//! (else `NEXTEST_RUN_ID`, else the nearest ancestor `cargo` process's,
//! `cargo-<pid>-<start ticks>`, so all test binaries of one `cargo test`
//! are one run, else generated; derived or generated before `main`, while
//! the process has one thread, and exported to this process's
//! environment so children spawned later share it), `BDD_TRACE_FLUSH`
//! (`line`, `interval:<ms>`, `fsync`), `BDD_TRACE_PROCESS`.
//!
//! # Without depending on this crate
//!
//! Instrumented code can use plain `tracing`: target `bdd_state`, a span
//! named `scenario` (fields `feature`, `scenario`, `outcome`, `error`), a
//! span named `step` (field `text`), and events with an `action` field plus
//! `table`, `schema`, `details`, `name`, `rows`, `method`, `path`,
//! `status`, `duration_us`.

pub mod config;
#[cfg(feature = "cucumber")]
pub mod cucumber;
pub mod db_url;
pub mod file;
/// The trace format (`state-tracer-format`), re-exported so
/// `state_tracer::format::…` keeps working.
pub use state_tracer_format as format;
pub mod rerun;
pub mod secret;
pub mod sql;
pub mod sqlx;

mod api;
mod cucumber_spans;
mod db;
mod db_identity;
mod encoder;
mod fields;
mod json;
mod layer;
mod process;
mod records;
mod scenario;
mod sqlx_test;
mod statement_cache;
mod writer;

#[cfg(feature = "macros")]
mod test_attr;

/// `#[state_tracer::test]`, `#[state_tracer::test(tokio::test)]`: the test
/// is one scenario (feature `macros`; see `docs/guide-instrumenting.md`).
#[cfg(feature = "macros")]
pub use state_tracer_macros::test;
/// Used by the code `#[state_tracer::test]` expands to; not an API.
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod __private {
    pub use crate::test_attr::{run_async, run_sync, Harness, Outcome, ShouldPanic};
}

pub use api::{
    config_reload, custom, db_cleanup, http_request, jwt_reset, jwt_rotate, jwt_set, scenario,
    schema_create, schema_drop, schema_set, set_database, step, Scenario, Step,
};
pub use config::Flush;

/// The README's Rust snippets, compiled (and run) as doctests so they keep
/// compiling as pasted. Some need cargo features (`cucumber`, `macros`), so
/// the module exists only when every feature they use is on:
/// `scripts/test.sh` runs `cargo test --all-features`. A snippet that needs a feature added later
/// adds that feature to this `cfg` (or is fenced as `rust,ignore`).
#[cfg(all(doctest, feature = "cucumber", feature = "macros"))]
#[doc = include_str!("../../README.md")]
mod readme {}
pub use layer::{Builder, StateLayer, TraceGuard, SQLX_TARGET};

/// Installs a registry with only the [`StateLayer`] as the global default
/// subscriber, for programs that have none. Returns `None` (and does
/// nothing) when `BDD_TRACE_STATE` is off, or when a global subscriber is
/// already set — add [`StateLayer`] to that one instead. Keep the guard
/// alive: dropping it writes the footer.
pub fn init() -> Option<TraceGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    if !config::enabled_from_env() {
        return None;
    }
    if tracing::dispatcher::has_been_set() {
        eprintln!(
            "state-tracer: a global tracing subscriber is already installed; add state_tracer::StateLayer to it instead of calling init()"
        );
        return None;
    }
    let (layer, guard) = StateLayer::from_env()?;
    let subscriber = tracing_subscriber::registry().with(layer);
    match tracing::subscriber::set_global_default(subscriber) {
        Ok(()) => Some(guard),
        Err(_) => None,
    }
}
