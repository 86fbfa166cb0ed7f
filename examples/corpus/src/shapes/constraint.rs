//! Shape 11, `constraint`: a shop suite in 3 processes whose failures are
//! the database refusing a statement, the test's panic message being the
//! database's error text. Customers are shared by a well-known code
//! ("ensure customer acme exists", `INSERT … ON CONFLICT DO NOTHING`);
//! orders reference them by a foreign key; coupon codes are unique.
//!
//! - "place an order" tests add an order for a shared customer and usually
//!   delete it afterwards, some keep it ("order history" tests);
//! - "close a customer" tests delete a shared customer: refused by the
//!   foreign key when someone's order still points at it (a), and when it
//!   succeeds, a "place an order" test that found the customer a moment
//!   earlier has its order refused (b);
//! - "create a coupon" tests insert a code from a small set, usually
//!   deleting it afterwards: two at once, or one left behind, and the
//!   insert is refused as a duplicate (c).
//!
//! Every worker runs the schema's DDL first (`CREATE TABLE IF NOT
//! EXISTS`, traced), as a suite that migrates in each test binary does.
//!
//! Ground truth: (a) the writers of the child orders, (c) the writer of
//! the conflicting coupon, both read untraced just before the statement
//! and right after the refusal (see [`blame`]);
//! (b) `needs` the customer row the test had found, whose removal the
//! closing test's `DELETE … RETURNING tag` logged. (sqlx turns SQLite's
//! `foreign_keys` pragma on for every connection by default.)

use std::future::Future;
use std::sync::Arc;

use sqlx::Row as _;

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "constraint",
    workers: |_| 3,
    schema,
    fixture: no_fixture,
    run,
};

const CUSTOMERS: &[&str] = &["acme", "globex", "initech", "umbrella"];
const COUPONS: &[&str] = &["SPRING10", "SUMMER20", "WELCOME5", "VIP30", "FREESHIP"];

fn schema(kind: DbKind) -> Vec<String> {
    let id = kind.serial();
    vec![
        format!("CREATE TABLE customers (id {id}, tag TEXT NOT NULL UNIQUE, code TEXT NOT NULL UNIQUE, written_by TEXT NOT NULL)"),
        format!("CREATE TABLE orders (id {id}, tag TEXT NOT NULL UNIQUE, customer_code TEXT NOT NULL REFERENCES customers (code), total BIGINT NOT NULL, written_by TEXT NOT NULL)"),
        format!("CREATE TABLE coupons (id {id}, tag TEXT NOT NULL UNIQUE, code TEXT NOT NULL UNIQUE, percent BIGINT NOT NULL, written_by TEXT NOT NULL)"),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    PlaceOrder { keep: bool },
    CloseCustomer,
    CreateCoupon { keep: bool },
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        // Each test binary runs its migrations first, as `sqlx::migrate!`
        // suites do: traced, and a no-op on a schema that is already there.
        for ddl in schema(ctx.db) {
            let ddl = ddl.replacen("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1);
            if let Err(e) = sqlx::query(&ddl).execute(&ctx.pool).await {
                eprintln!("constraint: {ddl}: {e}");
            }
        }
        let feature = ["orders", "customers", "promotions"][ctx.worker % 3];
        let count = ctx.rng(|r| r.range(10, 16)) as usize;
        let mut jobs = Vec::new();
        for i in 0..count {
            let kind = ctx.rng(|r| match r.range(0, 100) {
                0..=44 => Kind::PlaceOrder { keep: r.chance(15) },
                45..=64 => Kind::CloseCustomer,
                _ => Kind::CreateCoupon { keep: r.chance(15) },
            });
            let ctx = ctx.clone();
            jobs.push(async move {
                ctx.sleep_ms(0, 60).await;
                let name = match kind {
                    Kind::PlaceOrder { keep: false } => format!("place an order #{i}"),
                    Kind::PlaceOrder { keep: true } => format!("order appears in history #{i}"),
                    Kind::CloseCustomer => format!("close a customer account #{i}"),
                    Kind::CreateCoupon { .. } => format!("create a coupon #{i}"),
                };
                let c = ctx.clone();
                ctx.scenario(feature, &name, |who| async move {
                    match kind {
                        Kind::PlaceOrder { keep } => place_order(c, who, i, keep).await,
                        Kind::CloseCustomer => close_customer(c, who, i).await,
                        Kind::CreateCoupon { keep } => create_coupon(c, who, i, keep).await,
                    }
                })
                .await;
            });
        }
        run_all(1 + ctx.worker % 2, jobs).await;
    })
}

/// Runs a statement the way this test's author wrote it: through the named
/// pool (which marks a failed statement with `error`) or plainly.
async fn statement<T>(ctx: &Ctx, marked: bool, fut: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
    if marked {
        ctx.database.run(fut).await
    } else {
        fut.await
    }
}

/// "Given customer CODE exists": creates it unless there; its row's tag.
async fn ensure_customer(ctx: &Ctx, who: &Who, code: &str, tag: &str) -> Result<String, Failure> {
    sqlx::query("INSERT INTO customers (tag, code, written_by) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
        .bind(tag)
        .bind(code)
        .bind(db::who_tag(who))
        .execute(&ctx.pool)
        .await?;
    let row = sqlx::query("SELECT tag FROM customers WHERE code = $1")
        .bind(code)
        .fetch_optional(&ctx.pool)
        .await?;
    match row {
        Some(r) => Ok(r.get(0)),
        // Closed between the two statements: a victim with nothing to name.
        None => Err(Failure::Unexplained(format!("customer {code} vanished while being created"))),
    }
}

async fn place_order(ctx: Arc<Ctx>, who: Who, i: usize, keep: bool) -> Result<(), Failure> {
    let pid = std::process::id();
    let code = *ctx.rng(|r| r.pick(CUSTOMERS));
    let customer = ensure_customer(&ctx, &who, code, &format!("{code}-{pid}-{i}")).await?;
    // Building the cart: a real round trip or two.
    ctx.sleep_ms(30, 200).await;
    let tag = format!("order-{pid}-{i}");
    let marked = ctx.rng(|r| r.chance(50));
    let insert = sqlx::query("INSERT INTO orders (tag, customer_code, total, written_by) VALUES ($1, $2, $3, $4)")
        .bind(&tag)
        .bind(code)
        .bind(4200_i64)
        .bind(db::who_tag(&who))
        .execute(&ctx.pool);
    if let Err(e) = statement(&ctx, marked, insert).await {
        return Err(if is_foreign_key(&e) {
            Failure::Needs {
                tags: vec![customer],
                msg: e.to_string(),
            }
        } else {
            e.into()
        });
    }
    let n = sqlx::query("SELECT tag FROM orders WHERE customer_code = $1")
        .bind(code)
        .fetch_all(&ctx.pool)
        .await?
        .len();
    if n == 0 {
        return Err(Failure::Unexplained("order not listed".into()));
    }
    if !keep {
        let gone = sqlx::query("DELETE FROM orders WHERE tag = $1 RETURNING tag")
            .bind(&tag)
            .fetch_all(&ctx.pool)
            .await?;
        truth::removed(&who, "orders", &gone.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    }
    Ok(())
}

async fn close_customer(ctx: Arc<Ctx>, who: Who, i: usize) -> Result<(), Failure> {
    let code = *ctx.rng(|r| r.pick(CUSTOMERS));
    ensure_customer(&ctx, &who, code, &format!("{code}-{}-{i}", std::process::id())).await?;
    ctx.sleep_ms(10, 80).await;
    let children = "SELECT written_by FROM orders WHERE customer_code = $1 ORDER BY id";
    let before = sqlx::query(children).bind(code).fetch_all(&ctx.quiet).await?;
    let marked = ctx.rng(|r| r.chance(50));
    let delete = sqlx::query("DELETE FROM customers WHERE code = $1 RETURNING tag")
        .bind(code)
        .fetch_all(&ctx.pool);
    match statement(&ctx, marked, delete).await {
        Ok(rows) => {
            truth::removed(&who, "customers", &rows.iter().map(|r| r.get(0)).collect::<Vec<String>>());
            Ok(())
        }
        Err(e) if is_foreign_key(&e) => {
            // Who holds orders on it: read untraced, right after the refusal.
            let after = sqlx::query(children).bind(code).fetch_all(&ctx.quiet).await?;
            Err(blame(&who, &before, &after, e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn create_coupon(ctx: Arc<Ctx>, who: Who, i: usize, keep: bool) -> Result<(), Failure> {
    let code = *ctx.rng(|r| r.pick(COUPONS));
    let tag = format!("coupon-{}-{i}", std::process::id());
    let holder = "SELECT written_by FROM coupons WHERE code = $1";
    let before = sqlx::query(holder).bind(code).fetch_all(&ctx.quiet).await?;
    let marked = ctx.rng(|r| r.chance(50));
    let insert = sqlx::query("INSERT INTO coupons (tag, code, percent, written_by) VALUES ($1, $2, $3, $4)")
        .bind(&tag)
        .bind(code)
        .bind(10_i64)
        .bind(db::who_tag(&who))
        .execute(&ctx.pool);
    if let Err(e) = statement(&ctx, marked, insert).await {
        if !is_unique(&e) {
            return Err(e.into());
        }
        let after = sqlx::query(holder).bind(code).fetch_all(&ctx.quiet).await?;
        return Err(blame(&who, &before, &after, e.to_string()));
    }
    ctx.sleep_ms(20, 150).await;
    let found = sqlx::query("SELECT percent FROM coupons WHERE tag = $1")
        .bind(&tag)
        .fetch_optional(&ctx.pool)
        .await?;
    if found.is_none() {
        return Err(Failure::Needs {
            tags: vec![tag],
            msg: format!("coupon {code} not found"),
        });
    }
    if !keep {
        let gone = sqlx::query("DELETE FROM coupons WHERE tag = $1 RETURNING tag")
            .bind(&tag)
            .fetch_all(&ctx.pool)
            .await?;
        truth::removed(&who, "coupons", &gone.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    }
    Ok(())
}

/// The refused test's culprits: the writers (`written_by`) of the rows that
/// made the database refuse, read untraced just before and right after the
/// statement. Rows seen both times were surely there when it ran: their
/// writers come first (oldest row first), then those seen only after, then
/// only before (a row deleted in between, or one that went just after).
fn blame(who: &Who, before: &[sqlx::any::AnyRow], after: &[sqlx::any::AnyRow], msg: String) -> Failure {
    let writers = |rows: &[sqlx::any::AnyRow]| -> Vec<Who> {
        let mut out: Vec<Who> = Vec::new();
        for w in rows.iter().filter_map(|r| db::who_from_tag(&r.get::<String, _>(0))) {
            if &w != who && !out.contains(&w) {
                out.push(w);
            }
        }
        out
    };
    let (before, after) = (writers(before), writers(after));
    let mut ranked: Vec<Who> = after.iter().filter(|w| before.contains(w)).cloned().collect();
    for w in after.iter().chain(&before) {
        if !ranked.contains(w) {
            ranked.push(w.clone());
        }
    }
    if ranked.is_empty() {
        return Failure::Unexplained(format!("{msg} (no conflicting row seen before or after)"));
    }
    let primary = ranked.remove(0);
    Failure::Culprits {
        culprits: vec![primary],
        also: ranked,
        msg,
    }
}

fn is_foreign_key(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation() || d.message().contains("FOREIGN KEY"))
}

fn is_unique(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation() || d.message().contains("UNIQUE"))
}
