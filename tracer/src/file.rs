//! Creating a trace file safely in a folder other people may write to.
//!
//! Trace folders are often the shared temp dir, so the file is created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC` and mode `0600`: an existing file or
//! a planted symlink makes creation fail (and we pick another random name)
//! instead of writing through it, and nothing else in the folder is touched.
//!
//! The new file is held under an exclusive advisory lock (`flock`) for as
//! long as the process keeps it open, so `trace-analyzer clean` can tell a
//! file still being written from a finished one and leave it alone. The lock
//! is taken once at creation; writes never touch it.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// `bdd-state-trace-<run>-<YYYYMMDDTHHMMSS.ffffffZ>-<pid>-<8 hex>.jsonl`
/// (the format's naming rule).
pub use crate::format::file_name::file_name;

/// Creates the folder (mode `0700`, parents too) if it is missing; an
/// existing folder is used as it is.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create trace folder {}: {e}", dir.display()),
            )
        })
}

/// Creates a new trace file in `dir`, never following a symlink and never
/// reusing an existing name.
pub fn create(dir: &Path, run_id: &str, start: DateTime<Utc>) -> io::Result<(File, PathBuf)> {
    create_named(dir, run_id, start, random_u32)
}

/// How many names [`create`] tries before giving up.
const NAME_ATTEMPTS: usize = 8;

/// [`create`], with the random part of each name tried from `random`.
fn create_named(
    dir: &Path,
    run_id: &str,
    start: DateTime<Utc>,
    mut random: impl FnMut() -> u32,
) -> io::Result<(File, PathBuf)> {
    ensure_dir(dir)?;
    let pid = std::process::id();
    let mut last = None;
    for _ in 0..NAME_ATTEMPTS {
        let path = dir.join(file_name(run_id, start, pid, random()));
        match create_new(&path) {
            Ok(f) => return Ok((f, path)),
            // Name taken (file or symlink): try another random part.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((path, e)),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create trace file {}: {e}", path.display()),
                ))
            }
        }
    }
    Err(match last {
        Some((path, e)) => io::Error::new(
            e.kind(),
            format!(
                "cannot create trace file in {}: {NAME_ATTEMPTS} names were taken, the last {}: {e}",
                dir.display(),
                path.display()
            ),
        ),
        None => io::Error::other("no free trace file name"),
    })
}

/// Creates exactly `path`, `0600`, failing with `AlreadyExists` if anything
/// (a file, a symlink, even a dangling one) is already there, and locks it
/// (see [`lock_exclusive`]).
pub fn create_new(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        // std sets O_CLOEXEC itself but has no O_NOFOLLOW: libc names it.
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    lock_exclusive(&file);
    Ok(file)
}

/// Takes an exclusive `flock` on a file we just created; it lasts until the
/// last descriptor of this open file closes (process exit included). Best
/// effort: a file system without `flock` support still gets its trace, it is
/// only not protected from `clean`.
fn lock_exclusive(file: &File) {
    // std's `try_lock` is `flock(LOCK_EX | LOCK_NB)` on Unix, the lock
    // `clean` tests. Non-blocking: nobody else can hold a lock on a file
    // we just created.
    let _ = file.try_lock();
}

/// 32 random bits from the kernel (the `getrandom` crate: std exposes no
/// random source); falls back to time and pid mixing if that fails.
pub fn random_u32() -> u32 {
    if let Ok(r) = getrandom::u32() {
        return r;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let x = nanos ^ ((std::process::id() as u64) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    (x.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another open of the same file (what `clean` does) cannot lock it
    /// while the tracer's descriptor is open, and can once it is closed.
    #[test]
    fn a_created_file_stays_locked_while_open() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = create(dir.path(), "r", Utc::now()).unwrap();
        let try_lock = || File::open(&path).unwrap().try_lock().is_ok();
        assert!(!try_lock(), "the open trace file must be locked");
        drop(file);
        assert!(try_lock(), "a closed trace file must be unlocked");
    }

    #[test]
    fn when_every_name_is_taken_the_error_names_the_folder_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let start = Utc::now();
        let taken = file_name("r", start, std::process::id(), 7);
        std::fs::write(dir.path().join(&taken), "").unwrap();
        let err = create_named(dir.path(), "r", start, || 7).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let text = err.to_string();
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(text.contains(&taken), "{text}");
        assert!(text.contains("8 names were taken"), "{text}");
    }
}
