//! Faults: write errors, many threads, SIGKILL, panics. The tracer must
//! never fail the traced process and never leave a broken record behind.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;

use common::*;
use state_tracer::format::{Action, Outcome};
use tracing_subscriber::layer::SubscriberExt;

/// Child entry point: does nothing in a normal test run.
#[test]
fn child() {
    let Some(role) = child_role() else { return };
    let guard = state_tracer::init().expect("tracing on in child");
    match role.as_str() {
        "write_error" => {
            // Space is back (the disk was cleaned up): the footer makes it.
            with_a_full_disk(|| {});
            println!("survived");
        }
        "interval_write_error" => {
            // Interval mode: the flusher thread's buffered write fails.
            with_a_full_disk(|| {
                // Wait (no time limit is asserted) until the flusher has
                // tried: the file then holds more than its header.
                while std::fs::metadata(guard.path()).unwrap().len() < 2048 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            });
            println!("survived");
        }
        "killed" => {
            for i in 0u64.. {
                state_tracer::custom("tick", &i.to_string());
                // Printed only after the record's write returned.
                println!("{i}");
            }
        }
        "panics" => {
            let s = state_tracer::scenario("faults", "Panicking scenario");
            let _in = s.enter();
            state_tracer::custom("before", "the panic");
            panic!("boom in the scenario");
        }
        "exits" => {
            state_tracer::custom("last", "words");
            // No guard drop: the footer comes from the exit(3) hook.
            std::process::exit(3);
        }
        other => panic!("unknown role {other}"),
    }
    drop(guard);
}

/// Writes 500 records under a 4 KiB file size limit, then runs `then`
/// before lifting the limit again. A real write failure: SIGXFSZ would kill
/// us, so it is ignored and `write(2)` fails with EFBIG instead.
fn with_a_full_disk(then: impl FnOnce()) {
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut lim: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim);
        let saved = lim;
        lim.rlim_cur = 4096;
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        for i in 0..500 {
            state_tracer::custom(
                "fill",
                &format!("record {i} with some padding to fill the file"),
            );
        }
        then();
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &saved), 0);
    }
}

fn traced(role: &str, dir: &std::path::Path) -> std::process::Command {
    let mut cmd = spawn_child("child", role);
    cmd.env("BDD_TRACE_STATE", "1").env("BDD_TRACE_DIR", dir);
    cmd
}

#[test]
fn a_write_error_warns_once_counts_drops_and_keeps_the_file_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let out = traced("write_error", tmp.path()).output().unwrap();
    assert_drops_are_counted(&out, tmp.path());
}

#[test]
fn a_failed_interval_write_counts_the_records_it_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let out = traced("interval_write_error", tmp.path())
        .env("BDD_TRACE_FLUSH", "interval:10")
        .output()
        .unwrap();
    let trace = assert_drops_are_counted(&out, tmp.path());
    assert!(trace
        .header
        .config
        .iter()
        .any(|(k, v)| k == "flush" && v == "interval:10"));
}

/// The child survived a write failure with one warning, and its file says
/// exactly how many records were lost, where.
fn assert_drops_are_counted(out: &std::process::Output, dir: &std::path::Path) -> Trace {
    assert!(
        out.status.success(),
        "traced process failed: {}",
        stderr(out)
    );
    assert!(stdout(out).contains("survived"));
    let warnings = stderr(out)
        .matches("state-tracer: cannot write trace file")
        .count();
    assert_eq!(warnings, 1, "exactly one warning:\n{}", stderr(out));

    let trace = only_trace(dir); // every line parses
    let footer = trace
        .footer
        .as_ref()
        .expect("footer written once space is back");
    assert!(footer.dropped > 0, "{footer:?}");
    assert_eq!(footer.records + footer.dropped, footer.seq);
    assert_eq!(footer.records, trace.events.len() as u64 + 1);
    // The gaps in seq are exactly the dropped records.
    let mut expected = 1;
    let mut gaps = 0;
    for e in &trace.events {
        gaps += e.seq - expected;
        expected = e.seq + 1;
    }
    gaps += footer.seq - expected;
    assert_eq!(gaps, footer.dropped);
    assert!(trace.raw.ends_with('\n'));
    assert!(std::fs::metadata(&trace.path).unwrap().len() <= 4096 + 512);
    trace
}

#[test]
fn eight_threads_of_ten_thousand_records_are_complete_and_gapless() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, guard) = state_tracer::StateLayer::builder()
        .dir(tmp.path())
        .run_id("threads")
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let dispatch = Arc::new(dispatch);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let d = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&d, || {
                    for i in 0..10_000 {
                        state_tracer::custom(
                            "load",
                            &format!("thread {t} record {i} \"quoted\" \n"),
                        );
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(guard);
    let trace = only_trace(tmp.path());
    let custom: Vec<_> = trace
        .events
        .iter()
        .filter(|e| e.action == Action::Custom)
        .collect();
    assert_eq!(custom.len(), 80_000);
    trace.assert_gapless();
    // Each thread's records are all there, in its own order.
    for t in 0..8 {
        let prefix = format!("thread {t} record ");
        let mine: Vec<u64> = custom
            .iter()
            .filter_map(|e| {
                e.details
                    .as_deref()?
                    .strip_prefix(&prefix)?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        assert_eq!(mine, (0..10_000).collect::<Vec<u64>>());
    }
    let tids: std::collections::HashSet<u64> = custom.iter().map(|e| e.tid).collect();
    assert_eq!(tids.len(), 8);
}

#[test]
fn sigkill_loses_nothing_that_was_emitted_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = traced("killed", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_seen = 0u64;
    for line in lines.by_ref() {
        let Ok(n) = line.unwrap().trim().parse::<u64>() else {
            continue;
        };
        last_seen = n;
        if n >= 3000 {
            break;
        }
    }
    assert!(
        last_seen >= 3000,
        "the child stopped printing at record {last_seen}, before the kill"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    // Drain what it printed before dying: all of it was emitted.
    for line in lines {
        if let Ok(n) = line.unwrap_or_default().trim().parse::<u64>() {
            last_seen = last_seen.max(n);
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");

    let files = testkit::trace_files(tmp.path());
    assert_eq!(files.len(), 1);
    let trace = read_trace(&files[0]); // every line parses
    assert!(trace.footer.is_none(), "no footer after SIGKILL");
    assert!(
        trace.raw.ends_with('\n'),
        "trailing record complete or absent"
    );
    trace.assert_gapless();
    let ticks: Vec<u64> = trace
        .events
        .iter()
        .filter(|e| e.name.as_deref() == Some("tick"))
        .map(|e| e.details.as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ticks, (0..ticks.len() as u64).collect::<Vec<_>>());
    assert!(
        ticks.len() as u64 > last_seen,
        "record {last_seen} was emitted before the kill but only {} are in the file",
        ticks.len()
    );
}

#[test]
fn a_panicking_scenario_ends_failed_and_the_footer_is_still_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = traced("panics", tmp.path()).output().unwrap();
    assert!(!out.status.success(), "the child test panics");
    assert!(stderr(&out).contains("boom in the scenario"));
    let trace = only_trace(tmp.path());
    let end = trace
        .events
        .iter()
        .find(|e| e.action == Action::ScenarioEnd)
        .expect("SCENARIO_END");
    assert_eq!(end.outcome, Some(Outcome::Failed));
    assert_eq!(end.scenario.as_deref(), Some("Panicking scenario"));
    assert_eq!(end.error.as_deref(), Some("panicked"));
    assert!(trace.footer.is_some(), "footer written despite the panic");
    trace.assert_gapless();
}

#[test]
fn process_exit_without_dropping_the_guard_still_writes_the_footer_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = traced("exits", tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let trace = only_trace(tmp.path());
    assert_eq!(trace.actions().last(), Some(&"PROCESS_END"));
    assert!(trace.footer.is_some());
    assert_eq!(trace.raw.matches("\"type\":\"footer\"").count(), 1);
    trace.assert_gapless();
}
