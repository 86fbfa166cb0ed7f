//! Report tests that read across wallets and orders of the one shared
//! database, and two that "leave a clean table for the next test" by
//! emptying a whole table when they are done. Under nextest they run next
//! to the wallet and order tests of the other binaries (a process each).
//! Each passes alone; together they can break each other for real.
//!
//! `#[ignore]`d so `cargo test --workspace` stays deterministic; the
//! accuracy corpus runs them (`scripts/corpus/rust-tests.sh`, README.md).

use std::time::Instant;

use sqlx::Row as _;
use sqlx_tests::{orders, wallets};
use support::{expect_rows, wait, Case};

#[path = "support/case.rs"]
mod support;

/// The auditor's wallet is on the balance sheet; then the sheet is cleared.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn balance_sheet_lists_every_wallet() -> Result<(), sqlx::Error> {
    Case::run("balance_sheet_lists_every_wallet", |mut case| async move {
        let pool = case.pool().clone();
        let tag = case.tag("wallet");
        wallets::open(&pool, &tag, "auditor", 700).await?;
        wait(300).await; // rendering the sheet
        let found = wallets::of_owner(&pool, "auditor").await?;
        expect_rows(&case, "the auditor's wallet", &[(tag, 700)], &found, true);
        let wiped = case.store.wipe("wallets").await?;
        case.removed("wallets", &wiped);
        Ok(())
    })
    .await
}

/// A statement shows the customer's wallet and orders together.
#[state_tracer::test(tokio::test(flavor = "multi_thread", worker_threads = 2))]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn customer_statement_combines_wallet_and_orders() -> Result<(), sqlx::Error> {
    Case::run(
        "customer_statement_combines_wallet_and_orders",
        |mut case| async move {
            let pool = case.pool().clone();
            let (wallet, order) = (case.tag("wallet"), case.tag("order"));
            wallets::open(&pool, &wallet, "harry", 40).await?;
            orders::place(&pool, &order, "harry", "tent", 1).await?;
            wait(400).await; // the PDF renderer
            let mut lost = Vec::new();
            let found = wallets::of_owner(&pool, "harry").await?;
            if !found.contains(&(wallet.clone(), 40)) {
                lost.push(wallet);
            }
            let found = orders::of_customer(&pool, "harry").await?;
            if !found.iter().any(|o| o.tag == order) {
                lost.push(order);
            }
            if !lost.is_empty() {
                case.lost(&lost, "harry's statement");
            }
            case.removed("wallets", &wallets::close_all_of(&pool, "harry").await?);
            case.removed("orders", &orders::cancel_all_of(&pool, "harry").await?);
            Ok(())
        },
    )
    .await
}

/// The day's sales add up; then the order book is cleared for tomorrow.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn daily_sales_report_totals_orders() -> Result<(), sqlx::Error> {
    Case::run("daily_sales_report_totals_orders", |mut case| async move {
        let pool = case.pool().clone();
        let (a, b) = (case.tag("sale"), case.tag("sale"));
        orders::place(&pool, &a, "walk-in", "mug", 3).await?;
        orders::place(&pool, &b, "walk-in", "plate", 4).await?;
        wait(200).await; // the till closes
        let found = orders::of_customer(&pool, "walk-in").await?;
        let qty: Vec<(String, i64)> = found.iter().map(|o| (o.tag.clone(), o.qty)).collect();
        expect_rows(&case, "the day's sales", &[(a, 3), (b, 4)], &qty, true);
        let wiped = case.store.wipe("orders").await?;
        case.removed("orders", &wiped);
        Ok(())
    })
    .await
}

/// The dashboard renders within its budget: a timing check, flaky on a
/// loaded machine for reasons that have nothing to do with shared rows.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn report_renders_within_budget() -> Result<(), sqlx::Error> {
    Case::run("report_renders_within_budget", |case| async move {
        let started = Instant::now();
        let row = sqlx::query("SELECT COUNT(*) FROM orders")
            .fetch_one(case.pool())
            .await?;
        let _orders: i64 = row.try_get(0)?;
        wait(150).await; // charts
        let took = started.elapsed().as_millis();
        if took > 170 {
            case.broken(&format!("the dashboard took {took} ms, budget 170 ms"));
        }
        Ok(())
    })
    .await
}

/// A customer nobody knows has an empty statement (reads only).
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn unknown_customer_has_an_empty_statement() -> Result<(), sqlx::Error> {
    Case::run(
        "unknown_customer_has_an_empty_statement",
        |case| async move {
            let pool = case.pool().clone();
            wait(50).await;
            let found = wallets::of_owner(&pool, "nobody").await?;
            let placed = orders::of_customer(&pool, "nobody").await?;
            if !found.is_empty() || !placed.is_empty() {
                case.broken("somebody wrote rows for `nobody`");
            }
            Ok(())
        },
    )
    .await
}
