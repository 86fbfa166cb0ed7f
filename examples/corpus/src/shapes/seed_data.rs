//! Shape 2, `seed-data`: a catalog seeded once per run, then read by many
//! tests. The seed is written by a fixture before the suite: untraced (a
//! seed script), traced but outside any scenario (a fixture process's
//! start-up), or by a setup scenario, depending on the run. A few tests
//! delete seed rows ("discontinue a product") or change them ("holiday
//! sale", sometimes restored) and never put them back; tests that start
//! later read their category back short or repriced. Decoys touch the
//! `clearance` category no reader reads, or their own reviews.

use std::sync::Arc;

use sqlx::Row as _;

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{BoxFut, Fixture, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "seed-data",
    workers: |_| 3,
    schema,
    fixture: |seed| match seed % 3 {
        0 => Fixture::Untraced,
        _ => Fixture::Traced,
    },
    run,
};

const CATEGORIES: &[&str] = &["books", "games", "garden", "kitchen", "toys", "clearance"];
/// What readers read: everything but `clearance`.
const READ: &[&str] = &["books", "games", "garden", "kitchen", "toys"];
const PER_CATEGORY: i64 = 5;
const FEATURES: &[&str] = &["catalog", "search", "pricing"];

fn schema(kind: DbKind) -> Vec<String> {
    let id = kind.serial();
    vec![
        format!("CREATE TABLE products (id {id}, tag TEXT NOT NULL UNIQUE, sku TEXT NOT NULL UNIQUE, category TEXT NOT NULL, price BIGINT NOT NULL, written_by TEXT NOT NULL)"),
        format!("CREATE TABLE reviews (id {id}, tag TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, sku TEXT NOT NULL, written_by TEXT NOT NULL)"),
        // Harness only, written and read through the untraced pool: who
        // deleted a seed row, and who changed one without putting it back.
        format!("CREATE TABLE harness_tombstones (id {id}, tag TEXT NOT NULL, deleted_by TEXT NOT NULL)"),
        format!("CREATE TABLE harness_unrestored (id {id}, tag TEXT NOT NULL, changed_by TEXT NOT NULL)"),
    ]
}

fn seed_price(n: i64) -> i64 {
    100 * (n + 1)
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        if ctx.fixture {
            // Traced fixtures: every other run seeds inside a setup scenario.
            if ctx.seed % 3 == 2 {
                let c = ctx.clone();
                ctx.scenario("setup", "seed the catalog", |who| async move { seed(&c, &db::who_tag(&who)).await })
                    .await;
            } else if let Err(e) = seed(&ctx, "fixture").await {
                eprintln!("corpus: seeding failed: {}", e.message());
            }
            return;
        }
        let feature = FEATURES[ctx.worker % FEATURES.len()];
        let count = ctx.rng(|r| r.range(9, 16)) as usize;
        let mut jobs = Vec::new();
        for i in 0..count {
            let ctx = ctx.clone();
            jobs.push(async move {
                ctx.sleep_ms(10, 120).await;
                let roll = ctx.rng(|r| r.range(0, 100));
                let c = ctx.clone();
                match roll {
                    0..=5 => {
                        let (category, n) = ctx.rng(|r| (*r.pick(CATEGORIES), r.range(0, PER_CATEGORY as u64)));
                        let sku = sku(category, n as i64);
                        let name = format!("discontinue {sku} #{i}");
                        ctx.scenario(feature, &name, |who| discontinue(c, who, sku)).await
                    }
                    6..=12 => {
                        let (category, restore) = ctx.rng(|r| (*r.pick(CATEGORIES), r.chance(50)));
                        let name = format!("holiday sale on {category} #{i}");
                        ctx.scenario(feature, &name, |who| sale(c, who, category, restore)).await
                    }
                    13..=30 => {
                        let name = format!("write a review #{i}");
                        ctx.scenario(feature, &name, |who| review(c, who, i)).await
                    }
                    _ => {
                        let category = *ctx.rng(|r| r.pick(READ));
                        let name = format!("browse {category} #{i}");
                        ctx.scenario(feature, &name, |_| browse(c, category)).await
                    }
                };
            });
        }
        run_all(1, jobs).await;
    })
}

fn sku(category: &str, n: i64) -> String {
    format!("{}-{n}", category.to_uppercase())
}

async fn seed(ctx: &Ctx, writer: &str) -> Result<(), Failure> {
    for category in CATEGORIES {
        for n in 0..PER_CATEGORY {
            sqlx::query("INSERT INTO products (tag, sku, category, price, written_by) VALUES ($1, $2, $3, $4, $5)")
                .bind(format!("seed-{}", sku(category, n)))
                .bind(sku(category, n))
                .bind(*category)
                .bind(seed_price(n))
                .bind(writer)
                .execute(&ctx.pool)
                .await?;
        }
    }
    Ok(())
}

async fn browse(ctx: Arc<Ctx>, category: &str) -> Result<(), Failure> {
    ctx.sleep_ms(10, 100).await;
    let rows = sqlx::query("SELECT tag, sku, price, written_by FROM products WHERE category = $1 ORDER BY sku")
        .bind(category)
        .fetch_all(&ctx.pool)
        .await?;
    // Seed rows are touched by many tests (some restore what they change),
    // so "who ever touched it" is not the culprit: the state names it. A
    // repriced row carries its last setter; a missing one its tombstone.
    let (mut missing, mut repriced) = (Vec::new(), Vec::new());
    for n in 0..PER_CATEGORY {
        let tag = format!("seed-{}", sku(category, n));
        match rows.iter().find(|r| r.get::<String, _>(0) == tag) {
            None => missing.push(tag),
            Some(r) if r.get::<i64, _>(2) != seed_price(n) => {
                repriced.push((tag, r.get::<String, _>(3)));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() && repriced.is_empty() {
        return Ok(());
    }
    let msg = format!(
        "{category}: expected {PER_CATEGORY} products at list price, {} missing, {} repriced",
        missing.len(),
        repriced.len()
    );
    let mut culprits: Vec<Who> = Vec::new();
    let mut also: Vec<Who> = Vec::new();
    for tag in &missing {
        // The deleter writes its tombstone right after its DELETE commits:
        // give it a moment when we read in between.
        for _ in 0..100 {
            let by = sqlx::query("SELECT deleted_by FROM harness_tombstones WHERE tag = $1 ORDER BY id")
                .bind(tag)
                .fetch_all(&ctx.quiet)
                .await?;
            if !by.is_empty() {
                culprits.extend(by.iter().filter_map(|r| db::who_from_tag(&r.get::<String, _>(0))));
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    for (tag, setter) in &repriced {
        culprits.extend(db::who_from_tag(setter));
        let earlier = sqlx::query("SELECT changed_by FROM harness_unrestored WHERE tag = $1 ORDER BY id")
            .bind(tag)
            .fetch_all(&ctx.quiet)
            .await?;
        also.extend(earlier.iter().filter_map(|r| db::who_from_tag(&r.get::<String, _>(0))));
    }
    culprits.dedup();
    if culprits.is_empty() {
        return Err(Failure::Unexplained(msg));
    }
    let primary = culprits.remove(0);
    also.splice(0..0, culprits);
    also.retain(|w| *w != primary);
    Err(Failure::Culprits { culprits: vec![primary], also, msg })
}

async fn discontinue(ctx: Arc<Ctx>, who: Who, sku: String) -> Result<(), Failure> {
    let rows = sqlx::query("DELETE FROM products WHERE sku = $1 RETURNING tag")
        .bind(&sku)
        .fetch_all(&ctx.pool)
        .await?;
    let tags: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    truth::removed(&who, "products", &tags);
    for tag in &tags {
        sqlx::query("INSERT INTO harness_tombstones (tag, deleted_by) VALUES ($1, $2)")
            .bind(tag)
            .bind(db::who_tag(&who))
            .execute(&ctx.quiet)
            .await?;
    }
    ctx.sleep_ms(10, 60).await;
    let left = sqlx::query("SELECT COUNT(*) FROM products WHERE sku = $1")
        .bind(&sku)
        .fetch_one(&ctx.pool)
        .await?;
    if left.get::<i64, _>(0) != 0 {
        return Err(Failure::Genuine(format!("{sku} still listed")));
    }
    Ok(())
}

async fn sale(ctx: Arc<Ctx>, who: Who, category: &str, restore: bool) -> Result<(), Failure> {
    let me = db::who_tag(&who);
    let rows = sqlx::query("UPDATE products SET price = price - 10, written_by = $2 WHERE category = $1 RETURNING tag")
        .bind(category)
        .bind(&me)
        .fetch_all(&ctx.pool)
        .await?;
    let tags: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    truth::changed(&who, "products", &tags);
    ctx.sleep_ms(20, 120).await;
    if restore {
        // "The sale ends": the test puts the prices back.
        let rows = sqlx::query("UPDATE products SET price = price + 10, written_by = $2 WHERE category = $1 RETURNING tag")
            .bind(category)
            .bind(&me)
            .fetch_all(&ctx.pool)
            .await?;
        truth::changed(&who, "products", &rows.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    } else {
        for tag in &tags {
            sqlx::query("INSERT INTO harness_unrestored (tag, changed_by) VALUES ($1, $2)")
                .bind(tag)
                .bind(&me)
                .execute(&ctx.quiet)
                .await?;
        }
    }
    Ok(())
}

async fn review(ctx: Arc<Ctx>, who: Who, i: usize) -> Result<(), Failure> {
    let owner = format!("reviewer-{}-{i}", std::process::id());
    let tag = format!("{owner}-r");
    sqlx::query("INSERT INTO reviews (tag, owner, sku, written_by) VALUES ($1, $2, $3, $4)")
        .bind(&tag)
        .bind(&owner)
        .bind(sku("books", 1))
        .bind(db::who_tag(&who))
        .execute(&ctx.pool)
        .await?;
    ctx.sleep_ms(10, 80).await;
    let n = sqlx::query("SELECT COUNT(*) FROM reviews WHERE owner = $1")
        .bind(&owner)
        .fetch_one(&ctx.pool)
        .await?
        .get::<i64, _>(0);
    sqlx::query("DELETE FROM reviews WHERE owner = $1").bind(&owner).execute(&ctx.pool).await?;
    if n != 1 {
        return Err(Failure::Needs { tags: vec![tag], msg: format!("expected 1 review, got {n}") });
    }
    Ok(())
}
