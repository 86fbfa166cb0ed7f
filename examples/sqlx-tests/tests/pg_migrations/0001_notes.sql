-- The schema each #[sqlx::test] database of tests/sqlx_test_pg.rs starts with.
CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL);
