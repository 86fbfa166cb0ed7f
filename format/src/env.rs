//! The environment variables of the format, named once.
//!
//! A suite turns tracing on and ties its processes into one run through
//! these variables (docs/format.md, "Environment"): the tracer reads them,
//! and `trace-analyzer run` and `confirm` set them for the commands they
//! start. Writers in other languages read the same names.

/// `1`/`true`/`yes`/`on` turns tracing on.
pub const ENV_STATE: &str = "BDD_TRACE_STATE";
/// Folder for trace files.
pub const ENV_DIR: &str = "BDD_TRACE_DIR";
/// Run tag shared by all processes of one suite run.
pub const ENV_RUN_ID: &str = "BDD_TRACE_RUN_ID";
/// When records reach the kernel: `line`, `interval:<ms>`, `fsync`.
pub const ENV_FLUSH: &str = "BDD_TRACE_FLUSH";
/// Human label of the process (the header's `process`).
pub const ENV_PROCESS: &str = "BDD_TRACE_PROCESS";
/// nextest's run ID, the run ID when [`ENV_RUN_ID`] is unset.
pub const ENV_NEXTEST_RUN_ID: &str = "NEXTEST_RUN_ID";
