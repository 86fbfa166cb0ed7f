//! The registry of suite shapes. A shape is one file here plus its name in
//! the `shapes!` list below (see `examples/corpus/SHAPES.md`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::ctx::Ctx;
use crate::db::DbKind;

/// What a shape's process runs.
pub type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Whether (and how) a run has a fixture process before the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    None,
    /// Run without tracing (like a seed script run by CI before the suite).
    Untraced,
    /// Run traced, as one more process of the run.
    Traced,
}

/// A suite shape.
pub struct Shape {
    /// The `shape` of `meta.json` and the `corpus run` argument.
    pub name: &'static str,
    /// Worker processes for a run with this seed.
    pub workers: fn(seed: u64) -> usize,
    /// DDL run untraced before anything else (migrations).
    pub schema: fn(DbKind) -> Vec<String>,
    /// The fixture step of a run with this seed.
    pub fixture: fn(seed: u64) -> Fixture,
    /// The body of a worker process, or of the fixture one (`ctx.fixture`).
    pub run: fn(Arc<Ctx>) -> BoxFut,
}

/// No fixture step.
pub fn no_fixture(_seed: u64) -> Fixture {
    Fixture::None
}

macro_rules! shapes {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// Every registered shape.
        pub fn all() -> Vec<&'static Shape> {
            vec![$(&$module::SHAPE),*]
        }
    };
}

shapes!(
    own_row_cleanup,
    seed_data,
    leftover_in_process,
    wipe_first,
    inseparable,
    value_state,
    genuine_failure,
    failing_step,
    isolated,
    constraint,
);

/// The shape called `name`.
pub fn find(name: &str) -> Option<&'static Shape> {
    all().into_iter().find(|s| s.name == name)
}
