//! Starts one OS process per feature, in parallel or one after another, the
//! way `go test ./...` runs one test binary per package.
//!
//! Every child gets the same `DATABASE_URL` (so they really share one
//! database unless isolation is on) and the same `BDD_TRACE_RUN_ID` (so their
//! trace files form one run), plus `BDD_TRACE_PROCESS=<feature>` as its label.

use std::env;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config;

/// The suite's features, in the order a sequential run uses.
pub const FEATURES: &[&str] = &["auth", "greet", "admin"];

/// The features of the mixed shape (`features-mixed/`).
pub const MIXED_FEATURES: &[&str] = &["catalog", "orders", "accounts"];

/// Which suite a run is: the demo (`features/`, one scenario at a time,
/// every after hook empties every table) or the mixed shape
/// (`features-mixed/`, cucumber's default concurrency, seeding hooks, mixed
/// cleanups; see [`crate::mixed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Shape {
    #[default]
    Demo,
    Mixed,
}

impl Shape {
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Shape::Demo => FEATURES,
            Shape::Mixed => MIXED_FEATURES,
        }
    }
}

/// How one feature process ended.
#[derive(Debug)]
pub struct FeatureRun {
    pub feature: String,
    pub status: Option<ExitStatus>,
    pub elapsed: Duration,
    pub output: String,
}

impl FeatureRun {
    pub fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Runs `features` with `exe feature <name>` each in its own process.
pub fn run_suite(exe: &Path, features: &[String], parallel: bool) -> Vec<FeatureRun> {
    run_suite_shaped(exe, features, parallel, Shape::Demo)
}

/// [`run_suite`] for either shape: the mixed shape's processes get
/// `feature --shape mixed <name>` and no `--concurrency`, so cucumber runs
/// their scenarios with its own default concurrency.
pub fn run_suite_shaped(
    exe: &Path,
    features: &[String],
    parallel: bool,
    shape: Shape,
) -> Vec<FeatureRun> {
    let mut env_for_children: Vec<(String, String)> = Vec::new();
    if env::var_os("DATABASE_URL").is_none() {
        env_for_children.push(("DATABASE_URL".into(), config::default_database_url()));
    }
    if config::flag("BDD_TRACE_STATE", false)
        && env::var_os("BDD_TRACE_RUN_ID").is_none()
        && env::var_os("NEXTEST_RUN_ID").is_none()
    {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        env_for_children.push((
            "BDD_TRACE_RUN_ID".into(),
            format!("bdd-demo-{nanos:x}-{}", std::process::id()),
        ));
    }

    let concurrency = config::Config::from_env().concurrency.to_string();
    let spawn = |feature: &str| {
        let mut cmd = Command::new(exe);
        // cucumber's own `--concurrency` flag, passed explicitly: the trace
        // header's argv then names the framework, so repro hints and
        // `trace-analyzer confirm` can narrow this command with `--name`.
        cmd.arg("feature");
        match shape {
            Shape::Demo => cmd.arg(feature).arg("--concurrency").arg(&concurrency),
            Shape::Mixed => cmd.arg("--shape").arg("mixed").arg(feature),
        };
        cmd.env("BDD_TRACE_PROCESS", feature)
            .envs(env_for_children.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        (feature.to_owned(), Instant::now(), cmd.spawn())
    };
    let finish =
        |(feature, started, child): (String, Instant, std::io::Result<std::process::Child>)| {
            match child.and_then(|c| c.wait_with_output()) {
                Ok(out) => FeatureRun {
                    feature,
                    status: Some(out.status),
                    elapsed: started.elapsed(),
                    output: format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ),
                },
                Err(e) => FeatureRun {
                    feature,
                    status: None,
                    elapsed: started.elapsed(),
                    output: format!("could not run {}: {e}\n", exe.display()),
                },
            }
        };

    if parallel {
        let children: Vec<_> = features.iter().map(|f| spawn(f)).collect();
        children.into_iter().map(finish).collect()
    } else {
        features.iter().map(|f| finish(spawn(f))).collect()
    }
}
