//! Shape 1, `own-row-cleanup`: 3–4 test processes share one database; each
//! scenario inserts rows under an owner of its own, waits (a real 10–200 ms,
//! as a request round trip or a background job would), reads them back and
//! cleans up. Most clean only their own rows (`DELETE … WHERE owner = ?`,
//! inline or through an app helper); a few clean whole tables (`DELETE FROM
//! t` on SQLite, `TRUNCATE` on PostgreSQL). Only those can be polluters.

use std::sync::Arc;

use sqlx::{AnyPool, Row as _};

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "own-row-cleanup",
    workers: |seed| 3 + (seed % 2) as usize,
    schema,
    fixture: no_fixture,
    run,
};

const FEATURES: &[&str] = &["checkout", "order history", "cart", "billing"];

fn schema(kind: DbKind) -> Vec<String> {
    let id = kind.serial();
    vec![
        format!("CREATE TABLE orders (id {id}, tag TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, amount BIGINT NOT NULL, written_by TEXT NOT NULL)"),
        format!("CREATE TABLE cart_items (id {id}, tag TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, sku TEXT NOT NULL, written_by TEXT NOT NULL)"),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Cleans its own rows with an inline `DELETE … WHERE owner = $1`.
    OwnInline,
    /// Cleans its own rows through the app's helper.
    OwnHelper,
    /// Asserts on a computation that is simply wrong.
    Genuine,
    /// Tears down by emptying both tables.
    WholeTable,
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        let feature = FEATURES[ctx.worker % FEATURES.len()];
        let count = ctx.rng(|r| r.range(8, 15)) as usize;
        let mut jobs = Vec::new();
        for i in 0..count {
            let kind = ctx.rng(|r| match r.range(0, 100) {
                0..=3 => Kind::Genuine,
                4..=13 => Kind::WholeTable,
                16..=55 => Kind::OwnHelper,
                _ => Kind::OwnInline,
            });
            let ctx = ctx.clone();
            jobs.push(async move {
                ctx.sleep_ms(0, 60).await;
                let name = match kind {
                    Kind::WholeTable => format!("bulk order import #{i}"),
                    Kind::Genuine => format!("discounted order total #{i}"),
                    _ => format!("place and list orders #{i}"),
                };
                let c = ctx.clone();
                ctx.scenario(feature, &name, |who| scenario(c, who, i, kind)).await;
            });
        }
        // Odd workers run two tests at a time, as `cargo test` threads do.
        run_all(1 + ctx.worker % 2, jobs).await;
    })
}

async fn scenario(ctx: Arc<Ctx>, who: Who, i: usize, kind: Kind) -> Result<(), Failure> {
    let owner = format!("customer-{}-{}-{i}", std::process::id(), ctx.worker);
    let writer = db::who_tag(&who);
    let (orders, items) = ctx.rng(|r| (r.range(1, 4), r.range(0, 3)));
    let mut wanted = Vec::new();
    for j in 0..orders {
        let tag = format!("{owner}-o{j}");
        sqlx::query("INSERT INTO orders (tag, owner, amount, written_by) VALUES ($1, $2, $3, $4)")
            .bind(&tag)
            .bind(&owner)
            .bind(100 * (j as i64 + 1))
            .bind(&writer)
            .execute(&ctx.pool)
            .await?;
        wanted.push(tag);
    }
    for j in 0..items {
        let tag = format!("{owner}-c{j}");
        sqlx::query("INSERT INTO cart_items (tag, owner, sku, written_by) VALUES ($1, $2, $3, $4)")
            .bind(&tag)
            .bind(&owner)
            .bind(format!("SKU-{j}"))
            .bind(&writer)
            .execute(&ctx.pool)
            .await?;
        wanted.push(tag);
    }
    ctx.sleep_ms(10, 200).await;

    let mut found = Vec::new();
    for table in ["orders", "cart_items"] {
        let rows = sqlx::query(&format!("SELECT tag FROM {table} WHERE owner = $1"))
            .bind(&owner)
            .fetch_all(&ctx.pool)
            .await?;
        found.extend(rows.iter().map(|r| r.get::<String, _>(0)));
    }
    let missing: Vec<String> = wanted.iter().filter(|t| !found.contains(t)).cloned().collect();
    let verdict = if !missing.is_empty() {
        Err(Failure::Needs {
            msg: format!("expected {} rows for {owner}, found {}", wanted.len(), found.len()),
            tags: missing,
        })
    } else if let Kind::Genuine = kind {
        // The discount rule under test is wrong: 10 % off 100 is not 85.
        let total: i64 = 100;
        let discounted = total - total * 15 / 100;
        if discounted != 90 {
            Err(Failure::Genuine(format!("expected total 90, got {discounted}")))
        } else {
            Ok(())
        }
    } else {
        Ok(())
    };

    // Teardown runs whatever the verdict, as an after hook does.
    match kind {
        Kind::OwnInline | Kind::Genuine => {
            for table in ["cart_items", "orders"] {
                let rows = sqlx::query(&format!("DELETE FROM {table} WHERE owner = $1 RETURNING tag"))
                    .bind(&owner)
                    .fetch_all(&ctx.pool)
                    .await?;
                let tags: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
                truth::removed(&who, table, &tags);
            }
        }
        Kind::OwnHelper => {
            delete_customer(&ctx.pool, &owner).await?;
        }
        Kind::WholeTable => {
            db::clean_whole_tables(&ctx.pool, ctx.db, &who, &["orders", "cart_items"]).await?;
        }
    }
    verdict
}

/// The application's own "delete a customer's data" helper, reused by tests
/// for cleanup. It only ever touches that customer's rows.
async fn delete_customer(pool: &AnyPool, owner: &str) -> Result<u64, sqlx::Error> {
    let items = sqlx::query("DELETE FROM cart_items WHERE owner = $1").bind(owner).execute(pool).await?;
    let orders = sqlx::query("DELETE FROM orders WHERE owner = $1").bind(owner).execute(pool).await?;
    Ok(items.rows_affected() + orders.rows_affected())
}
