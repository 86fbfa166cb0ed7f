//! Parse throughput of v1 files: the reader (`v1::read`, with the fast
//! scanner of `read::v1_scan`) against `serde_json` alone on the same lines,
//! both ending in the report's records (`to_rec`). Files are read into
//! memory first, so disk and page cache stay out of the figures.
//!
//! ```sh
//! cargo run --release -p trace-analyzer --example v1_parse -- /tmp/bench/big/v1/*.jsonl
//! ```

use std::time::{Duration, Instant};

use state_tracer_format::Event;
use trace_analyzer::read::v1_scan::EVENT_PREFIX;
use trace_analyzer::read::{v1, Problems, ReadOptions};
use trace_analyzer::record::Interner;

const ROUNDS: usize = 5;

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: v1_parse FILE.jsonl...");
        std::process::exit(2);
    }
    let files: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    let opts = ReadOptions::default();
    let mut best = [Duration::MAX; 2];
    let mut records = [0u64; 2];
    // Interleaved rounds, best of each: the machine may be shared.
    for _ in 0..ROUNDS {
        let start = Instant::now();
        records[0] = 0;
        for f in &files {
            let mut problems = Problems::new(String::new());
            v1::read(&f[..], 0, &opts, &mut problems, &mut |_| records[0] += 1);
        }
        best[0] = best[0].min(start.elapsed());

        let start = Instant::now();
        records[1] = 0;
        for f in &files {
            let mut interner = Interner::default();
            for (i, line) in f.split(|&b| b == b'\n').enumerate() {
                let Ok(line) = std::str::from_utf8(line) else {
                    continue;
                };
                if !line.starts_with(EVENT_PREFIX) {
                    continue;
                }
                if let Ok(e) = serde_json::from_str::<Event<'_>>(line) {
                    let _rec = v1::to_rec(e, 0, i as u64 + 1, false, &mut interner);
                    records[1] += 1;
                }
            }
        }
        best[1] = best[1].min(start.elapsed());
    }
    println!(
        "{} files, {:.0} MB, best of {ROUNDS}:",
        files.len(),
        bytes as f64 / 1e6
    );
    for (name, (t, n)) in ["v1::read (scanner)", "serde_json only"]
        .iter()
        .zip(best.iter().zip(records))
    {
        println!(
            "  {name:20} {n} records  {:7.1} ms  {:6.0} MB/s  {:5.0} ns/record",
            t.as_secs_f64() * 1e3,
            bytes as f64 / t.as_secs_f64() / 1e6,
            t.as_nanos() as f64 / n.max(1) as f64
        );
    }
}
