//! Property: `merge` outputs every input record exactly once, ordered by
//! (wall time, file, sequence), whatever the interleaving of the files.

mod common;

use proptest::prelude::*;
use state_tracer::format::Action;
use trace_analyzer::discover::discover;
use trace_analyzer::merge::Merger;
use trace_analyzer::read::ReadOptions;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn merge_outputs_every_record_once_in_order(
        files in prop::collection::vec(prop::collection::vec(0i64..40, 0..60), 1..6)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = Vec::new();
        for (i, gaps) in files.iter().enumerate() {
            let mut p = common::Proc::new(100 + i as u32, "p");
            let mut ms = 0;
            for (seq, gap) in gaps.iter().enumerate() {
                ms += gap; // equal times across files are common: ties
                p.act(ms, None, Action::Custom, None);
                expected.push((common::t(ms).timestamp_micros(), 100 + i as u32, seq as u64 + 1));
            }
            p.write(dir.path());
        }
        let d = discover(&[dir.path().to_path_buf()], &Default::default());
        let run = &d.runs[0];
        let pid_of: Vec<u32> = run.files.iter().map(|f| f.pid).collect();
        let mut m = Merger::new(&run.files, &ReadOptions::default());
        let mut got = Vec::new();
        let mut keys = Vec::new();
        for rec in m.by_ref() {
            if rec.kind == trace_analyzer::record::RecKind::Footer {
                continue;
            }
            keys.push(rec.order_key());
            got.push((rec.ts, pid_of[rec.file as usize], rec.seq));
        }
        let ends = m.finish();
        prop_assert!(ends.iter().all(|(_, w)| w.is_empty()));
        prop_assert!(keys.windows(2).all(|w| w[0] <= w[1]), "not in (time, file, seq) order");
        let mut a = got.clone();
        let mut b = expected.clone();
        a.sort();
        b.sort();
        prop_assert_eq!(a, b, "each record exactly once");
    }
}
