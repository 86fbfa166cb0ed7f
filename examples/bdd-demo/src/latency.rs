//! Network latency of the services the app calls (template and identity
//! services). The pollution window in the greet feature is the time such a
//! call takes between a scenario's insert and its read, so it varies per call
//! like a real round trip; `BDD_SEED` makes a run repeatable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A tiny splitmix64 generator: enough for jitter, no dependency.
#[derive(Debug)]
pub struct Jitter {
    state: AtomicU64,
}

impl Jitter {
    /// Seeded from `seed` when given, else from the clock and the pid.
    pub fn new(seed: Option<u64>, salt: &str) -> Jitter {
        let base = seed.unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ ((std::process::id() as u64) << 32)
        });
        let salt = salt.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        Jitter {
            state: AtomicU64::new(base ^ salt),
        }
    }

    fn next(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration uniformly drawn from `lo_ms..=hi_ms`.
    pub fn between(&self, lo_ms: u64, hi_ms: u64) -> Duration {
        let span = hi_ms.saturating_sub(lo_ms) + 1;
        Duration::from_millis(lo_ms + self.next() % span)
    }

    /// Waits like a remote call of that latency would, and records it as an
    /// HTTP request in the trace.
    pub async fn remote_call(&self, method: &str, path: &str, lo_ms: u64, hi_ms: u64) {
        let started = Instant::now();
        tokio::time::sleep(self.between(lo_ms, hi_ms)).await;
        state_tracer::http_request(method, path, 200, started.elapsed());
    }
}
