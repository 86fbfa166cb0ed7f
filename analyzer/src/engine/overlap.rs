//! Scenarios active at the same time, aggregated by process pair.
//!
//! A big parallel run has millions of overlapping pairs; a count and the
//! first example per process pair is what a human can act on, and the
//! report lists the [`LISTED`] process pairs that overlapped most (one-test
//! processes make tens of thousands of pairs). With `--all-overlaps` every
//! scenario pair is kept instead.

use std::rc::Rc;

use crate::engine::state::{Proc, Scn};
use crate::findings::scenario_ref;
use crate::input::record::{to_time, FastMap, FileIdx, Micros};
use crate::model::{Overlap, OverlapExample, ProcessRef};
use crate::rules::RunView;

struct Pair {
    count: u64,
    a: Rc<Scn>,
    b: Rc<Scn>,
    at: Micros,
}

/// Collects overlaps as scenarios start.
pub struct Overlaps {
    all: bool,
    /// One entry per process pair, in order of first overlap.
    pairs: Vec<Pair>,
    /// Index in `pairs` per process pair: a dense `files²` table while it
    /// stays small (it is probed for every active scenario at every start,
    /// so it must stay in cache), else a map.
    dense: Vec<u32>,
    by_pair: FastMap<(FileIdx, FileIdx), u32>,
    every: Vec<Pair>,
}

/// Most process pairs the report lists (most overlaps first).
pub const LISTED: usize = 100;

/// Most files for which the dense pair table is used (4 MiB).
const DENSE_FILES: usize = 1024;
const NONE: u32 = u32::MAX;

impl Overlaps {
    pub fn new(all: bool) -> Self {
        Overlaps {
            all,
            pairs: Vec::new(),
            dense: Vec::new(),
            by_pair: FastMap::default(),
            every: Vec::new(),
        }
    }

    /// `b` just started: it overlaps every scenario still active.
    pub fn on_start(&mut self, cx: &RunView, b: &Rc<Scn>) {
        let n = cx.procs.len();
        if !self.all && n <= DENSE_FILES && self.dense.is_empty() {
            self.dense = vec![NONE; n * n];
        }
        let b_key = (cx.pid(b.file), b.file);
        // `b` is already among the active (the tracker added it).
        for a in cx.active.iter().filter(|a| a.is_active() && a.id != b.id) {
            let (x, y) = if (cx.pid(a.file), a.file) <= b_key {
                (a, b)
            } else {
                (b, a)
            };
            if self.all {
                self.every.push(Pair {
                    count: 1,
                    a: x.clone(),
                    b: y.clone(),
                    at: b.start,
                });
                continue;
            }
            let slot = if self.dense.is_empty() {
                self.by_pair.entry((x.file, y.file)).or_insert(NONE)
            } else {
                &mut self.dense[x.file as usize * n + y.file as usize]
            };
            match self.pairs.get_mut(*slot as usize) {
                Some(p) => p.count += 1,
                None => {
                    *slot = self.pairs.len() as u32;
                    self.pairs.push(Pair {
                        count: 1,
                        a: x.clone(),
                        b: y.clone(),
                        at: b.start,
                    });
                }
            }
        }
    }

    /// The overlaps to list, and how many process pairs overlapped.
    pub fn finish(self, procs: &[Proc]) -> (Vec<Overlap>, u64) {
        let total = if self.all {
            self.every.len()
        } else {
            self.pairs.len()
        } as u64;
        let pairs: Vec<Pair> = if self.all {
            self.every
        } else {
            let mut pairs = self.pairs;
            if pairs.len() > LISTED {
                // Stable: among equal counts, the first to overlap.
                pairs.sort_by_key(|p| std::cmp::Reverse(p.count));
                pairs.truncate(LISTED);
            }
            pairs
        };
        let mut out: Vec<Overlap> = pairs
            .into_iter()
            .map(|p| {
                let pa = &procs[p.a.file as usize];
                let pb = &procs[p.b.file as usize];
                Overlap {
                    a: ProcessRef {
                        pid: pa.pid,
                        label: pa.label(),
                    },
                    b: ProcessRef {
                        pid: pb.pid,
                        label: pb.label(),
                    },
                    count: p.count,
                    example: OverlapExample {
                        a: scenario_ref(&p.a, procs),
                        b: scenario_ref(&p.b, procs),
                        at: to_time(p.at),
                    },
                }
            })
            .collect();
        if !self.all {
            out.sort_by(|x, y| {
                (x.a.pid, x.b.pid, &x.a.label, &x.b.label)
                    .cmp(&(y.a.pid, y.b.pid, &y.a.label, &y.b.label))
            });
        }
        (out, total)
    }
}
