//! `corpus run` and `corpus worker`: a run is a fresh database, an optional
//! fixture process, the shape's worker processes (this binary again, traced
//! the way a user's suite is), `meta.json`, and the analyzer's report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Executor as _;

use crate::ctx::Ctx;
use crate::db::{self, DbKind};
use crate::shapes::{self, Fixture, Shape};

/// `corpus run SHAPE [--postgres URL] [--runs N] [--seed S] --out DIR`.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub shape: String,
    pub postgres: Option<String>,
    pub runs: usize,
    pub seed: u64,
    pub out: PathBuf,
}

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs `args.runs` runs of the shape into `out/run-NNN/`.
pub fn run(args: &RunArgs) -> Res<()> {
    let shape = shapes::find(&args.shape).ok_or_else(|| {
        let names: Vec<_> = shapes::all().iter().map(|s| s.name).collect();
        format!(
            "unknown shape {:?} (known: {})",
            args.shape,
            names.join(", ")
        )
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err("tokio"))?;
    std::fs::create_dir_all(&args.out).map_err(err("out dir"))?;
    let out = args.out.canonicalize().map_err(err("out dir"))?;
    for k in 0..args.runs {
        let dir = out.join(format!("run-{k:03}"));
        let seed = args.seed.wrapping_mul(1000).wrapping_add(k as u64);
        one_run(&rt, shape, args.postgres.as_deref(), &dir, seed, k)?;
    }
    Ok(())
}

fn one_run(
    rt: &tokio::runtime::Runtime,
    shape: &Shape,
    pg: Option<&str>,
    dir: &Path,
    seed: u64,
    k: usize,
) -> Res<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(err("old run dir"))?;
    }
    let traces = dir.join("traces");
    std::fs::create_dir_all(&traces).map_err(err("traces dir"))?;
    let kind = if pg.is_some() {
        DbKind::Postgres
    } else {
        DbKind::Sqlite
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let run_id = format!("corpus-{}-{}-{k:03}-{now_ms}", shape.name, kind.name());
    let pg_name = format!(
        "corpus_{}_{}_{k}",
        shape.name.replace('-', "_"),
        std::process::id()
    );
    let url = match pg {
        Some(admin) => {
            rt.block_on(create_pg_database(admin, &pg_name))?;
            with_database(admin, &pg_name)
        }
        None => format!("sqlite://{}?mode=rwc", dir.join("suite.sqlite").display()),
    };
    rt.block_on(migrate(&url, kind, (shape.schema)(kind)))?;

    let truth = dir.join("truth.jsonl");
    std::fs::write(&truth, "").map_err(err("truth file"))?;
    let exe = std::env::current_exe().map_err(err("current exe"))?;
    let command = |role: &str, worker: usize, workers: usize, traced: bool| {
        let mut c = Command::new(&exe);
        c.args(["worker", shape.name, "--worker", &worker.to_string()])
            .args([
                "--workers",
                &workers.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .env("DATABASE_URL", &url)
            .env(crate::truth::ENV, &truth)
            .env("BDD_TRACE_DIR", &traces)
            .env("BDD_TRACE_RUN_ID", &run_id)
            .env("BDD_TRACE_PROCESS", format!("{}-{role}", shape.name))
            .env_remove("NEXTEST_RUN_ID");
        if role == "fixture" {
            c.arg("--fixture");
        }
        if traced {
            c.env("BDD_TRACE_STATE", "1");
        } else {
            c.env_remove("BDD_TRACE_STATE");
        }
        let log = std::fs::File::create(dir.join(format!("{role}.log"))).map_err(err("log"))?;
        let log2 = log.try_clone().map_err(err("log"))?;
        c.stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        Ok::<_, String>(c)
    };

    let fixture = (shape.fixture)(seed);
    if fixture != Fixture::None {
        let status = command("fixture", 0, 0, fixture == Fixture::Traced)?
            .status()
            .map_err(err("fixture process"))?;
        if !status.success() {
            return Err(format!(
                "{}: the fixture process failed ({status})",
                dir.display()
            ));
        }
    }
    let workers = (shape.workers)(seed);
    let mut children = Vec::new();
    for i in 0..workers {
        let child = command(&format!("w{i}"), i, workers, true)?
            .spawn()
            .map_err(err("worker process"))?;
        children.push(child);
    }
    for mut c in children {
        // A worker exits 1 when a scenario failed, as a test binary does.
        let status = c.wait().map_err(err("worker"))?;
        if status.code().is_none_or(|c| c > 1) {
            eprintln!("corpus: {}: a worker ended with {status}", dir.display());
        }
    }
    let meta = serde_json::json!({"shape": shape.name, "db": kind.name()});
    std::fs::write(dir.join("meta.json"), format!("{meta}\n")).map_err(err("meta.json"))?;
    analyze(dir, &run_id)?;
    if let Some(admin) = pg {
        rt.block_on(drop_pg_database(admin, &pg_name))?;
    }
    Ok(())
}

/// `$TRACE_ANALYZER report DIR/traces --run ID --format json` into
/// `DIR/report.json`; the default analyzer is the one built beside us.
fn analyze(dir: &Path, run_id: &str) -> Res<()> {
    let analyzer = std::env::var_os("TRACE_ANALYZER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap_or_default();
            exe.with_file_name("trace-analyzer")
        });
    let status = Command::new(&analyzer)
        .arg("report")
        .arg(dir.join("traces"))
        .args([
            "--run",
            run_id,
            "--format",
            "json",
            "--fail-on",
            "never",
            "-o",
        ])
        .arg(dir.join("report.json"))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", analyzer.display()))?;
    if !status.success() {
        return Err(format!("{}: the analyzer failed ({status})", dir.display()));
    }
    Ok(())
}

/// Migrations: untraced (this process has no subscriber), before the suite.
async fn migrate(url: &str, kind: DbKind, ddl: Vec<String>) -> Res<()> {
    let pool = db::connect(url, 1).await.map_err(err("connect"))?;
    if kind == DbKind::Sqlite {
        // WAL persists in the file: the workers read while one writes.
        pool.execute("PRAGMA journal_mode = WAL")
            .await
            .map_err(err("WAL"))?;
    }
    for stmt in &ddl {
        pool.execute(stmt.as_str())
            .await
            .map_err(|e| format!("{stmt}: {e}"))?;
    }
    pool.close().await;
    Ok(())
}

/// `postgres://u@h:p/db?x` with the database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out = format!("{out}?{q}");
    }
    out
}

async fn create_pg_database(admin: &str, name: &str) -> Res<()> {
    let pool = db::connect(admin, 1).await.map_err(err("postgres"))?;
    pool.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .map_err(err("drop database"))?;
    pool.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .map_err(err("create database"))?;
    pool.close().await;
    Ok(())
}

async fn drop_pg_database(admin: &str, name: &str) -> Res<()> {
    let pool = db::connect(admin, 1).await.map_err(err("postgres"))?;
    pool.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .map_err(err("drop database"))?;
    pool.close().await;
    Ok(())
}

/// `corpus worker SHAPE --worker I --workers N --seed S [--fixture]`: one
/// process of a run, traced as a user's suite traces itself. Exit code 1
/// when a scenario failed.
pub fn worker(shape: &str, worker: usize, workers: usize, seed: u64, fixture: bool) -> Res<bool> {
    let shape = shapes::find(shape).ok_or_else(|| format!("unknown shape {shape:?}"))?;
    let _trace = state_tracer::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err("tokio"))?;
    rt.block_on(async {
        let url = std::env::var("DATABASE_URL").map_err(err("DATABASE_URL"))?;
        let database = state_tracer::sqlx::name_pool(&url);
        let pool = db::connect(&url, 4).await.map_err(err("connect"))?;
        let quiet = db::quiet_pool(&url).await.map_err(err("connect"))?;
        let kind = DbKind::from_url(&url);
        let ctx = Arc::new(Ctx::new(
            shape.name,
            worker,
            workers,
            seed,
            fixture,
            kind,
            pool.clone(),
            quiet.clone(),
            database,
        ));
        (shape.run)(ctx.clone()).await;
        pool.close().await;
        quiet.close().await;
        Ok(ctx.failures() == 0)
    })
}
