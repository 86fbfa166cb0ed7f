//! `bdd-demo`: runs the demo suite.
//!
//! - `bdd-demo feature NAME` runs one feature's scenarios in this process.
//! - `bdd-demo suite [--sequential] [FEATURE...]` runs one process per feature
//!   (all of them by default), in parallel unless `--sequential`.
//! - `--shape mixed` (on both) runs the second suite shape instead
//!   (`features-mixed/`, `src/mixed_steps.rs`).
//!
//! Configuration comes from the environment: see `bdd_demo::config`.

mod mixed_steps;
mod steps;

use std::process::ExitCode;

use bdd_demo::app::App;
use bdd_demo::config::Config;
use bdd_demo::db::Db;
use bdd_demo::jwt::{JwtSecrets, INITIAL_SECRET};
use bdd_demo::latency::Jitter;
use bdd_demo::runner::{self, Shape, FEATURES};
use bdd_demo::truth::writer_tag;
use clap::{Parser, Subcommand};
use cucumber::World as _;
use futures::FutureExt as _;
use state_tracer::cucumber::{CucumberExt as _, Hooks};

#[derive(Parser)]
#[command(
    version,
    about = "The state-tracer demo suite: a cucumber-rs suite whose feature processes pollute each other",
    after_help = "Examples:\n  bdd-demo suite                       # all features, in parallel, shared SQLite\n  \
                  BDD_SCHEMA_ISOLATION=true bdd-demo suite\n  BDD_JWT_RESET=false bdd-demo feature auth\n  \
                  trace-analyzer run -- bdd-demo suite"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one feature (auth, greet, admin) in this process. Arguments after
    /// the name go to cucumber, e.g. `--name REGEX`, `--concurrency N`.
    Feature {
        /// Which suite the feature belongs to (before the name).
        #[arg(long, value_enum, default_value_t = Shape::Demo)]
        shape: Shape,
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cucumber_args: Vec<String>,
    },
    /// Summarise validation iterations: pass/fail and findings per
    /// iteration, then the flaky scenarios and what explains them. Each DIR
    /// holds the analyzer's `report.json` and the suite's exit code in `rc`
    /// (scripts/validate-test-suite.sh writes them).
    Summarize {
        #[arg(required = true)]
        dirs: Vec<std::path::PathBuf>,
    },
    /// Run features as separate processes (all of them by default).
    Suite {
        /// One process after another instead of all at once.
        #[arg(long)]
        sequential: bool,
        /// `mixed`: the second suite shape (features-mixed/: cucumber's
        /// default concurrency, seeding hooks, mixed cleanups).
        #[arg(long, value_enum, default_value_t = Shape::Demo)]
        shape: Shape,
        features: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Feature {
            shape: Shape::Demo,
            name,
            cucumber_args,
        } => run_feature(&name, &cucumber_args),
        Cmd::Feature {
            shape: Shape::Mixed,
            name,
            cucumber_args,
        } => mixed_steps::run_feature(&name, &cucumber_args),
        Cmd::Summarize { dirs } => {
            let (iterations, errors) = bdd_demo::summary::load_all(&dirs);
            for e in &errors {
                eprintln!("bdd-demo: {e}");
            }
            print!("{}", bdd_demo::summary::render(&iterations));
            if errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Cmd::Suite {
            sequential,
            shape,
            features,
        } => {
            let features: Vec<String> = if features.is_empty() {
                shape.features().iter().map(|s| s.to_string()).collect()
            } else {
                features
            };
            let exe = match std::env::current_exe() {
                Ok(exe) => exe,
                Err(e) => {
                    eprintln!("bdd-demo: cannot find my own executable: {e}");
                    return ExitCode::from(2);
                }
            };
            let runs = runner::run_suite_shaped(&exe, &features, !sequential, shape);
            let mut failed = 0;
            for run in &runs {
                println!("==== feature {} ====", run.feature);
                print!("{}", run.output);
            }
            println!("==== summary ====");
            for run in &runs {
                let verdict = if run.passed() { "passed" } else { "FAILED" };
                println!(
                    "{:<6} {verdict} in {:.2}s",
                    run.feature,
                    run.elapsed.as_secs_f64()
                );
                failed += usize::from(!run.passed());
            }
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Cucumber's command-line options of a feature process.
pub(crate) type CucumberOpts = cucumber::cli::Opts<
    cucumber::parser::basic::Cli,
    cucumber::runner::basic::Cli,
    cucumber::writer::basic::Cli,
    cucumber::cli::Empty,
>;

/// A feature process's cucumber options (`program` stands for the command
/// in their messages) and its async runtime; on error, the exit code after
/// saying why.
pub(crate) fn cli_and_runtime(
    program: String,
    cucumber_args: &[String],
) -> Result<(CucumberOpts, tokio::runtime::Runtime), ExitCode> {
    let cli = cucumber::cli::Opts::try_parse_from(
        std::iter::once(program).chain(cucumber_args.iter().cloned()),
    )
    .map_err(|e| {
        let _ = e.print();
        ExitCode::from(2)
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("bdd-demo: cannot start the async runtime: {e}");
            ExitCode::from(2)
        })?;
    Ok((cli, runtime))
}

fn run_feature(name: &str, cucumber_args: &[String]) -> ExitCode {
    let config = Config::from_env();
    let path = config.features_dir.join(format!("{name}.feature"));
    if !path.is_file() {
        eprintln!(
            "bdd-demo: no feature file {} (features: {})",
            path.display(),
            FEATURES.join(", ")
        );
        return ExitCode::from(2);
    }
    if std::env::var_os("BDD_TRACE_PROCESS").is_none() {
        // Before the tracer reads it: label this process by its feature.
        std::env::set_var("BDD_TRACE_PROCESS", name);
    }
    // cucumber's builder runs after init(): say now, for the trace header's
    // re-run template, that this process's arguments go to cucumber.
    state_tracer::rerun::declare(state_tracer::rerun::Framework::Cucumber);
    let _trace = state_tracer::init();

    let (cli, runtime) = match cli_and_runtime(format!("bdd-demo feature {name}"), cucumber_args) {
        Ok(both) => both,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let tag = format!("{name}_{}", std::process::id());
        let db = match Db::connect(&config.database_url, config.schema_isolation, &tag).await {
            Ok(db) => db,
            Err(e) => {
                eprintln!("bdd-demo: cannot open the database: {e}");
                return ExitCode::from(2);
            }
        };
        let app = App::new(
            db.clone(),
            JwtSecrets::new(INITIAL_SECRET),
            Jitter::new(config.seed, name),
        );
        let concurrency = config.concurrency;
        steps::install(app, config);

        let writer = steps::DemoWorld::cucumber()
            .max_concurrent_scenarios(concurrency)
            // Records every scenario, step and hook action; what the steps
            // do is attributed to their scenario with no code in the steps.
            .trace_state(
                Hooks::new()
                    .before(|feature, _rule, scenario, world: &mut steps::DemoWorld| {
                        world.by = writer_tag(std::process::id(), &feature.name, &scenario.name);
                        async {}.boxed_local()
                    })
                    .after(|feature, _rule, scenario, _finished, _world| {
                        let by = writer_tag(std::process::id(), &feature.name, &scenario.name);
                        async move { steps::after_scenario(&by).await }.boxed_local()
                    }),
            )
            .with_cli(cli)
            .run(path)
            .await;
        db.close().await;
        use cucumber::writer::Stats as _;
        if writer.execution_has_failed() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}
