//! Scenarios active at the same time, aggregated by process pair.
//!
//! A big parallel run has millions of overlapping pairs; a count and the
//! first example per process pair is what a human can act on. With
//! `--all-overlaps` every pair is kept instead.

use std::rc::Rc;

use crate::analysis::{Cx, Proc, Scn};
use crate::findings::scenario_ref;
use crate::model::{Overlap, OverlapExample, ProcessRef};
use crate::record::{to_time, FastMap, FileIdx, Micros};

struct Pair {
    count: u64,
    a: Rc<Scn>,
    b: Rc<Scn>,
    at: Micros,
}

/// Collects overlaps as scenarios start.
pub struct Overlaps {
    all: bool,
    by_pair: FastMap<(FileIdx, FileIdx), Pair>,
    order: Vec<(FileIdx, FileIdx)>,
    every: Vec<Pair>,
}

impl Overlaps {
    pub fn new(all: bool) -> Self {
        Overlaps {
            all,
            by_pair: FastMap::default(),
            order: Vec::new(),
            every: Vec::new(),
        }
    }

    /// `b` just started: it overlaps every scenario still active.
    pub fn on_start(&mut self, cx: &Cx, b: &Rc<Scn>) {
        for a in cx.active.iter().filter(|a| a.is_active()) {
            let (x, y) = if (cx.pid(a.file), a.file) <= (cx.pid(b.file), b.file) {
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
            let key = (x.file, y.file);
            match self.by_pair.get_mut(&key) {
                Some(p) => p.count += 1,
                None => {
                    self.order.push(key);
                    self.by_pair.insert(
                        key,
                        Pair {
                            count: 1,
                            a: x.clone(),
                            b: y.clone(),
                            at: b.start,
                        },
                    );
                }
            }
        }
    }

    pub fn finish(mut self, procs: &[Proc]) -> Vec<Overlap> {
        let pairs: Vec<Pair> = if self.all {
            self.every
        } else {
            self.order
                .iter()
                .filter_map(|k| self.by_pair.remove(k))
                .collect()
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
        out
    }
}
