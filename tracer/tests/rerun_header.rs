//! The header's re-run template, written by a real libtest binary (this
//! one): a test thread of a `target/*/deps/NAME-<hash>` binary is libtest,
//! or nextest when nextest runs it.

mod common;

use common::only_trace;

#[test]
fn a_test_of_a_libtest_binary_records_how_to_rerun_one_test() {
    let dir = tempfile::tempdir().unwrap();
    let (_layer, guard) = state_tracer::StateLayer::builder()
        .dir(dir.path())
        .run_id("rerun")
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    drop(guard);
    let header = only_trace(dir.path()).header;
    let rerun = header.rerun.expect("a rerun template");
    let argv: Vec<&str> = rerun.argv.iter().map(|a| a.as_ref()).collect();
    if std::env::var_os("NEXTEST_RUN_ID").is_some() {
        assert_eq!(rerun.framework, "nextest");
        assert_eq!(argv[..4], ["cargo", "nextest", "run", "-E"]);
        assert!(argv[4].ends_with("test(={scenario})"), "{argv:?}");
    } else {
        assert_eq!(rerun.framework, "libtest");
        assert_eq!(argv[0], header.argv[0], "this very binary");
        assert_eq!(argv[argv.len() - 2..], ["--exact", "{scenario}"]);
    }
}
