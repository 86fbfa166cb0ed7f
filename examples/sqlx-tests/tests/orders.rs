//! Order tests over the one shared database: customers named like the
//! fixtures of a real suite ("bob" serves two tests), slow steps standing in
//! for real services, cleanups through the app's own helpers (only the
//! test's customer) or, for the import, an empty table to start from.
//! Each passes alone; together they can break each other for real.
//!
//! `#[ignore]`d so `cargo test --workspace` stays deterministic; the
//! accuracy corpus runs them (`scripts/corpus/rust-tests.sh`, README.md).

use sqlx_tests::orders::{self, Order};
use support::{expect_rows, wait, Case};

#[path = "support/case.rs"]
mod support;

/// (tag, status) of each order, what the tests assert on.
fn statuses(found: &[Order]) -> Vec<(String, String)> {
    found
        .iter()
        .map(|o| (o.tag.clone(), o.status.clone()))
        .collect()
}

fn placed(tag: &str) -> (String, String) {
    (tag.to_owned(), "placed".to_owned())
}

/// Cancels one of two orders; the other one stays.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn cancelling_one_order_keeps_the_other() -> Result<(), sqlx::Error> {
    Case::run(
        "cancelling_one_order_keeps_the_other",
        |mut case| async move {
            let pool = case.pool().clone();
            let (keep, drop) = (case.tag("order"), case.tag("order"));
            orders::place(&pool, &keep, "carol", "kettle", 1).await?;
            orders::place(&pool, &drop, "carol", "toaster", 1).await?;
            let cancelled = orders::cancel(&pool, &drop).await?;
            case.removed("orders", &cancelled);
            wait(100).await; // the refund
            let found = orders::of_customer(&pool, "carol").await?;
            expect_rows(
                &case,
                "carol's orders",
                &[placed(&keep)],
                &statuses(&found),
                true,
            );
            let rest = orders::cancel_all_of(&pool, "carol").await?;
            case.removed("orders", &rest);
            Ok(())
        },
    )
    .await
}

/// The import wants an empty order book first, then checks what it loaded.
#[state_tracer::test(tokio::test(flavor = "multi_thread", worker_threads = 2))]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn import_starts_from_an_empty_order_book() -> Result<(), sqlx::Error> {
    Case::run(
        "import_starts_from_an_empty_order_book",
        |mut case| async move {
            let pool = case.pool().clone();
            let wiped = case.store.wipe("orders").await?;
            case.removed("orders", &wiped);
            let mut mine = Vec::new();
            for item in ["chair", "desk", "lamp"] {
                let tag = case.tag(item);
                orders::place(&pool, &tag, "importer", item, 2).await?;
                mine.push(placed(&tag));
                wait(40).await; // one CSV line at a time
            }
            wait(120).await; // the stock recount
            let found = orders::of_customer(&pool, "importer").await?;
            expect_rows(&case, "the imported orders", &mine, &statuses(&found), true);
            Ok(())
        },
    )
    .await
}

/// Two orders of one customer, listed back.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn orders_are_listed_by_customer() -> Result<(), sqlx::Error> {
    Case::run("orders_are_listed_by_customer", |mut case| async move {
        let pool = case.pool().clone();
        let (a, b) = (case.tag("order"), case.tag("order"));
        orders::place(&pool, &a, "gina", "bike", 1).await?;
        orders::place(&pool, &b, "gina", "helmet", 1).await?;
        wait(150).await; // the search index
        let found = orders::of_customer(&pool, "gina").await?;
        expect_rows(
            &case,
            "gina's orders",
            &[placed(&a), placed(&b)],
            &statuses(&found),
            true,
        );
        let rest = orders::cancel_all_of(&pool, "gina").await?;
        case.removed("orders", &rest);
        Ok(())
    })
    .await
}

/// Bob's order is there once the stock service answers.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn placing_an_order_reserves_stock() -> Result<(), sqlx::Error> {
    Case::run("placing_an_order_reserves_stock", |mut case| async move {
        let pool = case.pool().clone();
        let tag = case.tag("order");
        orders::place(&pool, &tag, "bob", "phone", 1).await?;
        wait(250).await; // the stock service
        let found = orders::of_customer(&pool, "bob").await?;
        expect_rows(
            &case,
            "bob's order",
            &[placed(&tag)],
            &statuses(&found),
            false,
        );
        let rest = orders::cancel_all_of(&pool, "bob").await?;
        case.removed("orders", &rest);
        Ok(())
    })
    .await
}

/// Bob's order ships after the carrier answers.
#[state_tracer::test(tokio::test(flavor = "multi_thread", worker_threads = 2))]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn shipping_marks_the_order_shipped() -> Result<(), sqlx::Error> {
    Case::run("shipping_marks_the_order_shipped", |mut case| async move {
        let pool = case.pool().clone();
        let tag = case.tag("order");
        orders::place(&pool, &tag, "bob", "laptop", 1).await?;
        wait(350).await; // the carrier
        let shipped = orders::ship(&pool, &tag).await?;
        if shipped.is_empty() {
            case.lost(std::slice::from_ref(&tag), "shipping bob's order");
        }
        let found = orders::of_customer(&pool, "bob").await?;
        let mine = [(tag.clone(), "shipped".to_owned())];
        expect_rows(
            &case,
            "bob's shipped order",
            &mine,
            &statuses(&found),
            false,
        );
        let rest = orders::cancel_all_of(&pool, "bob").await?;
        case.removed("orders", &rest);
        Ok(())
    })
    .await
}
