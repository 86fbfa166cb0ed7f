//! Commands the end-to-end tests start inside a test run: the corpus
//! binaries under a nested `cargo test`, with nothing of the outer run
//! (ours, or the runner's) leaking into them.

use std::process::{Command, Output};

/// The corpus test binaries (5 ignored tests each).
pub const BINARIES: [&str; 3] = ["accounts", "orders", "reports"];

/// Removes every `BDD_TRACE_*` and `NEXTEST*` variable we inherited:
/// whatever ran us must not lend its run to the command's.
pub fn without_outer_run(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("BDD_TRACE_") || k.starts_with("NEXTEST") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The running test binary again, to run its ignored subject tests in a
/// child: no outer run, and no `DATABASE_URL` (the caller names its own).
#[allow(dead_code)] // the sqlx_test_* binaries use it; `pollution` does not
pub fn this_binary() -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
    without_outer_run(&mut cmd).env_remove("DATABASE_URL");
    cmd
}

/// A finished command's stdout then stderr, as one text to assert on.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `cargo test` over the three corpus binaries, 4 test threads, in this
/// package's folder. The workspace's feature set, as `scripts/test.sh`
/// (`cargo test --workspace --all-features`) builds it, so under CI the
/// binaries are already built; only this package has these targets.
/// `--no-fail-fast`: the corpus tests break each other for real, and
/// every binary must run whatever the first one did.
pub fn corpus_cargo_test() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--offline", "-q", "--workspace", "--all-features"]);
    for b in BINARIES {
        cmd.args(["--test", b]);
    }
    cmd.args(["--no-fail-fast", "--", "--ignored", "--test-threads=4"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    without_outer_run(&mut cmd);
    cmd
}
