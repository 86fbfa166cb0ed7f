//! The accuracy corpus: suites shaped the way people write them, run for
//! real, each run's ground truth taken from the database (never from the
//! traces), and the scorer that grades `trace-analyzer report --format json`
//! against it. See `docs/accuracy.md` and `SHAPES.md`.
//!
//! [`truth`] is the ground-truth file every producer writes (Rust, Python,
//! the cucumber demo); [`score`] reads it with the report. [`runner`] runs
//! the Rust [`shapes`] (each worker gets a [`ctx::Ctx`]).

pub mod ctx;
pub mod db;
pub mod rng;
pub mod runner;
pub mod score;
pub mod shapes;
pub mod truth;
