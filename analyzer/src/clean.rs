//! `clean`: deletes old trace files, and only files the tracer made — a v1
//! file needs both the name and a valid header, a legacy file the exact Go
//! name pattern. Symlinks and everything else are left alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::discover::{header_is_valid, legacy_name, v1_name};

/// Parses `7d`, `12h`, `30m`, `45s`, `2w`.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid age {s:?}: use a number and a unit, e.g. 7d, 12h, 30m"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("invalid unit in {s:?}: use s, m, h, d or w")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// Is this a file the tracer made (by name and content)?
pub fn made_by_tracer(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if legacy_name(name).is_some() {
        return true;
    }
    v1_name(name) && header_is_valid(path)
}

/// Old tracer files under the inputs (not following symlinks).
pub fn candidates(inputs: &[PathBuf], older_than: Duration) -> Vec<PathBuf> {
    let cutoff = SystemTime::now()
        .checked_sub(older_than)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = inputs.iter().map(|p| (p.clone(), 0)).collect();
    while let Some((p, depth)) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if depth < 3 {
                if let Ok(rd) = fs::read_dir(&p) {
                    stack.extend(rd.filter_map(|e| e.ok()).map(|e| (e.path(), depth + 1)));
                }
            }
        } else if meta.is_file() && made_by_tracer(&p) && meta.modified().is_ok_and(|m| m < cutoff)
        {
            out.push(p);
        }
    }
    out.sort();
    out
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
        assert!(parse_age("5y").is_err());
    }
}
