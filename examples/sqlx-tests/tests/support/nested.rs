//! Commands the end-to-end tests start inside a test run: the corpus
//! binaries under a nested `cargo test`, with nothing of the outer run
//! (ours, or the runner's) leaking into them.

use std::process::Command;

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
