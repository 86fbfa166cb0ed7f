//! Which database a statement ran on, as the trace records it (`db`).
//!
//! sqlx's statement events say nothing about the connection, so the
//! identity comes from, in order:
//!
//! 1. the pool the statement ran under ([`crate::sqlx::Database::run`]);
//!    then the `#[sqlx::test]` database of the statement's thread
//!    ([`crate::sqlx_test`], PostgreSQL);
//! 2. [`crate::set_database`] (the program's own word for the process);
//! 3. the one pool named with [`crate::sqlx::name_pool`] (two different
//!    ones make the process default ambiguous: unknown);
//! 4. `DATABASE_URL`, read once;
//! 5. for statements on an sqlx SQLite connection (they run on its worker
//!    thread, `sqlx-sqlite-worker-N`), the SQLite files the process has
//!    open: exactly one means that file; none means an in-memory database;
//!    several cannot be told apart (unknown).
//!
//! A source of a different kind than the connection (a `postgres://`
//! `DATABASE_URL` for a statement on an SQLite worker) is skipped. With no
//! source the identity is unknown and the record carries no `db`.
//!
//! The answer changes only when (1) or (2)-(3) do, so each thread keeps
//! the last one with the [`GENERATION`] it was computed at: a statement
//! then pays one atomic load instead of two locks and a thread-name check.

use std::cell::{Cell, OnceCell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use crate::db_url::{db_identity, is_sqlite, SQLITE_MEMORY};

/// Set by [`crate::set_database`].
static EXPLICIT: RwLock<Option<Arc<str>>> = RwLock::new(None);
/// Set by [`crate::sqlx::name_pool`].
static NAMED: Mutex<Named> = Mutex::new(Named::None);
/// `DATABASE_URL`'s identity, read on first use.
static FROM_ENV: OnceLock<Option<Arc<str>>> = OnceLock::new();
/// Bumped after every change to [`EXPLICIT`] or [`NAMED`]: a thread's
/// [`RESOLVED`] from an older generation is stale.
static GENERATION: AtomicU64 = AtomicU64::new(1);

enum Named {
    None,
    One(Arc<str>),
    /// Two different pools were named: no process default.
    Ambiguous,
}

thread_local! {
    /// What [`detect_sqlite`] found for this SQLite worker thread's
    /// connection (one connection per worker, for its lifetime).
    static DETECTED: OnceCell<Option<Arc<str>>> = const { OnceCell::new() };
    /// The process default as last resolved on this thread, and the
    /// [`GENERATION`] it was resolved at (0: never).
    static RESOLVED: RefCell<(u64, Option<Arc<str>>)> = const { RefCell::new((0, None)) };
    /// Whether this thread is an sqlx SQLite worker (its name never changes).
    static SQLITE_WORKER: Cell<Option<bool>> = const { Cell::new(None) };
}

/// [`crate::set_database`]: the identity for the whole process.
pub(crate) fn set_explicit(url: &str) {
    let id = db_identity(url).map(Arc::from);
    if let Ok(mut g) = EXPLICIT.write() {
        *g = id;
    }
    GENERATION.fetch_add(1, Ordering::Release);
}

/// [`crate::sqlx::name_pool`]: a pool's identity, and the process default
/// while it is the only one named.
pub(crate) fn name(id: &Arc<str>) {
    if let Ok(mut g) = NAMED.lock() {
        let prev = std::mem::replace(&mut *g, Named::None);
        *g = prev.and(id);
    }
    GENERATION.fetch_add(1, Ordering::Release);
}

impl Named {
    /// The state after naming the pool `id` too.
    fn and(self, id: &Arc<str>) -> Named {
        match self {
            Named::None => Named::One(id.clone()),
            Named::One(prev) if prev == *id => Named::One(prev),
            _ => Named::Ambiguous,
        }
    }
}

/// The identity of a statement or helper event with no `db` of its own;
/// `pool` is the identity of the pool it ran under, if any.
pub(crate) fn resolve(pool: Option<&Arc<str>>) -> Option<Arc<str>> {
    if let Some(id) = pool {
        return Some(id.clone());
    }
    // A `#[sqlx::test]` database this thread works on (PostgreSQL).
    if let Some(id) = crate::sqlx_test::thread_db() {
        return Some(id);
    }
    // Loaded before resolving: a change racing with it bumps the
    // generation again, so the next statement resolves afresh.
    let generation = GENERATION.load(Ordering::Acquire);
    let cached = RESOLVED.try_with(|r| {
        let r = r.try_borrow().ok()?;
        (r.0 == generation).then(|| r.1.clone())
    });
    if let Ok(Some(id)) = cached {
        return id;
    }
    let id = resolve_default();
    let _ = RESOLVED.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            *r = (generation, id.clone());
        }
    });
    id
}

/// The process's database as the program, its pools or `DATABASE_URL`
/// name it (no pool, no thread's own), resolved afresh.
pub(crate) fn process_default() -> Option<Arc<str>> {
    resolve_default()
}

/// [`resolve`] with no pool, from the sources themselves.
fn resolve_default() -> Option<Arc<str>> {
    let sqlite_worker = on_sqlite_worker();
    let fits = |id: &Arc<str>| !sqlite_worker || is_sqlite(id);
    let explicit = EXPLICIT.read().ok().and_then(|g| g.clone());
    if let Some(id) = explicit.filter(fits) {
        return Some(id);
    }
    let named = NAMED.lock().ok().and_then(|g| match &*g {
        Named::One(id) => Some(id.clone()),
        _ => None,
    });
    if let Some(id) = named.filter(fits) {
        return Some(id);
    }
    let env = FROM_ENV.get_or_init(|| {
        std::env::var("DATABASE_URL")
            .ok()
            .and_then(|u| db_identity(&u))
            .map(Arc::from)
    });
    if let Some(id) = env.clone().filter(fits) {
        return Some(id);
    }
    if sqlite_worker {
        return DETECTED.with(|d| d.get_or_init(|| detect_sqlite().map(Arc::from)).clone());
    }
    None
}

/// Whether this thread is an sqlx SQLite connection's worker (sqlx's
/// default thread name).
pub(crate) fn on_sqlite_worker() -> bool {
    let name_says = || {
        std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("sqlx-sqlite-worker"))
    };
    SQLITE_WORKER
        .try_with(|w| match w.get() {
            Some(known) => known,
            None => {
                let known = name_says();
                w.set(Some(known));
                known
            }
        })
        .unwrap_or_else(|_| name_says())
}

/// The SQLite database of this process, from its open files: one file, its
/// identity; none, in-memory; several, unknown. Linux only (`/proc`).
fn detect_sqlite() -> Option<String> {
    let fds = std::fs::read_dir("/proc/self/fd").ok()?;
    let mut found: Vec<PathBuf> = Vec::new();
    for fd in fds.flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if target.is_absolute() && is_sqlite_file(&target) && !found.contains(&target) {
            found.push(target);
        }
    }
    match found.as_slice() {
        [] => Some(SQLITE_MEMORY.to_owned()),
        [one] => Some(format!("sqlite:{}", one.display())),
        _ => None,
    }
}

/// An SQLite main database file: its header, or (not written yet) an
/// empty file with a database extension. Journals and WAL files are not.
fn is_sqlite_file(p: &Path) -> bool {
    use std::io::Read;
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if ["-wal", "-shm", "-journal"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        return false;
    }
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    if meta.len() == 0 {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        return matches!(ext, "db" | "sqlite" | "sqlite3" | "db3");
    }
    let mut head = [0u8; 16];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_named_pool_is_the_default_two_different_ones_are_none() {
        let a: Arc<str> = Arc::from("sqlite:/a.db");
        let b: Arc<str> = Arc::from("sqlite:/b.db");
        assert!(matches!(Named::None.and(&a), Named::One(x) if x == a));
        assert!(matches!(Named::None.and(&a).and(&a), Named::One(x) if x == a));
        assert!(matches!(Named::None.and(&a).and(&b), Named::Ambiguous));
        assert!(matches!(
            Named::None.and(&a).and(&b).and(&a),
            Named::Ambiguous
        ));
    }

    #[test]
    fn sqlite_files_are_told_by_their_header_or_empty_db_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut header = b"SQLite format 3\0".to_vec();
        header.resize(100, 0);
        std::fs::write(&db, &header).unwrap();
        assert!(is_sqlite_file(&db));
        let wal = dir.path().join("a.db-wal");
        std::fs::write(&wal, &header).unwrap();
        assert!(!is_sqlite_file(&wal));
        let fresh = dir.path().join("fresh.sqlite");
        std::fs::write(&fresh, b"").unwrap();
        assert!(is_sqlite_file(&fresh));
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, b"SQLite format 2, not a database").unwrap();
        assert!(!is_sqlite_file(&text));
        assert!(!is_sqlite_file(&dir.path().join("empty.log")));
    }
}
