//! What hazard groups and overlaps name a process by, so their number
//! does not grow with the processes of a run.
//!
//! nextest runs every test in its own process: naming each process (pid,
//! file) makes every process pair its own group. A v1 header's `process`
//! label that several processes share names a binary or a kind of worker,
//! stable across one-test processes, so it is kept; a label only one
//! process has names that process alone and is dropped, like its pid.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::engine::state::Proc;
use crate::findings::{scenario_ref, Pending};
use crate::input::record::{to_time, FastMap, FileIdx};
use crate::model::{HazardSide, RuleId, ScenarioRef, Severity, Warning};

/// Per file index: its label when other processes share it, else `None`.
pub fn shared_labels(procs: &[Proc]) -> Vec<Option<Arc<str>>> {
    let mut count: FastMap<&str, u32> = FastMap::default();
    for p in procs.iter().filter(|p| p.format.provides().header_label()) {
        *count.entry(p.header_label.as_str()).or_default() += 1;
    }
    let mut interned: FastMap<&str, Arc<str>> = FastMap::default();
    procs
        .iter()
        .map(|p| {
            let l = p.header_label.as_str();
            (p.format.provides().header_label() && count.get(l).is_some_and(|&n| n > 1))
                .then(|| interned.entry(l).or_insert_with(|| Arc::from(l)).clone())
        })
        .collect()
}

/// One side of a hazard group as it is built: the first process and
/// feature seen, and whether every pair so far came from that process,
/// that shared label, that feature.
pub struct Side {
    first: FileIdx,
    one_process: bool,
    label: Option<Arc<str>>,
    one_label: bool,
    feature: Arc<str>,
    /// Distinct features (bounded by the run's features, not its pairs).
    features: FastMap<Arc<str>, ()>,
}

impl Side {
    pub fn new(file: FileIdx, label: Option<Arc<str>>, feature: Arc<str>) -> Self {
        let mut features = FastMap::default();
        features.insert(feature.clone(), ());
        Side {
            first: file,
            one_process: true,
            label,
            one_label: true,
            feature,
            features,
        }
    }

    pub fn add(&mut self, file: FileIdx, label: &Option<Arc<str>>, feature: &Arc<str>) {
        self.one_process &= file == self.first;
        self.one_label &= *label == self.label;
        if !self.features.contains_key(feature) {
            self.features.insert(feature.clone(), ());
        }
    }

    /// The side as reported: the process when there was one, the label
    /// when all shared it, the first feature and how many there were.
    pub fn summary(&self, procs: &[Proc]) -> HazardSide {
        let p = &procs[self.first as usize];
        HazardSide {
            pid: self.one_process.then_some(p.pid),
            label: if self.one_process {
                Some(p.label())
            } else if self.one_label {
                self.label.as_deref().map(str::to_owned)
            } else {
                None
            },
            feature: self.feature.to_string(),
            features: self.features.len() as u64,
        }
    }
}

/// `--hazard-pairs FILE`: every pair folded into a hazard group, one JSON
/// line each, written as it is folded and never held in memory.
pub struct PairSink {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    error: Option<String>,
}

/// One line of the pairs file.
#[derive(Serialize)]
struct PairLine<'a> {
    rule: RuleId,
    severity: Severity,
    resource: &'a str,
    at: chrono::DateTime<chrono::Utc>,
    occurrences: u64,
    polluter: ScenarioRef,
    victim: ScenarioRef,
}

impl PairSink {
    /// Creates (truncates) `path`; a failure is reported by [`PairSink::close`].
    pub fn create(path: &Path) -> Self {
        let (out, error) = match File::create(path) {
            Ok(f) => (Some(BufWriter::with_capacity(1 << 16, f)), None),
            Err(e) => (None, Some(e.to_string())),
        };
        PairSink {
            path: path.to_path_buf(),
            out,
            error,
        }
    }

    pub fn write(&mut self, p: &Pending, severity: Severity, procs: &[Proc]) {
        let (Some(out), Some(a), Some(b)) = (self.out.as_mut(), &p.polluter, &p.victim) else {
            return;
        };
        let line = PairLine {
            rule: p.rule,
            severity,
            resource: &p.resource,
            at: to_time(p.at),
            occurrences: p.occurrences,
            polluter: scenario_ref(a, procs),
            victim: scenario_ref(b, procs),
        };
        let r = serde_json::to_writer(&mut *out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = r {
            // Stop at the first error: a partial file is reported, not trusted.
            self.error = Some(e.to_string());
            self.out = None;
        }
    }

    /// Flushes the file; a failure to create or write it becomes a warning.
    pub fn close(mut self) -> Option<Warning> {
        if let Some(mut out) = self.out.take() {
            if let Err(e) = out.flush() {
                self.error = Some(e.to_string());
            }
        }
        self.error.map(|e| Warning {
            file: self.path.display().to_string(),
            line: 0,
            message: format!(
                "cannot write the hazard pairs (--hazard-pairs): {e}; the file is incomplete"
            ),
        })
    }
}
