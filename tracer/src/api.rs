//! The typed API: scenario and step guards and one helper per action.
//!
//! The guards are plain `tracing` spans on target `bdd_state`, and the
//! helpers' records are what plain events on that target would produce, so
//! code that cannot depend on this crate can emit the same by hand (see
//! `docs/format.md`). A helper writes its record straight into the
//! [`crate::StateLayer`] of the current dispatcher when there is one,
//! skipping `tracing`'s dispatch and field visiting, and still emits its
//! event, named so that layer skips it, for the subscriber's other layers.
//! Without a layer it is one relaxed atomic load and a disabled callsite.

use std::fmt::Display;
use std::time::Duration;

use tracing::field::Empty;
use tracing::{Level, Span};

use crate::format::Action;

macro_rules! state_event {
    ($($fields:tt)*) => {
        tracing::event!(target: "bdd_state", Level::INFO, $($fields)*)
    };
}

/// A helper's record: `action` plus `key = value` fields, recorded
/// directly when possible (see [`crate::layer::record_direct`]), otherwise
/// sent as the plain event it is equivalent to.
macro_rules! helper_event {
    ($action:expr; $($key:ident = $value:expr),* $(,)?) => {{
        let action: crate::format::Action = $action;
        // Each value once, for the record and the event alike.
        $( #[allow(clippy::redundant_locals)] let $key = $value; )*
        // Without any layer in the process (tracing off), one atomic load.
        let direct = crate::layer::any_layer() && {
            let mut fields = crate::fields::HelperFields::default();
            $( fields.put(stringify!($key), $key); )*
            crate::layer::record_direct(action, &fields)
        };
        if direct {
            tracing::event!(name: crate::layer::RECORDED, target: "bdd_state", Level::INFO,
                action = action.as_str(), $( $key ),*)
        } else {
            state_event!(action = action.as_str(), $( $key ),*)
        }
    }};
}

fn on() -> bool {
    tracing::enabled!(target: "bdd_state", Level::INFO)
}

/// A running scenario. Created by [`scenario`]; records `SCENARIO_START`
/// at once and `SCENARIO_END` (with its duration) when dropped: `FAILED` if
/// the thread is panicking or [`Scenario::fail`] was called, `SKIPPED` after
/// [`Scenario::skip`], else `PASSED`.
///
/// Events are attributed to the scenario when they happen inside its span:
/// - synchronous code: `let _in = scenario.enter();` (or [`Scenario::in_scope`]);
/// - async code: `scenario.instrument(fut).await` (the same as
///   `fut.instrument(scenario.span().clone())`), on any thread.
///
/// The guard does not enter its span by itself, because an entered span
/// must not cross an `.await` or a thread; it is `Send`, so it can live in
/// a test world. When only one scenario is open in the process, events
/// outside any scenario span are attributed to it anyway.
#[derive(Debug)]
#[must_use = "the scenario ends when this guard is dropped"]
pub struct Scenario {
    span: Span,
}

/// Starts a scenario; see [`Scenario`].
pub fn scenario(feature: &str, name: &str) -> Scenario {
    let span = tracing::span!(
        target: "bdd_state",
        parent: None,
        Level::INFO,
        "scenario",
        feature = feature,
        scenario = name,
        outcome = Empty,
        error = Empty
    );
    Scenario { span }
}

/// A running step; records `STEP_START` now and `STEP_END` on drop, like
/// [`Scenario`]. It belongs to the scenario whose span is current (or
/// instruments the calling future) when it is created.
#[derive(Debug)]
#[must_use = "the step ends when this guard is dropped"]
pub struct Step {
    span: Span,
}

/// Starts a step; see [`Step`].
pub fn step(text: &str) -> Step {
    let span = tracing::span!(
        target: "bdd_state",
        Level::INFO,
        "step",
        text = text,
        outcome = Empty,
        error = Empty
    );
    Step { span }
}

/// The methods and the `Drop` shared by [`Scenario`] and [`Step`]: both are
/// a span whose outcome is recorded before an `*_END` record on drop.
macro_rules! outcome_guard {
    ($guard:ident, $end:literal) => {
        impl $guard {
            /// The span: instrument futures with a clone of it.
            pub fn span(&self) -> &Span {
                &self.span
            }

            /// Enters the span on this thread until the returned guard drops.
            pub fn enter(&self) -> tracing::span::Entered<'_> {
                self.span.enter()
            }

            /// Runs `f` inside the span.
            pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
                self.span.in_scope(f)
            }

            /// `fut` inside the span, on whatever thread polls it: the
            /// async counterpart of [`Self::enter`]. Same as
            /// `fut.instrument(self.span().clone())`.
            pub fn instrument<F: std::future::Future>(
                &self,
                fut: F,
            ) -> tracing::instrument::Instrumented<F> {
                tracing::Instrument::instrument(fut, self.span.clone())
            }

            /// Marks it failed with `error` (it still ends on drop).
            pub fn fail(&self, error: impl Display) {
                self.span.record("outcome", "FAILED");
                self.span.record("error", tracing::field::display(&error));
            }

            /// Marks it skipped.
            pub fn skip(&self) {
                self.span.record("outcome", "SKIPPED");
            }
        }

        impl Drop for $guard {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.span.record("outcome", "FAILED");
                    self.span.record("error", "panicked");
                }
                self.span.in_scope(|| state_event!(action = $end));
            }
        }
    };
}

outcome_guard!(Scenario, "SCENARIO_END");
outcome_guard!(Step, "STEP_END");

/// Sets the database identity used for later sqlx statements of this
/// process (e.g. your `DATABASE_URL`). Credentials and query parameters are
/// dropped, SQLite paths made canonical, PostgreSQL hosts lowercased with
/// the port filled in (see [`crate::db_url`]), so every process using the
/// same database ends up with the same identity. Without it: the pool named
/// by [`crate::sqlx::name_pool`], `DATABASE_URL`, or on SQLite the file
/// the process has open; else statements record no `db` (unknown).
pub fn set_database(url: &str) {
    crate::db_identity::set_explicit(url);
}

/// All rows of `tables` were deleted; empty `tables` means every table of
/// the schema. `schema` defaults to the current one (search_path).
pub fn db_cleanup(schema: Option<&str>, tables: &[&str]) {
    if !on() {
        return;
    }
    let tables = tables.join(",");
    match schema {
        Some(s) => helper_event!(Action::DbCleanup; schema = s, tables = tables.as_str()),
        None => helper_event!(Action::DbCleanup; tables = tables.as_str()),
    }
}

fn jwt(action: Action, secret: &[u8]) {
    if !on() {
        return;
    }
    let fp = crate::secret::fingerprint(secret);
    helper_event!(action; details = fp.as_str());
}

/// The JWT secret was reset to its initial value; only a fingerprint of
/// `secret` is recorded. Takes bytes or text: `b"..."`, `&String`, `Vec<u8>`.
pub fn jwt_reset(secret: impl AsRef<[u8]>) {
    jwt(Action::JwtReset, secret.as_ref());
}

/// The JWT secret was rotated to `new_secret` (fingerprint only).
pub fn jwt_rotate(new_secret: impl AsRef<[u8]>) {
    jwt(Action::JwtRotate, new_secret.as_ref());
}

/// The JWT secret was set to `secret` (fingerprint only).
pub fn jwt_set(secret: impl AsRef<[u8]>) {
    jwt(Action::JwtSet, secret.as_ref());
}

/// In-memory configuration `name` was reloaded.
pub fn config_reload(name: &str, details: &str) {
    helper_event!(Action::ConfigReload; name = name, details = details);
}

/// An HTTP request made by the test. The query string is not recorded.
pub fn http_request(method: &str, path: &str, status: u16, duration: Duration) {
    helper_event!(
        Action::HttpRequest;
        method = method,
        path = path,
        status = status as u64,
        duration_us = duration.as_micros() as u64,
    );
}

/// A schema was created.
pub fn schema_create(name: &str) {
    helper_event!(Action::SchemaCreate; schema = name);
}

/// The current schema (search_path) is now `name`, for this scenario (or
/// the process, outside scenarios); later table names resolve against it.
pub fn schema_set(name: &str) {
    helper_event!(Action::SchemaSet; schema = name);
}

/// A schema was dropped.
pub fn schema_drop(name: &str) {
    helper_event!(Action::SchemaDrop; schema = name);
}

/// Anything else worth seeing on the timeline.
pub fn custom(name: &str, details: &str) {
    helper_event!(Action::Custom; name = name, details = details);
}
