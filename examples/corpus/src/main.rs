//! `corpus`: runs suite shapes for the accuracy corpus and scores their
//! reports (see `docs/accuracy.md` and `examples/corpus/SHAPES.md`).
//!
//! - `corpus run SHAPE [--postgres URL] [--runs N] [--seed S] --out DIR`
//! - `corpus worker SHAPE --worker I --workers N --seed S [--fixture]`
//!   (started by `run`, one per process of a run)
//! - `corpus score RUN_DIR...`
//! - `corpus list`

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:\n  corpus run SHAPE [--postgres URL] [--runs N] [--seed S] --out DIR\n  corpus worker SHAPE --worker I --workers N --seed S [--fixture]\n  corpus score RUN_DIR...\n  corpus list";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("score") => {
            let dirs: Vec<PathBuf> = args[1..].iter().map(PathBuf::from).collect();
            match corpus::score::score_dirs(&dirs) {
                Ok(rows) => {
                    print!("{}", corpus::score::render(&rows));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&format!("corpus score: {e}")),
            }
        }
        Some("list") => {
            for s in corpus::shapes::all() {
                println!("{}", s.name);
            }
            ExitCode::SUCCESS
        }
        Some("run") => match parse_run(&args[1..]).and_then(|a| corpus::runner::run(&a)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("corpus run: {e}")),
        },
        Some("worker") => match parse_worker(&args[1..]) {
            Ok((shape, w, n, seed, fixture)) => {
                match corpus::runner::worker(&shape, w, n, seed, fixture) {
                    Ok(true) => ExitCode::SUCCESS,
                    Ok(false) => ExitCode::from(1),
                    Err(e) => fail(&format!("corpus worker: {e}")),
                }
            }
            Err(e) => fail(&e),
        },
        _ => fail(USAGE),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(2)
}

/// `--name [value]` options, in order.
type Options = Vec<(String, Option<String>)>;

/// The positional shape name and the options after it.
fn options(args: &[String]) -> Result<(String, Options), String> {
    let shape = args
        .first()
        .filter(|s| !s.starts_with("--"))
        .ok_or(USAGE)?
        .clone();
    let mut opts = Vec::new();
    let mut it = args[1..].iter().peekable();
    while let Some(a) = it.next() {
        let name = a
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {a:?}\n{USAGE}"))?;
        let value = match it.peek() {
            Some(v) if !v.starts_with("--") => it.next().cloned(),
            _ => None,
        };
        opts.push((name.to_owned(), value));
    }
    Ok((shape, opts))
}

fn number<T: std::str::FromStr>(name: &str, v: &Option<String>) -> Result<T, String> {
    v.as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("--{name} needs a number"))
}

fn parse_run(args: &[String]) -> Result<corpus::runner::RunArgs, String> {
    let (shape, opts) = options(args)?;
    let mut run = corpus::runner::RunArgs {
        shape,
        postgres: None,
        runs: 1,
        seed: 1,
        out: PathBuf::new(),
    };
    for (name, v) in &opts {
        match name.as_str() {
            "postgres" => run.postgres = Some(v.clone().ok_or("--postgres needs a URL")?),
            "runs" => run.runs = number(name, v)?,
            "seed" => run.seed = number(name, v)?,
            "out" => run.out = PathBuf::from(v.clone().ok_or("--out needs a folder")?),
            _ => return Err(format!("unknown option --{name}\n{USAGE}")),
        }
    }
    if run.out.as_os_str().is_empty() {
        return Err(format!("--out is required\n{USAGE}"));
    }
    Ok(run)
}

fn parse_worker(args: &[String]) -> Result<(String, usize, usize, u64, bool), String> {
    let (shape, opts) = options(args)?;
    let (mut w, mut n, mut seed, mut fixture) = (0, 1, 1, false);
    for (name, v) in &opts {
        match name.as_str() {
            "worker" => w = number(name, v)?,
            "workers" => n = number(name, v)?,
            "seed" => seed = number(name, v)?,
            "fixture" => fixture = true,
            _ => return Err(format!("unknown option --{name}\n{USAGE}")),
        }
    }
    Ok((shape, w, n, seed, fixture))
}
