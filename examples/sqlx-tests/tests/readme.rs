//! The README's test snippets, as pasted: they must compile and pass
//! (untraced here; `BDD_TRACE_STATE` is not set).

#[state_tracer::test(tokio::test)] // or tokio::test(flavor = "multi_thread"); plain: #[state_tracer::test]
async fn transfer_moves_money() -> Result<(), sqlx::Error> {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?; // no tracing code in the body
    sqlx::query("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)")
        .execute(&pool)
        .await?;
    Ok(())
}

#[state_tracer::test(tokio::test)]
async fn a_deposit_adds_to_the_balance() -> Result<(), sqlx::Error> {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    let given = state_tracer::step("given an account with 100");
    sqlx::query("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)")
        .execute(&pool)
        .await?;
    sqlx::query("INSERT INTO accounts (id, balance) VALUES (1, 100)")
        .execute(&pool)
        .await?;
    drop(given);
    let _then = state_tracer::step("then a deposit of 10 makes 110");
    sqlx::query("UPDATE accounts SET balance = balance + 10 WHERE id = 1")
        .execute(&pool)
        .await?;
    let (balance,): (i64,) = sqlx::query_as("SELECT balance FROM accounts WHERE id = 1")
        .fetch_one(&pool)
        .await?;
    assert_eq!(balance, 110); // a panic here ends this step FAILED
    Ok(())
}

/// The snippets above are the README's, character for character: a change
/// to one must be made to both.
#[test]
fn this_file_holds_the_readme_test_snippets() {
    let readme = include_str!("../../../README.md");
    let here = include_str!("readme.rs");
    let snippets: Vec<&str> = readme
        .split("```rust\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.contains("#[state_tracer::test(tokio::test)]"))
        .collect();
    assert!(snippets.len() >= 2, "{snippets:?}");
    for s in snippets {
        assert!(here.contains(s.trim_end()), "not in tests/readme.rs:\n{s}");
    }
}
