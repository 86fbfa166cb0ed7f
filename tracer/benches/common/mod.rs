//! What both tracer benches record, and how they time it.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::Duration;

/// The benchmark event's free text (31 bytes, nothing to escape or mask).
pub const DETAILS: &str = "order 42 shipped to warehouse B";

/// The benchmark event, through a typed helper.
pub fn helper() {
    state_tracer::custom("bench", black_box(DETAILS));
}

/// The same record from a plain `tracing` event, as code without a
/// dependency on the crate would emit it.
pub fn plain_event() {
    tracing::info!(target: "bdd_state", action = "CUSTOM", name = "bench", details = black_box(DETAILS));
}

/// This thread's CPU time (user + kernel, so a `write(2)` counts).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The CPU time of `iters` calls of `f`.
pub fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        f();
    }
    thread_cpu() - start
}
