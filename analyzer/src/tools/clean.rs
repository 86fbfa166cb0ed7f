//! `clean`: deletes old trace files, and only files the tracer made.
//!
//! `clean` runs in shared folders (the OS temp dir by default), so it is
//! deliberately narrow:
//! - a file counts only when its name *and* its first line say so: a v1
//!   file needs the `bdd-state-trace-*.jsonl` name and a valid v1 header, a
//!   Go file the exact `bdd-state-trace-YYYYMMDD-HHMMSS-PID.log` name and a
//!   `TIMESTAMP | …` column line or a legacy record as line 1;
//! - with no folder given it looks only at the top level of the tracer's
//!   default folder, never into other programs' subfolders; a folder named
//!   on the command line is searched like `report` does (five folder levels);
//! - a file another process holds an advisory lock on (the tracer locks its
//!   open file) is still being written and is skipped;
//! - symlinks and anything but regular files are never followed or deleted.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{BufReader, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::OFlags;
use state_tracer_format::{sniff_header_version, Record};

use crate::input::discover::{legacy_name, v1_name};
use crate::input::read::legacy::{parse_legacy_line, LegacyTz};
use crate::input::read::lines::{Line, LineReader};

/// Parses an age such as `7d`, `12h`, `30m`, `2w` ([`crate::duration`]).
pub fn parse_age(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

/// How far down a folder is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The folder's own files only (the default folder).
    TopLevel,
    /// The folder and its subfolders, as `report` searches (named folders).
    Search,
}

/// Levels below a named folder that are searched (as in `discover`).
const SEARCH_DEPTH: usize = crate::input::discover::MAX_DEPTH;

/// What `candidates` found.
#[derive(Debug, Default)]
pub struct Found {
    /// Old tracer files that may be deleted.
    pub old: Vec<PathBuf>,
    /// Old tracer files another process still holds open (locked).
    pub in_use: Vec<PathBuf>,
}

/// Is this a file the tracer made (by name and first line)? Reads at most
/// 64 KiB; never follows a symlink, never blocks on a FIFO.
pub fn made_by_tracer(path: &Path) -> bool {
    match open_regular(path) {
        Some(f) => content_matches(path, &f),
        None => false,
    }
}

/// Opens a regular file read-only without following a symlink or blocking
/// (a FIFO planted under a tracer name must not hang `clean`).
fn open_regular(path: &Path) -> Option<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .ok()?;
    f.metadata().ok()?.is_file().then_some(f)
}

fn content_matches(path: &Path, f: &File) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let legacy = legacy_name(name).is_some();
    if !legacy && !v1_name(name) {
        return false;
    }
    let mut r = LineReader::with_max(BufReader::new(f.take(1 << 16)), 1 << 16);
    let Ok(Some(Line::Text { bytes, .. })) = r.next_line() else {
        return false;
    };
    let Ok(line) = std::str::from_utf8(bytes) else {
        return false;
    };
    if legacy {
        line.starts_with("TIMESTAMP |") || parse_legacy_line(line, &LegacyTz::default()).is_ok()
    } else {
        sniff_header_version(line).is_some() && matches!(Record::parse(line), Ok(Record::Header(_)))
    }
}

/// Is another process holding a lock on this file? Takes a non-blocking
/// exclusive lock (std's `try_lock`: `flock`, the tracer's lock) on our own
/// descriptor and gives it back when `f` closes.
fn locked_by_other(f: &File) -> bool {
    matches!(f.try_lock(), Err(TryLockError::WouldBlock))
}

/// Old tracer files under the inputs (not following symlinks).
pub fn candidates(inputs: &[PathBuf], depth: Depth, older_than: Duration) -> Found {
    let cutoff = SystemTime::now()
        .checked_sub(older_than)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let max = match depth {
        Depth::TopLevel => 1,
        Depth::Search => SEARCH_DEPTH,
    };
    let mut found = Found::default();
    let mut stack: Vec<(PathBuf, usize)> = inputs.iter().map(|p| (p.clone(), 0)).collect();
    while let Some((p, level)) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if level < max {
                if let Ok(rd) = fs::read_dir(&p) {
                    stack.extend(rd.filter_map(|e| e.ok()).map(|e| (e.path(), level + 1)));
                }
            }
            continue;
        }
        if !meta.is_file() || !meta.modified().is_ok_and(|m| m < cutoff) {
            continue;
        }
        let Some(f) = open_regular(&p) else {
            continue;
        };
        if !content_matches(&p, &f) {
            continue;
        }
        if locked_by_other(&f) {
            found.in_use.push(p);
        } else {
            found.old.push(p);
        }
    }
    found.old.sort();
    found.in_use.sort();
    found
}

/// Deletes one file `candidates` returned, checking again under our own
/// lock that it is the same regular, unlocked tracer file (it may have been
/// replaced or reopened since).
pub fn delete(path: &Path) -> std::io::Result<bool> {
    let Some(f) = open_regular(path) else {
        return Ok(false);
    };
    if !content_matches(path, &f) || locked_by_other(&f) {
        return Ok(false);
    }
    let (opened, now) = (f.metadata()?, fs::symlink_metadata(path)?);
    if (opened.dev(), opened.ino()) != (now.dev(), now.ino()) {
        return Ok(false);
    }
    fs::remove_file(path)?;
    Ok(true)
}

/// `7d`, `12h`, `30m` or seconds, as `parse_age` reads them.
pub fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= secs && s / secs * secs == s {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse() {
        assert_eq!(parse_age("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(parse_age("2w").unwrap(), Duration::from_secs(14 * 86_400));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("7").is_err(), "a bare number is no longer days");
    }
}
