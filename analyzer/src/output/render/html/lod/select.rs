//! What a summarised page draws one by one: the victims' windows and the
//! mutations of shared state, within the marker budget; the rest goes to
//! the aggregates. Actions wait (in their open scenario, or under their
//! resource) until the run says which they are.

use super::super::timeline::{describe, ScenarioIdx};
use super::page::Drawn;
use super::{HtmlStream, Mark, MARKER_BUDGET, PENDING_PER_RESOURCE, PENDING_TOTAL, PER_SCENARIO};
use crate::engine::track::Tracker;

impl HtmlStream<'_> {
    /// Draws an action one by one, within the budget.
    pub(super) fn keep(&mut self, track: &Tracker, m: Mark) {
        if self.provisional {
            self.candidates.push(m);
            return;
        }
        if !self.full && self.markers.len() >= MARKER_BUDGET {
            self.lod.over_budget += 1;
            self.aggregate(&m);
            return;
        }
        let label = match m.res {
            Some(r) => Some(track.view().resources.label(&r)),
            None => m.recorded.as_ref().map(|r| r.to_string()),
        };
        let details = describe(label.as_deref(), m.details.as_deref());
        let known = self.strings.bytes;
        let details = self.strings.id(&details);
        let action = self.strings.id(m.action.as_str());
        // About 20 bytes of numbers, and its text if new.
        self.marker_bytes += 20 + self.strings.bytes - known;
        self.lod.detailed += 1;
        self.markers.push(Drawn {
            t_us: m.t_us,
            proc: m.proc,
            scenario: m.scenario,
            lane: m.lane,
            kind: m.kind,
            action,
            details,
        });
    }

    /// An action no scenario keeps: a shared mutation is drawn, a mutation
    /// of a resource not shared (yet) waits, the rest is aggregated.
    pub(super) fn settle(&mut self, track: &Tracker, m: Mark) {
        match m.res {
            Some(r) if m.mutation && track.shared(r) => self.keep(track, m),
            Some(r) if m.mutation => {
                let waiting = self.in_resource.entry(r).or_default();
                if waiting.len() < PENDING_PER_RESOURCE && self.pending < PENDING_TOTAL {
                    waiting.push(m);
                    self.pending += 1;
                } else {
                    self.aggregate(&m);
                }
            }
            _ => self.aggregate(&m),
        }
    }

    /// `--detail auto` passed its record count: the candidates kept so far
    /// are sorted out as they would have been, and so is the rest.
    pub(super) fn summarise(&mut self, track: &Tracker) {
        self.provisional = false;
        self.full = false;
        let open: std::collections::HashSet<u32> =
            track.open().iter().map(|s| s.id as ScenarioIdx).collect();
        for m in std::mem::take(&mut self.candidates) {
            match m.scenario {
                Some(id) if open.contains(&id) => {
                    let waiting = self.in_scenario.entry(id).or_default();
                    if waiting.len() < PER_SCENARIO {
                        waiting.push(m);
                    } else {
                        self.settle(track, m);
                    }
                }
                Some(id) if self.bars.get(id as usize).is_some_and(|b| b.3) => self.keep(track, m),
                _ => self.settle(track, m),
            }
        }
    }
}
