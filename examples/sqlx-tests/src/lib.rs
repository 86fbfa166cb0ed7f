//! A tiny accounts store over sqlx, shared by the tests in `tests/`: one
//! database for every test (SQLite file by default, PostgreSQL when
//! `DATABASE_URL` says so), as in most real workspaces. See README.md.
//!
//! The modules are a second, larger application over the same database
//! (wallets and orders), used by the accuracy-corpus tests.

pub mod orders;
pub mod store;
pub mod wallets;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row as _};

/// The shared database: `DATABASE_URL`, else a SQLite file in the temp dir.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        let path = std::env::temp_dir().join("sqlx-tests.db");
        format!("sqlite://{}?mode=rwc", path.display())
    })
}

/// Connects to the shared database ([`database_url`]) and makes sure the
/// table exists.
pub async fn connect() -> Result<AnyPool, sqlx::Error> {
    connect_to(&database_url()).await
}

/// Connects to `url` and makes sure the table exists. Run it once before
/// the tests, as migrations would be: PostgreSQL can fail concurrent
/// `CREATE TABLE IF NOT EXISTS` of the same new table (a duplicate key in
/// `pg_type`); once the table exists the statement is a harmless no-op.
pub async fn connect_to(url: &str) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS accounts (owner TEXT NOT NULL, balance BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    Ok(pool)
}

/// Opens an account (owners are the tests' own constants, never user input).
pub async fn open(pool: &AnyPool, owner: &str, balance: i64) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO accounts (owner, balance) VALUES ('{owner}', {balance})"
    ))
    .execute(pool)
    .await?;
    Ok(())
}

/// Moves `amount` from one owner's accounts to another's.
pub async fn transfer(
    pool: &AnyPool,
    from: &str,
    to: &str,
    amount: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE accounts SET balance = balance - {amount} WHERE owner = '{from}'"
    ))
    .execute(pool)
    .await?;
    sqlx::query(&format!(
        "UPDATE accounts SET balance = balance + {amount} WHERE owner = '{to}'"
    ))
    .execute(pool)
    .await?;
    Ok(())
}

/// The balance of `owner`, `None` when the account does not exist.
pub async fn balance(pool: &AnyPool, owner: &str) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT balance FROM accounts WHERE owner = '{owner}'"
    ))
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.try_get::<i64, _>(0)).transpose()
}

/// Deletes every account: the "clean slate" many suites start or end with,
/// and the classic polluter when tests share a database.
pub async fn delete_all(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM accounts").execute(pool).await?;
    Ok(())
}
