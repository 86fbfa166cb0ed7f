//! Wallet tests over the one shared database, written the way they usually
//! are: fixtures named after people ("alice" serves two tests), slow steps
//! standing in for real services, each test tidying up after itself (most
//! only their own owner's rows, `closing_the_books…` the whole table).
//! Each passes alone; together they can break each other for real.
//!
//! `#[ignore]`d so `cargo test --workspace` stays deterministic; the
//! accuracy corpus runs them (`scripts/corpus/rust-tests.sh`, README.md).

use sqlx_tests::wallets;
use support::{expect_rows, wait, Case};

#[path = "support/case.rs"]
mod support;

/// Alice's deposit lands on her wallet; asserts on everything Alice owns.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn deposit_increases_balance() -> Result<(), sqlx::Error> {
    Case::run("deposit_increases_balance", |mut case| async move {
        let pool = case.pool().clone();
        let tag = case.tag("wallet");
        wallets::open(&pool, &tag, "alice", 100).await?;
        wait(150).await; // the payment provider confirms
        let changed = wallets::credit_owner(&pool, "alice", 50).await?;
        case.changed("wallets", &changed);
        let found = wallets::of_owner(&pool, "alice").await?;
        expect_rows(&case, "alice's wallets", &[(tag, 150)], &found, true);
        let closed = wallets::close_all_of(&pool, "alice").await?;
        case.removed("wallets", &closed);
        Ok(())
    })
    .await
}

/// A withdrawal leaves the rest; looks only at its own wallet.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn withdrawal_leaves_the_rest() -> Result<(), sqlx::Error> {
    Case::run("withdrawal_leaves_the_rest", |mut case| async move {
        let pool = case.pool().clone();
        let tag = case.tag("wallet");
        wallets::open(&pool, &tag, "alice", 100).await?;
        wait(300).await; // the fraud check
        let changed = wallets::credit_owner(&pool, "alice", -30).await?;
        case.changed("wallets", &changed);
        let found = wallets::of_owner(&pool, "alice").await?;
        expect_rows(&case, "alice's wallet", &[(tag, 70)], &found, false);
        let closed = wallets::close_all_of(&pool, "alice").await?;
        case.removed("wallets", &closed);
        Ok(())
    })
    .await
}

/// Interest is credited to one wallet, addressed by its tag.
#[state_tracer::test(tokio::test)]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn interest_is_credited_monthly() -> Result<(), sqlx::Error> {
    Case::run("interest_is_credited_monthly", |mut case| async move {
        let pool = case.pool().clone();
        let tag = case.tag("savings");
        wallets::open(&pool, &tag, "dave", 1000).await?;
        wait(200).await; // the rate service
        let changed = wallets::credit(&pool, &tag, 25).await?;
        case.changed("wallets", &changed);
        let found = wallets::of_owner(&pool, "dave").await?;
        expect_rows(&case, "dave's savings", &[(tag, 1025)], &found, true);
        let closed = wallets::close_all_of(&pool, "dave").await?;
        case.removed("wallets", &closed);
        Ok(())
    })
    .await
}

/// Moves money between two wallets; its own inline cleanup.
#[state_tracer::test(tokio::test(flavor = "multi_thread", worker_threads = 2))]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn transfer_moves_funds_between_wallets() -> Result<(), sqlx::Error> {
    Case::run(
        "transfer_moves_funds_between_wallets",
        |mut case| async move {
            let pool = case.pool().clone();
            let (from, to) = (case.tag("erin"), case.tag("frank"));
            wallets::open(&pool, &from, "erin", 80).await?;
            wallets::open(&pool, &to, "frank", 0).await?;
            wait(400).await; // the clearing house
            let mut changed = wallets::credit(&pool, &from, -20).await?;
            changed.extend(wallets::credit(&pool, &to, 20).await?);
            case.changed("wallets", &changed);
            let mut found = wallets::of_owner(&pool, "erin").await?;
            found.extend(wallets::of_owner(&pool, "frank").await?);
            expect_rows(&case, "both wallets", &[(from, 60), (to, 20)], &found, true);
            for owner in ["erin", "frank"] {
                let rows = sqlx::query("DELETE FROM wallets WHERE owner = $1 RETURNING tag")
                    .bind(owner)
                    .fetch_all(&pool)
                    .await?;
                let tags: Vec<String> = rows.iter().map(|r| sqlx::Row::get(r, 0)).collect();
                case.removed("wallets", &tags);
            }
            Ok(())
        },
    )
    .await
}

/// Month end: checks the house wallet, then leaves an empty ledger behind.
#[state_tracer::test(tokio::test(flavor = "multi_thread", worker_threads = 2))]
#[ignore = "shares one database with the other corpus tests; see README.md"]
async fn closing_the_books_empties_the_ledger() -> Result<(), sqlx::Error> {
    Case::run(
        "closing_the_books_empties_the_ledger",
        |mut case| async move {
            let pool = case.pool().clone();
            let tag = case.tag("house");
            wallets::open(&pool, &tag, "house", 5000).await?;
            wait(250).await; // the closing job
            let found = wallets::of_owner(&pool, "house").await?;
            expect_rows(&case, "the house wallet", &[(tag, 5000)], &found, true);
            let wiped = case.store.wipe("wallets").await?;
            case.removed("wallets", &wiped);
            Ok(())
        },
    )
    .await
}
