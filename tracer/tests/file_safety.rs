//! Trace files are created safely in folders other people can write to.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn a_symlink_at_the_target_name_is_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let planted = tmp.path().join("bdd-state-trace-planted.jsonl");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let err = state_tracer::file::create_new(&planted).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // A dangling symlink is refused too (O_EXCL), so nothing is created at its target.
    let dangling = tmp.path().join("bdd-state-trace-dangling.jsonl");
    let target = tmp.path().join("would-be-created");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    assert!(state_tracer::file::create_new(&dangling).is_err());
    assert!(!target.exists());
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bdd-state-trace-existing.jsonl");
    std::fs::write(&path, "old contents\n").unwrap();
    assert!(state_tracer::file::create_new(&path).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old contents\n");
}

#[test]
fn new_files_are_0600_and_unrelated_files_are_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let others = [
        ("notes.txt", "keep me"),
        (
            "bdd-state-trace-20260411-101053-12345.log",
            "legacy go trace",
        ),
        (
            "bdd-state-trace-x-20260411T101053.000000Z-1-00000000.jsonl",
            "{}\n",
        ),
    ];
    for (name, text) in others {
        std::fs::write(tmp.path().join(name), text).unwrap();
    }
    let before: Vec<_> = others
        .iter()
        .map(|(n, _)| {
            std::fs::metadata(tmp.path().join(n))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let paths: Vec<_> = (0..3)
        .map(|_| {
            let (layer, guard) = state_tracer::StateLayer::builder()
                .dir(tmp.path())
                .run_id("x")
                .build::<tracing_subscriber::Registry>()
                .unwrap();
            let path = guard.path().to_owned();
            drop(layer);
            drop(guard);
            path
        })
        .collect();
    // Three processes' worth of files in the same second never collide.
    let unique: std::collections::HashSet<_> = paths.iter().collect();
    assert_eq!(unique.len(), 3);
    for p in &paths {
        assert_eq!(
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let trace = read_trace(p);
        assert!(trace.footer.is_some());
    }
    for ((name, text), mtime) in others.iter().zip(before) {
        let path = tmp.path().join(name);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), *text);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    }
    assert_eq!(testkit::trace_files(tmp.path()).len(), 5);
}

#[test]
fn an_existing_folder_keeps_its_permissions_and_a_missing_one_is_0700() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let nested = tmp.path().join("a/b");
    let (_l, g) = state_tracer::StateLayer::builder()
        .dir(&nested)
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    assert_eq!(
        std::fs::metadata(&nested).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(tmp.path()).unwrap().permissions().mode() & 0o777,
        0o755
    );
    drop(g);
}
