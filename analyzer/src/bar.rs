//! A tiny progress bar on stderr for long analyses, shown only when stderr
//! is a terminal and the input is large (so pipes and CI logs stay clean).
//! The library reports progress through [`trace_analyzer::Progress`]; only
//! the binary draws.

use std::io::{IsTerminal, Write};

/// Inputs smaller than this finish too fast to need a bar.
const LARGE: u64 = 64 << 20;

/// The bar, drawn on stderr.
#[derive(Default)]
pub struct Bar;

impl trace_analyzer::Progress for Bar {
    fn start(&mut self, total: u64) -> bool {
        total >= LARGE && std::io::stderr().is_terminal()
    }

    fn tick(&mut self, done: u64, total: u64) {
        let pct = done * 100 / total.max(1);
        let filled = (pct / 4).min(25) as usize;
        let _ = write!(
            std::io::stderr(),
            "\r[{}{}] {:>3}% {} / {} MiB",
            "#".repeat(filled),
            " ".repeat(25 - filled),
            pct,
            done >> 20,
            total >> 20
        );
    }

    fn done(&mut self) {
        let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(60));
    }
}
