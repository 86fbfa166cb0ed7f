//! What a trace file is once recognised: its format and what its header
//! (or name) says. Shared by discovery, which finds them, and the readers,
//! which read them, so neither imports the other for it.

use std::path::PathBuf;

use state_tracer_format::Rerun;

use crate::input::record::Micros;

/// Which reader a file needs; what files of the format provide (a footer,
/// a run id, row counts, …) is asked of [`Format::provides`], not matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines, format v1 (header, events, footer).
    V1,
    /// The Go tracer's `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS` lines.
    Legacy,
}

impl Format {
    /// The name in reports: [`TraceFormat::name`](crate::read::TraceFormat::name).
    pub fn as_str(self) -> &'static str {
        self.provides().name()
    }
}

/// Header `config` entries a replay sets again, as the traced process had
/// them: which database the suite ran on and how it shares it. The tracer
/// records them (secrets masked); `confirm` passes the same to its reruns.
pub const REPLAY_ENV: &[&str] = &["DATABASE_URL", "BDD_SCHEMA_ISOLATION"];

/// A recognised trace file.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub format: Format,
    pub run_id: String,
    pub pid: u32,
    /// Process label from the header (v1) or `pid N` (legacy, refined later).
    pub label: String,
    /// Header start (v1) or the time in the file name (legacy).
    pub start: Option<Micros>,
    pub argv: Vec<String>,
    /// The v1 header's re-run template (`rerun`), if any.
    pub rerun: Option<Rerun<'static>>,
    /// The v1 header's working directory (`cwd`), if recorded.
    pub cwd: Option<String>,
    /// The header's `config` entries a replay sets again
    /// (`REPLAY_ENV`), values as recorded (secrets masked).
    pub env: Vec<(String, String)>,
    pub size: u64,
}

impl SourceFile {
    /// The path as shown in warnings and reports.
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}
