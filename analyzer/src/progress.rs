//! A tiny progress bar on stderr for long analyses, shown only when stderr
//! is a terminal and the input is large (so pipes and CI logs stay clean).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Inputs smaller than this finish too fast to need a bar.
const LARGE: u64 = 64 << 20;

/// Byte-based progress, updated by the readers.
pub struct Progress {
    total: u64,
    read: Arc<AtomicU64>,
}

impl Progress {
    /// A bar when asked for, the input is large and stderr is a terminal.
    pub fn maybe(wanted: bool, total: u64) -> Option<Progress> {
        (wanted && total >= LARGE && std::io::stderr().is_terminal()).then(|| Progress {
            total,
            read: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn counter(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }

    /// Redraws the bar.
    pub fn tick(&self) {
        let done = self.read.load(Ordering::Relaxed).min(self.total);
        let pct = done * 100 / self.total.max(1);
        let filled = (pct / 4) as usize;
        let _ = write!(
            std::io::stderr(),
            "\r[{}{}] {:>3}% {} / {} MiB",
            "#".repeat(filled),
            " ".repeat(25 - filled),
            pct,
            done >> 20,
            self.total >> 20
        );
    }

    /// Clears the bar.
    pub fn done(&self) {
        let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(60));
    }
}
