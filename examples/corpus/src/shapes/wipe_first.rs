//! Shape 12, `wipe-first`: every test starts by emptying every table (the
//! "reset the database in the setup" habit of many backends), then inserts
//! what it needs, works for a while (a real 10–200 ms) and reads it back.
//! With 3–4 test processes in parallel, another test's start-of-test wipe
//! is what removes a victim's rows; that wipe is the culprit.

use std::sync::Arc;

use sqlx::Row as _;

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::Who;

pub const SHAPE: Shape = Shape {
    name: "wipe-first",
    workers: |seed| 3 + (seed % 2) as usize,
    schema,
    fixture: no_fixture,
    run,
};

const TABLES: &[&str] = &["accounts", "transfers", "audit_events"];
const FEATURES: &[&str] = &["accounts api", "transfers api", "audit api", "admin api"];

fn schema(kind: DbKind) -> Vec<String> {
    TABLES
        .iter()
        .map(|t| {
            format!(
                "CREATE TABLE {t} (id {}, tag TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, amount BIGINT NOT NULL, written_by TEXT NOT NULL)",
                kind.serial()
            )
        })
        .collect()
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        let feature = FEATURES[ctx.worker % FEATURES.len()];
        let count = ctx.rng(|r| r.range(8, 15)) as usize;
        let mut jobs = Vec::new();
        for i in 0..count {
            let ctx = ctx.clone();
            jobs.push(async move {
                // Test set-up outside the database (fixtures, a client).
                ctx.sleep_ms(20, 150).await;
                let genuine = ctx.rng(|r| r.chance(3));
                let name = if genuine {
                    format!("interest is rounded half-up #{i}")
                } else {
                    format!("create and fetch resources #{i}")
                };
                let c = ctx.clone();
                ctx.scenario(feature, &name, |who| scenario(c, who, i, genuine)).await;
            });
        }
        run_all(1 + ctx.worker % 2, jobs).await;
    })
}

async fn scenario(ctx: Arc<Ctx>, who: Who, i: usize, genuine: bool) -> Result<(), Failure> {
    // Given an empty database.
    db::clean_whole_tables(&ctx.pool, ctx.db, &who, TABLES).await?;

    let owner = format!("user-{}-{i}", std::process::id());
    let writer = db::who_tag(&who);
    let mut wanted = Vec::new();
    let tables = ctx.rng(|r| r.range(1, TABLES.len() as u64 + 1)) as usize;
    for table in &TABLES[..tables] {
        let n = ctx.rng(|r| r.range(1, 3));
        for j in 0..n {
            let tag = format!("{owner}-{table}-{j}");
            sqlx::query(&format!("INSERT INTO {table} (tag, owner, amount, written_by) VALUES ($1, $2, $3, $4)"))
                .bind(&tag)
                .bind(&owner)
                .bind(50 * (j as i64 + 1))
                .bind(&writer)
                .execute(&ctx.pool)
                .await?;
            wanted.push(tag);
        }
    }
    ctx.sleep_ms(10, 200).await;

    let mut found = Vec::new();
    for table in &TABLES[..tables] {
        let rows = sqlx::query(&format!("SELECT tag, amount FROM {table} WHERE owner = $1"))
            .bind(&owner)
            .fetch_all(&ctx.pool)
            .await?;
        found.extend(rows.iter().map(|r| r.get::<String, _>(0)));
    }
    let missing: Vec<String> = wanted.iter().filter(|t| !found.contains(t)).cloned().collect();
    if !missing.is_empty() {
        return Err(Failure::Needs {
            msg: format!("GET /resources?owner={owner}: expected {} items, got {}", wanted.len(), found.len()),
            tags: missing,
        });
    }
    if genuine {
        // The rounding under test is wrong: 2.5 % of 50 rounded half-up is 2, not 1.
        let interest = 50 * 25 / 1000;
        if interest != 2 {
            return Err(Failure::Genuine(format!("expected interest 2, got {interest}")));
        }
    }
    Ok(())
}
