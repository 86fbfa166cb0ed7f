//! state-tracer: records what each test process does to shared state, so
//! `trace-analyzer` can tell which scenario polluted which.
//!
//! With `BDD_TRACE_STATE=1`, every process of a suite run writes its own
//! trace file (JSON Lines, format v1, see `docs/format.md` and [`format`]):
//! scenario and step boundaries, database reads, writes and cleanups (sqlx
//! statements are captured automatically), transactions, schema switches,
//! JWT secret changes (as fingerprints), config reloads, HTTP calls. Each
//! record reaches the kernel in one `write(2)` before the traced call
//! returns, so a crash loses nothing. When the variable is unset, nothing
//! is created and the helpers cost one disabled-callsite check.
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
//!     let _in = scenario.enter(); // sync code; async: fut.instrument(scenario.span().clone())
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
//! # Environment
//!
//! See [`config`]: `BDD_TRACE_STATE`, `BDD_TRACE_DIR`, `BDD_TRACE_RUN_ID`
//! (else `NEXTEST_RUN_ID`, else generated and exported to this process's
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
pub mod file;
pub mod format;
pub mod secret;
pub mod sql;

mod api;
mod json;
mod layer;
mod writer;

pub use api::{
    config_reload, custom, db_cleanup, http_request, jwt_reset, jwt_rotate, jwt_set, scenario,
    schema_create, schema_drop, schema_set, set_database, step, Scenario, Step,
};
pub use config::Flush;
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
