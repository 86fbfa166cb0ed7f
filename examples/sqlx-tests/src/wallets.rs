//! Wallets: the money side of the shop. Owner-scoped statements (`WHERE
//! owner = $1`) are how the application and its tests address a customer;
//! they touch every wallet of that owner, whichever test opened it. Writes
//! return the tags of the rows they really changed or removed.

use sqlx::{AnyPool, Row as _};

use crate::store::tags;

/// Opens a wallet tagged `tag` for `owner`.
pub async fn open(pool: &AnyPool, tag: &str, owner: &str, balance: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO wallets (tag, owner, balance) VALUES ($1, $2, $3)")
        .bind(tag)
        .bind(owner)
        .bind(balance)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every wallet of `owner`: (tag, balance).
pub async fn of_owner(pool: &AnyPool, owner: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT tag, balance FROM wallets WHERE owner = $1")
        .bind(owner)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Adds `amount` (negative: withdraws) to every wallet of `owner`.
pub async fn credit_owner(
    pool: &AnyPool,
    owner: &str,
    amount: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows =
        sqlx::query("UPDATE wallets SET balance = balance + $1 WHERE owner = $2 RETURNING tag")
            .bind(amount)
            .bind(owner)
            .fetch_all(pool)
            .await?;
    tags(&rows)
}

/// Adds `amount` to the wallet tagged `tag`.
pub async fn credit(pool: &AnyPool, tag: &str, amount: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows =
        sqlx::query("UPDATE wallets SET balance = balance + $1 WHERE tag = $2 RETURNING tag")
            .bind(amount)
            .bind(tag)
            .fetch_all(pool)
            .await?;
    tags(&rows)
}

/// Closes every wallet of `owner` (a test's "clean up my own rows").
pub async fn close_all_of(pool: &AnyPool, owner: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("DELETE FROM wallets WHERE owner = $1 RETURNING tag")
        .bind(owner)
        .fetch_all(pool)
        .await?;
    tags(&rows)
}
