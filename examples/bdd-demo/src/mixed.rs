//! The data layer of the second suite shape (`bdd-demo suite --shape mixed`,
//! `features-mixed/`): a small shop (customers, products, orders) whose
//! suite seeds rows in a before hook and cleans in an after hook, one feature
//! by emptying whole tables, the others by deleting only their own rows.
//!
//! It exists to give the accuracy corpus a cucumber suite shaped like real
//! ones (issue 19, shape 13). Every row carries a unique `tag` and the
//! scenario that wrote it (`written_by`); every removal learns from the
//! database itself which tags it removed (`RETURNING`, or under the lock a
//! PostgreSQL `TRUNCATE` takes anyway), so the ground truth
//! (`corpus::truth`, `CORPUS_TRUTH`) never comes from the trace.

use sqlx::{Executor as _, Row as _};
use tracing::instrument::WithSubscriber as _;
use tracing::subscriber::NoSubscriber;

use crate::db::{Backend, Db};
use crate::Result;

/// The shop's tables, in the order the emptying cleanup names them.
pub const TABLES: &[&str] = &["orders", "products", "customers"];

/// The shop's database: the demo's connection handling, its own tables.
#[derive(Debug, Clone)]
pub struct Shop {
    pub db: Db,
}

/// A customer row as the accounts feature reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub tag: String,
    pub email: String,
}

impl Shop {
    /// Connects like the demo does (`tag` names the isolation schema or
    /// file) and creates the shop's tables.
    pub async fn open(url: &str, isolation: bool, tag: &str) -> Result<Shop> {
        let db = Db::open(url, isolation, tag).await?;
        let id = db.id_column();
        let ddl = [
            format!(
                "CREATE TABLE IF NOT EXISTS customers (id {id}, tag TEXT NOT NULL UNIQUE, \
                 email TEXT NOT NULL, written_by TEXT NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS products (id {id}, tag TEXT NOT NULL UNIQUE, \
                 sku TEXT NOT NULL, price_cents BIGINT NOT NULL, written_by TEXT NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS orders (id {id}, tag TEXT NOT NULL UNIQUE, \
                 customer_tag TEXT NOT NULL, product_tag TEXT NOT NULL, quantity BIGINT NOT NULL, \
                 written_by TEXT NOT NULL)"
            ),
        ];
        db.create_tables(&ddl).await?;
        Ok(Shop { db })
    }

    pub async fn add_customer(&self, tag: &str, email: &str, by: &str) -> Result<()> {
        sqlx::query("INSERT INTO customers (tag, email, written_by) VALUES ($1, $2, $3)")
            .bind(tag)
            .bind(email)
            .bind(by)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    pub async fn add_product(
        &self,
        tag: &str,
        sku: &str,
        price_cents: i64,
        by: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO products (tag, sku, price_cents, written_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(tag)
        .bind(sku)
        .bind(price_cents)
        .bind(by)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    pub async fn customer(&self, tag: &str) -> Result<Option<Customer>> {
        let row = sqlx::query("SELECT tag, email FROM customers WHERE tag = $1")
            .bind(tag)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| Customer {
            tag: r.get(0),
            email: r.get(1),
        }))
    }

    /// A product's price, `None` when the product is not in the catalog.
    pub async fn price(&self, tag: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT price_cents FROM products WHERE tag = $1")
            .bind(tag)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn order_quantity(&self, tag: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT quantity FROM orders WHERE tag = $1")
            .bind(tag)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn place_order(
        &self,
        tag: &str,
        customer: &str,
        product: &str,
        quantity: i64,
        by: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO orders (tag, customer_tag, product_tag, quantity, written_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tag)
        .bind(customer)
        .bind(product)
        .bind(quantity)
        .bind(by)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Changes a price; the tag back when the row was there to change.
    pub async fn reprice(&self, tag: &str, percent: i64) -> Result<Option<String>> {
        let row = sqlx::query(
            "UPDATE products SET price_cents = price_cents * (100 + $1) / 100 WHERE tag = $2 RETURNING tag",
        )
        .bind(percent)
        .bind(tag)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Changes a customer's email; the tag back when the row was there.
    pub async fn change_email(&self, tag: &str, email: &str) -> Result<Option<String>> {
        let row = sqlx::query("UPDATE customers SET email = $1 WHERE tag = $2 RETURNING tag")
            .bind(email)
            .bind(tag)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The scoped cleanup: deletes the rows `by` wrote in `table`, and says
    /// which (their tags, from `RETURNING`).
    pub async fn delete_written_by(&self, table: &str, by: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(&format!(
            "DELETE FROM {table} WHERE written_by = $1 RETURNING tag"
        ))
        .bind(by)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The emptying cleanup: every row of every shop table, the way a
    /// "reset the database" helper does it on each engine. Returns, per
    /// table, the tags of the rows it really removed.
    pub async fn empty_tables(&self) -> Result<Vec<(&'static str, Vec<String>)>> {
        match self.db.backend {
            Backend::Sqlite => {
                let mut removed = Vec::new();
                for table in TABLES {
                    // RETURNING: exactly the rows this statement deleted.
                    let rows = sqlx::query(&format!("DELETE FROM {table} RETURNING tag"))
                        .fetch_all(&self.db.pool)
                        .await?;
                    removed.push((*table, rows.iter().map(|r| r.get(0)).collect()));
                }
                Ok(removed)
            }
            Backend::Postgres => {
                let mut tx = self.db.pool.begin().await?;
                // What the TRUNCATE is about to remove, read under the lock
                // it takes anyway, and untraced: the trace shows the suite's
                // own cleanup (one TRUNCATE), nothing more.
                let seen = async {
                    tx.execute(
                        format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", TABLES.join(", "))
                            .as_str(),
                    )
                    .await?;
                    let mut seen = Vec::new();
                    for table in TABLES {
                        let rows = sqlx::query(&format!("SELECT tag FROM {table}"))
                            .fetch_all(&mut *tx)
                            .await?;
                        seen.push((*table, rows.iter().map(|r| r.get(0)).collect()));
                    }
                    Ok::<_, sqlx::Error>(seen)
                }
                .with_subscriber(NoSubscriber::default())
                .await?;
                tx.execute(format!("TRUNCATE {}", TABLES.join(", ")).as_str())
                    .await?;
                tx.commit().await?;
                Ok(seen)
            }
        }
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}
