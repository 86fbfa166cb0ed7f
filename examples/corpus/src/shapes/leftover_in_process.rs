//! Shape 3, `leftover-in-process`: one test binary per area (two processes,
//! each with a table of its own), tests run one after another. Some tests
//! register a well-known user or coupon and forget to clean up; a later
//! test of the same process that registers the same key hits the unique
//! constraint, or one that counts the table finds too many rows. Own-row
//! cleaners run in between. The culprit is the leftover row's writer, read
//! (untraced) from the row itself after the failure.

use std::sync::Arc;

use sqlx::Row as _;

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "leftover-in-process",
    workers: |_| 2,
    schema,
    fixture: no_fixture,
    run,
};

/// (table, feature, well-known keys) per process.
const AREAS: &[(&str, &str, &[&str])] = &[
    ("users", "registration", &["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]),
    ("coupons", "coupons", &["WELCOME10", "SPRING25", "FREESHIP", "VIP50"]),
];

fn schema(kind: DbKind) -> Vec<String> {
    AREAS
        .iter()
        .map(|(t, _, _)| {
            format!(
                "CREATE TABLE {t} (id {}, tag TEXT NOT NULL UNIQUE, key TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, written_by TEXT NOT NULL)",
                kind.serial()
            )
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Registers a well-known key and never cleans up.
    Leaver,
    /// Registers a well-known key, checks it, deletes its own row.
    UniqueCheck,
    /// Registers two rows of its own and expects the table to hold two.
    CountCheck,
    /// Registers a key of its own, checks it, deletes its own row.
    OwnRow,
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        let (table, feature, keys) = AREAS[ctx.worker % AREAS.len()];
        let count = ctx.rng(|r| r.range(20, 31)) as usize;
        let mut jobs = Vec::new();
        for i in 0..count {
            let ctx = ctx.clone();
            jobs.push(async move {
                let (kind, key) = ctx.rng(|r| {
                    let kind = match r.range(0, 100) {
                        0..=9 => Kind::Leaver,
                        10..=29 => Kind::UniqueCheck,
                        30..=44 => Kind::CountCheck,
                        _ => Kind::OwnRow,
                    };
                    (kind, *r.pick(keys))
                });
                let name = match kind {
                    Kind::Leaver => format!("register {key} via signup form #{i}"),
                    Kind::UniqueCheck => format!("register {key} and look it up #{i}"),
                    Kind::CountCheck => format!("listing shows only new {table} #{i}"),
                    Kind::OwnRow => format!("register and delete a {table} entry #{i}"),
                };
                let c = ctx.clone();
                ctx.scenario(feature, &name, |who| scenario(c, who, table, kind, key, i)).await;
                ctx.sleep_ms(5, 40).await;
            });
        }
        run_all(1, jobs).await;
    })
}

async fn insert(ctx: &Ctx, who: &Who, table: &str, key: &str, owner: &str) -> Result<String, sqlx::Error> {
    let tag = format!("{owner}:{key}");
    let sql = format!("INSERT INTO {table} (tag, key, owner, written_by) VALUES ($1, $2, $3, $4)");
    let insert = sqlx::query(&sql)
        .bind(&tag)
        .bind(key)
        .bind(owner)
        .bind(db::who_tag(who))
        .execute(&ctx.pool);
    ctx.database.run(insert).await?;
    Ok(tag)
}

async fn delete_own(ctx: &Ctx, who: &Who, table: &str, owner: &str) -> Result<(), Failure> {
    let rows = sqlx::query(&format!("DELETE FROM {table} WHERE owner = $1 RETURNING tag"))
        .bind(owner)
        .fetch_all(&ctx.pool)
        .await?;
    truth::removed(who, table, &rows.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    Ok(())
}

/// Who wrote the row holding `key`, read untraced after a failure.
async fn writer_of_key(ctx: &Ctx, table: &str, key: &str) -> Result<Option<Who>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT written_by FROM {table} WHERE key = $1"))
        .bind(key)
        .fetch_optional(&ctx.quiet)
        .await?;
    Ok(row.and_then(|r| db::who_from_tag(&r.get::<String, _>(0))))
}

async fn scenario(ctx: Arc<Ctx>, who: Who, table: &str, kind: Kind, key: &str, i: usize) -> Result<(), Failure> {
    let owner = format!("t{i}");
    match kind {
        Kind::Leaver | Kind::UniqueCheck => {
            if let Err(e) = insert(&ctx, &who, table, key, &owner).await {
                let msg = format!("registering {key}: {e}");
                return match writer_of_key(&ctx, table, key).await? {
                    Some(w) => Err(Failure::Culprits { culprits: vec![w], also: vec![], msg }),
                    None => Err(Failure::Unexplained(msg)),
                };
            }
            ctx.sleep_ms(10, 80).await;
            let n = sqlx::query(&format!("SELECT COUNT(*) FROM {table} WHERE key = $1"))
                .bind(key)
                .fetch_one(&ctx.pool)
                .await?
                .get::<i64, _>(0);
            if matches!(kind, Kind::UniqueCheck) {
                delete_own(&ctx, &who, table, &owner).await?;
            }
            if n != 1 {
                return Err(Failure::Genuine(format!("{key}: {n} rows")));
            }
            Ok(())
        }
        Kind::CountCheck => {
            for j in 0..2 {
                insert(&ctx, &who, table, &format!("{owner}-k{j}"), &owner).await?;
            }
            ctx.sleep_ms(10, 80).await;
            let n = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&ctx.pool)
                .await?
                .get::<i64, _>(0);
            let verdict = if n == 2 {
                Ok(())
            } else {
                let msg = format!("expected 2 {table}, listed {n}");
                // The rows that are not ours, oldest first: each a leftover.
                let others = sqlx::query(&format!("SELECT written_by FROM {table} WHERE owner <> $1 ORDER BY id"))
                    .bind(&owner)
                    .fetch_all(&ctx.quiet)
                    .await?;
                let mut writers: Vec<Who> = Vec::new();
                for w in others.iter().filter_map(|r| db::who_from_tag(&r.get::<String, _>(0))) {
                    if !writers.contains(&w) {
                        writers.push(w);
                    }
                }
                if writers.is_empty() {
                    Err(Failure::Unexplained(msg))
                } else {
                    let primary = writers.remove(0);
                    Err(Failure::Culprits { culprits: vec![primary], also: writers, msg })
                }
            };
            delete_own(&ctx, &who, table, &owner).await?;
            verdict
        }
        Kind::OwnRow => {
            let own_key = format!("{owner}-{}", key.to_lowercase());
            let tag = insert(&ctx, &who, table, &own_key, &owner).await?;
            ctx.sleep_ms(10, 80).await;
            let found = sqlx::query(&format!("SELECT tag FROM {table} WHERE owner = $1"))
                .bind(&owner)
                .fetch_all(&ctx.pool)
                .await?;
            delete_own(&ctx, &who, table, &owner).await?;
            if found.len() != 1 {
                return Err(Failure::Needs { tags: vec![tag], msg: format!("expected 1 {table} entry") });
            }
            Ok(())
        }
    }
}
