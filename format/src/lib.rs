//! The trace file format, version 1: the one definition shared by the tracer
//! (which writes it) and the analyzer (which reads it).
//!
//! A crate of its own so that a reader needs only this (serde, serde_json,
//! chrono), not the tracer's `tracing-subscriber`, sqlx and tokio, and so
//! that every rule of the format (records, file names, environment
//! variables, run IDs, default schemas, wall times) has one definition.
//! `state-tracer` re-exports it as `state_tracer::format`.
//!
//! A trace file is JSON Lines: one JSON object per line, each ending in `\n`.
//! The first line is a [`Header`], then any number of [`Event`]s, then, only
//! when the process exited cleanly, a [`Footer`]. `docs/format.md` is the
//! human-readable version of this crate; keep the two in step.
//!
//! Every type here round-trips through serde, so a reader and a writer can
//! never disagree about a field name. Fields that are absent on the wire are
//! `None`/empty here, and unknown fields are ignored, so later minor
//! additions stay readable by this version.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod env;
pub mod file_name;
mod pairs;
pub mod run_id;
pub mod schema;
mod wall;

pub use file_name::{file_name_safe, FILE_EXTENSION, FILE_PREFIX};
use pairs::{scalar_pairs, string_pairs};
pub use run_id::generate_run_id;
pub use schema::default_schema;
pub use wall::{format_wall_time, parse_wall_time, wall_time, wall_time_string, WallTimeParser};

/// The value of the header's `format` field.
pub const FORMAT_NAME: &str = "bdd-state-trace";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The `tracing` target of events and spans that the layer turns into records.
pub const TARGET: &str = "bdd_state";

/// One line of a trace file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record<'a> {
    #[serde(borrow)]
    Header(Header<'a>),
    #[serde(borrow)]
    Event(Event<'a>),
    Footer(Footer),
}

impl<'a> Record<'a> {
    /// Parses one line (without its trailing newline).
    pub fn parse(line: &'a str) -> Result<Record<'a>, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// Serialises the record as one line, including the trailing `\n`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        // Serialising into a Vec cannot fail: every map key is a string.
        match self {
            // The header is record 0 of its file (see docs/format.md).
            Record::Header(header) => {
                let line = HeaderLine {
                    kind: "header",
                    seq: 0,
                    header,
                };
                serde_json::to_writer(&mut *out, &line).expect("record serialises");
            }
            _ => serde_json::to_writer(&mut *out, self).expect("record serialises"),
        }
        out.push(b'\n');
    }
}

/// How a header is written: its `type`, then `seq` 0, then its members.
#[derive(Serialize)]
struct HeaderLine<'h, 'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    #[serde(flatten)]
    header: &'h Header<'a>,
}

/// First record of every file: who wrote it, for which run, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header<'a> {
    /// Always [`FORMAT_NAME`].
    #[serde(borrow)]
    pub format: Cow<'a, str>,
    /// [`FORMAT_VERSION`]; readers refuse versions they do not know.
    pub version: u32,
    /// Shared by every process of one suite run.
    #[serde(borrow)]
    pub run_id: Cow<'a, str>,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    #[serde(borrow, default)]
    pub host: Cow<'a, str>,
    /// Human label of the process (`BDD_TRACE_PROCESS`, else the executable name).
    #[serde(borrow)]
    pub process: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<Cow<'a, str>>,
    /// Name and version of the writer, e.g. `state-tracer 0.1.0` or `my-go-tracer 2.3`.
    #[serde(borrow, default)]
    pub tracer: Cow<'a, str>,
    /// Wall time the file was started, RFC 3339 UTC with microseconds.
    #[serde(with = "wall_time")]
    pub start: DateTime<Utc>,
    /// Selected configuration, e.g. `BDD_SCHEMA_ISOLATION`, `flush`.
    #[serde(
        borrow,
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "string_pairs"
    )]
    pub config: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// How to re-run one scenario of this process, when the writer knows
    /// (optional; readers then prefer it to recognising the framework from
    /// `argv`).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub rerun: Option<Rerun<'a>>,
    /// The process's working directory when it started (optional): where
    /// `argv` (and `rerun`) must run to mean the same thing again.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Cow<'a, str>>,
}

/// The header's `rerun` member: a command that re-runs only the scenarios
/// it is given. Each `argv` element may contain [`RERUN_SCENARIO`] (replaced
/// by the scenario's name as the framework selects it: a regular expression
/// for cucumber and `go test`, the exact test name for libtest and nextest,
/// the node id for pytest) and [`RERUN_FEATURE`] (the scenario's feature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rerun<'a> {
    /// `cucumber`, `libtest`, `nextest`, `go`, `pytest`, or another name
    /// (then the placeholder is replaced by the plain scenario name).
    #[serde(borrow)]
    pub framework: Cow<'a, str>,
    #[serde(borrow)]
    pub argv: Vec<Cow<'a, str>>,
}

impl Rerun<'_> {
    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Rerun<'static> {
        Rerun {
            framework: self.framework.into_owned().into(),
            argv: self
                .argv
                .into_iter()
                .map(|a| a.into_owned().into())
                .collect(),
        }
    }
}

/// The working directory as the header's `cwd` records it (`None` when it
/// cannot be read, e.g. deleted).
pub fn current_dir() -> Option<Cow<'static, str>> {
    let dir = std::env::current_dir().ok()?;
    Some(dir.display().to_string().into())
}

/// Placeholder for the scenario in [`Rerun::argv`].
pub const RERUN_SCENARIO: &str = "{scenario}";
/// Placeholder for the feature in [`Rerun::argv`].
pub const RERUN_FEATURE: &str = "{feature}";

/// Everything that happened: scenario boundaries, steps and state actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<'a> {
    /// Per-file sequence number; the header is 0. A gap means records were dropped.
    pub seq: u64,
    /// Wall time, RFC 3339 UTC with microseconds.
    #[serde(with = "wall_time")]
    pub ts: DateTime<Utc>,
    /// Monotonic nanoseconds since the process started tracing.
    #[serde(default)]
    pub mono_ns: u64,
    /// Small integer naming the writing thread (not the OS tid).
    #[serde(default)]
    pub tid: u64,
    /// Identifies a scenario within this file; absent outside any scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_id: Option<u64>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Cow<'a, str>>,
    /// Text of the step that was running, if any.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Cow<'a, str>>,
    pub action: Action,
    /// For `CUSTOM`, the user-chosen name.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource<'a>>,
    /// Free text: a statement with placeholders only, a fingerprint, a note.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Cow<'a, str>>,
    /// For `SCENARIO_END` and `STEP_END`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Error message of a failed scenario or step.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Cow<'a, str>>,
    /// How long the action (or scenario, on `SCENARIO_END`) took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// Rows affected (writes) or returned (reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Anything else: HTTP method/path/status, user fields. Values are JSON
    /// scalars; readers keep them as text.
    #[serde(
        borrow,
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "scalar_pairs"
    )]
    pub fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Event<'a> {
    /// An event with only its required members set (`seq`, `ts`, `action`)
    /// and every optional one empty, for writers to fill in.
    pub fn new(seq: u64, ts: DateTime<Utc>, action: Action) -> Event<'a> {
        Event {
            seq,
            ts,
            mono_ns: 0,
            tid: 0,
            scenario_id: None,
            feature: None,
            scenario: None,
            step: None,
            action,
            name: None,
            resource: None,
            details: None,
            outcome: None,
            error: None,
            duration_us: None,
            rows: None,
            fields: Vec::new(),
        }
    }
}

/// Last record, written only on a clean exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footer {
    pub seq: u64,
    #[serde(with = "wall_time")]
    pub ts: DateTime<Utc>,
    #[serde(default)]
    pub mono_ns: u64,
    /// Records written to the file before the footer, the header included.
    pub records: u64,
    /// Records that could not be written (write errors). `records + dropped == seq`.
    pub dropped: u64,
}

/// Who can see a piece of state, which decides who it can pollute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Visible to every process: database objects.
    Shared,
    /// Visible only inside the writing process: in-memory secrets, config.
    Process,
}

/// The state an action touched.
///
/// Shared resources are named `db` / `schema` / `tables`: an empty `tables`
/// means every table of the schema (a cleanup of all tables, a schema drop).
/// Process resources are named by `name` alone (`jwt_secret`, `config`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource<'a> {
    pub scope: Scope,
    /// Database identity, the same string in every process that uses that
    /// database: `sqlite:/abs/path.db`, `postgres://host:port/dbname`. Never
    /// contains credentials.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub db: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<Cow<'a, str>>,
    /// Process-scope state name.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
}

impl<'a> Resource<'a> {
    /// Tables of a schema; no tables means the whole schema.
    pub fn tables(
        db: impl Into<Cow<'a, str>>,
        schema: impl Into<Cow<'a, str>>,
        tables: impl IntoIterator<Item = Cow<'a, str>>,
    ) -> Self {
        Resource {
            scope: Scope::Shared,
            db: Some(db.into()),
            schema: Some(schema.into()),
            tables: tables.into_iter().collect(),
            name: None,
        }
    }

    /// In-memory state of one process, e.g. `jwt_secret`.
    pub fn process(name: impl Into<Cow<'a, str>>) -> Self {
        Resource {
            scope: Scope::Process,
            db: None,
            schema: None,
            tables: Vec::new(),
            name: Some(name.into()),
        }
    }

    pub fn into_owned(self) -> Resource<'static> {
        Resource {
            scope: self.scope,
            db: self.db.map(|s| Cow::Owned(s.into_owned())),
            schema: self.schema.map(|s| Cow::Owned(s.into_owned())),
            tables: self
                .tables
                .into_iter()
                .map(|s| Cow::Owned(s.into_owned()))
                .collect(),
            name: self.name.map(|s| Cow::Owned(s.into_owned())),
        }
    }
}

impl fmt::Display for Resource<'_> {
    /// `shared:db/schema/{a,b}`, `shared:db/schema/*`, `process:jwt_secret`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            Scope::Process => write!(f, "process:{}", self.name.as_deref().unwrap_or("?")),
            Scope::Shared => {
                write!(f, "shared:{}", self.db.as_deref().unwrap_or("?"))?;
                if let Some(schema) = &self.schema {
                    write!(f, "/{schema}")?;
                }
                match self.tables.as_slice() {
                    [] => f.write_str("/*"),
                    [one] => write!(f, "/{one}"),
                    many => write!(f, "/{{{}}}", many.join(",")),
                }
            }
        }
    }
}

/// How a scenario or step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

impl Outcome {
    #[inline]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "PASSED",
            Outcome::Failed => "FAILED",
            Outcome::Skipped => "SKIPPED",
        }
    }
}

impl FromStr for Outcome {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PASSED" | "PASS" | "OK" => Ok(Outcome::Passed),
            "FAILED" | "FAIL" | "ERROR" => Ok(Outcome::Failed),
            "SKIPPED" | "SKIP" => Ok(Outcome::Skipped),
            _ => Err(UnknownName(s.to_owned())),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the documented values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName(pub String);

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown name {:?}", self.0)
    }
}

impl std::error::Error for UnknownName {}

macro_rules! actions {
    ($($variant:ident = $name:literal : $kind:ident,)*) => {
        /// What a record says happened. The wire form is the SCREAMING_CASE name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Action {
            $(#[serde(rename = $name)] $variant,)*
        }

        // `#[inline]` below: the tracer's encoder calls these for every
        // record, across the crate boundary since the format has its own crate.
        impl Action {
            /// Every action, in documentation order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            #[inline]
            pub fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }

            /// `,"action":"NAME"`, the member as an event record carries
            /// it (one copy for the tracer's encoder).
            #[doc(hidden)]
            #[inline]
            pub fn json_member(self) -> &'static str {
                match self { $(Action::$variant => concat!(",\"action\":\"", $name, "\""),)* }
            }

            /// The broad family the action belongs to.
            #[inline]
            pub fn kind(self) -> ActionKind {
                match self { $(Action::$variant => ActionKind::$kind,)* }
            }
        }

        impl FromStr for Action {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s { $($name => Ok(Action::$variant),)* _ => Err(UnknownName(s.to_owned())) }
            }
        }
    };
}

actions! {
    ProcessStart = "PROCESS_START": Lifecycle,
    ProcessEnd = "PROCESS_END": Lifecycle,
    ScenarioStart = "SCENARIO_START": Lifecycle,
    ScenarioEnd = "SCENARIO_END": Lifecycle,
    StepStart = "STEP_START": Lifecycle,
    StepEnd = "STEP_END": Lifecycle,
    DbCleanup = "DB_CLEANUP": Cleanup,
    DbSelect = "DB_SELECT": Read,
    DbInsert = "DB_INSERT": Write,
    DbUpdate = "DB_UPDATE": Write,
    DbDelete = "DB_DELETE": Write,
    DbDdl = "DB_DDL": Schema,
    TxBegin = "TX_BEGIN": Transaction,
    TxCommit = "TX_COMMIT": Transaction,
    TxRollback = "TX_ROLLBACK": Transaction,
    SchemaCreate = "SCHEMA_CREATE": Schema,
    SchemaDrop = "SCHEMA_DROP": Schema,
    SchemaSet = "SCHEMA_SET": Schema,
    JwtReset = "JWT_RESET": Secret,
    JwtRotate = "JWT_ROTATE": Secret,
    JwtSet = "JWT_SET": Secret,
    ConfigReload = "CONFIG_RELOAD": Config,
    HttpRequest = "HTTP_REQUEST": Http,
    Custom = "CUSTOM": Custom,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Families of actions, used for colouring and for the analyzer's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// Process, scenario and step boundaries.
    Lifecycle,
    /// Removal of all rows of tables (or of a whole schema's tables).
    Cleanup,
    Read,
    Write,
    Transaction,
    /// Schema objects: DDL, schema create/drop/switch.
    Schema,
    /// In-memory secrets (JWT).
    Secret,
    Config,
    Http,
    Custom,
}

/// Reads the version of a header line without requiring the rest to be
/// valid, so readers can say "version 2 is not supported" instead of a
/// confusing field error.
pub fn sniff_header_version(line: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Sniff<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        format: Option<Cow<'a, str>>,
        version: Option<u64>,
    }
    let sniff: Sniff<'_> = serde_json::from_str(line).ok()?;
    (sniff.kind == "header" && sniff.format.as_deref() == Some(FORMAT_NAME))
        .then_some(sniff.version)
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_wall_time(s).unwrap()
    }

    #[test]
    fn wall_time_round_trips_with_microseconds() {
        let raw = "2026-04-11T10:10:53.032156Z";
        assert_eq!(wall_time_string(t(raw)), raw);
        assert_eq!(t("2026-04-11T12:10:53.032156+02:00"), t(raw));
        assert_eq!(t("2026-04-11T10:10:53Z"), t("2026-04-11T10:10:53.000000Z"));
        assert!(parse_wall_time("2026-04-11T10:10:53.032156").is_none());
        assert!(parse_wall_time("2026-13-11T10:10:53.032156Z").is_none());
    }

    #[test]
    fn every_action_name_round_trips() {
        for &a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert!("DB_EXPLODE".parse::<Action>().is_err());
    }

    #[test]
    fn event_round_trips_and_omits_absent_fields() {
        let event = Event {
            seq: 7,
            ts: t("2026-04-11T10:10:53.032156Z"),
            mono_ns: 42,
            tid: 1,
            scenario_id: Some(3),
            feature: Some("greet".into()),
            scenario: Some("Greet a user".into()),
            step: None,
            action: Action::DbInsert,
            name: None,
            resource: Some(Resource::tables(
                "sqlite:/tmp/x.db",
                "main",
                ["users".into()],
            )),
            details: Some("INSERT INTO users (name) VALUES (?)".into()),
            outcome: None,
            error: None,
            duration_us: Some(12),
            rows: Some(1),
            fields: vec![
                ("status".into(), "200".into()),
                ("method".into(), "GET".into()),
            ],
        };
        let mut line = Vec::new();
        Record::Event(event.clone()).write_line(&mut line);
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.ends_with('\n'));
        assert!(!text.contains("null"), "absent fields are omitted: {text}");
        assert!(
            text.contains(r#""fields":{"status":200,"method":"GET"}"#),
            "{text}"
        );
        assert_eq!(
            Record::parse(text.trim_end()).unwrap(),
            Record::Event(event)
        );
    }

    #[test]
    fn minimal_hand_written_lines_parse() {
        let header = r#"{"type":"header","format":"bdd-state-trace","version":1,"run_id":"r1","pid":9,"process":"auth","start":"2026-04-11T10:10:53.000000Z"}"#;
        assert!(matches!(Record::parse(header).unwrap(), Record::Header(h) if h.pid == 9));
        let event = r#"{"type":"event","seq":1,"ts":"2026-04-11T10:10:53.5Z","action":"SCENARIO_START","scenario_id":1,"feature":"auth","scenario":"Login","extra":[1,2]}"#;
        assert!(
            matches!(Record::parse(event).unwrap(), Record::Event(e) if e.action == Action::ScenarioStart)
        );
        let footer = r#"{"type":"footer","seq":2,"ts":"2026-04-11T10:10:54.000000Z","records":2,"dropped":0}"#;
        assert!(matches!(Record::parse(footer).unwrap(), Record::Footer(f) if f.records == 2));
    }

    #[test]
    fn header_version_is_sniffed_before_full_parsing() {
        let v2 = r#"{"type":"header","format":"bdd-state-trace","version":2,"something":"new"}"#;
        assert_eq!(sniff_header_version(v2), Some(2));
        assert_eq!(sniff_header_version(r#"{"type":"event"}"#), None);
        assert_eq!(sniff_header_version("garbage"), None);
    }

    #[test]
    fn resources_display_compactly() {
        let all = Resource::tables("sqlite:/d.db", "main", []);
        assert_eq!(all.to_string(), "shared:sqlite:/d.db/main/*");
        assert_eq!(
            Resource::process("jwt_secret").to_string(),
            "process:jwt_secret"
        );
    }
}
