//! Ground truth for the accuracy harness (`scripts/accuracy.sh`): which rows
//! each cleanup really deleted, and which scenario had written them.
//!
//! The analyzer is scored against this, so it must not come from the
//! traces: every row carries the scenario that wrote it (`written_by`), the
//! cleanup learns what it deleted from the database itself (SQLite:
//! `DELETE … RETURNING`; PostgreSQL: the rows it is about to `TRUNCATE`,
//! read under the lock the `TRUNCATE` takes anyway, untraced), and the
//! result goes to a JSON Lines file of its own (`BDD_GROUND_TRUTH`), not to
//! the database and not to the trace.

use std::fs::OpenOptions;
use std::io::Write as _;

/// The variable naming the ground-truth file; unset: nothing is written.
pub const ENV: &str = "BDD_GROUND_TRUTH";

/// Who wrote a row, as stored in its `written_by` column:
/// `pid<TAB>feature<TAB>scenario`.
pub fn writer_tag(pid: u32, feature: &str, scenario: &str) -> String {
    format!("{pid}\t{feature}\t{scenario}")
}

/// Rows of one table one cleanup deleted that one scenario had written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub table: String,
    /// The row's `written_by` ([`writer_tag`]).
    pub written_by: String,
    pub rows: u64,
}

/// Appends one line per [`Deleted`] to the ground-truth file, if any. One
/// `write` per line on an `O_APPEND` file: processes never interleave.
pub fn record(cleaner: &str, deleted: &[Deleted]) {
    let Some(path) = std::env::var_os(ENV) else {
        return;
    };
    let now = chrono_free_now();
    let mut out = String::new();
    for d in deleted {
        let w: Vec<&str> = d.written_by.splitn(3, '\t').collect();
        let c: Vec<&str> = cleaner.splitn(3, '\t').collect();
        let line = serde_json::json!({
            "ts_us": now,
            "cleaner": {"pid": c.first().and_then(|p| p.parse::<u32>().ok()), "feature": c.get(1), "scenario": c.get(2)},
            "table": d.table,
            "writer": {"pid": w.first().and_then(|p| p.parse::<u32>().ok()), "feature": w.get(1), "scenario": w.get(2)},
            "rows": d.rows,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    if out.is_empty() {
        return;
    }
    let file = OpenOptions::new().create(true).append(true).open(&path);
    if let Err(e) = file.and_then(|mut f| f.write_all(out.as_bytes())) {
        eprintln!("bdd-demo: cannot write the ground truth: {e}");
    }
}

/// Microseconds since the Unix epoch.
fn chrono_free_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Counts rows per `written_by` value.
pub fn tally(table: &str, writers: impl IntoIterator<Item = String>) -> Vec<Deleted> {
    let mut out: Vec<Deleted> = Vec::new();
    for w in writers {
        match out.iter_mut().find(|d| d.written_by == w) {
            Some(d) => d.rows += 1,
            None => out.push(Deleted {
                table: table.to_owned(),
                written_by: w,
                rows: 1,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_rows_per_writer() {
        let t = tally("users", ["a".to_owned(), "b".to_owned(), "a".to_owned()]);
        assert_eq!(
            t.iter()
                .map(|d| (d.written_by.as_str(), d.rows))
                .collect::<Vec<_>>(),
            [("a", 2), ("b", 1)]
        );
    }
}
