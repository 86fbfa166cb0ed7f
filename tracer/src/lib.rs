//! state-tracer: records what each test process does to shared state.
//!
//! See `docs/format.md` for the file format and the README for a quick start.

pub mod format;
