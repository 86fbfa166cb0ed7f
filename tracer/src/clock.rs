//! The writer's clock: `CLOCK_MONOTONIC` and the wall clock, read through
//! the CPU's time-stamp counter where the kernel itself trusts that counter.
//!
//! Every record needs a timestamp, and in a virtual machine the vDSO's
//! `clock_gettime` costs about 20 ns (it fences before reading the
//! counter), a fifth of what a whole line-mode record may add to its
//! `write(2)`; `rdtsc` costs about 7 ns. So when the kernel's clocksource
//! is `tsc` (it has checked that the counter is invariant and synchronized
//! across CPUs), a reading is interpolated from the counter: between
//! *anchors*, each a (counter, `CLOCK_MONOTONIC`, wall clock) triple, at the
//! rate measured between the last two anchors. An anchor is taken when the
//! interpolation would reach past four times the last anchor interval (so
//! the first rates, measured over a millisecond or so, are used briefly)
//! and at least once a second, which also keeps the wall clock's
//! adjustments within a second, as before. Anywhere else (another
//! architecture, another clocksource) every reading is one `clock_gettime`.
//!
//! Readings never go backwards: each is at least the previous one.

use std::time::{SystemTime, UNIX_EPOCH};

/// Anchors are at most this far apart, in ns.
const MAX_ANCHOR_INTERVAL: u64 = 1_000_000_000;
/// The first rate is measured over at least this long, in ns.
const MIN_RATE_BASELINE: u64 = 1_000_000;

pub(crate) struct Clock {
    /// The counter may be used (x86-64, kernel clocksource `tsc`).
    counter: bool,
    /// The last anchor.
    anchor: Anchor,
    /// ns per counter tick, as a 32.32 fixed-point number; 0 until a rate
    /// has been measured.
    rate: u64,
    /// Ticks after `anchor` that may be interpolated.
    reach: u64,
    /// The last reading (`CLOCK_MONOTONIC`, ns), for the clamp.
    last: u64,
}

#[derive(Clone, Copy)]
struct Anchor {
    ticks: u64,
    mono: u64,
    /// Wall clock minus `CLOCK_MONOTONIC`, in ns.
    wall_offset: u64,
}

/// One reading: `CLOCK_MONOTONIC` and wall-clock time (since the Unix
/// epoch), both in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    pub mono: u64,
    pub wall: u64,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock::with_counter(counter_trusted())
    }

    /// A clock that uses the counter only if `counter` (and it exists).
    pub(crate) fn with_counter(counter: bool) -> Clock {
        let counter = counter && cfg!(target_arch = "x86_64");
        let mut clock = Clock {
            counter,
            anchor: Anchor {
                ticks: 0,
                mono: 0,
                wall_offset: 0,
            },
            rate: 0,
            reach: 0,
            last: 0,
        };
        clock.anchor = clock.take_anchor();
        clock.last = clock.anchor.mono;
        clock
    }

    /// Whether readings come from the counter (once a rate is known).
    #[cfg(test)]
    pub(crate) fn uses_counter(&self) -> bool {
        self.counter
    }

    #[inline(always)]
    pub(crate) fn now(&mut self) -> Reading {
        if self.rate != 0 {
            let elapsed = ticks().wrapping_sub(self.anchor.ticks);
            // A counter behind the anchor wraps to a huge value: re-anchor.
            if elapsed < self.reach {
                let mono =
                    self.anchor.mono + ((u128::from(elapsed) * u128::from(self.rate)) >> 32) as u64;
                let mono = mono.max(self.last);
                self.last = mono;
                return Reading {
                    mono,
                    wall: mono.wrapping_add(self.anchor.wall_offset),
                };
            }
        }
        self.reanchor()
    }

    #[cold]
    fn reanchor(&mut self) -> Reading {
        let prev = self.anchor;
        let next = self.take_anchor();
        let interval = next.mono.saturating_sub(prev.mono);
        if !self.counter {
            self.anchor = next;
        } else if next.ticks > prev.ticks && interval >= MIN_RATE_BASELINE {
            let ticks = next.ticks - prev.ticks;
            self.rate =
                u64::try_from((u128::from(interval) << 32) / u128::from(ticks)).unwrap_or(0);
            let horizon = interval.saturating_mul(4).min(MAX_ANCHOR_INTERVAL);
            self.reach = if self.rate == 0 {
                0
            } else {
                u64::try_from((u128::from(horizon) << 32) / u128::from(self.rate)).unwrap_or(0)
            };
            self.anchor = next;
        } else if next.ticks <= prev.ticks {
            // The counter went backwards (a migration, a host's doing):
            // measure afresh from here.
            self.rate = 0;
            self.anchor = next;
        }
        // Else too soon to measure a rate: keep the older anchor as its start.
        let mono = next.mono.max(self.last);
        self.last = mono;
        Reading {
            mono,
            wall: mono.wrapping_add(next.wall_offset),
        }
    }

    /// Reads the counter, `CLOCK_MONOTONIC` and the wall clock together.
    /// The counter is read on both sides of the monotonic clock and the
    /// midpoint kept; a pair that far apart (the thread was preempted
    /// between the reads) is read again.
    fn take_anchor(&self) -> Anchor {
        let mut best = None;
        for _ in 0..4 {
            let before = if self.counter { ticks() } else { 0 };
            let mono = monotonic_ns();
            let after = if self.counter { ticks() } else { 0 };
            let spread = after.wrapping_sub(before);
            let ticks = before.wrapping_add(spread / 2);
            if best.is_none_or(|(_, _, s)| spread < s) {
                best = Some((ticks, mono, spread));
            }
            if spread < 20_000 {
                break; // a few microseconds at any plausible counter rate
            }
        }
        let (ticks, mono, _) = best.unwrap_or((0, monotonic_ns(), 0));
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        Anchor {
            ticks,
            mono,
            wall_offset: wall.wrapping_sub(mono),
        }
    }
}

/// The time-stamp counter (0 where there is none, which is never used).
#[inline(always)]
fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc exists on every x86-64 CPU and has no side effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Whether the kernel keeps time with the counter: then it is invariant
/// and synchronized across CPUs (the kernel checks both before choosing it,
/// and switches away from it if it misbehaves).
fn counter_trusted() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc")
}

/// `CLOCK_MONOTONIC` in nanoseconds (what `Instant` reads, without its
/// `Duration` arithmetic).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into the timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reading lies between `CLOCK_MONOTONIC` read just before and
    /// just after it (give or take `tolerance_ns`), readings never
    /// decrease, and the wall clock agrees with `SystemTime` likewise.
    fn agrees_with_the_os_clock(mut clock: Clock, tolerance_ns: u64) -> Clock {
        let mut last = 0;
        let deadline = monotonic_ns() + 1_300_000_000;
        let mut readings = 0u64;
        while monotonic_ns() < deadline {
            for _ in 0..1000 {
                let before = monotonic_ns();
                let wall_before = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64;
                let r = clock.now();
                let after = monotonic_ns();
                let wall_after = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64;
                assert!(r.mono >= last, "went backwards: {} after {last}", r.mono);
                assert!(
                    r.mono + tolerance_ns >= before && r.mono <= after + tolerance_ns,
                    "reading {} outside [{before}, {after}] ± {tolerance_ns} ns",
                    r.mono
                );
                // The wall clock may be stepped by NTP meanwhile; allow a
                // millisecond on top.
                assert!(
                    r.wall + tolerance_ns + 1_000_000 >= wall_before
                        && r.wall <= wall_after + tolerance_ns + 1_000_000,
                    "wall {} outside [{wall_before}, {wall_after}]",
                    r.wall
                );
                last = r.mono;
                readings += 1;
            }
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        assert!(readings > 10_000);
        clock
    }

    #[test]
    fn counter_readings_track_clock_monotonic() {
        // Interpolation error stays around a microsecond; 20 us leaves room
        // for a host that adjusts the guest's clock.
        let clock = agrees_with_the_os_clock(Clock::new(), 20_000);
        if clock.uses_counter() {
            assert_ne!(clock.rate, 0, "readings were interpolated from the counter");
            assert!(clock.reach > 0);
        }
    }

    #[test]
    fn without_the_counter_every_reading_is_the_os_clock() {
        let clock = Clock::with_counter(false);
        assert!(!clock.uses_counter());
        agrees_with_the_os_clock(clock, 0);
    }

    #[test]
    fn a_counter_behind_its_anchor_falls_back_to_the_os_clock() {
        let mut clock = Clock::new();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let _ = clock.now();
        // As if the thread had moved to a CPU whose counter is far behind.
        clock.anchor.ticks = ticks().wrapping_add(1 << 50);
        let before = monotonic_ns();
        let r = clock.now();
        assert!(r.mono >= before);
        assert_eq!(
            clock.rate, 0,
            "a fresh rate is measured from the new anchor"
        );
    }
}
