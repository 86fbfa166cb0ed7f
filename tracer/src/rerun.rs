//! The header's re-run template (`rerun`, `docs/format.md`): how to run one
//! scenario of this process again, so that the analyzer's repro hints (and
//! `trace-analyzer confirm`) run as given instead of guessing flags.
//!
//! The header is written when tracing starts, so the framework must be known
//! by then. It is decided from what the process can see at that moment:
//!
//! - **nextest** (`NEXTEST_RUN_ID` set): `cargo nextest run -E
//!   'binary_id(=ID) & test(=NAME)'`, the binary from `NEXTEST_BINARY_ID`;
//! - **libtest**: an executable cargo built for tests
//!   (`…/deps/NAME-<16 hex digits>`) whose tracing starts on a thread other
//!   than `main`: libtest runs every test on a thread of its own (named
//!   after the test), while a `harness = false` binary (cucumber) starts
//!   in `main`. Template: the binary with `--exact NAME`;
//! - **cucumber-rs**: declared with [`declare`]`(`[`Framework::Cucumber`]`)`
//!   before `state_tracer::init()`, or recognised by cucumber's own flags
//!   on the command line (`--name`, `--tags`, `--concurrency`, …, which
//!   libtest rejects) when the `cucumber` feature is on. cucumber's builder
//!   (and so `trace_state`) runs after `init()`, too late for the header,
//!   hence the declaration. Template: the command with `--name ^NAME$`.
//!
//! Anything else gets no template, and the analyzer falls back to
//! recognising the command from `argv` (or gives it whole).

use std::sync::Mutex;

use crate::format::{Rerun, RERUN_SCENARIO};

/// Frameworks whose re-run command the tracer can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// cucumber-rs: `--name REGEX`.
    Cucumber,
    /// A libtest binary (`cargo test`): `--exact NAME`.
    Libtest,
    /// cargo-nextest: `-E 'test(=NAME)'`.
    Nextest,
}

static DECLARED: Mutex<Option<Framework>> = Mutex::new(None);

/// Says which framework runs this process's scenarios; call it before
/// tracing starts (`state_tracer::init()` or the layer's `build()`), e.g.
/// in a cucumber `main` that hands its own CLI arguments to cucumber.
pub fn declare(framework: Framework) {
    *DECLARED.lock().unwrap_or_else(|e| e.into_inner()) = Some(framework);
}

/// What [`decide`] looks at.
#[derive(Debug, Clone, Default)]
pub struct Seen<'a> {
    pub declared: Option<Framework>,
    /// The command line as the header records it (secrets masked).
    pub argv: &'a [String],
    /// Name of the thread that starts tracing.
    pub thread: Option<&'a str>,
    pub nextest_run_id: Option<&'a str>,
    pub nextest_binary_id: Option<&'a str>,
}

/// The template for this process, given its (scrubbed) command line.
pub fn template(argv: &[String]) -> Option<Rerun<'static>> {
    let declared = *DECLARED.lock().unwrap_or_else(|e| e.into_inner());
    let run_id = std::env::var("NEXTEST_RUN_ID").ok();
    let binary_id = std::env::var("NEXTEST_BINARY_ID").ok();
    let current = std::thread::current();
    decide(&Seen {
        declared,
        argv,
        thread: current.name(),
        nextest_run_id: run_id.as_deref(),
        nextest_binary_id: binary_id.as_deref(),
    })
}

/// Flags only cucumber-rs has, with whether they take a value.
const CUCUMBER_FLAGS: &[(&str, bool)] = &[
    ("--name", true),
    ("-n", true),
    ("--tags", true),
    ("-t", true),
    ("--concurrency", true),
    ("-c", true),
    ("--fail-fast", false),
    ("--retry", true),
    ("--retry-after", true),
    ("--retry-tag-filter", true),
];

/// libtest flags worth keeping in a re-run (they change output, not which
/// tests run).
const LIBTEST_KEEP: &[&str] = &[
    "--nocapture",
    "--show-output",
    "--include-ignored",
    "--ignored",
];

/// Decides the framework and builds its template (pure: see [`template`]).
pub fn decide(seen: &Seen<'_>) -> Option<Rerun<'static>> {
    let argv = seen.argv;
    let exe = argv.first()?;
    let flag = |a: &str| a.split_once('=').map_or(a, |(f, _)| f).to_owned();
    let cucumber_flags = argv[1..]
        .iter()
        .any(|a| CUCUMBER_FLAGS.iter().any(|(f, _)| *f == flag(a)));
    let framework = match seen.declared {
        Some(f) => f,
        None if seen.nextest_run_id.is_some() => Framework::Nextest,
        None if cfg!(feature = "cucumber") && cucumber_flags => Framework::Cucumber,
        None if is_test_binary(exe) && seen.thread.is_some_and(|t| t != "main") => {
            Framework::Libtest
        }
        None => return None,
    };
    let (name, argv): (&str, Vec<String>) = match framework {
        Framework::Cucumber => {
            let mut out = vec![exe.clone()];
            let mut skip_value = false;
            for a in &argv[1..] {
                if std::mem::take(&mut skip_value) {
                    continue;
                }
                let selecting = ["--name", "-n", "--tags", "-t", "--concurrency", "-c"];
                if selecting.contains(&flag(a).as_str()) {
                    skip_value = !a.contains('=');
                    continue;
                }
                out.push(a.clone());
            }
            out.extend(["--name".to_owned(), format!("^{RERUN_SCENARIO}$")]);
            ("cucumber", out)
        }
        Framework::Libtest => {
            let mut out = vec![exe.clone()];
            out.extend(
                argv[1..]
                    .iter()
                    .filter(|a| LIBTEST_KEEP.contains(&a.as_str()))
                    .cloned(),
            );
            out.extend(["--exact".to_owned(), RERUN_SCENARIO.to_owned()]);
            ("libtest", out)
        }
        Framework::Nextest => {
            let filter = match seen.nextest_binary_id {
                Some(b) => format!("binary_id(={b}) & test(={RERUN_SCENARIO})"),
                None => format!("test(={RERUN_SCENARIO})"),
            };
            let words = ["cargo", "nextest", "run"];
            let mut out: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
            // nextest passes `--ignored` to an `#[ignore]`d test it runs
            // (`--run-ignored only|all`): the re-run must select it too.
            if argv[1..]
                .iter()
                .any(|a| a == "--ignored" || a == "--include-ignored")
            {
                out.extend(["--run-ignored".to_owned(), "all".to_owned()]);
            }
            out.extend(["-E".to_owned(), filter]);
            ("nextest", out)
        }
    };
    Some(Rerun {
        framework: name.into(),
        argv: argv.into_iter().map(Into::into).collect(),
    })
}

/// An executable cargo built for tests: `…/deps/NAME-<16 hex digits>`.
fn is_test_binary(exe: &str) -> bool {
    let mut parts = exe.rsplit('/');
    let file = parts.next().unwrap_or(exe);
    let in_deps = parts.next() == Some("deps");
    in_deps
        && file.rsplit_once('-').is_some_and(|(_, hash)| {
            hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    fn words(r: &Rerun<'_>) -> Vec<String> {
        r.argv.iter().map(|a| a.to_string()).collect()
    }

    const BIN: &str = "/w/target/debug/deps/api-0123456789abcdef";

    #[test]
    fn a_libtest_binary_running_a_test_thread_gets_exact() {
        let a = argv(&format!("{BIN} users --nocapture --test-threads 4"));
        let r = decide(&Seen {
            argv: &a,
            thread: Some("db::users::insert"),
            ..Seen::default()
        })
        .unwrap();
        assert_eq!(r.framework, "libtest");
        assert_eq!(words(&r), [BIN, "--nocapture", "--exact", "{scenario}"]);
    }

    #[test]
    fn a_harness_false_binary_starting_in_main_is_not_taken_for_libtest() {
        let a = argv(BIN);
        let seen = Seen {
            argv: &a,
            thread: Some("main"),
            ..Seen::default()
        };
        assert_eq!(decide(&seen), None);
    }

    #[test]
    fn a_declared_cucumber_suite_selects_by_anchored_name() {
        let a = argv("/w/bdd-demo feature auth --tags @db -c 4 --fail-fast --name=x");
        let r = decide(&Seen {
            declared: Some(Framework::Cucumber),
            argv: &a,
            thread: Some("main"),
            ..Seen::default()
        })
        .unwrap();
        assert_eq!(r.framework, "cucumber");
        assert_eq!(
            words(&r),
            [
                "/w/bdd-demo",
                "feature",
                "auth",
                "--fail-fast",
                "--name",
                "^{scenario}$"
            ]
        );
    }

    #[test]
    fn cucumber_flags_on_the_command_line_say_cucumber_when_the_feature_is_on() {
        let a = argv(&format!("{BIN} --tags @smoke"));
        let r = decide(&Seen {
            argv: &a,
            thread: Some("main"),
            ..Seen::default()
        });
        if cfg!(feature = "cucumber") {
            assert_eq!(words(&r.unwrap()), [BIN, "--name", "^{scenario}$"]);
        } else {
            assert_eq!(r, None);
        }
    }

    #[test]
    fn nextest_selects_the_binary_and_the_test() {
        let a = argv(&format!("{BIN} --exact db::users::insert --nocapture"));
        let r = decide(&Seen {
            argv: &a,
            thread: Some("db::users::insert"),
            nextest_run_id: Some("1f79aa0d"),
            nextest_binary_id: Some("api::db"),
            ..Seen::default()
        })
        .unwrap();
        assert_eq!(r.framework, "nextest");
        assert_eq!(
            words(&r),
            [
                "cargo",
                "nextest",
                "run",
                "-E",
                "binary_id(=api::db) & test(={scenario})"
            ]
        );
    }

    #[test]
    fn an_ignored_test_nextest_ran_is_selected_again_with_run_ignored() {
        let a = argv(&format!("{BIN} --exact slow_import --nocapture --ignored"));
        let r = decide(&Seen {
            argv: &a,
            thread: Some("slow_import"),
            nextest_run_id: Some("1f79aa0d"),
            nextest_binary_id: Some("api::db"),
            ..Seen::default()
        })
        .unwrap();
        assert_eq!(
            words(&r),
            [
                "cargo",
                "nextest",
                "run",
                "--run-ignored",
                "all",
                "-E",
                "binary_id(=api::db) & test(={scenario})"
            ]
        );
    }

    #[test]
    fn an_ordinary_program_gets_no_template() {
        for cmd in ["/usr/bin/my-app serve", "target/debug/auth", "cargo run"] {
            let a = argv(cmd);
            let seen = Seen {
                argv: &a,
                thread: Some("worker"),
                ..Seen::default()
            };
            assert_eq!(decide(&seen), None, "{cmd}");
        }
    }
}
