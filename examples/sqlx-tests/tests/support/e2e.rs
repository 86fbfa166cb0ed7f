//! End to end: runs this binary's ignored tests for real, the way a user
//! would, with tracing on, and checks that the analyzer names the polluter
//! and the victim by their test names:
//!
//! - under `cargo test`: the test binary itself, tests as threads of one
//!   process (`--ignored --test-threads=4`);
//! - under nextest: `cargo nextest run` as a process per test, reusing this
//!   very binary (`--binaries-metadata`, written here, plus `cargo metadata
//!   --no-deps`), so nothing is built and the outer cargo's build lock is
//!   never needed. NEXTEST_RUN_ID joins the processes into one run.
//!
//! Each on a fresh SQLite file and on a real PostgreSQL started here. The
//! pollution is real and depends on timing (a 300 ms window in the victim),
//! so each check retries a few times until the victim actually fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::nested::{text, without_outer_run};

use serde_json::{json, Value};

const VICTIM: &str = "transfer_moves_money_between_accounts";
const POLLUTER: &str = "monthly_report_cleans_up_after_itself";
const ATTEMPTS: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Runner {
    CargoTest,
    Nextest,
}

/// One traced run: whether the victim failed, what the runner printed, and
/// the analyzer's JSON report.
struct Run {
    victim_failed: bool,
    output: String,
    report: Value,
}

/// Creates the table before the tests run, as a suite's migrations would.
fn migrate(db_url: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            sqlx_tests::connect_to(db_url).await?.close().await;
            Ok::<_, sqlx::Error>(())
        })
        .expect("create the accounts table");
}

fn run(runner: Runner, db_url: &str, traces: &Path) -> Run {
    migrate(db_url);
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match runner {
        Runner::CargoTest => {
            let mut c = Command::new(&exe);
            c.args(["--ignored", "--test-threads=4"]);
            c
        }
        Runner::Nextest => nextest_command(&exe, traces),
    };
    let out = without_outer_run(&mut cmd)
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", traces)
        .env("DATABASE_URL", db_url)
        .env("NO_COLOR", "1")
        .output()
        .expect("the test runner starts");
    let output = text(&out);
    let victim_failed_at_all = match runner {
        Runner::CargoTest => output.contains(&format!("test {VICTIM} ... FAILED")),
        Runner::Nextest => output
            .lines()
            .any(|l| l.contains("FAIL [") && l.trim_end().ends_with(VICTIM)),
    };
    assert_eq!(
        !out.status.success(),
        victim_failed_at_all,
        "only the victim can fail:\n{output}"
    );
    // ... and only because its accounts were deleted under it.
    let victim_failed = victim_failed_at_all && output.contains("bob's account");
    assert_eq!(victim_failed, victim_failed_at_all, "{output}");
    let analysis = trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
        inputs: vec![traces.to_path_buf()],
        ..Default::default()
    })
    .run()
    .expect("the run's traces are analyzable");
    let report = serde_json::to_value(&analysis.report).unwrap();
    Run {
        victim_failed,
        output,
        report,
    }
}

/// `cargo nextest run` over this already-built binary only.
fn nextest_command(exe: &Path, scratch: &Path) -> Command {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tools_dir = scratch.with_extension("nextest");
    std::fs::create_dir_all(&tools_dir).unwrap();
    let meta = Command::new(&cargo)
        .args(["metadata", "--format-version=1", "--no-deps", "--offline"])
        .current_dir(manifest_dir)
        .output()
        .expect("cargo metadata runs");
    assert!(
        meta.status.success(),
        "{}",
        String::from_utf8_lossy(&meta.stderr)
    );
    let metadata: Value = serde_json::from_slice(&meta.stdout).unwrap();
    let package_id = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == env!("CARGO_PKG_NAME"))
        .expect("this package in cargo metadata")["id"]
        .clone();
    let cargo_metadata = tools_dir.join("cargo-metadata.json");
    std::fs::write(&cargo_metadata, &meta.stdout).unwrap();

    // <target>/<profile>/deps/<binary>-<hash>
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let binary_id = format!("{}::{}", env!("CARGO_PKG_NAME"), env!("CARGO_CRATE_NAME"));
    let binaries = json!({
        "rust-build-meta": {
            "target-directory": target_dir,
            "base-output-directories": [profile_dir.file_name().unwrap().to_str()],
            "non-test-binaries": {},
            "build-script-out-dirs": {},
            "linked-paths": [],
            "target-platforms": [],
            "target-platform": null,
        },
        "rust-binaries": {
            &binary_id: {
                "binary-id": binary_id,
                "binary-name": env!("CARGO_CRATE_NAME"),
                "package-id": package_id,
                "kind": "test",
                "binary-path": exe,
                "build-platform": "target",
            }
        }
    });
    let binaries_metadata = tools_dir.join("binaries-metadata.json");
    std::fs::write(&binaries_metadata, binaries.to_string()).unwrap();

    let mut c = Command::new(cargo);
    c.arg("nextest")
        .arg("run")
        .arg("--binaries-metadata")
        .arg(&binaries_metadata)
        .arg("--cargo-metadata")
        .arg(&cargo_metadata)
        .arg("--workspace-remap")
        .arg(metadata["workspace_root"].as_str().unwrap())
        .args([
            "--run-ignored",
            "only",
            "--test-threads",
            "4",
            "--no-fail-fast",
        ])
        .current_dir(manifest_dir);
    c
}

/// nextest is a tool like the others: missing fails, unless opted out.
fn nextest_available() -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            testkit::allow_missing_tools(),
            "cargo-nextest not installed: run scripts/setup.sh (or set {}=1 to skip)",
            testkit::ALLOW_MISSING_TOOLS
        );
        eprintln!("SKIPPED: cargo-nextest not installed");
    }
    ok
}

/// Runs until the victim fails (bounded), then checks the finding.
fn polluter_is_named(runner: Runner, db_url: impl Fn(u32) -> String) {
    let root = tempfile::tempdir().unwrap();
    for attempt in 0..ATTEMPTS {
        let traces: PathBuf = root.path().join(format!("traces-{attempt}"));
        let url = db_url(attempt);
        let run = run(runner, &url, &traces);
        if !run.victim_failed {
            continue;
        }
        let findings = run.report["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let finding = findings
            .iter()
            .find(|f| f["victim"]["scenario"] == VICTIM && f["polluter"]["scenario"] == POLLUTER)
            .unwrap_or_else(|| {
                panic!(
                    "no finding names {POLLUTER} as {VICTIM}'s polluter: {:#}\n{}",
                    run.report, run.output
                )
            });
        assert_eq!(finding["rule"], "concurrent-mutation", "{finding:#}");
        assert_eq!(finding["victim"]["outcome"], "FAILED", "{finding:#}");
        assert_eq!(finding["victim"]["feature"], "pollution", "{finding:#}");
        assert!(
            finding["resource"]
                .as_str()
                .unwrap_or("")
                .contains("accounts"),
            "{finding:#}"
        );
        let same_process = finding["polluter"]["pid"] == finding["victim"]["pid"];
        assert_eq!(same_process, runner == Runner::CargoTest, "{finding:#}");
        // One run: cargo test is one process; nextest's are joined by NEXTEST_RUN_ID.
        let processes = run.report["processes"].as_array().map(Vec::len);
        let expected = if runner == Runner::CargoTest { 1 } else { 3 };
        assert_eq!(processes, Some(expected), "{:#}", run.report["processes"]);
        // Every test process wrote its footer at exit (the attribute keeps
        // the tracer's guard for the life of the process).
        for p in run.report["processes"].as_array().unwrap() {
            assert_eq!(p["crashed"], false, "{p:#}");
        }
        if runner == Runner::CargoTest {
            repro_runs_as_printed(finding, &url);
        }
        // Under nextest each process is labelled as nextest names its test.
        if runner == Runner::Nextest {
            let mut labels: Vec<&str> = run.report["processes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["label"].as_str().unwrap())
                .collect();
            labels.sort();
            assert_eq!(
                labels,
                [
                    "sqlx-tests::pollution an_unknown_owner_has_no_balance",
                    "sqlx-tests::pollution monthly_report_cleans_up_after_itself",
                    "sqlx-tests::pollution transfer_moves_money_between_accounts",
                ]
            );
        }
        return;
    }
    panic!("the victim never failed in {ATTEMPTS} runs under {runner:?}");
}

/// Runs the finding's printed "Reproduce:" line with `sh -c`, from a
/// scratch folder and with none of the tracing or database variables in
/// its environment: whatever the replay needs, the line must carry. Its
/// traces are one run, of both tests, on the traced run's database.
fn repro_runs_as_printed(finding: &Value, db_url: &str) {
    let line = finding["reproduce"]["command"]
        .as_str()
        .unwrap_or_else(|| panic!("no reproduce line: {finding:#}"));
    let scratch = tempfile::tempdir().unwrap();
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(line).current_dir(scratch.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("BDD_") || k.starts_with("NEXTEST") || k == "DATABASE_URL" {
            sh.env_remove(k);
        }
    }
    let out = sh
        .env("PWD", scratch.path())
        .output()
        .expect("sh runs the reproduce line");
    let output = text(&out);
    // Traces where the line says, nowhere else.
    let at = scratch.path().join("bdd-traces");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&at)
        .unwrap_or_else(|e| panic!("no {}: {e}\n{line}\n{output}", at.display()))
        .map(|d| d.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}\n{line}\n{output}");
    let analysis = trace_analyzer::Analyzer::new(&trace_analyzer::AnalyzeOptions {
        inputs: vec![dirs[0].clone()],
        timeline: true,
        ..Default::default()
    })
    .run()
    .expect("the repro's traces are analyzable");
    let report = &analysis.report;
    assert!(report.run_id.starts_with("repro-"), "{}", report.run_id);
    assert_eq!(report.other_runs, Vec::<String>::new(), "one run: {line}");
    let mut ran: Vec<String> = analysis
        .timeline
        .expect("asked for")
        .scenarios
        .iter()
        .map(|s| s.name.clone())
        .collect();
    ran.sort();
    assert_eq!(ran, [POLLUTER, VICTIM], "only the pair: {line}\n{output}");
    // On the traced run's database: the headers record what the line set.
    for file in std::fs::read_dir(&dirs[0]).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(header["config"]["DATABASE_URL"], db_url, "{line}");
    }
}

fn sqlite(dir: &Path) -> impl Fn(u32) -> String + '_ {
    move |attempt| format!("sqlite://{}/shared-{attempt}.db?mode=rwc", dir.display())
}

fn postgres() -> testkit::Postgres {
    testkit::Postgres::start().expect("PostgreSQL server binaries (scripts/setup.sh installs them)")
}

fn pg_database(pg: &testkit::Postgres) -> impl Fn(u32) -> String + '_ {
    move |attempt| {
        let name = format!("shared_{attempt}");
        pg.create_database(&name).unwrap();
        pg.url_for(&name)
    }
}

#[test]
fn cargo_test_threads_on_sqlite_name_the_polluting_test() {
    let db = tempfile::tempdir().unwrap();
    polluter_is_named(Runner::CargoTest, sqlite(db.path()));
}

#[test]
fn cargo_test_threads_on_postgres_name_the_polluting_test() {
    let pg = postgres();
    polluter_is_named(Runner::CargoTest, pg_database(&pg));
}

#[test]
fn nextest_processes_on_sqlite_name_the_polluting_test() {
    if !nextest_available() {
        return;
    }
    let db = tempfile::tempdir().unwrap();
    polluter_is_named(Runner::Nextest, sqlite(db.path()));
}

#[test]
fn nextest_processes_on_postgres_name_the_polluting_test() {
    if !nextest_available() {
        return;
    }
    let pg = postgres();
    polluter_is_named(Runner::Nextest, pg_database(&pg));
}
