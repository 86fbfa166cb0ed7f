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
use state_tracer_format::env::ENV_DIR;
use state_tracer_format::file_name::parse_file_name;
use state_tracer_format::{
    file_name_safe, sniff_header_version, Record, Rerun, FILE_PREFIX, FORMAT_VERSION,
};

use crate::input::read::legacy::{parse_legacy_line, LegacyTz};
use crate::input::read::lines::{Line, LineReader};
use crate::input::record::Micros;
use crate::model::Warning;

pub use crate::input::source::{Format, SourceFile};

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
    /// What the folder walk saw, for "nothing found" messages.
    pub walk: WalkStats,
}

/// What [`discover`] looked at in the input folders.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WalkStats {
    /// Folder levels searched below each input folder (the input is level 1).
    pub depth: usize,
    /// Folders listed.
    pub folders: usize,
    /// Regular files seen, trace files or not.
    pub files: usize,
    /// Folders one level too deep, not searched.
    pub too_deep: usize,
}

/// How many folder levels below a named input are searched: the input
/// itself and four more, so `scripts/demo.sh`'s
/// `demo-output/<stamp>/attempt-N/traces/` is found from `demo-output`
/// (and `run`'s `./bdd-traces/<run id>/` from `.`).
pub const MAX_DEPTH: usize = 5;

/// The same for the default input, the OS temp dir: shared with every
/// other program, so only `<tmp>/<folder>/<folder>/` is searched.
pub const TEMP_DIR_DEPTH: usize = 3;

impl Discovery {
    /// Why there is nothing to analyze, for an error line: where it looked,
    /// how deep, and what it saw.
    pub fn nothing_found(&self) -> String {
        let shown: Vec<String> = self
            .scanned
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let w = &self.walk;
        let mut m = format!("no trace files found in {}", shown.join(", "));
        if w.folders > 0 {
            m += &format!(
                " (searched {} deep: {}, {}; trace file names start with `{FILE_PREFIX}`",
                plural(w.depth, "folder level", "folder levels"),
                plural(w.folders, "folder", "folders"),
                plural(w.files, "file", "files"),
            );
            if w.too_deep > 0 {
                m += &format!(
                    "; {} deeper not searched: name a deeper folder",
                    plural(w.too_deep, "folder", "folders")
                );
            }
            m.push(')');
        }
        m + "; was BDD_TRACE_STATE=1 set when the tests ran?"
    }
}

/// `1 file`, `2 files`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The default input: `$BDD_TRACE_DIR`, else the OS temp dir.
pub fn default_inputs() -> Vec<PathBuf> {
    match std::env::var_os(ENV_DIR) {
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
pub use state_tracer_format::file_name::is_file_name as v1_name;

/// Scans files and folders. `legacy_tz` is used to order legacy runs.
pub fn discover(inputs: &[PathBuf], legacy_tz: &LegacyTz) -> Discovery {
    let mut d = Discovery {
        scanned: inputs.to_vec(),
        ..Default::default()
    };
    let mut candidates: Vec<(PathBuf, bool)> = Vec::new();
    let temp = std::env::temp_dir();
    for input in inputs {
        match fs::metadata(input) {
            Err(e) => d.warnings.push(warn(input, 0, format!("cannot read: {e}"))),
            Ok(m) if m.is_dir() => {
                let max = if *input == temp {
                    TEMP_DIR_DEPTH
                } else {
                    MAX_DEPTH
                };
                d.walk.depth = d.walk.depth.max(max);
                let mut walker = Walker {
                    max,
                    out: &mut candidates,
                    warnings: &mut d.warnings,
                    stats: &mut d.walk,
                };
                walker.walk(input, 0);
            }
            // Opening a FIFO would block forever; a device could be endless.
            Ok(m) if !m.is_file() => d.warnings.push(warn(input, 0, not_regular(&m))),
            Ok(_) => candidates.push((input.clone(), true)),
        }
    }
    let mut files = Vec::new();
    for (path, explicit) in candidates {
        if let Some(f) = recognise(&path, explicit, legacy_tz, &mut d.warnings) {
            files.push(f);
        }
    }
    adopt_run_ids(&mut files);
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

/// Why a named input that is neither a folder nor a regular file is not read.
fn not_regular(m: &fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    let kind = if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    format!("{kind}, not a trace file: only regular files and folders are read")
}

/// Refuses inputs named on the command line that are neither folders nor
/// regular files (a FIFO would hang the reader): the first one, as one line.
/// Missing paths are left to [`discover`]'s warnings.
pub fn check_inputs(inputs: &[PathBuf]) -> Result<(), String> {
    for input in inputs {
        if let Ok(m) = fs::metadata(input) {
            if !m.is_dir() && !m.is_file() {
                return Err(format!(
                    "{}: {}",
                    crate::escape::text(&input.display().to_string()),
                    not_regular(&m)
                ));
            }
        }
    }
    Ok(())
}

fn warn(path: &Path, line: u64, message: String) -> Warning {
    Warning {
        file: path.display().to_string(),
        line,
        message,
    }
}

/// The folder walk of [`discover`].
struct Walker<'a> {
    max: usize,
    out: &'a mut Vec<(PathBuf, bool)>,
    warnings: &'a mut Vec<Warning>,
    stats: &'a mut WalkStats,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path, depth: usize) {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.warnings
                    .push(warn(dir, 0, format!("cannot list folder: {e}")));
                return;
            }
        };
        self.stats.folders += 1;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            // Never follow symlinks out of the folder: the temp dir is shared.
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if depth + 1 < self.max {
                    self.walk(&path, depth + 1);
                } else {
                    self.stats.too_deep += 1;
                }
            } else if meta.is_file() {
                self.stats.files += 1;
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with(FILE_PREFIX) || name.ends_with(".jsonl") {
                    self.out.push((path, false));
                }
            }
        }
    }
}

/// How many lines at the start of a file are looked at to recognise it.
const HEAD_LINES: usize = 16;

/// The first lines of a file (up to [`HEAD_LINES`] and 64 KiB), each with
/// its 1-based number: a damaged or blank first line must not decide alone
/// what the file is.
fn head_lines(path: &Path) -> std::io::Result<Vec<(u64, Vec<u8>)>> {
    let f = File::open(path)?;
    let mut r = LineReader::with_max(BufReader::with_capacity(8192, f.take(1 << 16)), 1 << 16);
    let mut out = Vec::new();
    while out.len() < HEAD_LINES {
        let no = out.len() as u64 + 1;
        match r.next_line()? {
            Some(Line::Text { bytes, .. }) => out.push((no, bytes.to_vec())),
            Some(Line::TooLong { .. }) => out.push((no, Vec::new())),
            None => break,
        }
    }
    Ok(out)
}

/// A head line as text, without a UTF-8 byte order mark or a trailing CR;
/// `None` for a blank or non-UTF-8 line.
fn head_text(bytes: &[u8]) -> Option<&str> {
    let t = std::str::from_utf8(bytes).ok()?;
    let t = t
        .strip_prefix('\u{feff}')
        .unwrap_or(t)
        .trim_end_matches('\r');
    (!t.trim().is_empty()).then_some(t)
}

fn recognise(
    path: &Path,
    explicit: bool,
    legacy_tz: &LegacyTz,
    warnings: &mut Vec<Warning>,
) -> Option<SourceFile> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let head = match head_lines(path) {
        Ok(l) => l,
        Err(e) => {
            warnings.push(warn(path, 0, format!("cannot read: {e}")));
            return None;
        }
    };
    // The first non-blank line decides, as the readers skip blank lines
    // and a byte order mark; later lines rescue a file whose first line
    // is damaged.
    let first = head.iter().find(|(_, b)| !b.trim_ascii().is_empty());
    let (first_no, line) = first.map_or((1, &[][..]), |(n, b)| (*n, b.as_slice()));
    let text = head_text(line);
    if let Some((pid, when)) = legacy_name(name) {
        if first.is_none() {
            warnings.push(warn(path, 0, "empty trace file, skipped".into()));
            return None;
        }
        let is_legacy = |t: &str| parse_legacy_line(t, legacy_tz).is_ok();
        let looks_legacy = text.is_some_and(|t| t.starts_with("TIMESTAMP") || is_legacy(t))
            || head.iter().filter_map(|(_, b)| head_text(b)).any(is_legacy);
        if !looks_legacy {
            warnings.push(warn(
                path,
                first_no,
                "named like a Go trace file but no line is `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS`; file skipped".into(),
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
            env: Vec::new(),
            size,
        });
    }
    let named = v1_name(name);
    let Some(text) = text else {
        if let Some(f) = headerless(path, name, &head, first_no, size, warnings) {
            return Some(f);
        }
        if named || explicit {
            let what = if first.is_none() {
                "the file is empty"
            } else {
                "line 1 is not UTF-8 text (binary data?)"
            };
            warnings.push(warn(
                path,
                first_no,
                format!("not a trace file: {what}; file skipped"),
            ));
        }
        return None;
    };
    match sniff_header_version(text) {
        Some(v) if v != u64::from(FORMAT_VERSION) => {
            warnings.push(warn(
                path,
                first_no,
                format!("trace format version {v} is not supported (this trace-analyzer reads version {FORMAT_VERSION}); file skipped — upgrade trace-analyzer"),
            ));
            return None;
        }
        Some(_) => {}
        None => {
            if let Some(f) = headerless(path, name, &head, first_no, size, warnings) {
                return Some(f);
            }
            if named || explicit {
                warnings.push(warn(
                    path,
                    first_no,
                    "not a trace file: no bdd-state-trace header and no v1 events in its first lines; file skipped".into(),
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
            env: h
                .config
                .iter()
                .filter(|(k, _)| crate::input::source::REPLAY_ENV.contains(&k.as_ref()))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            size,
        }),
        Ok(_) => None,
        Err(e) => {
            if let Some(f) = headerless(path, name, &head, first_no, size, warnings) {
                return Some(f);
            }
            warnings.push(warn(
                path,
                first_no,
                format!("invalid header: {e}; file skipped"),
            ));
            None
        }
    }
}

/// A v1-named file whose header is unreadable but whose next lines are v1
/// events: read it anyway, with the run id and pid from its name (the
/// header's line is reported by the reader). [`discover`] maps the name's
/// run id back to a header's when another file of the run has one.
fn headerless(
    path: &Path,
    name: &str,
    head: &[(u64, Vec<u8>)],
    first_no: u64,
    size: u64,
    warnings: &mut Vec<Warning>,
) -> Option<SourceFile> {
    let (run, pid) = parse_file_name(name)?;
    let events = head
        .iter()
        .filter_map(|(_, b)| head_text(b))
        .any(|t| matches!(Record::parse(t), Ok(Record::Event(_))));
    if !events {
        return None;
    }
    warnings.push(warn(
        path,
        first_no,
        format!("no readable header; its events are read, with run id {run:?} and pid {pid} taken from the file name"),
    ));
    Some(SourceFile {
        path: path.to_path_buf(),
        format: Format::V1,
        run_id: format!("{HEADERLESS}{run}"),
        pid,
        label: format!("pid {pid}"),
        start: None,
        argv: Vec::new(),
        rerun: None,
        cwd: None,
        env: Vec::new(),
        size,
    })
}

/// Marks a run id taken from a file name until [`adopt_run_ids`] resolves it.
const HEADERLESS: &str = "\0name:";

/// Gives headerless files the run id of a header whose file-name form
/// matches theirs; else the name's form.
fn adopt_run_ids(files: &mut [SourceFile]) {
    let ids: HashMap<String, String> = files
        .iter()
        .filter(|f| !f.run_id.starts_with(HEADERLESS))
        .map(|f| (file_name_safe(&f.run_id), f.run_id.clone()))
        .collect();
    for f in files.iter_mut() {
        if let Some(from_name) = f.run_id.strip_prefix(HEADERLESS) {
            f.run_id = ids
                .get(from_name)
                .cloned()
                .unwrap_or_else(|| from_name.to_owned());
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
    let run = f
        .format
        .provides()
        .records_run_id()
        .then(|| f.run_id.clone());
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

/// Lines of a small text file (test helper and `clean`).
pub fn read_lines(path: &Path) -> Vec<String> {
    File::open(path)
        .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
        .unwrap_or_default()
}

/// How many scenarios a file records as failed (`SCENARIO_END` with
/// outcome `FAILED`), for saying that a run left out of a report holds
/// failures. Reads the whole file, one line at a time; only the few lines
/// naming `SCENARIO_END` are parsed.
pub fn failed_scenarios(f: &SourceFile) -> u64 {
    let Ok(file) = File::open(&f.path) else {
        return 0;
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut failed = 0;
    let finder = memchr::memmem::Finder::new(b"SCENARIO_END");
    let format = f.format.provides();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(at) = finder.find(&line) else {
            continue;
        };
        failed += u64::from(format.failed_scenario_end(&line, at));
    }
    failed
}

/// The runs other than `chosen` whose files record failed scenarios, most
/// recent first, with how many.
pub fn other_runs_with_failures(d: &Discovery, chosen: &str) -> Vec<(String, u64)> {
    d.runs
        .iter()
        .rev()
        .filter(|r| r.id != chosen)
        .filter_map(|r| {
            let n: u64 = r.files.iter().map(failed_scenarios).sum();
            (n > 0).then(|| (r.id.clone(), n))
        })
        .collect()
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
