//! The ground-truth file of one run (`CORPUS_TRUTH`, JSON Lines): what the
//! database itself said about who destroyed or changed whose rows, and why
//! each failed scenario failed. Written by the suites, never derived from
//! their traces; the format is documented in `docs/accuracy.md`.
//!
//! Every process of a run appends to the same file: one `write(2)` per line
//! on an `O_APPEND` file, so lines never interleave and their order is the
//! order in which the database answered.

use std::fs::OpenOptions;
use std::io::Write as _;

use serde_json::{json, Value};

/// The variable naming the ground-truth file; unset: nothing is written.
pub const ENV: &str = "CORPUS_TRUTH";

/// A scenario as the report names it: process id, feature, scenario name
/// (unique within its process).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Who {
    pub pid: u64,
    pub feature: String,
    pub scenario: String,
}

impl Who {
    pub fn new(pid: u32, feature: &str, scenario: &str) -> Who {
        Who {
            pid: u64::from(pid),
            feature: feature.to_owned(),
            scenario: scenario.to_owned(),
        }
    }

    /// This process's scenario `feature: scenario`.
    pub fn here(feature: &str, scenario: &str) -> Who {
        Who::new(std::process::id(), feature, scenario)
    }

    pub fn to_json(&self) -> Value {
        json!({"pid": self.pid, "feature": self.feature, "scenario": self.scenario})
    }

    pub fn from_json(v: &Value) -> Option<Who> {
        Some(Who {
            pid: v.get("pid")?.as_u64()?,
            feature: v.get("feature")?.as_str()?.to_owned(),
            scenario: v.get("scenario")?.as_str()?.to_owned(),
        })
    }
}

/// Rows `by` really removed from `table` (the tags `DELETE … RETURNING`
/// gave back, or those read under the lock a `TRUNCATE` takes anyway).
pub fn removed(by: &Who, table: &str, tags: &[String]) {
    if !tags.is_empty() {
        append(&json!({"ev": "removed", "by": by.to_json(), "table": table, "tags": tags}));
    }
}

/// Rows `by` really changed in `table` (`UPDATE … RETURNING`).
pub fn changed(by: &Who, table: &str, tags: &[String]) {
    if !tags.is_empty() {
        append(&json!({"ev": "changed", "by": by.to_json(), "table": table, "tags": tags}));
    }
}

/// `who` failed because the rows tagged `needs` were gone or changed when
/// it read them: its culprits are whoever removed or changed them (other
/// than itself), the first one primary.
pub fn failed_needing(who: &Who, needs: &[String]) {
    append(&json!({"ev": "failed", "who": who.to_json(), "needs": needs}));
}

/// `who` failed and the state itself names its culprits, primary first
/// (the value it read carries its last setter; the child rows that made
/// its `DELETE` fail carry their writer). `also`: true polluters that are
/// not the primary one (earlier unrestored setters).
pub fn failed_by(who: &Who, culprits: &[Who], also: &[Who]) {
    let list = |w: &[Who]| w.iter().map(Who::to_json).collect::<Vec<_>>();
    append(
        &json!({"ev": "failed", "who": who.to_json(), "culprits": list(culprits), "also": list(also)}),
    );
}

/// `who` failed for a reason that is not about shared state (an assertion
/// on a constant, an I/O error): it must get no likely cause.
pub fn failed_genuinely(who: &Who, why: &str) {
    append(&json!({"ev": "failed", "who": who.to_json(), "genuine": true, "why": why}));
}

/// Appends one line to the ground-truth file, if `CORPUS_TRUTH` is set.
pub fn append(line: &Value) {
    let Some(path) = std::env::var_os(ENV) else {
        return;
    };
    let mut text = line.to_string();
    text.push('\n');
    let file = OpenOptions::new().create(true).append(true).open(&path);
    if let Err(e) = file.and_then(|mut f| f.write_all(text.as_bytes())) {
        eprintln!("corpus: cannot write the ground truth to {path:?}: {e}");
    }
}
