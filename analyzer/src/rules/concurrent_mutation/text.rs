//! A `concurrent-mutation` finding's text, built only for the findings
//! that reach the report (see [`crate::rules::PairText`]).

use state_tracer_format::Action;

use super::Strength;
use crate::engine::state::{describe, Proc, Scn};
use crate::input::record::{to_time, Micros};

/// What one occurrence's explanation and `why` are built from, kept in
/// its pending finding instead of the text: most findings are folded into
/// hazard groups and their text is never shown, so it is built only for
/// those that reach the report ([`crate::rules::PairText::render`]).
#[derive(Clone, Copy)]
pub struct MutationText {
    /// When the mutation ended, and began.
    pub(super) at: Micros,
    pub(super) started: Micros,
    pub(super) action: Action,
    pub(super) level: Strength,
    /// [`super::Use`], for the mutation.
    pub(super) before: Option<Micros>,
    pub(super) after: Option<(Micros, bool)>,
    pub(super) wrote_before: Option<Micros>,
    pub(super) overlap: bool,
}

impl MutationText {
    /// The explanation (polluter `a`, victim `b`, on `resource`) and the
    /// strength's reason in words.
    pub(crate) fn render(
        &self,
        a: &Scn,
        b: &Scn,
        resource: &str,
        procs: &[Proc],
    ) -> (String, String) {
        let describe = |s: &Scn| describe(s, procs);
        let explanation = format!(
            "{} ran {} on {} at {} while {} (started {}) was running and uses it.",
            describe(a),
            self.action,
            resource,
            to_time(self.at).format("%H:%M:%S%.6f"),
            describe(b),
            to_time(b.start).format("%H:%M:%S%.6f"),
        );
        (explanation, self.why())
    }

    /// Why [`super::level`] is what it is, in words.
    fn why(&self) -> String {
        let hms = |t: Micros| to_time(t).format("%H:%M:%S%.6f").to_string();
        let action = self.action;
        match (self.level, self.before, self.after) {
            (Strength::RemovedNothing, _, _) => {
                format!("{action} removed 0 rows: it cannot have removed the victim's data")
            }
            (Strength::DestroyedAfterWrite, _, Some((a, _))) if self.overlap => format!(
                "{} ran from {} to {}; the victim's last write ended at {} and its read at {}, so the database may have run the {} between them (the trace cannot order overlapping statements)",
                action,
                hms(self.started),
                hms(self.at),
                hms(self.wrote_before.unwrap_or(self.started)),
                hms(a),
                action
            ),
            (Strength::DestroyedAfterWrite, _, Some((a, _))) => format!(
                "{} after the victim's last write (at {}) and before it read the state back (at {})",
                action,
                hms(self.wrote_before.unwrap_or(self.at)),
                hms(a)
            ),
            (_, _, None) => format!("the victim used it only before the {action}"),
            (Strength::DestroyedInWindow, Some(b), Some((a, _))) => format!(
                "{} inside the victim's window: it used the state at {} and again at {}",
                action,
                hms(b),
                hms(a)
            ),
            (Strength::DestroyedReadFull, _, Some((a, _))) => format!(
                "{} before the victim read the state (at {}), and that read returned as many rows as the same query ever had: it removed nothing the victim reads",
                action,
                hms(a)
            ),
            (Strength::DestroyedBeforeInsert, _, Some((a, _))) => format!(
                "{} before the victim first used the state, with an insert (at {}): it removed nothing the victim had written or read",
                action,
                hms(a)
            ),
            (Strength::ChangedInWindow, Some(b), Some((a, _))) => format!(
                "{} of rows others wrote, between the victim's uses of the table (at {} and at {}): it changed what the victim had seen",
                action,
                hms(b),
                hms(a)
            ),
            (Strength::DestroyedThenUsed, _, Some((a, _))) => format!(
                "{} before the victim first used the state (at {}): it removed nothing the victim had written",
                action,
                hms(a)
            ),
            (_, _, Some((a, read))) => format!(
                "non-destructive {}; the victim {} it afterwards (at {})",
                action,
                if read { "read" } else { "only wrote" },
                hms(a)
            ),
        }
    }
}
