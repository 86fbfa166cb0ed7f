//! A process's command as a template with a slot for the scenarios, and
//! narrowing it to one or two of them: each framework selects scenarios
//! (and forces their order) its own way, and this is where that is known.

use state_tracer_format::{RERUN_FEATURE, RERUN_SCENARIO};

use super::quote::regex_escape;

/// Test frameworks whose way of selecting one scenario is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// cucumber-rs: `--name REGEX`, `--concurrency N`; file order.
    Cucumber,
    /// `cargo test` / a libtest binary: `--exact NAME…`, `--test-threads N`;
    /// tests run in name order.
    Libtest,
    /// cargo-nextest: `-E 'test(=NAME)'`; one process per test.
    Nextest,
    /// `go test` (`-run`) or a compiled Go test binary (`-test.run`):
    /// source order, one at a time unless the tests call `t.Parallel()`.
    Go,
    /// pytest: node ids as arguments, run in the order given.
    Pytest,
    /// Named by a header template, not known here: placeholders replaced by
    /// the plain names, nothing else assumed.
    Other,
}

impl Framework {
    /// The framework a header template names.
    pub fn from_name(name: &str) -> Framework {
        match name.to_ascii_lowercase().as_str() {
            "cucumber" | "cucumber-rs" => Framework::Cucumber,
            "libtest" | "cargo-test" | "cargo test" => Framework::Libtest,
            "nextest" | "cargo-nextest" => Framework::Nextest,
            "go" | "go-test" | "go test" => Framework::Go,
            "pytest" => Framework::Pytest,
            _ => Framework::Other,
        }
    }
}

/// A process's command with a slot for the scenarios to select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    pub framework: Framework,
    /// Elements may contain [`RERUN_SCENARIO`] / [`RERUN_FEATURE`].
    pub template: Vec<String>,
}

/// A scenario to select: its feature and name.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    pub feature: &'a str,
    pub name: &'a str,
}

/// How two scenarios of one process are to be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Together {
    /// One after the other, the first before the second.
    InOrder,
    /// At the same time (a concurrent mutation inside one process).
    AtOnce,
}

/// A command narrowed to its scenarios, and what it can promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrowed {
    pub argv: Vec<String>,
    /// Why the requested order (or simultaneity) is not guaranteed; `None`
    /// when the framework enforces it.
    pub caveat: Option<String>,
}

impl Runner {
    /// The command selecting only `pick`.
    pub fn one(&self, pick: Pick<'_>) -> Vec<String> {
        self.fill(&[pick])
    }

    /// The command selecting both scenarios of one process, `first` meant to
    /// run before `second` (or at once with it).
    pub fn two(&self, first: Pick<'_>, second: Pick<'_>, how: Together) -> Narrowed {
        let mut argv = self.fill(&[first, second]);
        let (f, s) = (first.name, second.name);
        let caveat = match (self.framework, how) {
            (Framework::Cucumber, Together::InOrder) => {
                push_flag(&mut argv, "--concurrency", "1");
                None
            }
            // Said explicitly: a suite may lower cucumber's default (64).
            (Framework::Cucumber, Together::AtOnce) => {
                push_flag(&mut argv, "--concurrency", "2");
                None
            }
            (Framework::Libtest, Together::InOrder) => {
                push_flag(&mut argv, "--test-threads", "1");
                (f >= s).then(|| {
                    format!("the order cannot be forced: libtest runs tests in name order, so {s:?} runs before {f:?}")
                })
            }
            (Framework::Libtest, Together::AtOnce) => {
                push_flag(&mut argv, "--test-threads", "2");
                None
            }
            (Framework::Nextest, _) => Some(
                "the order cannot be forced: nextest runs each test in a process of its own"
                    .to_owned(),
            ),
            (Framework::Go, Together::InOrder) => Some(format!(
                "go runs tests in source order, one at a time: {f:?} runs first only if it comes first in the source and neither calls t.Parallel()"
            )),
            (Framework::Go, Together::AtOnce) => Some(
                "they run at the same time only if both call t.Parallel(): the order cannot be forced"
                    .to_owned(),
            ),
            (Framework::Pytest, Together::InOrder) => {
                push_flag(&mut argv, "-p", "no:randomly");
                None
            }
            (Framework::Pytest, Together::AtOnce) => Some(
                "pytest runs them one after the other: running them at once cannot be forced"
                    .to_owned(),
            ),
            (Framework::Other, _) => Some(
                "the order cannot be forced: the header's template does not say how".to_owned(),
            ),
        };
        Narrowed { argv, caveat }
    }

    /// [`Runner::two`] for two scenarios of one traced process, `first_ran_first`
    /// saying whether `first` started before `second` there: cucumber runs
    /// in file order, so the order holds only if it did.
    pub fn two_as_traced(
        &self,
        first: Pick<'_>,
        second: Pick<'_>,
        how: Together,
        first_ran_first: bool,
    ) -> Narrowed {
        let mut n = self.two(first, second, how);
        if n.caveat.is_none()
            && how == Together::InOrder
            && self.framework == Framework::Cucumber
            && !first_ran_first
        {
            n.caveat = Some(format!(
                "the order cannot be forced: cucumber runs them in file order, and {:?} comes first",
                second.name
            ));
        }
        n
    }

    /// The template with its placeholders replaced by `picks`.
    fn fill(&self, picks: &[Pick<'_>]) -> Vec<String> {
        let mut out = Vec::with_capacity(self.template.len() + picks.len());
        for el in &self.template {
            if !el.contains(RERUN_SCENARIO) {
                let feature = picks.first().map_or("", |p| p.feature);
                out.push(el.replace(RERUN_FEATURE, feature));
                continue;
            }
            let one = |p: &Pick<'_>, name: &str| {
                el.replace(RERUN_SCENARIO, name)
                    .replace(RERUN_FEATURE, p.feature)
            };
            match self.framework {
                // One regular expression selects them all.
                Framework::Cucumber | Framework::Go => {
                    let names: Vec<String> = picks
                        .iter()
                        .map(|p| regex_name(self.framework, p.name))
                        .collect();
                    let name = if names.len() == 1 {
                        names[0].clone()
                    } else {
                        format!("(?:{})", names.join("|"))
                    };
                    out.push(one(&picks[0], &name));
                }
                // One filterset expression, the alternatives joined by `|`.
                Framework::Nextest => {
                    let parts: Vec<String> = picks
                        .iter()
                        .map(|p| one(p, &nextest_escape(p.name)))
                        .collect();
                    out.push(parts.join(" | "));
                }
                // One argument per scenario, in order.
                Framework::Libtest | Framework::Other => {
                    out.extend(picks.iter().map(|p| one(p, p.name)));
                }
                Framework::Pytest => {
                    out.extend(picks.iter().map(|p| one(p, &pytest_node(p))));
                }
            }
        }
        out
    }
}

/// Appends `flag value` unless the command already sets `flag`.
pub(super) fn push_flag(argv: &mut Vec<String>, flag: &str, value: &str) {
    let set = argv
        .iter()
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    if !set {
        argv.push(flag.to_owned());
        argv.push(value.to_owned());
    }
}

/// A name as a regular expression matching exactly it (the template anchors
/// it). Go's `-run` splits its pattern at `/` into one pattern per subtest
/// level, so each level is anchored on its own.
fn regex_name(framework: Framework, name: &str) -> String {
    if framework == Framework::Go && name.contains('/') {
        return name
            .split('/')
            .map(regex_escape)
            .collect::<Vec<_>>()
            .join("$/^");
    }
    regex_escape(name)
}

/// Escapes the characters a nextest filterset matcher treats specially.
fn nextest_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '\\' | '(' | ')' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A pytest node id for a scenario: its name when it already is one
/// (`path::test`), else `feature::name` when the feature is a test file.
fn pytest_node(p: &Pick<'_>) -> String {
    if p.name.contains("::") || !p.feature.ends_with(".py") {
        p.name.to_owned()
    } else {
        format!("{}::{}", p.feature, p.name)
    }
}
