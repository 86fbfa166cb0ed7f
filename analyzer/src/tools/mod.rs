//! Subcommands beside the pipeline: [`clean`] removes old trace files,
//! [`gen`] writes synthetic runs (for benchmarks and tests).

pub mod clean;
pub mod gen;
