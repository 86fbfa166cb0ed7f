//! Naming the database behind sqlx statements, and marking the statements
//! that failed. (This crate does not depend on sqlx: these work on any
//! future that returns a `Result`.)
//!
//! sqlx reports each statement as a `tracing` event (target `sqlx::query`)
//! with its text and row counts, but not which database it ran on, and not
//! whether it failed: the event is the same for a statement that returned
//! an error. So:
//!
//! - [`name_pool`] names a pool's database in one call, as the pool is
//!   connected. With one named pool per process that is all: every
//!   statement gets its identity. (Without it, `DATABASE_URL`, or for
//!   SQLite the database file the process has open, is used; see
//!   `docs/format.md`.)
//! - [`Database::run`] runs one query future under the pool's identity
//!   (telling several pools of one process apart) and records an `error`
//!   member on its statements if it returns `Err`. [`run`] does only the
//!   latter.
//!
//! ```no_run
//! # async fn demo(url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! # let pool = (); let query = async { Ok::<u64, std::io::Error>(1) };
//! let db = state_tracer::sqlx::name_pool(url); // e.g. beside SqlitePool::connect(url)
//! // let pool = sqlx::SqlitePool::connect(url).await?;
//! // db.run(sqlx::query("DELETE FROM users").execute(&pool)).await?;
//! db.run(query).await?;
//! # Ok(()) }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tracing::field::Empty;
use tracing::Instrument;

use crate::format::TARGET;

/// Name of the span [`Database::run`] opens; the layer keeps the
/// statements recorded inside it until it closes.
pub(crate) const RUN_SPAN: &str = "state_tracer.sql";

/// A named database: its identity (`sqlite:/abs/path.db`,
/// `postgres://host:5432/db`, or none for an empty URL).
#[derive(Debug, Clone)]
pub struct Database {
    id: Option<Arc<str>>,
}

/// Names the database at `url` (credentials are dropped; see
/// [`crate::set_database`] for the normalisation). The first pool named is
/// the process default; naming a second, different one leaves statements
/// that do not run under [`Database::run`] with no identity, as they could
/// be on either.
pub fn name_pool(url: &str) -> Database {
    let id = crate::db_url::db_identity(url).map(Arc::<str>::from);
    if let Some(id) = &id {
        crate::db_identity::name(id);
    }
    Database { id }
}

impl Database {
    /// The identity recorded as `db`.
    pub fn identity(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Runs `fut` (an sqlx query's `execute`/`fetch_*` future, a
    /// transaction's body, ...) so that its statements are recorded with
    /// this database's identity, and with `error` if it returns `Err`.
    /// Statements are written when `fut` has finished.
    pub fn run<T, E: Display, F>(&self, fut: F) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        run_in(self.id.clone(), fut)
    }
}

/// Runs `fut` so that its statements carry an `error` member if it returns
/// `Err` (their database identity is the process's; see [`name_pool`]).
pub fn run<T, E: Display, F>(fut: F) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
{
    run_in(None, fut)
}

async fn run_in<T, E: Display, F>(db: Option<Arc<str>>, fut: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let span = tracing::info_span!(target: TARGET, "state_tracer.sql", db = db.as_deref().unwrap_or(""), error = Empty);
    let result = fut.instrument(span.clone()).await;
    if let Err(e) = &result {
        let text = crate::secret::scrub(&e.to_string()).into_owned();
        span.record("error", text.as_str());
    }
    result
}

/// What the layer keeps on a [`RUN_SPAN`]: the pool's identity, and the
/// statement records written inside it, held until it closes so that a
/// failure can still be added to them.
#[derive(Debug)]
pub(crate) struct RunScope {
    pub db: Option<Arc<str>>,
    pub error: Mutex<Option<String>>,
    /// Encoded records (with the writer's headroom), and for each whether
    /// it belongs to the last statement event seen (the one that failed,
    /// if the future failed).
    pub pending: Mutex<Vec<(Vec<u8>, u64)>>,
    /// Counts the statement events seen in the span.
    pub events: std::sync::atomic::AtomicU64,
}

impl RunScope {
    /// The future failed with `error` (already scrubbed).
    pub(crate) fn failed(&self, error: Option<&str>) {
        if let (Some(e), Ok(mut slot)) = (error, self.error.lock()) {
            *slot = Some(e.to_owned());
        }
    }

    /// Numbers a statement event seen in the span.
    pub(crate) fn next_event(&self) -> u64 {
        self.events
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps a closed record of statement event `event_no` until the end.
    pub(crate) fn hold(&self, body: &[u8], event_no: u64) {
        if let Ok(mut p) = self.pending.lock() {
            p.push((body.to_vec(), event_no));
        }
    }

    pub(crate) fn new(db: &str) -> Self {
        LIVE_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        RunScope {
            db: (!db.is_empty()).then(|| Arc::from(db)),
            error: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            events: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The records to write when the span closes: those of the last
    /// statement event get `,"error":...` (and lose `rows`, which sqlx
    /// counts even for a failed statement) if the future failed.
    pub(crate) fn finish(&self, mut write: impl FnMut(&mut [u8])) {
        let error = self.error.lock().ok().and_then(|mut e| e.take());
        let pending = self
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        let last = pending.last().map(|(_, n)| *n);
        for (mut body, n) in pending {
            if let (Some(e), true) = (&error, Some(n) == last) {
                mark_failed(&mut body, e);
            }
            write(&mut body);
        }
    }
}

/// How many [`RunScope`]s exist: while none does, a statement event need
/// not look for one among its spans.
static LIVE_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether any [`Database::run`] / [`run`] is under way in the process.
#[inline]
pub(crate) fn any_run() -> bool {
    LIVE_RUNS.load(std::sync::atomic::Ordering::Relaxed) != 0
}

impl Drop for RunScope {
    fn drop(&mut self) {
        LIVE_RUNS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Adds `"error"` to an encoded record (ending `}\n`) and drops its `rows`.
fn mark_failed(body: &mut Vec<u8>, error: &str) {
    if !body.ends_with(b"}\n") {
        return;
    }
    body.truncate(body.len() - 2);
    if let Some(at) = find(body, b",\"rows\":") {
        let end = body[at + 8..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(body.len(), |p| at + 8 + p);
        body.drain(at..end);
    }
    crate::json::field_str(body, crate::json::key!("error"), error);
    body.extend_from_slice(b"}\n");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}
