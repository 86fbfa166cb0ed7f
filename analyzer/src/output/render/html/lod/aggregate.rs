//! The aggregates of a summarised page: the actions not drawn one by one,
//! counted by kind per lane and time bucket, in a number of buckets that
//! fits any run (their width doubles as the run gets longer).

use std::collections::hash_map::Entry;
use std::io::{self, Write};

use super::super::timeline::MarkerKind;
use super::{HtmlStream, Mark};
use crate::input::record::Micros;

/// Time buckets per lane at most: about a pixel at the default zoom. The
/// bucket width starts at 1 µs and doubles (merging neighbours) whenever a
/// record would need more, so it fits the run without knowing its length.
const BUCKETS_PER_LANE: i64 = 2048;

/// The kinds in the order the page's aggregates count them.
pub(super) const AGG_KINDS: [MarkerKind; 9] = [
    MarkerKind::Cleanup,
    MarkerKind::Schema,
    MarkerKind::Secret,
    MarkerKind::Config,
    MarkerKind::Write,
    MarkerKind::Http,
    MarkerKind::Custom,
    MarkerKind::Read,
    MarkerKind::Tx,
];

pub(super) fn agg_index(k: MarkerKind) -> usize {
    AGG_KINDS.iter().position(|&a| a == k).unwrap_or(6)
}

/// One aggregate: actions of one lane within one time bucket.
#[derive(Clone, Copy)]
pub(super) struct Bucket {
    t0: Micros,
    t1: Micros,
    counts: [u32; 9],
    /// First scenario seen in it (u32::MAX: none), and how many scenario
    /// changes followed (distinct scenarios, as they come in time order).
    scenario: u32,
    last_scenario: u32,
    scenarios: u32,
}

impl HtmlStream<'_> {
    pub(super) fn aggregate(&mut self, m: &Mark) {
        self.lod.aggregated += 1;
        *self
            .lod
            .aggregated_by_kind
            .entry(m.kind.as_str())
            .or_default() += 1;
        let t = m.t_us.max(0);
        while t / self.width >= BUCKETS_PER_LANE {
            self.widen();
        }
        let scn = m.scenario.unwrap_or(u32::MAX);
        let b = self
            .buckets
            .entry((m.proc, m.lane, t / self.width))
            .or_insert(Bucket {
                t0: t,
                t1: t,
                counts: [0; 9],
                scenario: scn,
                last_scenario: scn,
                scenarios: u32::from(scn != u32::MAX),
            });
        b.t0 = b.t0.min(t);
        b.t1 = b.t1.max(t);
        b.counts[agg_index(m.kind)] += 1;
        if scn != b.last_scenario {
            b.last_scenario = scn;
            if scn != u32::MAX {
                b.scenarios += 1;
            }
            if b.scenario == u32::MAX {
                b.scenario = scn;
            }
        }
    }

    /// Doubles the bucket width, merging neighbouring buckets.
    fn widen(&mut self) {
        self.width *= 2;
        let mut sorted: Vec<_> = std::mem::take(&mut self.buckets).into_iter().collect();
        sorted.sort_unstable_by_key(|(k, _)| *k);
        for ((p, l, i), b) in sorted {
            match self.buckets.entry((p, l, i / 2)) {
                Entry::Vacant(v) => {
                    v.insert(b);
                }
                Entry::Occupied(mut o) => {
                    let a = o.get_mut();
                    let continues = a.last_scenario == b.scenario && b.scenarios > 0;
                    a.t0 = a.t0.min(b.t0);
                    a.t1 = a.t1.max(b.t1);
                    for (x, y) in a.counts.iter_mut().zip(b.counts) {
                        *x += y;
                    }
                    a.scenarios += b.scenarios - u32::from(continues);
                    if a.scenario == u32::MAX {
                        a.scenario = b.scenario;
                    }
                    if b.last_scenario != u32::MAX {
                        a.last_scenario = b.last_scenario;
                    }
                }
            }
        }
    }

    /// The page's `aggregates`: one row per bucket, in lane and time order.
    pub(super) fn write_aggregates(&mut self) -> io::Result<()> {
        self.out.write_all(b",\"aggregates\":[")?;
        let mut buckets: Vec<_> = self.buckets.drain().collect();
        buckets.sort_unstable_by_key(|(k, _)| *k);
        for (n, ((proc, lane, _), b)) in buckets.iter().enumerate() {
            if n > 0 {
                self.out.write_all(b",")?;
            }
            let scn = if b.scenario == u32::MAX {
                -1
            } else {
                i64::from(b.scenario)
            };
            write!(
                self.out,
                "[{proc},{lane},{},{},{scn},{}",
                b.t0, b.t1, b.scenarios
            )?;
            for c in b.counts {
                write!(self.out, ",{c}")?;
            }
            self.out.write_all(b"]")?;
        }
        drop(buckets);
        Ok(())
    }
}
