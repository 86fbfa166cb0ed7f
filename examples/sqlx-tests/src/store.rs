//! The shop's database: one shared store for every test (wallets and
//! orders), as an application's integration tests usually have it. It
//! exists apart from the tiny `accounts` store in `lib.rs` so that the
//! corpus tests (`tests/accounts.rs`, `tests/orders.rs`, `tests/reports.rs`)
//! never touch the tables `tests/pollution.rs` checks.
//!
//! The whole-table cleanup ([`Store::wipe`]) tells its caller which rows it
//! really removed, from the database itself: `DELETE … RETURNING tag` on
//! SQLite; on PostgreSQL a `TRUNCATE`, the tags read just before under the
//! lock it takes anyway, untraced, so the trace shows only the suite's own
//! statement.

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor as _, Row as _};
use tracing::instrument::WithSubscriber as _;
use tracing::subscriber::NoSubscriber;

use crate::database_url;

/// The shop's tables; every row has a unique `tag` naming the test that
/// wrote it.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS wallets (tag TEXT PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS orders (tag TEXT PRIMARY KEY, customer TEXT NOT NULL, item TEXT NOT NULL, qty BIGINT NOT NULL, status TEXT NOT NULL)",
];

/// Any key will do, as long as every process of the suite uses the same.
const MIGRATION_LOCK: i64 = 0x5348_4f50; // "SHOP"

/// A pool on the shared database, and which engine it is.
#[derive(Debug, Clone)]
pub struct Store {
    pub pool: AnyPool,
    pub postgres: bool,
}

impl Store {
    /// The shared database ([`database_url`]), schema in place.
    pub async fn open() -> Result<Store, sqlx::Error> {
        Store::open_at(&database_url()).await
    }

    /// Connects to `url` and creates the tables if they are missing. On
    /// PostgreSQL concurrent `CREATE TABLE IF NOT EXISTS` of a new table can
    /// fail (a duplicate key in `pg_type`), so processes take turns under an
    /// advisory lock, as migration tools do.
    pub async fn open_at(url: &str) -> Result<Store, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        let pool = AnyPoolOptions::new()
            .max_connections(3)
            .connect(url)
            .await?;
        let mut tx = pool.begin().await?;
        if postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        for ddl in SCHEMA {
            tx.execute(*ddl).await?;
        }
        tx.commit().await?;
        Ok(Store { pool, postgres })
    }

    /// Empties `table` (one of the shop's, never user input): the "clean
    /// slate" many tests start or end with. Returns the tags of the rows it
    /// removed.
    pub async fn wipe(&self, table: &str) -> Result<Vec<String>, sqlx::Error> {
        if !self.postgres {
            let rows = sqlx::query(&format!("DELETE FROM {table} RETURNING tag"))
                .fetch_all(&self.pool)
                .await?;
            return rows.iter().map(|r| r.try_get::<String, _>(0)).collect();
        }
        let mut tx = self.pool.begin().await?;
        // Ground truth only: what the TRUNCATE is about to remove, read
        // under the lock it would take anyway, outside the trace.
        let doomed = async {
            tx.execute(format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE").as_str())
                .await?;
            let rows = sqlx::query(&format!("SELECT tag FROM {table}"))
                .fetch_all(&mut *tx)
                .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<Vec<_>, _>>()
        }
        .with_subscriber(NoSubscriber::default())
        .await?;
        tx.execute(format!("TRUNCATE {table}").as_str()).await?;
        tx.commit().await?;
        Ok(doomed)
    }
}

/// The first column of every row: the tags a `… RETURNING tag` gave back.
pub(crate) fn tags(rows: &[sqlx::any::AnyRow]) -> Result<Vec<String>, sqlx::Error> {
    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
}
