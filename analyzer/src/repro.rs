//! Repro hints: the command that replays one polluter/victim pair.
//!
//! A hint is only worth printing if it runs as given, and how to run one
//! scenario depends on the test framework that wrote the trace, not on the
//! analysis. So this module, and only it, knows frameworks: it takes the
//! process's re-run template from its trace header (`rerun`, written by a
//! producer that knows how to re-run its scenarios), else recognises the
//! framework from the header's `argv`; it narrows each process's own command
//! to the finding's scenarios with that framework's own selection flag, and
//! says whether the order of two scenarios in one process can be forced.
//! A command it does not recognise is given whole, never with invented
//! flags.
//!
//! The parts: [`recognise`] names the framework of a command line,
//! [`runner`] narrows a command to scenarios, [`quote`] writes names into
//! the shell line and the selection patterns; this file builds the hint.

mod quote;
mod recognise;
mod runner;

use state_tracer_format::RERUN_SCENARIO;

use crate::engine::state::{Proc, Scn};
use crate::model::{Reproduction, RuleId};

pub use quote::shell_quote;
use runner::{push_flag, Framework};
pub use runner::{Pick, Runner, Together};

/// What the tracer writes in place of a secret.
const MASK: &str = "***";

/// The variables every replay sets, as `confirm` does for its reruns:
/// tracing on, one run ID for all the line's processes (so `report` sees
/// one run) and a fresh folder for its traces under the current directory.
const RUN_VARS: &str = r#"export BDD_TRACE_STATE=1 BDD_TRACE_RUN_ID=repro-$$ BDD_TRACE_DIR="$PWD/bdd-traces/repro-$$""#;

/// Where a replay's traces go, for the hint's comment.
const TRACES_AT: &str = "traces in ./bdd-traces/repro-<shell pid>";

/// Whether a recorded value had a secret masked (not the real value).
pub fn is_masked(v: &str) -> bool {
    v.contains(MASK)
}

/// `KEY=VALUE` for the shell; a masked value is never printed as if it were
/// the value: the shell stops with a message unless the user supplies it.
fn assign(k: &str, v: &str) -> String {
    if is_masked(v) {
        format!("{k}=\"${{{k}:?set {k} to the traced run's value: its secret is not recorded}}\"")
    } else {
        format!("{k}={}", shell_quote(v))
    }
}

/// How the commands of one line run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// One after the other.
    Seq,
    /// At the same time; the line waits for all.
    Par,
}

/// One line running `cmds` (each a process's command, with that process's
/// header) traced as one run, in each process's working directory and with
/// its recorded environment ([`crate::input::source::REPLAY_ENV`]), in a subshell so nothing
/// leaks into the user's shell. Also the note for masked values, if any.
fn script(cmds: &[(&Proc, Vec<String>)], join: Join) -> (String, Option<String>) {
    let words = |argv: &[String]| {
        argv.iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let first = cmds[0].0;
    let same = cmds
        .iter()
        .all(|(p, _)| p.cwd == first.cwd && p.env == first.env);
    let mut head = RUN_VARS.to_owned();
    let mut body: Vec<String> = Vec::new();
    if same {
        for (k, v) in &first.env {
            head.push(' ');
            head.push_str(&assign(k, v));
        }
        if let Some(d) = &first.cwd {
            head.push_str(&format!(" && cd {}", shell_quote(d)));
        }
        body.extend(cmds.iter().map(|(_, argv)| words(argv)));
    } else {
        for (p, argv) in cmds {
            let mut c = String::from("(");
            if let Some(d) = &p.cwd {
                c.push_str(&format!("cd {} && ", shell_quote(d)));
            }
            for (k, v) in &p.env {
                c.push_str(&assign(k, v));
                c.push(' ');
            }
            c.push_str(&words(argv));
            c.push(')');
            body.push(c);
        }
    }
    let body = match (join, body.len()) {
        (_, 1) => body.remove(0),
        (Join::Seq, _) => format!("{{ {}; }}", body.join("; ")),
        (Join::Par, _) => format!("{{ {} & {}; wait; }}", body[1..].join(" & "), body[0]),
    };
    let masked: Vec<String> = cmds
        .iter()
        .flat_map(|(p, _)| &p.env)
        .filter(|(_, v)| v.contains(MASK))
        .map(|(k, v)| format!("set {k} first (traced: {v})"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let note = (!masked.is_empty()).then(|| {
        format!(
            "{}: the trace does not record secrets",
            crate::escape::text(&masked.join("; "))
        )
    });
    (format!("({head} && {body})"), note)
}

/// The hint: the line, then its comment (with the note on masked values).
fn hint(line: (String, Option<String>), comment: &str) -> String {
    match line.1 {
        Some(note) => format!("{}  # {comment}; {TRACES_AT}; {note}", line.0),
        None => format!("{}  # {comment}; {TRACES_AT}", line.0),
    }
}

fn pick(s: &Scn) -> Pick<'_> {
    Pick {
        feature: &s.feature,
        name: &s.name,
    }
}

fn runner_of(p: &Proc) -> Option<Runner> {
    Runner::of(&p.argv, p.rerun.as_ref())
}

/// Whether the rule's harm needs both scenarios running at once.
fn at_once(rule: RuleId) -> bool {
    crate::rules::meta(rule).repro_at_once
}

/// How to replay a polluter (`a`) / victim (`b`) pair. Same process: one
/// command selecting both, in order (or at once for a concurrent
/// mutation). Two processes (a feature per process cannot be merged into
/// one): each process's own command narrowed to its scenario, in parallel
/// for a concurrent mutation, one after the other otherwise.
pub fn reproduction(
    rule: RuleId,
    a: &Scn,
    b: &Scn,
    resource: &str,
    procs: &[Proc],
) -> Reproduction {
    let name = |s: &Scn| format!("{}: {}", s.feature, s.name);
    let command = if a.file != b.file {
        two_processes(rule, a, b, resource, procs)
    } else {
        one_process(rule, a, b, &procs[b.file as usize])
    };
    Reproduction {
        scenarios: vec![name(a), name(b)],
        command,
    }
}

/// Polluter and victim ran in the same process.
fn one_process(rule: RuleId, a: &Scn, b: &Scn, p: &Proc) -> String {
    let name = |s: &Scn| format!("{}: {}", s.feature, s.name);
    let how = if at_once(rule) {
        Together::AtOnce
    } else {
        Together::InOrder
    };
    let want = match how {
        Together::AtOnce => format!("{:?} and {:?} at the same time", a.name, b.name),
        Together::InOrder => format!("{:?} must run before {:?}", a.name, b.name),
    };
    let runner = runner_of(p);
    if runner.is_none() && p.argv.is_empty() {
        return format!(
            "<your test command> selecting only {:?} and {:?}, in one process: {want} (the trace header records no command)",
            name(a),
            name(b)
        );
    }
    let Some(runner) = runner else {
        return hint(
            script(&[(p, p.argv.clone())], Join::Seq),
            &format!("the whole command: how it selects one scenario is not known (record a `rerun` template in the trace header, docs/format.md); {want}, and the order cannot be forced"),
        );
    };
    let n = runner.two_as_traced(pick(a), pick(b), how, a.start <= b.start);
    let line = script(&[(p, n.argv)], Join::Seq);
    match n.caveat {
        None => hint(line, &want),
        Some(c) => hint(
            line,
            &format!("{want}; {c}; repeat until {:?} fails", b.name),
        ),
    }
}

/// Two nextest processes as one `cargo nextest run`: both tests selected
/// by one filterset, so they share nextest's run (and the package lock is
/// taken once); `None` unless both commands are the same but for the
/// filter, in the same working directory.
fn one_nextest(
    (ra, pa, a): (&Runner, &Proc, &Scn),
    (rb, pb, b): (&Runner, &Proc, &Scn),
    parallel: bool,
) -> Option<Vec<String>> {
    if ra.framework != Framework::Nextest
        || rb.framework != Framework::Nextest
        || pa.cwd != pb.cwd
        || pa.env != pb.env
    {
        return None;
    }
    let slot = ra
        .template
        .iter()
        .position(|e| e.contains(RERUN_SCENARIO))?;
    let (ca, cb) = (ra.one(pick(a)), rb.one(pick(b)));
    let same_but_filter = ca.len() == cb.len()
        && ca
            .iter()
            .zip(&cb)
            .enumerate()
            .all(|(i, (x, y))| i == slot || x == y);
    if !same_but_filter {
        return None;
    }
    let mut argv = ca.clone();
    argv[slot] = format!("({}) | ({})", ca[slot], cb[slot]);
    if !argv.iter().any(|x| x == "--no-fail-fast") {
        argv.push("--no-fail-fast".into());
    }
    push_flag(
        &mut argv,
        "--test-threads",
        if parallel { "2" } else { "1" },
    );
    Some(argv)
}

/// The pair ran in two processes: give each process's own command (from its
/// trace header) narrowed to its scenario; a command that cannot be
/// narrowed is given whole.
fn two_processes(rule: RuleId, a: &Scn, b: &Scn, resource: &str, procs: &[Proc]) -> String {
    let (pa, pb) = (&procs[a.file as usize], &procs[b.file as usize]);
    let parallel = at_once(rule);
    let (ra, rb) = (runner_of(pa), runner_of(pb));
    // A header with neither a usable template nor a command line.
    let no_cmd = |r: &Option<Runner>, p: &Proc| r.is_none() && p.argv.is_empty();
    if no_cmd(&ra, pa) || no_cmd(&rb, pb) {
        return format!(
            "two processes{}: {:?} in the command of {} (pid {}) and {:?} in the command of {} (pid {}), each selecting only that scenario, with the environment (database) of the traced run",
            if parallel { ", at the same time" } else { ", polluter first" },
            format!("{}: {}", a.feature, a.name),
            pa.label(),
            pa.pid,
            format!("{}: {}", b.feature, b.name),
            pb.label(),
            pb.pid,
        );
    }
    if let (Some(ra), Some(rb)) = (&ra, &rb) {
        if let Some(argv) = one_nextest((ra, pa, a), (rb, pb, b), parallel) {
            let line = script(&[(pa, argv)], Join::Seq);
            let comment = if parallel {
                format!(
                    "one nextest run, both tests at once (each in its own process); repeat until \"{}\" fails: \"{}\" must touch {} while \"{}\" is between its uses of it",
                    b.name, a.name, resource, b.name
                )
            } else {
                format!(
                    "one nextest run, one test at a time; {:?} must run before {:?}, and the order cannot be forced: nextest runs each test in a process of its own; repeat until {:?} fails",
                    a.name, b.name, b.name
                )
            };
            return hint(line, &comment);
        }
    }
    let cmd = |r: &Option<Runner>, p: &Proc, s: &Scn| match r {
        Some(r) => r.one(pick(s)),
        None => p.argv.clone(),
    };
    let cmds = [(pa, cmd(&ra, pa, a)), (pb, cmd(&rb, pb, b))];
    if ra.is_none() || rb.is_none() {
        let whole: Vec<&str> = [(&ra, pa), (&rb, pb)]
            .iter()
            .filter(|(r, _)| r.is_none())
            .map(|(_, p)| p.argv[0].as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return hint(
            script(&cmds, Join::Par),
            &format!(
                "started together, as traced; {} run whole: how it selects one scenario is not known (a `rerun` template in its trace header would say, docs/format.md); repeat until {:?} fails",
                whole.join(" and "),
                b.name
            ),
        );
    }
    if parallel {
        hint(
            script(&cmds, Join::Par),
            &format!(
                "two processes at once, as one run; repeat until \"{}\" fails: \"{}\" must touch {} while \"{}\" is between its uses of it",
                b.name, a.name, resource, b.name
            ),
        )
    } else {
        hint(script(&cmds, Join::Seq), "one after the other, as one run")
    }
}

#[cfg(test)]
mod tests {
    use super::quote::regex_escape;
    use super::recognise::recognise;
    use super::*;
    use state_tracer_format::Rerun;
    use std::borrow::Cow;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    fn p<'a>(feature: &'a str, name: &'a str) -> Pick<'a> {
        Pick { feature, name }
    }

    fn shell(argv: &[String]) -> String {
        argv.iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn one(cmd: &str, feature: &str, name: &str) -> String {
        let r = recognise(&argv(cmd)).unwrap_or_else(|| panic!("not recognised: {cmd}"));
        shell(&r.one(p(feature, name)))
    }

    #[test]
    fn cucumber_selects_by_anchored_name_and_runs_one_at_a_time_for_order() {
        let cmd = "target/debug/bdd --tags @db -c 4 --fail-fast";
        let r = recognise(&argv(cmd)).unwrap();
        assert_eq!(r.framework, Framework::Cucumber);
        assert_eq!(
            shell(&r.one(p("auth", "Log in (admin)"))),
            r"target/debug/bdd --fail-fast --name '^Log in \(admin\)$'"
        );
        let n = r.two(p("f", "a.b"), p("f", "c"), Together::InOrder);
        assert_eq!(
            shell(&n.argv),
            r"target/debug/bdd --fail-fast --name '^(?:a\.b|c)$' --concurrency 1"
        );
        assert_eq!(n.caveat, None);
        let n = r.two(p("f", "a"), p("f", "c"), Together::AtOnce);
        assert!(shell(&n.argv).ends_with("--concurrency 2"), "{:?}", n.argv);
    }

    #[test]
    fn libtest_binaries_and_cargo_test_select_with_exact() {
        assert_eq!(
            one(
                "/w/target/debug/deps/api-0123456789abcdef users --nocapture",
                "api",
                "db::users::insert"
            ),
            "/w/target/debug/deps/api-0123456789abcdef --nocapture --exact db::users::insert"
        );
        assert_eq!(
            one(
                "cargo test -p api --test db users -- --test-threads 4 --nocapture",
                "db",
                "t1"
            ),
            "cargo test -p api --test db -- --nocapture --exact t1"
        );
    }

    #[test]
    fn libtest_order_is_name_order_so_only_a_sorted_pair_keeps_it() {
        let r = recognise(&argv("target/debug/deps/x-0123456789abcdef")).unwrap();
        let n = r.two(p("x", "a_first"), p("x", "b_then"), Together::InOrder);
        assert_eq!(
            shell(&n.argv),
            "target/debug/deps/x-0123456789abcdef --exact a_first b_then --test-threads 1"
        );
        assert_eq!(n.caveat, None);
        let n = r.two(p("x", "z_polluter"), p("x", "a_victim"), Together::InOrder);
        assert!(
            n.caveat.unwrap().contains("cannot be forced"),
            "libtest would run a_victim first"
        );
    }

    #[test]
    fn nextest_selects_with_a_filterset() {
        assert_eq!(
            one(
                "cargo nextest run -p api -E test(/users/) --no-fail-fast users",
                "api",
                "t(1)"
            ),
            r"cargo nextest run -p api --no-fail-fast -E 'test(=t\(1\))'"
        );
        let r = recognise(&argv("cargo nextest run")).unwrap();
        let n = r.two(p("f", "a"), p("f", "b"), Together::InOrder);
        assert_eq!(shell(&n.argv), "cargo nextest run -E 'test(=a) | test(=b)'");
        assert!(n.caveat.is_some());
    }

    #[test]
    fn go_test_selects_with_an_anchored_run_pattern() {
        assert_eq!(
            one(
                "go test ./store -run=TestA -count 1 -p 3",
                "store",
                "TestInsert"
            ),
            "go test ./store -count 1 -p 3 -run '^TestInsert$'"
        );
        assert_eq!(
            one("go test ./...", "store", "TestUsers/admin"),
            "go test ./... -run '^TestUsers$/^admin$'"
        );
        assert_eq!(
            one(
                "/tmp/go-build1/b001/store.test -test.v=true -test.run=X",
                "store",
                "TestA"
            ),
            "/tmp/go-build1/b001/store.test -test.v=true -test.run '^TestA$'"
        );
        let r = recognise(&argv("go test ./store")).unwrap();
        let n = r.two(p("s", "TestA"), p("s", "TestB"), Together::InOrder);
        assert_eq!(shell(&n.argv), "go test ./store -run '^(?:TestA|TestB)$'");
        assert!(n.caveat.unwrap().contains("source order"));
    }

    #[test]
    fn pytest_selects_node_ids_in_order() {
        assert_eq!(
            one(
                "pytest tests/ -x -k users -p xdist -n 4",
                "tests/test_users.py",
                "test_insert[pg]"
            ),
            "pytest -x -p xdist 'tests/test_users.py::test_insert[pg]'"
        );
        assert_eq!(
            one(
                "/usr/bin/python3 -m pytest -q",
                "users",
                "tests/test_users.py::test_a"
            ),
            "/usr/bin/python3 -m pytest -q tests/test_users.py::test_a"
        );
        let r = recognise(&argv("pytest")).unwrap();
        let n = r.two(p("t.py", "test_b"), p("t.py", "test_a"), Together::InOrder);
        assert_eq!(
            shell(&n.argv),
            "pytest t.py::test_b t.py::test_a -p no:randomly"
        );
        assert_eq!(n.caveat, None, "pytest runs node ids in the order given");
    }

    #[test]
    fn an_unknown_command_is_not_narrowed() {
        for cmd in [
            "target/debug/auth",
            "./run-tests.sh --fast",
            "node test.js",
            "cargo run",
        ] {
            assert_eq!(recognise(&argv(cmd)), None, "{cmd}");
        }
    }

    #[test]
    fn a_header_template_wins_over_the_command_line() {
        let rerun = Rerun {
            framework: "cucumber".into(),
            argv: vec![
                "bdd-demo".into(),
                "feature".into(),
                Cow::Borrowed("{feature}"),
                "--name".into(),
                "^{scenario}$".into(),
            ],
        };
        let r = Runner::of(&argv("bdd-demo feature auth"), Some(&rerun)).unwrap();
        assert_eq!(r.framework, Framework::Cucumber);
        assert_eq!(
            shell(&r.one(p("auth", "Log in?"))),
            r"bdd-demo feature auth --name '^Log in\?$'"
        );
        // Without it, the command is not recognised.
        assert_eq!(Runner::of(&argv("bdd-demo feature auth"), None), None);
        // A template without the placeholder cannot select: ignored.
        let useless = Rerun {
            framework: "pytest".into(),
            argv: vec!["pytest".into()],
        };
        let r = Runner::of(
            &argv("target/debug/deps/x-0123456789abcdef"),
            Some(&useless),
        );
        assert_eq!(r.unwrap().framework, Framework::Libtest);
    }

    #[test]
    fn an_unknown_framework_template_gets_plain_names_one_argument_each() {
        let rerun = Rerun {
            framework: "jest".into(),
            argv: vec![
                "npx".into(),
                "jest".into(),
                "-t".into(),
                "{scenario}".into(),
            ],
        };
        let r = Runner::of(&[], Some(&rerun)).unwrap();
        assert_eq!(r.framework, Framework::Other);
        let n = r.two(p("f", "a b"), p("f", "c"), Together::InOrder);
        assert_eq!(shell(&n.argv), "npx jest -t 'a b' c");
        assert!(n.caveat.unwrap().contains("cannot be forced"));
    }

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a/b-c.d=e"), "a/b-c.d=e");
        assert_eq!(
            shell_quote("a\x1b[2K\u{9b}'\\\n"),
            r"$'a\x1b[2K\u009b\'\\\n'"
        );
        assert_eq!(regex_escape("a+b (c)"), r"a\+b \(c\)");
    }
}
