//! Recognising the test framework from a command line, and taking out its
//! own selection flags: a command line is all a trace without a re-run
//! template says about how to run one scenario again.

use state_tracer_format::{Rerun, RERUN_SCENARIO};

use super::runner::{Framework, Runner};

/// The framework of a command line, and the command with a slot for the
/// scenario (its own selection flags removed); `None` when not recognised.
pub fn recognise(argv: &[String]) -> Option<Runner> {
    let base = |p: &str| {
        p.rsplit('/')
            .next()
            .unwrap_or(p)
            .trim_end_matches(".exe")
            .to_owned()
    };
    let prog = base(argv.first()?);
    let arg = |i: usize| argv.get(i).map(String::as_str);
    let runner = |framework, template| {
        Some(Runner {
            framework,
            template,
        })
    };
    // `cargo nextest run …` or `cargo-nextest nextest run …`.
    if (prog == "cargo" && arg(1) == Some("nextest"))
        || (prog == "cargo-nextest" && arg(1) == Some("nextest"))
    {
        if arg(2) != Some("run") && arg(2) != Some("r") {
            return None;
        }
        let mut t = strip(
            &argv[..3],
            &argv[3..],
            NEXTEST_VALUE_FLAGS,
            &NEXTEST_DROP,
            true,
        );
        t.extend(["-E".into(), format!("test(={RERUN_SCENARIO})")]);
        return runner(Framework::Nextest, t);
    }
    if prog == "cargo" && arg(1) == Some("test") {
        // `cargo test [OPTIONS] [FILTER] [-- ARGS]`: the filter and libtest's
        // own arguments go after `--`.
        let split = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
        let mut t = strip(
            &argv[..2],
            &argv[2..split],
            CARGO_TEST_VALUE_FLAGS,
            &[],
            true,
        );
        t.push("--".into());
        let libtest_args = argv.get(split + 1..).unwrap_or(&[]);
        t.extend(strip(
            &[],
            libtest_args,
            LIBTEST_VALUE_FLAGS,
            &LIBTEST_DROP,
            true,
        ));
        t.extend(["--exact".into(), RERUN_SCENARIO.into()]);
        return runner(Framework::Libtest, t);
    }
    if prog == "go" && arg(1) == Some("test") {
        let mut t = strip(&argv[..2], &argv[2..], &[], &GO_DROP, false);
        t.extend(["-run".into(), format!("^{RERUN_SCENARIO}$")]);
        return runner(Framework::Go, t);
    }
    if prog.ends_with(".test") && argv[1..].iter().any(|a| a.starts_with("-test.")) {
        let mut t = strip(&argv[..1], &argv[1..], &[], &GO_BINARY_DROP, false);
        t.extend(["-test.run".into(), format!("^{RERUN_SCENARIO}$")]);
        return runner(Framework::Go, t);
    }
    if let Some(at) = pytest_at(argv) {
        let mut t = strip(
            &argv[..=at],
            &argv[at + 1..],
            PYTEST_VALUE_FLAGS,
            &PYTEST_DROP,
            true,
        );
        t.push(RERUN_SCENARIO.into());
        return runner(Framework::Pytest, t);
    }
    let rest = &argv[1..];
    let has = |flags: &[&str]| {
        rest.iter().any(|a| {
            flags
                .iter()
                .any(|f| a == f || a.starts_with(&format!("{f}=")))
        })
    };
    if has(CUCUMBER_ONLY) {
        let mut t = strip(
            &argv[..1],
            rest,
            CUCUMBER_VALUE_FLAGS,
            &CUCUMBER_DROP,
            false,
        );
        t.extend(["--name".into(), format!("^{RERUN_SCENARIO}$")]);
        return runner(Framework::Cucumber, t);
    }
    if is_libtest_binary(&prog) || has(LIBTEST_ONLY) {
        let mut t = strip(&argv[..1], rest, LIBTEST_VALUE_FLAGS, &LIBTEST_DROP, true);
        t.extend(["--exact".into(), RERUN_SCENARIO.into()]);
        return runner(Framework::Libtest, t);
    }
    None
}

/// Index of the element naming pytest: `pytest …`, `py.test …`,
/// `python -m pytest …`, or a `…/pytest/__main__.py` script.
fn pytest_at(argv: &[String]) -> Option<usize> {
    let name = |a: &str| a.rsplit('/').next().unwrap_or(a).to_owned();
    let first = name(&argv[0]);
    if first == "pytest" || first == "py.test" || argv[0].ends_with("pytest/__main__.py") {
        return Some(0);
    }
    if first.starts_with("python") && argv.get(1).map(String::as_str) == Some("-m") {
        return (argv.get(2).map(String::as_str) == Some("pytest")).then_some(2);
    }
    None
}

/// A binary cargo builds for tests: `…/deps/NAME-<16 hex digits>`.
fn is_libtest_binary(prog: &str) -> bool {
    prog.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Flags only cucumber-rs has (libtest has none of them).
const CUCUMBER_ONLY: &[&str] = &[
    "--name",
    "-n",
    "--tags",
    "-t",
    "--concurrency",
    "-c",
    "--fail-fast",
    "--retry",
    "--retry-after",
    "--retry-tag-filter",
];
const CUCUMBER_VALUE_FLAGS: &[&str] = &[
    "--name",
    "-n",
    "--tags",
    "-t",
    "--concurrency",
    "-c",
    "--retry",
    "--retry-after",
    "--retry-tag-filter",
    "--input",
    "-i",
    "--color",
];
/// Dropped: they would select other scenarios, or serialise a run meant to
/// be concurrent (the hint adds `--concurrency 1` when it wants order).
const CUCUMBER_DROP: [&str; 6] = ["--name", "-n", "--tags", "-t", "--concurrency", "-c"];

/// Flags only libtest has.
const LIBTEST_ONLY: &[&str] = &[
    "--exact",
    "--test-threads",
    "--nocapture",
    "--include-ignored",
    "--ignored",
    "--show-output",
    "--skip",
];
const LIBTEST_VALUE_FLAGS: &[&str] = &[
    "--test-threads",
    "--skip",
    "--logfile",
    "--format",
    "--color",
    "-Z",
    "--shuffle-seed",
];
const LIBTEST_DROP: [&str; 4] = ["--exact", "--test-threads", "--skip", "--list"];

const CARGO_TEST_VALUE_FLAGS: &[&str] = &[
    "-p",
    "--package",
    "--test",
    "--bin",
    "--bench",
    "--example",
    "--features",
    "-F",
    "--target",
    "--target-dir",
    "--manifest-path",
    "--profile",
    "-j",
    "--jobs",
    "--exclude",
    "--color",
    "--config",
    "-Z",
    "--message-format",
];

const NEXTEST_VALUE_FLAGS: &[&str] = &[
    "-p",
    "--package",
    "--test",
    "--bin",
    "--features",
    "-F",
    "--target",
    "--target-dir",
    "--manifest-path",
    "--cargo-profile",
    "-P",
    "--profile",
    "-j",
    "--test-threads",
    "--retries",
    "--exclude",
    "-E",
    "--filterset",
    "--filter-expr",
    "--partition",
    "--color",
    "--config",
    "--status-level",
    "--final-status-level",
    "--failure-output",
    "--success-output",
    "--archive-file",
    "--workspace-remap",
];
const NEXTEST_DROP: [&str; 4] = ["-E", "--filterset", "--filter-expr", "--partition"];

const GO_DROP: [&str; 1] = ["-run"];
const GO_BINARY_DROP: [&str; 1] = ["-test.run"];

const PYTEST_VALUE_FLAGS: &[&str] = &[
    "-k",
    "-m",
    "-p",
    "-c",
    "-o",
    "-W",
    "-n",
    "--rootdir",
    "--confcutdir",
    "--basetemp",
    "--maxfail",
    "--tb",
    "--deselect",
    "--ignore",
    "--junitxml",
];
/// `-n` is pytest-xdist's worker count: other processes, no order.
const PYTEST_DROP: [&str; 5] = ["-k", "-m", "-n", "--deselect", "--lf"];

/// `head` then the flags of `rest` (with their values) minus those in
/// `drop`; with `drop_positional`, arguments that are neither flags nor
/// flag values (test filters, paths) are dropped too. A `--` and what
/// follows it are kept as they are.
fn strip(
    head: &[String],
    rest: &[String],
    value_flags: &[&str],
    drop: &[&str],
    drop_positional: bool,
) -> Vec<String> {
    let mut out: Vec<String> = head.to_vec();
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        if a == "--" {
            out.extend(rest[i..].iter().cloned());
            break;
        }
        let (flag, inline_value) = match a.split_once('=') {
            Some((f, _)) if a.starts_with('-') => (f, true),
            _ => (a.as_str(), false),
        };
        let takes_value = !inline_value && value_flags.contains(&flag);
        let end = if takes_value { i + 2 } else { i + 1 }.min(rest.len());
        let keep = if a.starts_with('-') {
            !drop.contains(&flag)
        } else {
            !drop_positional
        };
        if keep {
            out.extend(rest[i..end].iter().cloned());
        }
        i = end;
    }
    out
}

/// The runner of a process: its trace's rerun template, else the one
/// recognised from its command line (here, beside what it falls back to).
impl Runner {
    /// The header's template when there is one, else the framework
    /// recognised from `argv`; `None` for a command it cannot narrow.
    pub fn of(argv: &[String], rerun: Option<&Rerun<'_>>) -> Option<Runner> {
        if let Some(r) = rerun {
            let template: Vec<String> = r.argv.iter().map(|a| a.to_string()).collect();
            if template.iter().any(|a| a.contains(RERUN_SCENARIO)) {
                return Some(Runner {
                    framework: Framework::from_name(&r.framework),
                    template,
                });
            }
        }
        recognise(argv)
    }
}
