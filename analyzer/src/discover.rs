//! Finds trace files in the inputs, recognises their format, drops
//! duplicates and groups them into runs.
//!
//! Users point the analyzer at folders full of unrelated files (the OS temp
//! dir by default), so a file counts as a trace only by its name
//! (`bdd-state-trace-…`) or by a v1 header on its first line. Each problem
//! becomes a [`Warning`]; nothing here fails the whole analysis.

use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::Hasher;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use state_tracer::format::{
    sniff_header_version, Record, Rerun, FILE_EXTENSION, FILE_PREFIX, FORMAT_VERSION,
};

use crate::model::Warning;
use crate::read::legacy::{parse_legacy_line, LegacyTz};
use crate::read::lines::{Line, LineReader};
use crate::record::Micros;

/// Which reader a file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines, format v1 (header, events, footer).
    V1,
    /// The Go tracer's `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS` lines.
    Legacy,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::V1 => "v1",
            Format::Legacy => "legacy",
        }
    }
}

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
    pub size: u64,
}

impl SourceFile {
    /// The path as shown in warnings and reports.
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}

/// The files of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: String,
    pub files: Vec<SourceFile>,
}

impl Run {
    /// Latest start among its files: runs are "recent" by this.
    pub fn latest_start(&self) -> Option<Micros> {
        self.files.iter().filter_map(|f| f.start).max()
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The outcome of scanning the inputs.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Oldest first; the last one is the most recent.
    pub runs: Vec<Run>,
    pub warnings: Vec<Warning>,
    /// Input paths scanned (for messages).
    pub scanned: Vec<PathBuf>,
}

/// How deep folders given as inputs are searched (`run` writes
/// `./bdd-traces/<run id>/`, so one level of run folders must be found).
const MAX_DEPTH: usize = 3;

/// The default input: `$BDD_TRACE_DIR`, else the OS temp dir.
pub fn default_inputs() -> Vec<PathBuf> {
    match std::env::var_os("BDD_TRACE_DIR") {
        Some(d) if !d.is_empty() => vec![PathBuf::from(d)],
        _ => vec![std::env::temp_dir()],
    }
}

/// Is this a legacy Go trace file name (`bdd-state-trace-YYYYMMDD-HHMMSS-PID.log`)?
/// Returns the PID and the naive time in the name.
pub fn legacy_name(name: &str) -> Option<(u32, NaiveDateTime)> {
    let rest = name.strip_prefix(FILE_PREFIX)?.strip_suffix(".log")?;
    let b = rest.as_bytes();
    if b.len() < 17 || b[8] != b'-' || b[15] != b'-' {
        return None;
    }
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if !digits(&b[..8]) || !digits(&b[9..15]) || !digits(&b[16..]) {
        return None;
    }
    let pid = rest[16..].parse().ok()?;
    let when = NaiveDateTime::parse_from_str(&rest[..15], "%Y%m%d-%H%M%S").ok()?;
    Some((pid, when))
}

/// Is this a v1 trace file name (`bdd-state-trace-…​.jsonl`)?
pub fn v1_name(name: &str) -> bool {
    name.starts_with(FILE_PREFIX) && name.ends_with(&format!(".{FILE_EXTENSION}"))
}

/// Scans files and folders. `legacy_tz` is used to order legacy runs.
pub fn discover(inputs: &[PathBuf], legacy_tz: &LegacyTz) -> Discovery {
    let mut d = Discovery {
        scanned: inputs.to_vec(),
        ..Default::default()
    };
    let mut candidates: Vec<(PathBuf, bool)> = Vec::new();
    for input in inputs {
        match fs::metadata(input) {
            Err(e) => d.warnings.push(warn(input, 0, format!("cannot read: {e}"))),
            Ok(m) if m.is_dir() => walk(input, 0, &mut candidates, &mut d.warnings),
            Ok(_) => candidates.push((input.clone(), true)),
        }
    }
    let mut files = Vec::new();
    for (path, explicit) in candidates {
        if let Some(f) = recognise(&path, explicit, legacy_tz, &mut d.warnings) {
            files.push(f);
        }
    }
    let files = dedupe(files, &mut d.warnings);
    let mut runs: HashMap<String, Vec<SourceFile>> = HashMap::new();
    for f in files {
        runs.entry(f.run_id.clone()).or_default().push(f);
    }
    let mut runs: Vec<Run> = runs
        .into_iter()
        .map(|(id, mut files)| {
            files.sort_by(|a, b| (a.start, &a.path).cmp(&(b.start, &b.path)));
            Run { id, files }
        })
        .collect();
    runs.sort_by(|a, b| (a.latest_start(), &a.id).cmp(&(b.latest_start(), &b.id)));
    d.runs = runs;
    d
}

fn warn(path: &Path, line: u64, message: String) -> Warning {
    Warning {
        file: path.display().to_string(),
        line,
        message,
    }
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, bool)>, warnings: &mut Vec<Warning>) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            warnings.push(warn(dir, 0, format!("cannot list folder: {e}")));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        // Never follow symlinks out of the folder: the temp dir is shared.
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(&path, depth + 1, out, warnings);
            }
        } else if meta.is_file() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with(FILE_PREFIX) || name.ends_with(".jsonl") {
                out.push((path, false));
            }
        }
    }
}

/// Reads up to 64 KiB of the first line.
fn first_line(path: &Path) -> std::io::Result<(Vec<u8>, bool)> {
    let f = File::open(path)?;
    let mut r = LineReader::with_max(BufReader::with_capacity(8192, f.take(1 << 16)), 1 << 16);
    Ok(match r.next_line()? {
        Some(Line::Text { bytes, complete }) => (bytes.to_vec(), complete),
        _ => (Vec::new(), false),
    })
}

fn recognise(
    path: &Path,
    explicit: bool,
    legacy_tz: &LegacyTz,
    warnings: &mut Vec<Warning>,
) -> Option<SourceFile> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let (line, _) = match first_line(path) {
        Ok(l) => l,
        Err(e) => {
            warnings.push(warn(path, 0, format!("cannot read: {e}")));
            return None;
        }
    };
    let text = std::str::from_utf8(&line).ok();
    if let Some((pid, when)) = legacy_name(name) {
        if line.is_empty() && size == 0 {
            warnings.push(warn(path, 0, "empty trace file, skipped".into()));
            return None;
        }
        let looks_legacy = text
            .is_some_and(|t| t.starts_with("TIMESTAMP") || parse_legacy_line(t, legacy_tz).is_ok());
        if !looks_legacy {
            warnings.push(warn(
                path,
                1,
                "named like a Go trace file but line 1 is not `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS`; file skipped".into(),
            ));
            return None;
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        return Some(SourceFile {
            path: path.to_path_buf(),
            format: Format::Legacy,
            run_id: format!("legacy:{}", dir.display()),
            pid,
            label: format!("pid {pid}"),
            start: legacy_tz.to_utc(when).map(|t| t.timestamp_micros()),
            argv: Vec::new(),
            rerun: None,
            cwd: None,
            size,
        });
    }
    let named = v1_name(name);
    let Some(text) = text else {
        if named || explicit {
            warnings.push(warn(
                path,
                1,
                "not a trace file: line 1 is not UTF-8 text (binary data?); file skipped".into(),
            ));
        }
        return None;
    };
    match sniff_header_version(text) {
        Some(v) if v != u64::from(FORMAT_VERSION) => {
            warnings.push(warn(
                path,
                1,
                format!("trace format version {v} is not supported (this trace-analyzer reads version {FORMAT_VERSION}); file skipped — upgrade trace-analyzer"),
            ));
            return None;
        }
        Some(_) => {}
        None => {
            if named || explicit {
                let what = if line.is_empty() {
                    "the file is empty"
                } else {
                    "line 1 is not a bdd-state-trace header"
                };
                warnings.push(warn(
                    path,
                    1,
                    format!("not a trace file: {what}; file skipped"),
                ));
            }
            return None;
        }
    }
    match Record::parse(text) {
        Ok(Record::Header(h)) => Some(SourceFile {
            path: path.to_path_buf(),
            format: Format::V1,
            run_id: h.run_id.into_owned(),
            pid: h.pid,
            label: h.process.into_owned(),
            start: Some(h.start.timestamp_micros()),
            argv: h.argv.into_iter().map(|a| a.into_owned()).collect(),
            rerun: h.rerun.map(Rerun::into_owned),
            cwd: h.cwd.map(|c| c.into_owned()),
            size,
        }),
        Ok(_) => None,
        Err(e) => {
            warnings.push(warn(path, 1, format!("invalid header: {e}; file skipped")));
            None
        }
    }
}

/// Drops the same file seen twice (same inode, or a copy: same bytes),
/// keeping the first.
///
/// Linear in the number of files: a copy carries the same identity (run,
/// pid, start, size), so contents are compared only among files that share
/// one, never pairwise across the run (one-test trace files all have nearly
/// the same size, and a nextest run has thousands of them).
fn dedupe(files: Vec<SourceFile>, warnings: &mut Vec<Warning>) -> Vec<SourceFile> {
    let mut by_inode: HashMap<(u64, u64), usize> = HashMap::new();
    let mut by_identity: HashMap<Identity, Vec<usize>> = HashMap::new();
    let mut keep: Vec<SourceFile> = Vec::new();
    for f in files {
        let ident = fs::metadata(&f.path).ok().map(|m| (m.dev(), m.ino()));
        if ident.as_ref().is_some_and(|id| by_inode.contains_key(id)) {
            // The same file given twice (e.g. a folder and a file in it): silent.
            continue;
        }
        let key = identity(&f);
        let dup = by_identity.get(&key).and_then(|same| {
            same.iter()
                .copied()
                .find(|&i| same_content(&keep[i].path, &f.path))
        });
        if let Some(i) = dup {
            warnings.push(warn(
                &f.path,
                0,
                format!(
                    "duplicate of {} (identical content); skipped",
                    keep[i].display()
                ),
            ));
            continue;
        }
        if let Some(id) = ident {
            by_inode.insert(id, keep.len());
        }
        by_identity.entry(key).or_default().push(keep.len());
        keep.push(f);
    }
    keep
}

/// What a copy of a trace file shares with the original: run, pid, start
/// and size. A legacy file's run is its folder, so a copy in another folder
/// is matched by pid, the time in its name and size alone.
type Identity = (Option<String>, u32, Option<Micros>, u64);

fn identity(f: &SourceFile) -> Identity {
    let run = (f.format == Format::V1).then(|| f.run_id.clone());
    (run, f.pid, f.start, f.size)
}

fn same_content(a: &Path, b: &Path) -> bool {
    fn digest(p: &Path, limit: u64) -> Option<u64> {
        let mut f = File::open(p).ok()?.take(limit);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).ok()?;
            if n == 0 {
                return Some(h.finish());
            }
            h.write(&buf[..n]);
        }
    }
    // Cheap prefix check first: equal-size traces of different processes
    // differ within their first line (pid, random file id).
    digest(a, 1 << 16).is_some()
        && digest(a, 1 << 16) == digest(b, 1 << 16)
        && digest(a, u64::MAX) == digest(b, u64::MAX)
}

/// Reads the last complete line of a file cheaply (for `runs`' time range).
pub fn last_line(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let from = len.saturating_sub(1 << 16);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut tail = Vec::new();
    BufReader::new(f).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned)
}

/// Reads the first line of an arbitrary file as text (for `clean`).
pub fn header_is_valid(path: &Path) -> bool {
    match first_line(path) {
        Ok((line, _)) => std::str::from_utf8(&line)
            .ok()
            .and_then(sniff_header_version)
            .is_some(),
        Err(_) => false,
    }
}

/// Lines of a small text file (test helper and `clean`).
pub fn read_lines(path: &Path) -> Vec<String> {
    File::open(path)
        .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_carry_pid_and_time() {
        let (pid, when) = legacy_name("bdd-state-trace-20260411-101053-12345.log").unwrap();
        assert_eq!(pid, 12345);
        assert_eq!(when.to_string(), "2026-04-11 10:10:53");
        assert!(legacy_name("bdd-state-trace-20260411-101053-x.log").is_none());
        assert!(
            legacy_name("bdd-state-trace-r1-20260411T101053.000000Z-1-abcd1234.jsonl").is_none()
        );
        assert!(v1_name(
            "bdd-state-trace-r1-20260411T101053.000000Z-1-abcd1234.jsonl"
        ));
    }
}
