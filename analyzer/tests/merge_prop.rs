//! Property: `merge` outputs every input record exactly once, ordered by
//! (wall time, file, sequence), whatever the interleaving of the files.
//!
//! Files are long enough to span several of the merger's 1,024-record
//! batches (so batch hand-over and buffer reuse are exercised), and wall
//! clocks occasionally step back inside a file. A file that is not in
//! time order cannot be merged into one sorted timeline; the merge must
//! then still be the k-way merge of the files as written: each file in its
//! own order, and at every step the smallest (time, file, sequence) among
//! the files' next records. A reference merge computes exactly that.

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use proptest::prelude::*;
use state_tracer_format::Action;
use trace_analyzer::discover::discover;
use trace_analyzer::merge::Merger;
use trace_analyzer::read::ReadOptions;
use trace_analyzer::record::RecKind;

/// One record's identity: (wall time µs, pid, sequence number).
type Key = (i64, u32, u64);

/// A file's time steps: mostly forward gaps (ties across files are common),
/// sometimes a step back of up to 50 ms.
fn steps() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(
        prop_oneof![
            40 => 0i64..6,
            1 => -50i64..0,
        ],
        0..3000,
    )
}

/// Writes the files; returns each file's records in file order.
fn write(dir: &std::path::Path, files: &[Vec<i64>]) -> Vec<Vec<Key>> {
    let mut out = Vec::new();
    for (i, steps) in files.iter().enumerate() {
        let pid = 100 + i as u32;
        let mut p = common::Proc::new(pid, "p");
        let mut ms = 100;
        let mut keys = Vec::new();
        for (seq, step) in steps.iter().enumerate() {
            ms = (ms + step).max(0);
            p.act(ms, None, Action::Custom, None);
            keys.push((common::t(ms).timestamp_micros(), pid, seq as u64 + 1));
        }
        p.write(dir);
        out.push(keys);
    }
    out
}

/// The k-way merge of the files as written, smallest head first; the
/// files' index breaks ties of time the way the merger does (pids here
/// grow with the file index).
fn reference(files: &[Vec<Key>]) -> Vec<Key> {
    let mut heads = BinaryHeap::new();
    for (i, f) in files.iter().enumerate() {
        if let Some(&k) = f.first() {
            heads.push(Reverse((k.0, i, k.2, 0usize)));
        }
    }
    let mut out = Vec::new();
    while let Some(Reverse((_, i, _, at))) = heads.pop() {
        out.push(files[i][at]);
        if let Some(&k) = files[i].get(at + 1) {
            heads.push(Reverse((k.0, i, k.2, at + 1)));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_the_k_way_merge_of_the_files_across_batches_and_clock_steps(
        files in prop::collection::vec(steps(), 1..6),
        borrowed in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let written = write(dir.path(), &files);
        let d = discover(&[dir.path().to_path_buf()], &Default::default());
        let run = &d.runs[0];
        let pid_of: Vec<u32> = run.files.iter().map(|f| f.pid).collect();
        prop_assert!(pid_of.windows(2).all(|w| w[0] < w[1]), "files in pid order");
        let mut m = Merger::new(&run.files, &ReadOptions::default());
        let mut got: Vec<Key> = Vec::new();
        let mut keep = |rec: &trace_analyzer::record::Rec| {
            if rec.kind != RecKind::Footer {
                got.push((rec.ts, pid_of[rec.file as usize], rec.seq));
            }
        };
        // The report borrows records where the readers put them; merge
        // takes them: both paths.
        if borrowed {
            while let Some(rec) = m.next_ref() {
                keep(rec);
            }
        } else {
            for rec in m.by_ref() {
                keep(&rec);
            }
        }
        let ends = m.finish();
        prop_assert!(ends.iter().all(|(_, w)| w.is_empty()));
        let total: usize = written.iter().map(Vec::len).sum();
        prop_assert_eq!(got.len(), total, "each record exactly once");
        prop_assert_eq!(&got, &reference(&written));
        let in_order = written
            .iter()
            .all(|f| f.windows(2).all(|w| w[0].0 <= w[1].0));
        if in_order {
            prop_assert!(got.windows(2).all(|w| (w[0].0, w[0].1) <= (w[1].0, w[1].1)));
        }
    }
}
