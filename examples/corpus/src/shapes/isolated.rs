//! Shape 9, `isolated`: suites that isolate their tests properly, so the
//! report must name no likely cause and raise no error. One shape, three
//! isolation styles chosen by the run's seed and engine (`meta.json` says
//! `isolated` for all of them; the worker logs name the variant):
//!
//! - SQLite, even seeds: **a database file per test** (the `tempfile`
//!   way): three tests at a time in one process, each opening its own file
//!   and pool, named with `name_pool` and queried through `Database::run`
//!   as the README asks when a process has several pools;
//! - PostgreSQL, even seeds: **a schema per worker**: each process creates
//!   its own schema; even workers set `search_path` on every connection of
//!   their pool, odd ones qualify table names;
//! - odd seeds: **a database per worker** (an SQLite file, or a PostgreSQL
//!   database created by the worker).
//!
//! The tests wipe whole tables, insert, wait, count and clean up, as in the
//! shared shapes, but only ever in their own database or schema. A few fail
//! genuinely (an assertion on a constant, a missing fixture file).

use std::sync::Arc;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor as _, Row as _};

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "isolated",
    workers: |_| 3,
    schema: |_| Vec::new(),
    fixture: no_fixture,
    run,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    FilePerTest,
    SchemaPerWorker,
    DbPerWorker,
}

/// Where a test's tables live: its pool, the pool's name, and how the
/// table is spelled there.
#[derive(Clone)]
struct Store {
    pool: AnyPool,
    name: state_tracer::sqlx::Database,
    kind: DbKind,
    items: String,
    /// Opened for this store (closed with it), not the run's pool.
    own_pool: bool,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Healthy,
    WipeFirst,
    WrongConstant,
    MissingFile,
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        let variant = match (ctx.db, ctx.seed % 2) {
            (DbKind::Sqlite, 0) => Variant::FilePerTest,
            (DbKind::Postgres, 0) => Variant::SchemaPerWorker,
            _ => Variant::DbPerWorker,
        };
        eprintln!("isolated: variant {variant:?}");
        if let Err(e) = worker(ctx, variant).await {
            eprintln!("isolated: worker setup failed: {e}");
        }
    })
}

async fn worker(ctx: Arc<Ctx>, variant: Variant) -> Result<(), sqlx::Error> {
    let pid = std::process::id();
    let feature = ["inventory", "catalog", "stock levels"][ctx.worker % 3];
    let count = ctx.rng(|r| r.range(8, 14)) as usize;
    let kinds: Vec<Kind> = (0..count)
        .map(|_| {
            ctx.rng(|r| match r.range(0, 100) {
                0..=6 => Kind::WrongConstant,
                7..=11 => Kind::MissingFile,
                12..=51 => Kind::WipeFirst,
                _ => Kind::Healthy,
            })
        })
        .collect();
    // The worker's own store, for the per-worker variants.
    let (shared, teardown) = match variant {
        Variant::FilePerTest => (None, Teardown::None),
        Variant::SchemaPerWorker => {
            let schema = format!("iso_w{}_{pid}", ctx.worker);
            ctx.database
                .run(ctx.pool.execute(format!("CREATE SCHEMA {schema}").as_str()))
                .await?;
            let store = if ctx.worker.is_multiple_of(2) {
                let url = std::env::var("DATABASE_URL").unwrap_or_default();
                let path = schema.clone();
                let pool = AnyPoolOptions::new()
                    .max_connections(2)
                    .after_connect(move |conn, _| {
                        let sql = format!("SET search_path TO {path}");
                        Box::pin(async move { conn.execute(sql.as_str()).await.map(|_| ()) })
                    })
                    .connect(&url)
                    .await?;
                Store {
                    pool,
                    name: state_tracer::sqlx::name_pool(&url),
                    kind: ctx.db,
                    items: "items".into(),
                    own_pool: true,
                }
            } else {
                Store {
                    pool: ctx.pool.clone(),
                    name: ctx.database.clone(),
                    kind: ctx.db,
                    items: format!("{schema}.items"),
                    own_pool: false,
                }
            };
            create_items(&store).await?;
            (Some(store), Teardown::Schema(schema))
        }
        Variant::DbPerWorker => {
            let (url, teardown) = match ctx.db {
                DbKind::Sqlite => {
                    let path = std::env::temp_dir().join(format!("corpus-isolated-{pid}-worker.sqlite"));
                    (sqlite_url(&path), Teardown::File(path))
                }
                DbKind::Postgres => {
                    let name = format!("corpus_iso_{pid}");
                    ctx.database
                        .run(ctx.pool.execute(format!("CREATE DATABASE {name}").as_str()))
                        .await?;
                    let url = std::env::var("DATABASE_URL").unwrap_or_default();
                    (with_database(&url, &name), Teardown::Database(name))
                }
            };
            let store = open(&url, ctx.db).await?;
            create_items(&store).await?;
            (Some(store), teardown)
        }
    };

    let mut jobs = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let ctx = ctx.clone();
        let shared = shared.clone();
        jobs.push(async move {
            ctx.sleep_ms(0, 40).await;
            let name = match kind {
                Kind::Healthy => format!("receive stock #{i}"),
                Kind::WipeFirst => format!("stock count starts empty #{i}"),
                Kind::WrongConstant => format!("reorder threshold #{i}"),
                Kind::MissingFile => format!("import stock sheet #{i}"),
            };
            let c = ctx.clone();
            ctx.scenario(feature, &name, |who| async move {
                match shared {
                    Some(store) => test(&c, &who, &store, i, kind).await,
                    None => file_per_test(&c, &who, i, kind).await,
                }
            })
            .await;
        });
    }
    let parallel = if variant == Variant::FilePerTest { 3 } else { 1 };
    run_all(parallel, jobs).await;

    if let Some(store) = shared.filter(|s| s.own_pool) {
        store.pool.close().await;
    }
    match teardown {
        Teardown::None => {}
        Teardown::File(path) => remove_sqlite(&path),
        Teardown::Schema(schema) => {
            ctx.database
                .run(ctx.pool.execute(format!("DROP SCHEMA {schema} CASCADE").as_str()))
                .await?;
        }
        Teardown::Database(name) => {
            ctx.database
                .run(ctx.pool.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()))
                .await?;
        }
    }
    Ok(())
}

enum Teardown {
    None,
    File(std::path::PathBuf),
    Schema(String),
    Database(String),
}

/// A test with a database file of its own, removed when it ends.
async fn file_per_test(ctx: &Ctx, who: &Who, i: usize, kind: Kind) -> Result<(), Failure> {
    let path = std::env::temp_dir().join(format!("corpus-isolated-{}-{i}.sqlite", std::process::id()));
    let store = open(&sqlite_url(&path), DbKind::Sqlite).await?;
    create_items(&store).await?;
    let result = test(ctx, who, &store, i, kind).await;
    store.pool.close().await;
    remove_sqlite(&path);
    result
}

async fn test(ctx: &Ctx, who: &Who, store: &Store, i: usize, kind: Kind) -> Result<(), Failure> {
    if let Kind::WipeFirst = kind {
        let tables = [store.items.as_str()];
        store
            .name
            .run(db::clean_whole_tables(&store.pool, store.kind, who, &tables))
            .await?;
    }
    let owner = format!("bin-{}-{i}", std::process::id());
    let n = ctx.rng(|r| r.range(1, 4));
    let mut wanted = Vec::new();
    for j in 0..n {
        let tag = format!("{owner}-{j}");
        let insert = format!("INSERT INTO {} (tag, owner, qty, written_by) VALUES ($1, $2, $3, $4)", store.items);
        store
            .name
            .run(
                sqlx::query(&insert)
                    .bind(&tag)
                    .bind(&owner)
                    .bind(10 * (j as i64 + 1))
                    .bind(db::who_tag(who))
                    .execute(&store.pool),
            )
            .await?;
        wanted.push(tag);
    }
    ctx.sleep_ms(10, 150).await;
    let select = format!("SELECT tag FROM {} WHERE owner = $1", store.items);
    let rows = store
        .name
        .run(sqlx::query(&select).bind(&owner).fetch_all(&store.pool))
        .await?;
    let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let missing: Vec<String> = wanted.iter().filter(|t| !found.contains(t)).cloned().collect();
    let verdict = if !missing.is_empty() {
        Err(Failure::Needs {
            msg: format!("expected {} items in {owner}, found {}", wanted.len(), found.len()),
            tags: missing,
        })
    } else {
        match kind {
            Kind::WrongConstant => {
                const REORDER_AT: i64 = 5;
                Err(Failure::Genuine(format!(
                    "assertion `left == right` failed: left: {REORDER_AT}, right: 10"
                )))
            }
            Kind::MissingFile => match std::fs::read_to_string("tests/fixtures/stock-sheet.xlsx") {
                Ok(_) => Ok(()),
                Err(e) => Err(Failure::Genuine(format!("tests/fixtures/stock-sheet.xlsx: {e}"))),
            },
            _ => Ok(()),
        }
    };
    // Teardown, whatever the verdict: the whole table for the wipers (it is
    // this worker's or this test's alone), the test's own rows otherwise.
    if let Kind::WipeFirst = kind {
        let tables = [store.items.as_str()];
        store
            .name
            .run(db::clean_whole_tables(&store.pool, store.kind, who, &tables))
            .await?;
    } else {
        let delete = format!("DELETE FROM {} WHERE owner = $1 RETURNING tag", store.items);
        let gone = store
            .name
            .run(sqlx::query(&delete).bind(&owner).fetch_all(&store.pool))
            .await?;
        truth::removed(who, &store.items, &gone.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    }
    verdict
}

async fn open(url: &str, kind: DbKind) -> Result<Store, sqlx::Error> {
    let name = state_tracer::sqlx::name_pool(url);
    let pool = db::connect(url, 2).await?;
    Ok(Store {
        pool,
        name,
        kind,
        items: "items".into(),
        own_pool: true,
    })
}

/// The store's migration (traced, as a suite's setup is).
async fn create_items(store: &Store) -> Result<(), sqlx::Error> {
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {} (id {}, tag TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, qty BIGINT NOT NULL, written_by TEXT NOT NULL)",
        store.items,
        store.kind.serial()
    );
    store.name.run(store.pool.execute(ddl.as_str())).await?;
    Ok(())
}

fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// `postgres://u@h:p/db?x` with the database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    match query {
        Some(q) => format!("{}/{name}?{q}", &base[..host_end]),
        None => format!("{}/{name}", &base[..host_end]),
    }
}
