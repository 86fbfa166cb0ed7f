//! Shape 10, `inseparable`: a job-queue suite. One process enqueues jobs
//! and waits for them (a real 150–400 ms) before checking them; two other
//! processes run short maintenance tests that each end by emptying the
//! whole queue table (PostgreSQL `TRUNCATE`, no row count; SQLite `DELETE
//! FROM jobs RETURNING tag`). Often both cleaners run inside a victim's
//! wait: the trace cannot tell which removed its rows; the truth can.
//! Scored apart (its own `shape`).

use std::sync::Arc;

use sqlx::Row as _;

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "inseparable",
    workers: |_| 3,
    schema,
    fixture: no_fixture,
    run,
};

fn schema(kind: DbKind) -> Vec<String> {
    vec![format!(
        "CREATE TABLE jobs (id {}, tag TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, state TEXT NOT NULL, written_by TEXT NOT NULL)",
        kind.serial()
    )]
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        let mut jobs: Vec<BoxFut> = Vec::new();
        if ctx.worker == 0 {
            let count = ctx.rng(|r| r.range(10, 18)) as usize;
            for i in 0..count {
                let ctx = ctx.clone();
                jobs.push(Box::pin(async move {
                    ctx.sleep_ms(10, 80).await;
                    let c = ctx.clone();
                    let name = format!("enqueued job completes #{i}");
                    ctx.scenario("job queue", &name, |who| waits_for_jobs(c, who, i)).await;
                }));
            }
        } else {
            let feature = if ctx.worker == 1 { "queue maintenance" } else { "scheduler" };
            let count = ctx.rng(|r| r.range(8, 14)) as usize;
            for i in 0..count {
                let ctx = ctx.clone();
                jobs.push(Box::pin(async move {
                    ctx.sleep_ms(50, 300).await;
                    let c = ctx.clone();
                    let name = format!("requeue stale jobs #{i}");
                    ctx.scenario(feature, &name, |who| maintenance(c, who, i)).await;
                }));
            }
        }
        run_all(1, jobs).await;
    })
}

async fn insert_jobs(ctx: &Ctx, who: &Who, owner: &str, n: u64) -> Result<Vec<String>, Failure> {
    let writer = db::who_tag(who);
    let mut tags = Vec::new();
    for j in 0..n {
        let tag = format!("{owner}-{j}");
        sqlx::query("INSERT INTO jobs (tag, owner, state, written_by) VALUES ($1, $2, 'queued', $3)")
            .bind(&tag)
            .bind(owner)
            .bind(&writer)
            .execute(&ctx.pool)
            .await?;
        tags.push(tag);
    }
    Ok(tags)
}

async fn waits_for_jobs(ctx: Arc<Ctx>, who: Who, i: usize) -> Result<(), Failure> {
    let owner = format!("enqueue-{}-{i}", std::process::id());
    let n = ctx.rng(|r| r.range(1, 4));
    let wanted = insert_jobs(&ctx, &who, &owner, n).await?;
    ctx.sleep_ms(150, 400).await;
    let rows = sqlx::query("SELECT tag FROM jobs WHERE owner = $1")
        .bind(&owner)
        .fetch_all(&ctx.pool)
        .await?;
    let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let missing: Vec<String> = wanted.iter().filter(|t| !found.contains(t)).cloned().collect();
    // The test's own cleanup, whatever happened.
    let gone = sqlx::query("DELETE FROM jobs WHERE owner = $1 RETURNING tag")
        .bind(&owner)
        .fetch_all(&ctx.pool)
        .await?;
    truth::removed(&who, "jobs", &gone.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Failure::Needs {
            msg: format!("job(s) {} vanished from the queue", missing.join(", ")),
            tags: missing,
        })
    }
}

async fn maintenance(ctx: Arc<Ctx>, who: Who, i: usize) -> Result<(), Failure> {
    let owner = format!("stale-{}-{i}", std::process::id());
    let n = ctx.rng(|r| r.range(1, 3));
    insert_jobs(&ctx, &who, &owner, n).await?;
    sqlx::query("UPDATE jobs SET state = 'queued' WHERE owner = $1 AND state = 'running'")
        .bind(&owner)
        .execute(&ctx.pool)
        .await?;
    ctx.sleep_ms(10, 60).await;
    // Teardown: a clean queue for the next test.
    db::clean_whole_tables(&ctx.pool, ctx.db, &who, &["jobs"]).await?;
    Ok(())
}
