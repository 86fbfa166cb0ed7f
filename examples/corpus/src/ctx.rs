//! What a shape's worker process gets: who it is, a seeded RNG, the pool
//! (named for the tracer the way a user names it), and the one way to run a
//! scenario, which writes the `failed` truth line for every failure.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AnyPool;

use crate::db::DbKind;
use crate::rng::Rng;
use crate::truth::{self, Who};

/// One worker (or fixture) process of one run.
pub struct Ctx {
    pub shape: &'static str,
    /// 0-based worker index; 0 for the fixture process.
    pub worker: usize,
    pub workers: usize,
    /// This run's seed (the same in every process of the run).
    pub seed: u64,
    /// True in the fixture process that runs before the workers.
    pub fixture: bool,
    pub db: DbKind,
    pub pool: AnyPool,
    /// A pool whose statements never reach the trace (`db::quiet_pool`),
    /// for the ground truth's own reads.
    pub quiet: AnyPool,
    /// The pool's identity as the tracer knows it.
    pub database: state_tracer::sqlx::Database,
    rng: Mutex<Rng>,
    names: Mutex<HashSet<(String, String)>>,
    failures: AtomicUsize,
}

/// Why a scenario failed, as the database tells it.
#[derive(Debug)]
pub enum Failure {
    /// The rows tagged `tags` were gone or changed when it read them.
    Needs { tags: Vec<String>, msg: String },
    /// The state names the culprits (primary first) directly.
    Culprits {
        culprits: Vec<Who>,
        also: Vec<Who>,
        msg: String,
    },
    /// Not about shared state: must get no likely cause.
    Genuine(String),
    /// Nobody knows (a database error the shape did not expect): no truth
    /// line, so the score shows it as `unknown`.
    Unexplained(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Needs { msg, .. } | Failure::Culprits { msg, .. } => msg,
            Failure::Genuine(m) | Failure::Unexplained(m) => m,
        }
    }

    fn record(&self, who: &Who) {
        match self {
            Failure::Needs { tags, .. } => truth::failed_needing(who, tags),
            Failure::Culprits { culprits, also, .. } => truth::failed_by(who, culprits, also),
            Failure::Genuine(why) => truth::failed_genuinely(who, why),
            Failure::Unexplained(m) => {
                eprintln!(
                    "corpus: {} / {}: unexplained failure: {m}",
                    who.feature, who.scenario
                )
            }
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Unexplained(e.to_string())
    }
}

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shape: &'static str,
        worker: usize,
        workers: usize,
        seed: u64,
        fixture: bool,
        db: DbKind,
        pool: AnyPool,
        quiet: AnyPool,
        database: state_tracer::sqlx::Database,
    ) -> Ctx {
        // Each process its own stream; the fixture one apart from worker 0.
        let stream = seed ^ ((worker as u64 + 1) << 32) ^ u64::from(fixture);
        Ctx {
            shape,
            worker,
            workers,
            seed,
            fixture,
            db,
            pool,
            quiet,
            database,
            rng: Mutex::new(Rng::new(stream)),
            names: Mutex::new(HashSet::new()),
            failures: AtomicUsize::new(0),
        }
    }

    /// Uses this process's RNG.
    pub fn rng<T>(&self, f: impl FnOnce(&mut Rng) -> T) -> T {
        f(&mut self.rng.lock().expect("rng lock"))
    }

    /// The run-wide RNG: the same stream in every process (shared decisions
    /// such as "this run seeds through a setup scenario").
    pub fn run_rng(&self) -> Rng {
        Rng::new(self.seed)
    }

    /// A real sleep of `lo..hi` milliseconds.
    pub async fn sleep_ms(&self, lo: u64, hi: u64) {
        let ms = self.rng(|r| r.range(lo, hi));
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Scenarios that failed so far in this process.
    pub fn failures(&self) -> usize {
        self.failures.load(Ordering::Relaxed)
    }

    /// Runs `body` as scenario `feature` / `name` (unique in this process):
    /// its statements are attributed to it, a failure marks it `FAILED` and
    /// writes exactly one `failed` truth line. Returns whether it passed.
    pub async fn scenario<F, Fut>(&self, feature: &str, name: &str, body: F) -> bool
    where
        F: FnOnce(Who) -> Fut,
        Fut: Future<Output = Result<(), Failure>>,
    {
        let fresh = self
            .names
            .lock()
            .expect("names lock")
            .insert((feature.to_owned(), name.to_owned()));
        assert!(
            fresh,
            "scenario names must be unique in a process: {feature} / {name}"
        );
        let who = Who::here(feature, name);
        let scenario = state_tracer::scenario(feature, name);
        let result = scenario.instrument(body(who.clone())).await;
        match result {
            Ok(()) => true,
            Err(f) => {
                scenario.fail(f.message());
                f.record(&who);
                self.failures.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// Runs `jobs` with at most `parallel` at a time on tokio tasks (the way
/// `cargo test` runs a binary's tests on several threads); in order when
/// `parallel` is 1.
pub async fn run_all<Fut>(parallel: usize, jobs: Vec<Fut>)
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for job in jobs {
        let permit = permits.clone().acquire_owned().await.expect("semaphore");
        set.spawn(async move {
            job.await;
            drop(permit);
        });
    }
    while let Some(r) = set.join_next().await {
        if let Err(e) = r {
            eprintln!("corpus: a scenario task panicked: {e}");
        }
    }
}
