//! Activation from the environment, checked in child processes (the
//! environment and the global subscriber are process-wide).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

/// Child entry point: does nothing in a normal test run.
#[test]
fn child() {
    let Some(role) = child_role() else { return };
    if role == "builder" {
        return builder_child();
    }
    assert_eq!(role, "emit");
    // libtest's threads already run; the run ID was exported before main.
    println!(
        "run_id_before_init={}",
        std::env::var("BDD_TRACE_RUN_ID").unwrap_or_default()
    );
    let guard = state_tracer::init();
    println!("init={}", guard.is_some());
    println!(
        "run_id_env={}",
        std::env::var("BDD_TRACE_RUN_ID").unwrap_or_default()
    );
    let grandchild = Command::new("sh")
        .args(["-c", "printf %s \"$BDD_TRACE_RUN_ID\""])
        .output()
        .unwrap();
    println!("grandchild_run_id={}", stdout(&grandchild));
    let s = state_tracer::scenario("env", "Activation");
    {
        let _in = s.enter();
        state_tracer::custom("hello", "world");
        state_tracer::db_cleanup(None, &[]);
        state_tracer::jwt_set(b"not-recorded");
    }
    drop(s);
    drop(guard);
}

/// A layer built explicitly while the environment leaves tracing off: its
/// run ID is generated after start-up, so it must stay out of the
/// environment (threads exist) and is handed out by the guard instead.
fn builder_child() {
    let dir = std::env::var("TRACE_TEST_DIR").unwrap();
    let (layer, guard) = state_tracer::StateLayer::builder()
        .dir(dir)
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    drop(layer);
    println!("guard_run_id={}", guard.run_id());
    println!(
        "run_id_env={}",
        std::env::var("BDD_TRACE_RUN_ID").unwrap_or_default()
    );
    let grandchild = Command::new("sh")
        .args(["-c", "printf %s \"$BDD_TRACE_RUN_ID\""])
        .env("BDD_TRACE_RUN_ID", guard.run_id())
        .output()
        .unwrap();
    println!("grandchild_run_id={}", stdout(&grandchild));
}

fn line_value(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in child output:\n{out}"))
        .to_owned()
}

#[test]
fn nothing_is_created_or_written_when_tracing_is_off() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("traces");
    for state in [None, Some("0"), Some("off"), Some("")] {
        let mut cmd = spawn_child("child", "emit");
        cmd.env("BDD_TRACE_DIR", &dir);
        if let Some(v) = state {
            cmd.env("BDD_TRACE_STATE", v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(line_value(&stdout(&out), "init"), "false");
        assert!(
            !dir.exists(),
            "trace dir created with BDD_TRACE_STATE={state:?}"
        );
        assert!(!stderr(&out).contains("state-tracer"), "{}", stderr(&out));
    }
}

#[test]
fn one_safe_file_per_process_with_header_events_and_footer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new").join("traces");
    let out = spawn_child("child", "emit")
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", &dir)
        .env("BDD_TRACE_RUN_ID", "ci/42")
        .env("BDD_TRACE_PROCESS", "auth-features")
        .env("BDD_SCHEMA_ISOLATION", "false")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(line_value(&stdout(&out), "init"), "true");

    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "missing trace dir is created 0700");
    let trace = only_trace(&dir);
    let name = trace.path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("bdd-state-trace-ci_42-"), "{name}");
    assert!(name.ends_with(".jsonl"), "{name}");
    let file_mode = std::fs::metadata(&trace.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(file_mode, 0o600);

    let h = &trace.header;
    assert_eq!(h.run_id, "ci/42");
    assert_eq!(h.process, "auth-features");
    assert_eq!(h.version, 1);
    assert!(
        name.contains(&format!("-{}-", h.pid)),
        "pid {} in {name}",
        h.pid
    );
    assert_eq!(h.ppid, Some(std::process::id()));
    assert!(h.tracer.starts_with("state-tracer "));
    assert!(h
        .config
        .iter()
        .any(|(k, v)| k == "BDD_SCHEMA_ISOLATION" && v == "false"));
    assert!(h.config.iter().any(|(k, v)| k == "flush" && v == "line"));

    assert_eq!(
        trace.actions(),
        [
            "PROCESS_START",
            "SCENARIO_START",
            "CUSTOM",
            "DB_CLEANUP",
            "JWT_SET",
            "SCENARIO_END",
            "PROCESS_END"
        ]
    );
    let in_scenario = trace.of_scenario("Activation");
    assert_eq!(in_scenario.len(), 5);
    assert!(in_scenario
        .iter()
        .all(|e| e.feature.as_deref() == Some("env")));
    let ids: Vec<_> = in_scenario.iter().map(|e| e.scenario_id).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.is_some()));
    trace.assert_gapless();
    assert!(trace.footer.is_some());
}

#[test]
fn nextest_run_id_is_the_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = emit(tmp.path(), &[("NEXTEST_RUN_ID", "nextest-7")]).0;
    assert_eq!(trace.header.run_id, "nextest-7");
}

/// Runs the `emit` child with tracing on into `dir` (plus `env`); returns
/// its trace file and its output.
fn emit(dir: &std::path::Path, env: &[(&str, &str)]) -> (Trace, std::process::Output) {
    let mut cmd = spawn_child("child", "emit");
    cmd.env("BDD_TRACE_STATE", "true").env("BDD_TRACE_DIR", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (only_trace(dir), out)
}

/// With no run ID in the environment, a child of this test process has
/// the same nearest `cargo` ancestor as this process (the `cargo test` or
/// `cargo nextest run` running us), so its run ID is that cargo's; run
/// with no cargo above (the binary started by hand) it is generated.
fn assert_derived(run_id: &str) {
    match state_tracer::config::cargo_run_id() {
        Some(cargo) => {
            assert!(cargo.starts_with("cargo-"), "{cargo}");
            assert_eq!(run_id, cargo);
        }
        None => assert!(run_id.starts_with("run-"), "{run_id}"),
    }
}

/// Two children with no run ID in the environment, started directly by a
/// process with no `cargo` above it: `sh` re-parented to init by a double
/// fork. Their IDs are generated, one each.
#[test]
fn without_a_cargo_ancestor_each_process_generates_its_own_run_id() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..2 {
        let mut cmd = spawn_child("child", "emit");
        cmd.env("BDD_TRACE_STATE", "1")
            .env("BDD_TRACE_DIR", tmp.path().join(format!("d{i}")));
        // `( ... ) &`: the outer shell exits at once, so the subshell is
        // orphaned and adopted by init (or a subreaper), out of cargo's
        // process tree; it starts `cmd` only once the outer shell is gone
        // (`$$` in a subshell is still the outer shell's pid).
        let exe = cmd.get_program().to_owned();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        cmd = Command::new("sh");
        let done = tmp.path().join(format!("done{i}"));
        cmd.arg("-c")
            .arg(concat!(
                r#"outer=$$; ( while kill -0 "$outer" 2>/dev/null; do sleep 0.01; done; "#,
                r#""$0" "$@" > "$DONE.tmp" 2>&1; mv "$DONE.tmp" "$DONE" ) &"#
            ))
            .arg(exe)
            .args(args)
            .env("DONE", &done)
            .env(CHILD_ENV, "emit")
            .env("BDD_TRACE_STATE", "1")
            .env("BDD_TRACE_DIR", tmp.path().join(format!("d{i}")));
        for (k, _) in std::env::vars() {
            if k.starts_with("BDD_TRACE_") && k != "BDD_TRACE_STATE" && k != "BDD_TRACE_DIR"
                || k == "NEXTEST_RUN_ID"
            {
                cmd.env_remove(k);
            }
        }
        assert!(cmd.status().unwrap().success());
        // Completion, not time: the orphan renames its output when it exits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !done.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "child {i} never finished"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let a = only_trace(&tmp.path().join("d0")).header.run_id.to_string();
    let b = only_trace(&tmp.path().join("d1")).header.run_id.to_string();
    assert!(a.starts_with("run-") && b.starts_with("run-"), "{a} {b}");
    assert_ne!(a, b);
}

#[test]
fn a_generated_run_id_is_inherited_by_children_spawned_later() {
    let tmp = tempfile::tempdir().unwrap();
    let (trace, out) = emit(tmp.path(), &[]);
    let run_id = trace.header.run_id.to_string();
    assert_derived(&run_id);
    let text = stdout(&out);
    assert_eq!(line_value(&text, "run_id_before_init"), run_id);
    assert_eq!(line_value(&text, "run_id_env"), run_id);
    assert_eq!(line_value(&text, "grandchild_run_id"), run_id);
}

#[test]
fn a_run_id_generated_after_start_up_stays_out_of_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let out = spawn_child("child", "builder")
        .env("TRACE_TEST_DIR", tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let run_id = only_trace(tmp.path()).header.run_id.to_string();
    assert_derived(&run_id);
    let text = stdout(&out);
    assert_eq!(line_value(&text, "guard_run_id"), run_id);
    assert_eq!(line_value(&text, "run_id_env"), "");
    assert_eq!(line_value(&text, "grandchild_run_id"), run_id);
}

#[test]
fn every_flush_mode_writes_the_same_complete_file() {
    for (mode, label) in [
        ("interval:20", "interval:20"),
        ("fsync", "fsync"),
        ("bogus", "line"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = spawn_child("child", "emit")
            .env("BDD_TRACE_STATE", "1")
            .env("BDD_TRACE_DIR", tmp.path())
            .env("BDD_TRACE_FLUSH", mode)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let trace = only_trace(tmp.path());
        assert!(trace
            .header
            .config
            .iter()
            .any(|(k, v)| k == "flush" && v == label));
        assert_eq!(trace.events.len(), 7, "{mode}");
        trace.assert_gapless();
        if mode == "bogus" {
            assert!(
                stderr(&out).contains("invalid BDD_TRACE_FLUSH"),
                "{}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn a_relative_trace_dir_is_recorded_absolute() {
    let tmp = tempfile::tempdir().unwrap();
    let out = spawn_child("child", "emit")
        .current_dir(tmp.path())
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", "rel/traces")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tmp.path().join("rel").join("traces");
    let trace = only_trace(&dir);
    let recorded = trace
        .header
        .config
        .iter()
        .find(|(k, _)| k == "dir")
        .map(|(_, v)| v.to_string());
    assert_eq!(recorded, Some(dir.display().to_string()));
}

/// The header records the database the run used, so a printed repro line
/// can set it again, never with its password.
#[test]
fn the_database_url_is_recorded_with_its_password_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = spawn_child("child", "emit")
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", tmp.path())
        .env(
            "DATABASE_URL",
            "postgres://app:s3cret@db.internal:5432/shop",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let trace = only_trace(tmp.path());
    let recorded = trace
        .header
        .config
        .iter()
        .find(|(k, _)| k == "DATABASE_URL")
        .map(|(_, v)| v.to_string());
    assert_eq!(
        recorded.as_deref(),
        Some("postgres://app:***@db.internal:5432/shop")
    );
    for f in std::fs::read_dir(tmp.path()).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
    }
}

#[test]
fn the_header_is_record_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = emit(tmp.path(), &[]).0;
    let first = trace.raw.lines().next().unwrap();
    let header: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(header["type"], "header");
    assert_eq!(header["seq"], 0, "{first}");
    assert_eq!(trace.events[0].seq, 1);
}
