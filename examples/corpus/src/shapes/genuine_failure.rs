//! Shape 5, `genuine-failure`: a healthy notes-service suite in 3
//! processes (some running two tests at a time) where every test starts
//! with its own `CREATE TABLE IF NOT EXISTS` (the table is already there:
//! DDL that changes nothing), inserts rows under an owner of its own, reads
//! them back after a real wait and deletes only them. A few tests fail for
//! reasons that have nothing to do with shared state: an assertion on a
//! constant, a fixture file that is not there, a number that does not
//! parse. Nobody pollutes anybody: every failure is `genuine`.

use std::sync::Arc;

use sqlx::{Executor as _, Row as _};

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "genuine-failure",
    workers: |_| 3,
    schema,
    fixture: no_fixture,
    run,
};

const FEATURES: &[&str] = &["notes", "note sharing", "note search"];

/// The suite's own table definition, repeated by every test.
fn create_notes(kind: DbKind) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS notes (id {}, tag TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, body TEXT NOT NULL, written_by TEXT NOT NULL)",
        kind.serial()
    )
}

fn schema(kind: DbKind) -> Vec<String> {
    vec![create_notes(kind)]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Healthy,
    /// `assert_eq!(page_size(), 25)` where the constant is 20.
    WrongConstant,
    /// Reads a fixture file nobody checked in.
    MissingFile,
    /// Parses a number the test wrote wrongly.
    BadNumber,
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        let feature = FEATURES[ctx.worker % FEATURES.len()];
        let count = ctx.rng(|r| r.range(8, 14)) as usize;
        let mut jobs = Vec::new();
        for i in 0..count {
            let kind = ctx.rng(|r| match r.range(0, 100) {
                0..=5 => Kind::WrongConstant,
                6..=10 => Kind::MissingFile,
                11..=14 => Kind::BadNumber,
                _ => Kind::Healthy,
            });
            let ctx = ctx.clone();
            jobs.push(async move {
                ctx.sleep_ms(0, 50).await;
                let name = match kind {
                    Kind::Healthy => format!("create and list notes #{i}"),
                    Kind::WrongConstant => format!("notes are paginated #{i}"),
                    Kind::MissingFile => format!("import notes from csv #{i}"),
                    Kind::BadNumber => format!("note word count #{i}"),
                };
                let c = ctx.clone();
                ctx.scenario(feature, &name, |who| scenario(c, who, i, kind)).await;
            });
        }
        run_all(1 + ctx.worker % 2, jobs).await;
    })
}

async fn scenario(ctx: Arc<Ctx>, who: Who, i: usize, kind: Kind) -> Result<(), Failure> {
    ctx.pool.execute(create_notes(ctx.db).as_str()).await?;
    let owner = format!("author-{}-{i}", std::process::id());
    let n = ctx.rng(|r| r.range(1, 4));
    let mut wanted = Vec::new();
    for j in 0..n {
        let tag = format!("{owner}-n{j}");
        sqlx::query("INSERT INTO notes (tag, owner, body, written_by) VALUES ($1, $2, $3, $4)")
            .bind(&tag)
            .bind(&owner)
            .bind(format!("note {j} of {owner}"))
            .bind(db::who_tag(&who))
            .execute(&ctx.pool)
            .await?;
        wanted.push(tag);
    }
    ctx.sleep_ms(10, 150).await;
    let rows = sqlx::query("SELECT tag FROM notes WHERE owner = $1 ORDER BY id")
        .bind(&owner)
        .fetch_all(&ctx.pool)
        .await?;
    let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let missing: Vec<String> = wanted.iter().filter(|t| !found.contains(t)).cloned().collect();
    let verdict = if !missing.is_empty() {
        Err(Failure::Needs {
            msg: format!("expected {} notes, found {}", wanted.len(), found.len()),
            tags: missing,
        })
    } else {
        genuine_check(kind)
    };
    // The test's own teardown: its rows only.
    let gone = sqlx::query("DELETE FROM notes WHERE owner = $1 RETURNING tag")
        .bind(&owner)
        .fetch_all(&ctx.pool)
        .await?;
    truth::removed(&who, "notes", &gone.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    verdict
}

/// What the test checks besides its rows; fails for its own reasons.
fn genuine_check(kind: Kind) -> Result<(), Failure> {
    const PAGE_SIZE: usize = 20;
    match kind {
        Kind::Healthy => Ok(()),
        Kind::WrongConstant => {
            let expected = 25;
            if PAGE_SIZE == expected {
                Ok(())
            } else {
                Err(Failure::Genuine(format!(
                    "assertion `left == right` failed: left: {PAGE_SIZE}, right: {expected}"
                )))
            }
        }
        Kind::MissingFile => match std::fs::read_to_string("tests/fixtures/notes-import.csv") {
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::Genuine(format!("reading tests/fixtures/notes-import.csv: {e}"))),
        },
        Kind::BadNumber => match "1,204".parse::<u32>() {
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::Genuine(format!("word count \"1,204\": {e}"))),
        },
    }
}
