//! Helpers shared by the integration tests: reading trace files back and
//! running this test binary again as a child process with its own
//! environment (env vars and global subscribers are process-wide).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use state_tracer::format::{Event, Footer, Header, Record};

/// A parsed trace file.
#[derive(Debug)]
pub struct Trace {
    pub path: PathBuf,
    pub header: Header<'static>,
    pub events: Vec<Event<'static>>,
    pub footer: Option<Footer>,
    pub raw: String,
}

/// Parses a whole file, asserting every line is a valid record in the
/// documented order (header first, footer last if present).
pub fn read_trace(path: &Path) -> Trace {
    let text = std::fs::read_to_string(path).expect("read trace file");
    // Leaked so records can borrow from it for the rest of the test.
    let raw: &'static str = Box::leak(text.clone().into_boxed_str());
    let mut header = None;
    let mut events = Vec::new();
    let mut footer = None;
    for (n, line) in raw.lines().enumerate() {
        let rec = Record::parse(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}: {line}", path.display(), n + 1));
        assert!(footer.is_none(), "record after the footer: {line}");
        match rec {
            Record::Header(h) => {
                assert_eq!(n, 0, "header must be the first line");
                header = Some(h);
            }
            Record::Event(e) => events.push(e),
            Record::Footer(f) => footer = Some(f),
        }
    }
    Trace {
        path: path.to_owned(),
        header: header.expect("file has a header"),
        events,
        footer,
        raw: text,
    }
}

/// The only trace file in `dir`.
pub fn only_trace(dir: &Path) -> Trace {
    let files = testkit::trace_files(dir);
    assert_eq!(
        files.len(),
        1,
        "expected one trace file in {}: {files:?}",
        dir.display()
    );
    read_trace(&files[0])
}

impl Trace {
    pub fn actions(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.action.as_str()).collect()
    }

    pub fn of_scenario(&self, name: &str) -> Vec<&Event<'static>> {
        self.events
            .iter()
            .filter(|e| e.scenario.as_deref() == Some(name))
            .collect()
    }

    /// Sequence numbers are 0 (header), 1, 2, ... with no gap.
    pub fn assert_gapless(&self) {
        for (i, e) in self.events.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1, "gap before {e:?}");
        }
        if let Some(f) = &self.footer {
            assert_eq!(f.seq, self.events.len() as u64 + 1);
            assert_eq!(f.records, self.events.len() as u64 + 1);
            assert_eq!(f.dropped, 0);
        }
    }
}

/// Name of the environment variable that tells a re-executed test binary
/// which child role to play.
pub const CHILD_ENV: &str = "STATE_TRACER_TEST_CHILD";

/// The role this process plays, if it is a child.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// A command that re-runs this test binary's test `test_name` as a child
/// playing `role`, with every BDD_TRACE_* variable cleared.
pub fn spawn_child(test_name: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        test_name,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(CHILD_ENV, role);
    for (k, _) in std::env::vars() {
        if k.starts_with("BDD_TRACE_") || k == "NEXTEST_RUN_ID" {
            cmd.env_remove(k);
        }
    }
    cmd
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs, once per test binary, a global subscriber made of an
/// INFO-filtered fmt layer (writing nowhere) and the state layer writing
/// into a fresh temp folder, and returns that folder. The INFO layer proves
/// sqlx's DEBUG statements still reach the state layer.
pub fn global_trace_dir() -> &'static Path {
    use std::sync::OnceLock;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    static DIR: OnceLock<(tempfile::TempDir, state_tracer::TraceGuard)> = OnceLock::new();
    let (dir, _guard) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (layer, guard) = state_tracer::StateLayer::builder()
            .dir(dir.path())
            .run_id("global")
            .build()
            .unwrap();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        let subscriber = tracing_subscriber::registry().with(fmt).with(layer);
        tracing::subscriber::set_global_default(subscriber).unwrap();
        (dir, guard)
    });
    dir.path()
}

/// Every file of the global trace folder concatenated (for grepping).
pub fn all_trace_text(dir: &Path) -> String {
    testkit::trace_files(dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}
