//! Per-file sequence-number diagnostics for v1 files: tells records that
//! were lost (a gap never filled), duplicated (a number seen before) and
//! reordered (a missing number arriving late) apart, and counts them all.
//!
//! The tracer numbers records 1, 2, 3… in file order (`docs/format.md`), so
//! in a sound file every record is the previous one plus one and this costs
//! one comparison per record; the bookkeeping below runs only on anomalies.

use crate::input::read::options::Problems;

/// Anomalies warned about one by one per file; the rest only counted.
const SHOWN: u32 = 3;

/// Gaps remembered per file (a file with more is already badly damaged;
/// numbers filling a forgotten gap count as duplicates).
const MAX_GAPS: usize = 1024;

/// What a record's sequence number says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seq {
    /// The next number, or one after a gap.
    InOrder,
    /// The previous record again, line for line (same number, time and
    /// action): skip it, it would count twice.
    DuplicateLine,
    /// A number seen before, on a different record: kept.
    Repeated,
    /// A number missing so far, arriving late: kept.
    Late,
}

/// Sequence bookkeeping for one file.
#[derive(Debug, Default)]
pub struct SeqCheck {
    /// Highest number seen (0: none yet; the header is 0).
    max: u64,
    /// The previous record: number, time, action name.
    prev: Option<(u64, i64, &'static str)>,
    /// Missing numbers so far, as inclusive ranges in order, each with the
    /// line that jumped over it.
    gaps: Vec<(u64, u64, u64)>,
    /// Line of the jump that opened each gap's range (for the outlier rule).
    jump: Option<Jump>,
    /// An out-of-place number already seen, skipped over when reached.
    ahead: Option<u64>,
    duplicated: u64,
    reordered: u64,
    shown: u32,
}

/// A record that jumped ahead, remembered until the next record says
/// whether it opened a real gap or was itself out of place.
#[derive(Debug, Clone, Copy)]
struct Jump {
    /// Number the file was expecting before the jump.
    expected: u64,
    /// The number that jumped.
    seq: u64,
    line: u64,
    /// Previous maximum, restored if the jump was an outlier.
    max_before: u64,
}

impl SeqCheck {
    /// Checks one event's number; `ts` and `action` identify a repeated line.
    pub fn see(
        &mut self,
        seq: u64,
        ts: i64,
        action: &'static str,
        no: u64,
        problems: &mut Problems,
    ) -> Seq {
        let prev = self.prev.replace((seq, ts, action));
        let expected = self.max + 1;
        if seq == expected {
            self.max = seq;
            if self.ahead == Some(seq + 1) {
                self.max += 1;
                self.ahead = None;
            }
            self.jump = None;
            return Seq::InOrder;
        }
        if let Some(j) = self.jump.take() {
            if seq == j.expected {
                // The file went on where it was before the jump: that one
                // record carried a wrong number (or was misplaced), the
                // numbers in between were not lost.
                self.gaps.pop();
                self.max = j.max_before.max(seq);
                self.ahead = Some(j.seq);
                if j.seq == seq + 1 {
                    // Two neighbours swapped: both are now seen.
                    self.max = j.seq;
                    self.ahead = None;
                }
                self.reordered += 1;
                self.note(
                    problems,
                    j.line,
                    format!(
                        "sequence number {} out of place (expected {}; the next record continues from {}): a reordered or damaged record; kept",
                        j.seq,
                        j.expected,
                        seq
                    ),
                );
                return Seq::InOrder;
            }
        }
        if seq > expected {
            if self.gaps.len() < MAX_GAPS {
                self.gaps.push((expected, seq - 1, no));
            }
            self.jump = Some(Jump {
                expected,
                seq,
                line: no,
                max_before: self.max,
            });
            self.max = seq;
            return Seq::InOrder;
        }
        if prev == Some((seq, ts, action)) {
            self.duplicated += 1;
            self.note(
                problems,
                no,
                format!("duplicated line (sequence number {seq}, same time and action as the line before); skipped"),
            );
            return Seq::DuplicateLine;
        }
        if let Some(i) = self.gaps.iter().position(|&(a, b, _)| a <= seq && seq <= b) {
            let (a, b, line) = self.gaps[i];
            match (seq == a, seq == b) {
                (true, true) => {
                    self.gaps.remove(i);
                }
                (true, false) => self.gaps[i].0 = seq + 1,
                (false, true) => self.gaps[i].1 = seq - 1,
                (false, false) => {
                    self.gaps[i].1 = seq - 1;
                    self.gaps.insert(i + 1, (seq + 1, b, line));
                }
            }
            self.reordered += 1;
            self.note(
                problems,
                no,
                format!(
                    "sequence number {seq} arrives after {}: a reordered record; kept",
                    self.max
                ),
            );
            return Seq::Late;
        }
        self.duplicated += 1;
        self.note(
            problems,
            no,
            format!("sequence number {seq} seen before (the file is at {}): a duplicated or damaged record; kept", self.max),
        );
        Seq::Repeated
    }

    /// The footer takes the next number: a gap before it is lost records.
    pub fn see_footer(&mut self, seq: u64, no: u64, problems: &mut Problems) {
        self.see(seq, i64::MIN, "footer", no, problems);
    }

    /// One warning per kind of anomaly, with every record counted, at the
    /// end of the file.
    pub fn finish(&mut self, problems: &mut Problems) {
        let lost: u64 = self.gaps.iter().map(|&(a, b, _)| b - a + 1).sum();
        let mut parts = Vec::new();
        let mut line = 0;
        if lost > 0 {
            let (a, b, at) = self.gaps[0];
            line = at;
            let first = if a == b {
                format!("{a}")
            } else {
                format!("{a}–{b}")
            };
            parts.push(format!(
                "{lost} lost (numbers never seen, in {}, the first {first} before this line)",
                crate::count(self.gaps.len() as u64, "gap", "gaps")
            ));
        }
        if self.duplicated > 0 {
            parts.push(format!("{} duplicated", self.duplicated));
        }
        if self.reordered > 0 {
            parts.push(format!("{} out of order", self.reordered));
        }
        if !parts.is_empty() {
            problems.push(
                line,
                format!("sequence numbers: records {}", parts.join(", ")),
            );
        }
        self.gaps.clear();
        self.duplicated = 0;
        self.reordered = 0;
    }

    fn note(&mut self, problems: &mut Problems, no: u64, message: String) {
        if self.shown < SHOWN {
            self.shown += 1;
            problems.push(no, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds numbers (time = number, one action) and returns the verdicts
    /// and the warnings.
    fn run(seqs: &[u64]) -> (Vec<Seq>, Vec<String>) {
        let mut p = Problems::new("f".into());
        let mut c = SeqCheck::default();
        let v = seqs
            .iter()
            .enumerate()
            .map(|(i, &s)| c.see(s, s as i64, "A", i as u64 + 2, &mut p))
            .collect();
        c.finish(&mut p);
        (
            v,
            p.into_warnings().into_iter().map(|w| w.message).collect(),
        )
    }

    fn summary(w: &[String]) -> &str {
        w.last().map(String::as_str).unwrap_or("")
    }

    #[test]
    fn a_sound_file_says_nothing() {
        let (v, w) = run(&[1, 2, 3, 4]);
        assert!(v.iter().all(|&s| s == Seq::InOrder));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn a_gap_is_lost_records() {
        let (_, w) = run(&[1, 2, 5, 6, 9]);
        assert_eq!(
            summary(&w),
            "sequence numbers: records 4 lost (numbers never seen, in 2 gaps, the first 3–4 before this line)"
        );
    }

    #[test]
    fn a_duplicated_line_is_skipped_not_lost() {
        let (v, w) = run(&[1, 2, 3, 4, 5, 5, 6]);
        assert_eq!(v[5], Seq::DuplicateLine);
        assert_eq!(summary(&w), "sequence numbers: records 1 duplicated");
        assert!(w[0].contains("duplicated line"), "{w:?}");
    }

    #[test]
    fn a_step_back_is_reordered_not_lost() {
        let (_, w) = run(&[1, 3, 2, 4]);
        assert_eq!(summary(&w), "sequence numbers: records 1 out of order");
        // One record far ahead, then the file continues: out of place.
        let (_, w) = run(&[1, 2, 3, 4, 5, 6, 7, 2_000_007, 8, 9]);
        assert_eq!(
            summary(&w),
            "sequence numbers: records 1 out of order",
            "{w:?}"
        );
        assert!(w[0].contains("2000007 out of place"), "{w:?}");
    }

    #[test]
    fn every_anomaly_is_counted_though_few_are_shown() {
        let (_, w) = run(&[1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(w.len(), SHOWN as usize + 1, "{w:?}");
        assert_eq!(summary(&w), "sequence numbers: records 5 duplicated");
    }
}
