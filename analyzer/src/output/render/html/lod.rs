//! The HTML report of a run of any size: written while the run is merged,
//! next to the analysis, with a level of detail, in memory that does not
//! grow with the records.
//!
//! It draws the run's one interpretation (`crate::engine::track`, the one the
//! findings use): scenario, slot (lane), resource and whether an action
//! mutates come with each record, so the page cannot disagree with the
//! findings about them.
//!
//! [`HtmlStream`] is a [`Tap`]: it writes each scenario bar as soon as the
//! scenario ends and decides for each state action whether it is drawn one
//! by one (a marker) or counted into an aggregate (a per-lane time bucket
//! with counts by kind, its real time span and the scenarios it belongs
//! to, which the page draws as such and never as invented records).
//! Drawn one by one, up to [`MARKER_BUDGET`] markers:
//! - every mutation of shared state: of a resource another process touches
//!   too (a mutation waits, up to [`PENDING_PER_RESOURCE`] per resource,
//!   until its resource turns out shared or the run ends), and of
//!   in-process state (shared by the scenarios of one process);
//! - every action of a scenario that failed or never ended, the victims'
//!   windows (an action waits in its open scenario until the scenario ends,
//!   up to [`PER_SCENARIO`]).
//!
//! Everything else (reads, HTTP calls, private writes, passing scenarios'
//! inner actions) is aggregated. Findings come from the analysis at the end
//! and are always drawn (arrow or badge on their bars); a polluter's
//! mutation is a shared-state mutation, so it is a marker too.
//!
//! Runs of up to [`FULL_DETAIL_RECORDS`] records (the page's old budget of
//! 100,000 plus a margin), and any run with `--detail full`, keep every
//! action: the page then looks as it always did.
//!
//! The parts: `select` decides what is drawn one by one, `aggregate`
//! counts the rest, `page` writes the page's bytes, `decode` reads a
//! page's data back; this file follows the run and owns the state.

mod aggregate;
mod decode;
mod page;
mod select;

use std::io::{self, Write};
use std::sync::Arc;

use state_tracer_format::{Action, Resource};

use crate::engine::resources::Target;
use crate::engine::state::Scn;
use crate::engine::track::{Step, Tracked, Tracker};
use crate::input::discover::Run;
use crate::input::record::{FastMap, Micros};
use crate::model::ScenarioOutcome;
use crate::Tap;

use super::timeline::{BarOutcome, MarkerKind, ProcIdx, ScenarioIdx, Summary};
use aggregate::Bucket;
pub use decode::expand;
use page::{Counting, Drawn, LodInfo, Strings, OUTCOMES};

/// `--detail`: how much of a big run the HTML page draws one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Detail {
    /// Every action up to 125,000 records; above, what matters for triage
    /// one by one and the rest aggregated.
    #[default]
    Auto,
    /// Every action, however big the page gets.
    Full,
    /// Always aggregate, even a small run (what a big run's page looks like).
    Summary,
}

/// Runs of at most this many records are drawn at full detail: the page's
/// budget of 100,000 records (loaded in about half a second) plus a margin.
/// The decision waits for the count: until it is passed, actions are kept
/// as candidates, then sorted as a summarised page would have.
pub const FULL_DETAIL_RECORDS: u64 = 125_000;
/// Most markers a summarised page draws one by one; the rest is aggregated.
pub const MARKER_BUDGET: usize = 100_000;
/// Most actions of one failed or unfinished scenario drawn one by one.
pub const PER_SCENARIO: usize = 2_000;
/// Most mutations kept waiting per resource until it turns out shared, and
/// in all (the rest of a private resource's mutations is aggregated).
pub const PENDING_PER_RESOURCE: usize = 256;
pub const PENDING_TOTAL: usize = 65_536;
/// The page's version of the view model: 3 is the compact encoding below
/// (2 was the same content as objects, three times the bytes).
pub const PAGE_VERSION: u32 = 3;

/// An action not yet drawn or counted: small, and without the text it
/// would be drawn with (built only for the actions drawn).
struct Mark {
    t_us: i64,
    proc: u32,
    lane: u32,
    scenario: Option<u32>,
    kind: MarkerKind,
    action: Action,
    mutation: bool,
    res: Option<Target>,
    /// The recorded resource of an action that is no access (a schema
    /// switch, a transaction): shown as recorded, as the engine's timeline does.
    recorded: Option<Arc<Resource<'static>>>,
    details: Option<Arc<str>>,
}

/// Writes the HTML page of a run while the merge streams it.
pub struct HtmlStream<'w> {
    out: Counting<'w>,
    detail: Detail,
    full: bool,
    /// `--detail auto` below its record count: everything kept, as
    /// candidates that can still be sorted out.
    provisional: bool,
    candidates: Vec<Mark>,
    records: u64,
    /// The page's head and `{"scenarios":[` are written at the first record.
    started: bool,
    run_id: String,
    /// Whether `begin` saw a run (else there is nothing to draw).
    begun: bool,
    /// Lanes per process, known once the last record is seen.
    lanes: Vec<u32>,
    origin: Micros,
    /// Each scenario's bar (process, start, end), for the findings, and
    /// whether it failed or never ended.
    bars: Vec<(ProcIdx, i64, i64, bool)>,
    markers: Vec<Drawn>,
    strings: Strings,
    /// The start of the scenario row written last (rows give theirs as a
    /// difference to it).
    last_start: i64,
    /// Actions of open scenarios, waiting for the outcome.
    in_scenario: FastMap<u32, Vec<Mark>>,
    /// Mutations of resources only one process touched so far.
    in_resource: FastMap<Target, Vec<Mark>>,
    pending: usize,
    buckets: FastMap<(u32, u32, i64), Bucket>,
    width: i64,
    scenarios: u32,
    summary: Summary,
    lod: LodInfo,
    marker_bytes: u64,
    error: Option<io::Error>,
}

impl<'w> HtmlStream<'w> {
    pub fn new(out: &'w mut dyn Write, detail: Detail) -> Self {
        HtmlStream {
            out: Counting {
                inner: out,
                bytes: 0,
            },
            detail,
            full: detail == Detail::Full,
            provisional: false,
            candidates: Vec::new(),
            records: 0,
            started: false,
            run_id: String::new(),
            begun: false,
            lanes: Vec::new(),
            origin: 0,
            bars: Vec::new(),
            markers: Vec::new(),
            strings: Strings::default(),
            last_start: 0,
            in_scenario: FastMap::default(),
            in_resource: FastMap::default(),
            pending: 0,
            buckets: FastMap::default(),
            width: 1,
            scenarios: 0,
            summary: Summary::default(),
            lod: LodInfo::default(),
            marker_bytes: 0,
            error: None,
        }
    }

    /// Writes a scenario's bar; `error` is its `SCENARIO_END`'s.
    fn scenario(
        &mut self,
        track: &Tracker,
        s: &Scn,
        end: Micros,
        error: Option<&str>,
    ) -> io::Result<()> {
        let outcome: BarOutcome = s.outcome().into();
        match outcome {
            BarOutcome::Failed => self.summary.failures += 1,
            BarOutcome::Unfinished => self.summary.unfinished += 1,
            _ => {}
        }
        let start_us = s.start - self.origin;
        let end_us = (end - self.origin).max(start_us);
        let victim = matches!(outcome, BarOutcome::Failed | BarOutcome::Unfinished);
        if self.bars.len() <= s.id {
            self.bars.resize(s.id + 1, (0, 0, 0, false));
        }
        self.bars[s.id] = (s.file, start_us, end_us, victim);
        if self.scenarios > 0 {
            self.out.write_all(b",")?;
        }
        self.scenarios += 1;
        // [id, proc, lane, feature, name, outcome, start − previous row's
        // start, end − start, error?]: rows come in end order, so starts
        // are close to each other.
        let feature = self.strings.id(&s.feature);
        let outcome = OUTCOMES.iter().position(|&o| o == outcome).unwrap_or(0);
        write!(self.out, "[{},{},{},{feature},", s.id, s.file, s.slot)?;
        self.json(&&*s.name)?;
        write!(
            self.out,
            ",{outcome},{},{}",
            start_us - self.last_start,
            end_us - start_us
        )?;
        self.last_start = start_us;
        if let Some(error) = error {
            self.out.write_all(b",")?;
            self.json(&error)?;
        }
        self.out.write_all(b"]")?;
        // Its waiting actions: drawn if it failed or never ended.
        if let Some(marks) = self.in_scenario.remove(&(s.id as ScenarioIdx)) {
            for m in marks {
                if victim {
                    self.keep(track, m);
                } else {
                    self.settle(track, m);
                }
            }
        }
        Ok(())
    }

    fn record_inner(&mut self, t: &Tracked<'_>, track: &Tracker) -> io::Result<()> {
        self.records += 1;
        if self.provisional && self.records > FULL_DETAIL_RECORDS {
            self.summarise(track);
        }
        if !self.begun {
            return Ok(());
        }
        let rec = t.rec;
        self.start(rec.ts)?;
        match (t.step, &t.scn) {
            (Step::End, Some(s)) => {
                let end = s.end.get().unwrap_or(rec.ts).max(s.start);
                self.scenario(track, s, end, rec.error())?;
            }
            (Step::Action, scn) => {
                let resource = t.target();
                let shared = resource.filter(|&r| track.shared(r));
                let m = Mark {
                    t_us: rec.ts - self.origin,
                    proc: rec.file,
                    lane: scn.as_ref().map_or(0, |s| s.slot),
                    scenario: scn.as_ref().map(|s| s.id as ScenarioIdx),
                    kind: MarkerKind::of(rec.action.kind()),
                    action: rec.action,
                    mutation: t.mutation(),
                    res: resource,
                    recorded: rec.resource.clone().filter(|_| resource.is_none()),
                    details: rec
                        .extra
                        .as_ref()
                        .and_then(|e| e.details.clone().or_else(|| e.name.clone())),
                };
                // A resource just found shared draws its waiting mutations.
                if let Some(waiting) = shared.and_then(|r| self.in_resource.remove(&r)) {
                    self.pending -= waiting.len();
                    for w in waiting {
                        self.keep(track, w);
                    }
                }
                if self.full {
                    self.keep(track, m);
                } else {
                    match scn {
                        Some(s) if s.end.get().is_none() => {
                            let waiting = self.in_scenario.entry(s.id as ScenarioIdx).or_default();
                            if waiting.len() < PER_SCENARIO {
                                waiting.push(m);
                            } else {
                                self.settle(track, m);
                            }
                        }
                        // After-hooks of a failed scenario belong to its window.
                        Some(s) if s.outcome() == ScenarioOutcome::Failed => self.keep(track, m),
                        _ => self.settle(track, m),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The last record was seen: what still needs the run's interpretation
    /// (resource labels, open scenarios, lanes) is settled now.
    fn end_inner(&mut self, track: &Tracker) -> io::Result<()> {
        self.lanes = (0..track.view().procs.len() as u32)
            .map(|f| track.slots(f))
            .collect();
        if !self.started {
            return Ok(());
        }
        if self.provisional {
            // Small enough: every candidate is drawn.
            self.provisional = false;
            for m in std::mem::take(&mut self.candidates) {
                self.keep(track, m);
            }
        }
        // Scenarios that never ended run to their process's last record.
        for s in track.open() {
            let last = track.last(s.file).unwrap_or(s.last.get()).max(s.last.get());
            self.scenario(track, s, last, None)?;
        }
        Ok(())
    }
}

impl Tap for HtmlStream<'_> {
    fn begin(&mut self, run: &Run) {
        self.run_id = run.id.clone();
        self.full = self.detail != Detail::Summary;
        self.provisional = self.detail == Detail::Auto;
        self.begun = true;
    }

    fn record(&mut self, t: &Tracked<'_>, track: &Tracker) {
        if self.error.is_none() {
            if let Err(e) = self.record_inner(t, track) {
                self.error = Some(e);
            }
        }
    }

    fn end(&mut self, track: &Tracker) {
        if self.error.is_none() {
            if let Err(e) = self.end_inner(track) {
                self.error = Some(e);
            }
        }
    }
}
