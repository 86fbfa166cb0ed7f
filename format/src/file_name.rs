//! Trace file names: how a writer names its file and how a reader takes
//! the name apart, in one place so the two cannot drift.
//!
//! `bdd-state-trace-<run>-<YYYYMMDDTHHMMSS.ffffffZ>-<pid>-<8 hex>.jsonl`:
//! the run ID made safe for a file name ([`file_name_safe`]), the file's
//! start time, the writing process and a random part that keeps two files
//! of one process (or a reused pid) apart.

use chrono::{DateTime, Utc};

/// Every file the tracer creates starts with this; the analyzer and
/// `trace-analyzer clean` use it to recognise trace files by name.
pub const FILE_PREFIX: &str = "bdd-state-trace-";
/// Extension of v1 trace files (JSON Lines).
pub const FILE_EXTENSION: &str = "jsonl";

/// The name of a new trace file (see the module docs).
pub fn file_name(run_id: &str, start: DateTime<Utc>, pid: u32, random: u32) -> String {
    format!(
        "{FILE_PREFIX}{}-{}-{pid}-{random:08x}.{FILE_EXTENSION}",
        file_name_safe(run_id),
        start.format("%Y%m%dT%H%M%S%.6fZ"),
    )
}

/// Whether a name is a v1 trace file's by its prefix and extension alone.
pub fn is_file_name(name: &str) -> bool {
    name.starts_with(FILE_PREFIX)
        && name
            .strip_suffix(FILE_EXTENSION)
            .is_some_and(|n| n.ends_with('.'))
}

/// The run ID (as [`file_name_safe`] wrote it) and pid of a name in the
/// exact shape [`file_name`] writes, else `None`.
pub fn parse_file_name(name: &str) -> Option<(&str, u32)> {
    let rest = name
        .strip_prefix(FILE_PREFIX)?
        .strip_suffix(FILE_EXTENSION)?
        .strip_suffix('.')?;
    let mut parts = rest.rsplitn(4, '-');
    let random = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    let run = parts.next()?;
    let ok = random.len() == 8
        && random.bytes().all(|b| b.is_ascii_hexdigit())
        && time.len() == 23
        && time.ends_with('Z');
    (ok && !run.is_empty()).then_some((run, pid))
}

/// Replaces characters that are unsafe in a file name with `_` and bounds the
/// length, so any run ID can be part of a trace file name.
pub fn file_name_safe(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "run".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern_and_parse_back() {
        let t = crate::parse_wall_time("2026-04-11T10:10:53.032156Z").unwrap();
        let name = file_name("ci/7", t, 42, 0xab);
        assert_eq!(
            name,
            "bdd-state-trace-ci_7-20260411T101053.032156Z-42-000000ab.jsonl"
        );
        assert!(is_file_name(&name));
        assert_eq!(parse_file_name(&name), Some(("ci_7", 42)));
        let dashed = file_name("run-2026-1", t, 7, 1);
        assert_eq!(parse_file_name(&dashed), Some(("run-2026-1", 7)));
    }

    #[test]
    fn other_names_do_not_parse() {
        for name in [
            "bdd-state-trace-20260411-101053-12345.log",
            "bdd-state-trace-r-20260411T101053.032156Z-1-xyz.jsonl",
            "bdd-state-trace--20260411T101053.032156Z-1-000000ab.jsonl",
            "bdd-state-trace-r-20260411T101053.032156Z-1-000000abjsonl",
            "trace-r-20260411T101053.032156Z-1-000000ab.jsonl",
        ] {
            assert_eq!(parse_file_name(name), None, "{name}");
        }
        assert!(!is_file_name("bdd-state-trace-x.log"));
        assert!(!is_file_name("bdd-state-trace-xjsonl"));
    }

    #[test]
    fn run_ids_become_safe_file_name_parts() {
        assert_eq!(file_name_safe("ci/123 #4"), "ci_123__4");
        assert_eq!(file_name_safe(".."), "run");
        assert_eq!(file_name_safe(&"x".repeat(100)).len(), 64);
    }
}
