//! Plain async tests over one shared database, each traced by one
//! attribute. Two of them pollute each other for real: the monthly report
//! deletes every account when it is done ("clean up after yourself"), which
//! removes the rows the transfer test is still working on.
//!
//! They are `#[ignore]`d so `cargo test --workspace` stays deterministic;
//! `tests/e2e.rs` runs them for real (under `cargo test` and nextest, on
//! SQLite and PostgreSQL) and checks the analyzer names the polluter. By
//! hand, see README.md:
//!
//! ```text
//! BDD_TRACE_STATE=1 BDD_TRACE_DIR=target/traces \
//!   cargo test -p sqlx-tests --test pollution -- --ignored
//! trace-analyzer report target/traces
//! ```

use std::time::Duration;

use sqlx_tests::{balance, connect, delete_all, open, transfer};

/// The victim: sets up two accounts, does slow work, then checks them.
#[state_tracer::test(tokio::test)]
#[ignore = "pollutes the shared database on purpose; see README.md"]
async fn transfer_moves_money_between_accounts() -> Result<(), sqlx::Error> {
    let pool = connect().await?;
    open(&pool, "alice", 100).await?;
    open(&pool, "bob", 0).await?;
    tokio::time::sleep(Duration::from_millis(300)).await; // fees from a slow service
    transfer(&pool, "alice", "bob", 30).await?;
    assert_eq!(balance(&pool, "bob").await?, Some(30), "bob's account");
    Ok(())
}

/// The polluter: passes itself, and wipes every test's accounts.
#[state_tracer::test(tokio::test(flavor = "multi_thread", worker_threads = 2))]
#[ignore = "pollutes the shared database on purpose; see README.md"]
async fn monthly_report_cleans_up_after_itself() -> Result<(), sqlx::Error> {
    let pool = connect().await?;
    open(&pool, "carol", 250).await?;
    tokio::time::sleep(Duration::from_millis(100)).await; // rendering the report
    assert_eq!(balance(&pool, "carol").await?, Some(250));
    delete_all(&pool).await // leave a clean table for the next test
}

/// A bystander: reads only.
#[state_tracer::test(tokio::test)]
#[ignore = "pollutes the shared database on purpose; see README.md"]
async fn an_unknown_owner_has_no_balance() -> Result<(), sqlx::Error> {
    let pool = connect().await?;
    assert_eq!(balance(&pool, "nobody").await?, None);
    Ok(())
}

#[path = "support/nested.rs"]
mod nested;

#[path = "support/e2e.rs"]
mod e2e;

#[path = "support/one_run.rs"]
mod one_run;

#[path = "support/run_confirm.rs"]
mod run_confirm;
