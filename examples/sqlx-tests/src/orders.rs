//! Orders: the sales side of the shop, addressed by customer or by the
//! order's own tag. Writes return the tags of the rows they really changed
//! or removed.

use sqlx::{AnyPool, Row as _};

use crate::store::tags;

/// One order as the application lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub tag: String,
    pub item: String,
    pub qty: i64,
    pub status: String,
}

/// Places an order tagged `tag`, status `placed`.
pub async fn place(
    pool: &AnyPool,
    tag: &str,
    customer: &str,
    item: &str,
    qty: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO orders (tag, customer, item, qty, status) VALUES ($1, $2, $3, $4, 'placed')",
    )
    .bind(tag)
    .bind(customer)
    .bind(item)
    .bind(qty)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every order of `customer`.
pub async fn of_customer(pool: &AnyPool, customer: &str) -> Result<Vec<Order>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT tag, item, qty, status FROM orders WHERE customer = $1 ORDER BY tag")
            .bind(customer)
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|r| {
            Ok(Order {
                tag: r.try_get(0)?,
                item: r.try_get(1)?,
                qty: r.try_get(2)?,
                status: r.try_get(3)?,
            })
        })
        .collect()
}

/// Marks the order tagged `tag` shipped; empty when there is no such order.
pub async fn ship(pool: &AnyPool, tag: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("UPDATE orders SET status = 'shipped' WHERE tag = $1 RETURNING tag")
        .bind(tag)
        .fetch_all(pool)
        .await?;
    tags(&rows)
}

/// Cancels (deletes) the order tagged `tag`.
pub async fn cancel(pool: &AnyPool, tag: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("DELETE FROM orders WHERE tag = $1 RETURNING tag")
        .bind(tag)
        .fetch_all(pool)
        .await?;
    tags(&rows)
}

/// Cancels every order of `customer` (a test's "clean up my own rows").
pub async fn cancel_all_of(pool: &AnyPool, customer: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("DELETE FROM orders WHERE customer = $1 RETURNING tag")
        .bind(customer)
        .fetch_all(pool)
        .await?;
    tags(&rows)
}
